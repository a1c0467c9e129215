//! `errata serve` and `errata keys` as processes: a key created with the CLI works against a
//! running gateway at once and, revoked, fails within the revocation bound; logs never hold the
//! key; SIGTERM drains in-flight requests; an upstream that does not answer is warned of at
//! start and answered with the catalog's 502; a read of a store that does not exist says so
//! and makes no file.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Gateway {
    child: Child,
    base: String,
    stderr: mpsc::Receiver<String>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn errata() -> Command {
    Command::new(env!("CARGO_BIN_EXE_errata"))
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("errata-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Requests that reached the upstream's `/slow`.
static SLOW_SEEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A plain upstream on its own thread: `/ok` answers 200, `/slow` after 600 ms.
fn upstream() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut buf = [0u8; 4096];
                loop {
                    let n = match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let req = String::from_utf8_lossy(&buf[..n]);
                    if req.contains("GET /slow") {
                        SLOW_SEEN.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(600));
                    }
                    let body = "{\"ok\":true}";
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                }
            });
        }
    });
    format!("http://{addr}")
}

fn config(dir: &Path, upstream: &str) -> PathBuf {
    let path = dir.join("errata.toml");
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:0\"\nupstream = \"{upstream}\"\nstore = \"sqlite://keys.db\"\nkey_prefix = \"demo\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"admin-token-0123456789\"\n\n[timeouts]\nshutdown_ms = 5000\n"
        ),
    )
    .unwrap();
    path
}

fn serve(cfg: &Path) -> Gateway {
    let mut child = errata()
        .args(["serve", "--config"])
        .arg(cfg)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut base = None;
    let mut lines = stdout.lines();
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("errata gateway listening on ") {
            base = Some(rest.split(' ').next().unwrap().to_owned());
            break;
        }
    }
    // Keep reading so the gateway never writes into a closed pipe.
    std::thread::spawn(move || for _ in lines {});
    Gateway {
        child,
        base: base.expect("the gateway prints where it listens"),
        stderr: rx,
    }
}

