//! The HTTP/1.1 relay: errata's own path for the plain requests that are most of an API's
//! traffic, with hyper kept for everything else.
//!
//! Each request head is parsed once (errata-wire, on httparse) where it arrived, in the
//! connection's buffer, and the request path's stages decide on those borrowed bytes. The
//! upstream request is written from the client's bytes with errata's edits made on the way
//! (hop-by-hop and credential headers out; forwarding, identity and request-id headers in), the
//! upstream's response head parsed once and relayed the same way (in HTTP/1.1 whatever the
//! upstream's version; its `Server` header only with `pass_server_header`), and both bodies
//! framed exactly: a `Content-Length` body copied as it is, a chunked one decoded and framed
//! again, a response that ends with its connection (an HTTP/1.0 upstream's) sent chunked. The
//! upstream connection belongs to the client connection's task: no channel, no second task, no
//! `HeaderMap` per hop.
//!
//! Errors take the same road as on hyper's path: a refusal, or an upstream error read whole and
//! made the catalog's by [`crate::stage::respond`], is a `Response` that [`answer`] writes.
//!
//! The relay hands the connection to hyper (with the bytes it has read) at the first request
//! it does not take: an upgrade or `CONNECT`, HTTP/1.0, a target not in origin form, and routes
//! with `idempotency` or `success_meta` (their answers are recorded or rewritten whole). An
//! https upstream is hyper's from the start.

mod buffer;
mod exchange;
mod write;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use errata_core::{ApiError, Condition};
use errata_wire::{RequestHead, parse_request};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::gateway::Gateway;
use crate::head::MAX_HEAD_BYTES;
use crate::live::{Current, Live};

use buffer::Buffer;

/// A request head and the bytes it was parsed from: what the stages read headers through.
pub struct HeadView<'a> {
    pub head: &'a RequestHead,
    pub buf: &'a [u8],
}

/// The catalog's error for a message the relay refuses.
pub(crate) fn refusal_error(r: errata_wire::Refusal) -> ApiError {
    use errata_wire::Refusal;
    match r {
        Refusal::Malformed(reason) | Refusal::NotImplemented(reason) => {
            ApiError::condition(Condition::MalformedRequest).arg("reason", reason)
        }
        Refusal::UriTooLong => {
            ApiError::condition(Condition::UriTooLong).arg("limit", errata_wire::MAX_URI_LEN)
        }
        Refusal::TooLarge => {
            ApiError::condition(Condition::HeadersTooLarge).arg("limit", MAX_HEAD_BYTES)
        }
    }
}

/// How long a refused connection is drained before it is closed.
const DRAIN: Duration = Duration::from_secs(1);

/// What became of one request.
pub(crate) enum Next {
    /// Answered; the connection can carry the next request.
    KeepAlive,
    /// Answered (or beyond answering); the connection closes.
    Close,
    /// Not the relay's: the connection goes to hyper with the bytes still held.
    Decline,
}

/// The client side of a relayed connection.
pub(crate) struct Client<IO> {
    pub(crate) io: IO,
    pub(crate) buf: Buffer,
}

/// Serves one HTTP/1.1 connection until the client closes it, or `stop` turns true.
pub async fn serve<IO>(
    io: IO,
    live: Arc<Live>,
    worker: usize,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut client = Client {
        io,
        buf: Buffer::new(),
    };
    let mut current = Current::new(&live);
    let mut gw = Arc::clone(current.get());
    let mut up = exchange::Upstream::default();
    let mut first = true;
    loop {
        let head = match read_head(&gw, &mut client, first, &mut stop).await {
            Read::Head(h) => h,
            Read::Closed => break,
            Read::Refused(err) => {
                write::refuse(&gw, &mut client, err).await;
                break;
            }
        };
        first = false;
        // A request is answered by the gateway current when its head has arrived: one
        // reloaded while the connection was idle serves it. The upstream connection held
        // goes back to the pool it came from.
        let now = current.get();
        if !Arc::ptr_eq(now, &gw) {
            up.give_back(&gw, worker);
            gw = Arc::clone(now);
        }
        match exchange::exchange(&gw, worker, peer, &mut client, &mut up, head, &stop).await {
            Next::KeepAlive => {}
            Next::Close => break,
            Next::Decline => {
                up.give_back(&gw, worker);
                let held = client.buf.take();
                // Boxed: hyper's connection state is made only for connections it takes.
                Box::pin(crate::conn::serve_hyper(
                    client.io, held, live, worker, peer, stop,
                ))
                .await;
                return;
            }
        }
    }
    up.give_back(&gw, worker);
}

enum Read {
    Head(RequestHead),
    Closed,
    Refused(ApiError),
}

/// Reads the next request head. The first head of a connection must be complete within the
/// header timeout of the connection's start; a later one within the timeout of its first byte,
/// and a connection idle between requests for twice the timeout is closed without an answer
/// (as hyper's path does).
async fn read_head<IO>(
    gw: &Gateway,
    client: &mut Client<IO>,
    first: bool,
    stop: &mut watch::Receiver<bool>,
) -> Read
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let timeout = gw.config.header_read_timeout;
    let now = Instant::now();
    let idle_until = now + timeout.saturating_mul(2);
    let mut head_until = (first || !client.buf.is_empty()).then_some(now + timeout);
    loop {
        if !client.buf.is_empty() {
            match parse_request(client.buf.data()) {
                Ok(Some(head)) => return Read::Head(head),
                Ok(None) => {}
                Err(r) => return Read::Refused(refusal_error(r)),
            }
            head_until.get_or_insert_with(|| Instant::now() + timeout);
        }
        if *stop.borrow() && client.buf.is_empty() {
            return Read::Closed;
        }
        let until = head_until.unwrap_or(idle_until);
        let idle = client.buf.is_empty();
        tokio::select! {
            res = tokio::time::timeout_at(until, client.buf.fill(&mut client.io, MAX_HEAD_BYTES + 1)) => match res {
                Err(_) if head_until.is_some() && (first || !client.buf.is_empty()) => {
                    let err = ApiError::condition(Condition::ClientTimeout)
                        .arg("timeout", timeout.as_secs().max(1));
                    return Read::Refused(err);
                }
                Err(_) | Ok(Ok(0)) | Ok(Err(_)) => return Read::Closed,
                Ok(Ok(_)) => {}
            },
            _ = stop.changed(), if idle => {}
        }
    }
}
