//! HTTPS end to end: clients speaking HTTP/2 and HTTP/1.1 (by ALPN) through the gateway to a
//! plain upstream and to an https upstream behind a private CA; the same bodies and headers on
//! both protocols; an upstream certificate from the wrong CA refused.

mod support;

use std::sync::Arc;

use bytes::Bytes;
use errata_gateway::tls::{self, CertReloader, TlsFiles};
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use serde_json::{Value, json};
use support::certs::{TestCa, client_config, temp_dir};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// One GET over TLS with the given protocol; the status, headers and JSON body (or Null).
async fn https_get(
    addr: std::net::SocketAddr,
    ca: &TestCa,
    h2: bool,
    path: &str,
    key: &str,
) -> (u16, HeaderMap, Value) {
    let alpn: &[&[u8]] = if h2 { &[b"h2"] } else { &[b"http/1.1"] };
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = TlsConnector::from(client_config(ca.roots(), alpn))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    assert_eq!(negotiated.as_deref(), Some(alpn[0]));
    let req = Request::get(format!("https://localhost:{}{path}", addr.port()))
        .header("authorization", format!("Bearer {key}"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let res = if h2 {
        let (mut tx, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .unwrap();
        tokio::spawn(conn);
        tx.send_request(req).await.unwrap()
    } else {
        let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(conn);
        let (mut parts, body) = req.into_parts();
        parts.uri = path.parse().unwrap();
        parts.headers.insert(
            "host",
            format!("localhost:{}", addr.port()).parse().unwrap(),
        );
        tx.send_request(Request::from_parts(parts, body))
            .await
            .unwrap()
    };
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, body)
}

/// A TLS front for a plain upstream: terminates TLS (certificate for `localhost` from `ca`)
/// and pipes the bytes through. Returns its https URL.
async fn https_upstream(plain: &str, ca: &TestCa, dir: &std::path::Path) -> String {
    let (cert, key) = ca.leaf(&["localhost"]).write(dir, "up.pem", "up.key");
    let reloader = CertReloader::load(&TlsFiles { cert, key }).unwrap();
    let acceptor = TlsAcceptor::from(tls::server::config(reloader, false).unwrap());
    let target = plain.trim_start_matches("http://").to_owned();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let (acceptor, target) = (acceptor.clone(), target.clone());
            tokio::spawn(async move {
                let Some(mut a) =
                    tls::server::accept(&acceptor, tcp, tls::server::HANDSHAKE_TIMEOUT).await
                else {
                    return;
                };
                let mut up = TcpStream::connect(&target).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut a.stream, &mut up).await;
            });
        }
    });
    format!("https://localhost:{port}")
}

fn listener_tls(ca: &TestCa, dir: &std::path::Path) -> String {
    let (cert, key) = ca.leaf(&["localhost"]).write(dir, "edge.pem", "edge.key");
    format!(
        "[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        cert.display(),
        key.display()
    )
}

/// Headers that differ between any two answers, whatever the protocol.
fn comparable(mut h: HeaderMap) -> HeaderMap {
    for name in [
        "date",
        "x-request-id",
        "content-length",
        "connection",
        "keep-alive",
    ] {
        h.remove(name);
    }
    h
}

