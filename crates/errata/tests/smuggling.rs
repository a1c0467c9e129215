//! The known request-smuggling and desync shapes, sent over real TCP to a running gateway in
//! front of a raw upstream that records every byte it is sent. Each case says exactly what a
//! client sees (status, `connection`, the envelope with its reason, one request id in header
//! and body) and exactly what reached the upstream: how many requests, their method, target
//! and body bytes as framed on the wire, and that nothing smuggled behind them got through.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use errata_core::Catalog;
use serde_json::{Value, json};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Every path is open, except `/private`, which needs a key: a request smuggled behind another
/// must be judged on its own, and without a key it is answered 401.
const CONFIG: &str = "[[routes]]\npath = \"/private\"\n\n[[routes]]\npath = \"/\"\nauth = false\n";

// ---------------------------------------------------------------------------------------------
// The raw upstream.

/// One request as the upstream read it off the wire.
#[derive(Clone, Debug)]
struct Got {
    /// Which upstream connection it came on (0 for the first accepted).
    conn: usize,
    method: String,
    target: String,
    /// Lower-cased names, trimmed values, in order.
    headers: Vec<(String, String)>,
    /// The body as framed on the wire (a chunked body with its chunk lines).
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What the upstream has seen so far.
#[derive(Debug, Default)]
struct Seen {
    /// Connections accepted.
    connections: usize,
    /// Connections that have ended.
    closed: usize,
    /// Whole requests, in the order they were read.
    requests: Vec<Got>,
    /// Per connection: bytes read that are not (yet) a whole request.
    inflight: Vec<Vec<u8>>,
    /// Connections that ended holding part of a request: (connection, those bytes).
    unfinished: Vec<(usize, Vec<u8>)>,
    /// Bytes the upstream could not read as a request (the gateway framed something wrong).
    garbled: Vec<(usize, String)>,
}

struct Upstream {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
}

impl Upstream {
    /// A raw HTTP/1.1 upstream on loopback, answering each request as [`reply`] says.
    async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let record = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let conn = {
                    let mut s = record.lock().unwrap();
                    s.connections += 1;
                    s.inflight.push(Vec::new());
                    s.connections - 1
                };
                tokio::spawn(serve_upstream(tcp, conn, Arc::clone(&record)));
            }
        });
        Upstream { addr, seen }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn with<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.lock().unwrap())
    }

    fn requests(&self) -> Vec<Got> {
        self.with(|s| s.requests.clone())
    }

    /// (method, target, body) of every whole request, in order.
    fn summary(&self) -> Vec<(String, String, String)> {
        self.requests()
            .into_iter()
            .map(|g| (g.method.clone(), g.target.clone(), g.body_text()))
            .collect()
    }

    fn connections(&self) -> usize {
        self.with(|s| s.connections)
    }

    /// Waits (up to 5 s) until `what` holds of what the upstream has seen.
    async fn wait(&self, what: &str, f: impl Fn(&Seen) -> bool) {
        for _ in 0..500 {
            if self.with(&f) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "upstream: {what} within 5 s; seen {:?}",
            self.seen.lock().unwrap()
        );
    }

    /// Nothing garbled, nothing left unfinished: every byte sent upstream was a whole request.
    fn assert_clean(&self) {
        self.with(|s| {
            assert!(
                s.garbled.is_empty(),
                "garbled upstream bytes: {:?}",
                s.garbled
            );
            assert!(
                s.unfinished.is_empty(),
                "unfinished upstream requests: {:?}",
                s.unfinished
                    .iter()
                    .map(|(c, b)| (c, String::from_utf8_lossy(b)))
                    .collect::<Vec<_>>()
            );
        });
    }
}

