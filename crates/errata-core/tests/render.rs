//! Rendering through the default catalog: envelope, problem+json, unknown codes, parsing back.

use errata_core::{ApiError, Catalog, Condition, Format, Violation};
use serde_json::json;

fn validation_error() -> ApiError {
    ApiError::condition(Condition::InvalidFields)
        .details([
            Violation::new(["items", "3", "sku"], "Required", "invalid_type"),
            Violation::new(["email/home"], "Invalid email", "invalid_string"),
        ])
        .request_id("req_0123456789abcdefABCDEFGH")
        .instance("/v1/orders")
}

#[test]
fn validation_error_as_problem_json() {
    let out = Catalog::builtin().render(&validation_error(), Format::Problem);
    assert_eq!(out.status, 422);
    assert_eq!(out.header("content-type"), Some("application/problem+json"));
    assert_eq!(
        out.header("x-request-id"),
        Some("req_0123456789abcdefABCDEFGH")
    );
    assert_eq!(
        out.body,
        json!({
            "type": "/errors#validation_error",
            "title": "Validation failed",
            "status": 422,
            "detail": "One or more fields failed validation.",
            "instance": "/v1/orders",
            "code": "validation_error",
            "request_id": "req_0123456789abcdefABCDEFGH",
            "errors": [
                {"detail": "Required", "pointer": "#/items/3/sku", "code": "invalid_type"},
                {"detail": "Invalid email", "pointer": "#/email~1home", "code": "invalid_string"}
            ]
        })
    );
}

#[test]
fn validation_error_as_envelope_keeps_key_order() {
    let out = Catalog::builtin().render(&validation_error(), Format::Envelope);
    assert_eq!(
        String::from_utf8(out.body_bytes()).unwrap(),
        r#"{"error":{"code":"validation_error","type":"invalid_request_error","message":"One or more fields failed validation.","param":null,"details":[{"path":["items","3","sku"],"message":"Required","code":"invalid_type"},{"path":["email/home"],"message":"Invalid email","code":"invalid_string"}],"request_id":"req_0123456789abcdefABCDEFGH","doc_url":"/errors#validation_error"}}"#
    );
}

#[test]
fn an_application_code_with_arguments() {
    let err = ApiError::code("too_many_campaigns")
        .arg("max", 20)
        .arg("provided", 25)
        .param("campaign_ids");
    let out = Catalog::builtin().render(&err, Format::Envelope);
    assert_eq!(out.status, 400);
    assert_eq!(out.headers.len(), 1, "no request id, no retry-after");
    assert_eq!(
        out.body,
        json!({"error": {
            "code": "too_many_campaigns",
            "type": "invalid_request_error",
            "message": "Maximum of 20 campaign IDs allowed per report. You provided 25.",
            "param": "campaign_ids",
            "doc_url": "/errors#too_many_campaigns"
        }})
    );
}

#[test]
fn a_condition_uses_its_message_variant() {
    let err = ApiError::condition(Condition::RouteNotFound)
        .arg("method", "GET")
        .arg("path", "/v1/nope");
    let out = Catalog::builtin().render(&err, Format::Envelope);
    assert_eq!(out.status, 404);
    assert_eq!(out.body["error"]["code"], "resource_not_found");
    assert_eq!(
        out.body["error"]["message"],
        "No route matches GET /v1/nope."
    );
}

#[test]
fn an_unknown_code_leaves_as_the_internal_error_without_leaking_arguments() {
    let err = ApiError::code("no_such_code")
        .arg("secret", "hunter2")
        .param("password")
        .request_id("req_x");
    let out = Catalog::builtin().render(&err, Format::Envelope);
    assert_eq!(out.status, 500);
    assert_eq!(out.body["error"]["code"], "internal_error");
    assert_eq!(out.body["error"]["param"], serde_json::Value::Null);
    assert!(
        !String::from_utf8(out.body_bytes())
            .unwrap()
            .contains("hunter2")
    );
}

#[test]
fn rendered_bodies_parse_back_in_both_formats() {
    let catalog = Catalog::builtin();
    for format in [Format::Envelope, Format::Problem] {
        let out = catalog.render(&validation_error(), format);
        let parsed = catalog
            .parse_body(out.header("content-type"), &out.body_bytes())
            .expect("parses");
        assert_eq!(parsed.code.as_deref(), Some("validation_error"));
        assert_eq!(
            parsed.request_id.as_deref(),
            Some("req_0123456789abcdefABCDEFGH")
        );
        assert_eq!(
            parsed.message.as_deref(),
            Some("One or more fields failed validation.")
        );
        assert_eq!(parsed.details.map(|d| d.as_array().unwrap().len()), Some(2));
    }
    assert_eq!(catalog.parse_body(Some("text/html"), b"<h1>502</h1>"), None);
    assert_eq!(catalog.parse_body(None, br#"{"message": "no code"}"#), None);
}

#[test]
fn status_fallbacks_pick_the_code_for_untyped_errors() {
    let c = Catalog::builtin();
    for (status, code) in [
        (400, "invalid_request"),
        (404, "resource_not_found"),
        (422, "validation_error"),
        (429, "rate_limit_exceeded"),
        (500, "internal_error"),
        (502, "bad_gateway"),
        (503, "service_unavailable"),
        (504, "gateway_timeout"),
        (418, "invalid_request"),
        (599, "internal_error"),
    ] {
        assert_eq!(c.code_for_status(status).code, code, "status {status}");
    }
}

#[test]
fn an_error_known_only_by_its_status_keeps_it() {
    let c = Catalog::builtin();
    // An upstream's 418: the 4xx fallback code, the status kept, the description as message.
    let out = c.render(&ApiError::status(418).request_id("req_t"), Format::Envelope);
    assert_eq!(out.status, 418);
    assert_eq!(out.body["error"]["code"], "invalid_request");
    assert_eq!(
        out.body["error"]["message"],
        "The request could not be parsed."
    );
    // A 404 whose message needs arguments nobody has: the description reads whole.
    let out = c.render(&ApiError::status(404), Format::Envelope);
    assert_eq!(out.body["error"]["code"], "resource_not_found");
    assert_eq!(
        out.body["error"]["message"],
        "The requested resource does not exist, or belongs to another workspace."
    );
    // A 429 with the upstream's Retry-After fills the message.
    let out = c.render(&ApiError::status(429).retry_after(7), Format::Problem);
    assert_eq!(out.status, 429);
    assert_eq!(out.body["status"], 429);
    assert_eq!(
        out.body["detail"],
        "Rate limit exceeded. Please retry after 7 seconds."
    );
    assert_eq!(out.header("retry-after"), Some("7"));
}
