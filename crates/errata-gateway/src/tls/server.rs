//! The listeners' side: a `ServerConfig` offering HTTP/2 and HTTP/1.1 by ALPN, and a bounded
//! handshake whose failures stay with the connection that caused them.

use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::{CertReloader, provider};

/// ALPN identifiers, in the server's order of preference.
pub const ALPN_H2: &[u8] = b"h2";
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// How long a client has to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP version a connection speaks, as ALPN settled it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Http2,
    /// HTTP/1.1, also when the client offered no ALPN at all.
    Http1,
}

/// A server configuration over a reloading certificate. `http2` offers `h2` ahead of
/// `http/1.1`; without it only `http/1.1` is offered (the admin listener speaks HTTP/1.1).
pub fn config(cert: Arc<CertReloader>, http2: bool) -> Result<Arc<ServerConfig>, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = if http2 {
        vec![ALPN_H2.to_vec(), ALPN_HTTP1.to_vec()]
    } else {
        vec![ALPN_HTTP1.to_vec()]
    };
    // Resumed sessions skip the certificate exchange for returning clients.
    if let Ok(ticketer) = rustls::crypto::ring::Ticketer::new() {
        config.ticketer = ticketer;
    }
    Ok(Arc::new(config))
}

/// A finished handshake: the stream and the protocol it speaks.
pub struct Accepted {
    pub stream: TlsStream<TcpStream>,
    pub protocol: Protocol,
}

/// Runs the server handshake within `timeout`. A client that fails it (a bad hello, a
/// certificate it does not trust, silence) is logged at debug and dropped; `None` then.
pub async fn accept(acceptor: &TlsAcceptor, tcp: TcpStream, timeout: Duration) -> Option<Accepted> {
    let peer = tcp.peer_addr().ok();
    match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => {
            let protocol = match stream.get_ref().1.alpn_protocol() {
                Some(ALPN_H2) => Protocol::Http2,
                _ => Protocol::Http1,
            };
            Some(Accepted { stream, protocol })
        }
        Ok(Err(e)) => {
            tracing::debug!(peer = ?peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(peer = ?peer, "TLS handshake timed out");
            None
        }
    }
}

/// Serves the admin API over TLS (HTTP/1.1) until `stop` turns true. Connections are served as
/// they come; those open at shutdown are dropped with the runtime.
pub async fn serve_admin(
    listener: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
    app: axum::Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    tokio::pin!(stopped);
    loop {
        let tcp = tokio::select! {
            res = listener.accept() => match res {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut stopped => return,
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Some(a) = accept(&acceptor, tcp, HANDSHAKE_TIMEOUT).await else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(a.stream), service)
                .await
            {
                tracing::debug!(error = %e, "admin connection ended with an error");
            }
        });
    }
}
