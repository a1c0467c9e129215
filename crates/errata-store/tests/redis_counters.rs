//! The Redis counters against a real Redis: a throwaway `redis-server` per test on a free port
//! (or `ERRATA_TEST_REDIS_URL`). Without either the tests print `skipped: no Redis` and pass,
//! except under CI (`CI` set), where they fail.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use errata_core::Condition;
use errata_store::counters::{
    Counters, MemoryCounters, Outcome, RedisCounters, RedisOptions, Verdict, Window,
};
use errata_store::plans::Limits;

/// A Redis for one test: a child `redis-server` killed on drop, or the one the environment names.
struct Redis {
    url: String,
    port: u16,
    child: Option<Child>,
}

impl Redis {
    /// A Redis, or `None` (after printing why) when there is none and this is not CI.
    async fn get() -> Option<Redis> {
        if let Ok(url) = std::env::var("ERRATA_TEST_REDIS_URL")
            && !url.is_empty()
        {
            return Some(Redis {
                url,
                port: 0,
                child: None,
            });
        }
        let port = match TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
            Ok(addr) => addr.port(),
            Err(e) => return skip(&format!("no free port: {e}")),
        };
        let mut redis = Redis {
            url: format!("redis://127.0.0.1:{port}/"),
            port,
            child: None,
        };
        match redis.start().await {
            Ok(()) => Some(redis),
            Err(e) => skip(&e),
        }
    }

    /// Whether this test owns the server (and may kill and restart it).
    fn owned(&self) -> bool {
        self.port != 0
    }

    async fn start(&mut self) -> Result<(), String> {
        let child = Command::new(redis_server())
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.ping().await {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                return Err(format!("redis-server exited: {status}"));
            }
            if Instant::now() > deadline {
                return Err("redis-server did not answer within 10 s".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn ping(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return false;
        };
        let ping = async {
            let mut conn = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(1), ping).await,
            Ok(Ok(_))
        )
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A plain connection, for looking at keys.
    async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    async fn counters(&self) -> RedisCounters {
        RedisCounters::connect(&self.url).await.unwrap()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn redis_server() -> &'static str {
    if std::path::Path::new("/usr/bin/redis-server").exists() {
        "/usr/bin/redis-server"
    } else {
        "redis-server"
    }
}

fn skip(why: &str) -> Option<Redis> {
    if std::env::var_os("CI").is_some() {
        panic!("no Redis for the Redis counters tests under CI: {why}");
    }
    println!("skipped: no Redis ({why})");
    None
}

/// A subject no other run uses, for a shared Redis.
fn unique(name: &str) -> String {
    format!("test-{name}-{:016x}", rand::random::<u64>())
}

fn limits(
    rate: Option<(u32, u32, u32)>,
    monthly_quota: Option<u64>,
    concurrency: Option<u32>,
) -> Limits {
    let (rate, per_seconds, burst) = match rate {
        Some((r, p, b)) => (Some(r), p, b),
        None => (None, 60, 0),
    };
    Limits {
        rate,
        per_seconds,
        burst,
        monthly_quota,
        concurrency,
    }
}

/// An outcome without its lease, to compare.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    limited: Option<(Condition, u64, u64)>,
    rate: Option<Window>,
    quota: Option<Window>,
}

fn seen(o: &Outcome) -> Seen {
    Seen {
        limited: match o.verdict {
            Verdict::Allowed(_) => None,
            Verdict::Limited {
                condition,
                retry_after,
                limit,
            } => Some((condition, retry_after, limit)),
        },
        rate: o.rate,
        quota: o.quota,
    }
}

fn allowed(o: &Outcome) -> bool {
    matches!(o.verdict, Verdict::Allowed(_))
}

/// 2026-10-31T23:59:00Z, a minute before a month ends.
const OCT_END: u64 = 1_793_491_140_000;

/// One step of a scenario.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// A check at this time (ms after the scenario's start); an allowed check keeps its lease.
    Check(u64),
    /// `n` checks at this time.
    Checks(u64, usize),
    /// Drop the oldest held lease.
    Release,
}

struct Case {
    name: &'static str,
    limits: Limits,
    start: u64,
    steps: &'static [Step],
}

