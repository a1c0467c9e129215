//! The upstream connection pool against a raw HTTP/1.1 upstream on loopback that counts its
//! connections and misbehaves on request: closing after an answer, closing before one, holding
//! answers, streaming.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use errata_core::Condition;
use errata_gateway::upstream::{PoolOptions, ProxyBody, Upstream, UpstreamBody};
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Empty, Full, Limited, StreamBody};
use hyper::body::{Body, Frame};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Barrier, Notify, mpsc};
use tokio::task::JoinHandle;

/// Waits for anything the upstream should do promptly; a hang fails the test instead.
const PATIENCE: Duration = Duration::from_secs(10);

struct Server {
    addr: SocketAddr,
    /// Connections accepted so far.
    accepted: Arc<AtomicUsize>,
    /// Connections still open on the upstream's side.
    open: Arc<AtomicUsize>,
    /// Releases the rest of `/stream`.
    go_on: Arc<Notify>,
    /// Each chunk of an `/upload` body, as it arrives.
    chunks: mpsc::UnboundedReceiver<Bytes>,
    task: JoinHandle<()>,
}

#[derive(Clone)]
struct Shared {
    accepted: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    hold: Arc<Barrier>,
    go_on: Arc<Notify>,
    chunks: mpsc::UnboundedSender<Bytes>,
}

/// The upstream. Paths: `/close` answers with `Connection: close` and closes; `/bye` answers
/// and closes without saying so; `/drop` closes without an answer unless it is the connection's
/// first request; `/slow` answers after 5 s; `/garbage` is not HTTP; `/hold` answers once
/// `hold` requests wait; `/stream` sends one chunk, then the rest on `go_on`; `/upload` reports
/// each body chunk. Anything else answers `METHOD TARGET host=HOST len=BODY_LENGTH`.
async fn server(hold: usize) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, chunks) = mpsc::unbounded_channel();
    let shared = Shared {
        accepted: Arc::default(),
        open: Arc::default(),
        hold: Arc::new(Barrier::new(hold)),
        go_on: Arc::default(),
        chunks: tx,
    };
    let s = shared.clone();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            s.accepted.fetch_add(1, Ordering::SeqCst);
            s.open.fetch_add(1, Ordering::SeqCst);
            let s = s.clone();
            tokio::spawn(async move {
                connection(stream, &s).await;
                s.open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    Server {
        addr,
        accepted: shared.accepted,
        open: shared.open,
        go_on: shared.go_on,
        chunks,
        task,
    }
}

struct Head {
    method: String,
    target: String,
    host: String,
    length: usize,
    chunked: bool,
}

async fn read_head(r: &mut BufReader<TcpStream>) -> Option<Head> {
    let mut line = String::new();
    if r.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut words = line.split_whitespace();
    let mut head = Head {
        method: words.next()?.to_owned(),
        target: words.next()?.to_owned(),
        host: String::new(),
        length: 0,
        chunked: false,
    };
    loop {
        line.clear();
        if r.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let Some((name, value)) = line.trim_end().split_once(':') else {
            return Some(head);
        };
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "host" => head.host = value.to_owned(),
            "content-length" => head.length = value.parse().ok()?,
            "transfer-encoding" => head.chunked = value.eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
}

/// Reads the body; each chunk goes to `report` when given. Returns its length.
async fn read_body(
    r: &mut BufReader<TcpStream>,
    head: &Head,
    report: Option<&mpsc::UnboundedSender<Bytes>>,
) -> Option<usize> {
    if !head.chunked {
        let mut body = vec![0; head.length];
        r.read_exact(&mut body).await.ok()?;
        return Some(body.len());
    }
    let mut total = 0;
    let mut line = String::new();
    loop {
        line.clear();
        r.read_line(&mut line).await.ok()?;
        let size = usize::from_str_radix(line.trim(), 16).ok()?;
        let mut chunk = vec![0; size + 2];
        if size == 0 {
            r.read_line(&mut line).await.ok()?;
            return Some(total);
        }
        r.read_exact(&mut chunk).await.ok()?;
        chunk.truncate(size);
        total += size;
        if let Some(report) = report {
            let _ = report.send(Bytes::from(chunk));
        }
    }
}

fn response(body: &str, close: bool) -> String {
    let connection = if close { "connection: close\r\n" } else { "" };
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n{connection}\r\n{body}",
        body.len()
    )
}

async fn connection(stream: TcpStream, s: &Shared) {
    let mut r = BufReader::new(stream);
    let mut served = 0;
    while let Some(head) = read_head(&mut r).await {
        if head.target == "/drop" && served > 0 {
            return;
        }
        let report = (head.target == "/upload").then_some(&s.chunks);
        let Some(len) = read_body(&mut r, &head, report).await else {
            return;
        };
        let echo = format!(
            "{} {} host={} len={len}",
            head.method, head.target, head.host
        );
        let out = match head.target.as_str() {
            "/close" => response(&echo, true),
            "/garbage" => "HELLO THERE\r\n\r\n".to_owned(),
            "/slow" => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                response(&echo, false)
            }
            "/hold" => {
                s.hold.wait().await;
                response(&echo, false)
            }
            "/stream" => {
                let first = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n";
                if r.get_mut().write_all(first.as_bytes()).await.is_err() {
                    return;
                }
                s.go_on.notified().await;
                "6\r\nsecond\r\n0\r\n\r\n".to_owned()
            }
            _ => response(&echo, false),
        };
        if r.get_mut().write_all(out.as_bytes()).await.is_err() {
            return;
        }
        served += 1;
        if matches!(head.target.as_str(), "/close" | "/bye" | "/garbage") {
            return;
        }
    }
}

