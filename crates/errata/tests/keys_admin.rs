//! The admin API on keys that no longer work, and its plans, over real HTTP: a rotation of a
//! revoked or expired key is a 409 in the catalog's envelope, a second revocation answers the
//! first time, and `GET /plans` answers what `/openapi.json` says it does.

mod support;

use serde_json::{Map, Value, json};
use support::*;

const TOKEN: &str = "admin-token-0123456789";
/// 2025-11-15T00:00:00Z: in the past, so a key that expires then is expired.
const T0: i64 = 1_763_164_800;

async fn admin(h: &Harness, method: reqwest::Method, path: &str) -> (u16, Value, String) {
    let res = h
        .http
        .request(method, format!("{}{path}", h.admin))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let (status, headers, body) = parts(res).await;
    let id = headers
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, body, id)
}

/// The built-in catalog's answer to a rotation of a key that no longer works.
fn conflict(detail: &str, code: &str, request_id: &str) -> Value {
    json!({"error": {
        "code": "resource_conflict",
        "type": "conflict_error",
        "message": "The operation conflicts with the resource's current state.",
        "param": null,
        "details": [{"path": ["status"], "message": detail, "code": code}],
        "request_id": request_id,
        "doc_url": doc_url("resource_conflict")
    }})
}

#[tokio::test]
async fn rotating_a_revoked_or_expired_key_is_a_conflict() {
    let h = start("").await;
    let (_, id) = h.key(json!({"name": "ci"})).await;
    h.store.revoke(&id, T0).await.unwrap();

    let (status, body, rid) = admin(&h, reqwest::Method::POST, &format!("/keys/{id}/rotate")).await;
    assert_eq!(status, 409);
    assert_eq!(
        body,
        conflict(
            &format!(
                "{id} was revoked at 2025-11-15T00:00:00Z and cannot be rotated; create a new key instead"
            ),
            "revoked",
            &rid
        )
    );
    // Nothing was made or changed.
    let (_, list, _) = admin(&h, reqwest::Method::GET, "/keys").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            &list["data"][0]["revoked_at"],
            &list["data"][0]["replaced_by"]
        ),
        (&json!(T0), &Value::Null)
    );

    // A key a rotation replaced cannot be rotated again: its replacement can.
    let (_, old) = h.key(json!({"name": "rotated"})).await;
    let (status, rotated, _) =
        admin(&h, reqwest::Method::POST, &format!("/keys/{old}/rotate")).await;
    assert_eq!(status, 201);
    let new = rotated["key"]["id"].as_str().unwrap();
    let (status, body, rid) =
        admin(&h, reqwest::Method::POST, &format!("/keys/{old}/rotate")).await;
    let (_, shown, _) = admin(&h, reqwest::Method::GET, &format!("/keys/{old}")).await;
    let at = shown["revoked_at"].as_i64().unwrap();
    assert_eq!(status, 409);
    assert_eq!(
        body["error"]["details"][0]["message"],
        format!(
            "{old} was revoked at {} (replaced by {new}) and cannot be rotated; create a new key instead",
            rfc3339(at)
        )
        .as_str()
    );
    assert_eq!(body["error"]["request_id"], rid.as_str());

    let (_, expired) = h.key(json!({"name": "nightly", "expires_at": T0})).await;
    let (status, body, rid) = admin(
        &h,
        reqwest::Method::POST,
        &format!("/keys/{expired}/rotate"),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(
        body,
        conflict(
            &format!(
                "{expired} expired at 2025-11-15T00:00:00Z and cannot be rotated; create a new key instead"
            ),
            "expired",
            &rid
        )
    );

    // Unknown keys stay a 404.
    let (status, body, _) = admin(&h, reqwest::Method::POST, "/keys/key_nope/rotate").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("resource_not_found"))
    );
    h.running.shutdown().await;
}

#[tokio::test]
async fn revoking_twice_answers_the_first_time() {
    let h = start("").await;
    let (_, id) = h.key(json!({"name": "ci"})).await;
    h.store.revoke(&id, T0).await.unwrap();
    for _ in 0..2 {
        let (status, body, _) =
            admin(&h, reqwest::Method::POST, &format!("/keys/{id}/revoke")).await;
        assert_eq!(
            (status, &body["status"], &body["revoked_at"]),
            (200, &json!("revoked"), &json!(T0))
        );
    }

    let (_, other) = h.key(json!({"name": "other"})).await;
    let (status, first, _) =
        admin(&h, reqwest::Method::POST, &format!("/keys/{other}/revoke")).await;
    assert_eq!((status, &first["status"]), (200, &json!("revoked")));
    let (status, second, _) =
        admin(&h, reqwest::Method::POST, &format!("/keys/{other}/revoke")).await;
    assert_eq!(status, 200);
    assert_eq!(second, first);
    h.running.shutdown().await;
}

