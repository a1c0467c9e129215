//! One request through the relay: the stages decide on the head where it lies, the upstream
//! request is written from the client's bytes, the upstream's answer relayed or, when it is an
//! error, made the catalog's.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use bytes::Bytes;
use errata_core::raise::{self, RaiseError};
use errata_core::{ApiError, Condition};
use errata_wire::{BodyKind, Chunk, ChunkedDecoder, RequestHead, ResponseHead, parse_response};
use http::{Method, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::buffer::Buffer;
use super::write;
use super::{Client, HeadView, Next};
use crate::client_ip::client_ip;
use crate::gateway::{Gateway, Trace};
use crate::head::MAX_HEAD_BYTES;
use crate::reply::Body;
use crate::stage::authenticate::Caller;
use crate::stage::limit::Admitted;
use crate::stage::respond::MAX_ERROR_BODY;
use crate::stage::route::Routed;
use crate::stage::{authenticate, authorize, body, limit, log, respond, route};
use crate::trace_context::Stage;

/// The upstream connection of a client connection's exchange. Once an exchange ends cleanly
/// it goes to the worker's pool, so that idle client connections hold none.
#[derive(Default)]
pub(crate) struct Upstream {
    conn: Option<(TcpStream, Buffer)>,
}

impl Upstream {
    /// Hands the connection to the worker's pool for the next exchange.
    pub(crate) fn give_back(&mut self, gw: &Gateway, worker: usize) {
        if let Some((stream, buf)) = self.conn.take()
            && buf.is_empty()
            && let Some(u) = gw.upstream(worker)
        {
            u.relay_release(stream);
        }
    }
}

/// What the stages decided for a request the relay forwards.
struct Decided {
    caller: Option<Caller>,
    admitted: Admitted,
    max_body: u64,
    ip: IpAddr,
}

enum Decision {
    Forward(Decided),
    Answer(Response<Body>),
    Decline,
}

/// Relays one request whose head is at the start of the client's buffer.
pub(crate) async fn exchange<IO>(
    gw: &Gateway,
    worker: usize,
    peer: SocketAddr,
    client: &mut Client<IO>,
    up: &mut Upstream,
    head: RequestHead,
    stop: &watch::Receiver<bool>,
) -> Next
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let started = Instant::now();
    let view = HeadView {
        head: &head,
        buf: client.buf.data(),
    };
    let target = head.target(view.buf);
    if head.upgrade || head.minor == 0 || !target.starts_with('/') {
        return Next::Decline;
    }
    let Ok(method) = Method::from_bytes(head.method(view.buf).as_bytes()) else {
        return Next::Decline;
    };
    let Some(upstream) = gw.upstream(worker).filter(|u| u.relayable()) else {
        return Next::Decline;
    };
    let mut trace = Trace::of(gw, method.clone(), head.path(view.buf), &view);
    let is_head = method == Method::HEAD;
    let decided = match decide(gw, worker, peer.ip(), &view, &method, &mut trace).await {
        Ok(Decision::Forward(d)) => d,
        Ok(Decision::Decline) => return Next::Decline,
        Ok(Decision::Answer(res)) => {
            let res = Early::Response(res);
            return answer_early(gw, worker, client, &head, trace, res, started, stop).await;
        }
        Err(err) => {
            let res = Early::Error(err);
            return answer_early(gw, worker, client, &head, trace, res, started, stop).await;
        }
    };

    // The upstream request: the head with errata's edits, as bytes (room for the identity,
    // forwarding, request-id and trace headers, so that writing them never grows it).
    let mut out = Vec::with_capacity(head.len + 384);
    write::upstream_head(
        &mut out,
        gw,
        upstream.prefix(),
        upstream.authority(),
        &view,
        decided.caller.as_ref(),
        decided.ip,
        &trace.request_id,
        &trace.trace_context,
    );
    let close_after = !head.keep_alive || *stop.borrow();
    client.buf.consume(head.len);

    // 100-continue: the gateway answers it itself, once the request may go on.
    if head.expect_continue && head.body != BodyKind::None && client.buf.is_empty() {
        let sent = client.io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await;
        if sent.is_err() || client.io.flush().await.is_err() {
            return Next::Close;
        }
    }

    let timeout = gw.config.response_timeout;
    let since = trace.trace_context.clock();
    let sent = tokio::time::timeout(
        timeout,
        send(upstream, client, up, &head, &out, decided.max_body, is_head),
    )
    .await;
    trace.trace_context.record(Stage::Upstream, since);
    let (mut stream, mut ubuf, res_head) = match sent {
        Ok(Ok(x)) => x,
        Ok(Err(Failed { error, client_ok })) => {
            // The connection carries another request only when this one's body was read
            // whole: a bodiless request whose upstream failed leaves it as it was.
            let close = close_after || !client_ok || head.body != BodyKind::None;
            return write::answer_error(gw, worker, client, trace, error, started, is_head, close)
                .await;
        }
        Err(_) => {
            let err = ApiError::condition(Condition::UpstreamTimeout)
                .arg("timeout", timeout.as_secs().max(1));
            // The request body may be partly sent: this connection cannot carry another.
            return write::answer_error(gw, worker, client, trace, err, started, is_head, true)
                .await;
        }
    };

    let rh = &res_head;
    let raised = rh
        .header(ubuf.data(), "content-type")
        .and_then(crate::lookup::visible)
        .is_some_and(raise::is_raise_content_type);
    if rh.status >= 400 || raised {
        // Read whole (bounded) and made the catalog's.
        let mut parts = write::response_parts(gw, rh, ubuf.data());
        ubuf.consume(rh.len);
        let body = tokio::time::timeout(timeout, read_error_body(&mut stream, &mut ubuf, rh.body));
        let (bytes, reusable) = match body.await {
            Ok(Ok((b, reusable))) => (Ok(b), reusable),
            Ok(Err(e)) => (Err(e), false),
            Err(_) => (Err(RaiseError::Unread("timed out".to_owned())), false),
        };
        respond::upstream_head(gw, &mut parts, &decided.admitted, &mut trace);
        let res = respond::upstream_error_read(gw, parts, bytes, &mut trace);
        if reusable && rh.keep_alive && ubuf.is_empty() {
            up.conn = Some((stream, ubuf));
            up.give_back(gw, worker);
        }
        drop(decided.admitted);
        return write::answer(
            gw,
            worker,
            client,
            trace,
            res,
            started,
            is_head,
            close_after,
        )
        .await;
    }

    // A success: the head relayed with errata's edits, then the body as framed.
    trace.upstream_status = Some(rh.status);
    let mut out = std::mem::take(&mut out);
    out.clear();
    let framing = write::client_head(
        &mut out,
        gw,
        rh,
        ubuf.data(),
        &decided.admitted,
        &mut trace,
        close_after,
    );
    ubuf.consume(rh.len);
    log::answered(gw, worker, trace, rh.status, None, started.elapsed());
    let relayed = relay_body(&mut stream, &mut ubuf, client, &mut out, framing).await;
    drop(decided.admitted);
    match relayed {
        Ok(()) => {
            // `keep_alive` follows the upstream's version: an HTTP/1.0 upstream's connection
            // carries another request only when it said `Connection: keep-alive`.
            if rh.keep_alive && rh.body != BodyKind::UntilClose && ubuf.is_empty() {
                up.conn = Some((stream, ubuf));
                up.give_back(gw, worker);
            }
            if close_after {
                let _ = client.io.shutdown().await;
                Next::Close
            } else {
                Next::KeepAlive
            }
        }
        Err(_) => Next::Close,
    }
}

