//! The admin API's OpenAPI 3.1 document: generated from the handlers and their types
//! (utoipa), with the catalog's error components, and the rules the handlers enforce that
//! types cannot say (name patterns, the configured plans) written into it here, next to each
//! other, so the document and the checks cannot drift apart.

use errata_core::Catalog;
use serde_json::{Value, json};

use crate::config::AdminConfig;

/// A tenant or scope: 1 to 128 visible ASCII characters, no comma (as `manage` checks).
pub const TOKEN_PATTERN: &str = "^[!-+\\--~]{1,128}$";
/// An IPv4 network in CIDR form.
pub const IPV4_CIDR: &str = "^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])/([0-9]|[12][0-9]|3[0-2])$";
/// A key name: 1 to 200 characters, not only spaces.
pub const NAME_PATTERN: &str = "[^ \\t\\r\\n]";

/// The document served at the admin listener's `/openapi.json`.
pub fn document(catalog: &Catalog, config: &AdminConfig) -> Value {
    let mut doc = errata_docs::openapi(catalog);
    let generated = serde_json::to_value(crate::openapi_paths::generated()).unwrap_or(Value::Null);
    let mut paths = generated.get("paths").cloned().unwrap_or_else(|| json!({}));
    let error_names = doc
        .pointer("/components/responses")
        .and_then(Value::as_object)
        .map(|r| r.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    if let Some(paths) = paths.as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                let Some(op) = op.as_object_mut() else {
                    continue;
                };
                op.insert("operationId".into(), json!(operation_id(method, path)));
                if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
                    for (status, r) in responses.iter_mut() {
                        if status.starts_with('4') || status.starts_with('5') {
                            *r = json!({"$ref": format!("#/components/responses/{}", response_name(&error_names, status))});
                        }
                    }
                    // Every operation can fail with the store unavailable, and a wrong method
                    // is a catalog 405.
                    for status in ["405", "503"] {
                        if error_names.iter().any(|n| n == &format!("Error{status}")) {
                            responses.entry(status).or_insert_with(
                                || json!({"$ref": format!("#/components/responses/Error{status}")}),
                            );
                        }
                    }
                }
            }
        }
    }
    let mut schemas = generated
        .pointer("/components/schemas")
        .cloned()
        .unwrap_or_else(|| json!({}));
    enforce(&mut schemas, config);
    integer_bounds(&mut schemas);
    integer_bounds(&mut paths);
    if let Some(obj) = doc.as_object_mut() {
        obj.insert(
            "info".into(),
            json!({"title": format!("errata admin API ({})", catalog.name()), "version": env!("CARGO_PKG_VERSION")}),
        );
        obj.insert("paths".into(), paths);
        obj.insert(
            "security".into(),
            json!([{"adminToken": []}, {"consoleSession": []}]),
        );
        if let Some(components) = obj.get_mut("components").and_then(Value::as_object_mut) {
            let all = components.entry("schemas").or_insert_with(|| json!({}));
            if let (Some(all), Some(ours)) = (all.as_object_mut(), schemas.as_object()) {
                for (k, v) in ours {
                    all.insert(k.clone(), v.clone());
                }
            }
            components.insert(
                "securitySchemes".into(),
                json!({
                    "adminToken": {"type": "http", "scheme": "bearer", "description": "The admin token."},
                    "consoleSession": {"type": "apiKey", "in": "cookie", "name": crate::sessions::COOKIE, "description": "A console session (POST /session); writes also need the X-CSRF-Token header."},
                    "portalSession": {"type": "http", "scheme": "bearer", "description": "A portal session token (POST /portal/sessions)."}
                }),
            );
        }
    }
    doc
}

/// `get_keys_id` for `GET /keys/{id}`.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_owned();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        id.extend(
            seg.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .map(|c| c.to_ascii_lowercase()),
        );
    }
    id
}

/// The name errata-docs gave the response for a status (falling back to the 500 one).
fn response_name(names: &[String], status: &str) -> String {
    let find = |s: &str| names.iter().find(|k| k.contains(s)).cloned();
    find(status)
        .or_else(|| find("500"))
        .unwrap_or_else(|| format!("Error{status}"))
}

/// Gives every sized integer the bounds its Rust type has, so a number that cannot be read is
/// outside the document too.
fn integer_bounds(v: &mut Value) {
    match v {
        Value::Object(o) => {
            let bounds: Option<(Value, Value)> = match o.get("format").and_then(Value::as_str) {
                Some("int32")
                    if o.get("minimum")
                        .and_then(Value::as_f64)
                        .is_some_and(|m| m >= 0.0) =>
                {
                    Some((json!(0), json!(u32::MAX)))
                }
                Some("int32") => Some((json!(i32::MIN), json!(i32::MAX))),
                Some("int64")
                    if o.get("minimum")
                        .and_then(Value::as_f64)
                        .is_some_and(|m| m >= 0.0) =>
                {
                    Some((json!(0), json!(u64::MAX)))
                }
                Some("int64") => Some((json!(i64::MIN), json!(i64::MAX))),
                Some("int8" | "uint8") => Some((json!(0), json!(u8::MAX))),
                Some("int16" | "uint16") => Some((json!(0), json!(u16::MAX))),
                Some("uint32") => Some((json!(0), json!(u32::MAX))),
                Some("uint64") => Some((json!(0), json!(u64::MAX))),
                _ => None,
            };
            if let Some((lo, hi)) = bounds {
                o.entry("minimum").or_insert(lo);
                o.entry("maximum").or_insert(hi);
            }
            o.values_mut().for_each(integer_bounds);
        }
        Value::Array(a) => a.iter_mut().for_each(integer_bounds),
        _ => {}
    }
}

/// Writes into the generated schemas what the handlers check beyond the types.
fn enforce(schemas: &mut Value, config: &AdminConfig) {
    let plans: Vec<&String> = config.plans.keys().collect();
    let set = |schemas: &mut Value, pointer: &str, extra: Value| {
        if let (Some(target), Some(extra)) = (
            schemas.pointer_mut(pointer).and_then(Value::as_object_mut),
            extra.as_object(),
        ) {
            for (k, v) in extra {
                target.insert(k.clone(), v.clone());
            }
        }
    };
    let token = json!({"pattern": TOKEN_PATTERN, "minLength": 1, "maxLength": 128});
    let name = json!({"pattern": NAME_PATTERN, "minLength": 1, "maxLength": 200});
    for schema in ["NewApiKey", "KeyPatch", "PortalNewKey", "PortalKeyPatch"] {
        set(schemas, &format!("/{schema}/properties/name"), name.clone());
        set(
            schemas,
            &format!("/{schema}/properties/scopes/items"),
            token.clone(),
        );
    }
    set(schemas, "/NewApiKey/properties/tenant", token.clone());
    set(schemas, "/NewPortalSession/properties/tenant", token);
    set(
        schemas,
        "/NewApiKey/properties/plan",
        json!({"enum": plans}),
    );
    set(schemas, "/KeyPatch/properties/plan", json!({"enum": plans}));
    for schema in ["NewApiKey", "KeyPatch", "PortalNewKey", "PortalKeyPatch"] {
        set(
            schemas,
            &format!("/{schema}/properties/ip_allowlist/items"),
            json!({"description": "An IP network in CIDR form, e.g. `10.0.0.0/8` (IPv6 networks such as `2001:db8::/32` are accepted too).", "pattern": IPV4_CIDR}),
        );
    }
}
