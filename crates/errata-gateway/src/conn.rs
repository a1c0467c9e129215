//! One public connection: the head gate, hyper's HTTP/1.1 server over it, and errata's own
//! service. Generic over the IO so that a TLS stream can be served the same way; the service
//! itself is plain `hyper::service::Service` with a `Send` future, usable by hyper's HTTP/2
//! server as well.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use errata_core::ApiError;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::gate::Gate;
use crate::gateway::Gateway;
use crate::head::MAX_HEAD_BYTES;
use crate::live::Live;
use crate::reply::Body;
use crate::request_path;

/// errata's service for one connection: every request goes down the path of the gateway
/// current when it arrives.
#[derive(Clone)]
pub struct Service {
    pub live: Arc<Live>,
    /// The worker serving the connection (its shard of per-worker state).
    pub worker: usize,
    pub peer: SocketAddr,
    /// Where the connection's gate leaves a refusal.
    pub refusal: Arc<Mutex<Option<ApiError>>>,
}

impl hyper::service::Service<Request<Incoming>> for Service {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let gw = self.live.load_full();
        if gw.is_marked(&req) {
            let err = self.refusal.lock().ok().and_then(|mut s| s.take());
            return Box::pin(async move { Ok(request_path::gate_refusal(&gw, err)) });
        }
        let version = req.version();
        let (worker, peer) = (self.worker, self.peer);
        Box::pin(async move {
            let res = request_path::handle(&gw, worker, peer, req).await;
            Ok(to_client(&gw, res, version))
        })
    }
}

/// An answer made the client's: in the client's protocol version, whatever the upstream's
/// (hyper writes a response's own version in the status line, and would not chunk an
/// HTTP/1.0 one: an HTTP/1.1 client behind an HTTP/1.0 upstream would lose keep-alive), and
/// without the upstream's `server` header unless `pass_server_header` (errata sends none of
/// its own).
fn to_client(gw: &Gateway, mut res: Response<Body>, version: http::Version) -> Response<Body> {
    *res.version_mut() = version;
    if !gw.config.pass_server_header {
        res.headers_mut().remove(http::header::SERVER);
    }
    res
}

/// Serves one HTTP/1.1 connection until the client closes it, or `stop` turns true (then the
/// request in flight is finished and the connection closed): on errata's relay when the
/// upstream is plain HTTP, else on hyper.
pub async fn serve<IO>(
    io: IO,
    live: Arc<Live>,
    worker: usize,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Each path boxed: the task then holds only the one it runs (hyper's connection state
    // is several kilobytes, the relay's a fraction of that).
    if live.load().upstream(worker).is_some_and(|u| u.relayable()) {
        Box::pin(crate::relay::serve(io, live, worker, peer, stop)).await;
    } else {
        Box::pin(serve_hyper(io, Vec::new(), live, worker, peer, stop)).await;
    }
}

/// Serves a connection on hyper's HTTP/1.1 server behind the head gate; `held` are bytes
/// already read from it (a request the relay handed over, and any after it).
pub async fn serve_hyper<IO>(
    io: IO,
    held: Vec<u8>,
    live: Arc<Live>,
    worker: usize,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // The gate's marker outlives reloads, so the refusals of the gateway current now serve
    // the connection's whole life.
    let (refusals, timeout) = {
        let gw = live.load();
        (gw.refusals(), gw.config.header_read_timeout)
    };
    let service = Service {
        live,
        worker,
        peer,
        refusal: Arc::clone(&refusals.slot),
    };
    let gate = Gate::new(io, timeout, refusals).with_held(held);
    // hyper's own head timer starts when it waits for a head, idle time included (the gate's
    // starts at a head's first byte): twice the gate's bounds idle keep-alive connections
    // without cutting a head the gate is still timing.
    let conn = http1::Builder::new()
        .max_buf_size(MAX_HEAD_BYTES)
        .timer(TokioTimer::new())
        .header_read_timeout(timeout.saturating_mul(2))
        .serve_connection(TokioIo::new(gate), service);
    tokio::pin!(conn);
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    let res = tokio::select! {
        res = conn.as_mut() => res,
        () = stopped => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = res
        && !e.is_incomplete_message()
    {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Serves one HTTP/2 connection (TLS with ALPN `h2`) with the same service: every request goes
/// down the same path as on HTTP/1.1. hyper's HTTP/2 server parses heads itself, so the gate
/// (an HTTP/1.1 head check) has no part here; hyper refuses malformed frames at the protocol
/// level.
pub async fn serve_h2<IO>(
    io: IO,
    live: Arc<Live>,
    worker: usize,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = Service {
        live,
        worker,
        peer,
        refusal: Arc::new(Mutex::new(None)),
    };
    let conn = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    let res = tokio::select! {
        res = conn.as_mut() => res,
        () = stopped => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = res {
        tracing::debug!(error = %e, "HTTP/2 connection ended with an error");
    }
}
