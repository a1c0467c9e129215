//! One public connection: the head gate, hyper's HTTP/1.1 server over it, and errata's own
//! service. Generic over the IO so that a TLS stream can be served the same way; the service
//! itself is plain `hyper::service::Service` with a `Send` future, usable by hyper's HTTP/2
//! server as well.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::gate::Gate;
use crate::gateway::{self, Gateway};
use crate::head::MAX_HEAD_BYTES;
use crate::reply::Body;

/// errata's service for one connection: every request goes down the gateway's path.
#[derive(Clone)]
pub struct Service {
    pub gateway: Arc<Gateway>,
    /// The worker serving the connection (its shard of per-worker state).
    pub worker: usize,
    pub peer: SocketAddr,
}

impl hyper::service::Service<Request<Incoming>> for Service {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let svc = self.clone();
        Box::pin(async move { Ok(gateway::handle(&svc.gateway, svc.worker, svc.peer, req).await) })
    }
}

/// Serves one connection until the client closes it, or `stop` turns true (then the request
/// in flight is finished and the connection closed).
pub async fn serve<IO>(io: IO, service: Service, mut stop: watch::Receiver<bool>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let gw = &service.gateway;
    let gate = Gate::new(io, gw.config.header_read_timeout, gw.refuser());
    let conn = http1::Builder::new()
        .max_buf_size(MAX_HEAD_BYTES)
        .timer(TokioTimer::new())
        .header_read_timeout(gw.config.header_read_timeout)
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
