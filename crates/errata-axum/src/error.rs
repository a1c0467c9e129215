//! [`Error`]: what a handler returns when it fails; the layer renders it with the catalog.
//!
//! ```
//! use errata_axum::Error;
//!
//! fn check(campaign_ids: &[String]) -> Result<(), Error> {
//!     if campaign_ids.len() > 20 {
//!         return Err(Error::code("too_many_campaigns")
//!             .arg("max", 20)
//!             .arg("provided", campaign_ids.len())
//!             .param("campaign_ids"));
//!     }
//!     Ok(())
//! }
//! # assert!(check(&vec![String::new(); 25]).is_err());
//! ```
//!
//! An `Error` turned into a response carries its [`ApiError`] in the response's extensions; the
//! [`ErrataLayer`](crate::ErrataLayer) takes it from there and renders it with the service's
//! catalog, the client's `Accept`, the request id and the request path. Without the layer the
//! response is rendered with the built-in catalog, so it is still a catalog error.

use std::borrow::Cow;
use std::fmt;

use axum::response::{IntoResponse, Response};
use errata_core::{ApiError, Catalog, Condition, Format, Violation};
use serde_json::Value;

use crate::render;

/// A failure on its way to the client: an [`ApiError`] (a code of the catalog, or a
/// [`Condition`]) with its arguments, param and details.
///
/// Handlers return `Result<T, Error>`; `?` converts an [`ApiError`] or a [`Condition`].
///
/// ```
/// use errata_axum::Error;
/// use errata_core::Condition;
///
/// let by_code = Error::code("diagnostic_in_progress").arg("campaign_id", "camp_abc123");
/// let by_condition: Error = Condition::ResourceNotFound.into();
/// assert_eq!(by_code.api_error().arg_value("campaign_id").as_deref(), Some("camp_abc123"));
/// assert_eq!(by_condition.api_error().as_condition(), Some(Condition::ResourceNotFound));
/// ```
pub struct Error(Box<ApiError>);

/// `Result<T, errata_axum::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The [`ApiError`] of an [`Error`] response, kept in the response's extensions until the layer
/// renders it.
#[derive(Clone, Debug)]
pub(crate) struct Pending(pub(crate) ApiError);

impl Error {
    /// An error with a code of the catalog, by name (`too_many_campaigns`). A code the catalog
    /// lacks renders as its internal-error code.
    pub fn code(code: impl Into<Cow<'static, str>>) -> Self {
        Error(Box::new(ApiError::code(code)))
    }

    /// An error for a condition; the catalog picks the code.
    pub fn condition(condition: Condition) -> Self {
        Error(Box::new(ApiError::condition(condition)))
    }

    /// The resource does not exist for this tenant: [`Condition::ResourceNotFound`] with the
    /// `resource` and `id` arguments.
    ///
    /// ```
    /// let err = errata_axum::Error::not_found("Campaign", "camp_xyz999");
    /// assert_eq!(err.api_error().arg_value("id").as_deref(), Some("camp_xyz999"));
    /// ```
    pub fn not_found(resource: impl Into<String>, id: impl Into<String>) -> Self {
        Error::condition(Condition::ResourceNotFound)
            .arg("resource", resource.into())
            .arg("id", id.into())
    }

    /// The body failed validation: [`Condition::InvalidFields`] with every violation in
    /// `details`.
    pub fn invalid_fields(details: impl IntoIterator<Item = Violation>) -> Self {
        Error::condition(Condition::InvalidFields).details(details)
    }

    /// An unexpected failure (a database error, a bug): logged with its cause, sent as the
    /// catalog's internal-error code, whose body never shows the cause.
    ///
    /// ```
    /// let err = errata_axum::Error::internal("connection reset by peer");
    /// assert_eq!(err.api_error().as_condition(), Some(errata_core::Condition::InternalError));
    /// ```
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Error::condition(Condition::InternalError)
    }

    /// Sets a message argument.
    pub fn arg(self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.map(|e| e.arg(name, value))
    }

    /// Names the parameter at fault (the envelope's `param`).
    pub fn param(self, param: impl Into<String>) -> Self {
        self.map(|e| e.param(param))
    }

    /// Adds field-level problems (the envelope's `details`).
    pub fn details(self, details: impl IntoIterator<Item = Violation>) -> Self {
        self.map(|e| e.details(details))
    }

    /// Uses a named message variant of the code.
    pub fn variant(self, name: impl Into<String>) -> Self {
        self.map(|e| e.variant(name))
    }

    /// Sets `Retry-After` (and the `retry_after` argument).
    pub fn retry_after(self, seconds: u64) -> Self {
        self.map(|e| e.retry_after(seconds))
    }

    /// Adds a response header.
    pub fn header(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.map(|e| e.header(name, value))
    }

    /// The error as a value.
    pub fn api_error(&self) -> &ApiError {
        &self.0
    }

    /// The error as a value, by move.
    pub fn into_api_error(self) -> ApiError {
        *self.0
    }

    fn map(mut self, f: impl FnOnce(ApiError) -> ApiError) -> Self {
        let inner = std::mem::replace(&mut *self.0, ApiError::condition(Condition::InternalError));
        *self.0 = f(inner);
        self
    }
}

impl From<ApiError> for Error {
    fn from(err: ApiError) -> Self {
        Error(Box::new(err))
    }
}

impl From<Condition> for Error {
    fn from(condition: Condition) -> Self {
        Error::condition(condition)
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        err.into_api_error()
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Error {}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let err = *self.0;
        let mut res = render::response(&Catalog::builtin().render(&err, Format::Envelope));
        res.extensions_mut().insert(Pending(err));
        res
    }
}
