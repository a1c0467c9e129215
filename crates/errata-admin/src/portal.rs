//! The tenant portal's API: signed, expiring sessions the provider's app hands to its customer
//! ([`crate::portal_token`]), and `/portal/api/…`, where such a session sees and manages its own
//! tenant only. Anything of another tenant is not found, never forbidden.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use errata_axum::{Error, Path};
use errata_core::Violation;
use serde::{Deserialize, Serialize};

use crate::auth::{AdminCaller, PortalCaller};
use crate::keys::{self as k, IssuedView, KeyList};
use crate::log::{CatalogCodes, RequestList, Usage, catalog_codes, list_for, show_for, usage_for};
use crate::manage::KeyPatch;
use crate::params::{Query, json_body};
use crate::state::Shared;
use errata_store::db::{KeyView, NewKey};
use errata_store::keys::Environment;
use errata_store::reqlog::Record;

/// What a portal session is made for.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPortalSession {
    /// The tenant the session sees.
    pub tenant: String,
    /// How long the session lives (default 60).
    #[schema(minimum = 1, maximum = 1440)]
    pub ttl_minutes: Option<i64>,
}

/// A portal session for the provider's app to hand to its customer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PortalLink {
    /// The portal page with the token in its fragment.
    pub url: String,
    /// The bearer token for `/portal/api/…`.
    pub token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// The session as the portal page sees it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PortalSessionInfo {
    pub tenant: String,
    pub expires_at: i64,
}

/// A key a tenant makes for itself: the plan is the default one, limits are the plan's.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalNewKey {
    pub name: String,
    #[serde(default = "live")]
    pub environment: Environment,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// IP networks in CIDR form; empty: any.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub ip_allowlist: Vec<ipnet::IpNet>,
    /// Unix seconds.
    #[schema(minimum = 0, maximum = 253402300799_i64)]
    pub expires_at: Option<i64>,
}

fn live() -> Environment {
    Environment::Live
}

/// What a tenant may change of its key.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalKeyPatch {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    #[schema(value_type = Option<Vec<String>>)]
    pub ip_allowlist: Option<Vec<ipnet::IpNet>>,
    /// Unix seconds; null: never expires.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 253402300799_i64)]
    pub expires_at: Option<Option<i64>>,
}

fn present<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    <Option<T> as Deserialize>::deserialize(d).map(Some)
}

/// Open a portal session for a tenant.
#[utoipa::path(post, path = "/portal/sessions", tag = "portal",
    request_body = NewPortalSession,
    responses(
        (status = 201, description = "The session", body = PortalLink),
        (status = 400, description = "The body is not JSON"),
        (status = 401, description = "No or a wrong admin token"),
        (status = 422, description = "A field is invalid"),
    ))]
pub(super) async fn create_session(
    State(a): Shared,
    _c: AdminCaller,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let new: NewPortalSession = json_body(&body)?;
    let mut bad = Vec::new();
    if new.tenant.is_empty()
        || new.tenant.len() > 128
        || !new
            .tenant
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b',')
    {
        bad.push(Violation::new(
            ["tenant"],
            "Required: 1 to 128 visible characters",
            "invalid_type",
        ));
    }
    let ttl = new.ttl_minutes.unwrap_or(60);
    if !(1..=1440).contains(&ttl) {
        bad.push(Violation::new(
            ["ttl_minutes"],
            "Must be between 1 and 1440",
            "too_small",
        ));
    }
    if !bad.is_empty() {
        return Err(Error::invalid_fields(bad));
    }
    let expires_at = crate::manage::now_secs() + ttl * 60;
    let token = a.portal.sign(&new.tenant, expires_at);
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| a.config.admin_listen.to_string(), str::to_owned);
    let url = a.portal.url(&format!("http://{host}"), &token);
    tracing::info!(target: "errata::console", tenant = %new.tenant, expires_at, "portal session opened");
    Ok((
        StatusCode::CREATED,
        Json(PortalLink {
            url,
            token,
            expires_at,
        }),
    )
        .into_response())
}

/// The session's tenant and expiry.
#[utoipa::path(get, path = "/portal/api/session", tag = "portal",
    security(("portalSession" = [])),
    responses(
        (status = 200, description = "The session", body = PortalSessionInfo),
        (status = 401, description = "No, a wrong or an expired portal token"),
    ))]
