//! `errata serve --demo` tells the truth: every command its tour prints, run in the order
//! printed with the printed keys, gets the status its comment starts with; every error answer
//! carries one request id, the same in the `x-request-id` header and the body; the printed
//! admin token opens the admin API, and the printed lookups (the CLI on the demo's store, curl
//! on the admin API) find a request by that id while the demo runs; its state goes when it
//! stops.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

struct Demo {
    child: Child,
    /// The test's folder: the config, and the system temporary directory the demo sees.
    dir: PathBuf,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
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

/// Starts the demo on free ports, with `admin` the lines of its config's `[admin]` after
/// `listen`, and returns its printed tour, line by line. The demo's temporary directory is
/// under the test's folder `name`.
fn start(name: &str, admin: &str) -> (Demo, Vec<String>) {
    let dir = std::env::temp_dir().join(format!("errata-demo-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("errata.toml");
    std::fs::write(
        &config,
        format!("listen = \"127.0.0.1:0\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\n{admin}"),
    )
    .expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_errata"))
        .args(["serve", "--demo", "--config"])
        .arg(&config)
        .current_dir(&dir)
        .env("TMPDIR", &dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("errata serve --demo");
    let stdout = child.stdout.take().expect("stdout");
    let demo = Demo { child, dir };
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
            // The lookups by request id are run apart, once a request id is known.
            ["curl ", "head ", "for "].iter().any(|p| l.starts_with(p)) && !l.contains("$ID")
        })
        .map(|l| step(l))
        .collect()
}

/// A command line and the statuses its comment claims.
fn step(l: &str) -> Step {
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
}

/// Runs a tour line as the reader would, in `sh`, with the keys exported.
fn run(line: &str, keys: &[(String, String)]) -> String {
    let out = run_output(line, keys);
    assert!(out.status.success(), "`{line}` failed: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs a tour line in `sh`, with the keys exported, whatever its exit status.
fn run_output(line: &str, keys: &[(String, String)]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(line);
    for (k, v) in keys {
        cmd.env(k, v);
    }
    for proxy in ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"] {
        cmd.env_remove(proxy);
    }
    cmd.output().expect("sh")
}

/// The one tour line containing all of `parts`, trimmed.
fn line_with<'a>(tour: &'a [String], parts: &[&str]) -> &'a str {
    let found: Vec<&String> = tour
        .iter()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .collect();
    assert_eq!(found.len(), 1, "one line with {parts:?} in:\n{tour:#?}");
    found[0].trim()
}

/// A command line without its trailing `# comment`.
fn command(line: &str) -> &str {
    line.rsplit_once(" # ").map_or(line, |(c, _)| c).trim()
}

/// The value of one `NAME=value` line of the tour.
fn key<'a>(keys: &'a [(String, String)], name: &str) -> &'a str {
    keys.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name}= line"))
}

