//! The admin API, on its own listener (loopback by default), behind a bearer token: keys,
//! Prometheus metrics, and its own OpenAPI document. Its errors are the catalog's too.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use errata_axum::{ErrataLayer, Error, Path};
use errata_core::{ApiError, Condition, Violation};

use crate::auth::KeyCache;
use crate::config::Config;
use crate::manage::{self, ManageError};
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

/// The admin router. errata-axum's layer renders its errors with the catalog (envelope or
/// problem+json, with a request id) and puts any other error response (an unknown route, a
/// wrong method) into the catalog too.
pub fn router(admin: Arc<Admin>) -> Router {
    let catalog = Arc::clone(&admin.catalog);
    let routes = Router::new()
        .route("/keys", get(list).post(create))
        .route("/keys/{id}", get(show))
        .route("/keys/{id}/revoke", post(revoke))
        .route("/keys/{id}/rotate", post(rotate))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .with_state(admin)
        .merge(crate::console_ui::router());
    ErrataLayer::new(catalog).no_timeout().wrap(routes)
}

fn authorized(admin: &Admin, headers: &HeaderMap) -> Result<(), Error> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Err(Condition::MissingKey.into());
    };
    let token = v
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(Condition::MalformedKey)?;
    if crate::keys::hashes_equal(&crate::keys::hash(token), &crate::keys::hash(&admin.token)) {
        Ok(())
    } else {
        Err(Condition::UnknownKey.into())
    }
}

fn manage_error(e: ManageError, id: &str) -> Error {
    match e {
        ManageError::Invalid(v) => Error::invalid_fields(v),
        ManageError::NotFound => Error::not_found("API key", id),
        ManageError::Store(e) => {
            tracing::error!(error = %e, "admin: key store failed");
            ApiError::condition(Condition::ServiceUnavailable)
                .arg("retry_after", 1)
                .retry_after(1)
                .into()
        }
    }
}

async fn list(
    State(a): Shared,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, Error> {
    authorized(&a, &headers)?;
    let tenant = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "tenant")
        .map(|(_, v)| v.into_owned());
    let keys = a
        .store
        .list(tenant.as_deref())
        .await
        .map_err(|e| manage_error(e.into(), ""))?;
    Ok(Json(serde_json::json!({ "data": keys })).into_response())
}

async fn create(State(a): Shared, headers: HeaderMap, body: Bytes) -> Result<Response, Error> {
    authorized(&a, &headers)?;
    let new: NewKey = serde_json::from_slice(&body).map_err(|e| -> Error {
        if e.is_data() {
            Error::invalid_fields([Violation::new(
                Vec::<String>::new(),
                e.to_string(),
                "invalid_type",
            )])
        } else {
            ApiError::condition(Condition::MalformedBody)
                .arg("reason", e.to_string())
                .into()
        }
    })?;
    let issued = manage::create(&a.store, &a.config, &new, manage::now_secs())
        .await
        .map_err(|e| manage_error(e, ""))?;
    Ok((StatusCode::CREATED, Json(issued)).into_response())
}

async fn show(
    State(a): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    authorized(&a, &headers)?;
    match a.store.get(&id).await {
        Ok(Some(k)) => Ok(Json(k).into_response()),
        Ok(None) => Err(manage_error(ManageError::NotFound, &id)),
        Err(e) => Err(manage_error(e.into(), &id)),
    }
}

async fn revoke(
    State(a): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    authorized(&a, &headers)?;
    match a.store.revoke(&id, manage::now_secs()).await {
        Ok(Some(k)) => {
            // Effective at once on this instance.
            a.cache.clear();
            Ok(Json(k).into_response())
        }
        Ok(None) => Err(manage_error(ManageError::NotFound, &id)),
        Err(e) => Err(manage_error(e.into(), &id)),
    }
}

async fn rotate(
    State(a): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    authorized(&a, &headers)?;
    let issued = manage::rotate(&a.store, &a.config, &id, manage::now_secs())
        .await
        .map_err(|e| manage_error(e, &id))?;
    a.cache.clear();
    Ok((StatusCode::CREATED, Json(issued)).into_response())
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
