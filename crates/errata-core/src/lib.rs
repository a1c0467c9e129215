//! errata-core: an API's error contract as data.
//!
//! A [`Catalog`] (read from TOML and linted) declares the envelope of every error body and each
//! code with its status, type, message template, description, resolution and retryability. An
//! [`ApiError`] names a code (or a [`Condition`] errata detected) with its arguments; the catalog
//! renders it into status, headers and body, as the envelope or as RFC 9457 problem+json.
//!
//! ```
//! use errata_core::{ApiError, Catalog, Condition, Format};
//!
//! let catalog = Catalog::builtin();
//! let err = ApiError::condition(Condition::RateLimited).retry_after(12).request_id("req_abc");
//! let out = catalog.render(&err, Format::Envelope);
//! assert_eq!(out.status, 429);
//! assert_eq!(out.header("retry-after"), Some("12"));
//! ```
//!
//! This crate knows nothing of HTTP servers or clients and reads no file but a catalog (and the
//! catalogs it extends).

mod catalog;
mod condition;
mod diagnostic;
mod error;
mod extends;
mod load;
mod parse;
pub mod raise;
mod render;
pub mod request_id;
pub mod schema;
pub mod suggest;
pub mod template;

pub use catalog::{Catalog, CodeDef, DEFAULT_CATALOG_TOML, Envelope};
pub use condition::{Condition, UnknownCondition};
pub use diagnostic::{Diagnostic, Diagnostics, LineIndex, Severity};
pub use error::{ApiError, ErrorKind, Violation};
pub use load::{
    DETAIL_PLACEHOLDERS, ENVELOPE_PLACEHOLDERS, OPTIONAL_PLACEHOLDERS, check, check_file,
};
pub use parse::ParsedError;
pub use raise::{RAISE_JSON, RaiseError};
pub use render::{Format, PROBLEM_JSON, Rendered, reason_phrase};
pub use request_id::RequestIdFormat;