/// The stages on the head: route, key, scopes and plan, limits, body checks.
async fn decide(
    gw: &Gateway,
    worker: usize,
    peer: IpAddr,
    view: &HeadView<'_>,
    method: &Method,
    trace: &mut Trace,
) -> Result<Decision, ApiError> {
    let cfg = &gw.config;
    let route = match route::route(cfg, method, &trace.path)? {
        Routed::ErrorsPage => return Ok(Decision::Answer(gw.errors_page())),
        Routed::Health => return crate::health::answer(gw).map(Decision::Answer),
        Routed::Upstream(slot, route) => {
            trace.route = slot;
            route
        }
    };
    if route.idempotency || route.success_meta {
        return Ok(Decision::Decline);
    }
    let now_ms = gw.clock.now_ms();
    let ip = client_ip(peer, view, &cfg.trusted_proxies);
    let caller = authenticate::authenticate(gw, route, view, now_ms, trace).await?;
    let mut admitted = Admitted::default();
    if let Some(c) = &caller {
        authorize::authorize(cfg, route, &c.record, ip)?;
        gw.touch(worker, &c.record.id, now_ms);
        admitted = limit::limit(gw, route, &c.record, now_ms, trace).await?;
    }
    let max_body = body::check(cfg, route, view)?;
    Ok(Decision::Forward(Decided {
        caller,
        admitted,
        max_body,
        ip,
    }))
}