#[tokio::test]
async fn the_openapi_document_lists_the_conflict() {
    let h = start("").await;
    let (_, doc, _) = admin(&h, reqwest::Method::GET, "/openapi.json").await;
    for path in ["/keys/{id}/rotate", "/portal/api/keys/{id}/rotate"] {
        assert_eq!(
            doc["paths"][path]["post"]["responses"]["409"],
            json!({"$ref": "#/components/responses/Error409"}),
            "{path}"
        );
    }
    assert!(
        doc.pointer("/components/responses/Error409").is_some(),
        "the catalog's 409 response is a component"
    );
    h.running.shutdown().await;
}

#[tokio::test]
async fn plans_without_a_rate_match_the_document() {
    // No [plans]: the gateway makes a `default` plan without limits.
    let h = start("").await;
    let (status, plans, _) = admin(&h, reqwest::Method::GET, "/plans").await;
    assert_eq!(status, 200);
    assert_eq!(
        plans,
        json!({"data": [{"name": "default", "limits": {"rate": null, "per_seconds": 60, "burst": 0, "monthly_quota": null, "concurrency": null}, "features": []}]})
    );
    let (_, doc, _) = admin(&h, reqwest::Method::GET, "/openapi.json").await;
    let schema =
        &doc["paths"]["/plans"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    let problems = check(&doc, schema, &plans, "");
    assert!(problems.is_empty(), "{problems:#?}");
    // A window of 0 is outside the document.
    let mut zero = plans.clone();
    zero["data"][0]["limits"]["per_seconds"] = json!(0);
    assert_eq!(
        check(&doc, schema, &zero, ""),
        ["/data/0/limits/per_seconds: 0 < minimum 1"]
    );
    h.running.shutdown().await;

    // A plan with only a quota, beside one with a rate.
    let h = start("[plans.default]\nmonthly_quota = 5\n[plans.pro]\nrate = 10\nper_seconds = 1\n")
        .await;
    let (_, plans, _) = admin(&h, reqwest::Method::GET, "/plans").await;
    assert_eq!(
        plans["data"][0]["limits"],
        json!({"rate": null, "per_seconds": 60, "burst": 0, "monthly_quota": 5, "concurrency": null})
    );
    let problems = check(&doc, schema, &plans, "");
    assert!(problems.is_empty(), "{problems:#?}");
    h.running.shutdown().await;
}

/// Where `value` breaks `schema` (the JSON Schema subset the admin document uses: `$ref`,
/// `type`, `oneOf`, `allOf`, `properties`, `required`, `items`, `minimum`, `maximum`, `enum`),
/// one line per problem.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some(s) = schema.as_object() else {
        return out;
    };
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let target = doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{r} does not resolve"));
        out.extend(check(doc, target, value, at));
    }
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        for sub in all {
            out.extend(check(doc, sub, value, at));
        }
    }
    if let Some(one) = s.get("oneOf").and_then(Value::as_array) {
        let fits = one
            .iter()
            .filter(|sub| check(doc, sub, value, at).is_empty())
            .count();
        if fits != 1 {
            out.push(format!("{at}: {value} fits {fits} of oneOf"));
        }
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let is = |t: &str| match t {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "string" => value.is_string(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        };
        if !types.iter().any(|t| is(t)) {
            out.push(format!("{at}: {value} is not {types:?}"));
        }
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = s.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            out.push(format!("{at}: {n} < minimum {min}"));
        }
        if let Some(max) = s.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            out.push(format!("{at}: {n} > maximum {max}"));
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array)
        && !e.contains(value)
    {
        out.push(format!("{at}: {value} is not one of {e:?}"));
    }
    if let Some(obj) = value.as_object() {
        let empty = Map::new();
        let props = s
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for req in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = req.as_str().unwrap_or_default();
            if !obj.contains_key(name) {
                out.push(format!("{at}: `{name}` is required"));
            }
        }
        for (k, v) in obj {
            if let Some(p) = props.get(k) {
                out.extend(check(doc, p, v, &format!("{at}/{k}")));
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            out.extend(check(doc, items, v, &format!("{at}/{i}")));
        }
    }
    out
}

fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}
