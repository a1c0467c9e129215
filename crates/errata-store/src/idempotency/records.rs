//! Where records live: the [`Records`] interface, kept by the counters' backend (memory for one
//! instance, Redis for several).

use std::sync::Arc;

use async_trait::async_trait;

use super::record::Record;

/// A SHA-256 of the request a key was first used with: method, path and query, body.
pub type Fingerprint = [u8; 32];

/// What a claim found under a key.
#[derive(Debug)]
pub enum Found {
    /// Nothing live: the key is now claimed for this request.
    Claimed,
    /// Another request holds the key and has not finished.
    InFlight { fingerprint: Fingerprint },
    /// A finished request's answer.
    Done {
        fingerprint: Fingerprint,
        record: Arc<Record>,
    },
}

/// A new claim on a key.
#[derive(Clone, Debug)]
pub struct NewClaim {
    /// Unique to this claim: only its holder may finish or release it.
    pub token: String,
    pub fingerprint: Fingerprint,
    /// When the claim lapses if never finished (Unix ms, the gateway's clock).
    pub expires_ms: u64,
    /// The same as a duration, for stores that expire keys themselves.
    pub ttl_ms: u64,
}

/// A records backend failure (unreachable, timed out, unreadable).
#[derive(Debug, thiserror::Error)]
#[error("idempotency records: {0}")]
pub struct RecordsError(pub String);

/// Idempotency records. `key` is already scoped to a tenant or API key. Time is the gateway's
/// clock (`now_ms`, Unix ms): an entry whose expiry has passed is treated as absent.
#[async_trait]
pub trait Records: Send + Sync + 'static {
    /// Atomically: returns the live entry under `key`, or, when there is none, stores `claim`.
    async fn claim(&self, key: &str, claim: &NewClaim, now_ms: u64) -> Result<Found, RecordsError>;

    /// Replaces the claim holding `token` with the finished `record`, live until `expires_ms`
    /// (and `ttl_ms` for stores that expire keys themselves). `Ok(false)`: the claim was no
    /// longer this one's (it lapsed), and nothing was written.
    async fn complete(
        &self,
        key: &str,
        token: &str,
        record: &Record,
        expires_ms: u64,
        ttl_ms: u64,
    ) -> Result<bool, RecordsError>;

    /// Drops the claim holding `token`, if it is still in flight, so the key can run again.
    /// Returns at once; a store across the network sends it in the background and leaves
    /// failures to the claim's expiry.
    fn release(&self, key: &str, token: &str);
}