/// The demo's state directory, as its tour names it.
fn state_dir(tour: &[String]) -> PathBuf {
    let line = line_with(tour, &["This run's state (keys, request log) is in "]);
    let path = line
        .strip_prefix("This run's state (keys, request log) is in ")
        .and_then(|r| r.strip_suffix("/, removed when the demo stops."))
        .unwrap_or_else(|| panic!("{line}"));
    PathBuf::from(path)
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

/// The admin token the tests' configs choose.
const TOKEN: &str = "demo-admin-token-0123456789";

fn skip_without_curl() -> bool {
    if have_curl() {
        return false;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "curl is needed to run the demo's commands"
    );
    println!("skipped: no curl");
    true
}

#[test]
fn every_printed_command_gets_the_status_it_claims() {
    if skip_without_curl() {
        return;
    }
    let (demo, tour) = start("tour", &format!("token = \"{TOKEN}\"\n"));
    let keys = keys(&tour);
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["KEY", "READONLY", "GLOBEX", "LIMITED", "ADMIN"],
        "{tour:#?}"
    );
    // `--demo --config` takes the config's [admin] token, and says what else it took.
    assert_eq!(key(&keys, "ADMIN"), TOKEN);
    line_with(
        &tour,
        &["sign in with the admin token (the config's [admin] token)"],
    );
    let config = demo.dir.join("errata.toml");
    line_with(
        &tour,
        &[&format!("Taken from {}: the catalog, ", config.display())],
    );
    let steps = steps(&tour);
    assert_eq!(steps.len(), 17, "{tour:#?}");

    let mut first_error_id = None;
    let mut last_id = None;
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
        if !step.command.contains("Bearer $ADMIN") {
            last_id = headers
                .iter()
                .find(|(n, _)| n == "x-request-id")
                .map(|(_, v)| v.clone());
        }
        if step.command.contains("Bearer $ADMIN") {
            // The admin API's keys: the four of the tour, never a secret.
            let json: Value = serde_json::from_str(&body).expect("JSON");
            // Oldest first: made in one second, their order within it is the store's.
            let mut names: Vec<&str> = json["data"]
                .as_array()
                .expect("{\"data\": [...]}")
                .iter()
                .filter_map(|k| k["name"].as_str())
                .collect();
            names.sort_unstable();
            assert_eq!(
                names,
                ["another tenant", "demo", "rate-limited", "read-only"],
                "{body}"
            );
            for (name, secret) in &keys {
                assert!(name == "ADMIN" || !body.contains(secret.as_str()), "{body}");
            }
        }
        if status >= 400 {
            let header = headers
                .iter()
                .find(|(n, _)| n == "x-request-id")
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("no x-request-id on `{}`:\n{out}", step.command));
            first_error_id.get_or_insert_with(|| (header.to_owned(), step.command.clone()));
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

    // The console's API opens with the printed token only.
    let admin_keys = command(line_with(
        &tour,
        &["curl -i ", "/keys -H \"Authorization: Bearer $ADMIN\""],
    ));
    let anonymous = admin_keys.split(" -H ").next().expect("the URL part");
    let (status, _, body) = parse_response(&run(anonymous, &keys));
    assert_eq!(status, 401, "`{anonymous}` without the token:\n{body}");
    let (status, _, _) = parse_response(&run(
        &admin_keys.replace("$ADMIN", "not-the-admin-token-0123"),
        &keys,
    ));
    assert_eq!(status, 401, "a wrong token");

    // The first error's request id (the 401 without a key), looked up as the tour says.
    let (id, first) = first_error_id.expect("an error answer");
    assert!(first.ends_with("/v1/agents/agent-1"), "{first}");
    let mut with_id = keys.clone();
    with_id.push(("ID".to_owned(), id.clone()));
    let show = command(line_with(
        &tour,
        &[" requests show \"$ID\" --store sqlite://"],
    ));
    let found = poll(show, &with_id);
    let record: Value = serde_json::from_slice(&found.stdout).expect("a JSON record");
    assert_eq!(record["request_id"], id.as_str(), "{record}");
    assert_eq!(record["method"], "GET", "{record}");
    assert_eq!(record["path"], "/v1/agents/agent-1", "{record}");
    assert_eq!(record["status"], 401, "{record}");
    assert_eq!(record["code"], "missing_api_key", "{record}");

    let curl = line_with(&tour, &["curl -i ", "/requests/$ID"]);
    let step = step(curl);
    let (status, _, body) = parse_response(&run(&step.command, &with_id));
    assert_eq!(status, step.claimed[0], "`{curl}`:\n{body}");
    let from_api: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        from_api, record,
        "the admin API and the CLI show one record"
    );

    let list = command(line_with(
        &tour,
        &[" requests list --limit 5 --store sqlite://"],
    ));
    // The newest record first: the last answer of the tour (the admin API's are not the
    // gateway's), once its batch is written.
    let last_id = last_id.expect("an answer with a request id");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let listed = run(list, &keys);
        let newest = listed.lines().next().unwrap_or_default();
        if newest.starts_with(&format!("{last_id}  ")) {
            assert_eq!(listed.lines().count(), 5, "`{list}`:\n{listed}");
            break;
        }
        assert!(Instant::now() < deadline, "`{list}`:\n{listed}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let keys_list = command(line_with(&tour, &[" keys list --store sqlite://"]));
    let listed = run(keys_list, &keys);
    for name in ["read-only", "another tenant", "rate-limited"] {
        assert!(listed.contains(name), "`{keys_list}`:\n{listed}");
    }
    assert!(!listed.contains(key(&keys, "KEY")), "no secret listed");
}

/// Runs a lookup until it succeeds: records are written about once a second.
fn poll(line: &str, keys: &[(String, String)]) -> Output {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let out = run_output(line, keys);
        if out.status.success() {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "`{line}` found nothing in 15 s: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_made_token_opens_the_console_and_the_state_goes_at_exit() {
    if skip_without_curl() {
        return;
    }
    let (mut demo, tour) = start("token", "");
    let keys = keys(&tour);
    let token = key(&keys, "ADMIN");
    assert!(
        token.starts_with("admin_live_") && token.len() > 20,
        "{token}"
    );
    line_with(
        &tour,
        &[
            "sign in with the admin token (made for this run; set [admin] token in a config passed with --config to choose it)",
        ],
    );
    let admin_keys = command(line_with(
        &tour,
        &["curl -i ", "/keys -H \"Authorization: Bearer $ADMIN\""],
    ));
    let (status, _, _) = parse_response(&run(admin_keys, &keys));
    assert_eq!(status, 200, "`{admin_keys}` with the made token");

    let state = state_dir(&tour);
    assert!(
        state.starts_with(&demo.dir),
        "{} is in TMPDIR",
        state.display()
    );
    assert!(state.join("errata.db").is_file(), "{}", state.display());
    let killed = Command::new("kill")
        .args(["-TERM", &demo.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let exit = demo.child.wait().expect("the demo exits");
    assert!(exit.success(), "{exit:?}");
    assert!(!state.exists(), "{} is removed at exit", state.display());
    assert!(!Path::new(&demo.dir).join("errata-keys.db").exists());
}
