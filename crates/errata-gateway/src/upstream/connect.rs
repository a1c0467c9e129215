//! Opening one upstream connection: the address resolved once (and again after a failed
//! connect), TCP with `TCP_NODELAY`, then HTTP/1.1 on the stream with its driver task spawned.
//!
//! `open` is the one place a byte stream to the upstream is made; wrapping it (TLS for an
//! https upstream) changes only this module, because `handshake` takes any tokio stream.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use errata_core::Condition;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::ProxyBody;

/// The stream `open` returns.
pub(crate) type Stream = TcpStream;

/// Resolved addresses, and which of them answered last (tried first next time).
struct Resolved {
    addrs: Arc<[SocketAddr]>,
    preferred: usize,
}

/// Opens connections to one host and port.
pub(crate) struct Connector {
    host: Box<str>,
    port: u16,
    timeout: Duration,
    resolved: Mutex<Option<Resolved>>,
    resolves: Mutex<u64>,
    /// TLS for an https upstream.
    tls: Option<crate::tls::UpstreamTls>,
}

impl Connector {
    pub(crate) fn new(
        host: &str,
        port: u16,
        timeout: Duration,
        tls: Option<crate::tls::UpstreamTls>,
    ) -> Connector {
        // `Uri::host` keeps the brackets of an IPv6 literal; the resolver wants them off.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Connector {
            host: host.into(),
            port,
            timeout,
            resolved: Mutex::new(None),
            resolves: Mutex::new(0),
            tls,
        }
    }

    /// How many times the address was looked up.
    pub(crate) fn resolves(&self) -> u64 {
        *self.resolves.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new HTTP/1.1 connection, ready for its first request, within the connect timeout.
    pub(crate) async fn connect(&self) -> Result<SendRequest<ProxyBody>, Condition> {
        match tokio::time::timeout(self.timeout, self.connect_inner()).await {
            Ok(Ok(tx)) => Ok(tx),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, host = %self.host, port = self.port, "upstream unreachable");
                Err(Condition::UpstreamUnreachable)
            }
            Err(_) => {
                tracing::warn!(host = %self.host, port = self.port, timeout_ms = self.timeout.as_millis() as u64, "upstream connect timed out");
                Err(Condition::UpstreamUnreachable)
            }
        }
    }

    /// A new plain TCP connection for the relay (which speaks HTTP/1.1 on it itself), within
    /// the connect timeout.
    pub(crate) async fn tcp(&self) -> Result<Stream, Condition> {
        let attempt = async {
            let (addrs, first) = self.addresses().await?;
            match open(&addrs, first).await {
                Ok((stream, used)) => {
                    if used != first {
                        self.prefer(&addrs, used);
                    }
                    Ok(stream)
                }
                Err(e) => {
                    *self.resolved.lock().unwrap_or_else(PoisonError::into_inner) = None;
                    Err(e)
                }
            }
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, host = %self.host, port = self.port, "upstream unreachable");
                Err(Condition::UpstreamUnreachable)
            }
            Err(_) => {
                tracing::warn!(host = %self.host, port = self.port, timeout_ms = self.timeout.as_millis() as u64, "upstream connect timed out");
                Err(Condition::UpstreamUnreachable)
            }
        }
    }

    /// Whether connections are TLS (the relay speaks plain TCP only).
    pub(crate) fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    async fn connect_inner(&self) -> io::Result<SendRequest<ProxyBody>> {
        let (addrs, first) = self.addresses().await?;
        match open(&addrs, first).await {
            Ok((stream, used)) => {
                if used != first {
                    self.prefer(&addrs, used);
                }
                match &self.tls {
                    None => handshake(TokioIo::new(stream)).await,
                    Some(tls) => handshake(TokioIo::new(tls.connect(stream).await?)).await,
                }
                .map_err(io::Error::other)
            }
            Err(e) => {
                // The upstream may have moved: look it up again next time.
                *self.resolved.lock().unwrap_or_else(PoisonError::into_inner) = None;
                Err(e)
            }
        }
    }

    /// The cached addresses, looked up when there are none.
    async fn addresses(&self) -> io::Result<(Arc<[SocketAddr]>, usize)> {
        if let Some(r) = self
            .resolved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            return Ok((r.addrs.clone(), r.preferred));
        }
        *self.resolves.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        let addrs: Arc<[SocketAddr]> = tokio::net::lookup_host((&*self.host, self.port))
            .await?
            .collect();
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("`{}` has no address", self.host),
            ));
        }
        *self.resolved.lock().unwrap_or_else(PoisonError::into_inner) = Some(Resolved {
            addrs: addrs.clone(),
            preferred: 0,
        });
        Ok((addrs, 0))
    }

    fn prefer(&self, addrs: &Arc<[SocketAddr]>, used: usize) {
        let mut resolved = self.resolved.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(r) = resolved.as_mut()
            && Arc::ptr_eq(&r.addrs, addrs)
        {
            r.preferred = used;
        }
    }
}

/// Connects to the first address that accepts, starting at `first`; returns which one did.
pub(crate) async fn open(addrs: &[SocketAddr], first: usize) -> io::Result<(Stream, usize)> {
    let mut last = None;
    for i in (first..addrs.len()).chain(0..first) {
        match TcpStream::connect(addrs[i]).await {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok((stream, i));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address")))
}

/// Starts HTTP/1.1 on a stream; the connection is driven by its own task until it closes.
pub(crate) async fn handshake<T>(io: TokioIo<T>) -> hyper::Result<SendRequest<ProxyBody>>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (tx, conn) = http1::Builder::new().handshake(io).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection ended");
        }
    });
    Ok(tx)
}
