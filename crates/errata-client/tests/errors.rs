//! Typed errors over real HTTP: what the caller sees for each kind of answer, read through the
//! catalog: envelopes, problem+json, seed envelopes, HTML, empty bodies, dropped and refused
//! connections, and success bodies of the wrong type.

mod support;

use errata_client::clock::ManualClock;
use errata_client::{Client, Error};
use errata_core::{ApiError, Catalog, Format, Violation};
use serde_json::{Value, json};
use support::{FaultServer, Reply, client, refused_addr, secs};

const RID: &str = "req_Err0rT3stR3qu3st0000001";

fn catalog_file(name: &str) -> String {
    format!("{}/../../catalogs/{name}.toml", env!("CARGO_MANIFEST_DIR"))
}

/// One GET against `script`, no retries unless the script needs them.
async fn get_err(script: Vec<Reply>) -> Error {
    let server = FaultServer::start(script).await;
    let clock = ManualClock::new();
    let c = client(&server, &clock).max_retries(0).build().unwrap();
    c.get("/v1/events").send::<Value>().await.unwrap_err()
}

fn invalid_fields() -> ApiError {
    ApiError::code("validation_error")
        .details([Violation::new(
            ["items", "3", "sku"],
            "Required",
            "invalid_type",
        )])
        .param("items")
        .request_id(RID)
}

#[tokio::test]
async fn an_envelope_error_is_read_field_by_field() {
    let reply = Reply::error(Catalog::builtin(), invalid_fields(), Format::Envelope);
    let err = get_err(vec![reply]).await;
    let Error::Api(api) = &err else {
        panic!("expected an API error, got {err:?}")
    };
    assert_eq!(api.status(), 422);
    assert_eq!(api.code(), Some("validation_error"));
    assert_eq!(api.kind(), Some("invalid_request_error"));
    assert_eq!(api.message(), Some("One or more fields failed validation."));
    assert_eq!(api.param(), Some("items"));
    assert_eq!(
        api.details(),
        Some(
            &json!([{"path": ["items", "3", "sku"], "message": "Required", "code": "invalid_type"}])
        )
    );
    assert_eq!(api.request_id(), Some(RID));
    assert_eq!(api.doc_url(), Some("/errors#validation_error"));
    assert_eq!(api.raw_body(), None);
    assert!(api.in_catalog());
    assert!(!err.is_retryable());
    assert_eq!(err.status(), Some(422));
    assert_eq!(
        err.to_string(),
        format!(
            "validation_error: One or more fields failed validation. (HTTP 422, request_id {RID})"
        )
    );
}

#[tokio::test]
async fn a_problem_json_error_is_read_the_same_way() {
    let reply = Reply::error(Catalog::builtin(), invalid_fields(), Format::Problem);
    let err = get_err(vec![reply]).await;
    let api = err.as_api().unwrap();
    assert_eq!(api.code(), Some("validation_error"));
    assert_eq!(
        api.kind(),
        Some("invalid_request_error"),
        "from the catalog"
    );
    assert_eq!(api.message(), Some("One or more fields failed validation."));
    assert_eq!(api.param(), Some("items"));
    assert_eq!(
        api.details(),
        Some(&json!([{"detail": "Required", "pointer": "#/items/3/sku", "code": "invalid_type"}]))
    );
    assert_eq!(api.request_id(), Some(RID));
}

#[tokio::test]
async fn the_request_id_comes_from_the_header_when_the_envelope_has_no_place_for_it() {
    // Kaplaix's envelope is {code, message, details}: the id travels in x-request-id only.
    let path = catalog_file("kaplaix");
    let kaplaix = Catalog::from_file(&path).unwrap();
    let reply = Reply::error(
        &kaplaix,
        ApiError::code("NOT_FOUND")
            .arg("resource", "Agent")
            .arg("id", "a1")
            .request_id(RID),
        Format::Envelope,
    );
    let server = FaultServer::start(vec![reply]).await;
    let c = client(&server, &ManualClock::new())
        .catalog_file(&path)
        .build()
        .unwrap();
    let err = c.get("/v1/agents/a1").send::<Value>().await.unwrap_err();
    assert_eq!(err.code(), Some("NOT_FOUND"));
    assert_eq!(err.request_id(), Some(RID));
    assert_eq!(err.as_api().unwrap().kind(), Some("not_found"));
}

#[tokio::test]
async fn the_body_request_id_wins_over_the_header() {
    let reply = Reply::json(
        500,
        json!({"error": {"code": "internal_error", "message": "m", "request_id": "req_body"}}),
    )
    .with_header("x-request-id", "req_header");
    assert_eq!(get_err(vec![reply]).await.request_id(), Some("req_body"));
}

#[tokio::test]
async fn klayrai_puts_the_code_under_type_and_the_client_follows() {
    let path = catalog_file("klayrai");
    let klayrai = Catalog::from_file(&path).unwrap();
    let reply = Reply::error(
        &klayrai,
        ApiError::code("plan_insufficient"),
        Format::Envelope,
    );
    let server = FaultServer::start(vec![reply]).await;
    let c = client(&server, &ManualClock::new())
        .catalog_file(&path)
        .build()
        .unwrap();
    let err = c.get("/v1/reports").send::<Value>().await.unwrap_err();
    assert_eq!(err.code(), Some("plan_insufficient"));
    let api = err.as_api().unwrap();
    assert_eq!(api.status(), 403);
    assert_eq!(api.kind(), Some("forbidden"), "the catalog's category");
    assert_eq!(
        err.to_string(),
        "plan_insufficient: API access requires the Agency plan. Upgrade at https://app.klayrai.com/settings/billing. (HTTP 403, no request id)"
    );
}

