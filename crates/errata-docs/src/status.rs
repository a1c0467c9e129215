//! The status-code table: each status the catalog uses, its reason phrase, its codes and
//! whether retrying helps (yes, no, or mixed when it depends on the code).

use std::collections::BTreeMap;

use errata_core::{Catalog, CodeDef, reason_phrase};
use serde::Serialize;

/// One status of the catalog.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct StatusRow {
    pub status: u16,
    pub reason: &'static str,
    pub codes: Vec<String>,
    /// `yes`, `no` or `mixed`.
    pub retryable: &'static str,
}

/// Every status the catalog uses, in ascending order.
pub(crate) fn rows(catalog: &Catalog) -> Vec<StatusRow> {
    let mut by_status: BTreeMap<u16, Vec<&CodeDef>> = BTreeMap::new();
    for def in catalog.codes() {
        by_status.entry(def.status).or_default().push(def);
    }
    by_status
        .into_iter()
        .map(|(status, defs)| {
            let retryable = if defs.iter().all(|d| d.retryable) {
                "yes"
            } else if defs.iter().any(|d| d.retryable) {
                "mixed"
            } else {
                "no"
            };
            StatusRow {
                status,
                reason: reason_phrase(status),
                codes: defs.iter().map(|d| d.code.clone()).collect(),
                retryable,
            }
        })
        .collect()
}

/// The statuses the catalog uses, ascending and without repeats.
pub(crate) fn used(catalog: &Catalog) -> Vec<u16> {
    let mut out: Vec<u16> = catalog.codes().iter().map(|d| d.status).collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_statuses_say_when_retry_helps() {
        let rows = rows(Catalog::builtin());
        let of = |s: u16| rows.iter().find(|r| r.status == s).expect("status used");
        assert_eq!(of(401).retryable, "no");
        assert_eq!(of(409).retryable, "mixed");
        assert_eq!(of(503).retryable, "yes");
        assert_eq!(of(429).reason, "Too Many Requests");
        assert_eq!(rows.len(), used(Catalog::builtin()).len());
    }
}
