//! Success metadata: rate-limit state in the body of successful JSON responses, opt-in.
//!
//! KlayrAI tells clients to "check the `meta.remaining_requests` field in successful
//! responses". [`RateLimitMetaLayer`] adds it (and `rate_limit`, `rate_limit_reset` when known)
//! to every 2xx `application/json` response whose body is an object, from the rate-limit
//! headers of the response (set by the service) or, failing that, of the request (set by
//! errata's gateway in front):
//!
//! - `RateLimit: limit=100, remaining=42, reset=30` (or `"default";r=42;t=30`, with the limit in
//!   `RateLimit-Policy: "default";q=100;w=60`);
//! - `RateLimit-Remaining`, `RateLimit-Limit`, `RateLimit-Reset`;
//! - `X-RateLimit-Remaining`, `X-RateLimit-Limit`, `X-RateLimit-Reset`.
//!
//! ```
//! use axum::{Router, routing::get};
//! use errata_axum::{Json, RateLimitMetaLayer};
//!
//! async fn campaigns() -> Json<serde_json::Value> {
//!     Json(serde_json::json!({"data": []}))
//! }
//! // A request the gateway sent with `x-ratelimit-remaining: 42` is answered
//! // {"data": [], "meta": {"remaining_requests": 42}}.
//! let app: Router = Router::new()
//!     .route("/v1/campaigns", get(campaigns))
//!     .layer(RateLimitMetaLayer::new());
//! ```
//!
//! Error responses are left alone: their body is the catalog's. So is a body larger than the
//! buffering limit (1 MiB by default) or of unknown length.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use tower::{Layer, Service};

use crate::Error;

/// Adds rate-limit state to successful JSON bodies. See the [module docs](crate::meta).
#[derive(Clone, Copy, Debug)]
pub struct RateLimitMetaLayer {
    max_body: usize,
}

impl RateLimitMetaLayer {
    /// Buffers success bodies up to 1 MiB.
    pub fn new() -> Self {
        RateLimitMetaLayer {
            max_body: 1024 * 1024,
        }
    }

    /// The largest body that gets metadata; larger ones pass through unchanged.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }
}

impl Default for RateLimitMetaLayer {
    fn default() -> Self {
        RateLimitMetaLayer::new()
    }
}

impl<S> Layer<S> for RateLimitMetaLayer {
    type Service = RateLimitMeta<S>;

    fn layer(&self, inner: S) -> RateLimitMeta<S> {
        RateLimitMeta {
            inner,
            max_body: self.max_body,
        }
    }
}

/// The service of a [`RateLimitMetaLayer`].
#[derive(Clone, Debug)]
pub struct RateLimitMeta<S> {
    inner: S,
    max_body: usize,
}

impl<S> Service<Request> for RateLimitMeta<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let from_request = RateLimitState::from_headers(req.headers());
        let max_body = self.max_body;
        let future = self.inner.call(req);
        Box::pin(async move {
            let res = future.await?;
            Ok(add_meta(res, from_request, max_body).await)
        })
    }
}

async fn add_meta(res: Response, from_request: RateLimitState, max_body: usize) -> Response {
    let is_json = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    let fits = res
        .body()
        .size_hint()
        .exact()
        .is_some_and(|n| n <= max_body as u64);
    if !res.status().is_success() || !is_json || !fits {
        return res;
    }
    let state = RateLimitState::from_headers(res.headers()).or(from_request);
    if state.is_empty() {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = match axum::body::to_bytes(body, max_body).await {
        Ok(bytes) => bytes,
        Err(err) => {
            return Error::internal(format_args!("reading a response body: {err}")).into_response();
        }
    };
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let meta = object
        .entry("meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(meta) = meta {
        state.write(meta);
    }
    match serde_json::to_vec(&Value::Object(object)) {
        Ok(body) => {
            parts.headers.remove(CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(body))
        }
        Err(_) => Response::from_parts(parts, Body::from(bytes)),
    }
}

/// What the rate-limit headers say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct RateLimitState {
    remaining: Option<u64>,
    limit: Option<u64>,
    reset: Option<u64>,
}

impl RateLimitState {
    fn from_headers(headers: &HeaderMap) -> Self {
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let mut state = RateLimitState::default();
        if let Some(value) = headers.get("ratelimit").and_then(|v| v.to_str().ok()) {
            state = parse_structured(value);
        }
        let policy = headers
            .get("ratelimit-policy")
            .and_then(|v| v.to_str().ok());
        state.limit = state.limit.or_else(|| parse_structured(policy?).limit);
        for prefix in ["ratelimit-", "x-ratelimit-"] {
            state.remaining = state
                .remaining
                .or_else(|| number(&format!("{prefix}remaining")));
            state.limit = state.limit.or_else(|| number(&format!("{prefix}limit")));
            state.reset = state.reset.or_else(|| number(&format!("{prefix}reset")));
        }
        state
    }

    fn is_empty(&self) -> bool {
        *self == RateLimitState::default()
    }

    /// The state of the response if it has any, else that of the request.
    fn or(self, other: RateLimitState) -> Self {
        if self.is_empty() { other } else { self }
    }

    fn write(&self, meta: &mut Map<String, Value>) {
        for (key, value) in [
            ("remaining_requests", self.remaining),
            ("rate_limit", self.limit),
            ("rate_limit_reset", self.reset),
        ] {
            if let Some(n) = value {
                meta.insert(key.to_owned(), Value::from(n));
            }
        }
    }
}

/// `limit=100, remaining=42, reset=30` or `"default";r=42;t=30` (and `q=100` in a policy).
fn parse_structured(value: &str) -> RateLimitState {
    let mut state = RateLimitState::default();
    for item in value.split([',', ';']) {
        let Some((key, number)) = item.split_once('=') else {
            continue;
        };
        let Ok(number) = number.trim().parse::<u64>() else {
            continue;
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "remaining" | "r" => state.remaining = Some(number),
            "limit" | "q" => state.limit = Some(number),
            "reset" | "t" => state.reset = Some(number),
            _ => {}
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn reads_every_header_style() {
        let mut h = HeaderMap::new();
        h.insert(
            "ratelimit",
            HeaderValue::from_static("limit=100, remaining=42, reset=30"),
        );
        assert_eq!(
            RateLimitState::from_headers(&h),
            RateLimitState {
                remaining: Some(42),
                limit: Some(100),
                reset: Some(30)
            }
        );
        let mut h = HeaderMap::new();
        h.insert(
            "ratelimit",
            HeaderValue::from_static("\"default\";r=7;t=12"),
        );
        h.insert(
            "ratelimit-policy",
            HeaderValue::from_static("\"default\";q=60;w=60"),
        );
        assert_eq!(
            RateLimitState::from_headers(&h),
            RateLimitState {
                remaining: Some(7),
                limit: Some(60),
                reset: Some(12)
            }
        );
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("3"));
        assert_eq!(
            RateLimitState::from_headers(&h),
            RateLimitState {
                remaining: Some(3),
                limit: None,
                reset: None
            }
        );
    }
}
