//! Console sign-in: the sign-in form posts the admin token once; the answer is an HttpOnly,
//! SameSite=Strict cookie naming a random session kept in memory ([`crate::sessions`]), plus a
//! CSRF token the page sends back on writes. Nothing of the admin token is kept, put in a URL or
//! logged.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use errata_axum::Error;
use errata_core::{ApiError, Condition};
use serde::{Deserialize, Serialize};

use crate::auth::AdminCaller;
use crate::sessions::{COOKIE, TTL_SECS};
use crate::state::Shared;

/// What the page learns of its session.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    /// Send it back as `X-CSRF-Token` on every POST, PATCH and DELETE.
    pub csrf: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// The sign-in form's fields.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// The admin token.
    #[schema(min_length = 1)]
    pub token: String,
}

fn set_cookie(value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("errata_console=; Max-Age=0"))
}

/// Signs in with the admin token: a form post (redirects) or JSON (answers with the CSRF
/// token). The cookie is `Secure` when the console's public URL is https.
#[utoipa::path(post, path = "/session", tag = "console", security(()),
    request_body(content(
        (SignIn = "application/json"),
        (SignIn = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Signed in (JSON); the session cookie is set", body = SessionInfo),
        (status = 303, description = "Signed in or not (form): to the console, or back to the form with `?signin=failed`"),
        (status = 400, description = "Unreadable body"),
        (status = 401, description = "Wrong token (JSON)"),
        (status = 415, description = "Neither JSON nor a form"),
        (status = 422, description = "Missing token"),
    ))]
pub(super) async fn sign_in(
    State(a): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let form = match ct.as_str() {
        "application/x-www-form-urlencoded" => true,
        "application/json" => false,
        other => {
            return Err(ApiError::condition(Condition::UnsupportedContentType)
                .arg(
                    "content_type",
                    if other.is_empty() { "none" } else { other }.to_owned(),
                )
                .into());
        }
    };
    let token = if form {
        let mut token = None;
        for (k, v) in form_urlencoded::parse(&body) {
            if k != "token" || token.is_some() {
                return Err(Error::invalid_fields([errata_core::Violation::new(
                    [k.into_owned()],
                    "The form has one field, token",
                    "unrecognized_keys",
                )]));
            }
            token = Some(v.into_owned());
        }
        Some(token.filter(|t| !t.is_empty()).ok_or_else(|| {
            Error::invalid_fields([errata_core::Violation::new(
                ["token"],
                "Required",
                "invalid_type",
            )])
        })?)
    } else {
        let s: SignIn = crate::params::json_body(&body)?;
        Some(s.token)
    };
    let secure = a
        .config
        .portal
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let ok = token
        .as_deref()
        .is_some_and(|t| !t.is_empty() && crate::auth::is_admin_token(&a, t));
    if !ok {
        tracing::info!(target: "errata::console", "console sign-in refused");
        if form {
            return Ok(redirect("/?signin=failed", None));
        }
        return Err(if token.as_deref().is_none_or(str::is_empty) {
            Error::invalid_fields([errata_core::Violation::new(
                ["token"],
                "Required",
                "invalid_type",
            )])
        } else {
            Condition::UnknownKey.into()
        });
    }
    let (id, s) = a.sessions.start(crate::manage::now_secs());
    let cookie = set_cookie(&id, TTL_SECS, secure);
    tracing::info!(target: "errata::console", "console signed in");
    if form {
        return Ok(redirect("/console/keys", Some(cookie)));
    }
    let mut res = Json(SessionInfo {
        csrf: s.csrf,
        expires_at: s.expires_at,
    })
    .into_response();
    res.headers_mut().insert(header::SET_COOKIE, cookie);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

fn redirect(to: &'static str, cookie: Option<HeaderValue>) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    res.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(to));
    if let Some(c) = cookie {
        res.headers_mut().insert(header::SET_COOKIE, c);
    }
    res
}

/// The current console session: its CSRF token, or 401 when signed out.
#[utoipa::path(get, path = "/session", tag = "console",
    security(("consoleSession" = [])),
    responses(
        (status = 200, description = "Signed in", body = SessionInfo),
        (status = 401, description = "Not signed in"),
    ))]
pub(super) async fn current(State(a): Shared, headers: HeaderMap) -> Result<Response, Error> {
    let s = a
        .sessions
        .from_headers(&headers)
        .ok_or(Condition::MissingKey)?;
    let mut res = Json(SessionInfo {
        csrf: s.csrf,
        expires_at: s.expires_at,
    })
    .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// Signs out: the session ends and the cookie is cleared.
#[utoipa::path(delete, path = "/session", tag = "console",
    security(("consoleSession" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in"),
        (status = 403, description = "No or a wrong X-CSRF-Token header"),
    ))]
pub(super) async fn sign_out(
    State(a): Shared,
    _caller: AdminCaller,
    headers: HeaderMap,
) -> Result<Response, Error> {
    // Only a session signs out (the admin token has nothing to end).
    if a.sessions.from_headers(&headers).is_none() {
        return Err(Condition::MissingKey.into());
    }
    a.sessions.end(&headers);
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, set_cookie("", 0, false));
    Ok(res)
}
