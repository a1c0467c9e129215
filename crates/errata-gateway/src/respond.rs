//! Turning a rendered catalog error into an HTTP response: the one way the gateway answers
//! with an error of its own, on a parsed request or on raw bytes of a connection.

use bytes::{BufMut, Bytes, BytesMut};
use errata_core::{ApiError, Catalog, Format, Rendered};
use http::{HeaderName, HeaderValue, Response, StatusCode};

use crate::reply::Body;

/// Renders `err` with the catalog and builds the response. Headers that are not valid HTTP are
/// dropped rather than failing the response.
pub fn error_response(catalog: &Catalog, err: &ApiError, format: Format) -> Response<Body> {
    rendered_response(catalog.render(err, format))
}

/// The response of a rendered catalog error, carrying its code as [`RenderedCode`].
pub fn rendered_response(rendered: Rendered) -> Response<Body> {
    let mut res = Response::new(Body::full(rendered.body_bytes()));
    *res.status_mut() =
        StatusCode::from_u16(rendered.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = res.headers_mut();
    for (name, value) in &rendered.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(n, v);
        }
    }
    res.extensions_mut().insert(RenderedCode(rendered.code));
    res
}

/// The catalog code a response carries, for logs and metrics.
#[derive(Clone, Debug)]
pub struct RenderedCode(pub String);

/// A whole HTTP/1.1 response closing the connection, as bytes: for answers given before hyper
/// has a request (a head that does not parse, a slow head, a connection past the cap).
/// Returns the bytes, the status and the catalog code.
pub fn raw_error(
    catalog: &Catalog,
    err: &ApiError,
    request_id: (&HeaderName, &str),
) -> (Bytes, u16, String) {
    let rendered = catalog.render(err, Format::Envelope);
    let body = rendered.body_bytes();
    let reason = StatusCode::from_u16(rendered.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let mut out = BytesMut::with_capacity(256 + body.len());
    out.put_slice(format!("HTTP/1.1 {} {reason}\r\n", rendered.status).as_bytes());
    let mut header = |n: &[u8], v: &[u8]| {
        out.put_slice(n);
        out.put_slice(b": ");
        out.put_slice(v);
        out.put_slice(b"\r\n");
    };
    for (name, value) in &rendered.headers {
        // Only what is valid HTTP goes on the wire.
        if HeaderName::from_bytes(name.as_bytes()).is_ok() && HeaderValue::from_str(value).is_ok() {
            header(name.as_bytes(), value.as_bytes());
        }
    }
    if HeaderValue::from_str(request_id.1).is_ok() {
        header(request_id.0.as_str().as_bytes(), request_id.1.as_bytes());
    }
    header(b"content-length", body.len().to_string().as_bytes());
    header(b"connection", b"close");
    out.put_slice(b"\r\n");
    out.put_slice(&body);
    (out.freeze(), rendered.status, rendered.code)
}
