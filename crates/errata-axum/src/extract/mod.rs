//! Extractors whose every rejection is a condition of the catalog.
//!
//! - [`Json`]: a JSON body parsed with serde; the first shape problem in `details`.
//! - [`ValidJson`]: a JSON body checked against its type's JSON Schema; every problem at once,
//!   Zod-style.
//! - [`Query`] and [`Path`]: `invalid_parameter`, with `param` naming the parameter.
//!
//! Each rejects with an [`Error`](crate::Error), so a handler may also take
//! `Result<ValidJson<T>, Error>` and turn a rejection into one of its own codes.

mod json;
mod path;
mod query;
mod valid;
mod zod;

pub use json::Json;
pub use path::Path;
pub use query::Query;
pub use valid::{ValidJson, validate};
