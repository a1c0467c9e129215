//! Authenticate: the presented key, verified against the cache and the store.

use std::sync::Arc;

use errata_core::{ApiError, Condition};

use crate::auth::{self, KeySource};
use crate::config::Route;
use crate::gateway::Gateway;
use crate::lookup::HeaderLookup;
use errata_store::db::KeyRecord;

/// The verified key of a request and the header it came in.
pub struct Caller {
    pub record: Arc<KeyRecord>,
    pub source: KeySource,
}

/// The caller, or `None` on a route that needs no key.
pub async fn authenticate<H: HeaderLookup + ?Sized>(
    gw: &Gateway,
    route: &Route,
    headers: &H,
    now_ms: u64,
) -> Result<Option<Caller>, ApiError> {
    if !route.auth {
        return Ok(None);
    }
    let cfg = &gw.config;
    let (presented, source) = match auth::presented_key(headers, &cfg.key_headers) {
        Err(c) => return Err(ApiError::condition(c)),
        Ok(None) => return Err(ApiError::condition(Condition::MissingKey)),
        Ok(Some(k)) => k,
    };
    let record = auth::verify(
        &cfg.key_prefix,
        presented,
        gw.store.as_ref(),
        &gw.cache,
        cfg.store_timeout,
        (now_ms / 1000) as i64,
    )
    .await?;
    Ok(Some(Caller { record, source }))
}
