//! What the Python and TypeScript SDK suites run against: a fault-injecting upstream, a real
//! `errata serve` with the Kaplaix catalog in front of it, a key, and the tools (python3, node)
//! found or reported missing.
//!
//! The upstream answers, by path:
//! - `/v1/echo`: 200 with what it received (method, path, body, request id, Idempotency-Key);
//! - `/v1/fault/{id}?fail=N&status=S&code=C&retry_after=R&retry_after_ms=M&body=B&delay_ms=D`:
//!   the first `N` attempts under `{id}` (every attempt when `fail` is left out) answer `S`
//!   (after `D` ms) with `B` (`envelope`: the Kaplaix envelope of `C`; `html`; `text`; `empty`)
//!   with `Retry-After: R` and `retry-after-ms: M` when given; later ones answer 200;
//! - `/_attempts/{id}` (asked directly, not through the gateway): how many attempts arrived
//!   under `{id}`, with the Idempotency-Key and request id of each.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn errata() -> Command {
    Command::new(env!("CARGO_BIN_EXE_errata"))
}

/// Says a suite was skipped for want of `what`; under `CI` that is a failure.
pub fn skip(what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what}, and CI is set: the SDK suites must run in CI");
    }
    println!("skipped: {what}");
}

/// Runs a command to completion, returning whether it succeeded and its output.
pub fn run(cmd: &mut Command) -> (bool, String) {
    match cmd.output() {
        Ok(o) => (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        ),
        Err(e) => (false, e.to_string()),
    }
}

/// Runs a command, failing the test with its output when it fails.
pub fn must(cmd: &mut Command) -> String {
    let shown = format!("{cmd:?}");
    let (ok, out) = run(cmd);
    assert!(ok, "{shown} failed:\n{out}");
    out
}

/// A virtual environment in target/tmp/`name` with `packages` pip-installed (tools of the
/// suites, not dependencies of the generated packages), kept between runs while the list is
/// the same; its python. `None` (skipped, failing under `CI`) without python3 >= 3.9 and venv.
pub fn venv(name: &str, packages: &[&str]) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let python = dir.join("venv/bin/python");
    let stamp = dir.join("installed");
    let want = packages.join("\n");
    if python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == want) {
        return Some(python);
    }
    let (ok, out) = run(Command::new("python3").args([
        "-c",
        "import sys, venv, ensurepip; assert sys.version_info >= (3, 9)",
    ]));
    if !ok {
        skip(&format!(
            "no python3 (>= 3.9) with venv and ensurepip: {}",
            out.trim()
        ));
        return None;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    must(
        Command::new("python3")
            .args(["-m", "venv"])
            .arg(dir.join("venv")),
    );
    must(
        Command::new(&python)
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
            .args(packages),
    );
    std::fs::write(&stamp, want).unwrap();
    Some(python)
}

/// A scratch npm project in target/tmp/`name` with `dev_dependencies` installed (tools of the
/// suites, not dependencies of the generated packages), kept between runs while they are the
/// same. `None` (skipped, failing under `CI`) without node >= 18 and npm.
pub fn npm_project(name: &str, dev_dependencies: Value) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let (ok, out) = run(Command::new("node").args([
        "-e",
        "process.exit(Number(process.versions.node.split('.')[0]) >= 18 ? 0 : 1)",
    ]));
    if !ok {
        skip(&format!("no node >= 18: {}", out.trim()));
        return None;
    }
    if !run(Command::new("npm").arg("--version")).0 {
        skip("no npm");
        return None;
    }
    let manifest = serde_json::to_string_pretty(&json!({
        "private": true,
        "type": "module",
        "devDependencies": dev_dependencies,
    }))
    .unwrap();
    let stamp = dir.join("installed");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == manifest) {
        return Some(dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("package.json"), &manifest).unwrap();
    must(
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir),
    );
    std::fs::write(&stamp, manifest).unwrap();
    Some(dir)
}

type Seen = Arc<Mutex<HashMap<String, Vec<Value>>>>;

/// The fault-injecting upstream; it stops with the test process.
pub struct Upstream {
    pub url: String,
}

pub fn upstream() -> Upstream {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let seen: Seen = Arc::default();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(s) = stream else { continue };
            let seen = seen.clone();
            std::thread::spawn(move || serve_connection(s, &seen));
        }
    });
    Upstream { url }
}

