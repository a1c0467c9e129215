//! What an operator runs around `errata serve`, as the real binary: `errata config check`,
//! `errata completions`, `errata --version`, and the gateway's logs as `log_format`,
//! `log_level` and `RUST_LOG` make them.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};
use support::certs::{TestCa, temp_dir};
use support::process::Serve;

fn errata_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_errata"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// The repository's root, where `docs/` is.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn config_check_of_a_good_file_prints_one_line_and_exits_0() {
    let dir = temp_dir("check-good");
    TestCa::new("errata test CA")
        .leaf(&["localhost"])
        .write(&dir, "cert.pem", "key.pem");
    std::fs::write(
        dir.join("errata.toml"),
        r#"listen = "127.0.0.1:9443"
upstream = "http://127.0.0.1:3000"
store = "sqlite://keys.db"
counters = "memory://"
log_format = "text"
log_level = "info,errata::access=warn"

[tls]
cert = "cert.pem"
key = "key.pem"

[admin]
listen = "127.0.0.1:9091"
token = "admin-token-0123456789"

[limits]
default_plan = "free"

[plans.free]
rate = 10

[[routes]]
path = "/v1"

[[routes]]
path = "/health"
auth = false
"#,
    )
    .unwrap();
    let o = errata_in(&dir, &["config", "check", "errata.toml"]);
    assert_eq!(stderr(&o), "");
    assert_eq!(
        stdout(&o),
        "errata.toml: ok: listen 127.0.0.1:9443 (https), admin 127.0.0.1:9091, 2 routes, 1 plan, upstream http://127.0.0.1:3000, store sqlite://keys.db, counters memory://\n"
    );
    assert_eq!(o.status.code(), Some(0));
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["cert.pem", "errata.toml", "key.pem"],
        "a check makes no store"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn config_check_prints_every_problem_with_its_line_and_exits_1() {
    let dir = temp_dir("check-bad");
    std::fs::write(
        dir.join("errata.toml"),
        r#"listen = "127.0.0.1:9090"
upstrem = "http://127.0.0.1:3000"
workers = "2"
store = "sqlite://data/keys.db"
log_format = "jsn"
log_level = "warning"

[tls]
cert = "missing-cert.pem"
key = "missing-key.pem"
"#,
    )
    .unwrap();
    let o = errata_in(&dir, &["config", "check", "errata.toml"]);
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        r#"errata.toml:2:1: error: unknown key `upstrem`
  help: did you mean `upstream`?
errata.toml:3:11: error: `workers` must be a whole number, not `"2"`
  help: e.g. `workers = 2`
errata.toml:4:9: error: store: the folder data does not exist
  help: create it (the gateway makes the database file, not its folder), or point the store elsewhere
errata.toml:5:14: error: `log_format` must be one of "json", "text", not `"jsn"`
  help: did you mean "json"?
errata.toml:6:13: error: log_level `warning`: `warning` is not a level
  help: did you mean `warn`?
errata.toml:9:8: error: missing-cert.pem: cannot read the certificate chain: No such file or directory (os error 2)
  help: point `cert` at the PEM certificate chain (leaf first)
errata.toml: 6 errors
"#
    );
    assert_eq!(o.status.code(), Some(1));

    // A store that names a folder, and a config file that is not there: each file's problems,
    // then its count.
    std::fs::create_dir(dir.join("data")).unwrap();
    std::fs::write(
        dir.join("errata.toml"),
        "store = \"sqlite://data\"\n\n[admin]\ntoken = \"admin-token-0123456789\"\n",
    )
    .unwrap();
    let o = errata_in(&dir, &["config", "check", "errata.toml", "nowhere.toml"]);
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        "errata.toml:1:9: error: store: data is a folder, not a database file\n  help: name a file in it, e.g. \"sqlite://data/errata-keys.db\"\nerrata.toml: 1 error\nnowhere.toml: error: cannot read: No such file or directory (os error 2)\nnowhere.toml: 1 error\n"
    );
    assert_eq!(o.status.code(), Some(1));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn completions_name_the_subcommands_in_each_shell() {
    let here = root();
    for (shell, marker) in [
        ("bash", "_errata()"),
        ("zsh", "#compdef errata"),
        ("fish", "complete -c errata"),
        ("elvish", "edit:completion:arg-completer[errata]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let o = errata_in(&here, &["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", stderr(&o));
        let script = stdout(&o);
        assert!(script.contains(marker), "{shell}:\n{script}");
        for sub in ["serve", "keys", "config", "catalog", "completions"] {
            assert!(script.contains(sub), "{shell} lacks `{sub}`");
        }
    }
    let o = errata_in(&here, &["completions", "tcsh"]);
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        "error: invalid value 'tcsh' for '<SHELL>'\n  [possible values: bash, elvish, fish, powershell, zsh]\n\n  tip: a similar value exists: 'zsh'\n\nFor more information, try '--help'.\n"
    );
    assert_eq!(o.status.code(), Some(2));
}

