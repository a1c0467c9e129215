//! Rendering an [`ApiError`] through a catalog: status, headers and body, as the envelope or as
//! RFC 9457 problem+json.

use serde_json::{Map, Value};

use crate::catalog::{Catalog, CodeDef};
use crate::error::{ApiError, ErrorKind, Violation};
use crate::parse::ParsedError;
use crate::template;

/// The media type of RFC 9457 problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Which body to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// The catalog's own envelope.
    #[default]
    Envelope,
    /// RFC 9457 `application/problem+json`.
    Problem,
}

impl Format {
    /// Chooses the format from an `Accept` header: problem+json when the client accepts it at
    /// least as much as plain JSON (and with a non-zero weight); the envelope otherwise.
    pub fn from_accept(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Envelope;
        };
        let mut problem: Option<f32> = None;
        let mut json: f32 = 0.0;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                PROBLEM_JSON => problem = Some(problem.map_or(q, |p: f32| p.max(q))),
                "application/json" | "application/*" | "*/*" => json = json.max(q),
                _ => {}
            }
        }
        match problem {
            Some(q) if q > 0.0 && q >= json => Format::Problem,
            _ => Format::Envelope,
        }
    }
}

/// What a server sends for an error.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    pub status: u16,
    /// Header names in lower case, `content-type` first.
    pub headers: Vec<(String, String)>,
    pub body: Value,
    /// The code that was rendered.
    pub code: String,
}

impl Rendered {
    /// The body as compact JSON bytes, as sent on the wire.
    pub fn body_bytes(&self) -> Vec<u8> {
        // A `Value`'s Display is its compact JSON (infallible: object keys are strings).
        self.body.to_string().into_bytes()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The response as `curl -i` shows it: status line, headers, blank line, pretty body.
    pub fn to_http_string(&self) -> String {
        let mut out = format!("HTTP/1.1 {} {}\n", self.status, reason_phrase(self.status));
        for (n, v) in &self.headers {
            out.push_str(&format!("{n}: {v}\n"));
        }
        out.push('\n');
        // `{:#}` is a `Value`'s pretty JSON, as `to_string_pretty` writes it.
        out.push_str(&format!("{:#}", self.body));
        out.push('\n');
        out
    }
}

/// The standard reason phrase of an error status.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ if status < 500 => "Client Error",
        _ => "Server Error",
    }
}

/// The status sent: the code's, or the one an error known only by its status carries.
fn effective_status(err: &ApiError, def: &CodeDef) -> u16 {
    match err.kind {
        ErrorKind::Status(s) if (400..=599).contains(&s) => s,
        _ => def.status,
    }
}

/// The code an error resolves to, and whether it was unknown to the catalog.
fn resolve<'c>(catalog: &'c Catalog, err: &ApiError) -> (&'c CodeDef, bool) {
    match &err.kind {
        ErrorKind::Condition(c) => (catalog.code_for(*c), false),
        ErrorKind::Status(s) => (catalog.code_for_status(*s), false),
        ErrorKind::Code(name) => match catalog.code(name) {
            Some(def) => (def, false),
            None => (catalog.code_for(crate::Condition::InternalError), true),
        },
    }
}

impl Catalog {
    /// The message of an error, its template filled with its arguments.
    pub fn message(&self, err: &ApiError) -> String {
        let (def, unknown) = resolve(self, err);
        if unknown {
            return def
                .template_for(Some(crate::Condition::InternalError), None)
                .to_owned();
        }
        let template = def.template_for(err.as_condition(), err.variant.as_deref());
        if matches!(err.kind, ErrorKind::Status(_))
            && template::names(template)
                .iter()
                .any(|n| err.arg_value(n).is_none())
        {
            return def.description.clone();
        }
        template::fill(template, |name| err.arg_value(name))
    }

    /// Renders an error as a server sends it. Total: an unknown code renders as the catalog's
    /// internal-error code (and should be caught by tests of the application).
    pub fn render(&self, err: &ApiError, format: Format) -> Rendered {
        let (def, unknown) = resolve(self, err);
        let details = !unknown && !err.details.is_empty();
        self.render_parts(
            Parts {
                def,
                status: effective_status(err, def),
                message: self.message(err),
                param: err.param.as_deref().filter(|_| !unknown),
                envelope_details: details.then(|| {
                    Value::Array(err.details.iter().map(|v| self.render_detail(v)).collect())
                }),
                problem_errors: details.then(|| problem_errors(&err.details)),
                request_id: err.request_id.as_deref(),
                instance: err.instance.as_deref(),
                retry_after: err.retry_after.filter(|_| !unknown),
                headers: &err.headers,
            },
            format,
        )
    }

