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
//! [`MemoryCounters`]: super::MemoryCounters
//! [`Clock`]: super::Clock

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use errata_core::Condition;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{
    Counters, CountersError, Lease, Outcome, Verdict, Window, gcra, month_bounds, month_seconds,
};
use crate::plans::Limits;

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

static CHECK: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(SCRIPT));

/// Slack on the rate key's expiry, so the TAT is never dropped while it still limits anything.
const RATE_KEY_SLACK_MS: u64 = 1000;

/// A day, past the next month's start, before a month's quota key expires.
const QUOTA_KEY_SLACK_MS: u64 = 86_400_000;

/// How a [`RedisCounters`] connects and holds leases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedisOptions {
    /// How long a concurrency slot is held without being released; a request running longer
    /// loses its slot. Slots of an instance that died are reclaimed after this.
    pub lease_ttl: Duration,
    /// Bound on establishing a connection.
    pub connect_timeout: Duration,
    /// Bound on each command's response.
    pub response_timeout: Duration,
}

/// errata's own settings carried in a counters URL's query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct UrlSettings {
    options: RedisOptions,
    /// `ca=`: the PEM file of a private CA for a `rediss://` server.
    ca: Option<std::path::PathBuf>,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            lease_ttl: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_millis(500),
        }
    }
}

/// Counters in a Redis shared by several gateway instances.
///
/// Each worker (a single-threaded runtime) gets a connection of its own on first use, so that
/// a check never crosses threads: a connection's I/O runs as a task on the runtime that made
/// it, and one made on the main runtime would cost every request two cross-thread wake-ups.
/// Everything else (the admin API, idempotency records, tests) uses the connection made at
/// start.
#[derive(Clone)]
pub struct RedisCounters {
    conn: ConnectionManager,
    client: redis::Client,
    config: ConnectionManagerConfig,
    /// Tells this instance's per-thread connections from another's.
    id: u64,
    lease_ttl_ms: u64,
}

thread_local! {
    /// The connections made on this thread's runtime, by [`RedisCounters::id`].
    static LOCAL: std::cell::RefCell<std::collections::HashMap<u64, LocalConn>> =
        std::cell::RefCell::default();
}

type LocalConn = std::sync::Arc<tokio::sync::OnceCell<ConnectionManager>>;

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl std::fmt::Debug for RedisCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCounters")
            .field("lease_ttl_ms", &self.lease_ttl_ms)
            .finish_non_exhaustive()
    }
}

impl RedisCounters {
    /// Connects to the Redis a `redis://` or `rediss://` URL names. The URL may carry
    /// `lease_ttl=SECONDS` and (for `rediss://`) `ca=PATH` in its query, taken out before the
    /// URL is handed to the client; the rest of the options are the defaults.
    pub async fn connect(url: &str) -> Result<RedisCounters, CountersError> {
        let (url, settings) = split_options(url)?;
        let client = client(&url, settings.ca.as_deref())?;
        RedisCounters::connect_client(client, settings.options).await
    }

    /// Connects with explicit options. Fails if Redis can't be reached now.
    pub async fn connect_with(
        url: &str,
        options: RedisOptions,
    ) -> Result<RedisCounters, CountersError> {
        RedisCounters::connect_client(client(url, None)?, options).await
    }

    async fn connect_client(
        client: redis::Client,
        options: RedisOptions,
    ) -> Result<RedisCounters, CountersError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.response_timeout))
            // One attempt per reconnection: a check waiting on a Redis that is down fails
            // within the connect timeout, and the next check tries again.
            .set_number_of_retries(0);
        let conn = ConnectionManager::new_with_config(client.clone(), config.clone())
            .await
            .map_err(|e| CountersError(format!("cannot connect to Redis: {e}")))?;
        Ok(RedisCounters {
            conn,
            client,
            config,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            lease_ttl_ms: (options.lease_ttl.as_millis() as u64).max(1),
        })
    }

    /// The connection for the calling task: on a worker's single-threaded runtime, that
    /// worker's own (made on first use; until it connects, the shared one); elsewhere, the
    /// shared one.
    async fn conn(&self) -> ConnectionManager {
        use tokio::runtime::{Handle, RuntimeFlavor};
        let on_worker =
            Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::CurrentThread);
        if !on_worker {
            return self.conn.clone();
        }
        let cell = LOCAL.with(|l| l.borrow_mut().entry(self.id).or_default().clone());
        if let Some(c) = cell.get() {
            return c.clone();
        }
        let made = cell
            .get_or_try_init(|| {
                ConnectionManager::new_with_config(self.client.clone(), self.config.clone())
            })
            .await;
        match made {
            Ok(c) => c.clone(),
            Err(e) => {
                tracing::debug!(error = %e, "no worker connection to Redis yet; using the shared one");
                self.conn.clone()
            }
        }
    }
}