/// Answers a request before anything went upstream. Its body, if any, is skipped when it is
/// all here already; otherwise the connection closes after the answer (a body not read is
/// never taken for the next request).
#[allow(clippy::too_many_arguments)]
async fn answer_early<IO>(
    gw: &Gateway,
    worker: usize,
    client: &mut Client<IO>,
    head: &RequestHead,
    trace: Trace,
    res: Early,
    started: Instant,
    stop: &watch::Receiver<bool>,
) -> Next
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    client.buf.consume(head.len);
    let drained = match head.body {
        BodyKind::None => true,
        BodyKind::Length(n) if (client.buf.len() as u64) >= n => {
            client.buf.consume(n as usize);
            true
        }
        _ => false,
    };
    let close = !drained || !head.keep_alive || *stop.borrow();
    let is_head = trace.method == Method::HEAD;
    match res {
        Early::Response(res) => {
            write::answer(gw, worker, client, trace, res, started, is_head, close).await
        }
        Early::Error(err) => {
            write::answer_error(gw, worker, client, trace, err, started, is_head, close).await
        }
    }
}

/// An answer made before anything went upstream.
enum Early {
    Response(Response<Body>),
    Error(ApiError),
}

/// Why an exchange with the upstream failed; `client_ok` is false when the client's side is
/// beyond use (its body was cut, or could not be read).
struct Failed {
    error: ApiError,
    client_ok: bool,
}

impl Failed {
    fn upstream(c: Condition) -> Failed {
        Failed {
            error: ApiError::condition(c),
            client_ok: true,
        }
    }
}

/// Sends the request (head in `out`, body from the client) and reads the response head:
/// on the connection the client connection holds, a pooled one, or a new one. A reused
/// connection the upstream closed before answering gets the request once more on a new one,
/// when the request has no body.
#[allow(clippy::too_many_arguments)]
async fn send<IO>(
    upstream: &crate::upstream::Upstream,
    client: &mut Client<IO>,
    up: &mut Upstream,
    head: &RequestHead,
    out: &[u8],
    max_body: u64,
    is_head: bool,
) -> Result<(TcpStream, Buffer, ResponseHead), Failed>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let (mut stream, mut ubuf, reused) = match up.conn.take() {
        Some((s, b)) if crate::upstream::quiet(&s) => (s, b, true),
        _ => {
            let (s, reused) = upstream
                .relay_connection()
                .await
                .map_err(Failed::upstream)?;
            (s, Buffer::new(), reused)
        }
    };
    let first = exchange_once(&mut stream, &mut ubuf, client, head, out, max_body, is_head).await;
    match first {
        Ok(h) => Ok((stream, ubuf, h)),
        Err(Exchange::ClosedEarly) if reused && head.body == BodyKind::None => {
            upstream.note_retry();
            tracing::debug!("upstream closed a reused connection; sending again");
            let mut stream = upstream.relay_connect().await.map_err(Failed::upstream)?;
            let mut ubuf = Buffer::new();
            match exchange_once(&mut stream, &mut ubuf, client, head, out, max_body, is_head).await
            {
                Ok(h) => Ok((stream, ubuf, h)),
                Err(e) => Err(e.failed()),
            }
        }
        Err(e) => Err(e.failed()),
    }
}