    /// Renders an error body read back from elsewhere (an upstream's envelope or problem+json)
    /// through this catalog, in either format: what the body said (its message, `param` and
    /// `details`, the details as sent) with what the catalog says of its code (`type`, `title`,
    /// `doc_url`), the given `status` and `request_id` in place of the body's, and `instance`
    /// (problem+json). A body without a message gets the code's (its description when the
    /// message needs arguments). `details` written as problem+json `errors` are rewritten in
    /// the envelope's detail shape, and envelope details become problem+json `errors` when
    /// they can be read back through the catalog's detail template. `None` when the body's
    /// code is not in the catalog.
    pub fn render_parsed(
        &self,
        parsed: &ParsedError,
        status: u16,
        format: Format,
        request_id: Option<&str>,
        instance: Option<&str>,
        retry_after: Option<u64>,
    ) -> Option<Rendered> {
        let def = self.code(parsed.code.as_deref()?)?;
        let message = parsed.message.clone().unwrap_or_else(|| {
            if template::names(&def.message).is_empty() {
                template::fill(&def.message, |_| None)
            } else {
                def.description.clone()
            }
        });
        let sent = parsed
            .details
            .as_ref()
            .and_then(Value::as_array)
            .filter(|d| !d.is_empty());
        let (envelope_details, violations) = match sent {
            None => (None, None),
            Some(items) => {
                if let Some(v) = items.iter().map(|d| self.read_detail(d)).collect() {
                    (Some(Value::Array(items.clone())), Some(v))
                } else if let Some(v) = items
                    .iter()
                    .map(read_problem_error)
                    .collect::<Option<Vec<_>>>()
                {
                    let rendered = v.iter().map(|d| self.render_detail(d)).collect();
                    (Some(Value::Array(rendered)), Some(v))
                } else {
                    (Some(Value::Array(items.clone())), None)
                }
            }
        };
        Some(self.render_parts(
            Parts {
                def,
                status,
                message,
                param: parsed.param.as_deref(),
                envelope_details,
                problem_errors: violations.as_deref().map(problem_errors),
                request_id,
                instance,
                retry_after,
                headers: &[],
            },
            format,
        ))
    }

    fn render_parts(&self, p: Parts<'_>, format: Format) -> Rendered {
        let Parts { def, status, .. } = p;
        let value = |name: &str| -> Option<Value> {
            match name {
                "code" => Some(Value::String(def.code.clone())),
                "type" => Some(Value::String(def.kind.clone())),
                "message" => Some(Value::String(p.message.clone())),
                "title" => Some(Value::String(def.title())),
                "status" => Some(Value::from(status)),
                "param" => p.param.map(|s| Value::String(s.to_owned())),
                "details" => p.envelope_details.clone(),
                "request_id" => p.request_id.map(|s| Value::String(s.to_owned())),
                "doc_url" => self.doc_url_for(&def.code).map(Value::String),
                _ => None,
            }
        };
        let (body, content_type) = match format {
            Format::Envelope => (
                fill_json(&self.envelope.body, &value, &self.envelope.null_if_absent)
                    .unwrap_or(Value::Null),
                self.envelope.content_type.clone(),
            ),
            Format::Problem => (self.problem_body(&p), PROBLEM_JSON.to_owned()),
        };
        let mut headers = vec![("content-type".to_owned(), content_type)];
        if let Some(id) = p.request_id {
            headers.push((self.request_id.header.clone(), id.to_owned()));
        }
        if let Some(secs) = p.retry_after {
            headers.push(("retry-after".to_owned(), secs.max(1).to_string()));
        }
        for (n, v) in p.headers {
            headers.push((n.to_ascii_lowercase(), v.clone()));
        }
        Rendered {
            status,
            headers,
            body,
            code: def.code.clone(),
        }
    }

    fn render_detail(&self, v: &Violation) -> Value {
        let value = |name: &str| -> Option<Value> {
            match name {
                "path" => Some(Value::Array(
                    v.path.iter().cloned().map(Value::String).collect(),
                )),
                "pointer" => Some(Value::String(v.pointer())),
                "field" => Some(Value::String(v.field())),
                "message" => Some(Value::String(v.message.clone())),
                "code" => Some(Value::String(v.code.clone())),
                _ => None,
            }
        };
        fill_json(&self.envelope.detail, &value, &[]).unwrap_or(Value::Null)
    }

