//! Two `errata serve` processes on one public address: the second does not start (exit status
//! 2, the address named), and the first goes on answering every request.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when the test ends, whatever happens.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("errata-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A plain upstream on its own thread: every request gets `{"ok":true}`.
fn upstream() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        return;
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

/// A config in `dir` for `listen`, every path open, two workers.
fn config(dir: &Path, listen: &str, upstream: &str) -> PathBuf {
    let path = dir.join("errata.toml");
    std::fs::write(
        &path,
        format!(
            "listen = \"{listen}\"\nworkers = 2\nupstream = \"{upstream}\"\nstore = \"sqlite://keys.db\"\n\n[[routes]]\npath = \"/\"\nauth = false\n\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"admin-token-0123456789\"\n"
        ),
    )
    .unwrap();
    path
}

fn errata_serve(cfg: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_errata"))
        .args(["serve", "--config"])
        .arg(cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Starts a gateway; returns it and the address it listens on.
fn start(cfg: &Path) -> (Running, String) {
    let mut child = errata_serve(cfg);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addr = None;
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("errata gateway listening on http://") {
            addr = Some(rest.split(' ').next().unwrap().to_owned());
            break;
        }
    }
    // Keep reading so the gateway never writes into a closed pipe.
    std::thread::spawn(move || for _ in lines {});
    (
        Running(child),
        addr.expect("the gateway prints where it listens"),
    )
}

/// Waits (up to 20 s) for `child` to exit; its status and what it wrote to stderr.
fn exit_of(child: Child) -> (ExitStatus, String) {
    let mut running = Running(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = running.0.try_wait().unwrap() {
            let mut stderr = String::new();
            running
                .0
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return (status, stderr);
        }
        assert!(
            Instant::now() < deadline,
            "the second gateway started on a busy address"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_gateway_on_a_busy_address_does_not_start() {
    let upstream = upstream();
    let first_dir = temp_dir("clash-first");
    let (_first, addr) = start(&config(&first_dir, "127.0.0.1:0", &upstream));

    let second_dir = temp_dir("clash-second");
    let (status, stderr) = exit_of(errata_serve(&config(&second_dir, &addr, &upstream)));
    assert_eq!(status.code(), Some(2), "{stderr}");
    // Its last word (after any log lines of its start) names the address.
    let expected =
        format!("error: cannot listen on {addr}: the address is in use by another process");
    assert_eq!(stderr.lines().last(), Some(expected.as_str()), "{stderr}");

    // Every request, on new connections spread over the first gateway's workers, is its.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for i in 0..20 {
        let res = client
            .get(format!("http://{addr}/ok"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(res.status(), 200, "request {i}");
        assert_eq!(res.text().await.unwrap(), "{\"ok\":true}", "request {i}");
    }
}
