//! TLS: the public and admin listeners' certificates (reloaded when their files change), and
//! the client side used for `https://` upstreams.
//!
//! Every TLS configuration errata builds uses rustls with the `ring` provider, so nothing needs
//! cmake or a C toolchain beyond the one `ring` itself needs. The libraries that open their own
//! TLS connections (sqlx for PostgreSQL, redis for `rediss://`) take rustls's process-wide
//! provider, which [`install_default_provider`] sets to the same one.
//!
//! - [`pem`]: reading certificate chains, keys and CA bundles, with errors that name the file
//!   and the fix.
//! - [`reload`]: a certificate resolver whose certificate is swapped when the files change (or
//!   on SIGHUP); existing connections keep the one they were made with.
//! - [`server`]: the listeners' `ServerConfig` (ALPN `h2`, `http/1.1`) and the handshake.
//! - [`client`]: the upstream `ClientConfig` (system roots, or a private CA) and the connect.

pub mod client;
pub mod pem;
pub mod reload;
pub mod server;
pub mod settings;

use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;

pub use client::UpstreamTls;
pub use reload::CertReloader;
pub use server::{Accepted, Protocol};

/// Where a listener's certificate chain and private key are (PEM files).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1) for the leaf certificate.
    pub key: PathBuf,
}

/// A TLS setting that cannot be used: which file, what is wrong, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {problem}; {fix}", file.display())]
pub struct TlsError {
    pub file: PathBuf,
    pub problem: String,
    pub fix: &'static str,
}

impl TlsError {
    pub(crate) fn new(
        file: impl Into<PathBuf>,
        problem: impl Into<String>,
        fix: &'static str,
    ) -> Self {
        TlsError {
            file: file.into(),
            problem: problem.into(),
            fix,
        }
    }
}

/// The crypto provider of every configuration errata builds.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Makes `ring` rustls's process-wide provider, for the libraries that build their own
/// configurations. Idempotent; a provider installed earlier is kept.
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