async fn serve_upstream(mut tcp: TcpStream, conn: usize, seen: Arc<Mutex<Seen>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        loop {
            match read_request(&buf) {
                Parsed::Partial => break,
                Parsed::Bad(why) => {
                    let mut s = seen.lock().unwrap();
                    s.garbled.push((conn, why));
                    s.inflight[conn].clear();
                    s.closed += 1;
                    return;
                }
                Parsed::Whole(got, used) => {
                    buf.drain(..used);
                    let answer = reply(&got);
                    {
                        let mut s = seen.lock().unwrap();
                        s.requests.push(Got { conn, ..got });
                        s.inflight[conn] = buf.clone();
                    }
                    if tcp.write_all(&answer).await.is_err() {
                        seen.lock().unwrap().closed += 1;
                        return;
                    }
                }
            }
        }
        seen.lock().unwrap().inflight[conn] = buf.clone();
        let n = tcp.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            let mut s = seen.lock().unwrap();
            if !buf.is_empty() {
                s.unfinished.push((conn, buf));
            }
            s.inflight[conn].clear();
            s.closed += 1;
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The upstream's answer: a small JSON body naming the request, unless the path asks for a
/// misbehaving one.
fn reply(got: &Got) -> Vec<u8> {
    const OK: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}";
    match got.target.as_str() {
        // Framed two ways.
        "/resp/cl-te" => b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\ntransfer-encoding: chunked\r\n\r\nb\r\n{\"ok\":true}\r\n0\r\n\r\n".to_vec(),
        "/resp/cl-twice" => b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\ncontent-length: 50\r\n\r\n{\"ok\":true}".to_vec(),
        // A whole second response after the first, unasked.
        "/resp/extra" => format!("{OK}HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nSMUGGLED").into_bytes(),
        // What a GET would be, without the body (an answer to HEAD).
        "/resp/head20" => b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n".to_vec(),
        // A body after an answer to HEAD, which has none.
        "/resp/head-with-body" => OK.as_bytes().to_vec(),
        _ => {
            let body = json!({"upstream": format!("{} {}", got.method, got.target), "body_bytes": got.body.len()}).to_string();
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        }
    }
}

enum Parsed {
    Partial,
    Bad(String),
    /// A whole request (its `conn` not yet set) and the bytes it took.
    Whole(Got, usize),
}

/// Reads one request at the start of `buf` strictly: CRLF lines, one framing header, a
/// `Content-Length` of plain digits or a chunked body walked to its end.
fn read_request(buf: &[u8]) -> Parsed {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Parsed::Partial;
    };
    let Ok(head) = std::str::from_utf8(&buf[..end]) else {
        return Parsed::Bad("head not UTF-8".into());
    };
    if head
        .split("\r\n")
        .any(|l| l.contains('\r') || l.contains('\n'))
    {
        return Parsed::Bad(format!("bare CR or LF in {head:?}"));
    }
    let mut lines = head.split("\r\n");
    let line: Vec<&str> = lines.next().unwrap_or("").split(' ').collect();
    let [method, target, "HTTP/1.1"] = line[..] else {
        return Parsed::Bad(format!("request line {line:?}"));
    };
    let mut headers = Vec::new();
    for l in lines {
        let Some((n, v)) = l.split_once(':') else {
            return Parsed::Bad(format!("header line {l:?}"));
        };
        if n.is_empty() || n.contains([' ', '\t']) {
            return Parsed::Bad(format!("header name {n:?}"));
        }
        headers.push((n.to_ascii_lowercase(), v.trim().to_owned()));
    }
    let named = |name: &str| headers.iter().filter(|(n, _)| n == name).count();
    let value = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let start = end + 4;
    let body_len = match (value("content-length"), value("transfer-encoding")) {
        (Some(_), Some(_)) => return Parsed::Bad("content-length and transfer-encoding".into()),
        _ if named("content-length") > 1 || named("transfer-encoding") > 1 => {
            return Parsed::Bad("a framing header repeated".into());
        }
        (Some(cl), None) => match cl.parse::<usize>() {
            Ok(n) if cl.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Parsed::Bad(format!("content-length {cl:?}")),
        },
        (None, Some(te)) if te == "chunked" => match chunked_len(&buf[start..]) {
            Ok(Some(n)) => n,
            Ok(None) => return Parsed::Partial,
            Err(why) => return Parsed::Bad(why),
        },
        (None, Some(te)) => return Parsed::Bad(format!("transfer-encoding {te:?}")),
        (None, None) => 0,
    };
    if buf.len() < start + body_len {
        return Parsed::Partial;
    }
    Parsed::Whole(
        Got {
            conn: 0,
            method: method.to_owned(),
            target: target.to_owned(),
            headers,
            body: buf[start..start + body_len].to_vec(),
        },
        start + body_len,
    )
}

/// The length of the chunked body at the start of `body`, if it is all there.
fn chunked_len(body: &[u8]) -> Result<Option<usize>, String> {
    let mut at = 0;
    loop {
        let Some(eol) = body[at..].windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&body[at..at + eol]).map_err(|e| e.to_string())?;
        let size = line.split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size, 16).map_err(|_| format!("chunk size {line:?}"))?;
        at += eol + 2;
        if size == 0 {
            // Trailers, then the empty line.
            loop {
                let Some(eol) = body[at..].windows(2).position(|w| w == b"\r\n") else {
                    return Ok(None);
                };
                at += eol + 2;
                if eol == 0 {
                    return Ok(Some(at));
                }
            }
        }
        if body.len() < at + size + 2 {
            return Ok(None);
        }
        if &body[at + size..at + size + 2] != b"\r\n" {
            return Err("chunk data not followed by CRLF".into());
        }
        at += size + 2;
    }
}

// ---------------------------------------------------------------------------------------------
// The client side.

/// A raw answer: status, lower-cased headers, body bytes (and the body as JSON, if it is).
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    json: Value,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The request id, in the catalog's format, and (for an envelope) the same in the body.
    fn request_id(&self) -> String {
        let id = self
            .header("x-request-id")
            .expect("x-request-id")
            .to_owned();
        assert!(Catalog::builtin().request_id().matches(&id), "{id}");
        assert_eq!(
            self.headers
                .iter()
                .filter(|(n, _)| n == "x-request-id")
                .count(),
            1,
            "one x-request-id header"
        );
        if let Some(b) = self.json.pointer("/error/request_id") {
            assert_eq!(b, &json!(id), "request id: header = body");
        }
        id
    }
}

/// Parses one HTTP/1.1 answer with a content-length (no body after a `HEAD`).
fn parse(bytes: &[u8], to_head: bool) -> Option<(Raw, usize)> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = if to_head {
        0
    } else {
        headers
            .iter()
            .find(|(n, _)| n == "content-length")?
            .1
            .parse()
            .ok()?
    };
    let body = bytes.get(end + 4..end + 4 + len)?.to_vec();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Some((
        Raw {
            status,
            headers,
            body,
            json,
        },
        end + 4 + len,
    ))
}

async fn read_some(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> usize {
    let mut chunk = [0u8; 8192];
    let n = tcp.read(&mut chunk).await.expect("read");
    buf.extend_from_slice(&chunk[..n]);
    n
}

/// Reads one answer from `tcp` (within 10 s).
async fn read_answer_to(tcp: &mut TcpStream, buf: &mut Vec<u8>, to_head: bool) -> Raw {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some((raw, used)) = parse(buf, to_head) {
                buf.drain(..used);
                return raw;
            }
            let n = read_some(tcp, buf).await;
            assert!(
                n > 0,
                "closed before an answer: {:?}",
                String::from_utf8_lossy(buf)
            );
        }
    })
    .await
    .expect("an answer within 10 s")
}