struct Req {
    method: String,
    path: String,
    query: HashMap<String, String>,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Req> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.insert(n.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    let (path, q) = target.split_once('?').unwrap_or((&target, ""));
    let query = q
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Some(Req {
        method,
        path: path.to_owned(),
        query,
        headers,
        body,
    })
}

fn serve_connection(s: TcpStream, seen: &Seen) {
    let mut w = match s.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut r = BufReader::new(s);
    while let Some(req) = read_request(&mut r) {
        let (status, headers, body) = answer(&req, seen);
        let mut head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if w.write_all(head.as_bytes()).is_err() || w.write_all(body.as_bytes()).is_err() {
            return;
        }
    }
}

fn answer(req: &Req, seen: &Seen) -> (u16, Vec<(String, String)>, String) {
    let json_type = vec![("content-type".to_owned(), "application/json".to_owned())];
    let h = |n: &str| req.headers.get(n).cloned();
    if req.path == "/v1/echo" {
        let body = json!({
            "ok": true,
            "method": req.method,
            "path": req.path,
            "body": String::from_utf8_lossy(&req.body),
            "request_id": h("x-request-id"),
            "idempotency_key": h("idempotency-key"),
        });
        return (200, json_type, body.to_string());
    }
    if let Some(id) = req.path.strip_prefix("/_attempts/") {
        let list = seen.lock().unwrap().get(id).cloned().unwrap_or_default();
        let body = json!({ "count": list.len(), "attempts": list });
        return (200, json_type, body.to_string());
    }
    let Some(id) = req.path.strip_prefix("/v1/fault/") else {
        return (
            404,
            json_type,
            json!({"error": {"code": "NOT_FOUND", "message": "no such path"}}).to_string(),
        );
    };
    let n = {
        let mut map = seen.lock().unwrap();
        let list = map.entry(id.to_owned()).or_default();
        list.push(json!({
            "method": req.method,
            "idempotency_key": h("idempotency-key"),
            "request_id": h("x-request-id"),
        }));
        list.len()
    };
    let q = |k: &str| req.query.get(k).cloned();
    let fail: usize = q("fail").and_then(|v| v.parse().ok()).unwrap_or(usize::MAX);
    if n > fail {
        return (
            200,
            json_type,
            json!({"ok": true, "attempts": n}).to_string(),
        );
    }
    if let Some(ms) = q("delay_ms").and_then(|v| v.parse().ok()) {
        std::thread::sleep(Duration::from_millis(ms));
    }
    let status: u16 = q("status").and_then(|v| v.parse().ok()).unwrap_or(500);
    let mut headers = Vec::new();
    if let Some(r) = q("retry_after") {
        headers.push(("retry-after".to_owned(), r));
    }
    if let Some(r) = q("retry_after_ms") {
        headers.push(("retry-after-ms".to_owned(), r));
    }
    let body = match q("body").as_deref().unwrap_or("envelope") {
        "html" => {
            headers.push(("content-type".into(), "text/html".into()));
            format!("<html><body><h1>{status}</h1></body></html>")
        }
        "text" => {
            headers.push(("content-type".into(), "text/plain".into()));
            "upstream exploded".to_owned()
        }
        "empty" => String::new(),
        _ => {
            headers.push(("content-type".into(), "application/json".into()));
            let code = q("code").unwrap_or_else(|| "INTERNAL_ERROR".into());
            let mut err = json!({"code": code, "message": format!("injected {code}")});
            if code == "VALIDATION_ERROR" {
                err["details"] = json!([{"path": ["eventId"], "message": "Invalid uuid", "code": "invalid_string"}]);
            }
            json!({ "error": err }).to_string()
        }
    };
    (status, headers, body)
}

/// A running `errata serve` with the Kaplaix catalog; killed on drop.
pub struct Gateway {
    child: Child,
    pub url: String,
    pub key: String,
    /// A key whose own limit is one request a minute.
    pub limited_key: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the gateway in `dir` in front of `upstream`, and creates a key.
pub fn gateway(dir: &Path, upstream: &str) -> Gateway {
    let catalog = root().join("catalogs/kaplaix.toml");
    let cfg = dir.join("errata.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"listen = "127.0.0.1:0"
upstream = "{upstream}"
catalog = "{}"
store = "sqlite://keys.db"
key_prefix = "kplx"

[admin]
listen = "127.0.0.1:0"
token = "admin-token-0123456789"

[timeouts]
response_ms = 1500
shutdown_ms = 1000

[limits]
rate = 100000
per_seconds = 1
burst = 0
monthly_quota = 100000000
concurrency = 1000

"#,
            catalog.display()
        ),
    )
    .unwrap();
    let key = create_key(&cfg, "sdk-tests", &[]);
    // A key allowed one request a minute, for the gateway's own rate limit.
    let limited_key = create_key(&cfg, "sdk-limited", &["--rate", "1", "--per-seconds", "60"]);
    let mut child = errata()
        .args(["serve", "--config"])
        .arg(&cfg)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = stdout.lines();
    let mut url = None;
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("errata gateway listening on ") {
            url = Some(rest.split(' ').next().unwrap().to_owned());
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Gateway {
        child,
        url: url.expect("the gateway prints where it listens"),
        key,
        limited_key,
    }
}

fn create_key(cfg: &Path, name: &str, extra: &[&str]) -> String {
    let out = must(
        errata()
            .args([
                "keys", "create", "--tenant", "sdk", "--name", name, "--json",
            ])
            .args(extra)
            .arg("--config")
            .arg(cfg),
    );
    let start = out.find('{').expect("keys create --json prints JSON");
    let issued: Value = serde_json::from_str(&out[start..]).expect("the issued key as JSON");
    issued["secret"].as_str().unwrap().to_owned()
}

/// A loopback URL where nothing listens.
pub fn closed_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

/// A fresh folder for one run.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("errata-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The environment every suite reads.
pub fn suite_env(cmd: &mut Command, gw: &Gateway, up: &Upstream, sdk: &Path) {
    cmd.env("ERRATA_URL", &gw.url)
        .env("ERRATA_KEY", &gw.key)
        .env("ERRATA_LIMITED_KEY", &gw.limited_key)
        .env("ERRATA_UPSTREAM", &up.url)
        .env("ERRATA_CLOSED_URL", closed_url())
        .env("ERRATA_SDK_DIR", sdk)
        .env(
            "ERRATA_CASES",
            root().join("crates/errata-sdk/cases/retry.json"),
        )
        .env("ERRATA_CATALOG", root().join("catalogs/kaplaix.toml"));
}
