//! A gateway in front of a real upstream, both on loopback, with a clock the test moves.

#![allow(dead_code)]

pub mod certs;
pub mod logs;
pub mod process;
pub mod services;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use errata::config::Config;
use errata::serve::{self, Running};
use errata_admin::manage;
use errata_store::counters::{Counters, ManualClock, MemoryCounters};
use errata_store::db::{self, KeyStore, NewKey};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// 2026-11-15T00:00:00Z, mid-month.
pub const T0_MS: u64 = 1_794_700_800_000;

pub struct Harness {
    pub running: Running,
    pub clock: ManualClock,
    pub store: Arc<dyn KeyStore>,
    pub base: String,
    pub admin: String,
    pub http: reqwest::Client,
    /// Requests to /hold wait for a permit here.
    pub gate: Arc<Semaphore>,
}

/// The upstream: echoes what it received, and misbehaves on request.
pub async fn upstream(gate: Arc<Semaphore>) -> String {
    async fn echo(headers: HeaderMap, body: axum::body::Bytes) -> Response {
        let h: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    Value::String(v.to_str().unwrap_or("").to_owned()),
                )
            })
            .collect();
        axum::Json(json!({"headers": h, "body_len": body.len()})).into_response()
    }
    let app = Router::new()
        .route("/echo", any(echo))
        .route("/health", any(echo))
        .route("/v1/{*rest}", any(echo))
        .route("/html502", get(|| async {
            (StatusCode::BAD_GATEWAY, [("content-type", "text/html")], "<html><body><h1>502 Bad Gateway</h1></body></html>")
        }))
        .route("/plain500", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error") }))
        .route("/teapot", get(|| async { (StatusCode::IM_A_TEAPOT, [("retry-after", "3")], "short and stout") }))
        .route("/envelope404", get(|| async {
            (
                StatusCode::NOT_FOUND,
                [("content-type", "application/json")],
                r#"{"error":{"code":"resource_not_found","type":"not_found_error","message":"Order 'ord_1' not found.","param":null}}"#,
            )
        }))
        .route("/slow", get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }))
        .route("/hold", get(move || {
            let gate = Arc::clone(&gate);
            async move {
                let _permit = gate.acquire().await;
                "released"
            }
        }))
        .route("/big.json", get(|| async {
            axum::Json(json!({"data": "x".repeat(300 * 1024)}))
        }))
        .route("/stream", get(|| async {
            let chunks = futures_util::stream::iter((0..5).map(|i| Ok::<_, std::io::Error>(format!("chunk{i};"))));
            Body::from_stream(chunks)
        }));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://{addr}")
}

/// Starts a gateway with `extra` config (TOML) in front of a fresh upstream.
pub async fn start(extra: &str) -> Harness {
    let gate = Arc::new(Semaphore::new(0));
    let up = upstream(Arc::clone(&gate)).await;
    start_with_upstream(extra, &up, gate).await
}

pub async fn start_with_upstream(extra: &str, upstream: &str, gate: Arc<Semaphore>) -> Harness {
    start_with_counters(extra, upstream, gate, Arc::new(MemoryCounters::default())).await
}

/// As [`start_with_upstream`], counting in `counters` (Redis, for the tests that share one).
pub async fn start_with_counters(
    extra: &str,
    upstream: &str,
    gate: Arc<Semaphore>,
    counters: Arc<dyn Counters>,
) -> Harness {
    let src = format!(
        "upstream = \"{upstream}\"\nstore = \"sqlite::memory:\"\nkey_prefix = \"test\"\npublic_url = \"{PUBLIC_URL}\"\n{extra}\n\n[admin]\ntoken = \"admin-token-0123456789\"\n"
    );
    let cfg = Config::from_toml(&src, std::path::Path::new("."))
        .unwrap_or_else(|d| panic!("{}", d.render("test config")));
    let store = db::open(&cfg.gateway.store_url).await.unwrap();
    let clock = ManualClock::new(T0_MS);
    let running = serve::start(
        cfg,
        Arc::clone(&store),
        counters,
        Arc::new(clock.clone()),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .await
    .unwrap();
    Harness {
        base: format!("http://{}", running.addr),
        admin: format!("http://{}", running.admin_addr),
        running,
        clock,
        store,
        http: reqwest::Client::new(),
        gate,
    }
}

impl Harness {
    /// Creates a key (tenant `acme` unless `new` says otherwise) and returns its secret and id.
    pub async fn key(&self, new: Value) -> (String, String) {
        let mut base = json!({"tenant": "acme", "name": "test key"});
        if let (Some(b), Some(n)) = (base.as_object_mut(), new.as_object()) {
            for (k, v) in n {
                b.insert(k.clone(), v.clone());
            }
        }
        let new: NewKey = serde_json::from_value(base).unwrap();
        let now = (self.clock_ms() / 1000) as i64;
        let issued = manage::create(
            &self.store,
            &self.running.admin().config,
            &new,
            now.min(manage::now_secs()),
        )
        .await
        .unwrap();
        (issued.secret, issued.key.id)
    }

    pub fn clock_ms(&self) -> u64 {
        use errata_store::counters::Clock;
        self.clock.now_ms()
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.base))
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.base))
    }
}

/// Status, headers and JSON body of a response; checks the request id is the same in the
/// header and (where the envelope has one) the body, and in the default catalog's format.
pub async fn parts(res: reqwest::Response) -> (u16, HeaderMap, Value) {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.unwrap();
    let body: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, headers, body)
}

/// The request id of a response, checked against the body and the catalog's format.
pub fn request_id(headers: &HeaderMap, body: &Value) -> String {
    let id = headers
        .get("x-request-id")
        .expect("x-request-id header")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        errata_core::Catalog::builtin().request_id().matches(&id),
        "{id}"
    );
    if let Some(b) = body.pointer("/error/request_id") {
        assert_eq!(b, &Value::String(id.clone()), "request id in body = header");
    }
    id
}

/// The address the harness's gateways are configured to be reached at (`public_url`).
pub const PUBLIC_URL: &str = "https://api.example.test";

/// The `doc_url` of `code` in the harness's gateways' answers.
pub fn doc_url(code: &str) -> String {
    format!("{PUBLIC_URL}/errors#{code}")
}

/// The default envelope of an error, with the response's request id.
pub fn envelope(code: &str, kind: &str, message: &str, id: &str) -> Value {
    json!({"error": {
        "code": code,
        "type": kind,
        "message": message,
        "param": null,
        "request_id": id,
        "doc_url": doc_url(code)
    }})
}
