//! Health and readiness on the gateway's side: the answer to the public `health_path`, and the
//! check of the public listener's certificate.
//!
//! The state and the checks are [`errata_store::health`], shared with the admin API's
//! `/healthz` and `/readyz`: one [`Health`] per process, made with the first [`Gateway`] and
//! handed on to the one a reload makes. The public path never reaches the store or the
//! counters itself (it must not be a way to load them): it answers with what the last checks
//! saw, which a background probe refreshes every [`REFRESH`].

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use errata_core::ApiError;
use http::Response;
use http::header::{self, HeaderValue};

pub use errata_store::health::{Check, Failure, Health, Liveness, REFRESH, Readiness, TlsCheck};

use crate::gateway::Gateway;
use crate::reply::Body;
use crate::tls::CertReloader;

/// The public answer when ready.
pub const READY_BODY: &str = "{\"status\":\"ready\"}";

/// The answer to `GET health_path`: 200 `{"status":"ready"}`, or the catalog's 503 with each
/// reason not to be ready in `details` (a check that failed, or the gateway draining).
pub fn answer(gw: &Gateway) -> Result<Response<Body>, ApiError> {
    let readiness = gw.health.last();
    if !readiness.is_ready() {
        return Err(readiness.error());
    }
    let mut res = Response::new(Body::full(Bytes::from_static(READY_BODY.as_bytes())));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// The check of the listener's certificate: the one new handshakes get is within its validity
/// (an expired certificate fails every handshake, so the instance is not ready).
pub fn tls_check(cert: Arc<CertReloader>) -> TlsCheck {
    Arc::new(move || {
        let key = cert.current();
        let Some(leaf) = key.cert.first() else {
            return Err(Failure::new(
                "not_loaded",
                "the listener has no TLS certificate",
            ));
        };
        // rustls took the certificate; one x509-parser cannot read has no dates to check.
        let Ok((_, parsed)) = x509_parser::parse_x509_certificate(leaf.as_ref()) else {
            return Ok(());
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let validity = parsed.validity();
        if now > validity.not_after.timestamp() {
            Err(Failure::new("expired", "the TLS certificate has expired"))
        } else if now < validity.not_before.timestamp() {
            Err(Failure::new(
                "not_yet_valid",
                "the TLS certificate is not valid yet",
            ))
        } else {
            Ok(())
        }
    })
}
