//! Liveness and readiness: the admin listener's `/healthz` and `/readyz` (no token), the
//! public `health_path` (no key) on the relay and on hyper's path, readiness that follows a
//! PostgreSQL store and a Redis that go away and come back, an expired certificate, and
//! SIGTERM turning the process not ready while it serves on for `drain_ms`.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use support::process::{self, Serve};
use support::services;

const TOKEN: &str = "admin-token-0123456789";

/// The catalog's 503 as errata renders it, with each reason not to be ready.
fn not_ready(details: Value, request_id: &str, doc_base: &str) -> Value {
    json!({"error": {
        "code": "service_unavailable",
        "type": "api_error",
        "message": "The service is temporarily unavailable. Please retry after 1 seconds.",
        "param": null,
        "details": details,
        "request_id": request_id,
        "doc_url": format!("{doc_base}/errors#service_unavailable"),
    }})
}

/// One detail of a not-ready answer.
fn reason(name: &str, message: &str, code: &str) -> Value {
    json!({"path": [name], "message": message, "code": code})
}

/// Status, request id and JSON body of a response; the request id is the same in the header
/// and the body.
async fn answer(res: reqwest::Response) -> (u16, reqwest::header::HeaderMap, String, Value) {
    let (status, headers, body) = support::parts(res).await;
    let id = support::request_id(&headers, &body);
    (status, headers, id, body)
}

/// The readiness body with each check's latency checked (a number under `bound_ms`) and set
/// to 0, so the rest compares exactly.
fn latencies_zeroed(mut body: Value, bound_ms: f64) -> Value {
    if let Some(checks) = body.get_mut("checks").and_then(Value::as_object_mut) {
        for (name, c) in checks.iter_mut() {
            let ms = c["latency_ms"]
                .as_f64()
                .unwrap_or_else(|| panic!("{name}: latency_ms is a number: {c}"));
            assert!((0.0..bound_ms).contains(&ms), "{name}: {ms} ms");
            c["latency_ms"] = json!(0.0);
        }
    }
    body
}

