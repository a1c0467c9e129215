//! Who is calling: the admin (token or console session) or a tenant's portal session.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use errata_axum::Error;
use errata_core::Condition;

use crate::state::Admin;

/// An admin caller: the admin token as a bearer, or a console session cookie (with the CSRF
/// header on anything but GET and HEAD).
pub struct AdminCaller;

/// A portal caller: a valid portal session token as a bearer; its tenant.
pub struct PortalCaller {
    pub tenant: String,
}

/// The bearer token of a request, if it has an `Authorization: Bearer` header.
pub(super) fn bearer(headers: &HeaderMap) -> Result<Option<&str>, Error> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(Some)
        .ok_or_else(|| Condition::MalformedKey.into())
}

/// Whether `token` is the admin token (constant time).
pub(super) fn is_admin_token(admin: &Admin, token: &str) -> bool {
    errata_store::keys::hashes_equal(
        &errata_store::keys::hash(token),
        &errata_store::keys::hash(&admin.token),
    )
}

impl FromRequestParts<Arc<Admin>> for AdminCaller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, a: &Arc<Admin>) -> Result<Self, Error> {
        if let Some(token) = bearer(&parts.headers)? {
            return if is_admin_token(a, token) {
                Ok(AdminCaller)
            } else {
                Err(Condition::UnknownKey.into())
            };
        }
        let Some(session) = a.sessions.from_headers(&parts.headers) else {
            return Err(Condition::MissingKey.into());
        };
        if parts.method != Method::GET && parts.method != Method::HEAD {
            let sent = parts
                .headers
                .get(crate::sessions::CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !errata_store::keys::hashes_equal(
                &errata_store::keys::hash(sent),
                &errata_store::keys::hash(&session.csrf),
            ) {
                return Err(Error::condition(Condition::InsufficientScope)
                    .arg("scope", "console:write (send the X-CSRF-Token header)"));
            }
        }
        Ok(AdminCaller)
    }
}

impl FromRequestParts<Arc<Admin>> for PortalCaller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, a: &Arc<Admin>) -> Result<Self, Error> {
        let Some(token) = bearer(&parts.headers)? else {
            return Err(Condition::MissingKey.into());
        };
        let now = crate::manage::now_secs();
        match a.portal.verify(token, now) {
            Some(s) => Ok(PortalCaller { tenant: s.tenant }),
            None => Err(Condition::UnknownKey.into()),
        }
    }
}
