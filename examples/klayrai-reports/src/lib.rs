//! A KlayrAI-style reports service on errata-axum: one idea, an application's own codes with
//! their arguments (the contract of seed 000).
//!
//! - `POST /v1/reports` queues a report (`201`): at most 20 campaign ids (`too_many_campaigns`,
//!   with `max` and `provided`), a date range of at most 90 days with `from` before `to`
//!   (`invalid_date_range`, with `max_days`), every campaign the tenant's (`not_found`
//!   otherwise). A missing field is `The '<field>' field is required.` under KlayrAI's
//!   catalog, the catalog's validation code with `details` under others.
//! - `POST /v1/campaigns/{id}/diagnostics` starts a diagnostic (`202`): one per campaign at a
//!   time (`diagnostic_in_progress`, `409`, enforced by a unique index), and only on a synced
//!   campaign (`campaign_not_synced`, `422`).
//! - `PUT /v1/campaigns/{id}`, `GET /v1/campaigns`, `GET /v1/campaigns/{id}` manage the
//!   tenant's campaigns; another tenant's campaign is not found, never forbidden.
//! - Successful JSON bodies carry `meta.remaining_requests` when errata's gateway in front
//!   sends the rate-limit state ([`RateLimitMetaLayer`](errata_axum::RateLimitMetaLayer)).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let catalog = std::sync::Arc::new(errata_core::Catalog::from_file("catalogs/klayrai.toml")?);
//! let app = klayrai_reports::app(catalog, klayrai_reports::Options::default()).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

mod codes;
mod dates;
mod db;
mod routes;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use errata_axum::{ErrataLayer, RateLimitMetaLayer};
use errata_core::Catalog;
use sqlx::SqlitePool;

pub use codes::Codes;

/// How the service runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The SQLite database (`sqlite::memory:` for a fresh one).
    pub database_url: String,
    /// How long a diagnostic runs before it completes.
    pub diagnostic_duration: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            database_url: "sqlite::memory:".into(),
            diagnostic_duration: Duration::from_secs(5),
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) db: SqlitePool,
    pub(crate) codes: Codes,
    pub(crate) diagnostic_duration: Duration,
}

/// The service, with its own database.
pub async fn app(catalog: Arc<Catalog>, options: Options) -> Result<Router, sqlx::Error> {
    let db = db::open(&options.database_url).await?;
    let state = AppState {
        db,
        codes: Codes::for_catalog(&catalog),
        diagnostic_duration: options.diagnostic_duration,
    };
    let routes = Router::new()
        .route("/v1/reports", post(routes::create_report))
        .route("/v1/campaigns", get(routes::list_campaigns))
        .route(
            "/v1/campaigns/{campaign_id}",
            get(routes::get_campaign).put(routes::put_campaign),
        )
        .route(
            "/v1/campaigns/{campaign_id}/diagnostics",
            post(routes::start_diagnostic),
        )
        .with_state(state)
        .layer(RateLimitMetaLayer::new());
    Ok(ErrataLayer::new(catalog).wrap(routes))
}
