//! The operations endpoints: Prometheus metrics and the admin API's own OpenAPI document
//! (made once, when the router is built).

use std::sync::Arc;

use axum::Extension;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

#[utoipa::path(get, path = "/metrics", tag = "operations", security(()),
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String)))]
pub async fn metrics() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::prometheus::render(),
    )
        .into_response()
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations", security(()),
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object)))]
pub async fn openapi(Extension(document): Extension<Arc<Value>>) -> Response {
    axum::Json(document).into_response()
}
