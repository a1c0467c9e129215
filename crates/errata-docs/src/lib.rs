//! errata-docs: what an errata catalog tells people and tools about an API's errors.
//!
//! From one [`Catalog`] it generates the error reference (Markdown and a single self-contained
//! HTML page, with every example body rendered by errata-core itself), the OpenAPI 3.1
//! components that describe the same contract, and ([`diff`]) what changed between two versions
//! of a catalog.
//!
//! ```
//! let catalog = errata_core::Catalog::builtin();
//! let md = errata_docs::markdown(catalog)?;
//! assert!(md.contains(r#"<a id="rate_limit_exceeded"></a>"#));
//! let doc = errata_docs::openapi(catalog);
//! assert!(doc["components"]["responses"]["Error429"].is_object());
//! # Ok::<(), errata_docs::DocsError>(())
//! ```
//!
//! Output is deterministic: examples use a fixed request id in the catalog's format.

use errata_core::Catalog;

pub mod diff;
mod example;
mod fields;
mod openapi;
mod page;
mod render;
mod retry;
mod schema;
mod status;

pub use render::DocsError;

/// The error reference as Markdown: the envelope and its fields, a section per type with a table
/// of its codes and an example response of each, retry guidance and the status codes used.
///
/// Each code has an explicit anchor (`<a id="rate_limit_exceeded"></a>`), so a catalog's
/// `doc_url` can point at `{page}#{code}`.
///
/// # Errors
///
/// A [`DocsError`] only if the embedded templates could not render the page (a bug of errata's,
/// never of the catalog: tests render them over hostile catalogs).
pub fn markdown(catalog: &Catalog) -> Result<String, DocsError> {
    render::render("reference.md", &page::build(catalog))
}

/// The error reference as one self-contained HTML page (inline CSS and JavaScript, no external
/// resources), with the same content as [`markdown`].
///
/// Every code's section has the code as its `id` (`#rate_limit_exceeded`), and a filter box
/// hides, as the user types, the codes whose code, type, status, title and description do not
/// contain the words typed. All catalog text is HTML-escaped.
///
/// # Errors
///
/// As [`markdown`].
pub fn html(catalog: &Catalog) -> Result<String, DocsError> {
    render::render("reference.html", &page::build(catalog))
}

/// The catalog's error contract as an OpenAPI 3.1 document holding only `openapi`, `info` and
/// `components`:
///
/// - `components.schemas.Error`: the envelope, derived from the catalog's template (`code` an
///   enum of every code; `details` entries from the detail template; `null` allowed where the
///   catalog writes absent values as `null`);
/// - `components.schemas.Problem`: RFC 9457 problem details with the extension members `code`,
///   `param`, `request_id` and `errors`;
/// - `components.headers`: `RequestId` and `RetryAfter`;
/// - `components.responses`: `Error{status}` (`Error404`) for each status the catalog uses, with
///   the envelope and problem+json content, an example of each code with that status, the
///   request-id header, and `Retry-After` on 429, 503 and any status whose codes send it.
pub fn openapi(catalog: &Catalog) -> serde_json::Value {
    openapi::document(catalog)
}
