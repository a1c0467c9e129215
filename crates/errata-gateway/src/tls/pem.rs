//! Reading PEM files: a certificate chain with its key (checked to match), and CA bundles.
//!
//! Each failure is a [`TlsError`] naming the file and the fix, because these are read when the
//! gateway starts (where a bad file must stop it with a clear message) and on every reload
//! (where the message is logged and the old certificate kept).

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use super::{TlsError, TlsFiles, provider};

/// Reads a file whole, or says which file could not be read.
pub fn read(path: &Path, what: &str, fix: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path)
        .map_err(|e| TlsError::new(path, format!("cannot read the {what}: {e}"), fix))
}

/// The certificates in PEM bytes; at least one.
pub fn certs(
    path: &Path,
    bytes: &[u8],
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|e| {
            TlsError::new(
                path,
                format!("the {what} is not valid PEM: {e}"),
                "give a PEM file of `-----BEGIN CERTIFICATE-----` blocks",
            )
        })?;
    if certs.is_empty() {
        return Err(TlsError::new(
            path,
            format!("the {what} holds no certificate"),
            "give a PEM file of `-----BEGIN CERTIFICATE-----` blocks",
        ));
    }
    Ok(certs)
}

/// The leaf certificate chain and key, parsed and checked to belong together.
pub fn certified_key(files: &TlsFiles) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain_fix = "point `cert` at the PEM certificate chain (leaf first)";
    let chain = certs(
        &files.cert,
        &read(&files.cert, "certificate chain", chain_fix)?,
        "certificate chain",
    )?;
    let key_fix = "point `key` at the PEM private key of the certificate";
    let key_pem = read(&files.key, "private key", key_fix)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        TlsError::new(
            &files.key,
            match e {
                pem::Error::NoItemsFound => "the file holds no private key".to_owned(),
                e => format!("the private key is not valid PEM: {e}"),
            },
            "give the `-----BEGIN PRIVATE KEY-----` (or RSA / EC PRIVATE KEY) file the certificate was issued for",
        )
    })?;
    let signing = provider().key_provider.load_private_key(key).map_err(|e| {
        TlsError::new(
            &files.key,
            format!("the private key is not usable: {e}"),
            key_fix,
        )
    })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(_) => {
            return Err(TlsError::new(
                &files.key,
                format!(
                    "the private key does not match the certificate in {}",
                    files.cert.display()
                ),
                "use the key the certificate was issued for, or the certificate issued for this key",
            ));
        }
    }
    Ok(Arc::new(certified))
}

/// A root store holding the CA certificates of a PEM bundle (for a private CA).
pub fn ca_roots(path: &Path, setting: &str) -> Result<RootCertStore, TlsError> {
    let fix =
        "give a readable PEM file of the CA certificates that signed the server's certificate";
    let bytes = read(path, &format!("{setting} CA bundle"), fix)?;
    let mut roots = RootCertStore::empty();
    for cert in certs(path, &bytes, &format!("{setting} CA bundle"))? {
        roots.add(cert).map_err(|e| {
            TlsError::new(
                path,
                format!("a certificate in the {setting} CA bundle is not usable: {e}"),
                fix,
            )
        })?;
    }
    Ok(roots)
}
