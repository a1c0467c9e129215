//! Every condition the server library detects, over real HTTP, for every catalog: the exact
//! status, headers and JSON a client gets, one snapshot per catalog.

use std::sync::Arc;

use errata_core::Catalog;
use serde_json::{Map, Value};

use crate::common::{Gate, Reply, Setup, app, catalogs, client, raw_request, serve};

const PROBLEM: &str = "application/problem+json";
const JSON: &str = "application/json";

/// One request of the matrix.
struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: Option<Vec<u8>>,
}

const fn case(name: &'static str, method: &'static str, path: &'static str) -> Case {
    Case {
        name,
        method,
        path,
        headers: &[],
        body: None,
    }
}

fn cases() -> Vec<Case> {
    let json_body = |name, path, body: &[u8]| Case {
        headers: &[("content-type", JSON)],
        body: Some(body.to_vec()),
        ..case(name, "POST", path)
    };
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(2048));
    vec![
        case("app_code_with_args_param_and_details", "GET", "/app-error"),
        Case {
            headers: &[("accept", PROBLEM)],
            ..case("app_code_as_problem_json", "GET", "/app-error")
        },
        json_body("malformed_body", "/items", b"{\n  \"name\": ,\n}"),
        json_body("invalid_utf8_body", "/items", b"{\"name\": \"\xff\xfe\"}"),
        Case {
            body: Some(b"{}".to_vec()),
            ..case("missing_content_type", "POST", "/items")
        },
        Case {
            headers: &[("content-type", "text/plain")],
            body: Some(b"hello".to_vec()),
            ..case("unsupported_content_type", "POST", "/items")
        },
        json_body("body_too_large", "/items", big.as_bytes()),
        json_body(
            "invalid_fields_all_at_once",
            "/items",
            br#"{"sku": "nope", "qty": "3", "tags": ["old"], "extra": 1}"#,
        ),
        Case {
            headers: &[("content-type", JSON), ("accept", PROBLEM)],
            body: Some(
                br#"{"name": "", "sku": "6f1c5d0e-8a7b-4c1d-9e2f-3a4b5c6d7e8f", "qty": 101}"#
                    .to_vec(),
            ),
            ..case("invalid_fields_as_problem_json", "POST", "/items")
        },
        json_body(
            "type_mismatch_in_plain_json",
            "/raw",
            br#"{"name": 5, "sku": "a", "qty": 1}"#,
        ),
        case("invalid_query_parameter", "GET", "/items?limit=ten"),
        Case {
            headers: &[("x-errata-tenant", "acme")],
            ..case("invalid_path_parameter", "GET", "/items/ten")
        },
        Case {
            headers: &[("x-errata-tenant", "acme")],
            ..case("path_parameter_not_utf8", "GET", "/items/%FF")
        },
        case("route_not_found", "GET", "/nowhere"),
        case("method_not_allowed", "DELETE", "/items"),
        case("panic", "GET", "/panic"),
        case("no_tenant", "GET", "/items/1"),
        Case {
            headers: &[("x-errata-tenant", "globex")],
            ..case("another_tenants_resource", "GET", "/items/1")
        },
        case("bare_status_from_handler", "GET", "/teapot"),
        case("bare_404_from_handler", "GET", "/bare-404"),
    ]
}

async fn send(base: &str, c: &Case) -> Reply {
    let method = reqwest::Method::from_bytes(c.method.as_bytes()).expect("method");
    let mut req = client().request(method, format!("{base}{}", c.path));
    for (n, v) in c.headers {
        req = req.header(*n, *v);
    }
    if let Some(body) = &c.body {
        req = req.body(body.clone());
    }
    Reply::from(req.send().await.expect("request")).await
}

