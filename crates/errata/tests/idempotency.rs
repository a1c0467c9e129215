//! Idempotency keys over real HTTP: an upstream that counts how often each request really ran,
//! the gateway in front of it, and exact status, headers and bodies for each decision. The
//! Redis tests start a throwaway `redis-server` (skipped without one, except under CI).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use errata_store::counters::RedisCounters;
use serde_json::{Value, json};
use support::*;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// An upstream that counts executions; `/v1/held` waits for a permit of `gate`.
struct Upstream {
    url: String,
    runs: Arc<AtomicUsize>,
    gate: Arc<Semaphore>,
}

impl Upstream {
    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }
}

async fn upstream() -> Upstream {
    let runs = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(0));
    // Every handler counts one execution first; the misbehaving ones misbehave on their first
    // call only.
    let order = {
        let runs = Arc::clone(&runs);
        move |headers: HeaderMap, body: Bytes| {
            let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
            async move { created(n, &headers, &body) }
        }
    };
    let held = {
        let (runs, gate) = (Arc::clone(&runs), Arc::clone(&gate));
        move |headers: HeaderMap, body: Bytes| {
            let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
            let gate = Arc::clone(&gate);
            async move {
                let _permit = gate.acquire().await;
                created(n, &headers, &body)
            }
        }
    };
    // 4 KiB in 64-byte chunks, no declared length; or declared.
    let big = {
        let runs = Arc::clone(&runs);
        move || {
            runs.fetch_add(1, Ordering::SeqCst);
            async {
                let chunks =
                    (0..64).map(|i| Ok::<_, std::io::Error>(vec![b'a' + (i % 26) as u8; 64]));
                Body::from_stream(futures_util::stream::iter(chunks))
            }
        }
    };
    let big_declared = {
        let runs = Arc::clone(&runs);
        move || {
            runs.fetch_add(1, Ordering::SeqCst);
            async { vec![b'z'; 4096] }
        }
    };
    // The first call breaks off mid-body; later ones answer.
    let broken = {
        let runs = Arc::clone(&runs);
        let calls = Arc::new(AtomicUsize::new(0));
        move |headers: HeaderMap, body: Bytes| {
            let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
            let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                if first {
                    // The head and a first chunk go out; then the stream fails.
                    let chunks = futures_util::stream::unfold(0, |i| async move {
                        match i {
                            0 => Some((Ok(b"{\"partial\":".to_vec()), 1)),
                            1 => {
                                tokio::time::sleep(Duration::from_millis(200)).await;
                                Some((Err(std::io::Error::other("upstream reset")), 2))
                            }
                            _ => None,
                        }
                    });
                    (StatusCode::CREATED, Body::from_stream(chunks)).into_response()
                } else {
                    created(n, &headers, &body)
                }
            }
        }
    };
    // The first call is slower than the gateway's response timeout.
    let slow_once = {
        let runs = Arc::clone(&runs);
        let calls = Arc::new(AtomicUsize::new(0));
        move |headers: HeaderMap, body: Bytes| {
            let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
            let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                if first {
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                }
                created(n, &headers, &body)
            }
        }
    };
    // A 500 in the envelope, then successes.
    let fails = {
        let runs = Arc::clone(&runs);
        let calls = Arc::new(AtomicUsize::new(0));
        move |headers: HeaderMap, body: Bytes| {
            let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
            let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                if first {
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        [("content-type", "application/json")],
                        r#"{"error":{"code":"internal_error","type":"api_error","message":"The order service crashed.","param":null}}"#,
                    )
                        .into_response()
                } else {
                    created(n, &headers, &body)
                }
            }
        }
    };
    let empty = {
        let runs = Arc::clone(&runs);
        move || {
            runs.fetch_add(1, Ordering::SeqCst);
            async { StatusCode::NO_CONTENT }
        }
    };
    let app = Router::new()
        .route("/v1/orders", any(order.clone()))
        .route("/v1/orders/{*rest}", any(order.clone()))
        .route("/v1/plain", any(order))
        .route("/v1/held", post(held))
        .route("/v1/big", post(big))
        .route("/v1/big-declared", post(big_declared))
        .route("/v1/broken", post(broken))
        .route("/v1/slow-once", post(slow_once))
        .route("/v1/fails", post(fails))
        .route("/v1/empty", post(empty));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    Upstream { url, runs, gate }
}

