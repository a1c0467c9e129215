//! Authentication: the key from the request, its hash, a short-lived cache, the store; then the
//! distinct conditions missing, malformed, unknown, revoked and expired.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use errata_core::{ApiError, Condition};
use http::HeaderMap;

use crate::keys;
use crate::store::{KeyRecord, KeyStore};

/// Store answers by key hash, each trusted for at most `ttl`: the record of a known key, or
/// `None` for a hash no key has (so a flood of unknown keys does not reach the store). The store
/// is asked again after `ttl`, so a revocation made elsewhere is seen within it even if the
/// change poll misses it. A new key is never in the cache as unknown: its secret is random and
/// was never presented before.
pub struct KeyCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, Entry>>,
}

/// The store's answer for a hash (`None`: no such key) and when it was given.
type Entry = (Option<Arc<KeyRecord>>, Instant);

/// The most entries kept; past it, expired ones are dropped, and if that is not enough, all.
const MAX_ENTRIES: usize = 100_000;

impl KeyCache {
    pub fn new(ttl: Duration) -> KeyCache {
        KeyCache {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// `Some(answer)` when the store's answer for `hash` is still fresh.
    fn get(&self, hash: &str) -> Option<Option<Arc<KeyRecord>>> {
        let map = self.entries.read().ok()?;
        let (rec, at) = map.get(hash)?;
        (at.elapsed() < self.ttl).then(|| rec.clone())
    }

    fn put(&self, hash: String, rec: Option<Arc<KeyRecord>>) {
        if let Ok(mut map) = self.entries.write() {
            if map.len() >= MAX_ENTRIES {
                map.retain(|_, (_, at)| at.elapsed() < self.ttl);
                if map.len() >= MAX_ENTRIES {
                    map.clear();
                }
            }
            map.insert(hash, (rec, Instant::now()));
        }
    }

    /// Forgets every verification (a key changed somewhere).
    pub fn clear(&self) {
        if let Ok(mut map) = self.entries.write() {
            map.clear();
        }
    }
}

/// Where the key came from, so it can be stripped before proxying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    Authorization,
    XApiKey,
}

/// The presented key, if any, per the accepted headers. An `Authorization` header that is not
/// `Bearer` is a malformed key, not a missing one.
pub fn presented_key<'h>(
    headers: &'h HeaderMap,
    accepted: &[String],
) -> Result<Option<(&'h str, KeySource)>, Condition> {
    for h in accepted {
        match h.as_str() {
            "authorization" => {
                if let Some(v) = headers.get(http::header::AUTHORIZATION) {
                    let v = v.to_str().map_err(|_| Condition::MalformedKey)?;
                    let (scheme, token) = v.split_once(' ').ok_or(Condition::MalformedKey)?;
                    if !scheme.eq_ignore_ascii_case("bearer") {
                        return Err(Condition::MalformedKey);
                    }
                    return Ok(Some((token.trim(), KeySource::Authorization)));
                }
            }
            "x-api-key" => {
                if let Some(v) = headers.get("x-api-key") {
                    let v = v.to_str().map_err(|_| Condition::MalformedKey)?;
                    return Ok(Some((v.trim(), KeySource::XApiKey)));
                }
            }
            _ => {}
        }
    }
    Ok(None)
}

/// Verifies a presented key.
pub async fn verify(
    prefix: &str,
    key: &str,
    store: &dyn KeyStore,
    cache: &KeyCache,
    store_timeout: Duration,
    now_secs: i64,
) -> Result<Arc<KeyRecord>, ApiError> {
    if keys::parse(prefix, key).is_none() {
        return Err(ApiError::condition(Condition::MalformedKey));
    }
    let hash = keys::hash(key);
    let rec = match cache.get(&hash) {
        Some(Some(rec)) => rec,
        Some(None) => return Err(ApiError::condition(Condition::UnknownKey)),
        None => {
            let found = tokio::time::timeout(store_timeout, store.find_by_hash(&hash)).await;
            match found {
                Ok(Ok(Some(rec))) if keys::hashes_equal(&rec.key_hash, &hash) => {
                    let rec = Arc::new(rec);
                    cache.put(hash, Some(Arc::clone(&rec)));
                    rec
                }
                Ok(Ok(_)) => {
                    cache.put(hash, None);
                    return Err(ApiError::condition(Condition::UnknownKey));
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "key store failed; refusing unverified key");
                    return Err(unavailable());
                }
                Err(_) => {
                    tracing::warn!(
                        timeout_ms = store_timeout.as_millis() as u64,
                        "key store timed out; refusing unverified key"
                    );
                    return Err(unavailable());
                }
            }
        }
    };
    if rec.revoked_at.is_some() {
        return Err(ApiError::condition(Condition::RevokedKey));
    }
    if rec.expires_at.is_some_and(|e| e <= now_secs) {
        return Err(ApiError::condition(Condition::ExpiredKey));
    }
    Ok(rec)
}

fn unavailable() -> ApiError {
    ApiError::condition(Condition::ServiceUnavailable)
        .arg("retry_after", 1)
        .retry_after(1)
}