async fn read_answer(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> Raw {
    read_answer_to(tcp, buf, false).await
}

/// The gateway closes the connection (within 5 s) without sending anything more.
async fn expect_closed(tcp: &mut TcpStream, buf: &mut Vec<u8>) {
    tokio::time::timeout(Duration::from_secs(5), async {
        while read_some(tcp, buf).await > 0 {}
    })
    .await
    .expect("the gateway closes the connection");
    assert!(
        buf.is_empty(),
        "bytes after the last answer: {:?}",
        String::from_utf8_lossy(buf)
    );
}

/// Nothing more arrives for a while, and the connection stays open.
async fn expect_quiet(tcp: &mut TcpStream, buf: &mut Vec<u8>) {
    let more = tokio::time::timeout(Duration::from_millis(300), read_some(tcp, buf)).await;
    assert!(
        more.is_err(),
        "unexpected bytes or close: {:?}",
        String::from_utf8_lossy(buf)
    );
    assert!(buf.is_empty());
}

/// Sends `bytes` on a new connection; reads one answer, then expects the connection closed.
async fn refused(addr: SocketAddr, bytes: &[u8]) -> Raw {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(bytes).await.unwrap();
    let mut buf = Vec::new();
    let raw = read_answer(&mut tcp, &mut buf).await;
    expect_closed(&mut tcp, &mut buf).await;
    raw
}

fn malformed(reason: &str, id: &str) -> Value {
    envelope(
        "malformed_request",
        "invalid_request_error",
        &format!("The request is not valid HTTP: {reason}."),
        id,
    )
}

/// Checks a refusal: the status, `Connection: close`, one request id, the exact envelope.
fn assert_malformed(raw: &Raw, reason: &str) {
    assert_eq!(raw.status, 400, "{}", String::from_utf8_lossy(&raw.body));
    assert_eq!(raw.header("connection"), Some("close"));
    let id = raw.request_id();
    assert_eq!(raw.json, malformed(reason, &id));
}

/// Checks a relayed success: 200, the upstream's body for `method target`, and the request id
/// the upstream was sent. Returns the request id.
fn assert_relayed(raw: &Raw, method_target: &str, got: &Got) -> String {
    assert_eq!(raw.status, 200, "{}", String::from_utf8_lossy(&raw.body));
    assert_eq!(raw.json["upstream"], json!(method_target));
    assert_eq!(raw.json["body_bytes"], json!(got.body.len()));
    let id = raw.request_id();
    assert_eq!(
        got.header("x-request-id"),
        Some(id.as_str()),
        "one id both ways"
    );
    id
}

fn missing_key(id: &str) -> Value {
    envelope(
        "missing_api_key",
        "authentication_error",
        "No API key was provided. Send it as `Authorization: Bearer <key>`.",
        id,
    )
}

fn bad_gateway(id: &str) -> Value {
    envelope(
        "bad_gateway",
        "api_error",
        "The upstream service could not be reached or sent an invalid response. Please try again.",
        id,
    )
}

async fn gateway(up: &Upstream) -> Harness {
    start_with_upstream(CONFIG, &up.url(), Arc::new(Semaphore::new(0))).await
}

// ---------------------------------------------------------------------------------------------
// Heads refused before anything goes upstream.

const BOTH: &str = "Content-Length and Transfer-Encoding are both present";
const CL_NAN: &str = "the Content-Length header is not a number";
const CL_REPEATED: &str = "the Content-Length header is repeated";
const CL_DISAGREE: &str = "the Content-Length headers disagree";
const TE_REPEATED: &str = "the Transfer-Encoding header is repeated";
const TE_HTTP10: &str = "Transfer-Encoding is not allowed in HTTP/1.0";
const TE_LAST: &str = "Transfer-Encoding must end with chunked";
const TE_ONLY_CHUNKED: &str = "a request's Transfer-Encoding must be exactly chunked";
const BARE: &str = "a line of the head ends with a bare CR or LF; lines must end with CRLF";
const FOLDED: &str = "a header line starts with whitespace (obsolete line folding is not allowed)";
const NAME: &str = "a header name is not valid (a token, then a colon)";
const VALUE: &str = "a header value contains a character that is not allowed";
const HEAD: &str = "the request head is not valid HTTP/1.1";

/// (name, bytes, reason): each refused with 400, `Connection: close`, the reason in the
/// envelope, and nothing sent upstream. A smuggled `GET /private` rides behind most of them.
#[rustfmt::skip]
const REFUSED: &[(&str, &str, &str)] = &[
    // CL.TE and TE.CL.
    ("cl-te", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /private HTTP/1.1\r\nHost: a\r\n\r\n", BOTH),
    ("te-cl", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", BOTH),
    ("te-cl-zero", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n", BOTH),
    ("cl-xchunked", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: xchunked\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n\r\n", BOTH),
    // TE.TE: obfuscations of Transfer-Encoding.
    ("te-xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", TE_LAST),
    ("te-chunked-identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", TE_LAST),
    ("te-quoted", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n", TE_LAST),
    ("te-identity-chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n", TE_ONLY_CHUNKED),
    ("te-gzip-chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", TE_ONLY_CHUNKED),
    ("te-chunked-chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", TE_ONLY_CHUNKED),
    ("te-space-before-colon", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", NAME),
    ("te-vertical-tab", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n", VALUE),
    ("te-folded", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", FOLDED),
    ("te-line-starts-with-space", "POST / HTTP/1.1\r\nHost: a\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", FOLDED),
    ("te-line-starts-with-tab", "POST / HTTP/1.1\r\nX: a\r\n\tTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", FOLDED),
    ("te-twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n", TE_REPEATED),
    ("te-twice-chunked-identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n", TE_REPEATED),
    ("te-http10", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", TE_HTTP10),
    ("te-http10-with-cl", "POST / HTTP/1.0\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nhello", TE_HTTP10),
    // Content-Length: once, plain digits.
    ("cl-twice-equal", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", CL_REPEATED),
    ("cl-twice-different", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", CL_DISAGREE),
    ("cl-list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello", CL_NAN),
    ("cl-plus", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", CL_NAN),
    ("cl-minus-one", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\nhello", CL_NAN),
    ("cl-space-inside", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  5 5\r\n\r\nhello", CL_NAN),
    ("cl-hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello", CL_NAN),
    ("cl-empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\nhello", CL_NAN),
    ("cl-space-before-colon", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello", NAME),
    // Line endings and header bytes.
    ("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\n\r\n", FOLDED),
    ("bare-lf-request-line", "GET / HTTP/1.1\nHost: a\r\n\r\n", BARE),
    ("bare-lf-header", "GET / HTTP/1.1\r\nHost: a\nContent-Length: 5\r\n\r\nhello", BARE),
    ("bare-lf-everywhere", "GET / HTTP/1.1\nHost: a\n\nGET /private HTTP/1.1\n\n", BARE),
    ("bare-cr-request-line", "GET / HTTP/1.1\rHost: a\r\n\r\n", HEAD),
    ("bare-cr-in-value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rTransfer-Encoding: chunked\r\n\r\n", VALUE),
    ("nul-in-value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", VALUE),
    ("space-before-colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", NAME),
    ("nul-in-name", "GET / HTTP/1.1\r\nHost: a\r\nX\0: a\r\n\r\n", NAME),
    ("bracket-in-name", "GET / HTTP/1.1\r\nHost: a\r\nX[1]: a\r\n\r\n", NAME),
    ("at-in-name", "GET / HTTP/1.1\r\nHost: a\r\nX@Y: a\r\n\r\n", NAME),
];

#[tokio::test]
async fn heads_that_could_be_framed_two_ways_are_refused_and_nothing_goes_upstream() {
    let up = Upstream::start().await;
    let h = gateway(&up).await;
    let addr = h.running.addr;
    for (name, bytes, reason) in REFUSED {
        let raw = refused(addr, bytes.as_bytes()).await;
        assert_eq!(
            raw.status,
            400,
            "{name}: {}",
            String::from_utf8_lossy(&raw.body)
        );
        assert_eq!(raw.header("connection"), Some("close"), "{name}");
        let id = raw.request_id();
        assert_eq!(raw.json, malformed(reason, &id), "{name}");
        assert_eq!(up.connections(), 0, "{name}: the upstream was contacted");
    }
    // The gateway still serves, and only that request ever reached the upstream.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let raw = read_answer(&mut tcp, &mut buf).await;
    let got = up.requests();
    assert_eq!(up.summary(), [("GET".into(), "/ok".into(), String::new())]);
    assert_relayed(&raw, "GET /ok", &got[0]);
    up.assert_clean();
    h.running.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Chunked bodies.

#[tokio::test]
async fn a_chunked_body_reaches_the_upstream_decoded_and_framed_again() {
    let up = Upstream::start().await;
    let h = gateway(&up).await;
    // Extensions on the chunks and on the last one, and trailers: none of them go upstream.
    let mut tcp = TcpStream::connect(h.running.addr).await.unwrap();
    tcp.write_all(
        b"POST /c HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n\
          5;name=value;x\r\nhello\r\n6;y=\"q\"\r\n world\r\n0;last=1\r\nX-Sum: 42\r\nX-Other: y\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    let raw = read_answer(&mut tcp, &mut buf).await;
    let got = up.requests();
    assert_eq!(got.len(), 1);
    assert_relayed(&raw, "POST /c", &got[0]);
    assert_eq!(raw.header("connection"), None);
    let g = &got[0];
    assert_eq!((g.method.as_str(), g.target.as_str()), ("POST", "/c"));
    assert_eq!(g.body_text(), "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    assert_eq!(g.header("transfer-encoding"), Some("chunked"));
    assert_eq!(g.header("content-length"), None);
    assert_eq!(g.header("trailer"), None);
    assert_eq!(g.header("x-sum"), None);
    assert_eq!(g.header("content-type"), Some("text/plain"));

    // Whitespace around `chunked` is not part of the value (httparse trims it): these are plain
    // chunked bodies, on the same connection, each its own request.
    for (i, te) in [
        "Transfer-Encoding:  chunked",
        "Transfer-Encoding:\tchunked\t",
        "transfer-encoding: Chunked ",
    ]
    .iter()
    .enumerate()
    {
        let req = format!("POST /ws{i} HTTP/1.1\r\nHost: a\r\n{te}\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
        tcp.write_all(req.as_bytes()).await.unwrap();
        let raw = read_answer(&mut tcp, &mut buf).await;
        let got = up.requests();
        assert_eq!(got.len(), 2 + i, "{te:?}");
        let g = &got[1 + i];
        assert_relayed(&raw, &format!("POST /ws{i}"), g);
        assert_eq!(g.body_text(), "3\r\nabc\r\n0\r\n\r\n", "{te:?}");
        assert_eq!(g.header("transfer-encoding"), Some("chunked"));
    }
    expect_quiet(&mut tcp, &mut buf).await;
    up.assert_clean();
    h.running.shutdown().await;
}

#[tokio::test]
async fn a_chunk_size_past_16_hex_digits_is_refused_and_nothing_goes_upstream() {
    let up = Upstream::start().await;
    let h = gateway(&up).await;
    let raw = refused(
        h.running.addr,
        b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\nGET /private HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .await;
    // Refused mid-stream, once the head was taken: the same envelope and `Connection: close`.
    assert_malformed(&raw, "a chunk size has more than 16 hex digits");
    // The relay opens its upstream connection before it reads the body; not a byte went on it.
    up.wait("the upstream connection closed", |s| s.closed == 1)
        .await;
    assert_eq!(up.connections(), 1);
    assert!(up.requests().is_empty(), "{:?}", up.summary());
    up.assert_clean();
    h.running.shutdown().await;
}

#[tokio::test]
async fn a_chunk_without_its_crlf_is_refused_and_the_upstream_never_gets_a_whole_request() {
    let up = Upstream::start().await;
    let h = gateway(&up).await;
    let mut tcp = TcpStream::connect(h.running.addr).await.unwrap();
    tcp.write_all(b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello")
        .await
        .unwrap();
    // The first chunk goes upstream as it comes...
    up.wait("the first chunk upstream", |s| {
        s.inflight
            .first()
            .is_some_and(|b| b.ends_with(b"\r\n\r\n5\r\nhello\r\n"))
    })
    .await;
    // ...then its data runs on past the chunk size: `hello` is not followed by CRLF.
    tcp.write_all(b"XX0\r\n\r\nGET /private HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let raw = read_answer(&mut tcp, &mut buf).await;
    assert_malformed(&raw, "chunk data is not followed by CRLF");
    expect_closed(&mut tcp, &mut buf).await;
    // The upstream connection is closed under the unfinished request: never a whole one.
    up.wait("the upstream connection closed", |s| s.closed == 1)
        .await;
    up.with(|s| {
        assert!(s.requests.is_empty(), "{:?}", s.requests);
        assert!(s.garbled.is_empty(), "{:?}", s.garbled);
        assert_eq!(s.unfinished.len(), 1);
        let sent = String::from_utf8_lossy(&s.unfinished[0].1);
        assert!(sent.starts_with("POST /c HTTP/1.1\r\n"), "{sent:?}");
        assert!(
            sent.ends_with("\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n"),
            "{sent:?}"
        );
    });
    h.running.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Where one request ends and the next begins.

#[tokio::test]
async fn a_get_with_content_length_zero_then_a_second_request_are_two_requests() {
    let up = Upstream::start().await;
    let h = gateway(&up).await;
    let mut tcp = TcpStream::connect(h.running.addr).await.unwrap();
    tcp.write_all(
        b"GET /a HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    let first = read_answer(&mut tcp, &mut buf).await;
    let second = read_answer(&mut tcp, &mut buf).await;
    expect_quiet(&mut tcp, &mut buf).await;
    assert_eq!(
        up.summary(),
        [
            ("GET".into(), "/a".into(), String::new()),
            ("GET".into(), "/b".into(), String::new()),
        ]
    );
    let got = up.requests();
    assert_eq!(got[0].header("content-length"), Some("0"));
    assert_eq!(got[1].header("content-length"), None);
    let a = assert_relayed(&first, "GET /a", &got[0]);
    let b = assert_relayed(&second, "GET /b", &got[1]);
    assert_ne!(a, b);
    up.assert_clean();
    h.running.shutdown().await;
}

#[tokio::test]
async fn bytes_after_a_request_without_a_body_are_judged_as_the_next_head() {
    let up = Upstream::start().await;
    let h = gateway(&up).await;
    for (garbage, reason) in [
        ("GARBAGE\r\n\r\n", "the method is not a valid token"),
        (
            "GARBAGE GARBAGE GARBAGE\r\n\r\n",
            "the HTTP version is not HTTP/1.0 or 1.1",
        ),
        ("hello world\r\n\r\n", "the request target is not valid"),
    ] {
        let before = up.requests().len();
        let mut tcp = TcpStream::connect(h.running.addr).await.unwrap();
        tcp.write_all(format!("GET /first HTTP/1.1\r\nHost: a\r\n\r\n{garbage}").as_bytes())
            .await
            .unwrap();
        let mut buf = Vec::new();
        let first = read_answer(&mut tcp, &mut buf).await;
        let got = up.requests();
        assert_eq!(got.len(), before + 1, "{garbage:?}");
        assert_relayed(&first, "GET /first", &got[before]);
        assert_eq!(got[before].body_text(), "");
        let second = read_answer(&mut tcp, &mut buf).await;
        assert_malformed(&second, reason);
        expect_closed(&mut tcp, &mut buf).await;
        assert_eq!(up.requests().len(), before + 1, "{garbage:?}");
    }
    up.assert_clean();
    h.running.shutdown().await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_each_with_its_own_id() {
    let up = Upstream::start().await;
    let h = gateway(&up).await;
    let mut tcp = TcpStream::connect(h.running.addr).await.unwrap();
    tcp.write_all(
        b"GET /p1 HTTP/1.1\r\nHost: a\r\n\r\n\
          POST /p2 HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}\
          PUT /p3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(read_answer(&mut tcp, &mut buf).await);
    }
    expect_quiet(&mut tcp, &mut buf).await;
    assert_eq!(
        up.summary(),
        [
            ("GET".into(), "/p1".into(), String::new()),
            ("POST".into(), "/p2".into(), "{\"a\":1}".into()),
            ("PUT".into(), "/p3".into(), "2\r\nhi\r\n0\r\n\r\n".into()),
        ]
    );
    let got = up.requests();
    assert_eq!(got[1].header("content-length"), Some("7"));
    let ids: Vec<String> = ["GET /p1", "POST /p2", "PUT /p3"]
        .iter()
        .zip(&answers)
        .zip(&got)
        .map(|((mt, raw), g)| assert_relayed(raw, mt, g))
        .collect();
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
        "{ids:?}"
    );
    up.assert_clean();
    h.running.shutdown().await;
}

#[tokio::test]
async fn expect_100_continue_gets_the_100_then_the_answer_and_expect_stays_here() {
    let up = Upstream::start().await;
    let h = gateway(&up).await;
    let mut tcp = TcpStream::connect(h.running.addr).await.unwrap();
    tcp.write_all(
        b"POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    )
    .await
    .unwrap();
    let continue_ = b"HTTP/1.1 100 Continue\r\n\r\n";
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while buf.len() < continue_.len() {
            assert!(
                read_some(&mut tcp, &mut buf).await > 0,
                "closed before the 100"
            );
        }
    })
    .await
    .expect("the 100 within 10 s");
    assert_eq!(
        String::from_utf8_lossy(&buf),
        String::from_utf8_lossy(continue_)
    );
    buf.clear();
    assert!(up.requests().is_empty());
    tcp.write_all(b"hello").await.unwrap();
    let raw = read_answer(&mut tcp, &mut buf).await;
    assert_eq!(up.summary(), [("POST".into(), "/e".into(), "hello".into())]);
    let got = up.requests();
    assert_relayed(&raw, "POST /e", &got[0]);
    assert_eq!(got[0].header("expect"), None);
    assert_eq!(got[0].header("content-length"), Some("5"));
    expect_quiet(&mut tcp, &mut buf).await;

    // Refused before the body is asked for: no 100, the final answer, and the connection
    // closes (the body, if the client sends it anyway, is never read as a request).
    let mut tcp = TcpStream::connect(h.running.addr).await.unwrap();
    tcp.write_all(
        b"POST /private HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 37\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    let raw = read_answer(&mut tcp, &mut buf).await;
    assert_eq!(raw.status, 401, "{}", String::from_utf8_lossy(&raw.body));
    assert_eq!(raw.header("connection"), Some("close"));
    let id = raw.request_id();
    assert_eq!(raw.json, missing_key(&id));
    let _ = tcp
        .write_all(b"GET /private HTTP/1.1\r\nHost: a\r\n\r\n")
        .await;
    expect_closed(&mut tcp, &mut buf).await;
    assert_eq!(up.requests().len(), 1);
    up.assert_clean();
    h.running.shutdown().await;
}

#[tokio::test]
async fn an_upgrade_request_is_served_as_plain_http_and_what_follows_is_judged_on_its_own() {
    let up = Upstream::start().await;
    let h = gateway(&up).await;
    let upgrade = "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

    // Alone: the upstream answers 200 (no 101), and the client gets that 200.
    let mut tcp = TcpStream::connect(h.running.addr).await.unwrap();
    tcp.write_all(upgrade.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let raw = read_answer(&mut tcp, &mut buf).await;
    let got = up.requests();
    assert_eq!(up.summary(), [("GET".into(), "/ws".into(), String::new())]);
    assert_relayed(&raw, "GET /ws", &got[0]);
    // The upgrade is a hop's business: it does not go upstream.
    assert_eq!(got[0].header("upgrade"), None);
    assert_eq!(got[0].header("connection"), None);
    // The connection stays HTTP/1.1: a later request is its own, judged on its own.
    tcp.write_all(b"GET /private HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let raw = read_answer(&mut tcp, &mut buf).await;
    assert_eq!(raw.status, 401);
    let id = raw.request_id();
    assert_eq!(raw.json, missing_key(&id));
    assert_eq!(up.requests().len(), 1);
    drop(tcp);

    // With a request for a keyed path pipelined behind it: that one is judged too.
    let mut tcp = TcpStream::connect(h.running.addr).await.unwrap();
    tcp.write_all(format!("{upgrade}GET /private HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    let first = read_answer(&mut tcp, &mut buf).await;
    let got = up.requests();
    assert_eq!(got.len(), 2);
    assert_relayed(&first, "GET /ws", &got[1]);
    let second = read_answer(&mut tcp, &mut buf).await;
    assert_eq!(second.status, 401);
    let id = second.request_id();
    assert_eq!(second.json, missing_key(&id));
    expect_quiet(&mut tcp, &mut buf).await;
    assert_eq!(up.requests().len(), 2, "{:?}", up.summary());
    up.assert_clean();
    h.running.shutdown().await;
}

#[tokio::test]
async fn bytes_past_a_body_are_the_next_head_and_judged_on_their_own() {
    let up = Upstream::start().await;
    let h = gateway(&up).await;
    // A `Content-Length` body, then a chunked one, each with a request for a keyed path behind
    // it: the smuggled request is answered 401 and never reaches the upstream.
    for (i, req) in [
        "POST /a0 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        "POST /a1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    ]
    .iter()
    .enumerate()
    {
        let mut tcp = TcpStream::connect(h.running.addr).await.unwrap();
        tcp.write_all(format!("{req}GET /private HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut buf = Vec::new();
        let first = read_answer(&mut tcp, &mut buf).await;
        let got = up.requests();
        assert_eq!(got.len(), i + 1);
        assert_relayed(&first, &format!("POST /a{i}"), &got[i]);
        let second = read_answer(&mut tcp, &mut buf).await;
        assert_eq!(second.status, 401);
        assert_eq!(second.header("connection"), None);
        let id = second.request_id();
        assert_eq!(second.json, missing_key(&id));
        expect_quiet(&mut tcp, &mut buf).await;
    }
    assert_eq!(
        up.summary(),
        [
            ("POST".into(), "/a0".into(), "hello".into()),
            (
                "POST".into(),
                "/a1".into(),
                "5\r\nhello\r\n0\r\n\r\n".into()
            ),
        ]
    );

    // The bytes past the body are a head that is itself two ways: refused.
    let mut tcp = TcpStream::connect(h.running.addr).await.unwrap();
    tcp.write_all(
        b"POST /a2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
          POST /a3 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    let first = read_answer(&mut tcp, &mut buf).await;
    let got = up.requests();
    assert_eq!(got.len(), 3);
    assert_relayed(&first, "POST /a2", &got[2]);
    assert_eq!(got[2].body_text(), "hello");
    let second = read_answer(&mut tcp, &mut buf).await;
    assert_malformed(&second, CL_DISAGREE);
    expect_closed(&mut tcp, &mut buf).await;
    assert_eq!(up.requests().len(), 3);
    up.assert_clean();
    h.running.shutdown().await;
}

#[tokio::test]
async fn a_body_cut_short_never_reaches_the_upstream_as_a_whole_request() {
    let up = Upstream::start().await;
    let h = gateway(&up).await;
    let mut tcp = TcpStream::connect(h.running.addr).await.unwrap();
    tcp.write_all(b"POST /short HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello")
        .await
        .unwrap();
    up.wait("the head and the first bytes upstream", |s| {
        s.inflight
            .first()
            .is_some_and(|b| b.ends_with(b"\r\n\r\nhello"))
    })
    .await;
    // The client says it is done sending, five bytes short.
    tcp.shutdown().await.unwrap();
    let mut buf = Vec::new();
    let raw = read_answer(&mut tcp, &mut buf).await;
    assert_malformed(&raw, "the request body ended before its length");
    expect_closed(&mut tcp, &mut buf).await;
    up.wait("the upstream connection closed", |s| s.closed == 1)
        .await;
    up.with(|s| {
        assert!(s.requests.is_empty(), "{:?}", s.requests);
        assert!(s.garbled.is_empty(), "{:?}", s.garbled);
        assert_eq!(s.unfinished.len(), 1);
        let sent = String::from_utf8_lossy(&s.unfinished[0].1);
        assert!(sent.starts_with("POST /short HTTP/1.1\r\n"), "{sent:?}");
        assert!(sent.contains("\r\ncontent-length: 10\r\n"), "{sent:?}");
        assert!(sent.ends_with("\r\n\r\nhello"), "{sent:?}");
    });
    h.running.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// The response side.

#[tokio::test]
async fn an_upstream_response_framed_two_ways_is_a_502_in_the_envelope() {
    let up = Upstream::start().await;
    let h = gateway(&up).await;
    for path in ["/resp/cl-te", "/resp/cl-twice"] {
        let mut tcp = TcpStream::connect(h.running.addr).await.unwrap();
        tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut buf = Vec::new();
        let raw = read_answer(&mut tcp, &mut buf).await;
        assert_eq!(
            raw.status,
            502,
            "{path}: {}",
            String::from_utf8_lossy(&raw.body)
        );
        let id = raw.request_id();
        assert_eq!(raw.json, bad_gateway(&id), "{path}");
        // The client's side is whole (a bodiless request): its connection stays open.
        assert_eq!(raw.header("connection"), None, "{path}");
        assert_eq!(raw.header("transfer-encoding"), None, "{path}");
        expect_quiet(&mut tcp, &mut buf).await;
        let got = up.requests();
        assert_eq!(got.last().map(|g| g.target.as_str()), Some(path));
        assert_eq!(
            got.last().and_then(|g| g.header("x-request-id")),
            Some(id.as_str())
        );
    }
    assert_eq!(up.requests().len(), 2);
    // Neither upstream connection is used again: a new request gets a new one.
    up.wait("both upstream connections closed", |s| s.closed == 2)
        .await;
    let mut tcp = TcpStream::connect(h.running.addr).await.unwrap();
    tcp.write_all(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let raw = read_answer(&mut tcp, &mut buf).await;
    let got = up.requests();
    assert_eq!(got.len(), 3);
    assert_relayed(&raw, "GET /after", &got[2]);
    assert_eq!(got[2].conn, 2);
    up.assert_clean();
    h.running.shutdown().await;
}

#[tokio::test]
async fn bytes_an_upstream_sends_past_its_response_never_reach_the_client() {
    let up = Upstream::start().await;
    let h = gateway(&up).await;
    let mut tcp = TcpStream::connect(h.running.addr).await.unwrap();
    tcp.write_all(b"GET /resp/extra HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let first = read_answer(&mut tcp, &mut buf).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body, b"{\"ok\":true}");
    let first_id = first.request_id();
    expect_quiet(&mut tcp, &mut buf).await;

    // The next request gets its own answer, from a new upstream connection.
    tcp.write_all(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let second = read_answer(&mut tcp, &mut buf).await;
    let got = up.requests();
    assert_eq!(got.len(), 2);
    let second_id = assert_relayed(&second, "GET /after", &got[1]);
    assert_ne!(first_id, second_id);
    assert_eq!(got[0].header("x-request-id"), Some(first_id.as_str()));
    assert_eq!((got[0].conn, got[1].conn), (0, 1));
    assert_eq!(up.connections(), 2);
    expect_quiet(&mut tcp, &mut buf).await;
    up.assert_clean();
    h.running.shutdown().await;
}

#[tokio::test]
async fn a_head_answer_with_a_length_and_no_body_leaves_the_connection_in_step() {
    let up = Upstream::start().await;
    let h = gateway(&up).await;
    let mut tcp = TcpStream::connect(h.running.addr).await.unwrap();
    tcp.write_all(
        b"HEAD /resp/head20 HTTP/1.1\r\nHost: a\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    let head = read_answer_to(&mut tcp, &mut buf, true).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("20"));
    assert_eq!(head.header("transfer-encoding"), None);
    let head_id = head.request_id();
    // The next bytes are the next answer, not 20 bytes of a body.
    let after = read_answer(&mut tcp, &mut buf).await;
    expect_quiet(&mut tcp, &mut buf).await;
    assert_eq!(
        up.summary(),
        [
            ("HEAD".into(), "/resp/head20".into(), String::new()),
            ("GET".into(), "/after".into(), String::new()),
        ]
    );
    let got = up.requests();
    assert_eq!(got[0].header("x-request-id"), Some(head_id.as_str()));
    assert_relayed(&after, "GET /after", &got[1]);
    // The upstream connection stayed in step too: the second request went on it.
    assert_eq!((got[0].conn, got[1].conn), (0, 0));
    up.assert_clean();

    // An upstream that sends a body after its answer to HEAD anyway: the client gets the head
    // alone, the next request its own answer, from a new upstream connection.
    tcp.write_all(
        b"HEAD /resp/head-with-body HTTP/1.1\r\nHost: a\r\n\r\nGET /after2 HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .await
    .unwrap();
    let head = read_answer_to(&mut tcp, &mut buf, true).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("11"));
    head.request_id();
    let after = read_answer(&mut tcp, &mut buf).await;
    expect_quiet(&mut tcp, &mut buf).await;
    let got = up.requests();
    assert_eq!(got.len(), 4);
    assert_eq!(
        (got[2].method.as_str(), got[2].target.as_str()),
        ("HEAD", "/resp/head-with-body")
    );
    assert_relayed(&after, "GET /after2", &got[3]);
    assert_eq!((got[2].conn, got[3].conn), (0, 1));
    up.assert_clean();
    h.running.shutdown().await;
}

#[tokio::test]
async fn a_body_that_holds_a_request_stays_a_body() {
    let up = Upstream::start().await;
    let h = gateway(&up).await;
    let mut tcp = TcpStream::connect(h.running.addr).await.unwrap();
    // A GET whose 34-byte body is a request for a keyed path (CL.0 desync against an upstream
    // that ignores a GET's length), then a length with leading zeros.
    tcp.write_all(
        b"GET /g HTTP/1.1\r\nHost: a\r\nContent-Length: 34\r\n\r\nGET /private HTTP/1.1\r\nHost: a\r\n\r\n\
          POST /z HTTP/1.1\r\nHost: a\r\nContent-Length:    0005\r\n\r\nhello",
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    let first = read_answer(&mut tcp, &mut buf).await;
    let second = read_answer(&mut tcp, &mut buf).await;
    expect_quiet(&mut tcp, &mut buf).await;
    assert_eq!(
        up.summary(),
        [
            (
                "GET".into(),
                "/g".into(),
                "GET /private HTTP/1.1\r\nHost: a\r\n\r\n".into()
            ),
            ("POST".into(), "/z".into(), "hello".into()),
        ]
    );
    let got = up.requests();
    // The upstream is told the length the gateway framed, as a plain number.
    assert_eq!(got[0].header("content-length"), Some("34"));
    assert_eq!(got[1].header("content-length"), Some("5"));
    assert_relayed(&first, "GET /g", &got[0]);
    assert_relayed(&second, "POST /z", &got[1]);
    up.assert_clean();
    h.running.shutdown().await;
}

#[tokio::test]
async fn a_transfer_encoding_spelled_with_an_underscore_frames_no_body() {
    let up = Upstream::start().await;
    let h = gateway(&up).await;
    // Not Transfer-Encoding: the request has no body, so `0\r\n\r\n` is the next head.
    let mut tcp = TcpStream::connect(h.running.addr).await.unwrap();
    tcp.write_all(b"POST /u HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n0\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let first = read_answer(&mut tcp, &mut buf).await;
    let got = up.requests();
    assert_eq!(up.summary(), [("POST".into(), "/u".into(), String::new())]);
    assert_relayed(&first, "POST /u", &got[0]);
    assert_eq!(got[0].header("transfer-encoding"), None);
    assert_eq!(got[0].header("content-length"), None);
    // Nor does the alias itself go on: an upstream that reads `_` as `-` would frame by it.
    assert_eq!(got[0].header("transfer_encoding"), None);
    let second = read_answer(&mut tcp, &mut buf).await;
    assert_malformed(&second, "the method is not a valid token");
    expect_closed(&mut tcp, &mut buf).await;
    assert_eq!(up.requests().len(), 1);
    up.assert_clean();
    h.running.shutdown().await;
}

#[tokio::test]
async fn headers_spelled_with_underscores_never_pose_as_the_gateways_own() {
    let up = Upstream::start().await;
    let h = gateway(&up).await;
    let mut tcp = TcpStream::connect(h.running.addr).await.unwrap();
    tcp.write_all(
        b"GET /u HTTP/1.1\r\nHost: a\r\nX_Errata_Tenant: someone-else\r\n\
          x_forwarded_for: 10.9.9.9\r\nX_Request_Id: req_forged\r\nContent_Length: 5\r\n\
          X_Custom_Thing: kept\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    let answer = read_answer(&mut tcp, &mut buf).await;
    let got = up.requests();
    assert_eq!(got.len(), 1);
    assert_relayed(&answer, "GET /u", &got[0]);
    for alias in [
        "x_errata_tenant",
        "x_forwarded_for",
        "x_request_id",
        "content_length",
    ] {
        assert_eq!(got[0].header(alias), None, "{alias} reached the upstream");
    }
    // A name that only happens to hold an underscore goes on as sent.
    assert_eq!(got[0].header("x_custom_thing"), Some("kept"));
    assert_eq!(got[0].header("x-forwarded-for"), Some("127.0.0.1"));
    up.assert_clean();
    h.running.shutdown().await;
}
