//! The admin API's OpenAPI 3.1 document, with the catalog's error components.

use errata_core::Catalog;
use serde_json::{Value, json};

/// The document served at the admin listener's `/openapi.json`.
pub fn document(catalog: &Catalog) -> Value {
    let mut doc = errata_docs::openapi(catalog);
    let key = json!({
        "type": "object",
        "required": ["id", "hint", "tenant", "name", "environment", "scopes", "plan", "ip_allowlist", "created_at"],
        "properties": {
            "id": {"type": "string", "examples": ["key_0a1b2c3d4e5f6g7h"]},
            "hint": {"type": "string", "description": "The first characters of the key, for listings."},
            "tenant": {"type": "string"},
            "name": {"type": "string"},
            "environment": {"type": "string", "enum": ["live", "test"]},
            "scopes": {"type": "array", "items": {"type": "string"}},
            "plan": {"type": "string"},
            "ip_allowlist": {"type": "array", "items": {"type": "string", "description": "An IP network in CIDR form."}},
            "limits": {"type": ["object", "null"], "properties": {
                "rate": {"type": ["integer", "null"]},
                "per_seconds": {"type": "integer"},
                "burst": {"type": "integer"},
                "monthly_quota": {"type": ["integer", "null"]},
                "concurrency": {"type": ["integer", "null"]}
            }},
            "expires_at": {"type": ["integer", "null"], "description": "Unix seconds."},
            "created_at": {"type": "integer"},
            "last_used_at": {"type": ["integer", "null"]},
            "revoked_at": {"type": ["integer", "null"]},
            "replaced_by": {"type": ["string", "null"]}
        }
    });
    let new_key = json!({
        "type": "object",
        "required": ["tenant", "name"],
        "additionalProperties": false,
        "properties": {
            "tenant": {"type": "string"},
            "name": {"type": "string"},
            "environment": {"type": "string", "enum": ["live", "test"], "default": "live"},
            "scopes": {"type": "array", "items": {"type": "string"}},
            "plan": {"type": "string"},
            "ip_allowlist": {"type": "array", "items": {"type": "string"}},
            "limits": {"$ref": "#/components/schemas/ApiKey/properties/limits"},
            "expires_at": {"type": "integer"}
        }
    });
    let issued = json!({
        "type": "object",
        "required": ["key", "secret"],
        "properties": {
            "key": {"$ref": "#/components/schemas/ApiKey"},
            "secret": {"type": "string", "description": "The key itself. Shown this once; only its SHA-256 is stored."}
        }
    });
    let err = |status: &str| json!({"$ref": format!("#/components/responses/{}", response_name(&doc, status))});
    let id_param =
        json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]);
    let paths = json!({
        "/keys": {
            "get": {
                "summary": "List keys",
                "parameters": [{"name": "tenant", "in": "query", "required": false, "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "The keys", "content": {"application/json": {"schema": {"type": "object", "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/ApiKey"}}}}}}},
                    "401": err("401")
                }
            },
            "post": {
                "summary": "Create a key",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewApiKey"}}}},
                "responses": {
                    "201": {"description": "The new key and its secret", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IssuedApiKey"}}}},
                    "400": err("400"), "401": err("401"), "422": err("422")
                }
            }
        },
        "/keys/{id}": {"get": {"summary": "Show a key", "parameters": id_param, "responses": {
            "200": {"description": "The key", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiKey"}}}},
            "401": err("401"), "404": err("404")}}},
        "/keys/{id}/revoke": {"post": {"summary": "Revoke a key (effective at once on this instance)", "parameters": id_param, "responses": {
            "200": {"description": "The revoked key", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiKey"}}}},
            "401": err("401"), "404": err("404")}}},
        "/keys/{id}/rotate": {"post": {"summary": "Replace a key by a new secret; the old one is revoked", "parameters": id_param, "responses": {
            "201": {"description": "The new key and its secret", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IssuedApiKey"}}}},
            "401": err("401"), "404": err("404")}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "security": [], "responses": {"200": {"description": "Text exposition format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}}}
    });
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("info".into(), json!({"title": format!("errata admin API ({})", catalog.name()), "version": env!("CARGO_PKG_VERSION")}));
        obj.insert("paths".into(), paths);
        obj.insert("security".into(), json!([{"adminToken": []}]));
        if let Some(components) = obj.get_mut("components").and_then(Value::as_object_mut) {
            let schemas = components.entry("schemas").or_insert_with(|| json!({}));
            if let Some(s) = schemas.as_object_mut() {
                s.insert("ApiKey".into(), key);
                s.insert("NewApiKey".into(), new_key);
                s.insert("IssuedApiKey".into(), issued);
            }
            components.insert(
                "securitySchemes".into(),
                json!({"adminToken": {"type": "http", "scheme": "bearer"}}),
            );
        }
    }
    doc
}

/// The name errata-docs gave the response for a status (falling back to the 500 one).
fn response_name(doc: &Value, status: &str) -> String {
    let responses = doc
        .pointer("/components/responses")
        .and_then(Value::as_object);
    let find = |s: &str| responses.and_then(|r| r.keys().find(|k| k.contains(s)).cloned());
    find(status)
        .or_else(|| find("500"))
        .unwrap_or_else(|| format!("Error{status}"))
}
