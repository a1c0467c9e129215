//! The admin API, on its own listener (loopback by default): keys, the request log, usage,
//! console sessions, tenant portal sessions and the portal's own API, Prometheus metrics and
//! the OpenAPI document. Its errors are the catalog's too.
//!
//! Who may call what: the admin token (`Authorization: Bearer`) or a console session (an
//! HttpOnly cookie, plus `X-CSRF-Token` on writes) opens everything but `/portal/api/`; a
//! portal token opens only `/portal/api/`, for its own tenant.

mod auth;
pub mod doc;
mod keys;
mod log;
mod params;
pub mod portal;
mod session;
mod ui;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use errata_axum::{ErrataLayer, Error};
use errata_core::{ApiError, Condition};

use crate::auth::KeyCache;
use crate::config::Config;
use crate::manage::ManageError;
use crate::reqlog::Recorder;
use crate::store::KeyStore;

pub use auth::{AdminCaller, PortalCaller};
pub use portal::PortalSigner;
pub use session::Sessions;

/// What the admin API works on.
pub struct Admin {
    pub config: Arc<Config>,
    pub catalog: Arc<errata_core::Catalog>,
    pub store: Arc<dyn KeyStore>,
    pub cache: Arc<KeyCache>,
    pub token: String,
    pub recorder: Arc<Recorder>,
    pub sessions: Sessions,
    pub portal: PortalSigner,
}

impl Admin {
    /// The admin state for a running gateway.
    pub fn new(gw: &crate::gateway::Gateway, token: String) -> Admin {
        Admin {
            config: Arc::clone(&gw.config),
            catalog: Arc::clone(&gw.catalog),
            store: Arc::clone(&gw.store),
            cache: Arc::clone(&gw.cache),
            token,
            recorder: Arc::clone(&gw.recorder),
            sessions: Sessions::default(),
            portal: PortalSigner::from_config(&gw.config.portal),
        }
    }
}

type Shared = axum::extract::State<Arc<Admin>>;

/// The admin router. errata-axum's layer renders its errors with the catalog (envelope or
/// problem+json, with a request id) and puts any other error response (an unknown route, a
/// wrong method) into the catalog too.
pub fn router(admin: Arc<Admin>) -> Router {
    let catalog = Arc::clone(&admin.catalog);
    let routes = Router::new()
        .route("/keys", get(keys::list).post(keys::create))
        .route("/keys/{id}", get(keys::show).patch(keys::update))
        .route("/keys/{id}/revoke", post(keys::revoke))
        .route("/keys/{id}/rotate", post(keys::rotate))
        .route("/plans", get(keys::plans))
        .route("/requests", get(log::list))
        .route("/requests/{request_id}", get(log::show))
        .route("/usage", get(log::usage))
        .route("/errors", get(log::errors))
        .route(
            "/session",
            get(session::current)
                .post(session::sign_in)
                .delete(session::sign_out),
        )
        .route("/portal/sessions", post(portal::create_session))
        .route("/portal/api/session", get(portal::session))
        .route(
            "/portal/api/keys",
            get(portal::list_keys).post(portal::create_key),
        )
        .route(
            "/portal/api/keys/{id}",
            get(portal::show_key).patch(portal::update_key),
        )
        .route("/portal/api/keys/{id}/revoke", post(portal::revoke_key))
        .route("/portal/api/keys/{id}/rotate", post(portal::rotate_key))
        .route("/portal/api/usage", get(portal::usage))
        .route("/portal/api/requests", get(portal::list_requests))
        .route(
            "/portal/api/requests/{request_id}",
            get(portal::show_request),
        )
        .route("/portal/api/errors", get(portal::errors))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .with_state(admin);
    let routes = ui::routes().merge(routes);
    ErrataLayer::new(catalog)
        .no_timeout()
        .wrap(routes)
        .layer(axum::middleware::map_response(security_headers))
}

/// Headers every admin answer carries: the console must not be framed, sniffed or leak its
/// URLs.
async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// The catalog error for a failed key operation.
fn manage_error(e: ManageError, id: &str) -> Error {
    match e {
        ManageError::Invalid(v) => Error::invalid_fields(v),
        ManageError::NotFound => Error::not_found("API key", id),
        ManageError::Store(e) => store_error(e),
    }
}

/// A store failure: logged, and the catalog's unavailable code with a short retry.
fn store_error(e: crate::store::StoreError) -> Error {
    tracing::error!(error = %e, "admin: key store failed");
    ApiError::condition(Condition::ServiceUnavailable)
        .arg("retry_after", 1)
        .retry_after(1)
        .into()
}

#[utoipa::path(get, path = "/metrics", tag = "operations", security(()),
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String)))]
async fn metrics() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(),
    )
        .into_response()
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations", security(()),
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object)))]
async fn openapi(axum::extract::State(a): Shared) -> Response {
    axum::Json(crate::admin_openapi::document(&a.catalog, &a.config)).into_response()
}

/// The console session cookie's name, for the document.
pub fn session_cookie() -> &'static str {
    session::COOKIE
}
