//! The Kaplaix-style service over real HTTP: seed 004's example byte for byte, 202 on ingest,
//! conflicts, normalization failures, tenant isolation, and the same service under other
//! catalogs.

use std::sync::Arc;

use errata_core::Catalog;
use serde_json::{Value, json};

const ACME: &str = "acme";
const GLOBEX: &str = "globex";

fn catalog(name: &str) -> Arc<Catalog> {
    if name == "default" {
        return Arc::new(Catalog::builtin().clone());
    }
    let path = format!("{}/../../catalogs/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    Arc::new(Catalog::from_file(&path).unwrap_or_else(|d| panic!("{path}: {d:?}")))
}

async fn start(catalog: Arc<Catalog>) -> String {
    let app = kaplaix_events::app(catalog, "sqlite::memory:")
        .await
        .expect("database");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}")
}

struct Reply {
    status: u16,
    raw: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.raw).expect("a JSON body")
    }
}

async fn send(base: &str, method: &str, path: &str, tenant: &str, body: Option<&str>) -> Reply {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = client
        .request(method, format!("{base}{path}"))
        .header("x-errata-tenant", tenant);
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let res = req.send().await.expect("request");
    Reply {
        status: res.status().as_u16(),
        raw: res.bytes().await.expect("body").to_vec(),
    }
}

/// Seed 004's example, as the page shows it, without the whitespace.
const SEED_VALIDATION_ERROR: &str = r#"{"error":{"code":"VALIDATION_ERROR","message":"Invalid request body","details":[{"path":["eventId"],"message":"Invalid uuid","code":"invalid_string"},{"path":["category"],"message":"Required","code":"invalid_type"}]}}"#;