pub(super) async fn session(
    State(a): Shared,
    c: PortalCaller,
    headers: axum::http::HeaderMap,
) -> Result<Json<PortalSessionInfo>, Error> {
    let token = crate::auth::bearer(&headers)?.unwrap_or("");
    let expires_at = a
        .portal
        .verify(token, crate::manage::now_secs())
        .map_or(0, |s| s.expires_at);
    Ok(Json(PortalSessionInfo {
        tenant: c.tenant,
        expires_at,
    }))
}

/// The tenant's keys.
#[utoipa::path(get, path = "/portal/api/keys", tag = "portal",
    security(("portalSession" = [])),
    params(
        ("status" = Option<errata_store::db::KeyStatus>, Query, description = "Only keys in this status"),
        ("plan" = Option<String>, Query, description = "Only keys on this plan"),
    ),
    responses(
        (status = 200, description = "The keys", body = KeyList),
        (status = 400, description = "A bad query parameter"),
        (status = 401, description = "No, a wrong or an expired portal token"),
    ))]
pub(super) async fn list_keys(
    State(a): Shared,
    c: PortalCaller,
    uri: Uri,
) -> Result<Response, Error> {
    let q = Query::parse(uri.query(), &["status", "plan"])?;
    k::list_keys(&a, Some(&c.tenant), &q).await
}

/// Create a key for the tenant; its secret is in the answer, this once.
#[utoipa::path(post, path = "/portal/api/keys", tag = "portal",
    security(("portalSession" = [])),
    request_body = PortalNewKey,
    responses(
        (status = 201, description = "The new key and its secret", body = IssuedView),
        (status = 400, description = "The body is not JSON"),
        (status = 401, description = "No, a wrong or an expired portal token"),
        (status = 422, description = "A field is invalid"),
    ))]
pub(super) async fn create_key(
    State(a): Shared,
    c: PortalCaller,
    body: Bytes,
) -> Result<Response, Error> {
    let p: PortalNewKey = json_body(&body)?;
    let new = NewKey {
        tenant: c.tenant,
        name: p.name,
        environment: p.environment,
        scopes: p.scopes,
        plan: None,
        ip_allowlist: p.ip_allowlist,
        limits: None,
        expires_at: p.expires_at,
    };
    k::create_key(&a, &new).await
}

/// One of the tenant's keys.
#[utoipa::path(get, path = "/portal/api/keys/{id}", tag = "portal",
    security(("portalSession" = [])),
    params(("id" = String, Path, description = "The key id")),
    responses(
        (status = 200, description = "The key", body = KeyView),
        (status = 401, description = "No, a wrong or an expired portal token"),
        (status = 404, description = "No such key for this tenant"),
    ))]
pub(super) async fn show_key(
    State(a): Shared,
    c: PortalCaller,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    k::show_key(&a, Some(&c.tenant), &id).await
}

/// Edit one of the tenant's keys: name, scopes, IP allowlist, expiry.
#[utoipa::path(patch, path = "/portal/api/keys/{id}", tag = "portal",
    security(("portalSession" = [])),
    params(("id" = String, Path, description = "The key id")),
    request_body = PortalKeyPatch,
    responses(
        (status = 200, description = "The key as it is now", body = KeyView),
        (status = 400, description = "The body is not JSON"),
        (status = 401, description = "No, a wrong or an expired portal token"),
        (status = 404, description = "No such key for this tenant"),
        (status = 422, description = "A field is invalid"),
    ))]
pub(super) async fn update_key(
    State(a): Shared,
    c: PortalCaller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Error> {
    let p: PortalKeyPatch = json_body(&body)?;
    let patch = KeyPatch {
        name: p.name,
        scopes: p.scopes,
        plan: None,
        ip_allowlist: p.ip_allowlist,
        expires_at: p.expires_at,
        limits: None,
    };
    k::update_key(&a, Some(&c.tenant), &id, &patch).await
}

/// Revoke one of the tenant's keys.
#[utoipa::path(post, path = "/portal/api/keys/{id}/revoke", tag = "portal",
    security(("portalSession" = [])),
    params(("id" = String, Path, description = "The key id")),
    responses(
        (status = 200, description = "The revoked key", body = KeyView),
        (status = 401, description = "No, a wrong or an expired portal token"),
        (status = 404, description = "No such key for this tenant"),
    ))]