fn cases() -> Vec<Case> {
    use Step::*;
    vec![
        Case {
            name: "rate with burst, then refill",
            limits: limits(Some((3, 60, 2)), None, None),
            start: 1_790_000_000_000,
            steps: &[
                Checks(0, 7),
                Check(1),
                Check(19_999),
                Checks(20_000, 2),
                Check(35_000),
                Check(40_000),
                Checks(140_000, 7),
                Checks(200_000, 3),
            ],
        },
        Case {
            name: "rate with a fractional interval",
            // 7 per minute: 8571.43 ms apart, not representable exactly.
            limits: limits(Some((7, 60, 1)), None, None),
            start: 1_790_000_000_123,
            steps: &[
                Checks(0, 9),
                Check(8_571),
                Check(8_572),
                Check(17_142),
                Check(17_143),
                Checks(25_714, 2),
                Checks(60_000, 3),
                Checks(1_000_000, 10),
            ],
        },
        Case {
            name: "a window of one hour and a burst larger than the rate",
            limits: limits(Some((2, 3600, 5)), None, None),
            start: 1_790_000_000_000,
            steps: &[
                Checks(0, 8),
                Check(1_799_999),
                Check(1_800_000),
                Checks(1_800_001, 2),
                Checks(3_600_000, 2),
            ],
        },
        Case {
            name: "quota per month, reset at the month's change",
            limits: limits(None, Some(3), None),
            start: OCT_END,
            steps: &[
                Checks(0, 5),
                Check(59_999),
                Checks(60_000, 4),
                Checks(90_000, 1),
            ],
        },
        Case {
            name: "a refusal counts nothing: quota refusals spare the rate",
            limits: limits(Some((5, 60, 0)), Some(2), None),
            start: OCT_END,
            steps: &[Checks(0, 6), Checks(60_000, 6)],
        },
        Case {
            name: "a refusal counts nothing: rate refusals spare the quota",
            limits: limits(Some((2, 60, 0)), Some(4), None),
            start: 1_790_000_000_000,
            steps: &[
                Checks(0, 4),
                Checks(30_000, 2),
                Checks(60_000, 3),
                Checks(120_000, 3),
            ],
        },
        Case {
            name: "concurrency",
            limits: limits(None, None, Some(2)),
            start: 1_790_000_000_000,
            steps: &[
                Checks(0, 3),
                Release,
                Checks(1, 2),
                Release,
                Release,
                Checks(2, 3),
            ],
        },
        Case {
            name: "all three: concurrency refusals spare rate and quota",
            limits: limits(Some((10, 60, 0)), Some(6), Some(1)),
            start: OCT_END,
            steps: &[
                Checks(0, 3),
                Release,
                Checks(1_000, 2),
                Release,
                Checks(7_000, 2),
                Release,
                Checks(20_000, 1),
                Release,
                Checks(30_000, 3),
                Release,
                Checks(40_000, 2),
                Release,
                Checks(60_000, 2),
            ],
        },
        Case {
            name: "a zero quota and a zero concurrency refuse everything",
            limits: limits(Some((1, 60, 0)), Some(0), Some(0)),
            start: 1_790_000_000_000,
            steps: &[Checks(0, 2)],
        },
        Case {
            name: "no limits",
            limits: limits(None, None, None),
            start: 1_790_000_000_000,
            steps: &[Checks(0, 3)],
        },
    ]
}

