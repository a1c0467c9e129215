//! `/keys`: list, create, show, edit, revoke and rotate keys; `/plans`. The tenant-scoped
//! variants the portal uses live here too: `tenant = Some(..)` hides every other tenant's
//! keys as not found.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use errata_axum::{Error, Path};
use serde::Serialize;

use crate::auth::AdminCaller;
use crate::manage::{self, KeyPatch, ManageError};
use crate::params::{Query, bad_param, json_body};
use crate::state::{Admin, Shared, manage_error, store_error};
use errata_store::db::{KeyStatus, KeyView, NewKey};

/// A list of keys.
#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyList {
    pub data: Vec<KeyView>,
}

/// A created or rotated key and its secret.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = IssuedApiKey)]
pub struct IssuedView {
    pub key: KeyView,
    /// The key itself. Shown this once; only its SHA-256 is stored.
    pub secret: String,
}

/// A configured plan.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PlanView {
    pub name: String,
    pub limits: errata_store::plans::Limits,
    pub features: Vec<String>,
}

/// The configured plans.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PlanList {
    pub data: Vec<PlanView>,
}

fn issued(i: manage::Issued) -> Response {
    let now = manage::now_secs();
    (
        StatusCode::CREATED,
        Json(IssuedView {
            key: KeyView::new(i.key, now),
            secret: i.secret,
        }),
    )
        .into_response()
}

/// Keys (of one tenant when `tenant` is set), filtered by the query's status and plan.
pub(super) async fn list_keys(
    a: &Admin,
    tenant: Option<&str>,
    q: &Query,
) -> Result<Response, Error> {
    let status = match q.raw("status") {
        None => None,
        Some(s) => Some(
            KeyStatus::parse(&s)
                .ok_or_else(|| bad_param("status", "must be active, revoked or expired"))?,
        ),
    };
    let plan = q.text("plan");
    let keys = a.store.list(tenant).await.map_err(store_error)?;
    let now = manage::now_secs();
    let data = keys
        .into_iter()
        .map(|k| KeyView::new(k, now))
        .filter(|k| status.is_none_or(|s| k.status == s))
        .filter(|k| plan.as_ref().is_none_or(|p| &k.key.plan == p))
        .collect();
    Ok(Json(KeyList { data }).into_response())
}

/// One key, not found when it belongs to another tenant than `tenant`.
pub(super) async fn show_key(a: &Admin, tenant: Option<&str>, id: &str) -> Result<Response, Error> {
    match a.store.get(id).await {
        Ok(Some(k)) if tenant.is_none_or(|t| t == k.tenant) => {
            Ok(Json(KeyView::new(k, manage::now_secs())).into_response())
        }
        Ok(_) => Err(manage_error(ManageError::NotFound, id)),
        Err(e) => Err(store_error(e)),
    }
}

pub(super) async fn update_key(
    a: &Admin,
    tenant: Option<&str>,
    id: &str,
    patch: &KeyPatch,
) -> Result<Response, Error> {
    let k = manage::update(&a.store, &a.config, id, tenant, patch)
        .await
        .map_err(|e| manage_error(e, id))?;
    a.cache.clear();
    Ok(Json(KeyView::new(k, manage::now_secs())).into_response())
}

pub(super) async fn revoke_key(
    a: &Admin,
    tenant: Option<&str>,
    id: &str,
) -> Result<Response, Error> {
    let r = manage::revoke(&a.store, id, tenant, manage::now_secs())
        .await
        .map_err(|e| manage_error(e, id))?;
    if !r.already {
        // Effective at once on this instance.
        a.cache.clear();
    }
    Ok(Json(KeyView::new(r.key, manage::now_secs())).into_response())
}

pub(super) async fn rotate_key(
    a: &Admin,
    tenant: Option<&str>,
    id: &str,
) -> Result<Response, Error> {
    let i = manage::rotate(&a.store, &a.config, id, tenant, manage::now_secs())
        .await
        .map_err(|e| manage_error(e, id))?;
    a.cache.clear();
    Ok(issued(i))
}

pub(super) async fn create_key(a: &Admin, new: &NewKey) -> Result<Response, Error> {
    let i = manage::create(&a.store, &a.config, new, manage::now_secs())
        .await
        .map_err(|e| manage_error(e, ""))?;
    Ok(issued(i))
}

