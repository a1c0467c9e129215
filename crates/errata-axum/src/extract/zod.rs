//! JSON Schema validation errors as Zod-style violations: the path as segments, Zod's code and
//! Zod's message (`Required`, `Invalid uuid`, `Expected string, received number`, ...), in the
//! order Zod reports them (the order the schema declares the fields).

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{JsonType, ValidationError};
use serde_json::Value;

use errata_core::Violation;

/// Every violation of `instance` against `validator`, built from `schema`, in schema order.
pub(crate) fn violations(
    schema: &Value,
    validator: &jsonschema::Validator,
    instance: &Value,
) -> Vec<Violation> {
    let mut found = Vec::new();
    for err in validator.iter_errors(instance) {
        collect(&err, &mut found);
    }
    // A value of the wrong type says it all: drop what else was found at or under its path.
    let mistyped: Vec<Vec<String>> = found
        .iter()
        .filter(|(v, is_type)| *is_type && v.code == "invalid_type")
        .map(|(v, _)| v.path.clone())
        .collect();
    let mut kept: Vec<Violation> = Vec::new();
    for (v, is_type) in found {
        let shadowed = !is_type && mistyped.iter().any(|p| v.path.starts_with(p));
        if !shadowed && !kept.contains(&v) {
            kept.push(v);
        }
    }
    let mut keyed: Vec<(Vec<usize>, Violation)> = kept
        .into_iter()
        .map(|v| (order_key(schema, &v), v))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.into_iter().map(|(_, v)| v).collect()
}

/// Adds the violations of one error (several for a union whose one branch is the real one),
/// each with whether it is a type mismatch of the value itself.
fn collect(err: &ValidationError<'_>, out: &mut Vec<(Violation, bool)>) {
    let path = segments(err.instance_path().as_str());
    let at = |message: String, code: &str| Violation::new(path.clone(), message, code);
    let v = match err.kind() {
        ValidationErrorKind::Required { property } => {
            let mut path = path.clone();
            path.push(
                property
                    .as_str()
                    .map_or_else(|| property.to_string(), str::to_owned),
            );
            Violation::new(path, "Required", "invalid_type")
        }
        ValidationErrorKind::Type { kind } => {
            let v = at(
                format!(
                    "Expected {}, received {}",
                    expected(kind),
                    received(err.instance(), kind)
                ),
                "invalid_type",
            );
            out.push((v, true));
            return;
        }
        ValidationErrorKind::Format { format } => {
            at(format!("Invalid {}", zod_format(format)), "invalid_string")
        }
        ValidationErrorKind::Pattern { .. } => at("Invalid".into(), "invalid_string"),
        ValidationErrorKind::MinLength { limit } => at(
            format!("String must contain at least {limit} character(s)"),
            "too_small",
        ),
        ValidationErrorKind::MaxLength { limit } => at(
            format!("String must contain at most {limit} character(s)"),
            "too_big",
        ),
        ValidationErrorKind::MinItems { limit } => at(
            format!("Array must contain at least {limit} element(s)"),
            "too_small",
        ),
        ValidationErrorKind::MaxItems { limit } => at(
            format!("Array must contain at most {limit} element(s)"),
            "too_big",
        ),
        ValidationErrorKind::Minimum { limit } => at(
            format!("Number must be greater than or equal to {limit}"),
            "too_small",
        ),
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            at(format!("Number must be greater than {limit}"), "too_small")
        }
        ValidationErrorKind::Maximum { limit } => at(
            format!("Number must be less than or equal to {limit}"),
            "too_big",
        ),
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            at(format!("Number must be less than {limit}"), "too_big")
        }
        ValidationErrorKind::MultipleOf { multiple_of } => at(
            format!("Number must be a multiple of {multiple_of}"),
            "not_multiple_of",
        ),
        ValidationErrorKind::Enum { options } => at(
            format!(
                "Invalid enum value. Expected {}, received {}",
                quoted_options(options),
                quoted(err.instance())
            ),
            "invalid_enum_value",
        ),
        ValidationErrorKind::Constant { expected_value } => at(
            format!("Invalid literal value, expected {expected_value}"),
            "invalid_literal",
        ),
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => at(
            format!(
                "Unrecognized key(s) in object: {}",
                unexpected
                    .iter()
                    .map(|k| format!("'{k}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "unrecognized_keys",
        ),
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            // `Option<T>` is `anyOf: [T, null]`: report T's problems, as Zod's `.nullable()`.
            let real: Vec<&Vec<ValidationError<'static>>> = context
                .iter()
                .filter(|branch| !branch.iter().all(is_null_mismatch))
                .collect();
            if let [branch] = real.as_slice() {
                for e in branch.iter() {
                    collect(e, out);
                }
                return;
            }
            at("Invalid input".into(), "invalid_union")
        }
        _ => at("Invalid input".into(), "custom"),
    };
    out.push((v, false));
}

