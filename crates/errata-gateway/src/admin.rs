//! The admin API, on its own listener (loopback by default), behind a bearer token: keys,
//! Prometheus metrics, and its own OpenAPI document. Its errors are the catalog's too.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use errata_core::{ApiError, Condition, Format, Violation};

use crate::auth::KeyCache;
use crate::config::Config;
use crate::manage::{self, ManageError};
use crate::respond::error_response;
use crate::store::{KeyStore, NewKey};

/// What the admin API works on.
pub struct Admin {
    pub config: Arc<Config>,
    pub catalog: Arc<errata_core::Catalog>,
    pub store: Arc<dyn KeyStore>,
    pub cache: Arc<KeyCache>,
    pub token: String,
}

type Shared = State<Arc<Admin>>;

/// The admin router.
pub fn router(admin: Arc<Admin>) -> Router {
    Router::new()
        .route("/keys", get(list).post(create))
        .route("/keys/{id}", get(show))
        .route("/keys/{id}/revoke", post(revoke))
        .route("/keys/{id}/rotate", post(rotate))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .layer(axum::middleware::map_response_with_state(
            Arc::clone(&admin),
            crate::respond::normalize_admin,
        ))
        .with_state(admin)
}

fn fail(admin: &Admin, headers: &HeaderMap, err: ApiError) -> Response {
    let format = Format::from_accept(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let id = admin.catalog.request_id().generate();
    error_response(&admin.catalog, &err.request_id(id), format)
}

fn authorized(admin: &Admin, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::condition(Condition::MissingKey));
    };
    let token = v
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::condition(Condition::MalformedKey))?;
    if crate::keys::hashes_equal(&crate::keys::hash(token), &crate::keys::hash(&admin.token)) {
        Ok(())
    } else {
        Err(ApiError::condition(Condition::UnknownKey))
    }
}

fn manage_error(e: ManageError, id: &str) -> ApiError {
    match e {
        ManageError::Invalid(v) => ApiError::condition(Condition::InvalidFields).details(v),
        ManageError::NotFound => ApiError::condition(Condition::ResourceNotFound)
            .arg("resource", "API key")
            .arg("id", id.to_owned()),
        ManageError::Store(e) => {
            tracing::error!(error = %e, "admin: key store failed");
            ApiError::condition(Condition::ServiceUnavailable)
                .arg("retry_after", 1)
                .retry_after(1)
        }
    }
}

async fn list(State(a): Shared, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    if let Err(e) = authorized(&a, &headers) {
        return fail(&a, &headers, e);
    }
    let tenant = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "tenant")
        .map(|(_, v)| v.into_owned());
    match a.store.list(tenant.as_deref()).await {
        Ok(keys) => Json(serde_json::json!({ "data": keys })).into_response(),
        Err(e) => fail(&a, &headers, manage_error(e.into(), "")),
    }
}

async fn create(State(a): Shared, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = authorized(&a, &headers) {
        return fail(&a, &headers, e);
    }
    let new: NewKey = match serde_json::from_slice(&body) {
        Ok(n) => n,
        Err(e) if e.is_data() => {
            let err = ApiError::condition(Condition::InvalidFields).details([Violation::new(
                Vec::<String>::new(),
                e.to_string(),
                "invalid_type",
            )]);
            return fail(&a, &headers, err);
        }
        Err(e) => {
            let err = ApiError::condition(Condition::MalformedBody).arg("reason", e.to_string());
            return fail(&a, &headers, err);
        }
    };
    match manage::create(&a.store, &a.config, &new, manage::now_secs()).await {
        Ok(issued) => (StatusCode::CREATED, Json(issued)).into_response(),
        Err(e) => fail(&a, &headers, manage_error(e, "")),
    }
}

async fn show(State(a): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(e) = authorized(&a, &headers) {
        return fail(&a, &headers, e);
    }
    match a.store.get(&id).await {
        Ok(Some(k)) => Json(k).into_response(),
        Ok(None) => fail(&a, &headers, manage_error(ManageError::NotFound, &id)),
        Err(e) => fail(&a, &headers, manage_error(e.into(), &id)),
    }
}

async fn revoke(State(a): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(e) = authorized(&a, &headers) {
        return fail(&a, &headers, e);
    }
    match a.store.revoke(&id, manage::now_secs()).await {
        Ok(Some(k)) => {
            // Effective at once on this instance.
            a.cache.clear();
            Json(k).into_response()
        }
        Ok(None) => fail(&a, &headers, manage_error(ManageError::NotFound, &id)),
        Err(e) => fail(&a, &headers, manage_error(e.into(), &id)),
    }
}

async fn rotate(State(a): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(e) = authorized(&a, &headers) {
        return fail(&a, &headers, e);
    }
    match manage::rotate(&a.store, &a.config, &id, manage::now_secs()).await {
        Ok(issued) => {
            a.cache.clear();
            (StatusCode::CREATED, Json(issued)).into_response()
        }
        Err(e) => fail(&a, &headers, manage_error(e, &id)),
    }
}

async fn metrics() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(),
    )
        .into_response()
}

async fn openapi(State(a): Shared) -> Response {
    Json(crate::admin_openapi::document(&a.catalog)).into_response()
}

async fn not_found(
    State(a): Shared,
    headers: HeaderMap,
    uri: axum::http::Uri,
    method: axum::http::Method,
) -> Response {
    let err = ApiError::condition(Condition::RouteNotFound)
        .arg("method", method.as_str())
        .arg("path", uri.path().to_owned());
    fail(&a, &headers, err)
}
