//! The client against a real errata gateway (in this process, on loopback) in front of a real
//! upstream: the gateway's catalog errors come back typed, retried exactly as the catalog says.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use errata::config::Config;
use errata::serve::{self, Running};
use errata_client::clock::{Clock, ManualClock, Sleep};
use errata_client::jitter::NoJitter;
use errata_client::{Client, Error};
use errata_store::counters::{ManualClock as GatewayClock, MemoryCounters};
use errata_store::db::{self, NewKey};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The client's waits move the gateway's clock too, so a Retry-After is really honoured.
#[derive(Debug, Clone)]
struct Linked {
    client: ManualClock,
    gateway: GatewayClock,
}

impl Clock for Linked {
    fn now(&self) -> Instant {
        self.client.now()
    }
    fn wall(&self) -> SystemTime {
        self.client.wall()
    }
    fn sleep(&self, d: Duration) -> Sleep {
        self.gateway.advance_ms(d.as_millis() as u64);
        self.client.sleep(d)
    }
}

/// Two requests a minute, six a month.
const LIMITED: &str = "rate = 2\nper_seconds = 60\nmonthly_quota = 6";

struct Setup {
    running: Running,
    base: String,
    key: String,
    clock: Linked,
    posts: Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

async fn setup(upstream_up: bool, plan: &str) -> Setup {
    let flaky = Arc::new(AtomicUsize::new(0));
    let posts = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&posts);
    let app = Router::new()
        .route("/v1/ok", get(|| async { axum::Json(json!({"ok": true})) }))
        .route(
            "/v1/orders",
            post(move |headers: HeaderMap| {
                let (flaky, seen) = (Arc::clone(&flaky), Arc::clone(&seen));
                async move {
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned()
                    };
                    seen.lock()
                        .unwrap()
                        .push((h("idempotency-key"), h("x-request-id")));
                    if flaky.fetch_add(1, Ordering::SeqCst) == 0 {
                        (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response()
                    } else {
                        (StatusCode::CREATED, axum::Json(json!({"id": "ord_1"}))).into_response()
                    }
                }
            }),
        );
    use axum::response::IntoResponse;
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", l.local_addr().unwrap());
    if upstream_up {
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    } else {
        drop(l);
    }
    let src = format!(
        "upstream = \"{upstream}\"\nstore = \"sqlite::memory:\"\nkey_prefix = \"sdk\"\n[plans.default]\n{plan}\n"
    );
    let cfg = Config::from_toml(&src, std::path::Path::new(".")).unwrap();
    let st = db::open(&cfg.gateway.store_url).await.unwrap();
    let new = NewKey {
        tenant: "acme".into(),
        name: "sdk".into(),
        ..NewKey::default()
    };
    let key =
        errata_admin::manage::create(&st, &cfg.admin(), &new, errata_admin::manage::now_secs())
            .await
            .unwrap()
            .secret;
    let gclock = GatewayClock::new(1_794_700_800_000);
    let running = serve::start(
        cfg,
        st,
        Arc::new(MemoryCounters::default()),
        Arc::new(gclock.clone()),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .await
    .unwrap();
    Setup {
        base: format!("http://{}", running.addr),
        running,
        key,
        clock: Linked {
            client: ManualClock::new(),
            gateway: gclock,
        },
        posts,
    }
}

fn client(s: &Setup, key: Option<&str>) -> Client {
    let mut b = Client::builder(&s.base)
        .clock(s.clock.clone())
        .jitter(NoJitter);
    if let Some(k) = key {
        b = b.api_key(k);
    }
    b.build().unwrap()
}

#[tokio::test]
async fn gateway_errors_arrive_typed_with_the_request_id() {
    let s = setup(true, "").await;
    let err = client(&s, None)
        .get("/v1/ok")
        .send::<Value>()
        .await
        .unwrap_err();
    let Error::Api(api) = &err else {
        panic!("{err}")
    };
    assert_eq!(api.code(), Some("missing_api_key"));
    assert_eq!(api.status(), 401);
    assert_eq!(err.attempts(), 1, "never retried");
    let id = api.request_id().expect("request id").to_owned();
    assert_eq!(
        api.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some(id.as_str())
    );
    assert!(err.to_string().contains(&id), "{err}");
    assert!(s.clock.client.sleeps().is_empty());
    s.running.shutdown().await;
}

#[tokio::test]
async fn a_rate_limit_is_waited_out_exactly_and_a_spent_quota_is_not_retried() {
    let s = setup(true, LIMITED).await;
    let c = client(&s, Some(&s.key));
    for _ in 0..2 {
        let v: Value = c.get("/v1/ok").send().await.unwrap();
        assert_eq!(v, json!({"ok": true}));
    }
    // The third is limited: the gateway says Retry-After 30; the client waits exactly that.
    let v: Value = c.get("/v1/ok").send().await.unwrap();
    assert_eq!(v, json!({"ok": true}));
    assert_eq!(s.clock.client.sleeps(), vec![Duration::from_secs(30)]);
    // Three more use up the monthly quota of 6 (each a window apart).
    for _ in 0..3 {
        s.clock.gateway.advance_ms(60_000);
        let _: Value = c.get("/v1/ok").send().await.unwrap();
    }
    s.clock.gateway.advance_ms(60_000);
    let err = c.get("/v1/ok").send::<Value>().await.unwrap_err();
    assert_eq!(err.code(), Some("quota_exceeded"));
    assert_eq!(err.attempts(), 1, "a spent quota is not retried");
    assert!(!err.is_retryable());
    assert_eq!(s.clock.client.sleeps().len(), 1, "no new waits");
    s.running.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_upstream_is_retried_with_backoff() {
    let s = setup(false, "").await;
    let err = client(&s, Some(&s.key))
        .get("/v1/ok")
        .send::<Value>()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("bad_gateway"));
    assert_eq!(err.status(), Some(502));
    assert_eq!(err.attempts(), 3);
    assert_eq!(
        s.clock.client.sleeps(),
        vec![Duration::from_millis(500), Duration::from_secs(1)]
    );
    assert!(err.request_id().is_some());
    s.running.shutdown().await;
}

#[tokio::test]
async fn a_post_is_retried_under_one_idempotency_key_through_the_gateway() {
    let s = setup(true, "").await;
    let v: Value = client(&s, Some(&s.key))
        .post("/v1/orders")
        .json(&json!({"sku": "a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(v, json!({"id": "ord_1"}));
    let posts = s.posts.lock().unwrap().clone();
    assert_eq!(posts.len(), 2);
    assert!(!posts[0].0.is_empty());
    assert_eq!(
        posts[0].0, posts[1].0,
        "the same Idempotency-Key on both attempts"
    );
    assert_ne!(
        posts[0].1, posts[1].1,
        "each attempt has its own request id"
    );
    s.running.shutdown().await;
}

#[tokio::test]
async fn a_post_whose_first_answer_is_lost_runs_once_behind_an_idempotent_route() {
    // The upstream takes 1 s over its first payment; the client gives up on an attempt after
    // 300 ms and retries under the same key.
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let app = Router::new().route(
        "/v1/payments",
        post(move || {
            let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if n == 1 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                (
                    StatusCode::CREATED,
                    axum::Json(json!({"id": format!("pay_{n}")})),
                )
            }
        }),
    );
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let src = format!(
        "upstream = \"{upstream}\"\nstore = \"sqlite::memory:\"\nkey_prefix = \"sdk\"\n\n[[routes]]\npath = \"/v1\"\nidempotency = true\n"
    );
    let cfg = Config::from_toml(&src, std::path::Path::new(".")).unwrap();
    let st = db::open(&cfg.gateway.store_url).await.unwrap();
    let new = NewKey {
        tenant: "acme".into(),
        name: "sdk".into(),
        ..NewKey::default()
    };
    let key =
        errata_admin::manage::create(&st, &cfg.admin(), &new, errata_admin::manage::now_secs())
            .await
            .unwrap()
            .secret;
    let running = serve::start(
        cfg,
        st,
        Arc::new(MemoryCounters::default()),
        Arc::new(errata_store::counters::SystemClock),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .await
    .unwrap();
    let base = format!("http://{}", running.addr);
    let client = Client::builder(&base)
        .api_key(&key)
        .timeout(Duration::from_millis(300))
        .retry(
            errata_client::RetryPolicy::default()
                .max_retries(6)
                .initial_delay(Duration::from_millis(100)),
        )
        .jitter(NoJitter)
        .build()
        .unwrap();
    // Attempt 1 times out; the next ones meet the key in use (409, Retry-After 1) until the
    // first answer is recorded, then get it replayed.
    let v: Value = client
        .post("/v1/payments")
        .json(&json!({"amount": 4200}))
        .send()
        .await
        .unwrap();
    assert_eq!(v, json!({"id": "pay_1"}));
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the payment ran once");
    running.shutdown().await;
}
