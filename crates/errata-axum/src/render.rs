//! From errata-core's [`Rendered`] (status, headers, JSON body) to an axum [`Response`].
//!
//! errata-core alone serializes error bodies; this module only copies its output onto the wire.

use axum::body::Body;
use axum::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use errata_core::Rendered;

/// Marks a response whose body the catalog rendered, so that no layer renders it again.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FromCatalog;

/// A fresh response for a rendered error.
pub(crate) fn response(rendered: &Rendered) -> Response {
    replace(Response::new(Body::empty()), rendered)
}

/// The response with its body, status and error headers replaced by the rendered error. Headers
/// that do not describe the old body (`Allow`, CORS, cookies) are kept.
pub(crate) fn replace(res: Response, rendered: &Rendered) -> Response {
    let (mut parts, _old_body) = res.into_parts();
    parts.status =
        StatusCode::from_u16(rendered.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for name in [
        CONTENT_TYPE,
        CONTENT_LENGTH,
        TRANSFER_ENCODING,
        CONTENT_ENCODING,
    ] {
        parts.headers.remove(name);
    }
    set_headers(&mut parts.headers, &rendered.headers);
    parts.extensions.insert(FromCatalog);
    Response::from_parts(parts, Body::from(rendered.body_bytes()))
}

/// Writes headers, each name replacing what was there (a name given twice keeps both values).
/// A name or value that is not valid in HTTP is left out and logged.
pub(crate) fn set_headers(headers: &mut HeaderMap, pairs: &[(String, String)]) {
    let mut written: Vec<HeaderName> = Vec::new();
    for (name, value) in pairs {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            tracing::warn!(header = %name, "left out a header that is not valid HTTP");
            continue;
        };
        if written.contains(&name) {
            headers.append(name, value);
        } else {
            headers.insert(name.clone(), value);
            written.push(name);
        }
    }
}
