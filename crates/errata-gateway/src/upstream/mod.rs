//! Forwarding to the upstream over pooled HTTP/1.1 connections.
//!
//! One `Upstream` per worker. A request goes out on the newest idle connection of the worker's
//! pool (`pool.rs`), or on a new one (`connect.rs`); the response body gives the connection
//! back once read to its end (`body.rs`). The target is rewritten to origin form (the base
//! path, then the client's path and query) with the upstream's `Host`.
//!
//! A reused connection can turn out closed by the upstream only when the request is already on
//! its way. The request is then sent once more, on a fresh connection, when that is safe: it
//! was never written (hyper hands it back), or it has no body (its head is kept for this).
//! A request whose body was streamed is not sent twice.
//!
//! Failures become conditions as everywhere in the gateway: the request body over its limit
//! (`http_body_util::LengthLimitError`) is `BodyTooLarge`, a response that is not HTTP is
//! `UpstreamInvalidResponse`, no response headers within the response timeout is
//! `UpstreamTimeout`, anything else (refused, reset, connect timeout) `UpstreamUnreachable`.

mod body;
mod connect;
mod pool;
mod raw;

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use errata_core::Condition;
use http::header::{self, HeaderMap, HeaderValue};
use http::uri::{self, PathAndQuery};
use http::{Method, Request, Response, Uri, Version};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Body;
use hyper::client::conn::http1::SendRequest;

pub use body::UpstreamBody;
pub use pool::{PoolOptions, PoolStats};
pub(crate) use raw::quiet;

use connect::Connector;
use pool::Pool;
use raw::RawPool;

/// A request body on its way upstream.
pub type ProxyBody = UnsyncBoxBody<Bytes, Box<dyn StdError + Send + Sync>>;

/// The upstream of one worker: where it is, its timeouts and its idle connections.
pub struct Upstream {
    connector: Connector,
    pool: Arc<Pool>,
    /// Idle plain connections of the HTTP/1.1 relay.
    raw: RawPool,
    /// The base URI's path without its trailing `/`; empty when there is none.
    prefix: Box<str>,
    authority: HeaderValue,
    response_timeout: Duration,
}

