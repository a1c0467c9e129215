//! The operations endpoints: Prometheus metrics, the admin API's own OpenAPI document (made
//! once, when the router is built) and the config reload.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use errata_axum::Error;
use errata_core::{ApiError, Condition, Violation};
use serde_json::Value;

use crate::auth::AdminCaller;
use crate::reload::{ReloadError, Reloaded};
use crate::state::Admin;

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

/// Reads the config file again and puts it in force for new requests; the answer names what
/// changed and what takes a restart. A file with problems is refused whole (409, every
/// problem in `details`) and the running config keeps serving.
#[utoipa::path(post, path = "/config/reload", tag = "operations",
    responses(
        (status = 200, description = "The config was read and is in force for new requests", body = crate::reload::Reloaded),
        (status = 401, description = "No or wrong admin token"),
        (status = 409, description = "The config file has problems (each in `details`), or there is no file; the running config stays"),
        (status = 503, description = "The process is shutting down"),
    ))]
pub async fn reload(_: AdminCaller, State(a): State<Arc<Admin>>) -> Result<Json<Reloaded>, Error> {
    let Some(reloader) = a.reload.get().and_then(std::sync::Weak::upgrade) else {
        return Err(ApiError::condition(Condition::ServiceUnavailable)
            .arg("retry_after", 1)
            .retry_after(1)
            .into());
    };
    match reloader.reload().await {
        Ok(r) => Ok(Json(r)),
        Err(e) => Err(refused(&e)),
    }
}

/// A refused reload: the catalog's code for 409, each problem a detail at the file position
/// it names.
fn refused(e: &ReloadError) -> Error {
    let details: Vec<Violation> = match e {
        ReloadError::NoFile => vec![Violation::new(["config"], e.to_string(), "no_config_file")],
        ReloadError::Invalid { file, problems } => problems
            .iter()
            .map(|p| Violation::new([location(p, file)], p.clone(), "invalid_config"))
            .collect(),
        ReloadError::Failed(m) => vec![Violation::new(["config"], m.clone(), "not_applied")],
    };
    Error::from(ApiError::status(409)).details(details)
}

/// `file:line:column` of a rendered problem, or the file alone.
fn location(problem: &str, file: &str) -> String {
    problem
        .split_once(": error: ")
        .map_or_else(|| file.to_owned(), |(at, _)| at.to_owned())
}
