//! An upstream that speaks HTTP/1.0, behind clients that speak HTTP/1.1, HTTP/1.0 and HTTP/2,
//! over real TCP: each client is answered in its own protocol (the status line, the body's
//! framing, keep-alive), on the relay and on hyper's path alike; an HTTP/1.0 upstream
//! connection carries another request only when the upstream said keep-alive; the upstream's
//! `server` header reaches the client only when the config says so.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use serde_json::{Value, json};
use support::certs::{TestCa, client_config, temp_dir};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsConnector;

/// `/idem/...` needs a key and records idempotency keys, which hyper's path serves; every other
/// path is open and relayed.
const ROUTES: &str =
    "[[routes]]\npath = \"/idem\"\nidempotency = true\n\n[[routes]]\npath = \"/\"\nauth = false\n";

/// The upstream's error body: an error in the default catalog's envelope.
const ERROR_BODY: &str = r#"{"error":{"code":"resource_not_found","type":"not_found_error","message":"Order 'ord_1' not found.","param":null}}"#;

// ---------------------------------------------------------------------------------------------
// The HTTP/1.0 upstream.

/// A raw HTTP/1.0 upstream. It answers by the last segment of the target, always with
/// `server: upstream/1.0`:
///
/// - `length`: 200 with a `Content-Length`, then closes;
/// - `eof`: 200 with no length, the body in two writes, ended by closing;
/// - `linger`: 200 with a `Content-Length` and no keep-alive, the connection left open (an
///   upstream slow to close; another request on it would still be answered);
/// - `keepalive`: 200 with a `Content-Length` and `Connection: keep-alive`, the connection kept;
/// - `error`: 404 with an error in the envelope and no length, ended by closing.
struct Http10 {
    addr: SocketAddr,
    /// (connection, target) of every request read, in order.
    seen: Arc<Mutex<Vec<(usize, String)>>>,
}

