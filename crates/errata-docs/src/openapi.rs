//! The OpenAPI 3.1 document of a catalog's error contract: the `Error` and `Problem` schemas,
//! the `RequestId` and `RetryAfter` headers, and one response per status with an example of
//! every code that has it, to `$ref` from an API's own document.

use errata_core::{Catalog, CodeDef, Format, PROBLEM_JSON, reason_phrase};
use serde_json::{Map, Value, json};

use crate::{example, schema, status};

/// The OpenAPI version written.
const OPENAPI_VERSION: &str = "3.1.0";

/// Statuses whose responses always document `Retry-After`.
const RETRY_AFTER_STATUSES: &[u16] = &[429, 503];

/// The whole document: `openapi`, `info` and `components`.
pub(crate) fn document(catalog: &Catalog) -> Value {
    let mut info = Map::new();
    info.insert("title".into(), json!(format!("{} errors", catalog.name())));
    info.insert(
        "version".into(),
        json!(catalog.version().unwrap_or("unversioned")),
    );
    if let Some(d) = catalog.description() {
        info.insert("description".into(), json!(d));
    }
    json!({
        "openapi": OPENAPI_VERSION,
        "info": info,
        "components": {
            "schemas": {
                "Error": schema::error(catalog),
                "Problem": schema::problem(catalog),
            },
            "headers": headers(catalog),
            "responses": responses(catalog),
        }
    })
}

/// The name of the response for a status (`Error429`).
pub(crate) fn response_name(status: u16) -> String {
    format!("Error{status}")
}

fn headers(catalog: &Catalog) -> Value {
    json!({
        "RequestId": {
            "description": "The request's unique id; quote it when contacting support.",
            "schema": {
                "type": "string",
                "examples": [example::request_id(catalog.request_id())]
            }
        },
        "RetryAfter": {
            "description": "Seconds to wait before retrying.",
            "schema": { "type": "integer", "minimum": 1 }
        }
    })
}

fn responses(catalog: &Catalog) -> Value {
    let mut out = Map::new();
    for status in status::used(catalog) {
        let defs: Vec<&CodeDef> = catalog
            .codes()
            .iter()
            .filter(|d| d.status == status)
            .collect();
        out.insert(response_name(status), response(catalog, status, &defs));
    }
    Value::Object(out)
}

fn response(catalog: &Catalog, status: u16, defs: &[&CodeDef]) -> Value {
    let list = defs
        .iter()
        .map(|d| format!("`{}`", d.code))
        .collect::<Vec<_>>()
        .join(", ");
    let mut headers = Map::new();
    headers.insert(
        catalog.request_id().header.clone(),
        json!({ "$ref": "#/components/headers/RequestId" }),
    );
    let sends_retry_after = defs.iter().any(|d| example::retry_after(d).is_some());
    if RETRY_AFTER_STATUSES.contains(&status) || sends_retry_after {
        headers.insert(
            "Retry-After".into(),
            json!({ "$ref": "#/components/headers/RetryAfter" }),
        );
    }
    let mut content = Map::new();
    content.insert(
        catalog.envelope().content_type.clone(),
        media(catalog, "Error", defs, Format::Envelope),
    );
    // A catalog whose envelope is itself problem+json documents that one only.
    content
        .entry(PROBLEM_JSON)
        .or_insert_with(|| media(catalog, "Problem", defs, Format::Problem));
    json!({
        "description": format!("{} {}: {list}.", status, reason_phrase(status)),
        "headers": headers,
        "content": content,
    })
}

fn media(catalog: &Catalog, schema: &str, defs: &[&CodeDef], format: Format) -> Value {
    let examples: Map<String, Value> = defs
        .iter()
        .map(|d| {
            (
                d.code.clone(),
                json!({
                    "summary": d.title(),
                    "value": example::body(catalog, d, format),
                }),
            )
        })
        .collect();
    json!({
        "schema": { "$ref": format!("#/components/schemas/{schema}") },
        "examples": examples,
    })
}