/// How one attempt at an exchange failed.
enum Exchange {
    /// The upstream closed or reset the connection before a byte of the response.
    ClosedEarly,
    /// The upstream failed otherwise (reset mid-response, unreadable).
    Upstream(Condition),
    /// The client's body broke the exchange.
    Client(Box<ApiError>),
}

impl Exchange {
    fn client(error: ApiError) -> Exchange {
        Exchange::Client(Box::new(error))
    }

    fn failed(self) -> Failed {
        match self {
            Exchange::ClosedEarly => Failed::upstream(Condition::UpstreamUnreachable),
            Exchange::Upstream(c) => Failed::upstream(c),
            Exchange::Client(error) => Failed {
                error: *error,
                client_ok: false,
            },
        }
    }
}

fn early(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::UnexpectedEof
    )
}

async fn exchange_once<IO>(
    stream: &mut TcpStream,
    ubuf: &mut Buffer,
    client: &mut Client<IO>,
    head: &RequestHead,
    out: &[u8],
    max_body: u64,
    is_head: bool,
) -> Result<ResponseHead, Exchange>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let io_err = |e: std::io::Error| {
        if early(&e) {
            Exchange::ClosedEarly
        } else {
            tracing::warn!(error = %e, "upstream failed");
            Exchange::Upstream(Condition::UpstreamUnreachable)
        }
    };
    match head.body {
        BodyKind::None => stream.write_all(out).await.map_err(io_err)?,
        BodyKind::Length(n) => {
            send_length(stream, client, out, n).await?;
        }
        BodyKind::Chunked => send_chunked(stream, client, out, max_body).await?,
        BodyKind::UntilClose => {
            return Err(Exchange::client(
                ApiError::condition(Condition::MalformedRequest)
                    .arg("reason", "the request body has no length"),
            ));
        }
    }
    // The response head; informational answers (100 Continue) are skipped.
    loop {
        if !ubuf.is_empty() {
            match parse_response(ubuf.data(), is_head) {
                Ok(Some(h)) if (100..200).contains(&h.status) => {
                    if h.status == 101 {
                        return Err(Exchange::Upstream(Condition::UpstreamInvalidResponse));
                    }
                    ubuf.consume(h.len);
                    continue;
                }
                Ok(Some(h)) => return Ok(h),
                Ok(None) => {}
                Err(r) => {
                    tracing::warn!(problem = ?r, "upstream response is not valid HTTP/1.1");
                    return Err(Exchange::Upstream(Condition::UpstreamInvalidResponse));
                }
            }
        }
        let got_any = !ubuf.is_empty();
        match ubuf.fill(stream, MAX_HEAD_BYTES + 1).await {
            Ok(0) if !got_any => return Err(Exchange::ClosedEarly),
            Ok(0) => return Err(Exchange::Upstream(Condition::UpstreamInvalidResponse)),
            Ok(_) => {}
            Err(e) if !got_any => return Err(io_err(e)),
            Err(_) => return Err(Exchange::Upstream(Condition::UpstreamUnreachable)),
        }
    }
}

/// Sends the head and a `Content-Length` body: what the client's buffer holds goes with the
/// head in one write, the rest is copied as it comes.
async fn send_length<IO>(
    stream: &mut TcpStream,
    client: &mut Client<IO>,
    out: &[u8],
    n: u64,
) -> Result<(), Exchange>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let here = (client.buf.len() as u64).min(n) as usize;
    write_two(stream, out, &client.buf.data()[..here])
        .await
        .map_err(|e| {
            if early(&e) {
                Exchange::ClosedEarly
            } else {
                Exchange::Upstream(Condition::UpstreamUnreachable)
            }
        })?;
    client.buf.consume(here);
    let mut left = n - here as u64;
    while left > 0 {
        let max = usize::try_from(left).unwrap_or(usize::MAX).min(64 * 1024);
        match client.buf.fill(&mut client.io, max).await {
            Ok(0) | Err(_) => return Err(Exchange::client(body_cut())),
            Ok(_) => {}
        }
        let take = (client.buf.len() as u64).min(left) as usize;
        stream
            .write_all(&client.buf.data()[..take])
            .await
            .map_err(|_| Exchange::Upstream(Condition::UpstreamUnreachable))?;
        client.buf.consume(take);
        left -= take as u64;
    }
    Ok(())
}

