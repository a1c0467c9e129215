//! A fault-injecting HTTP server on loopback: each attempt gets the next scripted reply
//! (catalog errors rendered by errata-core, problem+json, HTML, empty bodies, `Retry-After` in
//! every form, slow answers, dropped connections), and every request is recorded.
//!
//! axum serves the replies; a listener in front of it drops the connections the script says to
//! drop. Every response says `Connection: close`, so each attempt opens a new connection and the
//! script lines up with attempts one to one.

#![allow(dead_code)] // each test binary uses part of this

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use errata_client::clock::ManualClock;
use errata_client::jitter::NoJitter;
use errata_client::{Client, ClientBuilder};
use errata_core::{ApiError, Catalog, Format, Rendered};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

/// What the server does with one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Any status, headers and body, sent as is.
    Raw {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Waits, then replies.
    Delay(Duration, Box<Reply>),
    /// Reads the request, then closes the connection without answering.
    Drop,
}

impl Reply {
    /// A catalog error, rendered as a server built on errata-core sends it.
    pub fn error(catalog: &Catalog, err: ApiError, format: Format) -> Reply {
        Reply::rendered(catalog.render(&err, format))
    }

    /// A rendered error as it goes on the wire.
    pub fn rendered(r: Rendered) -> Reply {
        Reply::Raw {
            status: r.status,
            body: r.body_bytes(),
            headers: r.headers,
        }
    }

    /// A JSON success.
    pub fn json(status: u16, body: Value) -> Reply {
        Reply::Raw {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(&body).unwrap(),
        }
    }

    /// A body that is not the catalog's: `content_type` and bytes as given.
    pub fn body(status: u16, content_type: &str, body: &str) -> Reply {
        Reply::Raw {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// An empty body with no content type.
    pub fn empty(status: u16) -> Reply {
        Reply::Raw {
            status,
            headers: vec![],
            body: vec![],
        }
    }

    /// An HTML error page such as a load balancer sends.
    pub fn html(status: u16) -> Reply {
        Reply::body(
            status,
            "text/html",
            &format!(
                "<html><head><title>{status}</title></head><body><h1>{status} Bad Gateway</h1><hr><center>nginx</center></body></html>"
            ),
        )
    }

    /// This reply with one more header.
    pub fn with_header(self, name: &str, value: &str) -> Reply {
        match self {
            Reply::Raw {
                status,
                mut headers,
                body,
            } => {
                headers.push((name.to_ascii_lowercase(), value.to_owned()));
                Reply::Raw {
                    status,
                    headers,
                    body,
                }
            }
            Reply::Delay(d, r) => Reply::Delay(d, Box::new(r.with_header(name, value))),
            Reply::Drop => Reply::Drop,
        }
    }

    /// This reply, after a wait.
    pub fn after(self, wait: Duration) -> Reply {
        Reply::Delay(wait, Box::new(self))
    }
}

/// One request as the server received it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    seen: Vec<Seen>,
}

/// The server. Dropping it leaves the task running until the test's runtime ends.
#[derive(Clone)]
pub struct FaultServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FaultServer {
    /// Starts a server on 127.0.0.1:0 that answers with `script`, one reply per request; once
    /// the script is spent it answers 418 (not retryable, so a test that miscounts fails fast).
    pub async fn start(script: impl IntoIterator<Item = Reply>) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            script: script.into_iter().collect(),
            seen: Vec::new(),
        }));
        let app = axum::Router::new().fallback({
            let state = state.clone();
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { handle(state, method, uri, headers, body).await }
            }
        });
        let listener = Dropper {
            inner: listener,
            state: state.clone(),
        };
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FaultServer { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// How many requests arrived.
    pub fn attempts(&self) -> usize {
        self.state.lock().unwrap().seen.len()
    }
}

async fn handle(
    state: Arc<Mutex<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reply = {
        let mut s = state.lock().unwrap();
        s.seen.push(Seen {
            method: method.to_string(),
            uri: uri.to_string(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                .collect(),
            body: body.to_vec(),
        });
        s.script
            .pop_front()
            .unwrap_or_else(|| Reply::body(418, "text/plain", "script exhausted"))
    };
    respond(reply).await
}

async fn respond(mut reply: Reply) -> Response {
    loop {
        match reply {
            Reply::Delay(wait, next) => {
                tokio::time::sleep(wait).await;
                reply = *next;
            }
            Reply::Raw {
                status,
                headers,
                body,
            } => {
                let mut res = Response::builder()
                    .status(StatusCode::from_u16(status).unwrap())
                    .header("connection", "close");
                for (n, v) in headers {
                    res = res.header(n, v);
                }
                return res.body(Body::from(body)).unwrap();
            }
            // Only reachable inside a Delay: the listener handles a Drop at the front.
            Reply::Drop => panic!("Drop must be the whole reply"),
        }
    }
}

/// Accepts connections for axum, except those the script says to drop: it reads their
/// request (so it is recorded) and closes them without a response.
struct Dropper {
    inner: TcpListener,
    state: Arc<Mutex<State>>,
}

impl axum::serve::Listener for Dropper {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let Ok((stream, addr)) = self.inner.accept().await else {
                continue;
            };
            let drop_it = {
                let mut s = self.state.lock().unwrap();
                if matches!(s.script.front(), Some(Reply::Drop)) {
                    s.script.pop_front();
                    true
                } else {
                    false
                }
            };
            if !drop_it {
                return (stream, addr);
            }
            let seen = read_request(stream).await;
            self.state.lock().unwrap().seen.push(seen);
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Reads one request's head and body off a raw stream, then drops the stream.
async fn read_request(mut stream: TcpStream) -> Seen {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break buf.len(),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_owned();
    let uri = first.next().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    Seen {
        method,
        uri,
        headers,
        body,
    }
}

/// A client for `server` with a manual clock and no jitter, so every wait is exact and none is
/// real.
pub fn client(server: &FaultServer, clock: &ManualClock) -> ClientBuilder {
    Client::builder(server.url())
        .api_key("sk_test_123")
        .clock(clock.clone())
        .jitter(NoJitter)
}

/// Seconds as a Duration, for short asserts.
pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// A loopback address nothing listens on.
pub async fn refused_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}
