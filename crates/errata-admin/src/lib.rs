//! errata-admin: the admin API, on its own listener (loopback by default): keys, the request log, usage,
//! console sessions, tenant portal sessions and the portal's own API, Prometheus metrics,
//! liveness and readiness (`/healthz`, `/readyz`) and the OpenAPI document. Its errors are the
//! catalog's too.
//!
//! Who may call what: the admin token (`Authorization: Bearer`) or a console session (an
//! HttpOnly cookie, plus `X-CSRF-Token` on writes) opens everything but `/portal/api/`; a
//! portal token opens only `/portal/api/`, for its own tenant.

mod auth;
pub mod config;
pub mod console;
pub mod health;
mod keys;
mod log;
pub mod manage;
pub mod openapi;
pub mod openapi_paths;
mod operations;
mod overview;
mod params;
pub mod portal;
pub mod portal_token;
pub mod prometheus;
pub mod reload;
mod session;
pub mod sessions;
pub mod state;

use std::sync::Arc;

use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use errata_axum::ErrataLayer;

pub use auth::{AdminCaller, PortalCaller};
pub use portal_token::PortalSigner;
pub use sessions::Sessions;
pub use state::Admin;

/// The admin router. errata-axum's layer renders its errors with the catalog (envelope or
/// problem+json, with a request id) and puts any other error response (an unknown route, a
/// wrong method) into the catalog too.
pub fn router(admin: Arc<Admin>) -> Router {
    let catalog = Arc::clone(&admin.catalog);
    let openapi = Arc::new(openapi::document(&admin.catalog, &admin.config));
    let routes = Router::new()
        .route("/keys", get(keys::list).post(keys::create))
        .route("/keys/{id}", get(keys::show).patch(keys::update))
        .route("/keys/{id}/revoke", post(keys::revoke))
        .route("/keys/{id}/rotate", post(keys::rotate))
        .route("/plans", get(keys::plans))
        .route("/requests", get(log::list))
        .route("/requests/{request_id}", get(log::show))
        .route("/usage", get(log::usage))
        .route("/usage/overview", get(overview::overview))
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
        .route("/metrics", get(operations::metrics))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/config/reload", post(operations::reload))
        .route(
            "/openapi.json",
            get(operations::openapi).layer(Extension(openapi)),
        )
        .with_state(admin);
    let routes = console::router().merge(routes);
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
