//! Counters in Redis, shared by several gateway instances.
//!
//! Every [`Counters::check`] is one round trip: one Lua script, run atomically by Redis, decides
//! rate, quota and concurrency in that order and writes only when all three admit the request,
//! so a refused request counts against nothing — the same semantics as [`MemoryCounters`]
//! (`memory.rs`), which the tests compare this backend against.
//!
//! Keys, per subject (the braces are a Redis Cluster hash tag, keeping a subject's keys in one
//! slot so one script may touch them all):
//!
//! - `errata:{subject}:rate`: the GCRA's theoretical arrival time (TAT, float ms). It expires
//!   when the whole capacity would be available again (plus a second), which is what an absent
//!   key means.
//! - `errata:{subject}:quota:{month}`: the month's count (`2026-11`), expiring a day after the
//!   next month starts.
//! - `errata:{subject}:inflight`: a sorted set of lease ids scored by the lease's expiry (ms).
//!   Expired members are removed before counting; the set expires one lease TTL after its last
//!   addition.
//!
//! **Time.** The script uses the `now_ms` the gateway passes in (its [`Clock`]), not Redis's
//! `TIME`, so the decisions are exactly those of the memory backend and testable with a manual
//! clock. The instances sharing a Redis must therefore keep their clocks synchronized (NTP).
//! With a skew of `d` ms, an instance whose clock runs ahead sees the rate limit refilled up to
//! `d` ms early (it admits a little more than the others would) and reclaims the others'
//! leases up to `d` ms early; one running behind sees the reverse. A month's quota changes
//! over up to `d` ms late or early. With NTP's milliseconds of skew this is noise next to any
//! practical interval. Key expiries are relative (`PEXPIRE`), so Redis's own clock doesn't
//! matter.
//!
//! **Leases.** A concurrency slot is a lease id in the inflight set with an expiry of
//! `now_ms + lease TTL` (default 60 s, [`RedisOptions::lease_ttl`], or `?lease_ttl=SECONDS` on
//! the counters URL). Dropping the [`Lease`] removes it (a spawned `ZREM`; without a Tokio
//! runtime nothing is sent and the TTL reclaims it). The leases of an instance that dies are
//! reclaimed when they expire. A request that runs longer than the TTL loses its slot while still
//! running, so the TTL should exceed the longest upstream request.
//!
//! **Failures.** Any Redis error is a [`CountersError`]; the gateway applies its fail open/closed
//! policy. Connecting and each command are bounded by timeouts, and a failed connection is not
//! retried inside a check (the next check reconnects), so a check never waits long on a Redis
//! that is down. The connection manager reconnects by itself when Redis comes back, and the
//! script is loaded again (`EVALSHA` falls back to loading it) after a Redis restart.
//!
//! **TLS.** `rediss://HOST:PORT` connects over TLS (rustls), verifying the server's certificate
//! against the system's roots, or with `?ca=/path/ca.pem` against that private CA only. The
//! certificate must name the host of the URL.
//!
//! **Redis Cluster.** `redis+cluster://HOST:PORT,HOST:PORT,…` (`rediss+cluster://` over TLS)
//! spreads subjects over the cluster's masters (`crate::redis_conn`). A subject's keys share
//! its hash tag, so the script above still touches one slot and is one round trip. When a
//! master fails, the checks of the subjects on its slots fail (the gateway's failure policy
//! applies) until its replica is promoted and the client has read the new slot map; what the
//! failed master had not yet replicated is lost, so those subjects may admit up to that many
//! requests more than their limit (see docs/gateway-config.md, "Several instances").
//!
//! [`MemoryCounters`]: super::MemoryCounters
//! [`Clock`]: super::Clock

use std::sync::LazyLock;

use async_trait::async_trait;
use errata_core::Condition;

use super::{
    Counters, CountersError, Lease, Outcome, Verdict, Window, gcra, month_bounds, month_seconds,
};
use crate::plans::Limits;
pub use crate::redis_conn::RedisOptions;
use crate::redis_conn::{Conn, Lua, Redis, Target};

/// The decision, atomically. Mirrors `gcra::step` and the order of `MemoryCounters::check`.
///
/// KEYS: rate, quota, inflight.
/// ARGV: now (ms); interval (ms, float; '' without a rate limit); capacity; quota ('' without
/// one); quota key TTL (ms); concurrency ('' without one); lease id; lease expiry (ms); lease TTL
/// (ms); slack added to the rate key's TTL (ms).
///
/// Returns {code, tat, used, now}: code 0 allowed, 1 rate limited, 2 quota exceeded, 3
/// concurrency exceeded; tat the TAT read before the request ('%.17g', exact for a double; ''
/// without a rate limit); used the month's count before the request; now the time the rate
/// limit used (never earlier than the last admitted request's). Lua numbers are doubles, as Rust's `f64`,
/// and the same operations in the same order give the same results. Only a refused request
/// returns early, before any write.
const SCRIPT: &str = r#"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local capacity = tonumber(ARGV[3])
local quota = tonumber(ARGV[4])
local concurrency = tonumber(ARGV[6])