pub(super) async fn revoke_key(
    State(a): Shared,
    c: PortalCaller,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    k::revoke_key(&a, Some(&c.tenant), &id).await
}

/// Replace one of the tenant's keys by a new secret.
#[utoipa::path(post, path = "/portal/api/keys/{id}/rotate", tag = "portal",
    security(("portalSession" = [])),
    params(("id" = String, Path, description = "The key id")),
    responses(
        (status = 201, description = "The new key and its secret", body = IssuedView),
        (status = 401, description = "No, a wrong or an expired portal token"),
        (status = 404, description = "No such key for this tenant"),
        (status = 409, description = "The key is revoked or expired; `details` says which and since when"),
    ))]
pub(super) async fn rotate_key(
    State(a): Shared,
    c: PortalCaller,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    k::rotate_key(&a, Some(&c.tenant), &id).await
}

/// The tenant's usage (or one of its keys').
#[utoipa::path(get, path = "/portal/api/usage", tag = "portal",
    security(("portalSession" = [])),
    params(
        ("key_id" = Option<String>, Query, description = "One key of the tenant; default all"),
        ("since" = Option<i64>, Query, description = "Unix seconds", minimum = 0, maximum = 253402300799_i64),
        ("until" = Option<i64>, Query, description = "Unix seconds, exclusive; default now", minimum = 0, maximum = 253402300799_i64),
        ("step" = Option<errata_store::db::Step>, Query, description = "Bucket size (default minute); at most 1440 buckets"),
    ),
    responses(
        (status = 200, description = "Usage", body = Usage),
        (status = 400, description = "A bad query parameter"),
        (status = 401, description = "No, a wrong or an expired portal token"),
        (status = 404, description = "No such key for this tenant"),
    ))]
pub(super) async fn usage(State(a): Shared, c: PortalCaller, uri: Uri) -> Result<Response, Error> {
    usage_for(&a, Some(&c.tenant), &uri).await
}

/// The tenant's request records, newest first.
#[utoipa::path(get, path = "/portal/api/requests", tag = "portal",
    security(("portalSession" = [])),
    params(
        ("key_id" = Option<String>, Query, description = "Only this key's requests"),
        ("code" = Option<String>, Query, description = "Only answers with this catalog code"),
        ("status" = Option<String>, Query, description = "A status (`429`) or a class (`4xx`)", pattern = "^([1-5]xx|[1-5][0-9][0-9])$"),
        ("since" = Option<i64>, Query, description = "Unix seconds, inclusive", minimum = 0, maximum = 253402300799_i64),
        ("until" = Option<i64>, Query, description = "Unix seconds, exclusive", minimum = 0, maximum = 253402300799_i64),
        ("limit" = Option<i64>, Query, description = "Records per page (default 50)", minimum = 1, maximum = 500),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page", pattern = "^([0-9a-f]{2})*$"),
    ),
    responses(
        (status = 200, description = "A page of records", body = RequestList),
        (status = 400, description = "A bad query parameter"),
        (status = 401, description = "No, a wrong or an expired portal token"),
    ))]
pub(super) async fn list_requests(
    State(a): Shared,
    c: PortalCaller,
    uri: Uri,
) -> Result<Response, Error> {
    list_for(&a, Some(&c.tenant), &uri).await
}

/// One of the tenant's request records.
#[utoipa::path(get, path = "/portal/api/requests/{request_id}", tag = "portal",
    security(("portalSession" = [])),
    params(("request_id" = String, Path, description = "The request id the answer carried")),
    responses(
        (status = 200, description = "The record", body = Record),
        (status = 401, description = "No, a wrong or an expired portal token"),
        (status = 404, description = "No record with this id for this tenant"),
    ))]
pub(super) async fn show_request(
    State(a): Shared,
    c: PortalCaller,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    show_for(&a, Some(&c.tenant), &id).await
}

/// The catalog's codes.
#[utoipa::path(get, path = "/portal/api/errors", tag = "portal",
    security(("portalSession" = [])),
    responses(
        (status = 200, description = "The codes", body = CatalogCodes),
        (status = 401, description = "No, a wrong or an expired portal token"),
    ))]
pub(super) async fn errors(State(a): Shared, _c: PortalCaller) -> Json<CatalogCodes> {
    catalog_codes(&a)
}