#[tokio::test]
async fn an_html_page_is_kept_raw_with_the_header_request_id() {
    let err = get_err(vec![Reply::html(502).with_header("x-request-id", RID)]).await;
    let api = err.as_api().unwrap();
    assert_eq!((api.status(), api.code(), api.message()), (502, None, None));
    assert!(api.raw_body().unwrap().contains("<h1>502 Bad Gateway</h1>"));
    assert_eq!(err.request_id(), Some(RID));
    assert!(err.is_retryable());
    assert_eq!(
        err.to_string(),
        format!(
            "Bad Gateway: the response body is not an error of the API's catalog (HTTP 502, request_id {RID})"
        )
    );
}

#[tokio::test]
async fn an_empty_body_is_an_error_with_its_status() {
    let err = get_err(vec![Reply::empty(503)]).await;
    let api = err.as_api().unwrap();
    assert_eq!(
        (api.status(), api.code(), api.raw_body()),
        (503, None, Some(""))
    );
    assert_eq!(
        err.to_string(),
        "Service Unavailable: the response body is empty (HTTP 503, no request id)"
    );
}

#[tokio::test]
async fn every_error_that_arrives_carries_its_request_id() {
    let b = Catalog::builtin();
    let header = |r: Reply| r.with_header("x-request-id", RID);
    let answers = [
        Reply::error(
            b,
            ApiError::code("rate_limit_exceeded").request_id(RID),
            Format::Envelope,
        ),
        Reply::error(
            b,
            ApiError::code("quota_exceeded").request_id(RID),
            Format::Problem,
        ),
        Reply::error(b, invalid_fields(), Format::Envelope),
        header(Reply::html(502)),
        header(Reply::empty(503)),
        header(Reply::empty(404)),
        header(Reply::body(400, "text/plain", "Bad Request")),
        header(Reply::json(500, json!({"message": "boom"}))),
        header(Reply::json(
            422,
            json!({"error": {"code": "not_in_catalog", "message": "m"}}),
        )),
    ];
    for reply in answers {
        let err = get_err(vec![reply]).await;
        assert_eq!(err.request_id(), Some(RID), "{err}");
        assert!(err.to_string().contains(RID), "{err}");
    }
}

#[tokio::test]
async fn dropped_connections_are_network_errors_and_are_retried() {
    let ok = Reply::json(200, json!({"ok": true}));
    let server = FaultServer::start(vec![Reply::Drop, Reply::Drop, ok]).await;
    let clock = ManualClock::new();
    let c = client(&server, &clock).build().unwrap();
    let out: Value = c.get("/v1/events").send().await.unwrap();
    assert_eq!(out, json!({"ok": true}));
    assert_eq!(server.attempts(), 3);
    assert_eq!(clock.sleeps(), [secs(0.5), secs(1.0)]);

    let server = FaultServer::start(vec![Reply::Drop; 3]).await;
    let clock = ManualClock::new();
    let c = client(&server, &clock).build().unwrap();
    let err = c.get("/v1/events").send::<Value>().await.unwrap_err();
    let Error::Network(net) = &err else {
        panic!("expected a network error, got {err:?}")
    };
    assert!(!net.is_connect(), "the connection was made, then dropped");
    assert_eq!(err.attempts(), 3);
    assert!(err.is_retryable());
    assert_eq!(err.request_id(), None, "no response arrived");
    assert!(
        err.to_string()
            .starts_with("network failure after 3 attempts: "),
        "{err}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_network_error() {
    let clock = ManualClock::new();
    let c = Client::builder(format!("http://{}", refused_addr().await))
        .clock(clock.clone())
        .jitter(errata_client::jitter::NoJitter)
        .build()
        .unwrap();
    let err = c.get("/v1/events").send::<Value>().await.unwrap_err();
    let Error::Network(net) = &err else {
        panic!("expected a network error, got {err:?}")
    };
    assert!(net.is_connect());
    assert_eq!(net.attempts(), 3);
    assert_eq!(clock.sleeps(), [secs(0.5), secs(1.0)]);
}

#[tokio::test]
async fn a_success_of_the_wrong_shape_is_a_decode_error_and_not_retried() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Campaign {
        id: String,
    }
    let reply = Reply::json(200, json!({"id": 5})).with_header("x-request-id", RID);
    let server = FaultServer::start(vec![reply.clone(), reply]).await;
    let c = client(&server, &ManualClock::new()).build().unwrap();
    let err = c
        .get("/v1/campaigns/c")
        .send::<Campaign>()
        .await
        .unwrap_err();
    let Error::Decode(decode) = &err else {
        panic!("expected a decode error, got {err:?}")
    };
    assert_eq!(decode.status(), 200);
    assert_eq!(decode.body(), br#"{"id":5}"#);
    assert_eq!(err.request_id(), Some(RID));
    assert!(!err.is_retryable());
    assert_eq!(server.attempts(), 1);
}
