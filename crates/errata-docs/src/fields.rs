//! The envelope and detail templates read as fields: what each value is (a whole placeholder,
//! text built from placeholders, or a constant), when it is present, its JSON type and what it
//! means. Both the reference pages and the OpenAPI schemas are derived from this reading.

use errata_core::{Catalog, OPTIONAL_PLACEHOLDERS, template};
use serde::Serialize;
use serde_json::Value;

/// Which template a value belongs to; placeholder names mean different things in each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The envelope body: `{code}` is the error's code.
    Envelope,
    /// One entry of `details`: `{code}` is the violation's code.
    Detail,
}

/// What a template value becomes when an error is rendered.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Slot<'a> {
    /// A string that is exactly `{name}`: replaced by a typed value.
    Whole(&'a str),
    /// A string with placeholders inside longer text: always a string.
    Text(&'a str),
    /// An object, array, or a value without placeholders: copied as it is (objects and arrays
    /// are walked further).
    Literal(&'a Value),
}

/// Classifies one template value the way errata-core's renderer does.
pub(crate) fn slot(value: &Value) -> Slot<'_> {
    let Value::String(s) = value else {
        return Slot::Literal(value);
    };
    let names = template::names(s);
    match names.as_slice() {
        [name] if s.len() == name.len() + 2 => Slot::Whole(name),
        [] => Slot::Literal(value),
        _ => Slot::Text(s),
    }
}

/// When a field is in a rendered body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Presence {
    /// In every body, with a value.
    Always,
    /// In every body; `null` when the error has no such value.
    Nullable,
    /// Only in bodies of errors that have such a value.
    Optional,
    /// In every body, always `null` (a `doc_url` listed in `null_if_absent` without a doc_url).
    AlwaysNull,
    /// In no body (a `doc_url` placeholder in a catalog without a doc_url).
    Never,
}

impl Presence {
    /// Whether a schema lists the field as required.
    pub(crate) fn required(self) -> bool {
        matches!(
            self,
            Presence::Always | Presence::Nullable | Presence::AlwaysNull
        )
    }

    /// Whether the value can be `null`.
    pub(crate) fn nullable(self) -> bool {
        matches!(self, Presence::Nullable | Presence::AlwaysNull)
    }

    fn describe(self) -> &'static str {
        match self {
            Presence::Always => "always",
            Presence::Nullable => "always; `null` when there is none",
            Presence::Optional => "only when there is one",
            Presence::AlwaysNull => "always `null`",
            Presence::Never => "never",
        }
    }
}

/// When a template value is in a rendered body.
pub(crate) fn presence(catalog: &Catalog, scope: Scope, value: &Value) -> Presence {
    let Slot::Whole(name) = slot(value) else {
        return Presence::Always;
    };
    if scope == Scope::Detail || !OPTIONAL_PLACEHOLDERS.contains(&name) {
        return Presence::Always;
    }
    let null = catalog.envelope().null_if_absent.iter().any(|n| n == name);
    match (name, null) {
        ("doc_url", _) if catalog.doc_url().is_some() => Presence::Always,
        ("doc_url", true) => Presence::AlwaysNull,
        ("doc_url", false) => Presence::Never,
        (_, true) => Presence::Nullable,
        (_, false) => Presence::Optional,
    }
}

/// The JSON type of a rendered value, in words (`string`, `array of strings`).
pub(crate) fn json_type(scope: Scope, value: &Value) -> String {
    match slot(value) {
        Slot::Whole(name) => match (scope, name) {
            (Scope::Envelope, "status") => "integer".into(),
            (Scope::Envelope, "details") => "array of objects".into(),
            (Scope::Detail, "path") => "array of strings".into(),
            _ => "string".into(),
        },
        Slot::Text(_) => "string".into(),
        Slot::Literal(v) => literal_type(v).into(),
    }
}

fn literal_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// What a template value means to a client.
pub(crate) fn meaning(catalog: &Catalog, scope: Scope, value: &Value) -> String {
    match slot(value) {
        Slot::Whole(name) => placeholder_meaning(catalog, scope, name),
        Slot::Text(text) => format!("Text: `{text}`, filled in for each error."),
        Slot::Literal(Value::Object(_)) => "Holds the fields below.".into(),
        Slot::Literal(v) => format!("Always `{v}`."),
    }
}

