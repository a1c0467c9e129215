//! Authentication: the key from the request, its hash, the verified-key cache
//! ([`errata_store::key_cache`]), the store; then the distinct conditions missing, malformed,
//! unknown, revoked and expired.

use std::sync::Arc;
use std::time::Duration;

use crate::lookup::{HeaderLookup, visible};
use errata_core::{ApiError, Condition};

use errata_store::db::{KeyRecord, KeyStore};
use errata_store::key_cache::{KeyCache, Unavailable};
use errata_store::keys;

/// Where the key came from, so it can be stripped before proxying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    Authorization,
    XApiKey,
}

/// The presented key, if any, per the accepted headers. An `Authorization` header that is not
/// `Bearer` is a malformed key, not a missing one.
pub fn presented_key<'h, H: HeaderLookup + ?Sized>(
    headers: &'h H,
    accepted: &[String],
) -> Result<Option<(&'h str, KeySource)>, Condition> {
    for h in accepted {
        match h.as_str() {
            "authorization" => {
                if let Some(v) = headers.first("authorization") {
                    let v = visible(v).ok_or(Condition::MalformedKey)?;
                    let (scheme, token) = v.split_once(' ').ok_or(Condition::MalformedKey)?;
                    if !scheme.eq_ignore_ascii_case("bearer") {
                        return Err(Condition::MalformedKey);
                    }
                    return Ok(Some((token.trim(), KeySource::Authorization)));
                }
            }
            "x-api-key" => {
                if let Some(v) = headers.first("x-api-key") {
                    let v = visible(v).ok_or(Condition::MalformedKey)?;
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
    let rec = find(prefix, key, store, cache, store_timeout).await?;
    usable(&rec, now_secs)?;
    Ok(rec)
}

/// The record of a presented key, usable or not: malformed, unknown and an unavailable store
/// are refusals here; revoked and expired are [`usable`]'s.
pub async fn find(
    prefix: &str,
    key: &str,
    store: &dyn KeyStore,
    cache: &KeyCache,
    store_timeout: Duration,
) -> Result<Arc<KeyRecord>, ApiError> {
    find_noting(prefix, key, store, cache, store_timeout, &mut None).await
}

/// [`find`], noting in `lookup` whether the key was looked up (not for a malformed key) and
/// then whether the key cache answered without the store (`Some(true)`).
pub async fn find_noting(
    prefix: &str,
    key: &str,
    store: &dyn KeyStore,
    cache: &KeyCache,
    store_timeout: Duration,
    lookup: &mut Option<bool>,
) -> Result<Arc<KeyRecord>, ApiError> {
    if keys::parse(prefix, key).is_none() {
        return Err(ApiError::condition(Condition::MalformedKey));
    }
    let hash = keys::hash(key);
    let cached = lookup.insert(false);
    let rec = match cache
        .answer_noting(&hash, store, store_timeout, cached)
        .await
    {
        Ok(Some(rec)) => rec,
        Ok(None) => return Err(ApiError::condition(Condition::UnknownKey)),
        Err(Unavailable::Failed(e)) => {
            tracing::warn!(error = %e, "key store failed; refusing unverified key");
            return Err(unavailable());
        }
        Err(Unavailable::TimedOut) => {
            tracing::warn!(
                timeout_ms = store_timeout.as_millis() as u64,
                "key store timed out; refusing unverified key"
            );
            return Err(unavailable());
        }
    };
    Ok(rec)
}

/// Whether a found key may be used at `now_secs`: not revoked, not expired.
pub fn usable(rec: &KeyRecord, now_secs: i64) -> Result<(), ApiError> {
    if rec.revoked_at.is_some() {
        return Err(ApiError::condition(Condition::RevokedKey));
    }
    if rec.expires_at.is_some_and(|e| e <= now_secs) {
        return Err(ApiError::condition(Condition::ExpiredKey));
    }
    Ok(())
}

fn unavailable() -> ApiError {
    ApiError::condition(Condition::ServiceUnavailable)
        .arg("retry_after", 1)
        .retry_after(1)
}