fn keys(cfg: &Path, args: &[&str]) -> String {
    let o = errata()
        .arg("keys")
        .args(args)
        .arg("--config")
        .arg(cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

async fn status(client: &reqwest::Client, url: &str, key: &str) -> u16 {
    client
        .get(url)
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_cli_key_works_at_once_and_a_revoked_one_stops_within_the_bound() {
    let dir = temp_dir("serve-keys");
    let cfg = config(&dir, &upstream());
    let gw = serve(&cfg);
    let client = reqwest::Client::new();
    let url = format!("{}/ok", gw.base);

    let out = keys(
        &cfg,
        &["create", "--tenant", "acme", "--name", "cli", "--json"],
    );
    let issued: serde_json::Value = serde_json::from_str(&out).unwrap();
    let secret = issued["secret"].as_str().unwrap().to_owned();
    let id = issued["key"]["id"].as_str().unwrap().to_owned();
    assert_eq!(status(&client, &url, &secret).await, 200, "works at once");

    let listed = keys(&cfg, &["list"]);
    assert!(
        listed.contains(&id) && !listed.contains(&secret),
        "{listed}"
    );

    keys(&cfg, &["revoke", &id]);
    let revoked_at = Instant::now();
    let mut refused_after = None;
    while revoked_at.elapsed() < Duration::from_secs(5) {
        if status(&client, &url, &secret).await == 401 {
            refused_after = Some(revoked_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = refused_after.expect("a revoked key is refused");
    println!("revocation seen after {took:?} (bound: 100 ms poll + one store query)");

    drop(gw);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn access_logs_name_the_request_and_never_the_key() {
    let dir = temp_dir("serve-logs");
    let cfg = config(&dir, &upstream());
    let gw = serve(&cfg);
    let out = keys(
        &cfg,
        &["create", "--tenant", "acme", "--name", "logs", "--json"],
    );
    let issued: serde_json::Value = serde_json::from_str(&out).unwrap();
    let secret = issued["secret"].as_str().unwrap();
    let res = reqwest::Client::new()
        .get(format!("{}/ok", gw.base))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let mut line = None;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(l) = gw.stderr.recv_timeout(Duration::from_millis(100)) {
            assert!(!l.contains(secret), "the key leaked into the logs: {l}");
            if l.contains(&request_id) {
                line = Some(l);
                break;
            }
        }
    }
    let line: serde_json::Value = serde_json::from_str(&line.expect("an access log line")).unwrap();
    let f = &line["fields"];
    assert_eq!(f["request_id"], request_id.as_str());
    assert_eq!(f["key_id"], issued["key"]["id"]);
    assert_eq!(f["tenant"], "acme");
    assert_eq!(f["route"], "/*");
    assert_eq!(f["status"], 200);
    assert!(f["latency_ms"].as_f64().is_some());
    drop(gw);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests() {
    let dir = temp_dir("serve-term");
    let cfg = config(&dir, &upstream());
    let mut gw = serve(&cfg);
    let out = keys(
        &cfg,
        &["create", "--tenant", "acme", "--name", "term", "--json"],
    );
    let secret = serde_json::from_str::<serde_json::Value>(&out).unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = reqwest::Client::new();
    let slow = tokio::spawn({
        let (client, url, secret) = (client.clone(), format!("{}/slow", gw.base), secret.clone());
        async move { client.get(url).bearer_auth(secret).send().await }
    });
    // SIGTERM only once the request is in flight through the gateway.
    let deadline = Instant::now() + Duration::from_secs(5);
    while SLOW_SEEN.load(std::sync::atomic::Ordering::SeqCst) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let killed = Command::new("kill")
        .args(["-TERM", &gw.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let res = slow.await.unwrap();
    let res = match res {
        Ok(r) => r,
        Err(e) => {
            let logs: Vec<String> = gw.stderr.try_iter().collect();
            panic!("the in-flight request completes: {e}\n{}", logs.join("\n"));
        }
    };
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "{\"ok\":true}");
    let exit = gw.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(
        client.get(format!("{}/ok", gw.base)).send().await.is_err(),
        "no longer accepting"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A loopback address where nothing listens (a port just bound and let go).
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

#[tokio::test]
async fn serve_warns_of_an_upstream_that_does_not_answer_and_serves_502s() {
    let dir = temp_dir("serve-no-upstream");
    let upstream = closed_port();
    let cfg = config(&dir, &upstream);
    let gw = serve(&cfg);
    let mut warning = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while warning.len() < 2 && Instant::now() < deadline {
        if let Ok(l) = gw.stderr.recv_timeout(Duration::from_millis(100))
            && (!warning.is_empty() || l.starts_with("warning: "))
        {
            warning.push(l);
        }
    }
    assert_eq!(
        warning,
        [
            format!(
                "warning: nothing answers at {upstream} yet; requests will get 502 bad_gateway until it does."
            ),
            "  Start it, or point `upstream` in the config at it.".to_owned(),
        ]
    );

    // Still serving: a request with a key gets the catalog's 502.
    let out = keys(
        &cfg,
        &["create", "--tenant", "acme", "--name", "early", "--json"],
    );
    let secret = serde_json::from_str::<serde_json::Value>(&out).unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = reqwest::Client::new()
        .get(format!("{}/ok", gw.base))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(res.headers()["content-type"], "application/json");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": {
            "code": "bad_gateway",
            "type": "api_error",
            "message": "The upstream service could not be reached or sent an invalid response. Please try again.",
            "param": null,
            "request_id": id,
            // No public_url: the link derives from the address the gateway listens on.
            "doc_url": format!("{}/errors#bad_gateway", gw.base)
        }})
    );
    drop(gw);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn serve_says_nothing_of_an_upstream_that_answers() {
    let dir = temp_dir("serve-upstream-up");
    let cfg = config(&dir, &upstream());
    let gw = serve(&cfg);
    // The warning would come right after the start-up text; give it a moment to show.
    let deadline = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < deadline {
        if let Ok(l) = gw.stderr.recv_timeout(Duration::from_millis(100)) {
            assert!(!l.contains("nothing answers"), "{l}");
        }
    }
    drop(gw);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `errata ARGS` in `dir`, with no config: the embedded default store, `./errata-keys.db`.
fn errata_in(dir: &Path, args: &[&str]) -> std::process::Output {
    errata().args(args).current_dir(dir).output().unwrap()
}

#[test]
fn reads_of_a_store_that_does_not_exist_say_so_and_make_no_file() {
    let dir = temp_dir("no-store");
    let help = "  help: `errata serve` and `errata keys create` make it; the demo keeps its state in the file its start-up text names, while it runs. Pass --store sqlite://FILE or --config FILE to use another store\n";
    for args in [
        &["keys", "list"][..],
        &["keys", "show", "key_0123456789abcdef"],
        &["keys", "revoke", "key_0123456789abcdef"],
        &["keys", "rotate", "key_0123456789abcdef"],
        &["requests", "show", "req_0123456789abcdefghijklmn"],
        &["requests", "list"],
    ] {
        let o = errata_in(&dir, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&o.stdout), "", "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&o.stderr),
            format!(
                "error: no store at ./errata-keys.db (the default store), and this command does not make one\n{help}"
            ),
            "{args:?}"
        );
    }
    let o = errata_in(&dir, &["keys", "list", "--store", "sqlite://elsewhere.db"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "error: no store at ./elsewhere.db (the store --store names), and this command does not make one\n{help}"
        )
    );
    let cfg = dir.join("errata.toml");
    std::fs::write(&cfg, "store = \"sqlite://keys.db\"\n").unwrap();
    let o = errata_in(&dir, &["requests", "list", "--config", "errata.toml"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "error: no store at ./keys.db (the store of errata.toml), and this command does not make one\n{help}"
        )
    );
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["errata.toml"], "no file made by a read");

    // Creating a key makes the store; then the reads find it.
    let o = errata_in(
        &dir,
        &["keys", "create", "--tenant", "acme", "--name", "first"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dir.join("errata-keys.db").is_file());
    let o = errata_in(&dir, &["requests", "list"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "no records\n");
    std::fs::remove_dir_all(&dir).unwrap();
}