fn placeholder_meaning(catalog: &Catalog, scope: Scope, name: &str) -> String {
    let header = &catalog.request_id().header;
    match (scope, name) {
        (Scope::Envelope, "code") => {
            "The machine-readable error code. Branch on this, never on `message`.".into()
        }
        (Scope::Envelope, "type") => {
            "The category of the error, grouping related codes.".into()
        }
        (Scope::Envelope, "message") => {
            "A human-readable explanation. Its wording may change; do not parse it.".into()
        }
        (Scope::Envelope, "param") => {
            "The request parameter or field the error is about, when there is one.".into()
        }
        (Scope::Envelope, "details") => {
            "For validation errors: one entry per field that failed.".into()
        }
        (Scope::Envelope, "request_id") => format!(
            "The request's unique id, also sent in the `{header}` header. Include it when contacting support."
        ),
        (Scope::Envelope, "doc_url") => "A link to this code's entry in this reference.".into(),
        (Scope::Envelope, "status") => "The HTTP status code, repeated in the body.".into(),
        (Scope::Envelope, "title") => "A short, human-readable summary of the code.".into(),
        (Scope::Detail, "path") => {
            "Path segments from the body's root to the field; array indices as strings.".into()
        }
        (Scope::Detail, "pointer") => "The field as an RFC 6901 JSON pointer (`/items/0/quantity`).".into(),
        (Scope::Detail, "field") => "The field's path joined with dots (`items.0.quantity`).".into(),
        (Scope::Detail, "message") => "What is wrong with the field.".into(),
        (Scope::Detail, "code") => {
            "What kind of problem it is: `invalid_type`, `invalid_string`, `too_small`, `too_big`, `invalid_enum_value`, `unrecognized_keys` or `custom`.".into()
        }
        (_, other) => format!("The `{other}` value."),
    }
}

/// One field of a template, as the reference's field tables list it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct FieldRow {
    /// Dotted path from the body's root (`error.code`); `[]` for array items.
    pub path: String,
    #[serde(rename = "type")]
    pub json_type: String,
    pub presence: &'static str,
    pub meaning: String,
}

/// Every field of a template, depth first, in template order.
pub(crate) fn rows(catalog: &Catalog, scope: Scope, template: &Value) -> Vec<FieldRow> {
    let mut out = Vec::new();
    walk(catalog, scope, template, "", &mut out);
    out
}

fn walk(catalog: &Catalog, scope: Scope, value: &Value, path: &str, out: &mut Vec<FieldRow>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let child_path = join(key);
                out.push(row(catalog, scope, child, child_path.clone()));
                walk(catalog, scope, child, &child_path, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                let child_path = format!("{path}[]");
                out.push(row(catalog, scope, item, child_path.clone()));
                walk(catalog, scope, item, &child_path, out);
            }
        }
        _ => {}
    }
}

fn row(catalog: &Catalog, scope: Scope, value: &Value, path: String) -> FieldRow {
    FieldRow {
        path,
        json_type: json_type(scope, value),
        presence: presence(catalog, scope, value).describe(),
        meaning: meaning(catalog, scope, value),
    }
}

/// Whether the envelope body carries `{details}` anywhere.
pub(crate) fn has_details(template: &Value) -> bool {
    match slot(template) {
        Slot::Whole(name) => name == "details",
        Slot::Text(_) => false,
        Slot::Literal(Value::Object(map)) => map.values().any(has_details),
        Slot::Literal(Value::Array(items)) => items.iter().any(has_details),
        Slot::Literal(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classifies_values_like_the_renderer() {
        assert_eq!(slot(&json!("{code}")), Slot::Whole("code"));
        assert_eq!(slot(&json!("see {doc_url}")), Slot::Text("see {doc_url}"));
        assert_eq!(slot(&json!("plain")), Slot::Literal(&json!("plain")));
        assert_eq!(slot(&json!(3)), Slot::Literal(&json!(3)));
    }

    #[test]
    fn builtin_envelope_rows_cover_every_field() {
        let catalog = Catalog::builtin();
        let rows = rows(catalog, Scope::Envelope, &catalog.envelope().body);
        let paths: Vec<&str> = rows.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "error",
                "error.code",
                "error.type",
                "error.message",
                "error.param",
                "error.details",
                "error.request_id",
                "error.doc_url"
            ]
        );
        assert_eq!(rows[4].presence, Presence::Nullable.describe());
        assert_eq!(rows[5].presence, Presence::Optional.describe());
        assert!(has_details(&catalog.envelope().body));
    }
}