#[tokio::test]
async fn the_seed_validation_example_comes_out_byte_for_byte() {
    let base = start(catalog("kaplaix")).await;
    let reply = send(
        &base,
        "POST",
        "/v1/events",
        ACME,
        Some(r#"{"eventId": "evt-1", "agentId": "agt_1", "payload": {"tool": "search"}}"#),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(String::from_utf8_lossy(&reply.raw), SEED_VALIDATION_ERROR);

    // The same example as errata-core's seed fixture holds it.
    let fixture = format!(
        "{}/../../crates/errata-core/tests/fixtures/seeds/004_kaplaix.json",
        env!("CARGO_MANIFEST_DIR")
    );
    if let Ok(text) = std::fs::read_to_string(&fixture) {
        let fixture: Value = serde_json::from_str(&text).expect("fixture JSON");
        let body = &fixture["examples"][0]["body"];
        assert_eq!(&reply.json(), body);
    }
}

#[tokio::test]
async fn events_are_accepted_and_read_back_by_their_tenant_only() {
    let base = start(catalog("kaplaix")).await;
    let agent = send(
        &base,
        "POST",
        "/v1/agents",
        ACME,
        Some(r#"{"agentId": "agt_1", "name": "Support bot"}"#),
    )
    .await;
    assert_eq!(agent.status, 201);
    assert_eq!(
        agent.json(),
        json!({"agentId": "agt_1", "name": "Support bot"})
    );

    let event = r#"{"eventId": "6F1C5D0E-8A7B-4C1D-9E2F-3A4B5C6D7E8F", "agentId": "agt_1",
                    "category": "tool_call", "timestamp": "2024-06-01T12:00:00Z",
                    "payload": {"tool": "search"}}"#;
    let accepted = send(&base, "POST", "/v1/events", ACME, Some(event)).await;
    assert_eq!(accepted.status, 202);
    assert_eq!(
        accepted.json(),
        json!({"accepted": true, "eventId": "6f1c5d0e-8a7b-4c1d-9e2f-3a4b5c6d7e8f"})
    );
    let again = send(&base, "POST", "/v1/events", ACME, Some(event)).await;
    assert_eq!(again.status, 202, "ingestion is idempotent by eventId");

    let path = "/v1/events/6f1c5d0e-8a7b-4c1d-9e2f-3a4b5c6d7e8f";
    let own = send(&base, "GET", path, ACME, None).await;
    assert_eq!(own.status, 200);
    assert_eq!(
        own.json(),
        json!({
            "eventId": "6f1c5d0e-8a7b-4c1d-9e2f-3a4b5c6d7e8f",
            "agentId": "agt_1",
            "category": "tool_call",
            "timestamp": "2024-06-01T12:00:00Z",
            "payload": {"tool": "search"}
        })
    );

    // Globex asks for acme's event, then for one that exists nowhere: the same answer.
    let foreign = send(&base, "GET", path, GLOBEX, None).await;
    assert_eq!(foreign.status, 404);
    assert_eq!(
        String::from_utf8_lossy(&foreign.raw),
        r#"{"error":{"code":"NOT_FOUND","message":"Event '6f1c5d0e-8a7b-4c1d-9e2f-3a4b5c6d7e8f' not found"}}"#
    );
    let fresh = start(catalog("kaplaix")).await;
    let missing = send(&fresh, "GET", path, GLOBEX, None).await;
    assert_eq!(
        (missing.status, missing.raw),
        (foreign.status, foreign.raw.clone())
    );

    let foreign_agent = send(&base, "GET", "/v1/agents/agt_1", GLOBEX, None).await;
    assert_eq!(foreign_agent.status, 404);
    assert_eq!(
        foreign_agent.json(),
        json!({"error": {"code": "NOT_FOUND", "message": "Agent 'agt_1' not found"}})
    );
    // An event for an agent of another tenant: the agent is not found, nothing is stored.
    let event_for_foreign_agent = send(&base, "POST", "/v1/events", GLOBEX, Some(event)).await;
    assert_eq!(event_for_foreign_agent.status, 404);
}

#[tokio::test]
async fn a_duplicate_agent_is_a_conflict_within_a_tenant_only() {
    let base = start(catalog("kaplaix")).await;
    let body = Some(r#"{"agentId": "agt_1", "name": "Support bot"}"#);
    assert_eq!(
        send(&base, "POST", "/v1/agents", ACME, body).await.status,
        201
    );
    let duplicate = send(&base, "POST", "/v1/agents", ACME, body).await;
    assert_eq!(duplicate.status, 409);
    assert_eq!(
        duplicate.json(),
        json!({"error": {"code": "CONFLICT", "message": "Agent already exists"}})
    );
    // Another tenant's agent ids are not visible, not even as conflicts.
    assert_eq!(
        send(&base, "POST", "/v1/agents", GLOBEX, body).await.status,
        201
    );
}

#[tokio::test]
async fn an_event_that_cannot_be_normalized_is_unprocessable() {
    let base = start(catalog("kaplaix")).await;
    send(
        &base,
        "POST",
        "/v1/agents",
        ACME,
        Some(r#"{"agentId": "agt_1", "name": "Bot"}"#),
    )
    .await;
    let event = |category: &str, payload: &str| {
        format!(
            r#"{{"eventId": "6f1c5d0e-8a7b-4c1d-9e2f-3a4b5c6d7e8f", "agentId": "agt_1",
                 "category": "{category}", "payload": {payload}}}"#
        )
    };
    let unknown = send(
        &base,
        "POST",
        "/v1/events",
        ACME,
        Some(&event("telemetry", "{}")),
    )
    .await;
    assert_eq!(unknown.status, 422);
    assert_eq!(
        unknown.json(),
        json!({"error": {
            "code": "NORMALIZATION_FAILED",
            "message": "Event could not be normalized: unknown category 'telemetry'"
        }})
    );
    let incomplete = send(
        &base,
        "POST",
        "/v1/events",
        ACME,
        Some(&event("llm_call", "{}")),
    )
    .await;
    assert_eq!(
        incomplete.json(),
        json!({"error": {
            "code": "NORMALIZATION_FAILED",
            "message": "Event could not be normalized: category 'llm_call' requires the payload field 'model'"
        }})
    );
}

#[tokio::test]
async fn the_service_runs_with_any_catalog() {
    let body = Some(r#"{"agentId": "agt_1", "name": "Bot"}"#);
    let invalid = Some(r#"{"eventId": "evt-1", "agentId": "agt_1"}"#);
    // (catalog, the invalid event's status and code, the duplicate agent's status and code)
    let expected = [
        (
            "default",
            422,
            "validation_error",
            409,
            "resource_already_exists",
        ),
        (
            "klyra",
            400,
            "invalid_request",
            500,
            "internal_server_error",
        ),
        (
            "bearer",
            422,
            "validation_error",
            409,
            "resource_already_exists",
        ),
    ];
    for (name, invalid_status, invalid_code, dup_status, dup_code) in expected {
        let base = start(catalog(name)).await;
        let reply = send(&base, "POST", "/v1/events", ACME, invalid).await;
        assert_eq!(reply.status, invalid_status, "{name}");
        assert_eq!(reply.json()["error"]["code"], invalid_code, "{name}");
        send(&base, "POST", "/v1/agents", ACME, body).await;
        let dup = send(&base, "POST", "/v1/agents", ACME, body).await;
        assert_eq!(dup.status, dup_status, "{name}");
        assert_eq!(dup.json()["error"]["code"], dup_code, "{name}");
    }
    // The default catalog's details for the seed's request.
    let base = start(catalog("default")).await;
    let reply = send(&base, "POST", "/v1/events", ACME, invalid).await;
    assert_eq!(
        reply.json()["error"]["details"],
        json!([
            {"path": ["eventId"], "message": "Invalid uuid", "code": "invalid_string"},
            {"path": ["category"], "message": "Required", "code": "invalid_type"}
        ])
    );
}

#[tokio::test]
async fn a_bad_export_range_is_raised_by_name_in_the_raise_form() {
    for (name, range_code, param_code) in [
        ("default", "invalid_date_range", "invalid_parameter"),
        ("kaplaix", "VALIDATION_ERROR", "VALIDATION_ERROR"),
    ] {
        let base = start(catalog(name)).await;
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let cases = [
            (
                "from=2026-01-01&to=2026-06-30",
                json!({"code": range_code, "args": {"max_days": 90}, "param": "to"}),
            ),
            (
                "from=2026-03-01&to=2026-02-01",
                json!({"code": range_code, "args": {"max_days": 90}, "param": "to"}),
            ),
            (
                "to=2026-02-01",
                json!({"code": param_code, "param": "from"}),
            ),
            (
                "from=2026-02-01&to=soon",
                json!({"code": param_code, "param": "to"}),
            ),
        ];
        for (query, raise) in cases {
            let res = client
                .get(format!("{base}/v1/exports?{query}"))
                .send()
                .await
                .expect("request");
            assert_eq!(res.status().as_u16(), 400, "{name} {query}");
            assert_eq!(
                res.headers()["content-type"],
                "application/vnd.errata+json",
                "{name} {query}"
            );
            let body: Value = res.json().await.expect("JSON");
            assert_eq!(body, raise, "{name} {query}");
        }
        let ok = send(
            &base,
            "GET",
            "/v1/exports?from=2026-01-01&to=2026-03-31",
            ACME,
            None,
        )
        .await;
        assert_eq!(ok.status, 200);
        assert_eq!(
            ok.json(),
            json!({"from": "2026-01-01", "to": "2026-03-31", "events": []})
        );
    }
}