    fn problem_body(&self, p: &Parts<'_>) -> Value {
        let mut m = Map::new();
        let type_uri = self
            .doc_url_for(&p.def.code)
            .unwrap_or_else(|| format!("urn:problem-type:{}", p.def.code));
        m.insert("type".into(), Value::String(type_uri));
        m.insert("title".into(), Value::String(p.def.title()));
        m.insert("status".into(), Value::from(p.status));
        m.insert("detail".into(), Value::String(p.message.clone()));
        if let Some(i) = p.instance {
            m.insert("instance".into(), Value::String(i.to_owned()));
        }
        m.insert("code".into(), Value::String(p.def.code.clone()));
        if let Some(param) = p.param {
            m.insert("param".into(), Value::String(param.to_owned()));
        }
        if let Some(id) = p.request_id {
            m.insert("request_id".into(), Value::String(id.to_owned()));
        }
        if let Some(errors) = &p.problem_errors {
            m.insert("errors".into(), errors.clone());
        }
        Value::Object(m)
    }
}

/// What one rendering puts in a body and its headers.
struct Parts<'a> {
    def: &'a CodeDef,
    status: u16,
    message: String,
    param: Option<&'a str>,
    /// `{details}` of the envelope, when there are any.
    envelope_details: Option<Value>,
    /// `errors` of problem+json, when there are any.
    problem_errors: Option<Value>,
    request_id: Option<&'a str>,
    instance: Option<&'a str>,
    retry_after: Option<u64>,
    headers: &'a [(String, String)],
}

/// Field problems as problem+json `errors`.
fn problem_errors(details: &[Violation]) -> Value {
    Value::Array(
        details
            .iter()
            .map(|v| {
                serde_json::json!({
                    "detail": v.message,
                    "pointer": format!("#{}", v.pointer()),
                    "code": v.code,
                })
            })
            .collect(),
    )
}

/// One problem+json `errors` entry read back: `detail`, `pointer` (`#/a/0` or `/a/0`), `code`.
fn read_problem_error(v: &Value) -> Option<Violation> {
    let message = v.get("detail")?.as_str()?.to_owned();
    let pointer = v.get("pointer").and_then(Value::as_str).unwrap_or("");
    let code = v
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or(crate::raise::DEFAULT_DETAIL_CODE)
        .to_owned();
    Some(Violation {
        path: path_of_pointer(pointer)?,
        message,
        code,
    })
}

/// The segments of an RFC 6901 pointer, with or without the URI fragment's `#`.
pub(crate) fn path_of_pointer(pointer: &str) -> Option<Vec<String>> {
    let p = pointer.strip_prefix('#').unwrap_or(pointer);
    if p.is_empty() {
        return Some(Vec::new());
    }
    let p = p.strip_prefix('/')?;
    Some(
        p.split('/')
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

/// Fills a JSON template. `None` means the value is absent and its key is left out (or `null`
/// where the placeholder is listed in `null_if_absent`).
fn fill_json(
    tpl: &Value,
    value: &dyn Fn(&str) -> Option<Value>,
    null_if_absent: &[String],
) -> Option<Value> {
    match tpl {
        Value::String(s) => {
            let names = template::names(s);
            let whole = names.len() == 1 && s.len() == names[0].len() + 2;
            if whole {
                let name = names[0];
                return match value(name) {
                    Some(v) => Some(v),
                    None if null_if_absent.iter().any(|n| n == name) => Some(Value::Null),
                    None => None,
                };
            }
            if names.is_empty() {
                return Some(tpl.clone());
            }
            Some(Value::String(template::fill(s, |n| {
                Some(match value(n) {
                    Some(Value::String(s)) => s,
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                })
            })))
        }
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .filter_map(|v| fill_json(v, value, null_if_absent))
                .collect(),
        )),
        Value::Object(map) => Some(Value::Object(
            map.iter()
                .filter_map(|(k, v)| fill_json(v, value, null_if_absent).map(|v| (k.clone(), v)))
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_chooses_problem_json_only_when_preferred() {
        assert_eq!(Format::from_accept(None), Format::Envelope);
        assert_eq!(Format::from_accept(Some("*/*")), Format::Envelope);
        assert_eq!(
            Format::from_accept(Some("application/problem+json")),
            Format::Problem
        );
        assert_eq!(
            Format::from_accept(Some("application/json, application/problem+json;q=0.5")),
            Format::Envelope
        );
        assert_eq!(
            Format::from_accept(Some("application/problem+json, application/json;q=0.9")),
            Format::Problem
        );
        assert_eq!(
            Format::from_accept(Some("application/problem+json;q=0")),
            Format::Envelope
        );
    }
}
