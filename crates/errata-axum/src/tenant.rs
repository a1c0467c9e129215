//! Tenant isolation: another tenant's resource is reported exactly like a missing one.
//!
//! [`Tenant`] is the authenticated tenant, read from the header errata's gateway sets
//! (`x-errata-tenant`, see [`ErrataLayer::tenant_header`](crate::ErrataLayer::tenant_header)).
//! [`Tenant::load`] runs a lookup that takes the tenant as part of the query, so another
//! tenant's row is never loaded, and turns "no row" into the catalog's `resource_not_found`:
//! the same status and body whether the id does not exist or belongs to someone else. Never
//! 403.
//!
//! ```
//! use errata_axum::{Error, Tenant};
//!
//! struct Campaign { id: String, name: String }
//!
//! // Stands in for a database: rows of (tenant_id, id, name).
//! async fn find_campaign(rows: &[(&str, &str, &str)], tenant: &str, id: &str)
//!     -> Result<Option<Campaign>, std::io::Error>
//! {
//!     // SELECT id, name FROM campaigns WHERE tenant_id = ? AND id = ?
//!     Ok(rows.iter().find(|r| r.0 == tenant && r.1 == id)
//!         .map(|r| Campaign { id: r.1.into(), name: r.2.into() }))
//! }
//!
//! # tokio_test(async {
//! let rows = [("acme", "camp_1", "Spring sale")];
//! let acme = Tenant::new("acme");
//! let globex = Tenant::new("globex");
//! let found = acme.load("Campaign", "camp_1", |t, id| find_campaign(&rows, t, id)).await;
//! assert_eq!(found.map(|c| c.name).ok().as_deref(), Some("Spring sale"));
//! let other: Result<Campaign, Error> =
//!     globex.load("Campaign", "camp_1", |t, id| find_campaign(&rows, t, id)).await;
//! let missing: Result<Campaign, Error> =
//!     globex.load("Campaign", "camp_1", |t, id| find_campaign(&[], t, id)).await;
//! assert_eq!(other.err().map(Error::into_api_error), missing.err().map(Error::into_api_error));
//! # });
//! # fn tokio_test(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```
//!
//! The header is trusted: deploy the service so that it is reachable only through the gateway,
//! which strips identity headers a client sends and sets its own.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::HeaderName;
use axum::http::request::Parts;
use errata_core::Condition;
use errata_core::request_id::is_safe_token;

use crate::Error;
use crate::layer::DEFAULT_TENANT_HEADER;

/// The header the [`Tenant`] extractor reads, set in request extensions by the layer.
#[derive(Clone, Debug)]
pub(crate) struct TenantHeader(pub(crate) HeaderName);

/// The authenticated tenant of the request.
///
/// As an extractor it reads the tenant header; a request without one (or with a value that is
/// not a safe token) was not authenticated, and is refused with the catalog's `missing_key`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tenant(Arc<str>);

impl Tenant {
    /// A tenant by id (for tests and for services that authenticate on their own).
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Tenant(id.into())
    }

    /// The tenant's id.
    pub fn id(&self) -> &str {
        &self.0
    }

    /// Loads resource `id` of this tenant: `query` receives the tenant id and the resource id
    /// and must filter by both (`WHERE tenant_id = ? AND id = ?`). `None` becomes the catalog's
    /// `resource_not_found` with the `resource` and `id` arguments; a query error becomes
    /// `internal_error` (logged, never shown).
    pub async fn load<'a, T, E, F, Fut>(
        &'a self,
        resource: &str,
        id: &'a str,
        query: F,
    ) -> Result<T, Error>
    where
        F: FnOnce(&'a str, &'a str) -> Fut,
        Fut: Future<Output = Result<Option<T>, E>>,
        E: fmt::Display,
    {
        match query(&self.0, id).await {
            Ok(Some(found)) => Ok(found),
            Ok(None) => Err(Error::not_found(resource, id)),
            Err(err) => Err(Error::internal(format_args!("loading {resource}: {err}"))),
        }
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Error> {
        let name = parts.extensions.get::<TenantHeader>().map_or_else(
            || HeaderName::from_static(DEFAULT_TENANT_HEADER),
            |h| h.0.clone(),
        );
        match parts.headers.get(&name).map(|v| v.to_str()) {
            Some(Ok(id)) if is_safe_token(id) => Ok(Tenant(id.into())),
            Some(_) => {
                tracing::warn!(header = %name, "tenant header is not a safe token");
                Err(Error::condition(Condition::MissingKey))
            }
            None => Err(Error::condition(Condition::MissingKey)),
        }
    }
}
