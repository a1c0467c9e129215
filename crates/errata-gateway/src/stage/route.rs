//! Route: the error reference page, the health check (`health_path`), or the configured route
//! for the path (longest prefix) and its methods.

use errata_core::{ApiError, Condition};
use http::Method;

use crate::config::{Config, Route};

/// Where a request goes.
pub enum Routed<'c> {
    /// The catalog's error reference page.
    ErrorsPage,
    /// The gateway's readiness (`health_path`), answered without a key.
    Health,
    /// A configured route, with its metrics slot (its index in the config).
    Upstream(usize, &'c Route),
}

/// The route for `method` and `path`, or why there is none.
pub fn route<'c>(cfg: &'c Config, method: &Method, path: &str) -> Result<Routed<'c>, ApiError> {
    if path == cfg.errors_path {
        if method == Method::GET || method == Method::HEAD {
            return Ok(Routed::ErrorsPage);
        }
        return Err(not_allowed(method, path, "GET, HEAD"));
    }
    if cfg.health_path.as_deref() == Some(path) {
        if method == Method::GET || method == Method::HEAD {
            return Ok(Routed::Health);
        }
        return Err(not_allowed(method, path, "GET, HEAD"));
    }
    let Some((slot, route)) = cfg.routes.iter().enumerate().find(|(_, r)| r.matches(path)) else {
        return Err(ApiError::condition(Condition::RouteNotFound)
            .arg("method", method.as_str())
            .arg("path", path));
    };
    if !route.methods.is_empty() && !route.methods.iter().any(|m| m == method.as_str()) {
        return Err(not_allowed(method, path, &route.methods.join(", ")));
    }
    Ok(Routed::Upstream(slot, route))
}

fn not_allowed(method: &Method, path: &str, allowed: &str) -> ApiError {
    ApiError::condition(Condition::MethodNotAllowed)
        .arg("method", method.as_str())
        .arg("path", path)
        .arg("allowed", allowed)
        .header("allow", allowed)
}
