//! What goes on the wire and what comes back on success: the key in the header the client was
//! told to use, user agent, Accept, JSON bodies, paths under the base URL, query strings, typed
//! responses, and requests refused before sending.

mod support;

use errata_client::clock::ManualClock;
use errata_client::{Auth, BuildError, Client, Error};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support::{FaultServer, Reply, client};

#[derive(Debug, Serialize)]
struct NewReport {
    campaign_ids: Vec<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Report {
    id: String,
    campaigns: u32,
}

#[tokio::test]
async fn a_request_carries_key_user_agent_accept_and_json() {
    let server = FaultServer::start(vec![
        Reply::json(201, json!({"id": "rep_1", "campaigns": 2}))
            .with_header("x-request-id", "req_ok1"),
    ])
    .await;
    let c = Client::builder(format!("{}/v1/", server.url()))
        .api_key("sk_test_123")
        .build()
        .unwrap();
    let report: Report = c
        .post("/reports")
        .query(&[("dry_run", "false")])
        .json(&NewReport {
            campaign_ids: vec!["camp_1".into(), "camp_2".into()],
        })
        .send()
        .await
        .unwrap();
    assert_eq!(
        report,
        Report {
            id: "rep_1".into(),
            campaigns: 2
        }
    );
    let seen = &server.seen()[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.uri, "/v1/reports?dry_run=false");
    assert_eq!(seen.header("authorization"), Some("Bearer sk_test_123"));
    assert_eq!(
        seen.header("user-agent"),
        Some(concat!("errata-client/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(seen.header("accept"), Some("application/json"));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(
        serde_json::from_slice::<Value>(&seen.body).unwrap(),
        json!({"campaign_ids": ["camp_1", "camp_2"]})
    );
}

#[tokio::test]
async fn the_key_can_travel_in_a_named_header() {
    let server = FaultServer::start(vec![Reply::empty(204)]).await;
    let c = client(&server, &ManualClock::new())
        .api_key("klyr_test_abc")
        .auth(Auth::Header("x-api-key".into()))
        .user_agent("reports-sync/1.4")
        .build()
        .unwrap();
    c.delete("/v1/agents/a1").send::<()>().await.unwrap();
    let seen = &server.seen()[0];
    assert_eq!(seen.header("x-api-key"), Some("klyr_test_abc"));
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(seen.header("user-agent"), Some("reports-sync/1.4"));
}

#[tokio::test]
async fn without_a_key_no_auth_header_is_sent() {
    let server = FaultServer::start(vec![Reply::json(200, json!([]))]).await;
    let c = Client::builder(server.url()).build().unwrap();
    let list: Vec<Value> = c.get("v1/agents").send().await.unwrap();
    assert!(list.is_empty());
    assert_eq!(server.seen()[0].uri, "/v1/agents");
    assert_eq!(server.seen()[0].header("authorization"), None);
}

#[tokio::test]
async fn a_success_response_is_available_whole() {
    let server = FaultServer::start(vec![
        Reply::json(200, json!({"id": "rep_1", "campaigns": 1}))
            .with_header("x-request-id", "req_ok2")
            .with_header("ratelimit-remaining", "99"),
        Reply::empty(204),
    ])
    .await;
    let c = client(&server, &ManualClock::new()).build().unwrap();
    let res = c.get("/v1/reports/rep_1").send_response().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.request_id(), Some("req_ok2"));
    assert_eq!(res.headers()["ratelimit-remaining"], "99");
    assert_eq!(res.attempts(), 1);
    assert_eq!(res.json::<Report>().unwrap().id, "rep_1");
    // 204 No Content reads as () or None.
    let res = c.delete("/v1/reports/rep_1").send_response().await.unwrap();
    res.json::<()>().unwrap();
    assert_eq!(res.json::<Option<Report>>().unwrap(), None);
}

#[tokio::test]
async fn a_request_that_cannot_be_built_is_not_sent() {
    let server = FaultServer::start(vec![]).await;
    let c = client(&server, &ManualClock::new()).build().unwrap();
    for req in [
        c.get("/v1/x").header("bad name", "v"),
        c.get("/v1/x").header("x-ok", "line\nbreak"),
        c.post("/v1/x").idempotency_key("bad\nkey"),
    ] {
        let err = req.send::<Value>().await.unwrap_err();
        assert!(matches!(err, Error::Request(_)), "{err:?}");
        assert!(!err.is_retryable());
        assert_eq!(err.attempts(), 0);
    }
    assert_eq!(server.attempts(), 0);
}

#[tokio::test]
async fn a_client_that_cannot_be_built_says_why() {
    let errors = [
        Client::builder("localhost:8080").build().unwrap_err(),
        Client::builder("ftp://example.com").build().unwrap_err(),
        Client::builder("http://127.0.0.1:8080")
            .catalog_file("/no/such/catalog.toml")
            .build()
            .unwrap_err(),
        Client::builder("http://127.0.0.1:8080")
            .api_key("sk\ntest")
            .build()
            .unwrap_err(),
        Client::builder("http://127.0.0.1:8080")
            .api_key("k")
            .auth(Auth::Header("bad header".into()))
            .build()
            .unwrap_err(),
    ];
    assert!(
        matches!(errors[0], BuildError::BaseUrl { .. }),
        "{}",
        errors[0]
    );
    assert!(
        matches!(errors[1], BuildError::BaseUrl { .. }),
        "{}",
        errors[1]
    );
    assert!(matches!(errors[2], BuildError::Catalog(_)), "{}", errors[2]);
    assert!(
        matches!(errors[3], BuildError::Header { .. }),
        "{}",
        errors[3]
    );
    assert!(
        !errors[3].to_string().contains("sk"),
        "the key is never shown: {}",
        errors[3]
    );
    assert!(
        matches!(errors[4], BuildError::Header { .. }),
        "{}",
        errors[4]
    );
}

#[test]
fn debug_output_hides_the_key() {
    let c = Client::builder("http://127.0.0.1:8080")
        .api_key("sk_live_secret")
        .build()
        .unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains("sk_live_secret"), "{debug}");
    assert!(debug.contains("authorization"), "{debug}");
}

#[tokio::test]
async fn a_header_set_by_the_caller_replaces_the_default() {
    let server = FaultServer::start(vec![Reply::json(200, json!({}))]).await;
    let c = client(&server, &ManualClock::new()).build().unwrap();
    c.get("/v1/x")
        .header("Accept", "application/problem+json")
        .header("x-tenant", "acme")
        .send::<Value>()
        .await
        .unwrap();
    let seen = &server.seen()[0];
    let accepts: Vec<_> = seen.headers.iter().filter(|(n, _)| n == "accept").collect();
    assert_eq!(accepts.len(), 1);
    assert_eq!(seen.header("accept"), Some("application/problem+json"));
    assert_eq!(seen.header("x-tenant"), Some("acme"));
}

#[test]
fn requests_can_be_spawned() {
    fn assert_send<T: Send + 'static>(_: T) {}
    let c = Client::builder("http://127.0.0.1:9").build().unwrap();
    assert_send(c.get("/v1/x").send::<Value>());
    assert_send(c.post("/v1/x").json(&json!({})).send_response());
    assert_send(c.clone());
}
