//! Reading error bodies back: what a client learns from a response the catalog rendered.

use serde_json::Value;

use crate::catalog::Catalog;
use crate::error::Violation;
use crate::render::PROBLEM_JSON;
use crate::template;

/// An error body read back into its parts. Fields the envelope does not carry are `None`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ParsedError {
    pub code: Option<String>,
    pub kind: Option<String>,
    pub message: Option<String>,
    pub param: Option<String>,
    pub request_id: Option<String>,
    pub doc_url: Option<String>,
    /// The `details` array as sent.
    pub details: Option<Value>,
}

/// Where each whole-value placeholder sits in a JSON template, as a list of object keys.
fn placeholder_path<'a>(tpl: &'a Value, name: &str, path: &mut Vec<&'a str>) -> bool {
    match tpl {
        Value::String(s) => {
            let names = template::names(s);
            names.len() == 1 && names[0] == name && s.len() == name.len() + 2
        }
        Value::Object(map) => {
            for (k, v) in map {
                path.push(k);
                if placeholder_path(v, name, path) {
                    return true;
                }
                path.pop();
            }
            false
        }
        _ => false,
    }
}

fn lookup<'v>(body: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(body, |v, k| v.get(*k))
}

impl Catalog {
    /// Reads an error body in this catalog's envelope, or in problem+json when `content_type`
    /// says so. `None` when the body is not JSON or has no code where the envelope puts it.
    pub fn parse_body(&self, content_type: Option<&str>, body: &[u8]) -> Option<ParsedError> {
        let value: Value = serde_json::from_slice(body).ok()?;
        let is_problem =
            content_type.is_some_and(|ct| ct.trim().to_ascii_lowercase().starts_with(PROBLEM_JSON));
        if is_problem {
            let s = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_owned);
            return Some(ParsedError {
                code: Some(s("code")?),
                kind: None,
                message: s("detail"),
                param: s("param"),
                request_id: s("request_id"),
                doc_url: s("type").filter(|t| t.starts_with("http")),
                details: value.get("errors").cloned(),
            });
        }
        let get = |name: &str| -> Option<&Value> {
            let mut path = Vec::new();
            if placeholder_path(&self.envelope.body, name, &mut path) {
                lookup(&value, &path)
            } else {
                None
            }
        };
        let s = |name: &str| get(name).and_then(Value::as_str).map(str::to_owned);
        Some(ParsedError {
            code: Some(s("code")?),
            kind: s("type"),
            message: s("message"),
            param: s("param"),
            request_id: s("request_id"),
            doc_url: s("doc_url"),
            details: get("details").filter(|d| d.is_array()).cloned(),
        })
    }
}

impl Catalog {
    /// Puts `id` where the envelope keeps the request id, if it has such a place and the body
    /// does not hold one yet. Returns whether the body changed.
    pub fn insert_request_id(&self, body: &mut Value, id: &str) -> bool {
        self.put_request_id(body, id, false)
    }

    /// Puts `id` where the envelope keeps the request id, replacing any id already there (a
    /// gateway's id over its upstream's). Returns whether the body changed.
    pub fn set_request_id(&self, body: &mut Value, id: &str) -> bool {
        self.put_request_id(body, id, true)
    }

    fn put_request_id(&self, body: &mut Value, id: &str, replace: bool) -> bool {
        let mut path = Vec::new();
        if !placeholder_path(&self.envelope.body, "request_id", &mut path) {
            return false;
        }
        let Some((last, parents)) = path.split_last() else {
            return false;
        };
        let mut cur = body;
        for k in parents {
            match cur.get_mut(*k) {
                Some(next) => cur = next,
                None => return false,
            }
        }
        let Some(obj) = cur.as_object_mut() else {
            return false;
        };
        match obj.get(*last) {
            Some(Value::String(s)) if s == id => false,
            Some(Value::String(s)) if !s.is_empty() && !replace => false,
            _ => {
                obj.insert((*last).to_owned(), Value::String(id.to_owned()));
                true
            }
        }
    }
}

impl Catalog {
    /// Where the envelope puts a whole-value placeholder (`code`, `message`, `request_id`...),
    /// as the object keys from the body's root; `None` when the envelope has no such field.
    /// This is where [`Catalog::parse_body`] reads it back, and what generated SDKs follow.
    pub fn field_path(&self, name: &str) -> Option<Vec<String>> {
        let mut path = Vec::new();
        placeholder_path(&self.envelope.body, name, &mut path)
            .then(|| path.into_iter().map(str::to_owned).collect())
    }
}

impl Catalog {
    /// Reads one entry of an envelope's `details` back through the catalog's detail template:
    /// the path from `{path}` (strings and integers), else `{pointer}`, else `{field}` (split at
    /// dots); `{message}` and `{code}` where the template has them (`custom` for an entry or a
    /// template without a code). `None` when the entry does not follow the template.
    pub fn read_detail(&self, entry: &Value) -> Option<Violation> {
        let tpl = &self.envelope.detail;
        let get = |name: &str| -> Option<Option<&Value>> {
            let mut path = Vec::new();
            placeholder_path(tpl, name, &mut path).then(|| lookup(entry, &path))
        };
        if !entry.is_object() {
            return None;
        }
        let path = if let Some(p) = get("path") {
            p?.as_array()?
                .iter()
                .map(|s| match s {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?
        } else if let Some(p) = get("pointer") {
            crate::render::path_of_pointer(p?.as_str()?)?
        } else if let Some(f) = get("field") {
            let f = f?.as_str()?;
            if f.is_empty() {
                Vec::new()
            } else {
                f.split('.').map(str::to_owned).collect()
            }
        } else {
            Vec::new()
        };
        // The message must be there (where the template has one); a missing code is `custom`.
        let text = |name: &str, default: Option<&str>| -> Option<String> {
            match get(name) {
                None => Some(default.unwrap_or_default().to_owned()),
                Some(None) => default.map(str::to_owned),
                Some(Some(v)) => v.as_str().map(str::to_owned),
            }
        };
        Some(Violation {
            path,
            message: text("message", None)?,
            code: text("code", Some(crate::raise::DEFAULT_DETAIL_CODE))?,
        })
    }
}