/// A request over the body limit sent without a length (chunked): refused while reading.
async fn chunked_over_limit(base: &str) -> Reply {
    let chunk = format!(r#"{{"name": "{}"}}"#, "y".repeat(1500));
    let request = format!(
        "POST /items HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    raw_request(base, request.as_bytes()).await
}

/// A handler that runs past the timeout (alone on its server: nothing else may be slow).
async fn timed_out(catalog: Arc<Catalog>, setup: Setup) -> Reply {
    let base = serve(app(catalog, &setup, Arc::default())).await;
    send(&base, &case("timeout", "GET", "/slow")).await
}

/// With one request in flight and a limit of one, the next is shed at once.
async fn overloaded(catalog: Arc<Catalog>) -> Reply {
    let gate = Arc::new(Gate::default());
    let setup = Setup {
        timeout: None,
        concurrency: Some(1),
        ..Setup::default()
    };
    let base = serve(app(catalog, &setup, gate.clone())).await;
    let first = tokio::spawn({
        let base = base.clone();
        async move { client().get(format!("{base}/block")).send().await }
    });
    gate.entered.notified().await;
    let shed = Reply::from(
        client()
            .get(format!("{base}/whoami"))
            .send()
            .await
            .expect("request"),
    )
    .await;
    gate.release.notify_one();
    let first = first.await.expect("task").expect("first request");
    assert_eq!(first.status(), 200, "the request in flight completes");
    shed
}

async fn matrix(catalog: Arc<Catalog>) -> Value {
    let base = serve(app(catalog.clone(), &Setup::default(), Arc::default())).await;
    let mut doc = Map::new();
    for c in cases() {
        let reply = send(&base, &c).await;
        assert!(
            !String::from_utf8_lossy(&reply.raw).contains("hunter2"),
            "a panic message reached the client"
        );
        doc.insert(c.name.into(), reply.view(&catalog));
    }
    doc.insert(
        "body_too_large_chunked".into(),
        chunked_over_limit(&base).await.view(&catalog),
    );
    let timeout = timed_out(catalog.clone(), Setup::timing_out()).await;
    doc.insert("handler_timeout".into(), timeout.view(&catalog));
    let shed = overloaded(catalog.clone()).await;
    doc.insert("overloaded".into(), shed.view(&catalog));
    Value::Object(doc)
}

#[tokio::test]
async fn every_condition_renders_through_every_catalog() {
    for (name, catalog) in catalogs() {
        let doc = matrix(catalog).await;
        let text = serde_json::to_string_pretty(&doc).expect("JSON");
        insta::assert_snapshot!(format!("conditions_{name}"), text);
    }
}

#[tokio::test]
async fn the_default_catalog_answers_a_timeout_and_a_wrong_method_exactly() {
    let catalog = Arc::new(Catalog::builtin().clone());
    let base = serve(app(catalog.clone(), &Setup::default(), Arc::default())).await;

    let slow = timed_out(catalog.clone(), Setup::timing_out()).await;
    assert_eq!(
        slow.view(&catalog),
        serde_json::json!({
            "status": 504,
            "headers": {"content-type": "application/json", "x-request-id": "[request_id]"},
            "body": {"error": {
                "code": "timeout",
                "type": "api_error",
                "message": "The request took longer than 0.05 seconds to process.",
                "param": null,
                "request_id": "[request_id]",
                "doc_url": "/errors#timeout"
            }}
        })
    );

    let wrong = send(&base, &case("405", "DELETE", "/items")).await;
    assert_eq!(
        wrong.view(&catalog),
        serde_json::json!({
            "status": 405,
            "headers": {
                "content-type": "application/json",
                "allow": "POST,GET,HEAD",
                "x-request-id": "[request_id]"
            },
            "body": {"error": {
                "code": "method_not_allowed",
                "type": "invalid_request_error",
                "message": "DELETE is not allowed on /items. Allowed: POST, GET, HEAD.",
                "param": null,
                "request_id": "[request_id]",
                "doc_url": "/errors#method_not_allowed"
            }}
        })
    );
}

#[tokio::test]
async fn as_a_route_layer_it_still_maps_every_edge() {
    let catalog = Arc::new(Catalog::builtin().clone());
    let setup = Setup {
        per_route: true,
        ..Setup::default()
    };
    let base = serve(app(catalog.clone(), &setup, Arc::default())).await;
    let message = |reply: &Reply| reply.json()["error"]["message"].clone();

    let unknown = send(&base, &case("404", "GET", "/nowhere")).await;
    assert_eq!(message(&unknown), "No route matches GET /nowhere.");
    let bare = send(&base, &case("404", "GET", "/bare-404")).await;
    assert_eq!(message(&bare), "Resource '/bare-404' not found.");
    // axum adds `Allow` after route layers ran: the header is there, the message points to it.
    let wrong = send(&base, &case("405", "DELETE", "/items")).await;
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("allow"), Some("POST,GET,HEAD"));
    assert_eq!(
        message(&wrong),
        "DELETE is not allowed on /items. Allowed: see the Allow header."
    );
    let timeout = timed_out(
        catalog.clone(),
        Setup {
            per_route: true,
            ..Setup::timing_out()
        },
    )
    .await;
    assert_eq!(timeout.json()["error"]["code"], "timeout");
    let panic = send(&base, &case("500", "GET", "/panic")).await;
    assert_eq!(
        panic.view(&catalog)["body"]["error"]["request_id"],
        "[request_id]"
    );
}