/// The upstream's answer to execution `n`: 201 with per-execution headers and a body naming
/// the request id it saw.
fn created(n: usize, headers: &HeaderMap, body: &[u8]) -> Response {
    let id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    (
        StatusCode::CREATED,
        [
            ("location", format!("/v1/orders/ord_{n}")),
            ("set-cookie", format!("session=s{n}")),
        ],
        axum::Json(json!({
            "id": format!("ord_{n}"),
            "request_id": id,
            "received": String::from_utf8_lossy(body),
        })),
    )
        .into_response()
}

const POLICY: &str = r#"
[timeouts]
response_ms = 500

[idempotency]
ttl_hours = 1
max_body_bytes = 1024

[[routes]]
path = "/v1"
idempotency = true
content_types = ["application/json"]

[[routes]]
path = "/v1/plain"
"#;

async fn gateway(extra: &str) -> (Harness, Upstream) {
    let up = upstream().await;
    let h = start_with_upstream(extra, &up.url, Arc::new(Semaphore::new(0))).await;
    (h, up)
}

/// One answer, whole.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn id(&self) -> String {
        request_id(&self.headers, &self.json())
    }
}

async fn send(
    h: &Harness,
    method: &str,
    path: &str,
    key: &str,
    idem: Option<&str>,
    body: &str,
) -> Answer {
    let mut req = h
        .http
        .request(method.parse().unwrap(), format!("{}{path}", h.base))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(k) = idem {
        req = req.header("idempotency-key", k);
    }
    let res = req.send().await.unwrap();
    Answer {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: res.bytes().await.unwrap(),
    }
}

/// The recorded parts of an answer: status, body and the upstream's own headers.
fn recorded(a: &Answer) -> (u16, Bytes, Vec<Option<String>>) {
    let h = ["content-type", "location", "set-cookie", "content-length"]
        .iter()
        .map(|n| a.header(n).map(str::to_owned))
        .collect();
    (a.status, a.body.clone(), h)
}

const ORDER: &str = r#"{"sku":"mug","qty":2}"#;

#[tokio::test]
async fn sequential_retries_run_once_and_replay_byte_for_byte() {
    let (h, up) = gateway(POLICY).await;
    let (key, _) = h.key(json!({})).await;
    let first = send(&h, "POST", "/v1/orders", &key, Some("order-1"), ORDER).await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("idempotent-replayed"), None);
    let first_id = first.id();
    assert_eq!(
        first.json(),
        json!({"id": "ord_1", "request_id": first_id, "received": ORDER})
    );
    for _ in 0..5 {
        let again = send(&h, "POST", "/v1/orders", &key, Some("order-1"), ORDER).await;
        assert_eq!(recorded(&again), recorded(&first), "byte-identical replay");
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        let id = again.id();
        assert_ne!(id, first_id, "a replay has a request id of its own");
        assert_eq!(
            again.json()["request_id"],
            first_id.as_str(),
            "the original id stays in the body"
        );
    }
    assert_eq!(up.runs(), 1);
    // Another key is another request.
    let other = send(&h, "POST", "/v1/orders", &key, Some("order-2"), ORDER).await;
    assert_eq!(
        (other.status, other.json()["id"].clone()),
        (201, json!("ord_2"))
    );
    assert_eq!(up.runs(), 2);

    let metrics = h
        .http
        .get(format!("{}/metrics", h.admin))
        .bearer_auth(&h.running.admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("errata_idempotency_total{outcome=\"replayed\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("errata_idempotency_total{outcome=\"stored\"}"));
    h.running.shutdown().await;
}

