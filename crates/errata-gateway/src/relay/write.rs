//! The bytes the relay writes: the upstream request head from the client's (errata's edits
//! spliced in), the client's response head from the upstream's, and whole answers that errata
//! made (refusals, rendered errors, the reference page).

use std::cell::RefCell;
use std::io::Write as _;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use errata_wire::{BodyKind, ResponseHead};
use http::header::{HeaderName, HeaderValue};
use http::{Response, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant as TokioInstant;

use super::exchange::reason;
use super::{Client, DRAIN, HeadView, Next};
use crate::gateway::{Gateway, Trace};
use crate::lookup::visible;
use crate::proxy::{IDENTITY_PREFIX, underscore_alias};
use crate::reply::Body;
use crate::stage::authenticate::Caller;
use crate::stage::limit::{Admitted, LIMIT_HEADER_NAMES, write_limit_headers};
use crate::stage::log;
use crate::trace_context::{TRACEPARENT, TRACESTATE, TraceContext};

/// Whether `name` is `lit` (lowercase), ignoring case.
fn is(name: &[u8], lit: &str) -> bool {
    name.len() == lit.len() && name.eq_ignore_ascii_case(lit.as_bytes())
}

/// Headers that describe one connection and never cross the gateway (RFC 9110 §7.6.1).
fn hop_by_hop(name: &[u8]) -> bool {
    const NAMES: [&str; 9] = [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ];
    NAMES.iter().any(|n| is(name, n))
}

/// Whether one of the `Connection` header values lists `name`.
fn listed_in_connection(connection: &[&[u8]], name: &[u8]) -> bool {
    connection.iter().any(|v| {
        v.split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(name))
    })
}

