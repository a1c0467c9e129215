//! `errata serve --demo` tells the truth: every command its tour prints, run in the order
//! printed with the printed keys, gets the status its comment starts with; and every error
//! answer carries one request id, the same in the `x-request-id` header and the body.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

struct Demo {
    child: Child,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn have_curl() -> bool {
    Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts the demo on free ports and returns its printed tour, line by line.
fn start() -> (Demo, Vec<String>) {
    let dir = std::env::temp_dir().join(format!("errata-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("errata.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\n",
    )
    .expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_errata"))
        .args(["serve", "--demo", "--config"])
        .arg(&config)
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("errata serve --demo");
    let stdout = child.stdout.take().expect("stdout");
    let demo = Demo { child };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            let last = line.starts_with("Stop with Ctrl-C");
            if tx.send(line).is_err() || last {
                return;
            }
        }
    });
    let mut tour = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                let last = line.starts_with("Stop with Ctrl-C");
                tour.push(line);
                if last {
                    return (demo, tour);
                }
            }
            Err(e) => panic!("the demo did not print its tour ({e}); so far:\n{tour:#?}"),
        }
    }
}

/// `NAME=value` lines of the tour: the keys.
fn keys(tour: &[String]) -> Vec<(String, String)> {
    tour.iter()
        .filter_map(|l| {
            let (name, rest) = l.trim_start().split_once('=')?;
            let value = rest.split_whitespace().next()?;
            (!name.is_empty() && name.bytes().all(|b| b.is_ascii_uppercase()))
                .then(|| (name.to_owned(), value.to_owned()))
        })
        .collect()
}

/// A command line of the tour and the statuses its comment claims (one for a request, several
/// for a loop).
struct Step {
    command: String,
    claimed: Vec<u16>,
}

fn steps(tour: &[String]) -> Vec<Step> {
    tour.iter()
        .filter(|l| {
            let l = l.trim_start();
            ["curl ", "head ", "for "].iter().any(|p| l.starts_with(p))
        })
        .map(|l| {
            let (command, comment) = l
                .rsplit_once(" # ")
                .unwrap_or_else(|| panic!("no status comment on a command line: {l}"));
            let claimed: Vec<u16> = comment
                .split(|c: char| !c.is_ascii_digit())
                .take_while(|w| !w.is_empty())
                .map(|w| w.parse().expect("a status"))
                .collect();
            assert!(!claimed.is_empty(), "no status claimed by: {l}");
            Step {
                command: command.trim().to_owned(),
                claimed,
            }
        })
        .collect()
}

/// Runs a tour line as the reader would, in `sh`, with the keys exported.
fn run(line: &str, keys: &[(String, String)]) -> String {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(line);
    for (k, v) in keys {
        cmd.env(k, v);
    }
    for proxy in ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"] {
        cmd.env_remove(proxy);
    }
    let out = cmd.output().expect("sh");
    assert!(out.status.success(), "`{line}` failed: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// A `curl -i` answer: its status, headers (lower-case names) and body.
fn parse_response(raw: &str) -> (u16, Vec<(String, String)>, String) {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP answer:\n{raw}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line:\n{raw}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

/// The `request_id` member anywhere in a JSON body.
fn body_request_id(v: &Value) -> Option<&str> {
    match v {
        Value::Object(m) => m
            .get("request_id")
            .and_then(Value::as_str)
            .or_else(|| m.values().find_map(body_request_id)),
        _ => None,
    }
}

#[test]
fn every_printed_command_gets_the_status_it_claims() {
    if !have_curl() {
        assert!(
            std::env::var_os("CI").is_none(),
            "curl is needed to run the demo's commands"
        );
        println!("skipped: no curl");
        return;
    }
    let (_demo, tour) = start();
    let keys = keys(&tour);
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["KEY", "READONLY", "GLOBEX", "LIMITED"], "{tour:#?}");
    let steps = steps(&tour);
    assert_eq!(steps.len(), 16, "{tour:#?}");

    for step in &steps {
        let out = run(&step.command, &keys);
        if step.claimed.len() > 1 {
            // A loop printing one status per request.
            let got: Vec<u16> = out
                .split_whitespace()
                .map(|s| s.parse().expect("a status"))
                .collect();
            assert_eq!(got, step.claimed, "`{}`", step.command);
            continue;
        }
        let (status, headers, body) = parse_response(&out);
        assert_eq!(status, step.claimed[0], "`{}`:\n{out}", step.command);
        if status >= 400 {
            let header = headers
                .iter()
                .find(|(n, _)| n == "x-request-id")
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("no x-request-id on `{}`:\n{out}", step.command));
            let json: Value = serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("`{}`: body is not JSON ({e}):\n{out}", step.command));
            assert_eq!(
                body_request_id(&json),
                Some(header),
                "one request id for `{}`:\n{out}",
                step.command
            );
            if step.command.contains("/v1/exports") {
                // Raised by the service by name; what the client sees is the catalog's.
                assert_eq!(json["error"]["code"], "invalid_date_range", "{out}");
                assert_eq!(
                    json["error"]["message"],
                    "Start date must be before end date. Maximum range is 90 days.",
                    "{out}"
                );
                assert_eq!(json["error"]["param"], "to", "{out}");
                assert!(!body.contains("\"args\""), "the raise body leaked:\n{out}");
            }
        }
    }
}