/// Waits until the subject's inflight set holds `n` leases (a release is sent asynchronously).
async fn await_inflight(conn: &mut redis::aio::MultiplexedConnection, subject: &str, n: usize) {
    let key = format!("errata:{{{subject}}}:inflight");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let count: usize = redis::cmd("ZCARD")
            .arg(&key)
            .query_async(conn)
            .await
            .unwrap();
        if count == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{key} holds {count} leases, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn redis_decides_exactly_as_memory_does() {
    let Some(redis) = Redis::get().await else {
        return;
    };
    let options = RedisOptions {
        // Longer than any scenario, which never waits for a lease to expire.
        lease_ttl: Duration::from_secs(86_400),
        ..RedisOptions::default()
    };
    let counters = RedisCounters::connect_with(&redis.url, options)
        .await
        .unwrap();
    let mut conn = redis.conn().await;
    for case in cases() {
        let memory = MemoryCounters::default();
        let subject = unique("same");
        let mut held: Vec<(Outcome, Outcome)> = Vec::new();
        let mut n = 0;
        for step in case.steps {
            let (at, count) = match *step {
                Step::Check(at) => (at, 1),
                Step::Checks(at, count) => (at, count),
                Step::Release => {
                    assert!(!held.is_empty(), "{}: nothing to release", case.name);
                    drop(held.remove(0));
                    await_inflight(&mut conn, &subject, held.len()).await;
                    continue;
                }
            };
            for _ in 0..count {
                n += 1;
                let now = case.start + at;
                let m = memory.check(&subject, &case.limits, now).await.unwrap();
                let r = counters.check(&subject, &case.limits, now).await.unwrap();
                assert_eq!(
                    seen(&r),
                    seen(&m),
                    "{}: check {n} at +{at} ms differs from memory",
                    case.name
                );
                if allowed(&m) && case.limits.concurrency.is_some() {
                    held.push((m, r));
                }
            }
        }
    }
}

#[tokio::test]
async fn random_sequences_match_memory() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    let Some(redis) = Redis::get().await else {
        return;
    };
    let options = RedisOptions {
        lease_ttl: Duration::from_secs(86_400),
        ..RedisOptions::default()
    };
    let counters = RedisCounters::connect_with(&redis.url, options)
        .await
        .unwrap();
    let mut conn = redis.conn().await;
    for seed in 0..8u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        // Intervals of 6 s or more: the rate key's expiry runs on Redis's real clock, and must
        // not pass while the scenario's manual clock barely moves.
        let l = Limits {
            rate: rng.random_bool(0.8).then(|| rng.random_range(1..=10)),
            per_seconds: rng.random_range(60..=3600),
            burst: rng.random_range(0..=5),
            monthly_quota: rng.random_bool(0.6).then(|| rng.random_range(0..=40)),
            concurrency: rng.random_bool(0.5).then(|| rng.random_range(0..=4)),
        };
        let memory = MemoryCounters::default();
        let subject = unique("random");
        // An hour before a month ends; at most about three hours pass, less than the lease TTL.
        let mut now = OCT_END - 3_600_000;
        let mut held: Vec<(Outcome, Outcome)> = Vec::new();
        for n in 0..200 {
            if !held.is_empty() && rng.random_bool(0.3) {
                let i = rng.random_range(0..held.len());
                drop(held.remove(i));
                await_inflight(&mut conn, &subject, held.len()).await;
                continue;
            }
            now += match rng.random_range(0..6) {
                0 | 1 => 0,
                2 => rng.random_range(1..1_000),
                3 => rng.random_range(1_000..10_000),
                4 => rng.random_range(10_000..60_000),
                _ => 1,
            };
            let m = memory.check(&subject, &l, now).await.unwrap();
            let r = counters.check(&subject, &l, now).await.unwrap();
            assert_eq!(
                seen(&r),
                seen(&m),
                "seed {seed}, check {n} at {now} with {l:?} differs from memory"
            );
            if allowed(&m) && l.concurrency.is_some() {
                held.push((m, r));
            }
        }
    }
}

#[tokio::test]
async fn two_instances_share_the_limits_under_load() {
    let Some(redis) = Redis::get().await else {
        return;
    };
    let a: Arc<dyn Counters> = Arc::new(redis.counters().await);
    let b: Arc<dyn Counters> = Arc::new(redis.counters().await);
    let now = 1_790_000_000_000;
    let scenarios = [
        ("rate", limits(Some((50, 3600, 0)), None, None)),
        ("burst", limits(Some((10, 3600, 40)), None, None)),
        ("quota", limits(None, Some(50), None)),
        ("concurrency", limits(None, None, Some(50))),
        ("all", limits(Some((50, 3600, 0)), Some(1000), Some(1000))),
    ];
    for (name, l) in scenarios {
        let subject = unique(name);
        let mut tasks = Vec::new();
        for i in 0..200 {
            let counters = Arc::clone(if i % 2 == 0 { &a } else { &b });
            let (subject, l) = (subject.clone(), l.clone());
            tasks.push(tokio::spawn(async move {
                counters.check(&subject, &l, now).await.unwrap()
            }));
        }
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.unwrap());
        }
        let admitted = outcomes.iter().filter(|o| allowed(o)).count();
        assert_eq!(admitted, 50, "{name}: admitted");
        // Every remaining count from 49 down to 0 was handed out exactly once.
        if name != "concurrency" {
            let mut remaining: Vec<u64> = outcomes
                .iter()
                .filter(|o| allowed(o))
                .map(|o| o.rate.or(o.quota).unwrap().remaining)
                .collect();
            remaining.sort_unstable();
            assert_eq!(remaining, (0..50).collect::<Vec<_>>(), "{name}: remaining");
        }
    }
}