async fn same_on_both(addr: std::net::SocketAddr, ca: &TestCa, path: &str, key: &str) -> Value {
    let (s2, h2, b2) = https_get(addr, ca, true, path, key).await;
    let (s1, h1, b1) = https_get(addr, ca, false, path, key).await;
    assert_eq!(s2, s1, "{path}");
    assert_eq!(comparable(h2), comparable(h1), "{path}");
    let strip = |mut b: Value| {
        if let Some(e) = b.get_mut("error").and_then(Value::as_object_mut) {
            e.remove("request_id");
        }
        if let Some(h) = b.get_mut("headers").and_then(Value::as_object_mut) {
            // Each request's own trace: present on both paths, different by design.
            if let Some(t) = h.remove("traceparent") {
                assert_eq!(t.as_str().map(str::len), Some(55), "{t}");
            }
            for k in ["x-request-id", "host", "x-forwarded-host"] {
                h.remove(k);
            }
        }
        b
    };
    assert_eq!(strip(b2.clone()), strip(b1), "{path}");
    b2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_http2_and_http1_to_a_plain_upstream_answers_alike() {
    let dir = temp_dir("edge-plain");
    let ca = TestCa::new("edge CA");
    let h = support::start(&listener_tls(&ca, &dir)).await;
    let (key, _) = h.key(json!({"name": "tls"})).await;
    let addr = h.running.addr;

    let ok = same_on_both(addr, &ca, "/echo", &key).await;
    assert_eq!(ok["body_len"], 0, "{ok}");
    assert_eq!(ok["headers"]["x-forwarded-for"], "127.0.0.1", "{ok}");
    // The upstream learns the client came in over TLS.
    assert_eq!(ok["headers"]["x-forwarded-proto"], "https", "{ok}");
    // Refusals: the same envelope on both protocols.
    let refused = same_on_both(addr, &ca, "/echo", "test_live_nope").await;
    assert!(refused["error"]["code"].is_string(), "{refused}");
    let (status, _, _) = https_get(addr, &ca, true, "/echo", "test_live_nope").await;
    assert_eq!(status, 401);
    let bad = same_on_both(addr, &ca, "/html502", &key).await;
    assert!(bad["error"]["code"].is_string(), "{bad}");
    let (status, _, _) = https_get(addr, &ca, true, "/echo", &key).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_upstream_behind_a_private_ca_is_reached_and_a_wrong_ca_refused() {
    let dir = temp_dir("edge-https");
    let edge_ca = TestCa::new("edge CA");
    let up_ca = TestCa::new("upstream CA");
    let plain = support::upstream(Arc::new(Semaphore::new(0))).await;
    let up = https_upstream(&plain, &up_ca, &dir).await;
    let ca_file = up_ca.write(&dir, "up-ca.pem");

    let extra = format!(
        "upstream_ca = \"{}\"\n{}",
        ca_file.display(),
        listener_tls(&edge_ca, &dir)
    );
    let h = support::start_with_upstream(&extra, &up, Arc::new(Semaphore::new(0))).await;
    let (key, _) = h.key(json!({"name": "tls-up"})).await;
    let ok = same_on_both(h.running.addr, &edge_ca, "/echo", &key).await;
    assert_eq!(ok["body_len"], 0, "{ok}");
    assert_eq!(
        ok["headers"]["host"],
        up.trim_start_matches("https://"),
        "{ok}"
    );

    // The same upstream, trusted through another CA: the connection is refused (502).
    let wrong = TestCa::new("not the upstream's CA").write(&dir, "wrong.pem");
    let h = support::start_with_upstream(
        &format!("upstream_ca = \"{}\"\n", wrong.display()),
        &up,
        Arc::new(Semaphore::new(0)),
    )
    .await;
    let (key, _) = h.key(json!({"name": "wrong-ca"})).await;
    let res = h.get("/echo").bearer_auth(&key).send().await.unwrap();
    assert_eq!(res.status(), 502);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_gateway", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_can_speak_tls_too() {
    let dir = temp_dir("admin-tls");
    let ca = TestCa::new("admin CA");
    let (cert, key) = ca
        .leaf(&["localhost"])
        .write(&dir, "admin.pem", "admin.key");
    let extra = format!(
        "[admin.tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        cert.display(),
        key.display()
    );
    // The harness adds its own [admin] table; this one is [admin.tls], a sub-table of it.
    let h = support::start(&extra).await;
    let (status, _, body) = https_get(
        h.running.admin_addr,
        &ca,
        false,
        "/keys",
        "admin-token-0123456789",
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_connections_past_the_cap_get_503_in_their_protocol() {
    let dir = temp_dir("edge-cap");
    let ca = TestCa::new("edge CA");
    let h = support::start(&format!("max_connections = 1\n{}", listener_tls(&ca, &dir))).await;
    let addr = h.running.addr;
    // One connection holds the only slot.
    let held = TlsConnector::from(client_config(ca.roots(), &[b"http/1.1"]))
        .connect(
            ServerName::try_from("localhost").unwrap(),
            TcpStream::connect(addr).await.unwrap(),
        )
        .await
        .unwrap();
    let expected = |id: &str| {
        json!({"error": {
            "code": "service_unavailable",
            "type": "api_error",
            "message": "The service is temporarily unavailable. Please retry after 1 seconds.",
            "param": null,
            "request_id": id,
            "doc_url": support::doc_url("service_unavailable"),
        }})
    };
    for h2 in [false, true] {
        let (status, headers, body) = https_get(addr, &ca, h2, "/echo", "unused").await;
        assert_eq!(status, 503, "h2 {h2}: {body}");
        assert_eq!(headers["retry-after"], "1");
        let id = headers["x-request-id"].to_str().unwrap();
        assert_eq!(body, expected(id), "h2 {h2}");
    }
    drop(held);
}
