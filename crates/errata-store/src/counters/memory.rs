//! Counters in this process's memory: the embedded default for one gateway instance.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use errata_core::Condition;

use super::{
    Counters, CountersError, Lease, Outcome, Verdict, Window, gcra, month_bounds, month_seconds,
};
use crate::plans::Limits;

const SHARDS: usize = 32;

#[derive(Default)]
struct Subject {
    tat: f64,
    /// When the last admitted request was counted: the rate limit's time never goes back, even
    /// when a request read the clock before one that was counted first.
    last: f64,
    month: String,
    used: u64,
    in_flight: u32,
}

/// In-memory counters, sharded by subject to keep lock contention low.
pub struct MemoryCounters {
    shards: Arc<Vec<Mutex<HashMap<String, Subject>>>>,
}

impl Default for MemoryCounters {
    fn default() -> Self {
        MemoryCounters {
            shards: Arc::new((0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect()),
        }
    }
}

fn shard_of(subject: &str) -> usize {
    let mut h = DefaultHasher::new();
    subject.hash(&mut h);
    (h.finish() as usize) % SHARDS
}

#[async_trait]
impl Counters for MemoryCounters {
    async fn check(
        &self,
        subject: &str,
        limits: &Limits,
        now_ms: u64,
    ) -> Result<Outcome, CountersError> {
        let shard = shard_of(subject);
        let mut map = self.shards[shard]
            .lock()
            .map_err(|_| CountersError("counter lock poisoned".into()))?;
        if !map.contains_key(subject) {
            map.insert(subject.to_owned(), Subject::default());
        }
        let Some(s) = map.get_mut(subject) else {
            return Err(CountersError("counter vanished".into()));
        };
        let now = (now_ms as f64).max(s.last);

        // Rate.
        let mut rate = None;
        let mut rate_step = None;
        if let Some(r) = limits.rate {
            let capacity = u64::from(r) + u64::from(limits.burst);
            let interval = gcra::interval_ms(r, limits.per_seconds);
            let step = gcra::step(s.tat, now, interval, capacity);
            rate = Some(Window {
                limit: capacity,
                remaining: step.remaining,
                reset: gcra::ceil_secs(step.reset_ms).min(u64::from(limits.per_seconds).max(1)),
                window: u64::from(limits.per_seconds),
            });
            if !step.allowed {
                return Ok(Outcome {
                    verdict: Verdict::Limited {
                        condition: Condition::RateLimited,
                        retry_after: gcra::ceil_secs(step.wait_ms),
                        limit: capacity,
                    },
                    rate,
                    quota: None,
                });
            }
            rate_step = Some(step);
        }

        // Quota.
        let mut quota = None;
        if let Some(q) = limits.monthly_quota {
            let (month, next_ms) = month_bounds(now_ms);
            if s.month != month {
                s.month = month;
                s.used = 0;
            }
            let reset = gcra::ceil_secs(next_ms.saturating_sub(now_ms) as f64);
            if s.used >= q {
                return Ok(Outcome {
                    verdict: Verdict::Limited {
                        condition: Condition::QuotaExceeded,
                        retry_after: reset,
                        limit: q,
                    },
                    rate,
                    quota: Some(Window {
                        limit: q,
                        remaining: 0,
                        reset,
                        window: month_seconds(now_ms),
                    }),
                });
            }
            quota = Some(Window {
                limit: q,
                remaining: q - s.used - 1,
                reset,
                window: month_seconds(now_ms),
            });
        }

        // Concurrency.
        if let Some(c) = limits.concurrency
            && s.in_flight >= c
        {
            return Ok(Outcome {
                verdict: Verdict::Limited {
                    condition: Condition::ConcurrencyExceeded,
                    retry_after: 1,
                    limit: u64::from(c),
                },
                rate,
                quota,
            });
        }

        // Every limit admits the request: count it.
        if let Some(step) = rate_step {
            s.tat = step.tat;
            s.last = now;
        }
        if quota.is_some() {
            s.used += 1;
        }
        let lease = if limits.concurrency.is_some() {
            s.in_flight += 1;
            let shards = Arc::clone(&self.shards);
            let key = subject.to_owned();
            Lease::new(move || {
                if let Ok(mut map) = shards[shard].lock()
                    && let Some(s) = map.get_mut(&key)
                {
                    s.in_flight = s.in_flight.saturating_sub(1);
                }
            })
        } else {
            Lease::default()
        };
        Ok(Outcome {
            verdict: Verdict::Allowed(lease),
            rate,
            quota,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate: Option<u32>, quota: Option<u64>, concurrency: Option<u32>) -> Limits {
        Limits {
            rate,
            per_seconds: 60,
            burst: 0,
            monthly_quota: quota,
            concurrency,
        }
    }

    #[tokio::test]
    async fn a_refused_request_counts_against_nothing() {
        let c = MemoryCounters::default();
        let l = limits(Some(100), Some(2), None);
        let now = 1_790_000_000_000;
        for _ in 0..2 {
            assert!(matches!(
                c.check("k", &l, now).await.unwrap().verdict,
                Verdict::Allowed(_)
            ));
        }
        let o = c.check("k", &l, now).await.unwrap();
        assert!(matches!(
            o.verdict,
            Verdict::Limited {
                condition: Condition::QuotaExceeded,
                ..
            }
        ));
        // The rate limit did not count the refused request: 98 remain after 2 allowed.
        let o = c.check("other", &l, now).await.unwrap();
        assert_eq!(o.rate.unwrap().remaining, 99);
    }

    #[tokio::test]
    async fn a_request_that_read_the_clock_earlier_is_counted_at_the_latest_time() {
        // Capacity 3, one request per 20 s: three at t, then one stamped 5 s before t (its
        // instance read the clock first) must not find the bucket fuller than it is.
        let c = MemoryCounters::default();
        let l = limits(Some(3), None, None);
        let t = 1_790_000_000_000;
        for _ in 0..2 {
            assert!(matches!(
                c.check("k", &l, t).await.unwrap().verdict,
                Verdict::Allowed(_)
            ));
        }
        let late = c.check("k", &l, t - 5_000).await.unwrap();
        assert!(
            matches!(late.verdict, Verdict::Allowed(_)),
            "the third of three is admitted"
        );
        assert_eq!(late.rate.unwrap().remaining, 0);
        let o = c.check("k", &l, t).await.unwrap();
        assert!(matches!(
            o.verdict,
            Verdict::Limited {
                retry_after: 20,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn concurrency_slots_are_released_on_drop() {
        let c = MemoryCounters::default();
        let l = limits(None, None, Some(1));
        let first = c.check("k", &l, 0).await.unwrap();
        let o = c.check("k", &l, 0).await.unwrap();
        assert!(matches!(
            o.verdict,
            Verdict::Limited {
                condition: Condition::ConcurrencyExceeded,
                retry_after: 1,
                limit: 1
            }
        ));
        drop(first);
        assert!(matches!(
            c.check("k", &l, 0).await.unwrap().verdict,
            Verdict::Allowed(_)
        ));
    }
}