impl Http10 {
    async fn start() -> Http10 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        tokio::spawn(async move {
            let mut conn = 0;
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve_http10(tcp, conn, Arc::clone(&record)));
                conn += 1;
            }
        });
        Http10 { addr, seen }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The upstream connection of each request whose target is `target`, in order.
    fn connections_of(&self, target: &str) -> Vec<usize> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, t)| t == target)
            .map(|(c, _)| *c)
            .collect()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn serve_http10(mut tcp: TcpStream, conn: usize, seen: Arc<Mutex<Vec<(usize, String)>>>) {
    const HEAD: &str = "server: upstream/1.0\r\ncontent-type: text/plain\r\n";
    let mut buf = Vec::new();
    loop {
        // The gateway sends bodiless requests here: a head is the whole request.
        let end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        let target = head.split(' ').nth(1).unwrap_or("").to_owned();
        seen.lock().unwrap().push((conn, target.clone()));
        let answer = match target.rsplit('/').next().unwrap_or("") {
            "length" => {
                format!("HTTP/1.0 200 OK\r\n{HEAD}content-length: 11\r\n\r\nhello world")
            }
            "eof" => {
                let first = format!("HTTP/1.0 200 OK\r\n{HEAD}\r\nhello ");
                if tcp.write_all(first.as_bytes()).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
                "world".to_owned()
            }
            "linger" => {
                format!("HTTP/1.0 200 OK\r\n{HEAD}content-length: 11\r\n\r\nhello world")
            }
            "keepalive" => format!(
                "HTTP/1.0 200 OK\r\n{HEAD}connection: keep-alive\r\ncontent-length: 11\r\n\r\nhello world"
            ),
            "error" => format!(
                "HTTP/1.0 404 Not Found\r\nserver: upstream/1.0\r\ncontent-type: application/json\r\n\r\n{ERROR_BODY}"
            ),
            _ => "HTTP/1.0 500 Internal Server Error\r\n\r\n".to_owned(),
        };
        if tcp.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
        if !(target.ends_with("/linger") || target.ends_with("/keepalive")) {
            let _ = tcp.shutdown().await;
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.x client.

/// One answer as the client read it off the wire.
#[derive(Debug)]
struct Answer {
    status_line: String,
    /// Lower-cased names, trimmed values, in order.
    headers: Vec<(String, String)>,
    /// The body, its framing removed.
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn count(&self, name: &str) -> usize {
        self.headers.iter().filter(|(n, _)| n == name).count()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.text()))
    }
}

struct Client {
    tcp: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        Client {
            tcp: TcpStream::connect(addr).await.unwrap(),
            buf: Vec::new(),
        }
    }

    /// Reads more; false at the end of the stream.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        match tokio::time::timeout(Duration::from_secs(5), self.tcp.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => false,
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(_) => panic!(
                "no answer within 5 s; have {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    /// `GET path` in HTTP/1.`minor`, with a bearer `key` when given; the answer.
    async fn get(&mut self, minor: u8, path: &str, key: Option<&str>) -> Answer {
        let auth = key.map_or(String::new(), |k| format!("authorization: Bearer {k}\r\n"));
        let req = format!("GET {path} HTTP/1.{minor}\r\nhost: gateway\r\n{auth}\r\n");
        self.tcp.write_all(req.as_bytes()).await.unwrap();
        self.answer().await
    }

    async fn answer(&mut self) -> Answer {
        let end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            assert!(self.fill().await, "closed before a whole head");
        };
        let head = String::from_utf8_lossy(&self.buf[..end - 4]).into_owned();
        self.buf.drain(..end);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("").to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let mut answer = Answer {
            status_line,
            headers,
            body: Vec::new(),
        };
        if answer.header("transfer-encoding") == Some("chunked") {
            answer.body = self.chunked().await;
        } else if let Some(n) = answer.header("content-length") {
            let n: usize = n.parse().unwrap();
            while self.buf.len() < n {
                assert!(self.fill().await, "closed inside a Content-Length body");
            }
            answer.body = self.buf.drain(..n).collect();
        } else {
            while self.fill().await {}
            answer.body = std::mem::take(&mut self.buf);
        }
        answer
    }

    /// A chunked body, decoded; no trailers expected.
    async fn chunked(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf, b"\r\n") {
                    break i;
                }
                assert!(self.fill().await, "closed inside a chunked body");
            };
            let line = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
            let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16)
                .unwrap_or_else(|_| panic!("bad chunk line {line:?}"));
            self.buf.drain(..line_end + 2);
            while self.buf.len() < size + 2 {
                assert!(self.fill().await, "closed inside a chunk");
            }
            assert_eq!(&self.buf[size..size + 2], b"\r\n", "a chunk ends with CRLF");
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
            if size == 0 {
                return body;
            }
        }
    }

    /// Whether the gateway ends the connection (within a second) with nothing more sent.
    async fn ends(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(1), self.tcp.read(&mut byte)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

// ---------------------------------------------------------------------------------------------

/// A gateway (`extra` config before the routes) in front of a fresh HTTP/1.0 upstream, and a
/// key for `/idem`.
async fn gateway(extra: &str) -> (Harness, Http10, String) {
    let up = Http10::start().await;
    let h = start_with_upstream(
        &format!("{extra}\n{ROUTES}"),
        &up.url(),
        Arc::new(Semaphore::new(0)),
    )
    .await;
    let (key, _) = h.key(json!({"name": "protocol"})).await;
    (h, up, key)
}

/// The relay (open paths) and hyper's path (`/idem`, which needs a key).
fn both_paths(key: &str) -> [(&'static str, Option<&str>); 2] {
    [("", None), ("/idem", Some(key))]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http10_upstream_is_answered_in_http11_with_keep_alive() {
    let (h, _up, key) = gateway("").await;
    for (prefix, key) in both_paths(&key) {
        let mut c = Client::connect(h.running.addr).await;

        let a = c.get(1, &format!("{prefix}/length"), key).await;
        assert_eq!(a.status_line, "HTTP/1.1 200 OK", "{prefix}: {a:?}");
        assert_eq!(a.text(), "hello world", "{prefix}");
        assert_eq!(a.header("content-length"), Some("11"), "{prefix}: {a:?}");
        assert_eq!(a.header("content-type"), Some("text/plain"), "{prefix}");
        assert_eq!(a.header("server"), None, "{prefix}: {a:?}");
        assert_eq!(a.header("connection"), None, "{prefix}: {a:?}");

        // A body that ends with the upstream's connection goes to the client chunked.
        let a = c.get(1, &format!("{prefix}/eof"), key).await;
        assert_eq!(a.status_line, "HTTP/1.1 200 OK", "{prefix}: {a:?}");
        assert_eq!(
            a.header("transfer-encoding"),
            Some("chunked"),
            "{prefix}: {a:?}"
        );
        assert_eq!(a.header("content-length"), None, "{prefix}: {a:?}");
        assert_eq!(a.text(), "hello world", "{prefix}");
        assert_eq!(a.header("server"), None, "{prefix}: {a:?}");
        assert_eq!(a.header("connection"), None, "{prefix}: {a:?}");

        // An error (its body ended by closing) is the catalog's, in HTTP/1.1.
        let a = c.get(1, &format!("{prefix}/error"), key).await;
        assert_eq!(a.status_line, "HTTP/1.1 404 Not Found", "{prefix}: {a:?}");
        assert_eq!(a.header("server"), None, "{prefix}: {a:?}");
        assert_eq!(a.header("connection"), None, "{prefix}: {a:?}");
        let id = a.header("x-request-id").unwrap().to_owned();
        assert_eq!(
            a.json(),
            envelope(
                "resource_not_found",
                "not_found_error",
                "Order 'ord_1' not found.",
                &id
            ),
            "{prefix}"
        );

        // The client's connection carried all three and carries another.
        let a = c.get(1, &format!("{prefix}/length"), key).await;
        assert_eq!(a.status_line, "HTTP/1.1 200 OK", "{prefix}: {a:?}");
        assert_eq!(a.text(), "hello world", "{prefix}");
        assert!(!c.ends().await, "{prefix}: the connection is kept open");
    }
    h.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http10_upstream_connection_is_reused_only_when_it_said_keep_alive() {
    let (h, up, key) = gateway("").await;
    for (prefix, key) in both_paths(&key) {
        let mut c = Client::connect(h.running.addr).await;
        for _ in 0..3 {
            let a = c.get(1, &format!("{prefix}/linger"), key).await;
            assert_eq!(a.status_line, "HTTP/1.1 200 OK", "{prefix}: {a:?}");
            assert_eq!(a.text(), "hello world", "{prefix}");
        }
        for _ in 0..3 {
            let a = c.get(1, &format!("{prefix}/keepalive"), key).await;
            assert_eq!(a.status_line, "HTTP/1.1 200 OK", "{prefix}: {a:?}");
            assert_eq!(a.text(), "hello world", "{prefix}");
        }
        // Without keep-alive, each request had a connection of its own, although the upstream
        // left each one open; with it, all three went on one.
        let linger = up.connections_of(&format!("{prefix}/linger"));
        assert_eq!(linger.len(), 3, "{prefix}: {linger:?}");
        assert!(
            linger[0] != linger[1] && linger[1] != linger[2] && linger[0] != linger[2],
            "{prefix}: {linger:?}"
        );
        let kept = up.connections_of(&format!("{prefix}/keepalive"));
        assert_eq!(kept.len(), 3, "{prefix}: {kept:?}");
        assert!(
            kept[0] == kept[1] && kept[1] == kept[2],
            "{prefix}: {kept:?}"
        );
    }
    h.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http10_client_is_answered_in_http10() {
    let (h, _up, _key) = gateway("").await;

    let mut c = Client::connect(h.running.addr).await;
    let a = c.get(0, "/length", None).await;
    assert_eq!(a.status_line, "HTTP/1.0 200 OK", "{a:?}");
    assert_eq!(a.text(), "hello world");
    assert_eq!(a.header("server"), None, "{a:?}");
    assert!(
        c.ends().await,
        "an HTTP/1.0 connection ends after its answer"
    );

    // A body of no known length cannot be chunked for HTTP/1.0: it ends with the connection.
    let mut c = Client::connect(h.running.addr).await;
    let a = c.get(0, "/eof", None).await;
    assert_eq!(a.status_line, "HTTP/1.0 200 OK", "{a:?}");
    assert_eq!(a.header("transfer-encoding"), None, "{a:?}");
    assert_eq!(a.header("content-length"), None, "{a:?}");
    assert_eq!(a.text(), "hello world");
    h.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstreams_server_header_passes_when_configured() {
    let (h, _up, key) = gateway("pass_server_header = true").await;
    for (prefix, key) in both_paths(&key) {
        let mut c = Client::connect(h.running.addr).await;
        for path in ["length", "eof", "error"] {
            let a = c.get(1, &format!("{prefix}/{path}"), key).await;
            assert!(
                a.status_line.starts_with("HTTP/1.1 "),
                "{prefix}/{path}: {a:?}"
            );
            assert_eq!(
                a.header("server"),
                Some("upstream/1.0"),
                "{prefix}/{path}: {a:?}"
            );
            assert_eq!(a.count("server"), 1, "{prefix}/{path}: {a:?}");
        }
    }
    h.running.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// HTTP/2 over TLS.

/// One GET over TLS in HTTP/2: the version, status, headers and body.
async fn h2_get(
    addr: SocketAddr,
    ca: &TestCa,
    path: &str,
    key: &str,
) -> (http::Version, u16, http::HeaderMap, Bytes) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = TlsConnector::from(client_config(ca.roots(), &[b"h2"]))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let (mut tx, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::get(format!("https://localhost:{}{path}", addr.port()))
        .header("authorization", format!("Bearer {key}"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let res = tx.send_request(req).await.unwrap();
    let (version, status, headers) = (res.version(), res.status().as_u16(), res.headers().clone());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (version, status, headers, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_client_is_answered_in_http2_and_the_server_header_follows_the_config() {
    let dir = temp_dir("protocol-h2");
    let ca = TestCa::new("edge CA");
    let (cert, key_file) = ca.leaf(&["localhost"]).write(&dir, "edge.pem", "edge.key");
    let tls = format!(
        "[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        cert.display(),
        key_file.display()
    );
    for pass in [false, true] {
        let (h, _up, key) = gateway(&format!("pass_server_header = {pass}\n{tls}")).await;
        for path in ["/length", "/eof", "/idem/length", "/idem/eof"] {
            let (version, status, headers, body) = h2_get(h.running.addr, &ca, path, &key).await;
            assert_eq!(version, http::Version::HTTP_2, "{path}");
            assert_eq!(status, 200, "{path}");
            assert_eq!(&body[..], b"hello world", "{path}");
            let server: Vec<_> = headers.get_all("server").iter().collect();
            if pass {
                assert_eq!(server, ["upstream/1.0"], "{path}: {headers:?}");
            } else {
                assert!(server.is_empty(), "{path}: {headers:?}");
            }
        }
        h.running.shutdown().await;
    }
}