/// A client for the URL; `rediss://` over TLS, trusting `ca` when given.
fn client(url: &str, ca: Option<&std::path::Path>) -> Result<redis::Client, CountersError> {
    let invalid = |e: redis::RedisError| CountersError(format!("invalid Redis URL: {e}"));
    if !url.starts_with("rediss://") {
        if ca.is_some() {
            return Err(CountersError(
                "`ca` is only for TLS connections: use a rediss:// URL".into(),
            ));
        }
        return redis::Client::open(url).map_err(invalid);
    }
    crate::install_tls_provider();
    let root_cert = match ca {
        None => None,
        Some(path) => Some(std::fs::read(path).map_err(|e| {
            CountersError(format!(
                "{}: cannot read the counters CA bundle: {e}",
                path.display()
            ))
        })?),
    };
    redis::Client::build_with_tls(
        url,
        redis::TlsCertificates {
            client_tls: None,
            root_cert,
        },
    )
    .map_err(invalid)
}

/// Takes errata's own options out of a counters URL's query.
fn split_options(url: &str) -> Result<(String, UrlSettings), CountersError> {
    let mut settings = UrlSettings::default();
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), settings));
    };
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("lease_ttl", v)) => {
                let secs: u64 =
                    v.parse().ok().filter(|&s| s > 0).ok_or_else(|| {
                        CountersError(format!("invalid lease_ttl `{v}` (seconds)"))
                    })?;
                settings.options.lease_ttl = Duration::from_secs(secs);
            }
            Some(("ca", v)) => {
                let path = form_urlencoded::parse(format!("p={v}").as_bytes())
                    .next()
                    .map_or_else(|| v.to_owned(), |(_, p)| p.into_owned());
                settings.ca = Some(path.into());
            }
            _ => rest.push(pair),
        }
    }
    if rest.is_empty() {
        Ok((base.to_owned(), settings))
    } else {
        Ok((format!("{base}?{}", rest.join("&")), settings))
    }
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

        let mut invocation = CHECK.prepare_invoke();
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
        let mut conn = self.conn().await;
        let (code, tat, used, rate_now): (i64, String, u64, String) = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error)?;

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
        Some(crate::idempotency::RedisRecords::new(self.conn.clone()))
    }

    /// `PING` on the calling task's connection, bounded by the connection's own timeouts; a
    /// failure also makes the connection manager reconnect for the next call.
    async fn ping(&self) -> Result<(), CountersError> {
        let mut conn = self.conn().await;
        let pong: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(CountersError(format!("redis: PING answered `{pong}`")))
        }
    }
}

impl RedisCounters {
    /// A lease that removes `id` from the inflight set when dropped.
    fn lease(&self, conn: ConnectionManager, inflight: String, id: String) -> Lease {
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
    fn options_come_out_of_the_url() {
        let (url, o) = split_options("redis://h:6379/0").unwrap();
        assert_eq!(url, "redis://h:6379/0");
        assert_eq!(o, UrlSettings::default());
        let (url, o) = split_options("redis://h/0?lease_ttl=300&protocol=resp3").unwrap();
        assert_eq!(url, "redis://h/0?protocol=resp3");
        assert_eq!(o.options.lease_ttl, Duration::from_secs(300));
        let (url, o) =
            split_options("rediss://h:6380/?ca=%2Fetc%2Fca%20x.pem&lease_ttl=9").unwrap();
        assert_eq!(url, "rediss://h:6380/");
        assert_eq!(o.ca, Some("/etc/ca x.pem".into()));
        assert_eq!(o.options.lease_ttl, Duration::from_secs(9));
        let (url, _) = split_options("redis://h/0?lease_ttl=5").unwrap();
        assert_eq!(url, "redis://h/0");
        assert!(split_options("redis://h/0?lease_ttl=0").is_err());
        assert!(split_options("redis://h/0?lease_ttl=x").is_err());
    }

    #[test]
    fn keys_share_a_hash_tag() {
        assert_eq!(key("k_1", "rate"), "errata:{k_1}:rate");
        assert_eq!(key("k_1", "quota:2026-11"), "errata:{k_1}:quota:2026-11");
    }
}
