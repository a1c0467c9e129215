//! The public listener's edge over raw TCP: heads hyper would refuse, slow heads and
//! connections past the cap are answered in the catalog's envelope with a request id; the
//! request id agrees in header and body through an errata-axum upstream; several workers.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use errata_core::Catalog;
use serde_json::{Value, json};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// A raw answer: status, lower-cased headers, JSON body.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The request id, the same in the header and the body.
    fn request_id(&self) -> String {
        let id = self
            .header("x-request-id")
            .expect("x-request-id")
            .to_owned();
        assert!(Catalog::builtin().request_id().matches(&id), "{id}");
        assert_eq!(self.body["error"]["request_id"], json!(id), "header = body");
        id
    }
}

/// Parses one HTTP/1.1 answer that has a content-length.
fn parse(bytes: &[u8]) -> Option<(Raw, usize)> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")?
        .1
        .parse()
        .ok()?;
    let body = bytes.get(end + 4..end + 4 + len)?;
    let body = serde_json::from_slice(body).unwrap_or(Value::Null);
    Some((
        Raw {
            status,
            headers,
            body,
        },
        end + 4 + len,
    ))
}

/// Reads one answer from `tcp` (within 10 s).
async fn read_answer(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> Raw {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some((raw, used)) = parse(buf) {
                buf.drain(..used);
                return raw;
            }
            let mut chunk = [0u8; 8192];
            let n = tcp.read(&mut chunk).await.expect("read");
            assert!(
                n > 0,
                "closed before an answer: {:?}",
                String::from_utf8_lossy(buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("an answer within 10 s")
}

/// Sends `bytes` on a new connection and reads one answer; then expects the connection closed.
async fn exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> Raw {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(bytes).await.unwrap();
    let mut buf = Vec::new();
    let raw = read_answer(&mut tcp, &mut buf).await;
    assert_eq!(raw.header("connection"), Some("close"));
    raw
}

fn invalid(code: &str, message: &str, id: &str) -> Value {
    envelope(code, "invalid_request_error", message, id)
}

#[tokio::test]
async fn heads_hyper_would_refuse_are_answered_in_the_envelope() {
    let h = start("").await;
    let addr = h.running.addr;

    let raw = exchange(
        addr,
        b"GET /v1/x HTTP/1.1\r\nHost: a\r\nno colon here\r\n\r\n",
    )
    .await;
    assert_eq!(raw.status, 400);
    let id = raw.request_id();
    assert_eq!(
        raw.body,
        invalid(
            "malformed_request",
            "The request is not valid HTTP: a header name is not valid (a token, then a colon).",
            &id
        )
    );

    let raw = exchange(addr, b"G(T /v1/x HTTP/1.1\r\n\r\n").await;
    assert_eq!(raw.status, 400);
    let id = raw.request_id();
    assert_eq!(
        raw.body,
        invalid(
            "malformed_request",
            "The request is not valid HTTP: the method is not a valid token.",
            &id
        )
    );

    let raw = exchange(
        addr,
        b"POST /v1/x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
    )
    .await;
    assert_eq!(raw.status, 400);
    let id = raw.request_id();
    assert_eq!(
        raw.body,
        invalid(
            "malformed_request",
            "The request is not valid HTTP: the Content-Length headers disagree.",
            &id
        )
    );

    let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(70_000));
    let raw = exchange(addr, long.as_bytes()).await;
    assert_eq!(raw.status, 414);
    let id = raw.request_id();
    assert_eq!(
        raw.body,
        invalid(
            "uri_too_long",
            "The request URI is longer than the server accepts.",
            &id
        )
    );

    let big = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nx-big: {}\r\n\r\n",
        "b".repeat(200_000)
    );
    let raw = exchange(addr, big.as_bytes()).await;
    assert_eq!(raw.status, 431);
    let id = raw.request_id();
    assert_eq!(
        raw.body,
        invalid(
            "headers_too_large",
            "The request's headers are larger than the server accepts.",
            &id
        )
    );

    let mut many = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
    for i in 0..120 {
        many.push_str(&format!("x-h{i}: 1\r\n"));
    }
    many.push_str("\r\n");
    let raw = exchange(addr, many.as_bytes()).await;
    assert_eq!(raw.status, 431);
    raw.request_id();
    h.running.shutdown().await;
}

#[tokio::test]
async fn a_bad_head_after_good_requests_on_one_connection_is_answered_too() {
    let h = start("").await;
    let (key, _) = h.key(json!({})).await;
    let mut tcp = TcpStream::connect(h.running.addr).await.unwrap();
    let mut buf = Vec::new();
    let body = r#"{"a":1}"#;
    let good = format!(
        "POST /echo HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    // Two requests with bodies, then a bad head, all sent at once.
    let all = format!("{good}{good}GET /echo HTTP/1.1\r\nHost: a\r\nbad\r\n\r\n");
    tcp.write_all(all.as_bytes()).await.unwrap();
    for _ in 0..2 {
        let raw = read_answer(&mut tcp, &mut buf).await;
        assert_eq!(raw.status, 200);
        assert_eq!(raw.body["body_len"], json!(body.len()));
    }
    let raw = read_answer(&mut tcp, &mut buf).await;
    assert_eq!(raw.status, 400);
    assert_eq!(raw.body["error"]["code"], json!("malformed_request"));
    raw.request_id();
    h.running.shutdown().await;
}

#[tokio::test]
async fn a_head_not_complete_in_time_gets_408_and_the_connection_closes() {
    let h = start("[timeouts]\nheader_read_ms = 300\n").await;
    let expected = |id: &str| {
        invalid(
            "request_timeout",
            "The request was not received within 1 seconds.",
            id,
        )
    };
    // Part of a head, then nothing.
    let raw = exchange(h.running.addr, b"GET /echo HTTP/1.1\r\nHost: a\r\n").await;
    assert_eq!(raw.status, 408);
    let id = raw.request_id();
    assert_eq!(raw.body, expected(&id));
    // Nothing at all.
    let raw = exchange(h.running.addr, b"").await;
    assert_eq!(raw.status, 408);
    let id = raw.request_id();
    assert_eq!(raw.body, expected(&id));
    h.running.shutdown().await;
}

#[tokio::test]
async fn connections_past_the_cap_get_503_and_are_closed() {
    let h = start("max_connections = 1\n[[routes]]\npath = \"/health\"\nauth = false\n").await;
    let addr = h.running.addr;
    let get = b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut first = TcpStream::connect(addr).await.unwrap();
    first.write_all(get).await.unwrap();
    let mut buf = Vec::new();
    assert_eq!(read_answer(&mut first, &mut buf).await.status, 200);

    let raw = exchange(addr, get).await;
    assert_eq!(raw.status, 503);
    let id = raw.request_id();
    assert_eq!(raw.header("retry-after"), Some("1"));
    assert_eq!(
        raw.body,
        envelope(
            "service_unavailable",
            "api_error",
            "The service is temporarily unavailable. Please retry after 1 seconds.",
            &id
        )
    );

    // The first connection still works, and once it closes a new one is served.
    first.write_all(get).await.unwrap();
    assert_eq!(read_answer(&mut first, &mut buf).await.status, 200);
    drop(first);
    let mut served = false;
    for _ in 0..50 {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(get).await.unwrap();
        let mut buf = Vec::new();
        if read_answer(&mut tcp, &mut buf).await.status == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served, "a connection is served once the cap has room");
    h.running.shutdown().await;
}

#[tokio::test]
async fn the_request_id_agrees_in_header_and_body_through_an_errata_axum_upstream() {
    // An errata-axum service with ids of its own: its envelope carries its id, not ours.
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let record = Arc::clone(&seen);
    let catalog = Arc::new(Catalog::builtin().clone());
    let routes = Router::new().route(
        "/v1/orders/{id}",
        get(move |headers: axum::http::HeaderMap| {
            let record = Arc::clone(&record);
            async move {
                if let Some(v) = headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
                    record.lock().unwrap().push(v.to_owned());
                }
                Err::<(), _>(
                    errata_axum::Error::condition(errata_core::Condition::ResourceNotFound)
                        .arg("resource", "order")
                        .arg("id", "ord_1"),
                )
            }
        }),
    );
    let app = errata_axum::ErrataLayer::new(catalog).wrap(routes);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });

    // The upstream on its own answers with its own id.
    let direct = reqwest::get(format!("{up}/v1/orders/ord_1")).await.unwrap();
    let own: Value = direct.json().await.unwrap();
    assert!(own["error"]["request_id"].is_string());

    let h = start_with_upstream("", &up, Arc::new(Semaphore::new(0))).await;
    let (key, _) = h.key(json!({})).await;
    let (status, headers, body) = parts(
        h.get("/v1/orders/ord_1")
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    let id = request_id(&headers, &body);
    assert_eq!(body["error"]["request_id"], json!(id));
    assert_eq!(body["error"]["code"], own["error"]["code"]);
    // The upstream was sent the same id.
    assert_eq!(seen.lock().unwrap().last(), Some(&id));
    h.running.shutdown().await;
}

#[tokio::test]
async fn several_workers_serve_one_address() {
    let h = start("workers = 2\n").await;
    assert_eq!(h.running.gateway().config.workers, 2);
    let (key, _) = h.key(json!({})).await;
    for _ in 0..20 {
        // A new connection each time, so both workers take some.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let res = client
            .get(format!("{}/echo", h.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    h.running.shutdown().await;
}
