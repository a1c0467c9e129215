//! Retry guidance derived from the catalog: which codes to retry after `Retry-After`, which with
//! plain backoff, and which never (grouped by status).

use std::collections::BTreeMap;

use errata_core::{Catalog, reason_phrase};
use serde::Serialize;

use crate::example;

/// What a client should do about retrying, code by code.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RetryGuide {
    /// Retryable codes that send `Retry-After`: wait that long first.
    pub after: Vec<RetryCode>,
    /// Retryable codes without `Retry-After`: exponential backoff with jitter.
    pub backoff: Vec<RetryCode>,
    /// Codes a retry of the same request cannot fix, grouped by status.
    pub never: Vec<StatusCodes>,
}

/// One retryable code.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RetryCode {
    pub code: String,
    pub status: u16,
    /// The example `Retry-After` seconds, when the code sends one.
    pub retry_after: Option<u64>,
}

/// The codes of one status.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct StatusCodes {
    pub status: u16,
    pub reason: &'static str,
    pub codes: Vec<String>,
}

/// Sorts every code of the catalog into the guide.
pub(crate) fn guide(catalog: &Catalog) -> RetryGuide {
    let mut after = Vec::new();
    let mut backoff = Vec::new();
    let mut never: BTreeMap<u16, Vec<String>> = BTreeMap::new();
    for def in catalog.codes() {
        if !def.retryable {
            never.entry(def.status).or_default().push(def.code.clone());
            continue;
        }
        let entry = RetryCode {
            code: def.code.clone(),
            status: def.status,
            retry_after: example::retry_after(def),
        };
        if example::honours_retry_after(def) {
            after.push(entry);
        } else {
            backoff.push(entry);
        }
    }
    RetryGuide {
        after,
        backoff,
        never: never
            .into_iter()
            .map(|(status, codes)| StatusCodes {
                status,
                reason: reason_phrase(status),
                codes,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_guide_sorts_codes() {
        let g = guide(Catalog::builtin());
        let after: Vec<&str> = g.after.iter().map(|c| c.code.as_str()).collect();
        assert_eq!(
            after,
            [
                "rate_limit_exceeded",
                "concurrent_requests_exceeded",
                "service_unavailable"
            ]
        );
        assert!(g.backoff.iter().any(|c| c.code == "internal_error"));
        assert!(
            g.never
                .iter()
                .any(|s| s.codes.iter().any(|c| c == "quota_exceeded"))
        );
    }
}
