//! Limits: rate (GCRA with burst), monthly quota (calendar month, UTC) and concurrency, decided
//! together in one call to a counters backend, so a distributed backend needs one round trip.
//!
//! The rate limit is a GCRA: `rate` requests per `per_seconds`, refilled continuously, with room
//! for `rate + burst` at once. A request is counted only when every limit admits it.

mod clock;
mod memory;
mod redis;

use std::sync::Arc;

use async_trait::async_trait;
use errata_core::Condition;
use serde::Deserialize;

pub use clock::{Clock, ManualClock, SystemClock, month_bounds, month_seconds};
pub use memory::MemoryCounters;
pub use redis::{RedisCounters, RedisOptions, check_url};

use crate::plans::Limits;

/// What to do when a dependency on the request path (counters, store) fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FailurePolicy {
    /// Allow the request, log it and count it in a metric.
    Open,
    /// Answer with the catalog's unavailable code.
    #[default]
    Closed,
}

/// The state of one limit after a decision, for the response headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Requests the policy allows per window.
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the limit is fully available again.
    pub reset: u64,
    /// The policy's window in seconds.
    pub window: u64,
}

/// What the counters said.
#[derive(Debug)]
pub enum Verdict {
    /// Counted; the lease holds the concurrency slot until dropped.
    Allowed(Lease),
    /// Refused; nothing was counted.
    Limited {
        condition: Condition,
        /// Whole seconds, at least 1, never before the real reset.
        retry_after: u64,
        limit: u64,
    },
}

/// A decision with the state of each configured limit.
#[derive(Debug)]
pub struct Outcome {
    pub verdict: Verdict,
    pub rate: Option<Window>,
    pub quota: Option<Window>,
}

/// A counters failure (unreachable, timed out).
#[derive(Debug, thiserror::Error)]
#[error("counters: {0}")]
pub struct CountersError(pub String);

/// A held concurrency slot; released on drop.
#[derive(Default)]
pub struct Lease {
    release: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.release.is_some() {
            "Lease(held)"
        } else {
            "Lease(none)"
        })
    }
}

impl Lease {
    /// A lease that releases by running `f`.
    pub fn new(f: impl FnOnce() + Send + Sync + 'static) -> Lease {
        Lease {
            release: Some(Box::new(f)),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(f) = self.release.take() {
            f();
        }
    }
}

/// Where counters live: memory for one instance, Redis for several.
#[async_trait]
pub trait Counters: Send + Sync + 'static {
    /// Decides rate, quota and concurrency for `subject` at `now_ms` (Unix milliseconds), and
    /// counts the request only if all admit it.
    async fn check(
        &self,
        subject: &str,
        limits: &Limits,
        now_ms: u64,
    ) -> Result<Outcome, CountersError>;

    /// Where idempotency records live beside these counters; `None`: in this process's
    /// memory.
    fn idempotency_records(&self) -> Option<Arc<dyn crate::idempotency::Records>> {
        None
    }

    /// A cheap round trip that says the backend answers, for readiness checks (the caller
    /// bounds it with its timeout). In this process's memory there is nothing to reach.
    async fn ping(&self) -> Result<(), CountersError> {
        Ok(())
    }
}

/// Opens the counters a URL names: `memory:` for this process; for several instances,
/// `redis://` (or `rediss://`) for one Redis and `redis+cluster://` (or `rediss+cluster://`)
/// for a Redis Cluster, connecting to it now.
pub async fn open(url: &str) -> Result<Arc<dyn Counters>, CountersError> {
    if url.starts_with("memory:") {
        Ok(Arc::new(MemoryCounters::default()))
    } else if is_redis(url) {
        Ok(Arc::new(RedisCounters::connect(url).await?))
    } else {
        Err(CountersError(format!("unsupported counters URL `{url}`")))
    }
}

/// Whether a counters URL names Redis (one node or a cluster, plain or over TLS), and if so
/// whether over TLS: `Some(tls)`.
pub fn redis_tls(url: &str) -> Option<bool> {
    crate::redis_conn::redis_tls(url)
}

/// Whether a counters URL names Redis: one node or a cluster, plain or over TLS.
pub fn is_redis(url: &str) -> bool {
    redis_tls(url).is_some()
}

/// GCRA arithmetic shared by every backend (the Redis script mirrors it).
pub mod gcra {
    /// Emission interval: milliseconds per request at the sustained rate.
    pub fn interval_ms(rate: u32, per_seconds: u32) -> f64 {
        f64::from(per_seconds) * 1000.0 / f64::from(rate.max(1))
    }

    /// The result of one GCRA step.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Step {
        pub allowed: bool,
        /// The new theoretical arrival time if allowed (ms).
        pub tat: f64,
        /// Milliseconds until a request would be allowed (0 if allowed).
        pub wait_ms: f64,
        pub remaining: u64,
        /// Milliseconds until the bucket is full again.
        pub reset_ms: f64,
    }

    /// One request at `now` against a bucket of `capacity` refilled every `interval` ms.
    pub fn step(tat: f64, now: f64, interval: f64, capacity: u64) -> Step {
        let tolerance = interval * capacity as f64;
        let tat0 = tat.max(now);
        let new_tat = tat0 + interval;
        let allow_at = new_tat - tolerance;
        if now < allow_at {
            let used = tat0 - now;
            Step {
                allowed: false,
                tat,
                wait_ms: allow_at - now,
                remaining: 0,
                reset_ms: used,
            }
        } else {
            let used = new_tat - now;
            let remaining = ((tolerance - used) / interval).floor().max(0.0) as u64;
            Step {
                allowed: true,
                tat: new_tat,
                wait_ms: 0.0,
                remaining,
                reset_ms: used,
            }
        }
    }

    /// Whole seconds for Retry-After: rounded up, at least 1.
    pub fn ceil_secs(ms: f64) -> u64 {
        ((ms / 1000.0).ceil() as u64).max(1)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn capacity_then_one_per_interval() {
            let interval = interval_ms(10, 60); // 6 s per request
            let mut tat = 0.0;
            for i in 0..10 {
                let s = step(tat, 1000.0, interval, 10);
                assert!(s.allowed, "request {i}");
                assert_eq!(s.remaining, 9 - i);
                tat = s.tat;
            }
            let s = step(tat, 1000.0, interval, 10);
            assert!(!s.allowed);
            assert_eq!(s.wait_ms, 6000.0);
            assert_eq!(ceil_secs(s.wait_ms), 6);
            // One interval later exactly one more is allowed.
            assert!(step(tat, 7000.0, interval, 10).allowed);
            // A full window later the whole capacity is back.
            let s = step(tat, 61_000.0, interval, 10);
            assert!(s.allowed);
            assert_eq!(s.remaining, 9);
        }
    }
}
