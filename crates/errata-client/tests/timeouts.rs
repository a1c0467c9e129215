//! Timeouts over real HTTP: a slow server, a deadline that ends an attempt in flight, and a
//! POST that must not be repeated blind. Per-attempt timeouts are real (100-150 ms); the waits
//! between attempts go through a manual clock and take no time.

mod support;

use std::time::Duration;

use errata_client::clock::ManualClock;
use errata_client::{Error, RetryPolicy};
use errata_core::{ApiError, Catalog, Format};
use serde_json::{Value, json};
use support::{FaultServer, Reply, client, secs};

const SLOW: Duration = Duration::from_secs(3);
const TIMEOUT: Duration = Duration::from_millis(100);

fn ok() -> Reply {
    Reply::json(200, json!({"ok": true}))
}

#[tokio::test]
async fn each_attempt_times_out_then_the_timeout_is_returned() {
    let server = FaultServer::start(vec![ok().after(SLOW); 3]).await;
    let clock = ManualClock::new();
    let c = client(&server, &clock).timeout(TIMEOUT).build().unwrap();
    let err = c.get("/v1/report").send::<Value>().await.unwrap_err();
    let Error::Timeout(t) = &err else {
        panic!("expected a timeout, got {err:?}")
    };
    assert_eq!(t.timeout(), TIMEOUT);
    assert!(!t.is_deadline());
    assert_eq!(t.attempts(), 3);
    assert!(err.is_retryable());
    assert_eq!(err.request_id(), None);
    assert_eq!(server.attempts(), 3);
    assert_eq!(clock.sleeps(), [secs(0.5), secs(1.0)]);
    assert_eq!(
        err.to_string(),
        "request timed out: no response within 100ms (after 3 attempts)"
    );
}

#[tokio::test]
async fn a_timeout_is_retried_and_the_next_attempt_can_succeed() {
    let server = FaultServer::start(vec![ok().after(SLOW), ok()]).await;
    let clock = ManualClock::new();
    // Roomier than TIMEOUT: the second attempt must succeed even on a loaded machine.
    let timeout = Duration::from_millis(500);
    let c = client(&server, &clock).timeout(timeout).build().unwrap();
    let res = c.get("/v1/report").send_response().await.unwrap();
    assert_eq!(res.attempts(), 2);
    assert_eq!(clock.sleeps(), [secs(0.5)]);
}

#[tokio::test]
async fn a_request_can_set_its_own_timeout() {
    let server = FaultServer::start(vec![ok().after(SLOW)]).await;
    let c = client(&server, &ManualClock::new())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let err = c
        .get("/v1/report")
        .timeout(TIMEOUT)
        .retry(RetryPolicy::never())
        .send::<Value>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(ref t) if t.timeout() == TIMEOUT));
}

#[tokio::test]
async fn the_deadline_ends_the_attempt_in_flight() {
    // Deadline 1.15 s: a 503 at t=0, a 1 s wait, then 150 ms left for the second attempt.
    let busy = Reply::error(
        Catalog::builtin(),
        ApiError::code("service_unavailable"),
        Format::Envelope,
    );
    let server = FaultServer::start(vec![busy, ok().after(SLOW), ok()]).await;
    let clock = ManualClock::new();
    let policy = RetryPolicy::default()
        .max_retries(5)
        .initial_delay(secs(1.0))
        .deadline(secs(1.15));
    let c = client(&server, &clock).retry(policy).build().unwrap();
    let err = c.get("/v1/report").send::<Value>().await.unwrap_err();
    let Error::Timeout(t) = &err else {
        panic!("expected a timeout, got {err:?}")
    };
    assert!(t.is_deadline());
    assert_eq!(t.timeout(), Duration::from_millis(150));
    assert_eq!(t.attempts(), 2);
    assert_eq!(server.attempts(), 2, "no attempt after the deadline");
    assert_eq!(clock.sleeps(), [secs(1.0)]);
}

#[tokio::test]
async fn a_post_without_an_idempotency_key_is_not_repeated_after_a_timeout() {
    let server = FaultServer::start(vec![ok().after(SLOW), ok()]).await;
    let clock = ManualClock::new();
    let c = client(&server, &clock)
        .timeout(TIMEOUT)
        .idempotency_keys(false)
        .build()
        .unwrap();
    let err = c
        .post("/v1/charges")
        .json(&json!({"amount": 100}))
        .send::<Value>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)));
    assert!(
        err.is_retryable(),
        "retryable in kind, but the client may not repeat it"
    );
    assert_eq!(server.attempts(), 1);
    assert!(clock.sleeps().is_empty());
}
