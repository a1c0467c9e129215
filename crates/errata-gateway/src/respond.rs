//! Turning a rendered catalog error into an HTTP response: the one way the gateway answers
//! with an error of its own.

use axum::body::Body;
use axum::response::Response;
use errata_core::{ApiError, Catalog, Format};
use http::{HeaderName, HeaderValue, StatusCode};

/// Renders `err` with the catalog and builds the response. Headers that are not valid HTTP are
/// dropped rather than failing the response.
pub fn error_response(catalog: &Catalog, err: &ApiError, format: Format) -> Response {
    let rendered = catalog.render(err, format);
    let mut res = Response::new(Body::from(rendered.body_bytes()));
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
