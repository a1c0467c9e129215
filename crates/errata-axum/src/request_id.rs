//! The request id: made in the catalog's format, or taken from a trusted hop when it is a safe
//! token; found in request extensions, the response header, every error body and the span.
//!
//! ```
//! use axum::{Router, routing::get};
//! use errata_axum::{ErrataLayer, RequestId};
//! use std::sync::Arc;
//!
//! async fn whoami(id: RequestId) -> String {
//!     format!("this is request {id}")
//! }
//!
//! let catalog = Arc::new(errata_core::Catalog::builtin().clone());
//! let routes = Router::new().route("/whoami", get(whoami));
//! // ids sent by errata's gateway (in the catalog's header) are kept, when they are safe
//! let app: Router = ErrataLayer::new(catalog)
//!     .trust_request_id_header("x-request-id")
//!     .wrap(routes);
//! ```
//!
//! Only name a trusted header when every request reaches the service through a hop that sets it
//! (the gateway): a client could otherwise choose the id that support will search for. An inbound
//! id that is not a safe token (1 to 128 of `A-Z a-z 0-9 - _ . :`) is replaced by a fresh one.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName};
use errata_core::request_id::is_safe_token;
use errata_core::{Catalog, RequestIdFormat};

/// The id of the request being served.
///
/// An extractor (it never fails): behind an [`ErrataLayer`](crate::ErrataLayer) it is the id in
/// the response header and in error bodies.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A fresh id in the given format.
    pub fn generate(format: &RequestIdFormat) -> Self {
        RequestId(format.generate().into())
    }

    /// The id of a request: the trusted header's value when there is one and it is a safe
    /// token, else a fresh id in the catalog's format.
    ///
    /// ```
    /// use axum::http::{HeaderMap, HeaderName, HeaderValue};
    /// use errata_axum::RequestId;
    ///
    /// let format = errata_core::Catalog::builtin().request_id();
    /// let trusted = HeaderName::from_static("x-request-id");
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-request-id", HeaderValue::from_static("req_from_gateway"));
    /// assert_eq!(RequestId::resolve(&headers, Some(&trusted), format).as_str(), "req_from_gateway");
    /// headers.insert("x-request-id", HeaderValue::from_static("no spaces allowed"));
    /// assert!(format.matches(RequestId::resolve(&headers, Some(&trusted), format).as_str()));
    /// assert!(format.matches(RequestId::resolve(&headers, None, format).as_str()));
    /// ```
    pub fn resolve(
        headers: &HeaderMap,
        trusted: Option<&HeaderName>,
        format: &RequestIdFormat,
    ) -> Self {
        trusted
            .and_then(|name| headers.get(name))
            .and_then(|v| v.to_str().ok())
            .filter(|id| is_safe_token(id))
            .map(|id| RequestId(id.into()))
            .unwrap_or_else(|| RequestId::generate(format))
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RequestId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        if let Some(id) = parts.extensions.get::<RequestId>() {
            return Ok(id.clone());
        }
        // No ErrataLayer in front: still an id, in the built-in catalog's format.
        let id = RequestId::generate(Catalog::builtin().request_id());
        parts.extensions.insert(id.clone());
        Ok(id)
    }
}