local tat_s = ''
local now_s = string.format('%.17g', now)
local new_tat = 0
local rate_now = now
if interval then
  -- The rate key holds "TAT|time of the last admitted request". Instances read their clocks
  -- before calling here, so a request may arrive with a time earlier than one already counted:
  -- the rate limit's time never goes back.
  local v = redis.call('GET', KEYS[1])
  local tat, last = 0, 0
  if v then
    local a, b = string.match(v, '^([^|]*)|?(.*)$')
    tat = tonumber(a) or 0
    last = tonumber(b) or 0
  end
  rate_now = math.max(now, last)
  tat_s = string.format('%.17g', tat)
  now_s = string.format('%.17g', rate_now)
  local tolerance = interval * capacity
  local tat0 = math.max(tat, rate_now)
  new_tat = tat0 + interval
  local allow_at = new_tat - tolerance
  if rate_now < allow_at then
    return {1, tat_s, 0, now_s}
  end
end

local used = 0
if quota then
  used = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
  if used >= quota then
    return {2, tat_s, used, now_s}
  end
end

if concurrency then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])
  if redis.call('ZCARD', KEYS[3]) >= concurrency then
    return {3, tat_s, used, now_s}
  end
end

if interval then
  local ttl = math.min(math.ceil(new_tat - rate_now), 1e12) + tonumber(ARGV[10])
  redis.call('SET', KEYS[1], string.format('%.17g|%.17g', new_tat, rate_now), 'PX',
    string.format('%d', ttl))
end
if quota then
  redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
if concurrency then
  redis.call('ZADD', KEYS[3], ARGV[8], ARGV[7])
  redis.call('PEXPIRE', KEYS[3], ARGV[9])
end
return {0, tat_s, used, now_s}
"#;

static CHECK: LazyLock<Lua> = LazyLock::new(|| Lua::new(SCRIPT));

/// Slack on the rate key's expiry, so the TAT is never dropped while it still limits anything.
const RATE_KEY_SLACK_MS: u64 = 1000;

/// A day, past the next month's start, before a month's quota key expires.
const QUOTA_KEY_SLACK_MS: u64 = 86_400_000;

/// Counters in a Redis shared by several gateway instances.
///
/// Each worker (a single-threaded runtime) gets a connection of its own on first use, so that
/// a check never crosses threads: a connection's I/O runs as a task on the runtime that made
/// it, and one made on the main runtime would cost every request two cross-thread wake-ups.
/// Everything else (the admin API, idempotency records, tests) uses the connection made at
/// start.
#[derive(Clone)]
pub struct RedisCounters {
    redis: Redis,
    lease_ttl_ms: u64,
}

impl std::fmt::Debug for RedisCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCounters")
            .field("nodes", &self.redis.nodes)
            .field("cluster", &self.redis.is_cluster())
            .field("lease_ttl_ms", &self.lease_ttl_ms)
            .finish_non_exhaustive()
    }
}

impl RedisCounters {
    /// Connects to the Redis a `redis://`, `rediss://`, `redis+cluster://` or
    /// `rediss+cluster://` URL names. The URL may carry `lease_ttl=SECONDS` and (for TLS)
    /// `ca=PATH` in its query, taken out before the URL is handed to the client; the rest of
    /// the options are the defaults. Fails if Redis can't be reached now.
    pub async fn connect(url: &str) -> Result<RedisCounters, CountersError> {
        let target = Target::parse(url).map_err(CountersError)?;
        RedisCounters::connect_target(target).await
    }

    /// Connects with explicit options. Fails if Redis can't be reached now.
    pub async fn connect_with(
        url: &str,
        options: RedisOptions,
    ) -> Result<RedisCounters, CountersError> {
        let mut target = Target::parse(url).map_err(CountersError)?;
        target.options = options;
        RedisCounters::connect_target(target).await
    }

    async fn connect_target(target: Target) -> Result<RedisCounters, CountersError> {
        let redis = Redis::connect(&target)
            .await
            .map_err(|e| CountersError(e.0))?;
        Ok(RedisCounters {
            redis,
            lease_ttl_ms: (target.options.lease_ttl.as_millis() as u64).max(1),
        })
    }
}

/// Checks a counters URL's Redis form (scheme, nodes, errata's options) without connecting.
pub fn check_url(url: &str) -> Result<(), String> {
    Target::parse(url).map(|_| ())
}

fn key(subject: &str, suffix: &str) -> String {
    format!("errata:{{{subject}}}:{suffix}")
}

fn redis_error(e: redis::RedisError) -> CountersError {
    CountersError(format!("redis: {e}"))
}

