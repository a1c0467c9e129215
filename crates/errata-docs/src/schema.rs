//! JSON Schemas (2020-12, as OpenAPI 3.1 uses) of a catalog's error bodies: the envelope derived
//! from its template, and RFC 9457 problem details with errata's extension members.

use errata_core::Catalog;
use serde_json::{Map, Value, json};

use crate::fields::{self, Presence, Scope, Slot};
use crate::status;

/// The Zod-style codes of a detail entry, listed as examples (the set is open).
const DETAIL_CODES: &[&str] = &[
    "invalid_type",
    "invalid_string",
    "too_small",
    "too_big",
    "invalid_enum_value",
    "unrecognized_keys",
    "custom",
];

/// The schema of the catalog's envelope: its template's structure, with `code` an enum of every
/// code, `details` items shaped by the detail template, and `null` allowed where the catalog
/// writes absent values as `null`.
pub(crate) fn error(catalog: &Catalog) -> Value {
    let mut schema = template(catalog, Scope::Envelope, &catalog.envelope().body);
    if let Value::Object(map) = &mut schema {
        let mut head = Map::new();
        head.insert("title".into(), json!("Error"));
        head.insert(
            "description".into(),
            json!(format!(
                "The body of every {} error response (`{}`).",
                catalog.name(),
                catalog.envelope().content_type
            )),
        );
        head.append(map);
        *map = head;
    }
    schema
}

/// The schema of the problem+json rendering of an error (RFC 9457).
pub(crate) fn problem(catalog: &Catalog) -> Value {
    json!({
        "title": "Problem",
        "description": "An error as RFC 9457 problem details, sent to clients that prefer `application/problem+json`.",
        "type": "object",
        "properties": {
            "type": {
                "type": "string",
                "format": "uri-reference",
                "description": "Identifies the problem type: the code's entry in the error reference, or `urn:problem-type:{code}`."
            },
            "title": { "type": "string", "description": "A short summary of the problem type." },
            "status": {
                "type": "integer",
                "enum": status::used(catalog),
                "description": "The HTTP status code."
            },
            "detail": { "type": "string", "description": "A human-readable explanation of this occurrence." },
            "instance": {
                "type": "string",
                "format": "uri-reference",
                "description": "The request path, when known."
            },
            "code": codes(catalog),
            "param": { "type": "string", "description": "The request parameter or field the error is about." },
            "request_id": {
                "type": "string",
                "description": format!("The request's unique id, also sent in the `{}` header.", catalog.request_id().header)
            },
            "errors": {
                "type": "array",
                "description": "For validation errors: one entry per field that failed.",
                "items": {
                    "type": "object",
                    "properties": {
                        "detail": { "type": "string", "description": "What is wrong with the field." },
                        "pointer": {
                            "type": "string",
                            "description": "A JSON pointer to the field in the request body, as a URI fragment (`#/items/0/quantity`)."
                        },
                        "code": { "type": "string", "examples": DETAIL_CODES }
                    },
                    "required": ["detail", "pointer", "code"]
                }
            }
        },
        "required": ["type", "title", "status", "detail", "code"]
    })
}

fn codes(catalog: &Catalog) -> Value {
    let all: Vec<&str> = catalog.codes().iter().map(|c| c.code.as_str()).collect();
    json!({
        "type": "string",
        "enum": all,
        "description": "The machine-readable error code."
    })
}

/// The schema of one template value.
fn template(catalog: &Catalog, scope: Scope, value: &Value) -> Value {
    let mut schema = match fields::slot(value) {
        Slot::Whole(name) => placeholder(catalog, scope, name),
        Slot::Text(_) => json!({ "type": "string" }),
        Slot::Literal(Value::Object(map)) => object(catalog, scope, map),
        Slot::Literal(Value::Array(items)) => array(catalog, scope, items),
        Slot::Literal(v) => json!({ "const": v }),
    };
    let presence = fields::presence(catalog, scope, value);
    if presence == Presence::AlwaysNull {
        schema = json!({ "type": "null" });
    } else if presence.nullable() {
        schema = nullable(schema);
    }
    // Objects get no description of their own: their fields carry the meaning.
    if let (Value::Object(map), false) = (&mut schema, value.is_object()) {
        map.insert(
            "description".into(),
            json!(fields::meaning(catalog, scope, value)),
        );
    }
    schema
}

