//! The last step of every response: render a pending [`Error`](crate::Error), turn any other
//! error response into the catalog's, and stamp the request id.

use axum::extract::{MatchedPath, OriginalUri, Request};
use axum::http::header::{ACCEPT, ALLOW, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::response::Response;
use errata_core::{ApiError, CodeDef, Condition, ErrorKind, Format, template};
use serde_json::Value;

use super::{Config, RouteMatched};
use crate::RequestId;
use crate::error::Pending;
use crate::render::{self, FromCatalog};

/// What the finishing step needs to know of the request, taken before the handler owns it.
pub(crate) struct RequestInfo {
    pub(crate) method: Method,
    /// The path as the client sent it (before any `nest` stripped a prefix).
    pub(crate) path: String,
    /// Whether a route matched (axum's fallback answers requests no route matched).
    matched: bool,
    format: Format,
    content_type: Option<String>,
}

impl RequestInfo {
    pub(crate) fn of(req: &Request) -> Self {
        let path = req
            .extensions()
            .get::<OriginalUri>()
            .map_or_else(|| req.uri().path(), |uri| uri.0.path())
            .to_owned();
        let matched = req
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|m| !m.as_str().contains("__private__axum_fallback"));
        let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
        RequestInfo {
            method: req.method().clone(),
            path,
            matched,
            format: Format::from_accept(header(ACCEPT)),
            content_type: header(CONTENT_TYPE).map(str::to_owned),
        }
    }
}

/// Renders the response's error, if it is one, with the catalog; adds the request id header.
pub(crate) fn finish(
    mut res: Response,
    config: &Config,
    info: &RequestInfo,
    id: &RequestId,
) -> Response {
    let err = if let Some(Pending(err)) = res.extensions_mut().remove::<Pending>() {
        Some(err)
    } else if res.extensions().get::<FromCatalog>().is_some() {
        None
    } else if res.status().is_client_error() || res.status().is_server_error() {
        tracing::debug!(status = res.status().as_u16(), "error response normalized");
        Some(foreign(&res, config, info))
    } else {
        None
    };
    if let Some(err) = err {
        let err = complete(err, &res, config, info, id);
        let rendered = config.catalog.render(&err, info.format);
        if rendered.status >= 500 {
            tracing::error!(status = rendered.status, code = %rendered.code, "request failed");
        } else {
            tracing::info!(status = rendered.status, code = %rendered.code, "request refused");
        }
        res = render::replace(res, &rendered);
    }
    if let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(config.catalog.request_id().header.as_bytes()),
        HeaderValue::from_str(id.as_str()),
    ) {
        res.headers_mut().insert(name, value);
    }
    res
}

/// The catalog error for an error response that did not come from the catalog.
fn foreign(res: &Response, config: &Config, info: &RequestInfo) -> ApiError {
    let status = res.status().as_u16();
    let err = match status {
        404 if !info.matched && res.extensions().get::<RouteMatched>().is_none() => {
            ApiError::condition(Condition::RouteNotFound)
        }
        // A handler said 404 without saying what is missing: the path is what was not found.
        404 => ApiError::condition(Condition::ResourceNotFound)
            .arg("resource", "Resource")
            .arg("id", info.path.clone()),
        405 => ApiError::condition(Condition::MethodNotAllowed),
        408 => ApiError::condition(Condition::RequestTimeout),
        413 => ApiError::condition(Condition::BodyTooLarge),
        415 => ApiError::condition(Condition::UnsupportedContentType),
        _ => ApiError::code(config.catalog.code_for_status(status).code.clone()),
    };
    match retry_after(res) {
        Some(seconds) => err.retry_after(seconds),
        None => err,
    }
}

/// The seconds of a `Retry-After` header given as a number.
fn retry_after(res: &Response) -> Option<u64> {
    res.headers()
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Adds what the request tells: request id, instance, and every argument the message needs
/// that the error lacks and the request or the layer knows.
fn complete(
    err: ApiError,
    res: &Response,
    config: &Config,
    info: &RequestInfo,
    id: &RequestId,
) -> ApiError {
    let catalog = &config.catalog;
    let mut err = err;
    if err.request_id.is_none() {
        err = err.request_id(id.as_str());
    }
    if err.instance.is_none() {
        err = err.instance(info.path.clone());
    }
    let Some(def) = code_def(&err, catalog) else {
        return err;
    };
    let template = def
        .template_for(err.as_condition(), err.variant.as_deref())
        .to_owned();
    for name in template::names(&template) {
        if err.arg_value(name).is_some() {
            continue;
        }
        if name == "retry_after" {
            err = err.retry_after(config.overload_retry_after);
            continue;
        }
        if let Some(value) = context_arg(name, res, config, info) {
            err = err.arg(name, value);
        }
    }
    err
}

/// The code an error renders as, when the catalog has it.
fn code_def<'c>(err: &ApiError, catalog: &'c errata_core::Catalog) -> Option<&'c CodeDef> {
    match &err.kind {
        ErrorKind::Condition(c) => Some(catalog.code_for(*c)),
        ErrorKind::Code(code) => catalog.code(code),
        _ => None,
    }
}

/// A message argument the request, the response or the layer's settings can supply.
fn context_arg(name: &str, res: &Response, config: &Config, info: &RequestInfo) -> Option<Value> {
    match name {
        "method" => Some(Value::from(info.method.as_str())),
        "path" => Some(Value::from(info.path.as_str())),
        "allowed" => {
            let Some(allow) = res.headers().get(ALLOW).and_then(|v| v.to_str().ok()) else {
                // Under `Router::layer`, axum adds `Allow` after this layer ran.
                return Some(Value::from("see the Allow header"));
            };
            let methods: Vec<&str> = allow
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .collect();
            Some(Value::from(methods.join(", ")))
        }
        "limit" => Some(Value::from(config.body_limit)),
        "content_type" => Some(Value::from(
            info.content_type.as_deref().unwrap_or("(none)"),
        )),
        "timeout" => {
            let timeout = config.timeout?;
            Some(if timeout.subsec_nanos() == 0 {
                Value::from(timeout.as_secs())
            } else {
                Value::from(timeout.as_secs_f64())
            })
        }
        _ => None,
    }
}
