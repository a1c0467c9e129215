//! The request log and usage counts: what the gateway answered, recorded off the request path.
//!
//! The request path hands a [`Record`] to the [`Recorder`]: usage is counted in memory at once
//! (exact), in the answering worker's own counts (no lock shared between workers), the record
//! itself goes through a bounded queue (`try_send`: when full it is dropped
//! and counted, never waited for). A flush task ([`crate::flush`]) writes both to the key store in
//! batches and applies retention.

pub mod config;
pub mod usage;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

pub use config::RequestLogConfig;
pub use usage::{LimitState, UsageKey};

use crate::counters::Window;

/// One answered request. Never the key, never a body; the path without its query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = RequestRecord)]
pub struct Record {
    /// The request id the response carried.
    #[schema(examples("req_8Hk2nQ4xY7"))]
    pub request_id: String,
    /// When the request arrived, Unix milliseconds.
    pub time_ms: i64,
    pub method: String,
    /// The request path, without the query string.
    pub path: String,
    /// The configured route it matched (`unmatched` when none).
    pub route: String,
    pub key_id: Option<String>,
    pub tenant: Option<String>,
    /// The status the client got.
    #[schema(minimum = 100, maximum = 599)]
    pub status: u16,
    /// The catalog code of an error answer; null for successes.
    pub code: Option<String>,
    /// Time to the response head, microseconds.
    pub latency_us: i64,
    /// The upstream's status, when the request reached it.
    pub upstream_status: Option<u16>,
    /// The upstream's own request id (its request-id header, or the id in its error
    /// envelope), when it sent one that is not the gateway's.
    pub upstream_request_id: Option<String>,
}

/// Takes records from the request path.
pub struct Recorder {
    config: RequestLogConfig,
    queue: mpsc::Sender<Record>,
    pending: Mutex<Option<mpsc::Receiver<Record>>>,
    /// Usage since the last flush, one set per worker.
    counts: Vec<Mutex<usage::Counts>>,
    dropped: AtomicU64,
}

impl Recorder {
    /// A recorder for `workers` workers.
    pub fn new(config: RequestLogConfig, workers: usize) -> Recorder {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        Recorder {
            config,
            queue: tx,
            pending: Mutex::new(Some(rx)),
            counts: (0..workers.max(1))
                .map(|_| Mutex::new(usage::Counts::default()))
                .collect(),
            dropped: AtomicU64::new(0),
        }
    }

    pub fn config(&self) -> &RequestLogConfig {
        &self.config
    }

    /// Whether records are taken at all (the request path builds none when not).
    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// Records one request answered by `worker`; `windows` is the key's limit state after it,
    /// if limited. Costs the worker's own (uncontended) lock and a queue slot; never waits.
    pub fn record(&self, worker: usize, rec: Record, windows: (Option<Window>, Option<Window>)) {
        if !self.config.enabled {
            return;
        }
        let counts = &self.counts[worker % self.counts.len()];
        if let (Some(key_id), Some(tenant)) = (&rec.key_id, &rec.tenant)
            && let Ok(mut c) = counts.lock()
        {
            c.add(
                UsageKey {
                    minute: rec.time_ms.div_euclid(60_000) * 60,
                    key_id: key_id.clone(),
                    tenant: tenant.clone(),
                    route: rec.route.clone(),
                    status: rec.status,
                    code: rec.code.clone().unwrap_or_default(),
                },
                windows,
                rec.time_ms / 1000,
            );
        }
        let keep = rec.status >= 400
            || self.config.success_sample >= 1.0
            || rand::random::<f64>() < self.config.success_sample;
        if keep && self.queue.try_send(rec).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("errata_request_log_dropped_total").increment(1);
        }
    }

    /// Records dropped because the queue was full, since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The queue's receiving end, once (for the flush task).
    pub fn take_queue(&self) -> Option<mpsc::Receiver<Record>> {
        self.pending.lock().ok().and_then(|mut p| p.take())
    }

    /// Usage counted since the last call.
    pub fn take_counts(&self) -> Vec<(UsageKey, u64)> {
        let mut all: std::collections::HashMap<UsageKey, u64> = std::collections::HashMap::new();
        for c in &self.counts {
            if let Ok(mut c) = c.lock() {
                for (k, n) in c.take() {
                    *all.entry(k).or_insert(0) += n;
                }
            }
        }
        all.into_iter().collect()
    }

    /// The limit state of a key as of its last request here (on any worker).
    pub fn limit_state(&self, key_id: &str) -> Option<LimitState> {
        self.counts
            .iter()
            .filter_map(|c| c.lock().ok().and_then(|c| c.limit_state(key_id)))
            .max_by_key(|s| s.observed_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(time_ms: i64) -> Record {
        Record {
            request_id: "req_1".into(),
            time_ms,
            method: "GET".into(),
            path: "/a".into(),
            route: "/*".into(),
            key_id: Some("key_1".into()),
            tenant: Some("acme".into()),
            status: 200,
            code: None,
            latency_us: 10,
            upstream_status: Some(200),
            upstream_request_id: None,
        }
    }

    fn window(remaining: u64) -> Window {
        Window {
            limit: 10,
            remaining,
            reset: 6,
            window: 60,
        }
    }

    #[test]
    fn usage_from_every_worker_adds_up_and_the_newest_limit_state_wins() {
        let r = Recorder::new(RequestLogConfig::default(), 3);
        r.record(0, rec(60_000), (Some(window(9)), None));
        r.record(2, rec(61_000), (Some(window(8)), None));
        r.record(7, rec(62_000), (None, None)); // past the last worker: wraps, still counted
        let counts = r.take_counts();
        assert_eq!(counts.len(), 1);
        assert_eq!(counts[0].1, 3);
        assert_eq!(counts[0].0.minute, 60);
        let state = r.limit_state("key_1").map(|s| (s.observed_at, s.rate));
        assert_eq!(state, Some((61, Some(window(8).into()))));
        assert!(r.take_counts().is_empty());
    }
}