#[tokio::test]
async fn concurrent_requests_with_one_key_run_once() {
    let (h, up) = gateway(POLICY).await;
    let (key, _) = h.key(json!({})).await;
    let h = Arc::new(h);
    let first = {
        let (h, key) = (Arc::clone(&h), key.clone());
        tokio::spawn(async move { send(&h, "POST", "/v1/held", &key, Some("k"), ORDER).await })
    };
    while up.runs() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // While the first is held upstream, every other attempt is told to come back.
    let mut others = Vec::new();
    for _ in 0..8 {
        let (h, key) = (Arc::clone(&h), key.clone());
        others.push(tokio::spawn(async move {
            send(&h, "POST", "/v1/held", &key, Some("k"), ORDER).await
        }));
    }
    for t in others {
        let a = t.await.unwrap();
        assert_eq!(a.status, 409);
        assert_eq!(a.header("retry-after"), Some("1"));
        let id = a.id();
        assert_eq!(
            a.json(),
            envelope(
                "idempotency_key_in_use",
                "conflict_error",
                "A request with this idempotency key is still being processed. Retry after 1 seconds.",
                &id
            )
        );
    }
    up.gate.add_permits(100);
    let first = first.await.unwrap();
    assert_eq!(first.status, 201);
    // Now they all get the answer.
    let mut again = Vec::new();
    for _ in 0..8 {
        let (h, key) = (Arc::clone(&h), key.clone());
        again.push(tokio::spawn(async move {
            send(&h, "POST", "/v1/held", &key, Some("k"), ORDER).await
        }));
    }
    for t in again {
        let a = t.await.unwrap();
        assert_eq!(recorded(&a), recorded(&first));
        assert_eq!(a.header("idempotent-replayed"), Some("true"));
    }
    assert_eq!(up.runs(), 1);
}

