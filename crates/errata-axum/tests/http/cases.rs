//! The shared server case table (`crates/errata-sdk/cases/server.json`) served by errata-axum:
//! each case raised from a handler (or met as a framework meets it: a validation failure, a
//! path no route matches, an unexpected failure) must answer exactly the table's status,
//! headers and body bytes, as the gateway and the generated Python and TypeScript packages do.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use errata_axum::{ErrataLayer, Error};
use errata_core::Violation;
use serde_json::Value;

use crate::common::{catalog, client, serve};

fn table() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../errata-sdk/cases/server.json"
    );
    let text = std::fs::read_to_string(path).expect("read the server case table");
    let table: Value = serde_json::from_str(&text).expect("the table is JSON");
    table["cases"].as_array().expect("cases").clone()
}

/// The error a handler returns for a case.
fn raised(case: &Value) -> Error {
    let raise = &case["raise"];
    let details = || -> Vec<Violation> {
        raise
            .get("details")
            .map(|d| serde_json::from_value(d.clone()).expect("details are violations"))
            .unwrap_or_default()
    };
    match case.get("condition").and_then(Value::as_str) {
        Some("invalid_fields") => return Error::invalid_fields(details()),
        Some("internal_error") => return Error::internal("the database went away"),
        _ => {}
    }
    let mut err = Error::code(raise["code"].as_str().expect("code").to_owned());
    if let Some(v) = raise.get("variant").and_then(Value::as_str) {
        err = err.variant(v);
    }
    for (name, value) in raise
        .get("args")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        err = err.arg(name.clone(), value.clone());
    }
    if let Some(p) = raise.get("param").and_then(Value::as_str) {
        err = err.param(p);
    }
    if let Some(s) = raise.get("retry_after").and_then(Value::as_u64) {
        err = err.retry_after(s);
    }
    err.details(details())
}

#[tokio::test]
async fn every_case_of_the_shared_table_answers_exactly() {
    let cases = table();
    let mut catalogs: Vec<&str> = cases
        .iter()
        .map(|c| c["catalog"].as_str().expect("catalog"))
        .collect();
    catalogs.sort_unstable();
    catalogs.dedup();
    let http = client();
    let mut fails = Vec::new();
    let mut ran = 0;
    for file in catalogs {
        let catalog = catalog(file.trim_end_matches(".toml"));
        let header = catalog.request_id().header.clone();
        let mine: Vec<&Value> = cases.iter().filter(|c| c["catalog"] == file).collect();
        let mut router = Router::new();
        for case in &mine {
            if case["condition"] == "route_not_found" {
                continue;
            }
            let case = Arc::new((*case).clone());
            let path = case["path"].as_str().expect("path").to_owned();
            router = router.route(
                &path,
                get(move || {
                    let case = case.clone();
                    async move { Err::<(), Error>(raised(&case)) }
                }),
            );
        }
        let app = ErrataLayer::new(catalog.clone())
            .trust_request_id_header(&header)
            .wrap(router);
        let base = serve(app).await;
        for case in mine {
            ran += 1;
            let name = case["name"].as_str().unwrap_or_default();
            let mut req = http
                .get(format!("{base}{}", case["path"].as_str().expect("path")))
                .header(&header, case["request_id"].as_str().expect("request_id"));
            if let Some(accept) = case.get("accept").and_then(Value::as_str) {
                req = req.header("accept", accept);
            }
            let res = req.send().await.expect("request");
            let status = res.status().as_u16();
            let headers = res.headers().clone();
            let body = res.text().await.expect("body");
            if status != case["status"] {
                fails.push(format!(
                    "{name}: status {status}, the table {}",
                    case["status"]
                ));
            }
            let listed = case["headers"].as_object().expect("headers");
            for (n, want) in listed {
                let got = headers.get(n).and_then(|v| v.to_str().ok());
                if got != want.as_str() {
                    fails.push(format!("{name}: header {n} = {got:?}, the table {want}"));
                }
            }
            if !listed.contains_key("retry-after") && headers.contains_key("retry-after") {
                fails.push(format!("{name}: a retry-after the table does not have"));
            }
            let want = serde_json::to_string(&case["body"]).expect("JSON");
            if body != want {
                fails.push(format!("{name}:\n  body:  {body}\n  table: {want}"));
            }
        }
    }
    assert_eq!(ran, cases.len());
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}