#[async_trait]
impl Counters for RedisCounters {
    async fn check(
        &self,
        subject: &str,
        limits: &Limits,
        now_ms: u64,
    ) -> Result<Outcome, CountersError> {
        let rate = limits.rate.map(|r| {
            (
                gcra::interval_ms(r, limits.per_seconds),
                u64::from(r) + u64::from(limits.burst),
            )
        });
        let (month, next_month_ms) = month_bounds(now_ms);
        let inflight = key(subject, "inflight");
        let lease_id = format!("{:032x}", rand::random::<u128>());

        let mut invocation = CHECK.call();
        invocation
            .key(key(subject, "rate"))
            .key(key(subject, &format!("quota:{month}")))
            .key(&inflight)
            .arg(now_ms)
            .arg(rate.map_or(String::new(), |(interval, _)| interval.to_string()))
            .arg(rate.map_or(0, |(_, capacity)| capacity))
            .arg(
                limits
                    .monthly_quota
                    .map_or(String::new(), |q| q.to_string()),
            )
            .arg(next_month_ms.saturating_sub(now_ms) + QUOTA_KEY_SLACK_MS)
            .arg(limits.concurrency.map_or(String::new(), |c| c.to_string()))
            .arg(&lease_id)
            .arg(now_ms.saturating_add(self.lease_ttl_ms))
            .arg(self.lease_ttl_ms)
            .arg(RATE_KEY_SLACK_MS);
        let mut conn = self.redis.conn().await;
        let (code, tat, used, rate_now): (i64, String, u64, String) =
            invocation.run(&mut conn).await.map_err(redis_error)?;

        // The windows, computed as the memory backend does from the state the script read.
        let mut rate_window = None;
        let mut wait_ms = 0.0;
        if let Some((interval, capacity)) = rate {
            let per_seconds = limits.per_seconds;
            let tat: f64 = tat
                .parse()
                .map_err(|_| CountersError(format!("redis: unexpected TAT `{tat}`")))?;
            let rate_now: f64 = rate_now
                .parse()
                .map_err(|_| CountersError(format!("redis: unexpected time `{rate_now}`")))?;
            let step = gcra::step(tat, rate_now, interval, capacity);
            wait_ms = step.wait_ms;
            rate_window = Some(Window {
                limit: capacity,
                remaining: step.remaining,
                reset: gcra::ceil_secs(step.reset_ms).min(u64::from(per_seconds).max(1)),
                window: u64::from(per_seconds),
            });
        }
        let quota_window = limits.monthly_quota.map(|q| {
            let reset = gcra::ceil_secs(next_month_ms.saturating_sub(now_ms) as f64);
            Window {
                limit: q,
                remaining: q.saturating_sub(used).saturating_sub(1),
                reset,
                window: month_seconds(now_ms),
            }
        });

        let verdict = match code {
            0 => Verdict::Allowed(if limits.concurrency.is_some() {
                self.lease(conn.clone(), inflight, lease_id)
            } else {
                Lease::default()
            }),
            1 => {
                let capacity = rate.map_or(0, |(_, c)| c);
                return Ok(Outcome {
                    verdict: Verdict::Limited {
                        condition: Condition::RateLimited,
                        retry_after: gcra::ceil_secs(wait_ms),
                        limit: capacity,
                    },
                    rate: rate_window,
                    quota: None,
                });
            }
            2 => {
                let q = limits.monthly_quota.unwrap_or(0);
                let reset = gcra::ceil_secs(next_month_ms.saturating_sub(now_ms) as f64);
                Verdict::Limited {
                    condition: Condition::QuotaExceeded,
                    retry_after: reset,
                    limit: q,
                }
            }
            3 => Verdict::Limited {
                condition: Condition::ConcurrencyExceeded,
                retry_after: 1,
                limit: u64::from(limits.concurrency.unwrap_or(0)),
            },
            other => {
                return Err(CountersError(format!(
                    "redis: unexpected script result {other}"
                )));
            }
        };
        Ok(Outcome {
            verdict,
            rate: rate_window,
            quota: quota_window,
        })
    }

    fn idempotency_records(&self) -> Option<std::sync::Arc<dyn crate::idempotency::Records>> {
        Some(crate::idempotency::RedisRecords::new(self.redis.shared()))
    }

    /// `PING` on the calling task's connection (every master's, on a cluster), bounded by the
    /// connection's own timeouts; a failure also makes the connection reconnect for the next
    /// call.
    async fn ping(&self) -> Result<(), CountersError> {
        self.redis.ping().await.map_err(redis_error)
    }
}

impl RedisCounters {
    /// A lease that removes `id` from the inflight set when dropped.
    fn lease(&self, conn: Conn, inflight: String, id: String) -> Lease {
        Lease::new(move || {
            // Without a runtime there is nothing to send with; the lease's TTL reclaims it.
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                return;
            };
            let mut conn = conn;
            runtime.spawn(async move {
                let res: redis::RedisResult<i64> = redis::cmd("ZREM")
                    .arg(&inflight)
                    .arg(&id)
                    .query_async(&mut conn)
                    .await;
                if let Err(e) = res {
                    tracing::warn!(error = %e, "releasing a concurrency lease failed; its TTL will reclaim it");
                }
            });
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_a_hash_tag() {
        assert_eq!(key("k_1", "rate"), "errata:{k_1}:rate");
        assert_eq!(key("k_1", "quota:2026-11"), "errata:{k_1}:quota:2026-11");
    }
}
