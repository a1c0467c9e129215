//! Idempotency over real HTTP: idempotent methods are repeated freely; POST and PATCH carry an
//! `Idempotency-Key` (one per logical request, the same on every attempt) and are repeated only
//! with it.

mod support;

use errata_client::clock::ManualClock;
use errata_client::{Method, RetryPolicy};
use errata_core::{ApiError, Catalog, Format};
use serde_json::{Value, json};
use support::{FaultServer, Reply, client};

fn busy() -> Reply {
    Reply::error(
        Catalog::builtin(),
        ApiError::code("service_unavailable"),
        Format::Envelope,
    )
}

fn created() -> Reply {
    Reply::json(201, json!({"id": "rep_1"}))
}

fn keys(server: &FaultServer) -> Vec<Option<String>> {
    server
        .seen()
        .iter()
        .map(|s| s.header("idempotency-key").map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_post_gets_one_key_sent_on_every_attempt() {
    let server = FaultServer::start(vec![busy(), Reply::Drop, created()]).await;
    let c = client(&server, &ManualClock::new()).build().unwrap();
    let body = json!({"campaign_ids": ["camp_1"]});
    let out: Value = c.post("/v1/reports").json(&body).send().await.unwrap();
    assert_eq!(out, json!({"id": "rep_1"}));
    let keys = keys(&server);
    assert_eq!(keys.len(), 3);
    let key = keys[0].clone().expect("the client adds a key");
    assert!(
        keys.iter().all(|k| k.as_deref() == Some(key.as_str())),
        "{keys:?}"
    );
    assert_eq!(key.len(), 36, "a UUID: {key}");
    // The body is sent whole on every attempt, including the one the server dropped.
    for seen in server.seen() {
        assert_eq!(serde_json::from_slice::<Value>(&seen.body).unwrap(), body);
    }
}

#[tokio::test]
async fn each_logical_request_gets_its_own_key() {
    let server = FaultServer::start(vec![created(), created()]).await;
    let c = client(&server, &ManualClock::new()).build().unwrap();
    c.post("/v1/reports").send::<Value>().await.unwrap();
    c.patch("/v1/reports/rep_1").send::<Value>().await.unwrap();
    let keys = keys(&server);
    assert!(keys.iter().all(Option::is_some));
    assert_ne!(keys[0], keys[1]);
}

#[tokio::test]
async fn a_key_set_by_the_caller_is_kept() {
    let server = FaultServer::start(vec![busy(), created(), busy(), created()]).await;
    let c = client(&server, &ManualClock::new()).build().unwrap();
    c.post("/v1/charges")
        .idempotency_key("charge-ord_123")
        .send::<Value>()
        .await
        .unwrap();
    c.post("/v1/charges")
        .header("Idempotency-Key", "charge-ord_456")
        .send::<Value>()
        .await
        .unwrap();
    let keys: Vec<_> = keys(&server).into_iter().flatten().collect();
    assert_eq!(
        keys,
        [
            "charge-ord_123",
            "charge-ord_123",
            "charge-ord_456",
            "charge-ord_456"
        ]
    );
}

#[tokio::test]
async fn without_keys_post_and_patch_are_never_repeated() {
    for method in [Method::POST, Method::PATCH] {
        let server = FaultServer::start(vec![busy(), created()]).await;
        let clock = ManualClock::new();
        let c = client(&server, &clock)
            .idempotency_keys(false)
            .build()
            .unwrap();
        let err = c
            .request(method.clone(), "/v1/reports")
            .send::<Value>()
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("service_unavailable"));
        assert_eq!(server.attempts(), 1, "{method}");
        assert_eq!(keys(&server), [None]);
        assert!(clock.sleeps().is_empty());
    }
}

#[tokio::test]
async fn idempotent_methods_are_repeated_without_a_key() {
    for method in [
        Method::GET,
        Method::HEAD,
        Method::PUT,
        Method::DELETE,
        Method::OPTIONS,
    ] {
        let server = FaultServer::start(vec![busy(), Reply::empty(204)]).await;
        let c = client(&server, &ManualClock::new()).build().unwrap();
        let res = c
            .request(method.clone(), "/v1/agents/a1")
            .send_response()
            .await
            .unwrap();
        assert_eq!((res.status(), res.attempts()), (204, 2), "{method}");
        assert_eq!(keys(&server), [None, None], "{method}");
        assert!(server.seen().iter().all(|s| s.method == method.as_str()));
    }
}

#[tokio::test]
async fn a_key_is_added_even_when_retries_are_off() {
    // Whether a POST carries a key does not depend on the policy: every one does.
    let server = FaultServer::start(vec![created()]).await;
    let c = client(&server, &ManualClock::new())
        .retry(RetryPolicy::never())
        .build()
        .unwrap();
    c.post("/v1/reports").send::<Value>().await.unwrap();
    assert!(keys(&server)[0].is_some());
}
