//! The KlayrAI-style service over real HTTP: every example of seed 000 that the service itself
//! sends, exactly, under KlayrAI's catalog; success metadata; tenant isolation; and the same
//! service under other catalogs.

use std::sync::Arc;
use std::time::Duration;

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
    let options = klayrai_reports::Options {
        // Never completes during a test: "one at a time" is checked without timing.
        diagnostic_duration: Duration::from_secs(3600),
        ..klayrai_reports::Options::default()
    };
    let app = klayrai_reports::app(catalog, options)
        .await
        .expect("database");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}")
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    json: Value,
}

async fn send(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = client.request(method, format!("{base}{path}"));
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.expect("body");
    Reply {
        status,
        headers,
        json: serde_json::from_slice(&bytes).expect("a JSON body"),
    }
}

async fn as_tenant(
    base: &str,
    method: &str,
    path: &str,
    tenant: &str,
    body: Option<Value>,
) -> Reply {
    send(base, method, path, &[("x-errata-tenant", tenant)], body).await
}

/// Acme has camp_abc123 (synced); Globex has its own camp_abc123, not synced yet.
async fn seed(base: &str) {
    let synced = json!({"name": "Spring sale", "synced": true});
    let syncing = json!({"name": "New account", "synced": false});
    assert_eq!(
        as_tenant(base, "PUT", "/v1/campaigns/camp_abc123", ACME, Some(synced))
            .await
            .status,
        200
    );
    assert_eq!(
        as_tenant(
            base,
            "PUT",
            "/v1/campaigns/camp_abc123",
            GLOBEX,
            Some(syncing)
        )
        .await
        .status,
        200
    );
}

fn report(campaigns: usize, from: &str, to: &str) -> Value {
    let ids: Vec<String> = (0..campaigns).map(|_| "camp_abc123".to_owned()).collect();
    json!({"account_id": "acc_1", "campaign_ids": ids, "from": from, "to": to})
}

