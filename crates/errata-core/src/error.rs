//! [`ApiError`]: one error as a value, before a catalog renders it.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

use crate::condition::Condition;

/// What an error is: a code the application names, a condition errata detected, or an error
/// known only by its status (an upstream's HTML 502).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ErrorKind {
    Code(Cow<'static, str>),
    Condition(Condition),
    /// Rendered with the catalog's code for the status, keeping the status itself.
    Status(u16),
}

/// One field-level problem, as in `details`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Violation {
    /// Path segments from the document root; array indices as strings (`["items","3","sku"]`).
    pub path: Vec<String>,
    pub message: String,
    /// A Zod-style code: `invalid_type`, `invalid_string`, `too_small`, `too_big`,
    /// `invalid_enum_value`, `unrecognized_keys`, `custom`.
    pub code: String,
}

impl Violation {
    pub fn new<S: Into<String>>(
        path: impl IntoIterator<Item = S>,
        message: impl Into<String>,
        code: impl Into<String>,
    ) -> Self {
        Violation {
            path: path.into_iter().map(Into::into).collect(),
            message: message.into(),
            code: code.into(),
        }
    }

    /// The RFC 6901 JSON pointer of the path (`/items/3/sku`).
    pub fn pointer(&self) -> String {
        self.path
            .iter()
            .map(|seg| format!("/{}", seg.replace('~', "~0").replace('/', "~1")))
            .collect()
    }

    /// The path joined with dots (`items.3.sku`).
    pub fn field(&self) -> String {
        self.path.join(".")
    }
}

/// An error to send: a code or condition, its message arguments, and what goes beside it.
///
/// ```
/// use errata_core::{ApiError, Catalog, Format};
/// let err = ApiError::code("too_many_campaigns").arg("max", 20).arg("provided", 25);
/// let out = Catalog::builtin().render(&err, Format::Envelope);
/// assert_eq!(out.status, 400);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub kind: ErrorKind,
    /// A named message variant of the code, instead of its main message.
    pub variant: Option<String>,
    pub args: Vec<(String, Value)>,
    pub param: Option<String>,
    pub details: Vec<Violation>,
    /// Seconds until a retry can succeed; sent as `Retry-After`.
    pub retry_after: Option<u64>,
    pub headers: Vec<(String, String)>,
    pub request_id: Option<String>,
    /// The URI of this occurrence for problem+json (usually the request path).
    pub instance: Option<String>,
}

impl ApiError {
    fn new(kind: ErrorKind) -> Self {
        ApiError {
            kind,
            variant: None,
            args: Vec::new(),
            param: None,
            details: Vec::new(),
            retry_after: None,
            headers: Vec::new(),
            request_id: None,
            instance: None,
        }
    }

    /// An error with a code of the catalog, by name.
    pub fn code(code: impl Into<Cow<'static, str>>) -> Self {
        ApiError::new(ErrorKind::Code(code.into()))
    }

    /// An error for a condition; the catalog picks the code.
    pub fn condition(condition: Condition) -> Self {
        ApiError::new(ErrorKind::Condition(condition))
    }

    /// An error known only by its status, such as an upstream's plain-text 500: rendered with
    /// the catalog's code for that status ([`crate::Catalog::code_for_status`]) but keeping the
    /// status. The message is the code's when every argument it needs is given, else the
    /// code's description.
    pub fn status(status: u16) -> Self {
        ApiError::new(ErrorKind::Status(status))
    }

    /// Sets a message argument.
    pub fn arg(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        let value = value.into();
        match self.args.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.args.push((name, value)),
        }
        self
    }

    /// Uses the code's named message variant.
    pub fn variant(mut self, name: impl Into<String>) -> Self {
        self.variant = Some(name.into());
        self
    }

    pub fn param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn details(mut self, details: impl IntoIterator<Item = Violation>) -> Self {
        self.details.extend(details);
        self
    }

    /// Sets `Retry-After`, and the `retry_after` argument unless one was given.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    pub fn instance(mut self, uri: impl Into<String>) -> Self {
        self.instance = Some(uri.into());
        self
    }

    /// The condition, when errata detected this error.
    pub fn as_condition(&self) -> Option<Condition> {
        match self.kind {
            ErrorKind::Condition(c) => Some(c),
            ErrorKind::Code(_) | ErrorKind::Status(_) => None,
        }
    }

    /// The value of an argument, with `param` and `retry_after` filled from the error itself.
    pub fn arg_value(&self, name: &str) -> Option<String> {
        if let Some((_, v)) = self.args.iter().find(|(n, _)| n == name) {
            return Some(match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        }
        match name {
            "param" => self.param.clone(),
            "retry_after" => self.retry_after.map(|s| s.to_string()),
            _ => None,
        }
    }
}

impl From<Condition> for ApiError {
    fn from(c: Condition) -> Self {
        ApiError::condition(c)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Code(c) => write!(f, "{c}")?,
            ErrorKind::Condition(c) => write!(f, "condition {c}")?,
            ErrorKind::Status(s) => write!(f, "status {s}")?,
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}
