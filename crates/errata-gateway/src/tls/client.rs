//! The upstream side: TLS to an `https://` upstream, verified against the system's roots or,
//! with `upstream_ca`, against that private CA only (as `curl --cacert` does), with SNI and the
//! certificate's name taken from the upstream's host.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{TlsError, pem, provider, server::ALPN_HTTP1};

/// How errata speaks TLS to one upstream host.
#[derive(Clone)]
pub struct UpstreamTls {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl UpstreamTls {
    /// TLS to `host` (a DNS name or an IP address, as in the upstream URL), trusting `ca` when
    /// given, else the system's roots.
    pub fn new(host: &str, ca: Option<&Path>) -> Result<UpstreamTls, TlsError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(host.to_owned()).map_err(|_| {
            TlsError::new(
                host,
                "the upstream's host is not a DNS name or IP address a certificate can name",
                "write the upstream as https://HOST[:PORT], with the host its certificate names",
            )
        })?;
        let roots = match ca {
            Some(path) => pem::ca_roots(path, "upstream_ca")?,
            None => system_roots(),
        };
        Ok(UpstreamTls {
            connector: TlsConnector::from(client_config(roots)?),
            server_name,
        })
    }

    /// The TLS handshake over a connected socket. A certificate the roots do not vouch for
    /// fails here, with rustls's reason (e.g. "invalid peer certificate: UnknownIssuer").
    pub async fn connect(&self, tcp: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
        self.connector.connect(self.server_name.clone(), tcp).await
    }
}

/// A client configuration offering HTTP/1.1 by ALPN (the upstream pool speaks HTTP/1.1).
pub fn client_config(roots: RootCertStore) -> Result<Arc<ClientConfig>, TlsError> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::new("", format!("TLS setup failed: {e}"), "report this as a bug"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(Arc::new(config))
}

/// The operating system's trusted roots. Certificates the system lists but rustls can't parse
/// are skipped (and logged), as every TLS client does.
pub fn system_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::debug!(error = %e, "a system root certificate could not be loaded");
    }
    let mut roots = RootCertStore::empty();
    let (_, skipped) = roots.add_parsable_certificates(found.certs);
    if skipped > 0 {
        tracing::debug!(
            skipped,
            "system root certificates rustls cannot use were skipped"
        );
    }
    roots
}