/// A branch error saying only "this is not null" (the `null` arm of an `Option`).
fn is_null_mismatch(err: &ValidationError<'_>) -> bool {
    matches!(
        err.kind(),
        ValidationErrorKind::Type {
            kind: TypeKind::Single(JsonType::Null)
        }
    )
}

/// The segments of a JSON pointer (`/items/3/sku` is `["items", "3", "sku"]`).
fn segments(pointer: &str) -> Vec<String> {
    if pointer.is_empty() {
        return Vec::new();
    }
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

fn expected(kind: &TypeKind) -> String {
    match kind {
        TypeKind::Single(t) => t.as_str().to_owned(),
        TypeKind::Multiple(set) => {
            let names: Vec<&str> = set
                .iter()
                .filter(|t| *t != JsonType::Null)
                .map(JsonType::as_str)
                .collect();
            if names.is_empty() {
                "null".to_owned()
            } else {
                names.join(" | ")
            }
        }
    }
}

/// Zod's name for the type of a value (`float` where an integer was expected).
fn received(value: &Value, kind: &TypeKind) -> &'static str {
    let wants_integer = match kind {
        TypeKind::Single(t) => *t == JsonType::Integer,
        TypeKind::Multiple(set) => set.contains(JsonType::Integer),
    };
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if wants_integer && !n.is_i64() && !n.is_u64() => "float",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Zod's word for a string format in "Invalid ..." messages.
fn zod_format(format: &str) -> &str {
    match format {
        "uri" | "iri" | "uri-reference" => "url",
        "date-time" => "datetime",
        "ipv4" | "ipv6" => "ip",
        other => other,
    }
}

fn quoted(value: &Value) -> String {
    match value {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

fn quoted_options(options: &Value) -> String {
    match options {
        Value::Array(items) => items.iter().map(quoted).collect::<Vec<_>>().join(" | "),
        other => quoted(other),
    }
}

/// Where a violation sits in the schema's declaration order: one index per path segment (a
/// property's position among its object's properties, or an array index), then the position of
/// a problem of the object itself (unknown keys come after its fields, as in Zod).
fn order_key(schema: &Value, v: &Violation) -> Vec<usize> {
    let mut key = Vec::with_capacity(v.path.len() + 1);
    let mut node = Some(schema);
    for seg in &v.path {
        match node.and_then(|n| step(schema, n, seg, 0)) {
            Some((index, next)) => {
                key.push(index);
                node = Some(next);
            }
            None => {
                key.push(usize::MAX);
                node = None;
            }
        }
    }
    if v.code == "unrecognized_keys" {
        key.push(usize::MAX);
    }
    key
}

/// One step down a schema: the index of `seg` and the subschema it leads to.
fn step<'s>(root: &'s Value, node: &'s Value, seg: &str, depth: u8) -> Option<(usize, &'s Value)> {
    if depth > 16 {
        return None;
    }
    let node = resolve(root, node, 0);
    let property = node
        .get("properties")
        .and_then(Value::as_object)
        .and_then(|props| props.iter().enumerate().find(|(_, (k, _))| *k == seg));
    if let Some((i, (_, sub))) = property {
        return Some((i, sub));
    }
    if let (Ok(i), Some(items)) = (seg.parse::<usize>(), node.get("items")) {
        return Some((i, items));
    }
    ["allOf", "anyOf", "oneOf"]
        .iter()
        .filter_map(|k| node.get(*k).and_then(Value::as_array))
        .flatten()
        .find_map(|sub| step(root, sub, seg, depth + 1))
}

/// Follows local `$ref`s (`#/$defs/Event`).
fn resolve<'s>(root: &'s Value, node: &'s Value, depth: u8) -> &'s Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) if depth < 16 => match r.strip_prefix('#').and_then(|p| root.pointer(p)) {
            Some(target) => resolve(root, target, depth + 1),
            None => node,
        },
        _ => node,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(schema: Value, instance: Value) -> Vec<(Vec<String>, String, String)> {
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .expect("test schema compiles");
        violations(&schema, &validator, &instance)
            .into_iter()
            .map(|v| (v.path, v.message, v.code))
            .collect()
    }

    fn v(path: &[&str], message: &str, code: &str) -> (Vec<String>, String, String) {
        (
            path.iter().map(|s| s.to_string()).collect(),
            message.into(),
            code.into(),
        )
    }

    #[test]
    fn reports_every_problem_in_declaration_order_with_zod_messages() {
        let schema = json!({
            "type": "object",
            "properties": {
                "eventId": {"type": "string", "format": "uuid"},
                "category": {"type": "string"},
                "items": {"type": "array", "maxItems": 2, "items": {"$ref": "#/$defs/Item"}},
                "level": {"type": "string", "enum": ["info", "error"]},
                "name": {"type": ["string", "null"], "minLength": 2}
            },
            "required": ["eventId", "category"],
            "additionalProperties": false,
            "$defs": {"Item": {
                "type": "object",
                "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
                "required": ["sku"]
            }}
        });
        let got = check(
            schema,
            json!({
                "eventId": "nope",
                "items": [{"sku": "a", "qty": 0}, {"qty": 1.5}, {"sku": 3}],
                "level": "debug",
                "name": "x",
                "extra": true
            }),
        );
        assert_eq!(
            got,
            vec![
                v(&["eventId"], "Invalid uuid", "invalid_string"),
                v(&["category"], "Required", "invalid_type"),
                v(
                    &["items"],
                    "Array must contain at most 2 element(s)",
                    "too_big"
                ),
                v(
                    &["items", "0", "qty"],
                    "Number must be greater than or equal to 1",
                    "too_small"
                ),
                v(&["items", "1", "sku"], "Required", "invalid_type"),
                v(
                    &["items", "1", "qty"],
                    "Expected integer, received float",
                    "invalid_type"
                ),
                v(
                    &["items", "2", "sku"],
                    "Expected string, received number",
                    "invalid_type"
                ),
                v(
                    &["level"],
                    "Invalid enum value. Expected 'info' | 'error', received 'debug'",
                    "invalid_enum_value"
                ),
                v(
                    &["name"],
                    "String must contain at least 2 character(s)",
                    "too_small"
                ),
                v(
                    &[],
                    "Unrecognized key(s) in object: 'extra'",
                    "unrecognized_keys"
                ),
            ]
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_hides_the_rest_of_its_checks() {
        let schema = json!({"type": "object", "properties": {
            "level": {"type": "string", "enum": ["info"]},
            "when": {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]}
        }, "required": ["level"]});
        assert_eq!(
            check(schema.clone(), json!([1])),
            vec![v(&[], "Expected object, received array", "invalid_type")]
        );
        assert_eq!(
            check(schema, json!({"level": 3, "when": "2024-13-40"})),
            vec![
                v(
                    &["level"],
                    "Expected string, received number",
                    "invalid_type"
                ),
                v(&["when"], "Invalid date", "invalid_string"),
            ]
        );
    }

    #[test]
    fn pointers_split_into_segments() {
        assert_eq!(segments(""), Vec::<String>::new());
        assert_eq!(segments("/items/3/sku"), vec!["items", "3", "sku"]);
        assert_eq!(segments("/a~1b/c~0d"), vec!["a/b", "c~d"]);
    }
}