/// `GET url` over a raw HTTP/1.0 connection (which the relay leaves to hyper): status line and
/// body.
async fn http10(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nhost: errata\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_readyz_and_health_path_answer_without_a_token_or_key() {
    let h = support::start("workers = 2\nhealth_path = \"/healthz\"\n").await;

    // Liveness: no token, and a wrong one changes nothing.
    for token in [None, Some("not-the-token")] {
        let mut req = h.http.get(format!("{}/healthz", h.admin));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "application/json");
        assert_eq!(res.headers()["cache-control"], "no-store");
        let mut body: Value = res.json().await.unwrap();
        assert!(body["uptime_seconds"].is_u64(), "{body}");
        body["uptime_seconds"] = json!(0);
        assert_eq!(
            body,
            json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "uptime_seconds": 0, "workers": 2})
        );
    }

    // Readiness: the SQLite store and the in-memory counters, each with its latency.
    let res = h
        .http
        .get(format!("{}/readyz", h.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        latencies_zeroed(body, 500.0),
        json!({"status": "ready", "checks": {
            "store": {"status": "ok", "latency_ms": 0.0},
            "counters": {"status": "ok", "latency_ms": 0.0},
        }})
    );

    // The public health path, without a key: on the relay (HTTP/1.1) ...
    let res = h.get("/healthz").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.text().await.unwrap(), "{\"status\":\"ready\"}");
    let res = h
        .http
        .head(format!("{}/healthz", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "");
    // ... and on hyper's path (HTTP/1.0, which the relay declines).
    let (status, body) = http10(h.running.addr, "/healthz").await;
    assert_eq!(status, "HTTP/1.0 200 OK");
    assert_eq!(body, "{\"status\":\"ready\"}");

    // Only GET and HEAD, as for the error reference page.
    let res = h.post("/healthz").send().await.unwrap();
    let (status, headers, id, body) = answer(res).await;
    assert_eq!(
        (status, &headers["allow"]),
        (405, &"GET, HEAD".parse().unwrap())
    );
    assert_eq!(body["error"]["code"], "method_not_allowed");
    assert_eq!(body["error"]["request_id"], id.as_str());

    // The path next to it is an ordinary route, which needs a key.
    let res = h.get("/healthz/more").send().await.unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_is_not_ready_on_both_listeners() {
    let h = support::start("health_path = \"/ready\"\n").await;
    let (secret, _) = h.key(json!({})).await;
    assert_eq!(h.get("/ready").send().await.unwrap().status(), 200);

    h.running.gateway().health.start_draining();

    let draining = json!([reason(
        "gateway",
        "the gateway is shutting down",
        "draining"
    )]);
    let res = h
        .http
        .get(format!("{}/readyz", h.admin))
        .send()
        .await
        .unwrap();
    let (status, headers, id, body) = answer(res).await;
    assert_eq!(
        (status, &headers["retry-after"]),
        (503, &"1".parse().unwrap())
    );
    assert_eq!(body, not_ready(draining.clone(), &id, support::PUBLIC_URL));

    let res = h.get("/ready").send().await.unwrap();
    let (status, headers, id, body) = answer(res).await;
    assert_eq!(
        (status, &headers["retry-after"]),
        (503, &"1".parse().unwrap())
    );
    assert_eq!(body, not_ready(draining, &id, support::PUBLIC_URL));

    // Not ready, but serving: requests still go through.
    let res = h.get("/echo").bearer_auth(&secret).send().await.unwrap();
    assert_eq!(res.status(), 200);
    // And alive: liveness is about the workers, which still run.
    let res = h
        .http
        .get(format!("{}/healthz", h.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// A self-signed certificate for `localhost`, valid for rcgen's default span (1975 to 4096) or,
/// `expired`, through 2021 only; written as `cert.pem` and `key.pem` in `dir`.
fn certificate(dir: &Path, expired: bool) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let cert = params.self_signed(&key).unwrap();
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_certificate_is_checked_when_there_is_one() {
    for (expired, expected) in [
        (false, None),
        (
            true,
            Some(reason("tls", "the TLS certificate has expired", "expired")),
        ),
    ] {
        let dir = support::certs::temp_dir("health");
        let (cert, key) = certificate(&dir, expired);
        let h = support::start(&format!(
            "[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            cert.display(),
            key.display()
        ))
        .await;
        let res = h
            .http
            .get(format!("{}/readyz", h.admin))
            .send()
            .await
            .unwrap();
        match expected {
            None => {
                assert_eq!(res.status(), 200);
                let body = latencies_zeroed(res.json().await.unwrap(), 500.0);
                assert_eq!(
                    body,
                    json!({"status": "ready", "checks": {
                        "store": {"status": "ok", "latency_ms": 0.0},
                        "counters": {"status": "ok", "latency_ms": 0.0},
                        "tls": {"status": "ok", "latency_ms": 0.0},
                    }})
                );
            }
            Some(reason) => {
                let (status, _, id, body) = answer(res).await;
                assert_eq!(status, 503);
                assert_eq!(body, not_ready(json!([reason]), &id, support::PUBLIC_URL));
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// A loopback TCP forwarder the test can cut (existing connections closed, new ones refused)
/// and restore on the same port.
struct Forwarder {
    addr: SocketAddr,
    target: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl Forwarder {
    async fn start(target: SocketAddr) -> Forwarder {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        Forwarder {
            addr,
            target,
            task: Some(tokio::spawn(forward(l, target))),
        }
    }

    /// Closes every connection through it and stops listening.
    async fn cut(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    async fn restore(&mut self) {
        let l = TcpListener::bind(self.addr).await.unwrap();
        self.task = Some(tokio::spawn(forward(l, self.target)));
    }
}

/// Accepts and relays to `target`; the connections live in a set that ends with this task.
async fn forward(l: TcpListener, target: SocketAddr) {
    let mut conns = JoinSet::new();
    loop {
        let Ok((mut client, _)) = l.accept().await else {
            continue;
        };
        conns.spawn(async move {
            if let Ok(mut server) = TcpStream::connect(target).await {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            }
        });
        while conns.try_join_next().is_some() {}
    }
}

/// An upstream that answers every request with 200 `ok`.
async fn upstream() -> String {
    let app = axum::Router::new().fallback(|| async { "ok" });
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://{addr}")
}

fn write_config(dir: &Path, upstream: &str, store: &str, counters: &str, extra: &str) {
    std::fs::write(
        dir.join("errata.toml"),
        format!(
            "listen = \"127.0.0.1:0\"\nupstream = \"{upstream}\"\nstore = \"{store}\"\ncounters = \"{counters}\"\nkey_prefix = \"health\"\nhealth_path = \"/healthz\"\n{extra}\n\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n"
        ),
    )
    .unwrap();
}

/// Polls `url` until it answers `status`, for up to `within`; the last answer.
async fn until_status(
    http: &reqwest::Client,
    url: &str,
    status: u16,
    within: Duration,
) -> reqwest::Response {
    let deadline = Instant::now() + within;
    loop {
        let res = http.get(url).send().await.unwrap();
        if res.status().as_u16() == status || Instant::now() >= deadline {
            return res;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A metric's value in the admin listener's exposition.
async fn metric(http: &reqwest::Client, admin: &str, line_start: &str) -> Option<f64> {
    let text = http
        .get(format!("{admin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
}

/// Readiness of a running gateway whose dependency `name` is cut (`cut`) and brought back
/// (`restore`): /readyz says so within the dependency's timeout, the public health path from the
/// background probe within about a second, the metrics follow, and all is ready again after.
async fn follows_a_dependency(
    gw: &Serve,
    name: &str,
    message: &str,
    code: &str,
    timeout_ms: u64,
    cut: impl AsyncFnOnce(),
    restore: impl AsyncFnOnce(),
) {
    let http = reqwest::Client::new();
    let readyz = format!("{}/readyz", gw.admin);
    let public = format!("{}/healthz", gw.base);
    assert_eq!(http.get(&readyz).send().await.unwrap().status(), 200);
    assert_eq!(http.get(&public).send().await.unwrap().status(), 200);
    let up = format!("errata_dependency_up{{dependency=\"{name}\"}}");
    assert_eq!(metric(&http, &gw.admin, &up).await, Some(1.0));

    cut().await;
    let res = until_status(&http, &readyz, 503, Duration::from_secs(10)).await;
    let (status, _, id, body) = answer(res).await;
    assert_eq!(status, 503, "{body}\n{}", gw.stderr());
    assert_eq!(
        body,
        not_ready(json!([reason(name, message, code)]), &id, &gw.base)
    );
    // Each /readyz asks now, bounded by the dependency's timeout.
    let t0 = Instant::now();
    assert_eq!(http.get(&readyz).send().await.unwrap().status(), 503);
    let took = t0.elapsed();
    assert!(
        took < Duration::from_millis(timeout_ms + 500),
        "/readyz took {took:?}"
    );
    // The public path answers what the background probe last saw.
    let res = until_status(&http, &public, 503, Duration::from_secs(3)).await;
    let (status, _, id, body) = answer(res).await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        not_ready(json!([reason(name, message, code)]), &id, &gw.base)
    );
    assert_eq!(metric(&http, &gw.admin, &up).await, Some(0.0));
    assert_eq!(metric(&http, &gw.admin, "errata_ready ").await, Some(0.0));

    restore().await;
    let res = until_status(&http, &readyz, 200, Duration::from_secs(15)).await;
    assert_eq!(res.status(), 200, "{}", gw.stderr());
    let body = latencies_zeroed(res.json().await.unwrap(), timeout_ms as f64);
    assert_eq!(
        body,
        json!({"status": "ready", "checks": {
            "store": {"status": "ok", "latency_ms": 0.0},
            "counters": {"status": "ok", "latency_ms": 0.0},
        }})
    );
    let res = until_status(&http, &public, 200, Duration::from_secs(3)).await;
    assert_eq!(res.text().await.unwrap(), "{\"status\":\"ready\"}");
    assert_eq!(metric(&http, &gw.admin, &up).await, Some(1.0));
    assert_eq!(metric(&http, &gw.admin, "errata_ready ").await, Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_postgres_through_a_cut_and_a_restore() {
    let Some(db) = services::postgres().await else {
        return;
    };
    // postgres://USER@HOST:PORT/NAME, reached through the forwarder.
    let (head, rest) = db.url.split_once('@').unwrap();
    let (host_port, name) = rest.split_once('/').unwrap();
    let target: SocketAddr = tokio::net::lookup_host(host_port)
        .await
        .unwrap()
        .next()
        .unwrap();
    let fwd = Arc::new(tokio::sync::Mutex::new(Forwarder::start(target).await));
    let store = format!("{head}@{}/{name}", fwd.lock().await.addr);

    let dir = process::temp_dir("health-pg");
    write_config(&dir, &upstream().await, &store, "memory://", "");
    let gw = Serve::start(&dir.join("errata.toml"));
    follows_a_dependency(
        &gw,
        "store",
        // A refused connection is retried by the pool until the check's bound.
        "the key store did not answer within 500 ms",
        "timeout",
        500,
        async || fwd.lock().await.cut().await,
        async || fwd.lock().await.restore().await,
    )
    .await;
    drop(gw);
    drop(db);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_redis_killed_and_restarted() {
    let Some(redis) = services::redis() else {
        return;
    };
    if !redis.owned() {
        // ERRATA_TEST_REDIS_URL names a server this test cannot stop.
        if services::missing("redis-server", "a Redis this test can stop").is_none() {
            return;
        }
    }
    let redis = Arc::new(std::sync::Mutex::new(redis));
    let url = redis.lock().unwrap().url.clone();
    let dir = process::temp_dir("health-redis");
    write_config(&dir, &upstream().await, "sqlite://keys.db", &url, "");
    let gw = Serve::start(&dir.join("errata.toml"));
    follows_a_dependency(
        &gw,
        "counters",
        "the counters backend is unreachable",
        "unreachable",
        100,
        async || redis.lock().unwrap().kill(),
        async || redis.lock().unwrap().start_again(),
    )
    .await;
    drop(gw);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_turns_not_ready_serves_on_for_drain_ms_then_exits() {
    let dir = process::temp_dir("health-term");
    write_config(
        &dir,
        &upstream().await,
        "sqlite://keys.db",
        "memory://",
        "\n[timeouts]\ndrain_ms = 1500\nshutdown_ms = 2000\n",
    );
    let mut gw = Serve::start(&dir.join("errata.toml"));
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{}/keys", gw.admin))
        .bearer_auth(TOKEN)
        .json(&json!({"tenant": "acme", "name": "drain"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let readyz = format!("{}/readyz", gw.admin);
    assert_eq!(http.get(&readyz).send().await.unwrap().status(), 200);

    let termed = Instant::now();
    gw.signal("TERM");
    let res = until_status(&http, &readyz, 503, Duration::from_secs(1)).await;
    let (status, _, id, body) = answer(res).await;
    assert_eq!(status, 503);
    let draining = json!([reason(
        "gateway",
        "the gateway is shutting down",
        "draining"
    )]);
    assert_eq!(body, not_ready(draining.clone(), &id, &gw.base));
    let res = http
        .get(format!("{}/healthz", gw.base))
        .send()
        .await
        .unwrap();
    let (status, _, id, body) = answer(res).await;
    assert_eq!(status, 503);
    assert_eq!(body, not_ready(draining, &id, &gw.base));

    // Still serving for the drain time: a request goes through, on a new connection too.
    let fresh = reqwest::Client::new();
    let res = fresh
        .get(format!("{}/v1/anything", gw.base))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "ok");
    assert!(
        termed.elapsed() < Duration::from_millis(1500),
        "checked within the drain time"
    );
    assert!(gw.alive());

    // Then it stops accepting, drains and exits 0 within drain + grace.
    let exit = gw.wait_exit(Duration::from_millis(1500 + 2000 + 1000));
    let took = termed.elapsed();
    assert!(exit.success(), "{exit:?}\n{}", gw.stderr());
    assert!(took >= Duration::from_millis(1500), "exited after {took:?}");
    assert!(
        http.get(format!("{}/healthz", gw.base))
            .send()
            .await
            .is_err(),
        "no longer accepting"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn health_path_and_drain_ms_are_checked() {
    use errata::config::Config;
    let cfg = Config::from_toml(
        "health_path = \"/healthz\"\n[timeouts]\ndrain_ms = 5000\n",
        Path::new("."),
    )
    .unwrap_or_else(|d| panic!("{}", d.render("errata.toml")));
    assert_eq!(cfg.gateway.health_path.as_deref(), Some("/healthz"));
    assert_eq!(cfg.gateway.drain, Duration::from_millis(5000));
    let defaults = Config::from_toml("", Path::new(".")).unwrap();
    assert_eq!(defaults.gateway.health_path, None);
    assert_eq!(defaults.gateway.drain, Duration::ZERO);

    let render = |src: &str| {
        Config::from_toml(src, Path::new("."))
            .unwrap_err()
            .render("errata.toml")
    };
    assert_eq!(
        render("health_path = \"healthz\"\n"),
        "errata.toml:1:15: error: health_path `healthz` must start with /\n  help: e.g. \"/healthz\""
    );
    assert_eq!(
        render("errors_path = \"/status\"\nhealth_path = \"/status\"\n"),
        "errata.toml:2:15: error: health_path `/status` is the errors_path too\n  help: give the health check a path of its own, e.g. \"/healthz\""
    );
    assert_eq!(
        render("[timeouts]\ndrain_ms = \"5s\"\n"),
        "errata.toml:2:12: error: `timeouts.drain_ms` must be a whole number, not `\"5s\"`\n  help: e.g. `drain_ms = 5000`"
    );
}