fn empty() -> ProxyBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn full(body: &'static str) -> ProxyBody {
    Full::new(Bytes::from_static(body.as_bytes()))
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn request(method: Method, target: &str, body: ProxyBody) -> Request<ProxyBody> {
    Request::builder()
        .method(method)
        .uri(target)
        .header("host", "gateway.example")
        .body(body)
        .unwrap()
}

fn upstream(server: &Server, options: PoolOptions) -> Upstream {
    Upstream::new(
        &format!("http://{}", server.addr),
        Duration::from_secs(2),
        Duration::from_secs(5),
    )
    .unwrap()
    .with_pool(options)
}

/// Sends and reads the whole answer.
async fn text(up: &Upstream, req: Request<ProxyBody>) -> Result<String, Condition> {
    let res: Response<UpstreamBody> = up.send(req).await?;
    assert_eq!(res.status(), 200);
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Ok(String::from_utf8(bytes.to_vec()).unwrap())
}

async fn get(up: &Upstream, target: &str) -> Result<String, Condition> {
    text(up, request(Method::GET, target, empty())).await
}

/// Waits until `f` holds, failing after `PATIENCE`.
async fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn count(n: &AtomicUsize) -> usize {
    n.load(Ordering::SeqCst)
}

#[tokio::test]
async fn sequential_requests_share_one_connection() {
    let s = server(1).await;
    let up = upstream(&s, PoolOptions::default());
    for i in 0..3 {
        let body = get(&up, &format!("/n{i}?q=1")).await.unwrap();
        assert_eq!(body, format!("GET /n{i}?q=1 host={} len=0", s.addr));
    }
    assert_eq!(count(&s.accepted), 1);
    let stats = up.stats();
    assert_eq!((stats.connects, stats.reuses, stats.idle), (1, 2, 1));
}

#[tokio::test]
async fn the_target_keeps_the_base_path_and_the_host_is_the_upstreams() {
    let s = server(1).await;
    let up = Upstream::new(
        &format!("http://{}/base/", s.addr),
        Duration::from_secs(2),
        Duration::from_secs(5),
    )
    .unwrap();
    let body = get(&up, "/v1/x?y=1&z").await.unwrap();
    assert_eq!(body, format!("GET /base/v1/x?y=1&z host={} len=0", s.addr));
    let plain = upstream(&s, PoolOptions::default());
    let body = get(&plain, "http://client.example/abs?k=v").await.unwrap();
    assert_eq!(body, format!("GET /abs?k=v host={} len=0", s.addr));
}

#[tokio::test]
async fn a_connection_the_upstream_closed_after_answering_is_not_reused() {
    let s = server(1).await;
    let up = upstream(&s, PoolOptions::default());
    get(&up, "/close").await.unwrap();
    // A body cannot be sent twice, so this succeeds only on a new connection.
    let body = text(&up, request(Method::POST, "/after-close", full("hello")))
        .await
        .unwrap();
    assert!(body.ends_with("len=5"), "{body}");
    assert_eq!(count(&s.accepted), 2);

    // On the second connection, which the upstream then closes without a word.
    get(&up, "/bye").await.unwrap();
    eventually("the upstream closed /bye's connection", || {
        count(&s.open) == 0
    })
    .await;
    get(&up, "/after-bye").await.unwrap();
    assert_eq!(count(&s.accepted), 3);
    assert_eq!(up.stats().connects, 3);
}

#[tokio::test]
async fn a_bodiless_request_on_a_connection_closed_under_it_is_sent_again_once() {
    let s = server(1).await;
    let up = upstream(&s, PoolOptions::default());
    get(&up, "/ok").await.unwrap();
    let body = get(&up, "/drop").await.unwrap();
    assert_eq!(body, format!("GET /drop host={} len=0", s.addr));
    assert_eq!(count(&s.accepted), 2);
    assert_eq!(up.stats().retries, 1);

    // The retry's connection is pooled; a POST without a body is as safe to repeat.
    let body = text(&up, request(Method::POST, "/drop", empty()))
        .await
        .unwrap();
    assert_eq!(body, format!("POST /drop host={} len=0", s.addr));
    assert_eq!(count(&s.accepted), 3);
    assert_eq!(up.stats().retries, 2);
}

#[tokio::test]
async fn a_request_with_a_body_is_not_sent_twice() {
    let s = server(1).await;
    let up = upstream(&s, PoolOptions::default());
    get(&up, "/ok").await.unwrap();
    let res = up
        .send(request(Method::POST, "/drop", full("payload")))
        .await;
    assert_eq!(res.err(), Some(Condition::UpstreamUnreachable));
    assert_eq!(count(&s.accepted), 1);
    assert_eq!(up.stats().retries, 0);
}

#[tokio::test]
async fn idle_connections_past_the_idle_timeout_are_closed() {
    let s = server(1).await;
    let options = PoolOptions {
        max_idle: 8,
        idle_timeout: Duration::from_millis(200),
    };
    let up = upstream(&s, options);
    get(&up, "/ok").await.unwrap();
    assert_eq!(up.stats().idle, 1);
    eventually("the idle connection was closed", || count(&s.open) == 0).await;
    assert_eq!(up.stats().idle, 0);
    get(&up, "/ok").await.unwrap();
    assert_eq!(count(&s.accepted), 2);
}

#[tokio::test]
async fn no_more_than_the_cap_stay_idle() {
    let s = server(4).await;
    let options = PoolOptions {
        max_idle: 2,
        idle_timeout: Duration::from_secs(30),
    };
    let up = upstream(&s, options);
    let (a, b, c, d) = tokio::join!(
        get(&up, "/hold"),
        get(&up, "/hold"),
        get(&up, "/hold"),
        get(&up, "/hold")
    );
    for r in [a, b, c, d] {
        assert!(r.unwrap().starts_with("GET /hold"));
    }
    assert_eq!(count(&s.accepted), 4);
    assert_eq!(up.stats().idle, 2);
    eventually("the connections over the cap were closed", || {
        count(&s.open) == 2
    })
    .await;
    for _ in 0..3 {
        get(&up, "/ok").await.unwrap();
    }
    assert_eq!(count(&s.accepted), 4);
}

#[tokio::test]
async fn failures_map_to_their_conditions() {
    let s = server(1).await;
    let up = Upstream::new(
        &format!("http://{}", s.addr),
        Duration::from_secs(2),
        Duration::from_millis(300),
    )
    .unwrap();
    assert_eq!(get(&up, "/slow").await, Err(Condition::UpstreamTimeout));
    assert_eq!(
        get(&up, "/garbage").await,
        Err(Condition::UpstreamInvalidResponse)
    );
    let over = Limited::new(Full::new(Bytes::from(vec![b'x'; 4096])), 100)
        .map_err(|e| e as Box<dyn std::error::Error + Send + Sync>)
        .boxed_unsync();
    assert_eq!(
        up.send(request(Method::POST, "/ok", over)).await.err(),
        Some(Condition::BodyTooLarge)
    );

    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let refused = Upstream::new(
        &format!("http://127.0.0.1:{port}"),
        Duration::from_secs(2),
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(
        get(&refused, "/").await,
        Err(Condition::UpstreamUnreachable)
    );

    // TEST-NET-1 (RFC 5737) never answers: the connect either times out or finds no route.
    let nowhere = Upstream::new(
        "http://192.0.2.1:81",
        Duration::from_millis(200),
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(
        get(&nowhere, "/").await,
        Err(Condition::UpstreamUnreachable)
    );
}

#[tokio::test]
async fn response_bodies_stream() {
    let s = server(1).await;
    let up = upstream(&s, PoolOptions::default());
    let res = up
        .send(request(Method::GET, "/stream", empty()))
        .await
        .unwrap();
    let mut body = res.into_body();
    let first = tokio::time::timeout(PATIENCE, body.frame())
        .await
        .expect("the first chunk arrives before the upstream finishes")
        .unwrap()
        .unwrap();
    assert_eq!(first.into_data().unwrap(), "first");
    s.go_on.notify_one();
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(rest, "second");
    // Read to its end, the chunked response gave its connection back.
    get(&up, "/ok").await.unwrap();
    assert_eq!(count(&s.accepted), 1);
}

#[tokio::test]
async fn request_bodies_stream() {
    let mut s = server(1).await;
    let up = upstream(&s, PoolOptions::default());
    let (tx, rx) = mpsc::channel::<Bytes>(1);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| {
            (
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Frame::data(b)),
                rx,
            )
        })
    });
    let body = StreamBody::new(stream).boxed_unsync();
    assert!(!body.is_end_stream());
    let sending =
        tokio::spawn(async move { text(&up, request(Method::POST, "/upload", body)).await });
    tx.send(Bytes::from_static(b"one")).await.unwrap();
    let got = tokio::time::timeout(PATIENCE, s.chunks.recv())
        .await
        .expect("the first chunk reaches the upstream before the body ends");
    assert_eq!(got.unwrap(), "one");
    tx.send(Bytes::from_static(b"three")).await.unwrap();
    drop(tx);
    let body = sending.await.unwrap().unwrap();
    assert_eq!(body, format!("POST /upload host={} len=8", s.addr));
}

#[tokio::test]
async fn the_address_is_resolved_once_and_again_after_a_failure() {
    let s = server(1).await;
    let up = Upstream::new(
        &format!("http://localhost:{}", s.addr.port()),
        Duration::from_secs(2),
        Duration::from_secs(5),
    )
    .unwrap();
    for _ in 0..3 {
        let body = get(&up, "/close").await.unwrap();
        assert_eq!(
            body,
            format!("GET /close host=localhost:{} len=0", s.addr.port())
        );
    }
    assert_eq!(count(&s.accepted), 3);
    assert_eq!((up.stats().connects, up.stats().resolves), (3, 1));

    s.task.abort();
    let _ = s.task.await;
    assert_eq!(get(&up, "/").await, Err(Condition::UpstreamUnreachable));
    assert_eq!(get(&up, "/").await, Err(Condition::UpstreamUnreachable));
    assert_eq!(up.stats().resolves, 2);
}
