//! [`ErrataLayer`]: the one layer that makes every response of a service speak its catalog.
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use axum::{Router, routing::get};
//! use errata_axum::{ErrataLayer, Error};
//!
//! async fn campaign() -> Result<&'static str, Error> {
//!     Err(Error::not_found("Campaign", "camp_xyz999"))
//! }
//!
//! let catalog = Arc::new(errata_core::Catalog::builtin().clone());
//! let routes = Router::new().route("/v1/campaigns/{id}", get(campaign));
//! let app: Router = ErrataLayer::new(catalog)
//!     .timeout(Duration::from_secs(30))
//!     .body_limit(1024 * 1024)
//!     .concurrency_limit(256)
//!     .wrap(routes);
//! ```
//!
//! For each request the layer
//! - gives it a [`RequestId`](crate::RequestId) (in request extensions, the response header named
//!   by the catalog, every error body, and the `request` tracing span);
//! - refuses a body whose `Content-Length` is over the limit, and caps what extractors read;
//! - sheds load past the concurrency limit (the catalog's `overloaded` code, with `Retry-After`);
//! - ends a handler that runs past the timeout (`request_timeout`, with the `timeout` argument);
//! - turns a panic into `internal_error`: the message goes to the log, never to the client;
//! - renders every [`Error`](crate::Error) with the catalog, as the envelope or as problem+json
//!   when the client's `Accept` prefers `application/problem+json`, with the request path as
//!   `instance`;
//! - turns any other error response (axum's empty 404 and 405, a bare `StatusCode`, another
//!   middleware's plain-text error) into the catalog's code for it: 405 keeps its `Allow` header
//!   and fills `method`, `path` and `allowed`; a 404 no route matched is `route_not_found`.
//!
//! Apply it with [`ErrataLayer::wrap`], around the whole router (after `with_state`): it then
//! sees the final response of every route and of the fallback, axum's `Allow` header included,
//! and knows whether a route matched (a bare 404 from a handler is `resource_not_found`, with
//! the path as the id; one no route matched is `route_not_found`).
//!
//! As a plain [`tower::Layer`] it works too, e.g. with [`Router::layer`](axum::Router::layer)
//! after the routes; but axum adds `Allow` to a 405 only after route layers ran, so the message
//! of a wrong method then says `see the Allow header` instead of listing the methods.
//!
//! A malformed HTTP message that hyper rejects before any service runs (a request line that is
//! not HTTP) is answered by hyper itself, outside this layer.

mod normalize;
mod service;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::HeaderName;
use axum::response::Response;
use errata_core::Catalog;
use tower::Layer;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::util::MapResponseLayer;

pub use service::ErrataService;

/// Marks a response that a route (not the router's fallback) produced.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RouteMatched;

fn mark_route(mut res: Response) -> Response {
    res.extensions_mut().insert(RouteMatched);
    res
}

/// The default cap on a request body: 2 MiB, as axum's own default.
pub const DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The default handler timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The header errata's gateway puts the authenticated tenant in.
pub const DEFAULT_TENANT_HEADER: &str = "x-errata-tenant";

/// Makes every response of a service a response of its catalog. See the [module
/// docs](crate::layer).
#[derive(Clone)]
pub struct ErrataLayer {
    config: Config,
}

/// What the layer was built with; shared by every service it wraps.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) trusted_request_id: Option<HeaderName>,
    pub(crate) tenant_header: HeaderName,
    pub(crate) timeout: Option<Duration>,
    pub(crate) body_limit: usize,
    /// One semaphore for every route: the limit is the service's, not a route's.
    pub(crate) concurrency: Option<GlobalConcurrencyLimitLayer>,
    pub(crate) overload_retry_after: u64,
}

impl ErrataLayer {
    /// A layer rendering with `catalog`: a fresh request id for every request, a 30 s timeout,
    /// a 2 MiB body limit, no concurrency limit, tenants in `x-errata-tenant`.
    pub fn new(catalog: Arc<Catalog>) -> Self {
        ErrataLayer {
            config: Config {
                catalog,
                trusted_request_id: None,
                tenant_header: HeaderName::from_static(DEFAULT_TENANT_HEADER),
                timeout: Some(DEFAULT_TIMEOUT),
                body_limit: DEFAULT_BODY_LIMIT,
                concurrency: None,
                overload_retry_after: 1,
            },
        }
    }

    /// Keeps an inbound request id from this header when it is a safe token (set only when a
    /// trusted hop, such as errata's gateway, always sets the header). An invalid name is
    /// ignored, with a warning in the log.
    ///
    /// ```
    /// # let catalog = std::sync::Arc::new(errata_core::Catalog::builtin().clone());
    /// let layer = errata_axum::ErrataLayer::new(catalog).trust_request_id_header("x-request-id");
    /// ```
    pub fn trust_request_id_header(mut self, name: &str) -> Self {
        match HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()) {
            Ok(name) => self.config.trusted_request_id = Some(name),
            Err(_) => tracing::warn!(header = name, "not a header name; no request id is trusted"),
        }
        self
    }

    /// The header the [`Tenant`](crate::Tenant) extractor reads (default `x-errata-tenant`).
    /// An invalid name is ignored, with a warning in the log.
    pub fn tenant_header(mut self, name: &str) -> Self {
        match HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()) {
            Ok(name) => self.config.tenant_header = name,
            Err(_) => tracing::warn!(header = name, "not a header name; tenant header unchanged"),
        }
        self
    }

    /// Ends a request whose handler runs longer than this, with the catalog's
    /// `request_timeout` code (the `timeout` argument in seconds).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = Some(timeout);
        self
    }

    /// Lets handlers run as long as they take.
    pub fn no_timeout(mut self) -> Self {
        self.config.timeout = None;
        self
    }

    /// The largest request body, in bytes; a larger one is the catalog's `body_too_large`
    /// (the `limit` argument).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.config.body_limit = bytes;
        self
    }

    /// Sheds load: past `max` requests in flight in the whole service, a request is answered
    /// at once with the catalog's `overloaded` code and `Retry-After`.
    pub fn concurrency_limit(mut self, max: usize) -> Self {
        self.config.concurrency = Some(GlobalConcurrencyLimitLayer::new(max));
        self
    }

    /// The `Retry-After` seconds sent when shedding load (default 1).
    pub fn overload_retry_after(mut self, seconds: u64) -> Self {
        self.config.overload_retry_after = seconds.max(1);
        self
    }

    /// The router, with this layer around it (and a marker on its routes, so that the layer
    /// tells a 404 of a handler from one no route matched). The result is a `Router` that
    /// `axum::serve` takes as it is.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use axum::{Router, routing::get};
    /// # let catalog = Arc::new(errata_core::Catalog::builtin().clone());
    /// let routes = Router::new().route("/health", get(|| async { "ok" }));
    /// let app: Router = errata_axum::ErrataLayer::new(catalog).wrap(routes);
    /// ```
    pub fn wrap(self, router: Router) -> Router {
        let router = if router.has_routes() {
            router.route_layer(MapResponseLayer::new(
                mark_route as fn(Response) -> Response,
            ))
        } else {
            router
        };
        Router::new().fallback_service(self.layer(router))
    }

    /// The catalog this layer renders with.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.config.catalog
    }
}

impl<S> Layer<S> for ErrataLayer
where
    S: tower::Service<axum::extract::Request, Response = axum::response::Response>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Error: Into<tower::BoxError>,
    S::Future: Send + 'static,
{
    type Service = ErrataService;

    fn layer(&self, inner: S) -> ErrataService {
        ErrataService::new(Arc::new(self.config.clone()), inner)
    }
}