fn body_cut() -> ApiError {
    ApiError::condition(Condition::MalformedRequest)
        .arg("reason", "the request body ended before its length")
}

/// Sends the head and a chunked body, decoded from the client and framed again (extensions
/// and trailers dropped), at most `max_body` bytes of data.
async fn send_chunked<IO>(
    stream: &mut TcpStream,
    client: &mut Client<IO>,
    out: &[u8],
    max_body: u64,
) -> Result<(), Exchange>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let up_err = |_e: std::io::Error| Exchange::Upstream(Condition::UpstreamUnreachable);
    let mut pending: Vec<u8> = out.to_vec();
    let mut decoder = ChunkedDecoder::new();
    let mut total: u64 = 0;
    loop {
        let (n, chunk) = decoder
            .decode(client.buf.data())
            .map_err(|r| Exchange::client(super::refusal_error(r)))?;
        match chunk {
            Chunk::Data(range) => {
                let data = &client.buf.data()[range];
                total += data.len() as u64;
                if total > max_body {
                    return Err(Exchange::client(
                        ApiError::condition(Condition::BodyTooLarge).arg("limit", max_body),
                    ));
                }
                write::chunk(&mut pending, data);
                client.buf.consume(n);
            }
            Chunk::Framing if n > 0 => client.buf.consume(n),
            Chunk::End => {
                client.buf.consume(n);
                pending.extend_from_slice(b"0\r\n\r\n");
                return stream.write_all(&pending).await.map_err(up_err);
            }
            Chunk::Framing => {
                if !pending.is_empty() {
                    stream.write_all(&pending).await.map_err(up_err)?;
                    pending.clear();
                }
                match client.buf.fill(&mut client.io, 64 * 1024).await {
                    Ok(0) | Err(_) => return Err(Exchange::client(body_cut())),
                    Ok(_) => {}
                }
            }
        }
    }
}