fn header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The upstream request head: the client's request line and headers, minus hop-by-hop,
/// forwarding, identity, trace context and (for a keyed request) credential headers, with the
/// upstream's `Host`, identity, `X-Forwarded-*`, the request id, the gateway's `traceparent`
/// (and an adopted trace's `tracestate`) and the body's framing.
#[allow(clippy::too_many_arguments)]
pub(crate) fn upstream_head(
    out: &mut Vec<u8>,
    gw: &Gateway,
    prefix: &str,
    authority: &[u8],
    view: &HeadView<'_>,
    caller: Option<&Caller>,
    ip: IpAddr,
    request_id: &str,
    tc: &TraceContext,
) {
    let (head, buf) = (view.head, view.buf);
    out.extend_from_slice(head.method(buf).as_bytes());
    out.push(b' ');
    out.extend_from_slice(prefix.as_bytes());
    out.extend_from_slice(head.target(buf).as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    header(out, b"host", authority);
    let rid = gw.request_id_header.as_str();
    let strip_keys = caller.is_some();
    let host = head.header(buf, "host");
    let connection: Vec<&[u8]> = head.headers_named(buf, "connection").collect();
    let mut xff: Option<&str> = None;
    for h in &head.headers {
        let name = &buf[h.name.clone()];
        let value = &buf[h.value.clone()];
        if is(name, "x-forwarded-for") {
            xff = xff.or_else(|| Some(visible(value).unwrap_or("")));
            continue;
        }
        let skip = hop_by_hop(name)
            || is(name, "host")
            || is(name, "content-length")
            || is(name, "expect")
            || is(name, "x-forwarded-proto")
            || (host.is_some() && is(name, "x-forwarded-host"))
            || is(name, rid)
            || is(name, TRACEPARENT)
            || is(name, TRACESTATE)
            || (name.len() >= IDENTITY_PREFIX.len()
                && name[..IDENTITY_PREFIX.len()].eq_ignore_ascii_case(IDENTITY_PREFIX.as_bytes()))
            || (strip_keys && (is(name, "authorization") || is(name, "x-api-key")))
            || underscore_alias(name, rid)
            || (!connection.is_empty() && listed_in_connection(&connection, name));
        if !skip {
            header(out, name, value);
        }
    }
    if let Some(c) = caller {
        let r = &c.record;
        let mut set = |name: &str, value: &str| {
            if visible(value.as_bytes()).is_some() {
                header(out, name.as_bytes(), value.as_bytes());
            }
        };
        set("x-errata-tenant", &r.tenant);
        set("x-errata-key-id", &r.id);
        set("x-errata-scopes", &r.scopes.join(" "));
        set("x-errata-plan", &r.plan);
        set("x-errata-environment", r.environment.as_str());
    }
    out.extend_from_slice(b"x-forwarded-for: ");
    if let Some(prev) = xff.filter(|p| !p.is_empty()) {
        out.extend_from_slice(prev.as_bytes());
        out.extend_from_slice(b", ");
    }
    let _ = write!(out, "{ip}\r\n");
    if visible(request_id.as_bytes()).is_some() {
        header(out, rid.as_bytes(), request_id.as_bytes());
    }
    header(out, TRACEPARENT.as_bytes(), &tc.upstream_traceparent());
    if let Some(state) = tc.tracestate.as_deref() {
        header(out, TRACESTATE.as_bytes(), state.as_bytes());
    }
    let proto: &[u8] = if gw.config.tls.is_some() {
        b"https"
    } else {
        b"http"
    };
    header(out, b"x-forwarded-proto", proto);
    if let Some(h) = host {
        header(out, b"x-forwarded-host", h);
    }
    match head.body {
        BodyKind::Length(n) => {
            let _ = write!(out, "content-length: {n}\r\n");
        }
        BodyKind::Chunked => header(out, b"transfer-encoding", b"chunked"),
        BodyKind::None | BodyKind::UntilClose => {}
    }
    out.extend_from_slice(b"\r\n");
}

/// The upstream's response head as `http` parts, for an error made the catalog's. Headers that
/// are not valid HTTP are dropped, and so is `Server` unless `pass_server_header`.
pub(crate) fn response_parts(gw: &Gateway, rh: &ResponseHead, buf: &[u8]) -> http::response::Parts {
    let mut res = Response::new(());
    *res.status_mut() = StatusCode::from_u16(rh.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let drop_server = !gw.config.pass_server_header;
    let headers = res.headers_mut();
    for h in &rh.headers {
        if drop_server && is(&buf[h.name.clone()], "server") {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(&buf[h.name.clone()]),
            HeaderValue::from_bytes(&buf[h.value.clone()]),
        ) {
            headers.append(n, v);
        }
    }
    res.into_parts().0
}

/// The client's response head from the upstream's success: HTTP/1.1 whatever the upstream's
/// version (the relay serves HTTP/1.1 clients only), hop-by-hop headers out (and `Server`
/// unless `pass_server_header`), the rate-limit headers and the request id in, the body framed
/// for the client (one that ends with the upstream's connection goes chunked). Returns how the
/// body is to be relayed.
pub(crate) fn client_head(
    out: &mut Vec<u8>,
    gw: &Gateway,
    rh: &ResponseHead,
    buf: &[u8],
    admitted: &Admitted,
    trace: &mut Trace,
    close: bool,
) -> BodyKind {
    let _ = write!(out, "HTTP/1.1 {} {}\r\n", rh.status, reason(rh.status));
    let rid = gw.request_id_header.as_str();
    let limited = admitted.rate.is_some() || admitted.quota.is_some();
    let drop_server = !gw.config.pass_server_header;
    let connection: Vec<&[u8]> = rh
        .headers
        .iter()
        .filter(|h| is(&buf[h.name.clone()], "connection"))
        .map(|h| &buf[h.value.clone()])
        .collect();
    let mut has_date = false;
    for h in &rh.headers {
        let name = &buf[h.name.clone()];
        let value = &buf[h.value.clone()];
        if is(name, rid) {
            if let Some(v) = visible(value)
                && v != trace.request_id
                && trace.upstream_request_id.is_none()
            {
                trace.upstream_request_id = Some(v.to_owned());
            }
            continue;
        }
        let skip = hop_by_hop(name)
            || (drop_server && is(name, "server"))
            || (rh.body != BodyKind::None && is(name, "content-length"))
            || (limited && LIMIT_HEADER_NAMES.iter().any(|n| is(name, n)))
            || (!connection.is_empty() && listed_in_connection(&connection, name));
        if skip {
            continue;
        }
        has_date |= is(name, "date");
        header(out, name, value);
    }
    write_limit_headers(out, admitted.rate, admitted.quota);
    if visible(trace.request_id.as_bytes()).is_some() {
        header(out, rid.as_bytes(), trace.request_id.as_bytes());
    }
    match rh.body {
        BodyKind::Length(n) => {
            let _ = write!(out, "content-length: {n}\r\n");
        }
        BodyKind::Chunked | BodyKind::UntilClose => {
            header(out, b"transfer-encoding", b"chunked");
        }
        BodyKind::None => {}
    }
    if !has_date {
        date(out);
    }
    if close {
        header(out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
    rh.body
}

/// One chunk of a chunked body.
pub(crate) fn chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let _ = write!(out, "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// A whole answer errata made, as HTTP/1.1 bytes: the status line, its headers, the length,
/// `Date`, and the body (none for `HEAD`, 204 and 304).
pub(crate) fn serialize(out: &mut Vec<u8>, res: Response<Body>, is_head: bool, close: bool) {
    let (parts, body) = res.into_parts();
    let bytes = match body {
        Body::Full(b) => b.unwrap_or_default(),
        // Every answer errata makes on the relay is whole; anything else would be a bug, and
        // an empty body is the safe way to say nothing.
        _ => Bytes::new(),
    };
    let status = parts.status.as_u16();
    let _ = write!(out, "HTTP/1.1 {status} {}\r\n", reason(status));
    let mut has_date = false;
    let mut has_connection = false;
    for (n, v) in &parts.headers {
        if n == http::header::CONTENT_LENGTH {
            continue;
        }
        has_date |= n == http::header::DATE;
        has_connection |= n == http::header::CONNECTION;
        header(out, n.as_str().as_bytes(), v.as_bytes());
    }
    let bodiless = status == 204 || status == 304 || status < 200;
    if !bodiless {
        let _ = write!(out, "content-length: {}\r\n", bytes.len());
    }
    if !has_date {
        date(out);
    }
    if close && !has_connection {
        header(out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
    if !is_head && !bodiless {
        out.extend_from_slice(&bytes);
    }
}

/// Writes an answer errata made, after counting, logging and recording it. The connection
/// closes after it when `close`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn answer<IO>(
    gw: &Gateway,
    worker: usize,
    client: &mut Client<IO>,
    trace: Trace,
    res: Response<Body>,
    started: std::time::Instant,
    is_head: bool,
    close: bool,
) -> Next
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let res = log::finish(gw, worker, trace, res, started);
    let mut out = Vec::with_capacity(512);
    serialize(&mut out, res, is_head, close);
    finish_write(client, &out, close).await
}

/// Writes the catalog's answer for `err` (with the request id and path of `trace`), after
/// counting, logging and recording it: from the worker's prerendered kinds of error, rendered
/// whole only the first time (or when it carries details).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn answer_error<IO>(
    gw: &Gateway,
    worker: usize,
    client: &mut Client<IO>,
    trace: Trace,
    err: errata_core::ApiError,
    started: std::time::Instant,
    is_head: bool,
    close: bool,
) -> Next
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let Some(t) = gw.prerendered.get(&gw.catalog, worker, &err, trace.format) else {
        let res = crate::stage::respond::refusal(gw, err, &trace);
        return answer(gw, worker, client, trace, res, started, is_head, close).await;
    };
    let mut out = Vec::with_capacity(512);
    let (rid, path) = (trace.request_id.as_str(), trace.path.as_str());
    t.write_head(&mut out, gw.request_id_header.as_str(), rid, path);
    date(&mut out);
    if close {
        header(&mut out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
    if !is_head {
        t.write_body(&mut out, rid, path);
    }
    log::answered(
        gw,
        worker,
        trace,
        t.status,
        Some(&t.code),
        started.elapsed(),
    );
    finish_write(client, &out, close).await
}

/// Writes `out`; when `close`, ends the connection after it.
async fn finish_write<IO>(client: &mut Client<IO>, out: &[u8], close: bool) -> Next
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    if client.io.write_all(out).await.is_err() || client.io.flush().await.is_err() {
        return Next::Close;
    }
    if close {
        shutdown_and_drain(client).await;
        return Next::Close;
    }
    Next::KeepAlive
}

/// Answers a head the relay refuses (in the catalog's envelope, `Connection: close`) and
/// ends the connection.
pub(crate) async fn refuse<IO>(gw: &Gateway, client: &mut Client<IO>, err: errata_core::ApiError)
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let res = crate::request_path::gate_refusal(gw, Some(err));
    let mut out = Vec::with_capacity(512);
    serialize(&mut out, res, false, true);
    let written = async {
        client.io.write_all(&out).await?;
        client.io.flush().await
    };
    if tokio::time::timeout(DRAIN, written).await.is_ok() {
        shutdown_and_drain(client).await;
    }
}

/// Closes the sending side, then reads (and drops) what the client still sends, for a bounded
/// time, so that closing does not reset the connection before the client has read the answer.
async fn shutdown_and_drain<IO>(client: &mut Client<IO>)
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    use tokio::io::AsyncReadExt;
    let until = TokioInstant::now() + DRAIN;
    let _ = tokio::time::timeout_at(until, client.io.shutdown()).await;
    let mut sink = vec![0u8; 4096];
    let _ = tokio::time::timeout_at(until, async {
        while let Ok(n) = client.io.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

thread_local! {
    /// The `Date` header's value, made once a second per worker thread.
    static DATE: RefCell<(u64, Vec<u8>)> = const { RefCell::new((u64::MAX, Vec::new())) };
}

/// A `Date` header for now.
fn date(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let secs = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != secs {
            d.0 = secs;
            d.1 = httpdate::fmt_http_date(now).into_bytes();
        }
        header(out, b"date", &d.1);
    });
}