#[tokio::test]
async fn many_at_once_with_one_key_run_once() {
    let (h, up) = gateway(POLICY).await;
    let (key, _) = h.key(json!({})).await;
    let h = Arc::new(h);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (h, key) = (Arc::clone(&h), key.clone());
        tasks.push(tokio::spawn(async move {
            send(&h, "POST", "/v1/orders", &key, Some("burst"), ORDER).await
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert_eq!(up.runs(), 1);
    let created: Vec<_> = answers.iter().filter(|a| a.status == 201).collect();
    assert!(!created.is_empty());
    for a in &answers {
        assert!(a.status == 201 || a.status == 409, "{}", a.status);
    }
    for a in &created {
        assert_eq!(a.json()["id"], "ord_1");
    }
}

#[tokio::test]
async fn a_key_reused_with_another_body_path_or_method_is_refused() {
    let (h, up) = gateway(POLICY).await;
    let (key, _) = h.key(json!({})).await;
    let first = send(&h, "POST", "/v1/orders", &key, Some("reused"), ORDER).await;
    assert_eq!(first.status, 201);
    let cases = [
        ("POST", "/v1/orders", r#"{"sku":"mug","qty":3}"#),
        ("POST", "/v1/orders/other", ORDER),
        ("POST", "/v1/orders?dry_run=true", ORDER),
        ("PATCH", "/v1/orders", ORDER),
    ];
    for (method, path, body) in cases {
        let a = send(&h, method, path, &key, Some("reused"), body).await;
        assert_eq!(a.status, 422, "{method} {path} {body}");
        assert_eq!(a.header("retry-after"), None);
        let id = a.id();
        assert_eq!(
            a.json(),
            envelope(
                "idempotency_key_reused",
                "invalid_request_error",
                "This idempotency key was already used with a different request.",
                &id
            )
        );
    }
    assert_eq!(up.runs(), 1);
    // The original request still replays.
    let again = send(&h, "POST", "/v1/orders", &key, Some("reused"), ORDER).await;
    assert_eq!(recorded(&again), recorded(&first));
}

#[tokio::test]
async fn tenants_and_keys_never_share_records_unless_limits_are_per_tenant() {
    let (h, up) = gateway(POLICY).await;
    let (acme, _) = h.key(json!({})).await;
    let (acme2, _) = h.key(json!({"name": "second"})).await;
    let (globex, _) = h.key(json!({"tenant": "globex"})).await;
    for (key, run) in [(&acme, "ord_1"), (&acme2, "ord_2"), (&globex, "ord_3")] {
        let a = send(&h, "POST", "/v1/orders", key, Some("shared"), ORDER).await;
        assert_eq!((a.status, a.json()["id"].clone()), (201, json!(run)));
        assert_eq!(a.header("idempotent-replayed"), None);
    }
    assert_eq!(up.runs(), 3);
    h.running.shutdown().await;

    // Counted per tenant, two keys of one tenant share their records; tenants still don't.
    let (h, up) = gateway(&format!("[limits]\nscope = \"tenant\"\n{POLICY}")).await;
    let (acme, _) = h.key(json!({})).await;
    let (acme2, _) = h.key(json!({"name": "second"})).await;
    let (globex, _) = h.key(json!({"tenant": "globex"})).await;
    let first = send(&h, "POST", "/v1/orders", &acme, Some("shared"), ORDER).await;
    let second = send(&h, "POST", "/v1/orders", &acme2, Some("shared"), ORDER).await;
    assert_eq!(recorded(&second), recorded(&first));
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    let other = send(&h, "POST", "/v1/orders", &globex, Some("shared"), ORDER).await;
    assert_eq!(other.json()["id"], "ord_2");
    assert_eq!(up.runs(), 2);
}

#[tokio::test]
async fn a_record_expires_after_its_ttl() {
    let (h, up) = gateway(POLICY).await;
    let (key, _) = h.key(json!({})).await;
    send(&h, "POST", "/v1/orders", &key, Some("ttl"), ORDER).await;
    h.clock.advance_ms(3_600_000 - 1);
    let a = send(&h, "POST", "/v1/orders", &key, Some("ttl"), ORDER).await;
    assert_eq!(a.header("idempotent-replayed"), Some("true"));
    assert_eq!(up.runs(), 1);
    h.clock.advance_ms(1);
    let a = send(&h, "POST", "/v1/orders", &key, Some("ttl"), ORDER).await;
    assert_eq!((a.status, a.json()["id"].clone()), (201, json!("ord_2")));
    assert_eq!(a.header("idempotent-replayed"), None);
    assert_eq!(up.runs(), 2);
}

#[tokio::test]
async fn an_answer_too_large_to_record_streams_whole_and_runs_again() {
    let (h, up) = gateway(POLICY).await;
    let (key, _) = h.key(json!({})).await;
    for path in ["/v1/big", "/v1/big-declared"] {
        let before = up.runs();
        for _ in 0..2 {
            let a = send(&h, "POST", path, &key, Some(path), ORDER).await;
            assert_eq!(a.status, 200, "{path}");
            assert_eq!(
                a.body.len(),
                4096,
                "{path}: the whole answer reaches the client"
            );
            assert_eq!(a.header("idempotent-replayed"), None);
        }
        assert_eq!(
            up.runs(),
            before + 2,
            "{path}: not recorded, so the retry ran"
        );
    }
}

#[tokio::test]
async fn an_answer_that_never_completes_releases_the_key() {
    let (h, up) = gateway(POLICY).await;
    let (key, _) = h.key(json!({})).await;

    // Slower than the response timeout: 504, the key is free again.
    let a = send(&h, "POST", "/v1/slow-once", &key, Some("slow"), ORDER).await;
    assert_eq!(a.status, 504);
    let a = send(&h, "POST", "/v1/slow-once", &key, Some("slow"), ORDER).await;
    assert_eq!((a.status, a.json()["id"].clone()), (201, json!("ord_2")));
    let replay = send(&h, "POST", "/v1/slow-once", &key, Some("slow"), ORDER).await;
    assert_eq!(recorded(&replay), recorded(&a));
    assert_eq!(up.runs(), 2);

    // Broken off mid-body: the client sees a broken body, the retry runs again.
    let res = h
        .post("/v1/broken")
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .header("idempotency-key", "broken")
        .body(ORDER)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(res.bytes().await.is_err(), "the body broke off");
    let a = send(&h, "POST", "/v1/broken", &key, Some("broken"), ORDER).await;
    assert_eq!((a.status, a.json()["id"].clone()), (201, json!("ord_4")));
    assert_eq!(up.runs(), 4);
    h.running.shutdown().await;

    // Refused connections: every attempt gets the 502, none is told the key is in use.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let h = start_with_upstream(POLICY, &dead, Arc::new(Semaphore::new(0))).await;
    let (key, _) = h.key(json!({})).await;
    for _ in 0..3 {
        let a = send(&h, "POST", "/v1/orders", &key, Some("down"), ORDER).await;
        assert_eq!(a.status, 502);
        assert_eq!(a.json()["error"]["code"], "bad_gateway");
    }
}

#[tokio::test]
async fn upstream_errors_are_recorded_and_refusals_are_not() {
    let (h, up) = gateway(POLICY).await;
    let (key, _) = h.key(json!({})).await;
    // The upstream answered: its 500 replays, as Stripe does.
    let first = send(&h, "POST", "/v1/fails", &key, Some("fails"), ORDER).await;
    assert_eq!(first.status, 500);
    let id = first.id();
    let again = send(&h, "POST", "/v1/fails", &key, Some("fails"), ORDER).await;
    assert_eq!(recorded(&again), recorded(&first));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json()["error"]["request_id"], id.as_str());
    assert_eq!(up.runs(), 1);

    // The gateway's own refusal never ran: the key is still free for the real request.
    let res = h
        .post("/v1/orders")
        .bearer_auth(&key)
        .header("content-type", "text/plain")
        .header("idempotency-key", "refused")
        .body(ORDER)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    let a = send(&h, "POST", "/v1/orders", &key, Some("refused"), ORDER).await;
    assert_eq!((a.status, a.header("idempotent-replayed")), (201, None));
    assert_eq!(up.runs(), 2);

    // An answer without a body is recorded too.
    let a = send(&h, "POST", "/v1/empty", &key, Some("empty"), "").await;
    assert_eq!(a.status, 204);
    let b = send(&h, "POST", "/v1/empty", &key, Some("empty"), "").await;
    assert_eq!(
        (b.status, b.header("idempotent-replayed")),
        (204, Some("true"))
    );
    assert_eq!(up.runs(), 3);
}

#[tokio::test]
async fn requests_without_a_key_or_off_idempotent_routes_pass_untouched() {
    let (h, up) = gateway(POLICY).await;
    let (key, _) = h.key(json!({})).await;
    for _ in 0..2 {
        let a = send(&h, "POST", "/v1/orders", &key, None, ORDER).await;
        assert_eq!((a.status, a.header("idempotent-replayed")), (201, None));
    }
    for _ in 0..2 {
        let a = send(&h, "POST", "/v1/plain", &key, Some("plain"), ORDER).await;
        assert_eq!((a.status, a.header("idempotent-replayed")), (201, None));
    }
    for _ in 0..2 {
        let a = send(&h, "GET", "/v1/orders", &key, Some("get"), "").await;
        assert_eq!((a.status, a.header("idempotent-replayed")), (201, None));
    }
    assert_eq!(up.runs(), 6);
}

#[tokio::test]
async fn a_key_too_long_or_not_printable_ascii_is_an_invalid_parameter() {
    let (h, up) = gateway(POLICY).await;
    let (key, _) = h.key(json!({})).await;
    let long = "k".repeat(256);
    let bad: [&[u8]; 3] = [long.as_bytes(), b"caf\xc3\xa9", b""];
    for k in bad {
        let res = h
            .post("/v1/orders")
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .header(
                "idempotency-key",
                reqwest::header::HeaderValue::from_bytes(k).unwrap(),
            )
            .body(ORDER)
            .send()
            .await
            .unwrap();
        let (status, headers, body) = parts(res).await;
        assert_eq!(status, 400);
        let id = request_id(&headers, &body);
        assert_eq!(
            body,
            json!({"error": {
                "code": "invalid_parameter",
                "type": "invalid_request_error",
                "message": "Invalid parameter: the Idempotency-Key header must be one value of 1 to 255 printable ASCII characters.",
                "param": "Idempotency-Key",
                "request_id": id,
                "doc_url": doc_url("invalid_parameter")
            }})
        );
    }
    // 255 characters are fine.
    let a = send(
        &h,
        "POST",
        "/v1/orders",
        &key,
        Some(&"k".repeat(255)),
        ORDER,
    )
    .await;
    assert_eq!(a.status, 201);
    assert_eq!(up.runs(), 1);
}

#[tokio::test]
async fn idempotency_needs_a_key_to_scope_records() {
    let err = errata::config::Config::from_toml(
        "[[routes]]\npath = \"/v1/orders\"\nauth = false\nidempotency = true\n",
        std::path::Path::new("."),
    )
    .unwrap_err()
    .render("errata.toml");
    assert!(
        err.contains(
            "errata.toml:1:1: error: route `/v1/orders` has idempotency = true but auth = false"
        ),
        "{err}"
    );
    let err = errata::config::Config::from_toml(
        "[idempotency]\nheader = \"bad header\"\nttl_hours = 0\n",
        std::path::Path::new("."),
    )
    .unwrap_err()
    .render("errata.toml");
    assert!(
        err.contains("errata.toml:2:10: error: `bad header` is not a valid header name"),
        "{err}"
    );
    assert!(
        err.contains("errata.toml:3:13: error: ttl_hours = 0 is out of range"),
        "{err}"
    );
}

// --- Redis ------------------------------------------------------------------------------------

async fn redis_gateway(redis: &services::Redis, extra: &str) -> (Harness, Upstream) {
    let up = upstream().await;
    let counters = Arc::new(RedisCounters::connect(&redis.url).await.unwrap());
    let h = start_with_counters(extra, &up.url, Arc::new(Semaphore::new(0)), counters).await;
    (h, up)
}

#[tokio::test]
async fn redis_records_replay_refuse_and_release_like_memory() {
    let Some(redis) = services::redis() else {
        return;
    };
    let (h, up) = redis_gateway(&redis, POLICY).await;
    let (key, _) = h.key(json!({})).await;
    let first = send(&h, "POST", "/v1/orders", &key, Some("r1"), ORDER).await;
    assert_eq!(first.status, 201);
    let again = send(&h, "POST", "/v1/orders", &key, Some("r1"), ORDER).await;
    assert_eq!(recorded(&again), recorded(&first));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let other = send(&h, "POST", "/v1/orders", &key, Some("r1"), "{}").await;
    assert_eq!(other.status, 422);
    assert_eq!(up.runs(), 1);

    // In flight on Redis: 409; released after a timeout: runs again.
    let h = Arc::new(h);
    let held = {
        let (h, key) = (Arc::clone(&h), key.clone());
        tokio::spawn(async move { send(&h, "POST", "/v1/held", &key, Some("r2"), ORDER).await })
    };
    while up.runs() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let busy = send(&h, "POST", "/v1/held", &key, Some("r2"), ORDER).await;
    assert_eq!(busy.status, 409);
    up.gate.add_permits(10);
    let held = held.await.unwrap();
    assert_eq!(held.status, 201);
    let replay = send(&h, "POST", "/v1/held", &key, Some("r2"), ORDER).await;
    assert_eq!(recorded(&replay), recorded(&held));

    let a = send(&h, "POST", "/v1/slow-once", &key, Some("r3"), ORDER).await;
    assert_eq!(a.status, 504);
    // The release is sent in the background: it lands within moments.
    let mut b = send(&h, "POST", "/v1/slow-once", &key, Some("r3"), ORDER).await;
    for _ in 0..50 {
        if b.status != 409 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        b = send(&h, "POST", "/v1/slow-once", &key, Some("r3"), ORDER).await;
    }
    assert_eq!(b.status, 201);
    assert_eq!(up.runs(), 4);

    // Expiry follows the gateway's clock.
    h.clock.advance_ms(3_600_000);
    let a = send(&h, "POST", "/v1/orders", &key, Some("r1"), ORDER).await;
    assert_eq!((a.status, a.header("idempotent-replayed")), (201, None));
    assert_eq!(up.runs(), 5);
}

#[tokio::test]
async fn redis_unreachable_applies_the_failure_policy() {
    let Some(mut redis) = services::redis() else {
        return;
    };
    if !redis.owned() {
        println!("skipped: the shared Redis cannot be stopped");
        return;
    }
    // No limits configured, so only the idempotency records touch Redis.
    let (closed, up_closed) = redis_gateway(&redis, POLICY).await;
    let (open, up_open) =
        redis_gateway(&redis, &format!("[failure]\ncounters = \"open\"\n{POLICY}")).await;
    let (key_c, _) = closed.key(json!({})).await;
    let (key_o, _) = open.key(json!({})).await;
    redis.kill();

    let a = send(&closed, "POST", "/v1/orders", &key_c, Some("down"), ORDER).await;
    assert_eq!(a.status, 503);
    assert_eq!(a.header("retry-after"), Some("1"));
    assert_eq!(a.json()["error"]["code"], "service_unavailable");
    assert_eq!(up_closed.runs(), 0);
    // Without a key the request never asks Redis.
    let a = send(&closed, "POST", "/v1/orders", &key_c, None, ORDER).await;
    assert_eq!(a.status, 201);

    for _ in 0..2 {
        let a = send(&open, "POST", "/v1/orders", &key_o, Some("down"), ORDER).await;
        assert_eq!((a.status, a.header("idempotent-replayed")), (201, None));
    }
    assert_eq!(up_open.runs(), 2, "open: run without replay protection");
}