async fn write_two(stream: &mut TcpStream, a: &[u8], b: &[u8]) -> std::io::Result<()> {
    if b.is_empty() {
        return stream.write_all(a).await;
    }
    let mut bufs = [std::io::IoSlice::new(a), std::io::IoSlice::new(b)];
    let mut slices: &mut [std::io::IoSlice<'_>] = &mut bufs;
    while !slices.is_empty() {
        let n = stream.write_vectored(slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        std::io::IoSlice::advance_slices(&mut slices, n);
    }
    Ok(())
}

/// Reads an upstream error's body whole (its head already consumed), at most
/// [`MAX_ERROR_BODY`] bytes; whether the connection can carry another request afterwards.
async fn read_error_body(
    stream: &mut TcpStream,
    ubuf: &mut Buffer,
    body: BodyKind,
) -> Result<(Bytes, bool), RaiseError> {
    let too_large = || RaiseError::TooLarge {
        limit: MAX_ERROR_BODY,
    };
    let early = || RaiseError::Unread("the body ended early".to_owned());
    let unread = |e: std::io::Error| RaiseError::Unread(e.to_string());
    match body {
        BodyKind::None => Ok((Bytes::new(), true)),
        BodyKind::Length(n) => {
            if n > MAX_ERROR_BODY as u64 {
                return Err(too_large());
            }
            let n = n as usize;
            while ubuf.len() < n {
                if ubuf.fill(stream, n).await.map_err(unread)? == 0 {
                    return Err(early());
                }
            }
            let b = Bytes::copy_from_slice(&ubuf.data()[..n]);
            ubuf.consume(n);
            Ok((b, true))
        }
        BodyKind::Chunked => {
            let mut out = Vec::new();
            let mut decoder = ChunkedDecoder::new();
            loop {
                let (n, chunk) = decoder
                    .decode(ubuf.data())
                    .map_err(|r| RaiseError::Unread(format!("{r:?}")))?;
                match chunk {
                    Chunk::Data(range) => {
                        let data = &ubuf.data()[range];
                        if out.len() + data.len() > MAX_ERROR_BODY {
                            return Err(too_large());
                        }
                        out.extend_from_slice(data);
                        ubuf.consume(n);
                    }
                    Chunk::Framing if n > 0 => ubuf.consume(n),
                    Chunk::End => {
                        ubuf.consume(n);
                        return Ok((Bytes::from(out), true));
                    }
                    Chunk::Framing => {
                        if ubuf.fill(stream, 64 * 1024).await.map_err(unread)? == 0 {
                            return Err(early());
                        }
                    }
                }
            }
        }
        BodyKind::UntilClose => {
            while ubuf
                .fill(stream, MAX_ERROR_BODY + 1)
                .await
                .map_err(unread)?
                > 0
            {}
            if ubuf.len() > MAX_ERROR_BODY {
                return Err(too_large());
            }
            Ok((Bytes::from(ubuf.take()), false))
        }
    }
}

/// Relays a success's body to the client as `framing` says, the head already in `out`.
async fn relay_body<IO>(
    stream: &mut TcpStream,
    ubuf: &mut Buffer,
    client: &mut Client<IO>,
    out: &mut Vec<u8>,
    framing: BodyKind,
) -> std::io::Result<()>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let cut = || std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
    match framing {
        BodyKind::None => {
            client.io.write_all(out).await?;
        }
        BodyKind::Length(n) => {
            let here = (ubuf.len() as u64).min(n) as usize;
            if here <= 64 * 1024 {
                out.extend_from_slice(&ubuf.data()[..here]);
                client.io.write_all(out).await?;
            } else {
                client.io.write_all(out).await?;
                client.io.write_all(&ubuf.data()[..here]).await?;
            }
            ubuf.consume(here);
            let mut left = n - here as u64;
            while left > 0 {
                client.io.flush().await?;
                let max = usize::try_from(left).unwrap_or(usize::MAX).min(64 * 1024);
                if ubuf.fill(stream, max).await? == 0 {
                    return Err(cut());
                }
                let take = (ubuf.len() as u64).min(left) as usize;
                client.io.write_all(&ubuf.data()[..take]).await?;
                ubuf.consume(take);
                left -= take as u64;
            }
        }
        BodyKind::Chunked => {
            let mut decoder = ChunkedDecoder::new();
            loop {
                let (n, chunk) = decoder
                    .decode(ubuf.data())
                    .map_err(|r| std::io::Error::other(format!("{r:?}")))?;
                match chunk {
                    Chunk::Data(range) => {
                        write::chunk(out, &ubuf.data()[range]);
                        ubuf.consume(n);
                    }
                    Chunk::Framing if n > 0 => ubuf.consume(n),
                    Chunk::End => {
                        ubuf.consume(n);
                        out.extend_from_slice(b"0\r\n\r\n");
                        client.io.write_all(out).await?;
                        break;
                    }
                    Chunk::Framing => {
                        if !out.is_empty() {
                            client.io.write_all(out).await?;
                            client.io.flush().await?;
                            out.clear();
                        }
                        if ubuf.fill(stream, 64 * 1024).await? == 0 {
                            return Err(cut());
                        }
                    }
                }
            }
        }
        BodyKind::UntilClose => {
            loop {
                if !ubuf.is_empty() {
                    write::chunk(out, ubuf.data());
                    ubuf.consume(ubuf.len());
                }
                client.io.write_all(out).await?;
                client.io.flush().await?;
                out.clear();
                if ubuf.fill(stream, 64 * 1024).await? == 0 {
                    break;
                }
            }
            client.io.write_all(b"0\r\n\r\n").await?;
        }
    }
    client.io.flush().await
}

/// The status line's reason phrase.
pub(crate) fn reason(status: u16) -> &'static str {
    StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}