/// `git ARGS` in the repository, or `None` where git is missing or it is not a checkout.
fn git(args: &[&str]) -> Option<String> {
    let o = Command::new("git")
        .args(args)
        .current_dir(root())
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let o = errata_in(&root(), &["--version"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    let version = env!("CARGO_PKG_VERSION");
    let inner = out
        .strip_prefix(&format!("errata {version} ("))
        .and_then(|r| r.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("not `errata {version} (HASH DATE)`: {out:?}"));
    let (hash, date) = inner.split_once(' ').unwrap();
    let bare = hash.strip_suffix("-dirty").unwrap_or(hash);
    assert!(
        bare.len() == 10 && bare.bytes().all(|b| b.is_ascii_hexdigit()),
        "{hash}"
    );
    let d = date.as_bytes();
    assert!(
        d.len() == 10
            && d[4] == b'-'
            && d[7] == b'-'
            && date.replace('-', "").bytes().all(|b| b.is_ascii_digit()),
        "{date}"
    );
    match (
        git(&["rev-parse", "--short=10", "HEAD"]),
        git(&["log", "-1", "--format=%cs", "HEAD"]),
    ) {
        (Some(head), Some(day)) => {
            assert_eq!(bare, head, "the commit checked out");
            assert_eq!(date, day, "its date");
        }
        _ => println!("skipped: no git, so the hash is not compared with HEAD"),
    }
}

/// A gateway config on free ports with `extra` top-level keys. No upstream is needed: the
/// requests below are refused for want of a key.
fn serve_config(name: &str, extra: &str) -> (PathBuf, PathBuf) {
    let dir = temp_dir(name);
    let cfg = dir.join("errata.toml");
    std::fs::write(
        &cfg,
        format!(
            "listen = \"127.0.0.1:0\"\nstore = \"sqlite://keys.db\"\n{extra}\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"admin-token-0123456789\"\n"
        ),
    )
    .unwrap();
    (dir, cfg)
}

/// A request without a key, which the gateway refuses itself (401); its request id.
async fn refused(gw: &Serve) -> String {
    let res = reqwest::get(format!("{}/v1/reports?page=2", gw.base))
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    res.headers()["x-request-id"].to_str().unwrap().to_owned()
}

fn is_trace_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[tokio::test]
async fn text_logs_are_one_plain_line_per_request() {
    let (dir, cfg) = serve_config("logs-text", "log_format = \"text\"");
    let gw = Serve::start_with(&cfg, &[("RUST_LOG", None)]);
    let id = refused(&gw).await;
    let line = gw.wait_for_log(&format!("request_id={id}"), Duration::from_secs(5));
    assert!(serde_json::from_str::<Value>(&line).is_err(), "{line}");
    let (time, rest) = line.split_once(' ').unwrap();
    assert!(
        time.len() == 27 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "an RFC 3339 time in UTC: {line}"
    );
    let (head, latency) = rest.trim_start().rsplit_once(" latency_ms=").unwrap();
    assert!(latency.parse::<f64>().is_ok(), "{line}");
    let trace_id = head
        .split(" trace_id=")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .unwrap_or_default();
    assert!(is_trace_id(trace_id), "{line}");
    assert_eq!(
        head.replace(trace_id, "TRACE"),
        format!(
            "INFO errata::access: request_id={id} trace_id=TRACE method=GET path=/v1/reports route=\"/*\" key_id=\"\" tenant=\"\" status=401 code=\"missing_api_key\" upstream_request_id=\"\" idempotency=\"\""
        )
    );
    assert!(
        !gw.stderr().lines().any(|l| l.starts_with('{')),
        "no JSON at all:\n{}",
        gw.stderr()
    );
    drop(gw);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn json_is_the_default_with_every_access_field() {
    let (dir, cfg) = serve_config("logs-json", "");
    let gw = Serve::start_with(&cfg, &[("RUST_LOG", None)]);
    let id = refused(&gw).await;
    let line = gw.wait_for_log(&id, Duration::from_secs(5));
    let mut event: Value = serde_json::from_str(&line).unwrap();
    let time = event["timestamp"].as_str().unwrap().to_owned();
    assert!(time.ends_with('Z') && time.len() == 27, "{time}");
    let fields = event["fields"].as_object_mut().unwrap();
    let latency = fields.remove("latency_ms").unwrap();
    assert!(latency.as_f64().is_some_and(|l| l >= 0.0), "{latency}");
    let trace_id = fields.remove("trace_id").unwrap();
    assert!(is_trace_id(trace_id.as_str().unwrap()), "{trace_id}");
    assert_eq!(
        event,
        json!({
            "timestamp": time,
            "level": "INFO",
            "fields": {
                "request_id": id,
                "method": "GET",
                "path": "/v1/reports",
                "route": "/*",
                "key_id": "",
                "tenant": "",
                "status": 401,
                "code": "missing_api_key",
                "upstream_request_id": "",
                "idempotency": ""
            },
            "target": "errata::access"
        })
    );
    drop(gw);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn log_level_warn_leaves_the_access_log_out_and_rust_log_wins_over_it() {
    let (dir, cfg) = serve_config("logs-warn", "log_level = \"warn\"");

    let gw = Serve::start_with(&cfg, &[("RUST_LOG", None)]);
    let id = refused(&gw).await;
    // The access line is written before the answer leaves: had it been logged, it would be
    // read by now.
    std::thread::sleep(Duration::from_millis(500));
    let logged = gw.stderr();
    assert!(!logged.contains(&id), "{logged}");
    assert!(!logged.contains("INFO"), "nothing under warn:\n{logged}");
    drop(gw);

    let gw = Serve::start_with(&cfg, &[("RUST_LOG", Some("info"))]);
    let note = gw.wait_for_log("RUST_LOG is set", Duration::from_secs(5));
    let note: Value = serde_json::from_str(&note).unwrap();
    assert_eq!(note["target"], "errata::logs");
    assert_eq!(
        note["fields"],
        json!({
            "message": "RUST_LOG is set: it filters the logs instead of log_level",
            "rust_log": "info",
            "log_level": "warn"
        })
    );
    let id = refused(&gw).await;
    let line = gw.wait_for_log(&id, Duration::from_secs(5));
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["target"], "errata::access");
    assert_eq!(event["fields"]["status"], 401);
    drop(gw);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_reload_changes_the_log_level_of_the_running_gateway() {
    let (dir, cfg) = serve_config("logs-reload", "log_level = \"warn\"");
    let gw = Serve::start_with(&cfg, &[("RUST_LOG", None)]);
    let quiet = refused(&gw).await;

    let src = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        src.replace("log_level = \"warn\"", "log_level = \"info\""),
    )
    .unwrap();
    gw.signal("HUP");
    let changed = gw.wait_for_log("log level changed", Duration::from_secs(5));
    let changed: Value = serde_json::from_str(&changed).unwrap();
    assert_eq!(changed["target"], "errata::logs");
    assert_eq!(changed["fields"]["log_level"], "info");

    let id = refused(&gw).await;
    let line = gw.wait_for_log(&id, Duration::from_secs(5));
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["target"], "errata::access");
    assert!(
        !gw.stderr().contains(&quiet),
        "the request before the reload stays unlogged"
    );
    drop(gw);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `errata ARGS` in the repository with `env` set.
fn errata_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_errata"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .output()
        .unwrap()
}

const SECRETS: [(&str, &str); 2] = [
    ("ERRATA_ADMIN_TOKEN", "admin-token-0123456789abcdef"),
    (
        "ERRATA_PORTAL_SECRET",
        "portal-secret-0123456789abcdef0123456789",
    ),
];

#[test]
fn the_production_config_passes_the_check_with_and_without_tls() {
    let o = errata_with(&["config", "check", "docs/production.toml"], &SECRETS);
    assert_eq!(stderr(&o), "");
    assert_eq!(
        stdout(&o),
        "docs/production.toml: ok: listen 0.0.0.0:8080 (http), admin 127.0.0.1:8081, 2 routes, 2 plans, upstream http://127.0.0.1:3000, store postgres://errata@127.0.0.1:5432/errata, counters redis://127.0.0.1:6379\n"
    );
    assert_eq!(o.status.code(), Some(0));

    // Without the secrets it names, the check says which.
    let o = Command::new(env!("CARGO_BIN_EXE_errata"))
        .args(["config", "check", "docs/production.toml"])
        .env_remove("ERRATA_ADMIN_TOKEN")
        .env_remove("ERRATA_PORTAL_SECRET")
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("error: environment variable `ERRATA_ADMIN_TOKEN` is not set\n"),
        "{}",
        stderr(&o)
    );

    // Its [tls], uncommented, with certificate files in place.
    let dir = temp_dir("production-tls");
    let (cert, key) = TestCa::new("errata test CA")
        .leaf(&["api.example.com"])
        .write(&dir, "fullchain.pem", "privkey.pem");
    let src = std::fs::read_to_string(root().join("docs/production.toml")).unwrap();
    let commented = "# [tls]\n# cert = \"/etc/errata/tls/fullchain.pem\"\n# key = \"/etc/errata/tls/privkey.pem\"\n";
    assert!(
        src.contains(commented),
        "docs/production.toml's [tls] block"
    );
    let with_tls = src.replace(
        commented,
        &format!(
            "[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            cert.display(),
            key.display()
        ),
    );
    std::fs::write(dir.join("errata.toml"), with_tls).unwrap();
    let o = errata_with(
        &[
            "config",
            "check",
            &dir.join("errata.toml").to_string_lossy(),
        ],
        &SECRETS,
    );
    assert_eq!(stderr(&o), "");
    assert!(
        stdout(&o).contains(": ok: listen 0.0.0.0:8080 (https), "),
        "{}",
        stdout(&o)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The unit's commands are ones errata accepts, on one config, and it waits long enough on
/// stop for the production config's drain and shutdown.
#[test]
fn the_systemd_unit_checks_and_serves_one_config_and_outwaits_its_drain() {
    let unit = std::fs::read_to_string(root().join("docs/errata.service")).unwrap();
    let value = |key: &str| -> String {
        let found: Vec<&str> = unit
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("{key}=")))
            .collect();
        assert_eq!(found.len(), 1, "one {key}= in the unit");
        found[0].to_owned()
    };
    assert_eq!(
        value("ExecStartPre"),
        "/usr/local/bin/errata config check /etc/errata/errata.toml"
    );
    assert_eq!(
        value("ExecStart"),
        "/usr/local/bin/errata serve --config /etc/errata/errata.toml"
    );
    assert_eq!(value("ExecReload"), "/bin/kill -HUP $MAINPID");
    assert_eq!(value("KillSignal"), "SIGTERM");
    assert!(value("ExecStartPost").contains("http://127.0.0.1:8081/readyz"));

    let production: toml::Table = std::fs::read_to_string(root().join("docs/production.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        production["admin"]["listen"].as_str(),
        Some("127.0.0.1:8081")
    );
    let timeouts = &production["timeouts"];
    let ms =
        timeouts["drain_ms"].as_integer().unwrap() + timeouts["shutdown_ms"].as_integer().unwrap();
    let stop: i64 = value("TimeoutStopSec").parse().unwrap();
    assert!(stop * 1000 > ms, "TimeoutStopSec {stop} s <= {ms} ms");

    match Command::new("systemd-analyze").arg("--version").output() {
        Ok(o) if o.status.success() => {
            // The binary's path as the unit names it need not exist here: point it at ours.
            let dir = temp_dir("unit");
            let local = unit.replace("/usr/local/bin/errata", env!("CARGO_BIN_EXE_errata"));
            std::fs::write(dir.join("errata.service"), local).unwrap();
            let o = Command::new("systemd-analyze")
                .arg("verify")
                .arg(dir.join("errata.service"))
                .output()
                .unwrap();
            assert_eq!(stderr(&o), "", "systemd-analyze verify");
            assert_eq!(o.status.code(), Some(0));
            std::fs::remove_dir_all(&dir).unwrap();
        }
        _ => println!("skipped: no systemd-analyze, so the unit is not verified by systemd"),
    }
}