#[tokio::test]
async fn leases_are_released_on_drop_and_reclaimed_after_their_ttl() {
    let Some(redis) = Redis::get().await else {
        return;
    };
    let counters = redis.counters().await;
    let l = limits(None, None, Some(1));
    let subject = unique("lease");
    let now = 1_790_000_000_000;

    let first = counters.check(&subject, &l, now).await.unwrap();
    assert!(allowed(&first));
    let refused = counters.check(&subject, &l, now).await.unwrap();
    assert_eq!(
        seen(&refused).limited,
        Some((Condition::ConcurrencyExceeded, 1, 1))
    );

    // Released on drop: the release is sent in the background, so allow it a moment.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    let second = loop {
        let o = counters.check(&subject, &l, now).await.unwrap();
        if allowed(&o) {
            break o;
        }
        assert!(
            Instant::now() < deadline,
            "the dropped lease was not released"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };

    // An instance that dies never releases its lease: it is reclaimed when its TTL (60 s by
    // default) has passed, and not before.
    std::mem::forget(second);
    let ttl = 60_000;
    for at in [0, 1, ttl - 1] {
        let o = counters.check(&subject, &l, now + at).await.unwrap();
        assert!(!allowed(&o), "allowed at +{at} ms while the lease is live");
    }
    let o = counters.check(&subject, &l, now + ttl).await.unwrap();
    assert!(allowed(&o), "the dead instance's lease was not reclaimed");

    // A shorter TTL from the URL.
    let short = RedisCounters::connect(&format!("{}?lease_ttl=5", redis.url))
        .await
        .unwrap();
    let subject = unique("short");
    std::mem::forget(short.check(&subject, &l, now).await.unwrap());
    assert!(!allowed(
        &short.check(&subject, &l, now + 4_999).await.unwrap()
    ));
    assert!(allowed(
        &short.check(&subject, &l, now + 5_000).await.unwrap()
    ));
}

async fn pttl(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(conn).await.unwrap()
}

#[tokio::test]
async fn keys_carry_ttls() {
    let Some(redis) = Redis::get().await else {
        return;
    };
    let counters = redis.counters().await;
    let mut conn = redis.conn().await;
    let subject = unique("ttl");
    // 10 per minute: one request leaves the bucket 6 s from full.
    let l = limits(Some((10, 60, 0)), Some(100), Some(5));
    let now = OCT_END; // the month ends a minute later
    let outcome = counters.check(&subject, &l, now).await.unwrap();
    assert!(allowed(&outcome));

    let rate = pttl(&mut conn, &format!("errata:{{{subject}}}:rate")).await;
    assert!(
        5_000 < rate && rate <= 7_000,
        "rate key PTTL {rate} ms, expected about 6 s + 1 s"
    );
    let quota = pttl(&mut conn, &format!("errata:{{{subject}}}:quota:2026-10")).await;
    let day = 86_400_000;
    assert!(
        day < quota && quota <= day + 60_000,
        "quota key PTTL {quota} ms, expected a minute and a day"
    );
    let inflight = pttl(&mut conn, &format!("errata:{{{subject}}}:inflight")).await;
    assert!(
        50_000 < inflight && inflight <= 60_000,
        "inflight key PTTL {inflight} ms, expected the lease TTL"
    );

    // Releasing the only lease empties the set, and Redis drops it.
    drop(outcome);
    await_inflight(&mut conn, &subject, 0).await;
    assert_eq!(
        pttl(&mut conn, &format!("errata:{{{subject}}}:inflight")).await,
        -2
    );

    // A refused request writes nothing, so creates no key.
    let fresh = unique("refused");
    let zero = limits(Some((10, 60, 0)), Some(0), None);
    let o = counters.check(&fresh, &zero, now).await.unwrap();
    assert!(!allowed(&o));
    let exists: i64 = redis::cmd("EXISTS")
        .arg(format!("errata:{{{fresh}}}:rate"))
        .arg(format!("errata:{{{fresh}}}:quota:2026-10"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, 0);
}

#[tokio::test]
async fn a_dead_redis_fails_checks_promptly_and_a_restarted_one_is_used_again() {
    let Some(mut redis) = Redis::get().await else {
        return;
    };
    if !redis.owned() {
        println!("skipped: cannot kill the Redis named by ERRATA_TEST_REDIS_URL");
        return;
    }
    let counters = redis.counters().await;
    let l = limits(Some((100, 60, 0)), Some(1000), Some(10));
    let subject = unique("dead");
    let now = 1_790_000_000_000;
    assert!(allowed(&counters.check(&subject, &l, now).await.unwrap()));

    redis.kill();
    for i in 0..3 {
        let res = tokio::time::timeout(Duration::from_secs(2), counters.check(&subject, &l, now))
            .await
            .unwrap_or_else(|_| panic!("check {i} against a dead Redis took over 2 s"));
        assert!(res.is_err(), "check {i} against a dead Redis: {res:?}");
    }

    redis.start().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = tokio::time::timeout(Duration::from_secs(2), counters.check(&subject, &l, now))
            .await
            .expect("a check took over 2 s");
        match res {
            Ok(o) => {
                assert!(allowed(&o));
                break;
            }
            Err(e) => assert!(
                Instant::now() < deadline,
                "checks still fail 10 s after Redis came back: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
