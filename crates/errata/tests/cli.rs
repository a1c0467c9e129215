//! The `errata` command as a user runs it: real processes, exact output, exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn errata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_errata"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("errata runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn render_prints_the_response_like_curl() {
    let o = errata(&[
        "render",
        "rate_limit_exceeded",
        "--retry-after",
        "12",
        "--request-id",
        "req_demo",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        r#"HTTP/1.1 429 Too Many Requests
content-type: application/json
x-request-id: req_demo
retry-after: 12

{
  "error": {
    "code": "rate_limit_exceeded",
    "type": "rate_limit_error",
    "message": "Rate limit exceeded. Please retry after 12 seconds.",
    "param": null,
    "request_id": "req_demo",
    "doc_url": "/errors#rate_limit_exceeded"
  }
}
"#
    );
}

#[test]
fn render_problem_json_with_a_validation_detail() {
    let o = errata(&[
        "render",
        "invalid_fields",
        "--problem",
        "--request-id",
        "req_1",
        "--detail",
        "items.3.sku:invalid_type:Required",
        "--instance",
        "/v1/orders",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        r##"HTTP/1.1 422 Unprocessable Content
content-type: application/problem+json
x-request-id: req_1

{
  "type": "/errors#validation_error",
  "title": "Validation failed",
  "status": 422,
  "detail": "One or more fields failed validation.",
  "instance": "/v1/orders",
  "code": "validation_error",
  "request_id": "req_1",
  "errors": [
    {
      "detail": "Required",
      "pointer": "#/items/3/sku",
      "code": "invalid_type"
    }
  ]
}
"##
    );
}

#[test]
fn render_generates_a_request_id_in_the_catalogs_format() {
    let o = errata(&["render", "internal_error"]);
    let out = stdout(&o);
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .expect("a request id header");
    assert!(
        errata_core::Catalog::builtin().request_id().matches(id),
        "{id}"
    );
    assert!(out.contains(&format!("\"request_id\": \"{id}\"")));
}

#[test]
fn render_refuses_unknown_codes_with_the_list() {
    let o = errata(&["render", "no_such_code"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with(
        "error: `no_such_code` is neither a code of errata nor a condition; codes are: missing_api_key, invalid_api_key,"
    ));
}

#[test]
fn every_shipped_catalog_passes_the_check() {
    let mut files: Vec<String> = std::fs::read_dir(root().join("catalogs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| format!("catalogs/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "default + one per seed contract: {files:?}"
    );
    let mut args = vec!["catalog", "check"];
    args.extend(files.iter().map(String::as_str));
    let o = errata(&args);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(stderr(&o), "", "no warnings either");
    for f in &files {
        assert!(
            stdout(&o).contains(&format!("{f}: ok: ")),
            "{f}: {}",
            stdout(&o)
        );
    }
    assert!(
        stdout(&o)
            .contains("catalogs/default.toml: ok: 46 codes, 8 types, all 34 conditions mapped\n"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn check_reports_every_problem_and_exits_1() {
    let o = errata(&[
        "catalog",
        "check",
        "crates/errata-core/tests/fixtures/broken/many_problems.toml",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("crates/errata-core/tests/fixtures/broken/many_problems.toml:24:8: error: duplicate code `bad_request` (first declared at line 15)\n  help: each code must be declared once; remove or rename this one"), "{err}");
    assert!(
        err.ends_with("many_problems.toml: 15 errors, 2 warnings\n"),
        "{err}"
    );
}

#[test]
fn check_names_a_missing_file() {
    let o = errata(&["catalog", "check", "nope.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("nope.toml: error: cannot read: "));
}

#[test]
fn diff_lists_breaking_and_additive_changes() {
    let o = errata(&[
        "catalog",
        "diff",
        "catalogs/default.toml",
        "crates/errata/tests/fixtures/default-v2.toml",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    insta::assert_snapshot!(stdout(&o));
}

#[test]
fn diff_of_a_catalog_with_itself_is_empty() {
    let o = errata(&[
        "catalog",
        "diff",
        "catalogs/default.toml",
        "catalogs/default.toml",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "0 breaking, 0 additive, 0 other changes\n");
}

#[test]
fn docs_writes_each_format() {
    let dir = std::env::temp_dir().join(format!("errata-docs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (format, needle) in [
        ("md", "rate_limit_exceeded"),
        ("html", "id=\"rate_limit_exceeded\""),
        ("openapi", "\"openapi\": \"3.1"),
    ] {
        let out = dir.join(format!("errors.{format}"));
        let o = errata(&[
            "docs",
            "--catalog",
            "catalogs/default.toml",
            "--format",
            format,
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.contains(needle), "{format}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A fresh folder holding `files`.
fn folder(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("errata-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, src) in files {
        std::fs::write(dir.join(file), src).unwrap();
    }
    dir
}

/// `errata ARGS` run in `dir`.
fn errata_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_errata"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("errata runs")
}

const TYPOS: &str = r#"listen = "127.0.0.1:0"
upstrem = "http://127.0.0.1:3000"
workers = "2"

[limts]
rate = 10

[limits]
per_second = 60
"#;

const TYPOS_OUT: &str = r#"errata.toml:2:1: error: unknown key `upstrem`
  help: did you mean `upstream`?
errata.toml:3:11: error: `workers` must be a whole number, not `"2"`
  help: e.g. `workers = 2`
errata.toml:5:2: error: unknown section `[limts]`
  help: did you mean `[limits]`?
errata.toml:9:1: error: unknown key `per_second` in [limits]
  help: did you mean `per_seconds`?
"#;

#[test]
fn a_config_with_typos_gets_every_problem_with_one_error_each() {
    let dir = folder("typos", &[("errata.toml", TYPOS)]);
    for args in [
        &["serve", "--config", "errata.toml"][..],
        &["keys", "list", "--config", "errata.toml"][..],
    ] {
        let o = errata_in(&dir, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(stderr(&o), TYPOS_OUT, "{args:?}");
        assert_eq!(
            stderr(&o).matches("error:").count(),
            4,
            "one `error:` per problem"
        );
        assert_eq!(stdout(&o), "");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn other_failures_still_say_error_once() {
    let o = errata(&["serve", "--config", "nowhere.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("nowhere.toml: error: cannot read: "),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).matches("error:").count(), 1);
    let o = errata(&["render", "no_such_code"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("error: `no_such_code` is neither a code of errata nor a condition"),
        "{}",
        stderr(&o)
    );
}

const ACME: &str = r#"extends = "default"
name = "Acme"

[[code]]
code = "too_many_widgets"
status = 400
type = "invalid_request_error"
message = "Maximum of {max} widgets per order. You provided {provided}."
description = "An order holds more widgets than allowed."
retryable = false
args = { max = 20, provided = 25 }

[[code]]
code = "campaign_locked"
status = 409
type = "conflict_error"
message = "The campaign is locked while a report runs."
description = "A report is running on the campaign."
retryable = true
"#;

#[test]
fn a_two_code_catalog_over_the_builtin_one_passes_the_check() {
    let dir = folder("acme", &[("acme.toml", ACME)]);
    let o = errata_in(&dir, &["catalog", "check", "acme.toml"]);
    assert_eq!(stderr(&o), "");
    assert_eq!(
        stdout(&o),
        "acme.toml: ok: 48 codes, 8 types, all 34 conditions mapped\n"
    );
    assert_eq!(o.status.code(), Some(0));

    // Every subcommand's --catalog reads it the same way.
    let o = errata_in(
        &dir,
        &[
            "render",
            "too_many_widgets",
            "--catalog",
            "acme.toml",
            "--arg",
            "max=20",
            "--arg",
            "provided=25",
            "--request-id",
            "req_1",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("\"message\": \"Maximum of 20 widgets per order. You provided 25.\""),
        "{}",
        stdout(&o)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_two_code_catalog_of_its_own_gets_one_unmapped_conditions_error() {
    let own = ACME.replace("extends = \"default\"\n", "")
        + "\n[envelope]\nbody = '{\"error\": {\"code\": \"{code}\", \"message\": \"{message}\"}}'\n";
    let dir = folder("own", &[("own.toml", &own)]);
    let o = errata_in(&dir, &["catalog", "check", "own.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    let err = stderr(&o);
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    assert!(
        err.starts_with("own.toml: error: 34 conditions are not mapped to any code: missing_key (401), malformed_key (401), unknown_key (401), "),
        "{err}"
    );
    assert!(
        err.ends_with(", idempotency_key_reused (422)\n  help: map each to a code whose status it allows, with `conditions = [...]` in that [[code]] (the table in docs/catalog-format.md#conditions), or start from the built-in catalog with `extends = \"default\"`, which maps them all\nown.toml: 1 error\n"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_extends_cycle_is_refused() {
    let dir = folder(
        "cycle",
        &[
            ("a.toml", "extends = \"b.toml\"\n"),
            ("b.toml", "extends = \"a.toml\"\n"),
        ],
    );
    let o = errata_in(&dir, &["catalog", "check", "a.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "b.toml:1:11: error: `extends` makes a cycle: a.toml → b.toml → a.toml\n  help: a catalog cannot extend itself, directly or through others: remove one of these `extends`\na.toml: 1 error\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An upstream that answers every request in the raise form with `too_many_widgets`.
fn raising_upstream() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    let body =
                        r#"{"code": "too_many_widgets", "args": {"max": 20, "provided": 25}}"#;
                    let _ = write!(
                        s,
                        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/vnd.errata+json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                }
            });
        }
    });
    format!("http://{addr}")
}

/// `errata serve --config` with a catalog that extends the built-in one: its own code through
/// the raise form, and a built-in code for a request without a key.
#[tokio::test]
async fn serve_answers_with_a_catalog_that_extends_the_builtin_one() {
    use std::io::BufRead;
    let upstream = raising_upstream();
    let dir = folder("serve-acme", &[("acme.toml", ACME)]);
    std::fs::write(
        dir.join("errata.toml"),
        format!(
            "listen = \"127.0.0.1:0\"\nupstream = \"{upstream}\"\ncatalog = \"acme.toml\"\nstore = \"sqlite://keys.db\"\n\n[[routes]]\npath = \"/public\"\nauth = false\n\n[[routes]]\npath = \"/v1\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"admin-token-0123456789\"\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_errata"))
        .args(["serve", "--config", "errata.toml"])
        .current_dir(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let _child = Kill(child);
    let mut lines = stdout.lines();
    let base = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("errata gateway listening on ")
                .map(|rest| rest.split(' ').next().unwrap_or_default().to_owned())
        })
        .expect("the gateway prints where it listens");
    std::thread::spawn(move || for _ in lines {});

    let client = reqwest::Client::new();
    let res = client
        .get(format!("{base}/public/orders"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": {
            "code": "too_many_widgets",
            "type": "invalid_request_error",
            "message": "Maximum of 20 widgets per order. You provided 25.",
            "param": null,
            "request_id": id,
            "doc_url": format!("{base}/errors#too_many_widgets")
        }})
    );

    let res = client
        .get(format!("{base}/v1/orders"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": {
            "code": "missing_api_key",
            "type": "authentication_error",
            "message": "No API key was provided. Send it as `Authorization: Bearer <key>`.",
            "param": null,
            "request_id": id,
            "doc_url": format!("{base}/errors#missing_api_key")
        }})
    );
    drop(_child);
    std::fs::remove_dir_all(&dir).unwrap();
}
