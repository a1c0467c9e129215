//! Live reload over real processes: SIGHUP, `POST /config/reload` and a watched file change a
//! plan's limit and the upstream for new requests with no request failed and no connection
//! dropped; a broken file is refused whole and the running config keeps serving; counters
//! survive; what takes a restart is named.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::any;
use serde_json::{Value, json};
use support::process::{Serve, keys, temp_dir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ADMIN_TOKEN: &str = "admin-token-0123456789";

/// An upstream that names itself in every answer.
async fn upstream(name: &'static str) -> String {
    let app = Router::new().fallback(any(move || async move {
        axum::Json(json!({ "upstream": name }))
    }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://{addr}")
}

/// The config file: every `/v1/` path keyed, the `free` plan at `rate` a minute.
fn write_config(path: &Path, upstream: &str, rate: u64, extra: &str) {
    std::fs::write(
        path,
        format!(
            "listen = \"127.0.0.1:0\"\nworkers = 2\nupstream = \"{upstream}\"\nstore = \"sqlite://keys.db\"\n{extra}\n\
             [admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{ADMIN_TOKEN}\"\n\n\
             [limits]\ndefault_plan = \"free\"\n\n\
             [plans.free]\nrate = {rate}\nper_seconds = 60\n\n\
             [[routes]]\npath = \"/v1/\"\n"
        ),
    )
    .unwrap();
}

fn setup(name: &str, upstream: &str, rate: u64, extra: &str) -> (PathBuf, PathBuf) {
    let dir = temp_dir(name);
    let cfg = dir.join("errata.toml");
    write_config(&cfg, upstream, rate, extra);
    (dir, cfg)
}

fn new_key(cfg: &Path) -> String {
    let out = keys(
        cfg,
        &["create", "--tenant", "acme", "--name", "reload", "--json"],
    );
    let issued: Value = serde_json::from_str(&out).unwrap();
    issued["secret"].as_str().unwrap().to_owned()
}

/// One answer read off a kept-alive connection.
struct Answer {
    status: u16,
    limit: Option<u64>,
    upstream: String,
}

/// A client on one connection, kept alive for every request it sends.
struct KeptAlive {
    conn: TcpStream,
    buf: Vec<u8>,
}

impl KeptAlive {
    async fn open(base: &str) -> KeptAlive {
        let addr: SocketAddr = base.trim_start_matches("http://").parse().unwrap();
        KeptAlive {
            conn: TcpStream::connect(addr).await.unwrap(),
            buf: Vec::new(),
        }
    }

    /// `GET path` with `key`; an error when the connection fails or closes.
    async fn get(&mut self, path: &str, key: &str) -> Result<Answer, String> {
        let req =
            format!("GET {path} HTTP/1.1\r\nhost: errata\r\nauthorization: Bearer {key}\r\n\r\n");
        self.conn
            .write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).to_ascii_lowercase();
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_owned))
        };
        let status: u16 = head[9..12]
            .parse()
            .map_err(|_| format!("bad head {head}"))?;
        let len: usize = header("content-length")
            .ok_or_else(|| format!("no content-length in {head}"))?
            .parse()
            .unwrap();
        if head.contains("connection: close") {
            return Err(format!("the gateway closed the connection: {head}"));
        }
        while self.buf.len() < head_end + len {
            self.fill().await?;
        }
        let body: Value = serde_json::from_slice(&self.buf[head_end..head_end + len])
            .map_err(|e| e.to_string())?;
        self.buf.drain(..head_end + len);
        Ok(Answer {
            status,
            limit: header("x-ratelimit-limit").and_then(|v| v.parse().ok()),
            upstream: body["upstream"].as_str().unwrap_or("").to_owned(),
        })
    }

    async fn fill(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 4096];
        match self.conn.read(&mut chunk).await {
            Ok(0) => Err("the connection was closed".into()),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

async fn post_reload(gw: &Serve) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(format!("{}/config/reload", gw.admin))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// Waits (up to 10 s) for a request on a new connection to be answered by `upstream`.
async fn wait_for_upstream(base: &str, key: &str, upstream: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let a = KeptAlive::open(base)
            .await
            .get("/v1/things", key)
            .await
            .unwrap();
        if a.upstream == upstream {
            return;
        }
        assert!(Instant::now() < deadline, "{upstream} never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_under_load_changes_a_plan_limit_and_the_upstream_with_nothing_failed_or_dropped() {
    let (a, b) = (upstream("a").await, upstream("b").await);
    let (dir, cfg) = setup("reload-load", &a, 100_000, "");
    let gw = Serve::start(&cfg);
    let key = new_key(&cfg);

    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicUsize::new(0));
    let reloaded = Arc::new(AtomicBool::new(false));
    let mut kept = Vec::new();
    // Connections kept alive across the reload: each must see the old answer, then the new
    // one, on the one connection.
    for _ in 0..3 {
        let (base, key, stop) = (gw.base.clone(), key.clone(), Arc::clone(&stop));
        kept.push(tokio::spawn(async move {
            let mut c = KeptAlive::open(&base).await;
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let a = c.get("/v1/things", &key).await?;
                if a.status != 200 {
                    return Err(format!("status {}", a.status));
                }
                let step = (a.upstream, a.limit);
                if seen.last() != Some(&step) {
                    seen.push(step);
                }
            }
            Ok::<_, String>(seen)
        }));
    }
    // And a connection per request.
    let mut fresh = Vec::new();
    for _ in 0..2 {
        let (base, key, stop, failed) = (
            gw.base.clone(),
            key.clone(),
            Arc::clone(&stop),
            Arc::clone(&failed),
        );
        fresh.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap();
            let mut sent = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let ok = client
                    .get(format!("{base}/v1/things"))
                    .bearer_auth(&key)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200);
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                sent += 1;
            }
            sent
        }));
    }

    tokio::time::sleep(Duration::from_millis(700)).await;
    write_config(&cfg, &b, 200_000, "");
    gw.signal("HUP");
    let line = gw.wait_for_log("config reloaded", Duration::from_secs(10));
    reloaded.store(true, Ordering::Relaxed);
    assert!(
        line.contains(r#""changed":"upstream,plans.free""#)
            && line.contains(r#""trigger":"SIGHUP""#),
        "{line}"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, Ordering::Relaxed);

    for k in kept {
        let seen = k.await.unwrap().expect("a kept-alive connection failed");
        assert_eq!(
            seen,
            vec![
                ("a".to_owned(), Some(100_000)),
                ("b".to_owned(), Some(200_000))
            ],
            "the old answer, then the new, on one connection"
        );
    }
    let mut sent = 0;
    for f in fresh {
        sent += f.await.unwrap();
    }
    assert!(sent > 20, "the load ran ({sent} requests)");
    assert_eq!(failed.load(Ordering::Relaxed), 0, "of {sent} requests");
    drop(gw);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_config_is_refused_whole_and_the_running_one_keeps_serving() {
    let (a, b) = (upstream("a").await, upstream("b").await);
    let (dir, cfg) = setup("reload-broken", &a, 1000, "");
    let gw = Serve::start(&cfg);
    let key = new_key(&cfg);

    // Two problems, and a change that must not be half applied.
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace(&a, &b)
            .replace("workers = 2", "workers = \"two\"\nupstrem = \"x\""),
    )
    .unwrap();
    gw.signal("HUP");
    let line = gw.wait_for_log("config reload refused", Duration::from_secs(10));
    assert!(line.contains("upstrem"), "{line}");
    let mut c = KeptAlive::open(&gw.base).await;
    let answer = c.get("/v1/things", &key).await.unwrap();
    assert_eq!((answer.status, answer.upstream.as_str()), (200, "a"));

    let (status, body) = post_reload(&gw).await;
    assert_eq!(status, 409);
    let file = cfg.display().to_string();
    let details = &body["error"]["details"];
    assert_eq!(
        details,
        &json!([
            {
                "path": [format!("{file}:2:11")],
                "code": "invalid_config",
                "message": format!("{file}:2:11: error: `workers` must be a whole number, not `\"two\"`\n  help: e.g. `workers = 2`"),
            },
            {
                "path": [format!("{file}:3:1")],
                "code": "invalid_config",
                "message": format!("{file}:3:1: error: unknown key `upstrem`\n  help: did you mean `upstream`?"),
            },
        ]),
        "{body:#}"
    );
    assert_eq!(body["error"]["code"], "resource_conflict", "{body:#}");
    // Still the running config, on the same connection.
    let answer = c.get("/v1/things", &key).await.unwrap();
    assert_eq!((answer.status, answer.upstream.as_str()), (200, "a"));
    assert!(gw.stderr().contains("config reload refused"));
    drop(gw);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_reload_keeps_counters_and_names_what_takes_a_restart() {
    let (a, b) = (upstream("a").await, upstream("b").await);
    let (dir, cfg) = setup("reload-post", &a, 3, "");
    let gw = Serve::start(&cfg);
    let key = new_key(&cfg);
    let mut c = KeptAlive::open(&gw.base).await;
    for _ in 0..2 {
        assert_eq!(c.get("/v1/things", &key).await.unwrap().status, 200);
    }

    // A new upstream, and a new listen address (which takes a restart).
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace(&a, &b)
            .replace(
                "listen = \"127.0.0.1:0\"\nworkers",
                "listen = \"127.0.0.1:1\"\nworkers",
            ),
    )
    .unwrap();
    let (status, body) = post_reload(&gw).await;
    let file = cfg.display().to_string();
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(
        body,
        json!({"status": "reloaded", "file": file, "changed": ["upstream"], "restart_required": ["listen"]})
    );
    // The third request of the minute is the last the plan allows: the counter survived.
    let third = c.get("/v1/things", &key).await.unwrap();
    assert_eq!((third.status, third.upstream.as_str()), (200, "b"));
    let fourth = c.get("/v1/things", &key).await;
    assert!(
        matches!(&fourth, Ok(a) if a.status == 429),
        "the fourth is over the limit"
    );

    let (status, body) = post_reload(&gw).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"status": "unchanged", "file": file, "changed": [], "restart_required": ["listen"]})
    );

    // The admin API needs its token for this as for everything else.
    let res = reqwest::Client::new()
        .post(format!("{}/config/reload", gw.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    drop(gw);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_file_is_reloaded_when_it_changes() {
    let (a, b) = (upstream("a").await, upstream("b").await);
    let (dir, cfg) = setup("reload-watch", &a, 1000, "watch_config = true");
    let gw = Serve::start(&cfg);
    let key = new_key(&cfg);
    wait_for_upstream(&gw.base, &key, "a").await;
    write_config(&cfg, &b, 1000, "watch_config = true");
    wait_for_upstream(&gw.base, &key, "b").await;
    let line = gw.wait_for_log("config reloaded", Duration::from_secs(5));
    assert!(line.contains(r#""trigger":"file change""#), "{line}");
    drop(gw);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_gateway_without_a_config_file_says_there_is_nothing_to_reload() {
    let h = support::start("").await;
    let res = h
        .http
        .post(format!("{}/config/reload", h.admin))
        .bearer_auth(&h.running.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["error"]["details"],
        json!([{
            "path": ["config"],
            "code": "no_config_file",
            "message": "this process has no config file to read again: it runs on the embedded defaults or as the demo",
        }]),
        "{body:#}"
    );
}