fn object(catalog: &Catalog, scope: Scope, map: &Map<String, Value>) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (key, child) in map {
        let presence = fields::presence(catalog, scope, child);
        if presence == Presence::Never {
            continue;
        }
        if presence.required() {
            required.push(key.clone());
        }
        properties.insert(key.clone(), template(catalog, scope, child));
    }
    let mut out = Map::new();
    out.insert("type".into(), json!("object"));
    out.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        out.insert("required".into(), json!(required));
    }
    Value::Object(out)
}

fn array(catalog: &Catalog, scope: Scope, items: &[Value]) -> Value {
    let mut schemas: Vec<Value> = Vec::new();
    for item in items {
        let s = template(catalog, scope, item);
        if !schemas.contains(&s) {
            schemas.push(s);
        }
    }
    match schemas.len() {
        0 => json!({ "type": "array", "maxItems": 0 }),
        1 => json!({ "type": "array", "items": schemas.remove(0) }),
        _ => json!({ "type": "array", "items": { "anyOf": schemas } }),
    }
}

fn placeholder(catalog: &Catalog, scope: Scope, name: &str) -> Value {
    match (scope, name) {
        (Scope::Envelope, "code") => codes(catalog),
        (Scope::Envelope, "type") => json!({ "type": "string", "enum": catalog.kinds() }),
        (Scope::Envelope, "status") => json!({ "type": "integer", "enum": status::used(catalog) }),
        (Scope::Envelope, "doc_url") => json!({ "type": "string", "format": "uri-reference" }),
        (Scope::Envelope, "details") => json!({
            "type": "array",
            "items": template(catalog, Scope::Detail, &catalog.envelope().detail),
        }),
        (Scope::Detail, "path") => json!({ "type": "array", "items": { "type": "string" } }),
        (Scope::Detail, "pointer") => json!({ "type": "string", "format": "json-pointer" }),
        (Scope::Detail, "code") => json!({ "type": "string", "examples": DETAIL_CODES }),
        _ => json!({ "type": "string" }),
    }
}

/// Lets a schema also accept `null`.
fn nullable(mut schema: Value) -> Value {
    let Value::Object(map) = &mut schema else {
        return schema;
    };
    if let Some(Value::Array(values)) = map.get_mut("enum") {
        values.push(Value::Null);
    }
    if map.contains_key("const") {
        return json!({ "anyOf": [schema, { "type": "null" }] });
    }
    if let Some(Value::String(t)) = map.get_mut("type") {
        let t = std::mem::take(t);
        map.insert("type".into(), json!([t, "null"]));
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_adds_null_to_type_and_enum() {
        assert_eq!(
            nullable(json!({"type": "string"})),
            json!({"type": ["string", "null"]})
        );
        assert_eq!(
            nullable(json!({"type": "string", "enum": ["a"]})),
            json!({"type": ["string", "null"], "enum": ["a", null]})
        );
    }

    #[test]
    fn builtin_error_schema_follows_the_envelope() {
        let catalog = Catalog::builtin();
        let s = error(catalog);
        let e = &s["properties"]["error"];
        assert_eq!(e["properties"]["param"]["type"], json!(["string", "null"]));
        assert_eq!(
            e["properties"]["details"]["items"]["properties"]["path"]["type"],
            "array"
        );
        let required = e["required"].as_array().expect("required list");
        assert!(required.contains(&json!("param")));
        assert!(!required.contains(&json!("details")));
    }
}
