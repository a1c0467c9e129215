//! The validated catalog: envelope, request-id format and codes.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::LazyLock;

use serde_json::Value;

use crate::condition::Condition;
use crate::diagnostic::Diagnostics;
use crate::request_id::RequestIdFormat;

/// The built-in default catalog's source, embedded in every binary.
pub const DEFAULT_CATALOG_TOML: &str = include_str!("../../../catalogs/default.toml");

static DEFAULT: LazyLock<Catalog> = LazyLock::new(|| {
    Catalog::from_toml(DEFAULT_CATALOG_TOML)
        .expect("the embedded default catalog passes its own lint (checked by tests)")
});

/// An API's error contract: the envelope every error body follows and every code it can send.
///
/// Built only through [`Catalog::from_toml`] (or [`crate::check`]), so every value of this type
/// has passed the lint: each [`Condition`] maps to exactly one code, every template argument is
/// declared, every status is an error status.
#[derive(Clone, Debug)]
pub struct Catalog {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) doc_url: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) envelope: Envelope,
    pub(crate) request_id: RequestIdFormat,
    pub(crate) codes: Vec<CodeDef>,
    pub(crate) index: HashMap<String, usize>,
    pub(crate) by_condition: HashMap<Condition, usize>,
}

/// The shape of an error body and how absent values are written.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// A JSON template; strings holding `{placeholder}`s are filled at render time.
    pub body: Value,
    /// The template of one entry of `{details}`.
    pub detail: Value,
    /// Placeholders that render as `null` when they have no value; all others are left out.
    pub null_if_absent: Vec<String>,
    /// The media type of an envelope body.
    pub content_type: String,
}

/// One code of the catalog.
#[derive(Clone, Debug, PartialEq)]
pub struct CodeDef {
    pub code: String,
    pub status: u16,
    /// The category (`authentication_error`, `invalid_request_error`, ...).
    pub kind: String,
    pub title: Option<String>,
    /// The message template, with `{name}` arguments.
    pub message: String,
    pub description: String,
    pub resolution: Option<String>,
    pub retryable: bool,
    /// The conditions this code answers.
    pub conditions: Vec<Condition>,
    /// Declared arguments with an example value each, in file order.
    pub args: Vec<(String, Value)>,
    /// Named message variants; a variant named after a condition is used for that condition.
    pub messages: BTreeMap<String, String>,
    /// Whether this is the code for an untyped error with its status (an upstream's HTML 502).
    pub fallback: bool,
}

impl CodeDef {
    /// The title for problem+json and docs: the declared one, or the code in words.
    pub fn title(&self) -> String {
        if let Some(t) = &self.title {
            return t.clone();
        }
        let words = self.code.replace(['_', '-', '.'], " ").to_lowercase();
        let mut chars = words.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => String::new(),
        }
    }

    /// The template used when this code answers `condition` (or when raised with `variant`).
    pub fn template_for(&self, condition: Option<Condition>, variant: Option<&str>) -> &str {
        variant
            .and_then(|v| self.messages.get(v))
            .or_else(|| condition.and_then(|c| self.messages.get(c.name())))
            .unwrap_or(&self.message)
    }

    /// The declared example value of an argument.
    pub fn example_arg(&self, name: &str) -> Option<&Value> {
        self.args.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

impl Catalog {
    /// The built-in default catalog.
    pub fn builtin() -> &'static Catalog {
        &DEFAULT
    }

    /// Parses and lints a catalog; any error-severity problem fails it. A path in `extends` is
    /// read relative to the working directory; use [`Catalog::from_file`] for a file.
    pub fn from_toml(src: &str) -> Result<Catalog, Diagnostics> {
        match crate::load::check(src) {
            (Some(catalog), diags) if !diags.has_errors() => Ok(catalog),
            (_, diags) => Err(diags),
        }
    }

    /// Reads a catalog file and the files it extends (`extends` relative to the file); an I/O
    /// failure is reported as a file-level diagnostic. Problems of an extended file name it.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Catalog, Diagnostics> {
        match crate::load::check_file(path.as_ref()) {
            (Some(catalog), diags) if !diags.has_errors() => Ok(catalog),
            (_, diags) => Err(diags),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The base URL of the error reference; a code's page is `{doc_url}#{code}`.
    pub fn doc_url(&self) -> Option<&str> {
        self.doc_url.as_deref()
    }

    /// Points every `doc_url` at another reference page (the gateway's own `/errors`).
    pub fn set_doc_url(&mut self, url: impl Into<String>) {
        self.doc_url = Some(url.into());
    }

    /// The documentation link of one code.
    pub fn doc_url_for(&self, code: &str) -> Option<String> {
        self.doc_url.as_ref().map(|base| format!("{base}#{code}"))
    }

    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    pub fn request_id(&self) -> &RequestIdFormat {
        &self.request_id
    }

    /// Every code, in file order.
    pub fn codes(&self) -> &[CodeDef] {
        &self.codes
    }

    pub fn code(&self, code: &str) -> Option<&CodeDef> {
        self.index.get(code).map(|&i| &self.codes[i])
    }

    /// The code that answers a condition. Total: the lint guarantees every condition is mapped.
    pub fn code_for(&self, condition: Condition) -> &CodeDef {
        &self.codes[self.by_condition[&condition]]
    }

    /// The code for an error known only by its status (an upstream's plain-text 500): the code
    /// marked `fallback` for that status, else the first code with it, else the code of the
    /// condition nearest in meaning.
    pub fn code_for_status(&self, status: u16) -> &CodeDef {
        if let Some(c) = self
            .codes
            .iter()
            .find(|c| c.fallback && c.status == status)
            .or_else(|| self.codes.iter().find(|c| c.status == status))
        {
            return c;
        }
        let condition = match status {
            401 => Condition::UnknownKey,
            403 => Condition::InsufficientScope,
            404 => Condition::RouteNotFound,
            405 => Condition::MethodNotAllowed,
            408 => Condition::RequestTimeout,
            413 => Condition::BodyTooLarge,
            415 => Condition::UnsupportedContentType,
            422 => Condition::InvalidFields,
            429 => Condition::RateLimited,
            502 => Condition::UpstreamInvalidResponse,
            503 => Condition::ServiceUnavailable,
            504 => Condition::UpstreamTimeout,
            400..=499 => Condition::MalformedBody,
            _ => Condition::InternalError,
        };
        self.code_for(condition)
    }

    /// The distinct types, in order of first appearance.
    pub fn kinds(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for c in &self.codes {
            if !out.contains(&c.kind.as_str()) {
                out.push(&c.kind);
            }
        }
        out
    }
}
