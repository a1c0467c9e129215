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
        err.ends_with("many_problems.toml: 44 errors, 2 warnings\n"),
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