/// List keys, newest last.
#[utoipa::path(get, path = "/keys", tag = "keys",
    params(
        ("tenant" = Option<String>, Query, description = "Only this tenant's keys"),
        ("status" = Option<KeyStatus>, Query, description = "Only keys in this status"),
        ("plan" = Option<String>, Query, description = "Only keys on this plan"),
    ),
    responses(
        (status = 200, description = "The keys", body = KeyList),
        (status = 400, description = "A bad query parameter"),
        (status = 401, description = "No or a wrong admin token"),
    ))]
pub(super) async fn list(State(a): Shared, _c: AdminCaller, uri: Uri) -> Result<Response, Error> {
    let q = Query::parse(uri.query(), &["tenant", "status", "plan"])?;
    list_keys(&a, q.text("tenant").as_deref(), &q).await
}

/// Create a key; its secret is in the answer, this once.
#[utoipa::path(post, path = "/keys", tag = "keys",
    request_body = NewKey,
    responses(
        (status = 201, description = "The new key and its secret", body = IssuedView),
        (status = 400, description = "The body is not JSON"),
        (status = 401, description = "No or a wrong admin token"),
        (status = 422, description = "A field is invalid"),
    ))]
pub(super) async fn create(
    State(a): Shared,
    _c: AdminCaller,
    body: Bytes,
) -> Result<Response, Error> {
    let new: NewKey = json_body(&body)?;
    create_key(&a, &new).await
}

/// Show a key.
#[utoipa::path(get, path = "/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "The key id")),
    responses(
        (status = 200, description = "The key", body = KeyView),
        (status = 401, description = "No or a wrong admin token"),
        (status = 404, description = "No such key"),
    ))]
pub(super) async fn show(
    State(a): Shared,
    _c: AdminCaller,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    show_key(&a, None, &id).await
}

/// Edit a key's name, scopes, plan, IP allowlist, expiry or limits; effective at once.
#[utoipa::path(patch, path = "/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "The key id")),
    request_body = KeyPatch,
    responses(
        (status = 200, description = "The key as it is now", body = KeyView),
        (status = 400, description = "The body is not JSON"),
        (status = 401, description = "No or a wrong admin token"),
        (status = 404, description = "No such key"),
        (status = 422, description = "A field is invalid"),
    ))]
pub(super) async fn update(
    State(a): Shared,
    _c: AdminCaller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Error> {
    let patch: KeyPatch = json_body(&body)?;
    update_key(&a, None, &id, &patch).await
}

/// Revoke a key (effective at once on this instance). A key already revoked is answered as
/// it is, with the time it was first revoked.
#[utoipa::path(post, path = "/keys/{id}/revoke", tag = "keys",
    params(("id" = String, Path, description = "The key id")),
    responses(
        (status = 200, description = "The revoked key, with the time it was first revoked", body = KeyView),
        (status = 401, description = "No or a wrong admin token"),
        (status = 404, description = "No such key"),
    ))]
pub(super) async fn revoke(
    State(a): Shared,
    _c: AdminCaller,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    revoke_key(&a, None, &id).await
}

/// Replace a working key by a new secret; the old one is revoked. A revoked (or already
/// rotated) or expired key cannot be rotated: create a new key instead.
#[utoipa::path(post, path = "/keys/{id}/rotate", tag = "keys",
    params(("id" = String, Path, description = "The key id")),
    responses(
        (status = 201, description = "The new key and its secret", body = IssuedView),
        (status = 401, description = "No or a wrong admin token"),
        (status = 404, description = "No such key"),
        (status = 409, description = "The key is revoked or expired; `details` says which and since when"),
    ))]
pub(super) async fn rotate(
    State(a): Shared,
    _c: AdminCaller,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    rotate_key(&a, None, &id).await
}

/// The configured plans and their limits.
#[utoipa::path(get, path = "/plans", tag = "keys",
    responses(
        (status = 200, description = "The plans", body = PlanList),
        (status = 401, description = "No or a wrong admin token"),
    ))]
pub(super) async fn plans(State(a): Shared, _c: AdminCaller) -> Json<PlanList> {
    let data = a
        .config
        .plans
        .iter()
        .map(|(name, p)| PlanView {
            name: name.clone(),
            limits: p.limits.clone(),
            features: p.features.clone(),
        })
        .collect();
    Json(PlanList { data })
}
