//! Authenticate: the presented key, verified against the cache and the store.
//!
//! A key the store knows names its tenant on the trace before it is judged, so that a refusal
//! of a known key (revoked, expired, and every later stage's) is logged, recorded and counted
//! as that key's and tenant's. A missing, malformed or unknown key names nobody. The record of
//! a revoked or expired key comes from the same cached lookup that refuses it: no extra query.

use std::sync::Arc;

use errata_core::{ApiError, Condition};

use crate::auth::{self, KeySource};
use crate::config::Route;
use crate::gateway::{Gateway, Trace};
use crate::lookup::HeaderLookup;
use crate::trace_context::Stage;
use errata_store::db::KeyRecord;

/// The verified key of a request and the header it came in.
pub struct Caller {
    pub record: Arc<KeyRecord>,
    pub source: KeySource,
}

/// The caller, or `None` on a route that needs no key. A key found in the store, usable or
/// not, is named on `trace` (its id and tenant).
pub async fn authenticate<H: HeaderLookup + ?Sized>(
    gw: &Gateway,
    route: &Route,
    headers: &H,
    now_ms: u64,
    trace: &mut Trace,
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
    let since = trace.trace_context.clock();
    let mut lookup = None;
    let found = auth::find_noting(
        &cfg.key_prefix,
        presented,
        gw.store.as_ref(),
        &gw.cache,
        cfg.store_timeout,
        &mut lookup,
    )
    .await;
    // A malformed key is refused before any lookup: nothing to time.
    if let Some(cached) = lookup {
        trace
            .trace_context
            .record(Stage::KeyLookup { cached }, since);
    }
    let record = found?;
    trace.key_id = Some(record.id.clone());
    trace.tenant = Some(record.tenant.clone());
    auth::usable(&record, (now_ms / 1000) as i64)?;
    Ok(Some(Caller { record, source }))
}
