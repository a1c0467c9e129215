//! The raise form read through errata-core, and an upstream's error body rendered again through
//! the catalog (completed, converted to problem+json).

use std::path::PathBuf;

use errata_core::{Catalog, Format, ParsedError, RaiseError};
use serde_json::{Map, Value, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load(file: &str) -> Catalog {
    Catalog::from_file(root().join("catalogs").join(file))
        .unwrap_or_else(|d| panic!("catalogs/{file}: {}", d.render(file)))
}

/// Every case of the shared server table, its `raise` read as a raise-form body: the exact
/// status, headers and body of the case.
#[test]
fn every_server_case_reads_as_a_raise_and_renders_its_answer() {
    let table: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("crates/errata-sdk/cases/server.json")).unwrap(),
    )
    .unwrap();
    let cases = table["cases"].as_array().unwrap();
    assert!(cases.len() >= 50);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let catalog = load(case["catalog"].as_str().unwrap());
        let body = serde_json::to_vec(&case["raise"]).unwrap();
        let err = catalog
            .read_raise(&body)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .request_id(case["request_id"].as_str().unwrap())
            .instance(case["path"].as_str().unwrap());
        let format = Format::from_accept(case.get("accept").and_then(Value::as_str));
        let out = catalog.render(&err, format);
        assert_eq!(
            out.status,
            case["status"].as_u64().unwrap() as u16,
            "{name}"
        );
        let headers: Map<String, Value> = out
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), Value::String(v.clone())))
            .collect();
        assert_eq!(Value::Object(headers), case["headers"], "{name}");
        assert_eq!(out.body, case["body"], "{name}");
    }
}

#[test]
fn read_raise_reports_the_catalogs_problems() {
    let c = Catalog::builtin();
    assert_eq!(
        c.read_raise(br#"{"code": "nope"}"#).unwrap_err(),
        RaiseError::UnknownCode("nope".into())
    );
    assert!(matches!(
        c.read_raise(b"not json").unwrap_err(),
        RaiseError::NotJson(_)
    ));
}

fn parsed(body: Value, ct: Option<&str>, c: &Catalog) -> ParsedError {
    c.parse_body(ct, &serde_json::to_vec(&body).unwrap())
        .expect("a body in the envelope")
}

#[test]
fn an_envelope_lacking_members_is_completed_from_the_catalog() {
    let c = Catalog::builtin();
    let p = parsed(
        json!({"error": {"code": "quota_exceeded", "message": "You used it all."}}),
        Some("application/json"),
        c,
    );
    let out = c
        .render_parsed(
            &p,
            429,
            Format::Envelope,
            Some("req_gw"),
            Some("/v1/x"),
            None,
        )
        .unwrap();
    assert_eq!(out.status, 429);
    assert_eq!(
        out.body,
        json!({"error": {
            "code": "quota_exceeded",
            "type": c.code("quota_exceeded").unwrap().kind,
            "message": "You used it all.",
            "param": null,
            "request_id": "req_gw",
            "doc_url": "/errors#quota_exceeded",
        }})
    );
    assert_eq!(out.header("x-request-id"), Some("req_gw"));
    assert_eq!(out.code, "quota_exceeded");
    // A code the catalog does not have is not rendered.
    let p = parsed(json!({"error": {"code": "nope"}}), None, c);
    assert!(
        c.render_parsed(&p, 400, Format::Envelope, None, None, None)
            .is_none()
    );
}

#[test]
fn an_envelope_becomes_problem_json_with_its_details_as_errors() {
    let c = Catalog::builtin();
    let details = json!([
        {"path": ["items", 0, "sku"], "message": "Required", "code": "invalid_type"},
        {"path": ["a/b"], "message": "Bad"},
    ]);
    let p = parsed(
        json!({"error": {"code": "validation_error", "type": "whatever", "message": "Nope.",
                          "param": "items", "details": details, "request_id": "req_up"}}),
        None,
        c,
    );
    let out = c
        .render_parsed(
            &p,
            422,
            Format::Problem,
            Some("req_gw"),
            Some("/v1/x"),
            Some(3),
        )
        .unwrap();
    assert_eq!(out.header("content-type"), Some("application/problem+json"));
    assert_eq!(out.header("retry-after"), Some("3"));
    assert_eq!(
        out.body,
        json!({
            "type": "/errors#validation_error",
            "title": c.code("validation_error").unwrap().title(),
            "status": 422,
            "detail": "Nope.",
            "instance": "/v1/x",
            "code": "validation_error",
            "param": "items",
            "request_id": "req_gw",
            "errors": [
                {"detail": "Required", "pointer": "#/items/0/sku", "code": "invalid_type"},
                {"detail": "Bad", "pointer": "#/a~1b", "code": "custom"},
            ],
        })
    );
    // In the envelope the details stay as sent; the type is the catalog's.
    let out = c
        .render_parsed(&p, 422, Format::Envelope, Some("req_gw"), None, None)
        .unwrap();
    assert_eq!(out.body["error"]["details"], details);
    assert_eq!(
        out.body["error"]["type"],
        c.code("validation_error").unwrap().kind.as_str()
    );
    // Details that do not follow the detail template pass as sent, and make no `errors`.
    let p = parsed(
        json!({"error": {"code": "validation_error", "details": [{"where": "x"}]}}),
        None,
        c,
    );
    let out = c
        .render_parsed(&p, 422, Format::Problem, None, None, None)
        .unwrap();
    assert!(out.body.get("errors").is_none());
    // Without a message, the code's own.
    assert_eq!(
        out.body["detail"],
        c.message(&errata_core::ApiError::code("validation_error"))
    );
}

#[test]
fn a_detail_template_with_fields_and_problem_json_errors_read_back() {
    let bearer = load("bearer.toml");
    // The detail template is {"field", "message", "code"}.
    let d = bearer
        .read_detail(&json!({"field": "items.0.sku", "message": "Required", "code": "x"}))
        .unwrap();
    assert_eq!(d.path, vec!["items", "0", "sku"]);
    assert!(
        bearer
            .read_detail(&json!({"path": ["a"], "message": "m"}))
            .is_none()
    );
    // An upstream's problem+json with `errors` rendered in bearer's envelope.
    let p = parsed(
        json!({"type": "about:blank", "title": "t", "status": 422, "detail": "Bad fields.",
               "code": "validation_error", "errors": [{"detail": "Required", "pointer": "#/name", "code": "invalid_type"}]}),
        Some("application/problem+json; charset=utf-8"),
        &bearer,
    );
    let out = bearer
        .render_parsed(&p, 422, Format::Envelope, Some("req_1"), None, None)
        .unwrap();
    assert_eq!(
        out.body,
        json!({"error": {"code": "validation_error", "message": "Bad fields.",
            "details": [{"field": "name", "message": "Required", "code": "invalid_type"}],
            "request_id": "req_1"}})
    );
}