impl Upstream {
    /// An upstream at `base` (`http://host[:port][/prefix]`) with the default pool options.
    pub fn new(
        base: &str,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Result<Upstream, String> {
        Upstream::with_ca(base, connect_timeout, response_timeout, None)
    }

    /// An upstream at `base`, `http://` or `https://`; an https upstream's certificate is
    /// verified against `ca` when given, else the system's roots.
    pub fn with_ca(
        base: &str,
        connect_timeout: Duration,
        response_timeout: Duration,
        ca: Option<&std::path::Path>,
    ) -> Result<Upstream, String> {
        let uri: Uri = base
            .parse()
            .map_err(|e| format!("upstream `{base}`: {e}"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                return Err(format!(
                    "upstream `{base}`: only http:// and https:// are supported"
                ));
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("upstream `{base}` has no host"))?;
        let host_header = HeaderValue::from_str(authority.as_str())
            .map_err(|_| format!("upstream `{base}` has an invalid host"))?;
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = if https {
            Some(
                crate::tls::UpstreamTls::new(authority.host(), ca)
                    .map_err(|e| format!("upstream `{base}`: {e}"))?,
            )
        } else {
            None
        };
        Ok(Upstream {
            connector: Connector::new(authority.host(), port, connect_timeout, tls),
            pool: Arc::new(Pool::new(PoolOptions::default())),
            raw: RawPool::new(PoolOptions::default()),
            prefix: uri.path().trim_end_matches('/').into(),
            authority: host_header,
            response_timeout,
        })
    }

    /// The same upstream with other pool options.
    pub fn with_pool(mut self, options: PoolOptions) -> Upstream {
        self.pool = Arc::new(Pool::new(options));
        self.raw = RawPool::new(options);
        self
    }

    pub fn response_timeout(&self) -> Duration {
        self.response_timeout
    }

    /// Counts of what the pool has done, and how many connections are idle now.
    pub fn stats(&self) -> PoolStats {
        let stats = self.pool.stats();
        PoolStats {
            resolves: self.connector.resolves(),
            idle: stats.idle + self.raw.idle(),
            ..stats
        }
    }

    /// Whether the relay can speak to this upstream itself (plain HTTP; an https upstream
    /// goes through hyper's client and rustls).
    pub fn relayable(&self) -> bool {
        !self.connector.is_tls()
    }

    /// The base path the relay puts before the client's target (empty, or starting with `/`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The `Host` the upstream gets.
    pub fn authority(&self) -> &[u8] {
        self.authority.as_bytes()
    }

    /// An idle relay connection of this worker, else a new one.
    pub(crate) async fn relay_connection(
        &self,
    ) -> Result<(tokio::net::TcpStream, bool), Condition> {
        if let Some(s) = self.raw.checkout() {
            self.pool.note_reuse();
            return Ok((s, true));
        }
        Ok((self.relay_connect().await?, false))
    }

    /// A new relay connection.
    pub(crate) async fn relay_connect(&self) -> Result<tokio::net::TcpStream, Condition> {
        let s = self.connector.tcp().await?;
        self.pool.note_connect();
        Ok(s)
    }

    /// A relay connection whose exchanges all ended cleanly, for another client connection.
    pub(crate) fn relay_release(&self, stream: tokio::net::TcpStream) {
        self.raw.release(stream);
    }

    /// Counts a request sent again after a reused connection closed under it.
    pub(crate) fn note_retry(&self) {
        self.pool.note_retry();
    }

    /// Sends the request upstream; its URI is the client's (origin or absolute form).
    pub async fn send(&self, req: Request<ProxyBody>) -> Result<Response<UpstreamBody>, Condition> {
        let (mut parts, body) = req.into_parts();
        parts.uri = self.target(&parts.uri)?;
        parts.version = Version::HTTP_11;
        parts.headers.insert(header::HOST, self.authority.clone());
        match tokio::time::timeout(self.response_timeout, self.exchange(parts, body)).await {
            Ok(res) => res,
            Err(_) => Err(Condition::UpstreamTimeout),
        }
    }

    /// The request target upstream: the base path, then the client's path and query.
    fn target(&self, uri: &Uri) -> Result<Uri, Condition> {
        let pq = uri.path_and_query();
        if self.prefix.is_empty() {
            if uri.scheme().is_none() && uri.authority().is_none() && pq.is_some() {
                return Ok(uri.clone());
            }
            let mut parts = uri::Parts::default();
            parts.path_and_query = Some(
                pq.cloned()
                    .unwrap_or_else(|| PathAndQuery::from_static("/")),
            );
            return Uri::from_parts(parts).map_err(|_| Condition::InvalidParameter);
        }
        let pq = pq.map_or("/", PathAndQuery::as_str);
        Uri::try_from(format!("{}{pq}", self.prefix)).map_err(|_| Condition::InvalidParameter)
    }

    async fn exchange(
        &self,
        parts: http::request::Parts,
        body: ProxyBody,
    ) -> Result<Response<UpstreamBody>, Condition> {
        let (mut tx, reused) = match self.pool.checkout().await {
            Some(tx) => (tx, true),
            None => (self.connect().await?, false),
        };
        // Only a reused connection can have been closed under the request.
        let replay = (reused && body.is_end_stream()).then(|| Head::of(&parts));
        let mut err = match tx.try_send_request(Request::from_parts(parts, body)).await {
            Ok(res) => return Ok(self.lease(res, tx)),
            Err(e) => e,
        };
        drop(tx);
        if !reused || !closed_early(err.error()) {
            return Err(classify(err.error()));
        }
        let again = match (err.take_message(), replay) {
            (Some(req), _) => req,
            (None, Some(head)) => head.request(),
            (None, None) => return Err(classify(err.error())),
        };
        self.pool.note_retry();
        tracing::debug!(error = %err.error(), "upstream closed a reused connection; sending again");
        let mut tx = self.connect().await?;
        match tx.try_send_request(again).await {
            Ok(res) => Ok(self.lease(res, tx)),
            Err(e) => Err(classify(e.error())),
        }
    }

    async fn connect(&self) -> Result<SendRequest<ProxyBody>, Condition> {
        let tx = self.connector.connect().await?;
        self.pool.note_connect();
        Ok(tx)
    }

    fn lease(
        &self,
        res: Response<hyper::body::Incoming>,
        tx: SendRequest<ProxyBody>,
    ) -> Response<UpstreamBody> {
        res.map(|b| UpstreamBody::new(b, tx, self.pool.clone()))
    }
}

/// What it takes to send a bodiless request again.
struct Head {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

impl Head {
    fn of(parts: &http::request::Parts) -> Head {
        Head {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
        }
    }

    fn request(self) -> Request<ProxyBody> {
        let empty = http_body_util::Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        let mut req = Request::new(empty);
        *req.method_mut() = self.method;
        *req.uri_mut() = self.uri;
        *req.headers_mut() = self.headers;
        req
    }
}

/// Whether the connection went away before a response began: the upstream closed or reset
/// it, and nothing it sent was misread.
fn closed_early(e: &hyper::Error) -> bool {
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        return true;
    }
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            );
        }
        source = s.source();
    }
    false
}

/// Which condition a failed exchange is.
fn classify(e: &hyper::Error) -> Condition {
    let mut source: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return Condition::BodyTooLarge;
        }
        if let Some(h) = s.downcast_ref::<hyper::Error>()
            && h.is_parse()
        {
            return Condition::UpstreamInvalidResponse;
        }
        source = s.source();
    }
    tracing::warn!(error = %e, "upstream failed");
    Condition::UpstreamUnreachable
}
