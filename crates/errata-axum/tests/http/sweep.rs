//! No path of the library sends an error outside the catalog: malformed inputs of every kind,
//! and every error reply must parse as the catalog's envelope with one of its codes, at that
//! code's status, with the request id header.

use std::sync::Arc;

use errata_core::Catalog;

use crate::common::{Reply, Setup, app, catalogs, client, raw_request, serve};

/// Request bodies that are not what the endpoints want.
fn bodies() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = [
        "", " ", "{", "[", "}", "nul", "nulll", "tru", "{\"name\":1,}", "\"unterminated",
        "{\"name\": \"x\"} trailing", "{\"name\": 1e999}", "[]", "\"text\"", "42", "null",
        "{\"name\": {}}", "{\"qty\": -1}", "{\"qty\": 1.5}", "{\"qty\": 99999999999999999999999}",
        "{\"name\": \"ok\", \"sku\": \"6f1c5d0e-8a7b-4c1d-9e2f-3a4b5c6d7e8f\", \"qty\": 1, \"tags\": null}",
        "{\"tags\": [\"new\", 3, null, {}]}", "{\"\\ud800\": 1}", "{\"name\": \"\\u0000\"}",
        "{\"a\":1,\"a\":2}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    out.push(b"{\"name\": \"\xff\xfe\"}".to_vec());
    out.push(b"\xff\xfe\x00{".to_vec());
    out.push(b"\xef\xbb\xbf{\"name\": \"bom\"}".to_vec());
    // Nesting deeper than serde_json's limit of 128, within the body limit of 1 KiB.
    out.push("[".repeat(1000).into_bytes());
    out.push("{\"a\":".repeat(200).into_bytes());
    out.push("[".repeat(100_000).into_bytes());
    out.push(format!("{}1{}", "[".repeat(127), "]".repeat(127)).into_bytes());
    out.push(format!(r#"{{"name": "{}"}}"#, "x".repeat(256 * 1024)).into_bytes());
    out
}

const CONTENT_TYPES: &[Option<&str>] = &[
    Some("application/json"),
    Some("application/json; charset=utf-16"),
    Some("application/merge-patch+json"),
    Some("application/xml"),
    Some("multipart/form-data; boundary=x"),
    Some("text/plain"),
    Some(""),
    None,
];

const PATHS: &[&str] = &[
    "/",
    "//",
    "/items/",
    "/items/1/2",
    "/items/%",
    "/items/%ZZ",
    "/items/%FF%FE",
    "/items/%C0%80",
    "/items/%00",
    "/items/-1",
    "/items/99999999999",
    "/items?limit=%",
    "/items?limit=%FF",
    "/items?%%%=1",
    "/items?limit=1&limit=2",
    "/items?limit=-5",
    "/items?limit=",
    "/items?cursor[]=1",
    "/nowhere/%E2%82",
    "/app-error?x=%ZZ",
];

/// Every error reply is the catalog's.
fn assert_catalog_error(catalog: &Catalog, what: &str, reply: &Reply) {
    let id = reply.header(&catalog.request_id().header);
    assert!(id.is_some(), "{what}: no request id header");
    if reply.status < 400 {
        return;
    }
    let content_type = reply.header("content-type");
    let parsed = catalog
        .parse_body(content_type, &reply.raw)
        .unwrap_or_else(|| {
            panic!(
                "{what}: {} {content_type:?} is not the catalog's envelope: {}",
                reply.status,
                String::from_utf8_lossy(&reply.raw)
            )
        });
    let code = parsed.code.unwrap_or_default();
    let def = catalog
        .code(&code)
        .unwrap_or_else(|| panic!("{what}: {code} is not a code of {}", catalog.name()));
    assert_eq!(
        def.status, reply.status,
        "{what}: {code} at the wrong status"
    );
}

async fn sweep(catalog: Arc<Catalog>) {
    let base = serve(app(catalog.clone(), &Setup::default(), Arc::default())).await;
    let http = client();
    let mut count = 0;
    for body in bodies() {
        for endpoint in ["/items", "/raw"] {
            for content_type in CONTENT_TYPES {
                let mut req = http.post(format!("{base}{endpoint}")).body(body.clone());
                if let Some(ct) = content_type {
                    req = req.header("content-type", *ct);
                }
                let reply = Reply::from(req.send().await.expect("request")).await;
                let shown = String::from_utf8_lossy(&body[..body.len().min(40)]).to_string();
                assert_catalog_error(
                    &catalog,
                    &format!("POST {endpoint} {content_type:?} {shown:?}"),
                    &reply,
                );
                count += 1;
            }
        }
    }
    for path in PATHS {
        for method in ["GET", "POST", "PATCH", "DELETE", "OPTIONS"] {
            let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let reply = Reply::from(
                http.request(m, format!("{base}{path}"))
                    .header("x-errata-tenant", "acme")
                    .send()
                    .await
                    .expect("request"),
            )
            .await;
            assert_catalog_error(&catalog, &format!("{method} {path}"), &reply);
            count += 1;
        }
    }
    // What a client library will not send: a chunked body over the limit, a body shorter than
    // its length, an accept header asking for problem+json on a bad path.
    let raw: [&[u8]; 3] = [
        b"POST /items HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n800\r\n",
        b"POST /raw HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: 50\r\nconnection: close\r\n\r\n{\"name\"",
        b"GET /items/%FF HTTP/1.1\r\nhost: t\r\naccept: application/problem+json\r\nconnection: close\r\n\r\n",
    ];
    for (i, request) in raw.iter().enumerate() {
        let mut request = request.to_vec();
        if i == 0 {
            request.extend(std::iter::repeat_n(b'[', 0x800));
            request.extend_from_slice(b"\r\n0\r\n\r\n");
        }
        let reply = raw_request(&base, &request).await;
        assert_catalog_error(&catalog, &format!("raw request {i}"), &reply);
        count += 1;
    }
    assert!(count > 500, "the sweep ran {count} requests");
}

#[tokio::test]
async fn every_malformed_input_gets_an_error_of_the_catalog() {
    for (_, catalog) in catalogs() {
        sweep(catalog).await;
    }
}
