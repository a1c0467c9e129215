//! A Kaplaix-style event ingestion service on errata-axum: one idea, the contract of seed 004.
//!
//! - `POST /v1/agents` registers an agent (`201`); an `agentId` the tenant already has is a
//!   conflict (`409`).
//! - `POST /v1/events` ingests an event (`202 Accepted`). The body is checked against the
//!   event's JSON Schema, every problem reported at once in `details` (`["eventId"]` "Invalid
//!   uuid", `["category"]` "Required"); an unknown category, or a payload without the fields
//!   its category needs, cannot be normalized (`422`).
//! - `GET /v1/agents/{agentId}` and `GET /v1/events/{eventId}` read back; another tenant's
//!   agent or event is reported exactly like a missing one (`404`, never `403`), because every
//!   query is scoped by tenant in its `WHERE` clause.
//!
//! The service runs behind errata's gateway and trusts what it sends: the tenant the gateway
//! authenticated, in `x-errata-tenant`, and the request id, in the catalog's request-id header
//! (`x-request-id` by default), so that an error's body and its header carry the one id the
//! gateway gave the request. Storage is SQLite through sqlx (in memory by default).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let catalog = std::sync::Arc::new(errata_core::Catalog::from_file("catalogs/kaplaix.toml")?);
//! let app = kaplaix_events::app(catalog, "sqlite::memory:").await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

mod codes;
mod db;
mod routes;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use errata_axum::ErrataLayer;
use errata_core::Catalog;
use sqlx::SqlitePool;

pub use codes::Codes;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) db: SqlitePool,
    pub(crate) codes: Codes,
}

/// The service, with its own database at `database_url` (`sqlite::memory:` for a fresh one).
pub async fn app(catalog: Arc<Catalog>, database_url: &str) -> Result<Router, sqlx::Error> {
    let db = db::open(database_url).await?;
    Ok(router(catalog, db))
}

/// The service on a database already open (and migrated by [`app`] or by [`migrate`]).
pub fn router(catalog: Arc<Catalog>, db: SqlitePool) -> Router {
    let state = AppState {
        db,
        codes: Codes::for_catalog(&catalog),
    };
    let routes = Router::new()
        .route("/v1/agents", post(routes::create_agent))
        .route("/v1/agents/{agent_id}", get(routes::get_agent))
        .route("/v1/events", post(routes::ingest_event))
        .route("/v1/events/{event_id}", get(routes::get_event))
        .with_state(state);
    // The gateway sends its request id in the catalog's header: answer with that one.
    let request_id_header = catalog.request_id().header.clone();
    let codes = Codes::for_catalog(&catalog);
    let served = ErrataLayer::new(catalog)
        .trust_request_id_header(&request_id_header)
        .wrap(routes);
    // The export route answers in the raise form itself, as a service without errata-axum
    // would: it sits beside the layer, which would otherwise render its answer here.
    served.merge(
        Router::new()
            .route("/v1/exports", get(routes::export_events))
            .with_state(codes),
    )
}

/// Creates the tables (idempotent).
pub async fn migrate(db: &SqlitePool) -> Result<(), sqlx::Error> {
    db::migrate(db).await
}