/// The seed's example bodies, as errata-core's fixture holds them (name -> status, body).
fn seed_examples() -> Vec<(String, u16, Value)> {
    let path = format!(
        "{}/../../crates/errata-core/tests/fixtures/seeds/000_klayrai.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Vec::new();
    };
    let fixture: Value = serde_json::from_str(&text).expect("fixture JSON");
    fixture["examples"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["name"].as_str().unwrap_or_default().to_owned(),
                e["status"].as_u64().unwrap_or_default() as u16,
                e["body"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_services_own_seed_examples_come_out_exactly() {
    let base = start(catalog("klayrai")).await;
    seed(&base).await;

    let mut missing_account = report(1, "2024-01-01", "2024-01-31");
    missing_account
        .as_object_mut()
        .map(|o| o.remove("account_id"));
    let cases: Vec<(&str, Reply)> = vec![
        (
            "400 invalid_request (field required)",
            as_tenant(&base, "POST", "/v1/reports", ACME, Some(missing_account)).await,
        ),
        (
            "400 invalid_date_range",
            as_tenant(
                &base,
                "POST",
                "/v1/reports",
                ACME,
                Some(report(1, "2024-01-01", "2024-06-01")),
            )
            .await,
        ),
        (
            "400 too_many_campaigns",
            as_tenant(
                &base,
                "POST",
                "/v1/reports",
                ACME,
                Some(report(25, "2024-01-01", "2024-01-31")),
            )
            .await,
        ),
        (
            "404 not_found",
            as_tenant(
                &base,
                "POST",
                "/v1/campaigns/camp_xyz999/diagnostics",
                ACME,
                None,
            )
            .await,
        ),
        ("409 diagnostic_in_progress", {
            let first = as_tenant(
                &base,
                "POST",
                "/v1/campaigns/camp_abc123/diagnostics",
                ACME,
                None,
            )
            .await;
            assert_eq!(first.status, 202);
            assert_eq!(first.json["data"]["status"], "running");
            as_tenant(
                &base,
                "POST",
                "/v1/campaigns/camp_abc123/diagnostics",
                ACME,
                None,
            )
            .await
        }),
        (
            "422 campaign_not_synced",
            as_tenant(
                &base,
                "POST",
                "/v1/campaigns/camp_abc123/diagnostics",
                GLOBEX,
                None,
            )
            .await,
        ),
    ];
    let expected = [
        (
            400,
            json!({"error": {"type": "invalid_request", "message": "The 'account_id' field is required."}}),
        ),
        (
            400,
            json!({"error": {"type": "invalid_date_range", "message": "Start date must be before end date. Maximum range is 90 days."}}),
        ),
        (
            400,
            json!({"error": {"type": "too_many_campaigns", "message": "Maximum of 20 campaign IDs allowed per report. You provided 25."}}),
        ),
        (
            404,
            json!({"error": {"type": "not_found", "message": "Campaign 'camp_xyz999' not found."}}),
        ),
        (
            409,
            json!({"error": {"type": "diagnostic_in_progress", "message": "A diagnostic is already running for campaign camp_abc123. Please wait for it to complete."}}),
        ),
        (
            422,
            json!({"error": {"type": "campaign_not_synced", "message": "Campaign camp_abc123 has not been synced yet. Data sync is in progress."}}),
        ),
    ];
    let fixture = seed_examples();
    for ((name, reply), (status, body)) in cases.iter().zip(expected) {
        assert_eq!((reply.status, &reply.json), (status, &body), "{name}");
        if let Some((_, s, b)) = fixture.iter().find(|(n, _, _)| n == name) {
            assert_eq!(
                (reply.status, &reply.json),
                (*s, b),
                "{name}: the seed fixture"
            );
        }
    }
}

#[tokio::test]
async fn a_valid_report_is_queued_with_rate_limit_metadata() {
    let base = start(catalog("klayrai")).await;
    seed(&base).await;
    let gateway = [("x-errata-tenant", ACME), ("x-ratelimit-remaining", "57")];
    let queued = send(
        &base,
        "POST",
        "/v1/reports",
        &gateway,
        Some(report(2, "2024-01-01", "2024-03-31")),
    )
    .await;
    assert_eq!(queued.status, 201);
    let id = queued.json["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(id.starts_with("rep_"), "{id}");
    assert_eq!(
        queued.json,
        json!({
            "data": {
                "id": id,
                "account_id": "acc_1",
                "campaign_ids": ["camp_abc123", "camp_abc123"],
                "from": "2024-01-01",
                "to": "2024-03-31",
                "status": "queued"
            },
            "meta": {"remaining_requests": 57}
        })
    );
    let listed = send(&base, "GET", "/v1/campaigns", &gateway, None).await;
    assert_eq!(
        listed.json,
        json!({
            "data": [{"id": "camp_abc123", "name": "Spring sale", "synced": true}],
            "meta": {"remaining_requests": 57}
        })
    );
    assert!(listed.headers.contains_key("x-request-id"));
    // Errors keep the catalog's envelope, without metadata.
    let refused = send(
        &base,
        "POST",
        "/v1/reports",
        &gateway,
        Some(report(25, "2024-01-01", "2024-01-02")),
    )
    .await;
    assert_eq!(refused.json["meta"], Value::Null);
}

#[tokio::test]
async fn another_tenants_campaign_is_not_found_never_forbidden() {
    let base = start(catalog("klayrai")).await;
    as_tenant(
        &base,
        "PUT",
        "/v1/campaigns/camp_acme_only",
        ACME,
        Some(json!({"name": "Mine"})),
    )
    .await;
    let foreign = as_tenant(&base, "GET", "/v1/campaigns/camp_acme_only", GLOBEX, None).await;
    let missing = as_tenant(
        &base,
        "GET",
        "/v1/campaigns/camp_acme_only",
        "initech",
        None,
    )
    .await;
    assert_eq!(foreign.status, 404);
    assert_eq!(
        foreign.json,
        json!({"error": {"type": "not_found", "message": "Campaign 'camp_acme_only' not found."}})
    );
    assert_eq!(
        (missing.status, missing.json),
        (foreign.status, foreign.json)
    );
    let report_on_foreign = as_tenant(
        &base,
        "POST",
        "/v1/reports",
        GLOBEX,
        Some(json!({"account_id": "a", "campaign_ids": ["camp_acme_only"], "from": "2024-01-01", "to": "2024-01-02"})),
    )
    .await;
    assert_eq!(report_on_foreign.status, 404);
}

#[tokio::test]
async fn the_service_runs_with_any_catalog() {
    // The default catalog has the same code names; Klyra has none of them (internal error).
    let base = start(catalog("default")).await;
    seed(&base).await;
    let too_many = as_tenant(
        &base,
        "POST",
        "/v1/reports",
        ACME,
        Some(report(21, "2024-01-01", "2024-01-02")),
    )
    .await;
    let id = too_many.headers["x-request-id"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(too_many.status, 400);
    assert_eq!(
        too_many.json,
        json!({"error": {
            "code": "too_many_campaigns",
            "type": "invalid_request_error",
            "message": "Maximum of 20 campaign IDs allowed per report. You provided 21.",
            "param": "campaign_ids",
            "request_id": id,
            "doc_url": "/errors#too_many_campaigns"
        }})
    );
    let missing = as_tenant(
        &base,
        "POST",
        "/v1/reports",
        ACME,
        Some(json!({"campaign_ids": []})),
    )
    .await;
    assert_eq!(missing.status, 422);
    assert_eq!(
        missing.json["error"]["details"],
        json!([
            {"path": ["account_id"], "message": "Required", "code": "invalid_type"},
            {"path": ["campaign_ids"], "message": "Array must contain at least 1 element(s)", "code": "too_small"},
            {"path": ["from"], "message": "Required", "code": "invalid_type"},
            {"path": ["to"], "message": "Required", "code": "invalid_type"}
        ])
    );

    let base = start(catalog("klyra")).await;
    seed(&base).await;
    let running = as_tenant(
        &base,
        "POST",
        "/v1/campaigns/camp_abc123/diagnostics",
        ACME,
        None,
    )
    .await;
    assert_eq!(running.status, 202);
    let again = as_tenant(
        &base,
        "POST",
        "/v1/campaigns/camp_abc123/diagnostics",
        ACME,
        None,
    )
    .await;
    assert_eq!(
        (again.status, &again.json["error"]["code"]),
        (500, &json!("internal_server_error"))
    );
    let unknown = as_tenant(
        &base,
        "POST",
        "/v1/campaigns/camp_xyz999/diagnostics",
        ACME,
        None,
    )
    .await;
    assert_eq!(
        (unknown.status, &unknown.json["error"]["message"]),
        (404, &json!("Campaign 'camp_xyz999' was not found."))
    );
}
