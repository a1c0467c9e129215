//! The admin API over real HTTP: keys, metrics, its OpenAPI document; its errors in the catalog.

mod support;

use serde_json::{Value, json};
use support::*;

const TOKEN: &str = "admin-token-0123456789";

#[tokio::test]
async fn keys_are_created_shown_listed_rotated_and_revoked() {
    let h = start("[plans.default]\n[plans.pro]\n").await;
    let admin = |path: &str| format!("{}{path}", h.admin);

    // Create: the secret is shown once, only its hash is kept.
    let res = h
        .http
        .post(admin("/keys"))
        .bearer_auth(TOKEN)
        .json(&json!({"tenant": "acme", "name": "ci", "scopes": ["events:write"], "plan": "pro", "environment": "test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let issued: Value = res.json().await.unwrap();
    let secret = issued["secret"].as_str().unwrap().to_owned();
    let id = issued["key"]["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("test_test_"), "{secret}");
    assert_eq!(issued["key"]["tenant"], "acme");
    assert_eq!(issued["key"]["plan"], "pro");
    assert_eq!(issued["key"]["scopes"], json!(["events:write"]));
    assert!(
        issued["key"].get("key_hash").is_none(),
        "the hash is never shown"
    );
    assert_eq!(
        issued["key"]["hint"],
        format!("{}…", &secret[..14]).as_str()
    );
    assert_eq!(
        h.get("/echo")
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let shown: Value = h
        .http
        .get(admin(&format!("/keys/{id}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["id"], id.as_str());
    assert!(!shown.to_string().contains(&secret));
    let listed: Value = h
        .http
        .get(admin("/keys?tenant=acme"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    let none: Value = h
        .http
        .get(admin("/keys?tenant=other"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none, json!({"data": []}));

    // Rotate: a new secret works, the old one is refused at once.
    let res = h
        .http
        .post(admin(&format!("/keys/{id}/rotate")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let rotated: Value = res.json().await.unwrap();
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert_eq!(rotated["key"]["scopes"], json!(["events:write"]));
    let (status, _, body) = parts(h.get("/echo").bearer_auth(&secret).send().await.unwrap()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("api_key_revoked"))
    );
    assert_eq!(
        h.get("/echo")
            .bearer_auth(&new_secret)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let old: Value = h
        .http
        .get(admin(&format!("/keys/{id}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(old["replaced_by"], rotated["key"]["id"]);

    // Revoke the new one.
    let new_id = rotated["key"]["id"].as_str().unwrap();
    let res = h
        .http
        .post(admin(&format!("/keys/{new_id}/revoke")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        h.get("/echo")
            .bearer_auth(&new_secret)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    h.running.shutdown().await;
}

#[tokio::test]
async fn admin_errors_are_catalog_errors() {
    let h = start("").await;
    let admin = |path: &str| format!("{}{path}", h.admin);
    let code = |v: &Value| v["error"]["code"].as_str().unwrap_or("").to_owned();

    let (s, _, b) = parts(h.http.get(admin("/keys")).send().await.unwrap()).await;
    assert_eq!((s, code(&b)), (401, "missing_api_key".into()));
    let (s, _, b) = parts(
        h.http
            .get(admin("/keys"))
            .bearer_auth("wrong-token-0123456789")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, code(&b)), (401, "invalid_api_key".into()));
    let (s, _, b) = parts(
        h.http
            .get(admin("/keys/key_nope"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 404);
    assert_eq!(b["error"]["message"], "API key 'key_nope' not found.");
    let (s, _, b) = parts(
        h.http
            .post(admin("/keys"))
            .bearer_auth(TOKEN)
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, code(&b)), (400, "invalid_request".into()));
    let (s, _, b) = parts(
        h.http
            .post(admin("/keys"))
            .bearer_auth(TOKEN)
            .json(&json!({"tenant": "", "name": "x", "plan": "gold"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(
        b["error"]["details"],
        json!([
            {"path": ["tenant"], "message": "Required: 1 to 128 visible characters", "code": "invalid_type"},
            {"path": ["plan"], "message": "Invalid enum value. Expected default, received 'gold'", "code": "invalid_enum_value"}
        ])
    );
    let (s, headers, b) = parts(
        h.http
            .delete(admin("/keys"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 405);
    assert_eq!(headers["allow"], "GET,HEAD,POST");
    assert!(b["error"]["code"].is_string(), "{b}");
    let (s, _, b) = parts(h.http.get(admin("/nope")).send().await.unwrap()).await;
    assert_eq!((s, code(&b)), (404, "resource_not_found".into()));
    h.running.shutdown().await;
}

#[tokio::test]
async fn metrics_and_the_openapi_document() {
    let h = start("[plans.default]\nrate = 1\nper_seconds = 3600\n").await;
    let (key, _) = h.key(json!({})).await;
    assert_eq!(
        h.get("/echo")
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        h.get("/echo")
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        429
    );
    let text = h
        .http
        .get(format!("{}/metrics", h.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("errata_requests_total{route=\"/*\",status=\"200\",code=\"\"}"),
        "{text}"
    );
    assert!(
        text.contains(
            "errata_requests_total{route=\"/*\",status=\"429\",code=\"rate_limit_exceeded\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains("errata_limiter_decisions_total{decision=\"rate_limited\"}"),
        "{text}"
    );
    assert!(
        text.contains("errata_request_duration_seconds_bucket{route=\"/*\",le=\"0.005\"}"),
        "{text}"
    );

    let doc: Value = h
        .http
        .get(format!("{}/openapi.json", h.admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["openapi"].as_str().map(|v| v.starts_with("3.1")),
        Some(true)
    );
    for path in [
        "/keys",
        "/keys/{id}",
        "/keys/{id}/revoke",
        "/keys/{id}/rotate",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }
    // Every $ref resolves inside the document.
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r);
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let pointer = r.trim_start_matches('#');
        assert!(doc.pointer(pointer).is_some(), "unresolved {r}");
    }
    h.running.shutdown().await;
}
