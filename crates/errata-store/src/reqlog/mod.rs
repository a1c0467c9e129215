//! The request log and usage counts: what the gateway answered, recorded off the request path.
//!
//! The request path hands an [`Entry`] (borrowed: nothing is allocated for it) to the
//! [`Recorder`], which writes it into the answering worker's own batch (`batch.rs`) under a
//! lock no other worker takes: its usage counted at once (exact), the record encoded straight
//! into a [`chunk`]. A worker's batch holds at most its share of `queue` records; beyond that records
//! are dropped and counted, never waited for (usage still counts them). A flush task
//! ([`crate::flush`]) takes every worker's batch whole on a timer (or when one has
//! `batch_rows`), writes the chunks and usage to the key store in one transaction and applies
//! retention.

mod batch;
pub mod chunk;
pub mod config;
pub mod usage;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

pub use chunk::Chunk;
pub use config::RequestLogConfig;
pub use usage::{LimitState, UsageKey};

use crate::counters::Window;
use batch::{Added, Batch};
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
    /// The W3C trace id of the request (32 lower-case hex digits): the client's when trusted,
    /// else the gateway's own. Null for records written before errata kept it.
    #[schema(examples("4bf92f3577b34da6a3ce929d0e0e4736"))]
    pub trace_id: Option<String>,
}

impl Record {
    /// The record as the recorder takes it.
    pub fn entry(&self) -> Entry<'_> {
        Entry {
            request_id: &self.request_id,
            time_ms: self.time_ms,
            method: &self.method,
            path: &self.path,
            route: &self.route,
            key_id: self.key_id.as_deref(),
            tenant: self.tenant.as_deref(),
            status: self.status,
            code: self.code.as_deref(),
            latency_us: self.latency_us,
            upstream_status: self.upstream_status,
            upstream_request_id: self.upstream_request_id.as_deref(),
            trace_id: self.trace_id.as_deref(),
        }
    }
}

/// One answered request as the request path hands it over: a [`Record`] that borrows.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    pub request_id: &'a str,
    /// When the request arrived, Unix milliseconds.
    pub time_ms: i64,
    pub method: &'a str,
    /// The request path, without the query string.
    pub path: &'a str,
    /// The configured route it matched (`unmatched` when none).
    pub route: &'a str,
    pub key_id: Option<&'a str>,
    pub tenant: Option<&'a str>,
    pub status: u16,
    pub code: Option<&'a str>,
    /// Time to the response head, microseconds.
    pub latency_us: i64,
    pub upstream_status: Option<u16>,
    pub upstream_request_id: Option<&'a str>,
    /// The W3C trace id, in hex.
    pub trace_id: Option<&'a str>,
}

/// A worker's batch, alone on its cache lines so that workers never share one.
#[repr(align(128))]
struct Shard(Mutex<Batch>);

/// What the flush task takes: every worker's records and usage since the last time.
#[derive(Debug, Default)]
pub struct Taken {
    /// One chunk per worker that kept records.
    pub chunks: Vec<Chunk>,
    /// Usage per counter, summed over the workers.
    pub counts: Vec<(UsageKey, u64)>,
}

/// Takes records from the request path.
pub struct Recorder {
    /// The settings as last given; a reload replaces them (`queue` excepted: it sizes the
    /// batches, and takes a restart).
    config: Mutex<RequestLogConfig>,
    /// What the request path reads of them, without a lock.
    enabled: AtomicBool,
    success_sample: AtomicU64,
    batch_rows: AtomicUsize,
    shards: Box<[Shard]>,
    /// The most records one worker's batch holds.
    cap: usize,
    /// Emptied batches and chunk buffers, to be used again rather than grown again.
    spare: Mutex<(Vec<Batch>, Vec<Vec<u8>>)>,
    /// Each key's limit state as of the batches taken so far.
    limits: Mutex<HashMap<String, LimitState>>,
    /// Told when a worker's batch reaches `batch_rows`.
    filled: Notify,
    dropped: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Recorder {
    /// A recorder for `workers` workers.
    pub fn new(config: RequestLogConfig, workers: usize) -> Recorder {
        let workers = workers.max(1);
        Recorder {
            cap: config.queue.div_ceil(workers).max(1),
            shards: (0..workers)
                .map(|_| Shard(Mutex::new(Batch::default())))
                .collect(),
            spare: Mutex::new((Vec::new(), Vec::new())),
            limits: Mutex::new(HashMap::new()),
            filled: Notify::new(),
            dropped: AtomicU64::new(0),
            enabled: AtomicBool::new(config.enabled),
            success_sample: AtomicU64::new(config.success_sample.to_bits()),
            batch_rows: AtomicUsize::new(config.batch_rows),
            config: Mutex::new(config),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> RequestLogConfig {
        lock(&self.config).clone()
    }

    /// Takes new settings for the requests answered from now on (a config reload): whether
    /// to record, the success sample, the flush's size and interval, and retention. `queue`
    /// keeps its value from the start; the caller reports a change of it as needing a
    /// restart.
    pub fn update(&self, mut config: RequestLogConfig) {
        let mut current = lock(&self.config);
        config.queue = current.queue;
        self.enabled.store(config.enabled, Ordering::Relaxed);
        self.success_sample
            .store(config.success_sample.to_bits(), Ordering::Relaxed);
        self.batch_rows.store(config.batch_rows, Ordering::Relaxed);
        *current = config;
    }

    /// Whether records are taken at all (the request path builds none when not).
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Records one request answered by `worker`; `windows` is the key's limit state after it,
    /// if limited (a keyed request that reached the upstream with neither is kept as a key
    /// without rate or quota limits). Every answer is counted in usage, one that named no
    /// known key under no key and no tenant. Costs the worker's own (uncontended) lock and a
    /// few copies; never waits.
    pub fn record(&self, worker: usize, e: &Entry, windows: (Option<Window>, Option<Window>)) {
        if !self.enabled() {
            return;
        }
        let sample = f64::from_bits(self.success_sample.load(Ordering::Relaxed));
        let keep = e.status >= 400 || sample >= 1.0 || rand::random::<f64>() < sample;
        let added =
            lock(&self.shards[worker % self.shards.len()].0).add(e, windows, keep, self.cap);
        match added {
            Added::Kept(n) if n == self.batch_rows.load(Ordering::Relaxed) => {
                self.filled.notify_one()
            }
            Added::Dropped => self.count_dropped(1),
            _ => {}
        }
    }

    /// Counts records lost: dropped from a full queue, or not written.
    pub(crate) fn count_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
        metrics::counter!("errata_request_log_dropped_total").increment(n);
    }

    /// Records dropped because the queue was full, since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits until a worker's batch has `batch_rows` records (the flush task's early wake).
    pub async fn filled(&self) {
        self.filled.notified().await;
    }

    /// Every worker's records and usage since the last call, each batch taken whole.
    pub fn take(&self) -> Taken {
        let mut taken = Taken::default();
        let mut counts: HashMap<UsageKey, u64> = HashMap::new();
        let mut limits = Vec::new();
        for shard in &self.shards {
            let mut batch = self.fresh_batch();
            let taken_whole = {
                let mut current = lock(&shard.0);
                !current.is_empty() && {
                    std::mem::swap(&mut *current, &mut batch);
                    true
                }
            };
            if !taken_whole {
                lock(&self.spare).0.push(batch);
                continue;
            }
            let (chunk, c, l) = batch.finish(Vec::new());
            taken.chunks.extend(chunk);
            for (k, n) in c {
                *counts.entry(k).or_insert(0) += n;
            }
            limits.extend(l);
            lock(&self.spare).0.push(batch);
        }
        if !limits.is_empty() {
            let mut all = lock(&self.limits);
            for s in limits {
                match all.get_mut(&s.key_id) {
                    Some(old) if old.observed_at > s.observed_at => {}
                    Some(old) => *old = s,
                    None => {
                        all.insert(s.key_id.clone(), s);
                    }
                }
            }
        }
        taken.counts = counts.into_iter().collect();
        taken
    }

    /// An empty batch, with a buffer that has held records before when there is one.
    fn fresh_batch(&self) -> Batch {
        let mut spare = lock(&self.spare);
        let mut b = spare.0.pop().unwrap_or_default();
        if !b.has_buffer()
            && let Some(data) = spare.1.pop()
        {
            b.use_buffer(data);
        }
        b
    }

    /// Gives back written chunks, so that their buffers take the next records.
    pub fn recycle(&self, chunks: impl IntoIterator<Item = Chunk>) {
        let mut spare = lock(&self.spare);
        for c in chunks {
            if spare.1.len() < self.shards.len() && c.data.capacity() > 0 {
                spare.1.push(c.data);
            }
        }
    }

    /// The limit state of a key as of its last request here (on any worker).
    pub fn limit_state(&self, key_id: &str) -> Option<LimitState> {
        let mut best = lock(&self.limits).get(key_id).cloned();
        for shard in &self.shards {
            if let Some(s) = lock(&shard.0).limit_state(key_id)
                && best.as_ref().is_none_or(|b| s.observed_at >= b.observed_at)
            {
                best = Some(s);
            }
        }
        best
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
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
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
        r.record(0, &rec(60_000).entry(), (Some(window(9)), None));
        r.record(2, &rec(61_000).entry(), (Some(window(8)), None));
        // Past the last worker: wraps, still counted. Refused before its limits were counted
        // (not forwarded), it leaves the limit state as it was.
        let mut refused = rec(62_000);
        refused.upstream_status = None;
        r.record(7, &refused.entry(), (None, None));
        let state = |r: &Recorder| r.limit_state("key_1").map(|s| (s.observed_at, s.rate));
        assert_eq!(
            state(&r),
            Some((61, Some(window(8).into()))),
            "before a flush"
        );
        let taken = r.take();
        assert_eq!(taken.counts.len(), 1);
        assert_eq!(taken.counts[0].1, 3);
        assert_eq!(taken.counts[0].0.minute, 60);
        assert_eq!(taken.chunks.iter().map(|c| c.rows).sum::<usize>(), 3);
        assert_eq!(state(&r), Some((61, Some(window(8).into()))), "after it");
        let again = r.take();
        assert!(again.counts.is_empty() && again.chunks.is_empty());
        assert_eq!(r.limit_state("key_nope"), None);
    }

    #[test]
    fn a_key_forwarded_without_windows_has_no_limits_and_keyless_answers_are_counted() {
        let r = Recorder::new(RequestLogConfig::default(), 1);
        // Forwarded with no window: a plan without rate or quota.
        r.record(0, &rec(60_000).entry(), (None, None));
        let state = r
            .limit_state("key_1")
            .map(|s| (s.observed_at, s.rate, s.quota));
        assert_eq!(state, Some((60, None, None)));
        let mut anonymous = rec(60_500);
        anonymous.key_id = None;
        anonymous.tenant = None;
        anonymous.status = 401;
        anonymous.code = Some("invalid_api_key".into());
        anonymous.upstream_status = None;
        r.record(0, &anonymous.entry(), (None, None));
        r.record(0, &anonymous.entry(), (None, None));
        let mut counts: Vec<(String, String, u16, String, u64)> = r
            .take()
            .counts
            .into_iter()
            .map(|(k, n)| (k.key_id, k.tenant, k.status, k.code, n))
            .collect();
        counts.sort();
        assert_eq!(
            counts,
            [
                (
                    String::new(),
                    String::new(),
                    401,
                    "invalid_api_key".to_owned(),
                    2
                ),
                ("key_1".to_owned(), "acme".to_owned(), 200, String::new(), 1),
            ]
        );
    }

    #[test]
    fn a_full_queue_drops_records_but_usage_counts_them() {
        let config = RequestLogConfig {
            queue: 10,
            ..RequestLogConfig::default()
        };
        let r = Recorder::new(config, 2);
        for i in 0..8 {
            let mut e = rec(60_000);
            e.request_id = format!("req_{i}");
            r.record(0, &e.entry(), (None, None));
        }
        assert_eq!(r.dropped(), 3, "a worker holds its share of the queue");
        let taken = r.take();
        assert_eq!(taken.chunks.len(), 1);
        let ids: Vec<String> = taken.chunks[0]
            .records()
            .unwrap()
            .into_iter()
            .map(|r| r.request_id)
            .collect();
        assert_eq!(ids, ["req_0", "req_1", "req_2", "req_3", "req_4"]);
        assert_eq!(taken.counts[0].1, 8);
        // Taken, the batch has room again.
        r.record(0, &rec(60_000).entry(), (None, None));
        assert_eq!(r.dropped(), 3);
    }

    #[test]
    fn sampling_keeps_every_error_and_counts_every_request() {
        let config = RequestLogConfig {
            success_sample: 0.0,
            ..RequestLogConfig::default()
        };
        let r = Recorder::new(config, 1);
        let mut err = rec(60_000);
        err.status = 429;
        err.code = Some("rate_limited".into());
        for _ in 0..5 {
            r.record(0, &rec(60_000).entry(), (None, None));
        }
        r.record(0, &err.entry(), (None, None));
        let taken = r.take();
        assert_eq!(taken.chunks[0].records().unwrap(), vec![err]);
        let mut counts: Vec<(u16, String, u64)> = taken
            .counts
            .into_iter()
            .map(|(k, n)| (k.status, k.code, n))
            .collect();
        counts.sort();
        assert_eq!(
            counts,
            [(200, String::new(), 5), (429, "rate_limited".to_owned(), 1)]
        );
        assert_eq!(r.dropped(), 0);
    }

    #[test]
    fn a_batch_of_batch_rows_wakes_the_flush() {
        let config = RequestLogConfig {
            batch_rows: 3,
            ..RequestLogConfig::default()
        };
        let r = Recorder::new(config, 1);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        for _ in 0..2 {
            r.record(0, &rec(60_000).entry(), (None, None));
        }
        let woke = |r: &Recorder| {
            rt.block_on(async {
                tokio::time::timeout(std::time::Duration::from_millis(20), r.filled())
                    .await
                    .is_ok()
            })
        };
        assert!(!woke(&r));
        r.record(0, &rec(60_000).entry(), (None, None));
        assert!(woke(&r));
    }

    /// Workers record while the flush takes their batches: every request is counted once and
    /// every record taken once.
    #[test]
    fn usage_is_exact_under_concurrent_workers_and_flushes() {
        const WORKERS: usize = 4;
        const EACH: usize = 50_000;
        let r = std::sync::Arc::new(Recorder::new(
            RequestLogConfig {
                queue: 1 << 30,
                ..RequestLogConfig::default()
            },
            WORKERS,
        ));
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flusher = {
            let (r, done) = (std::sync::Arc::clone(&r), std::sync::Arc::clone(&done));
            std::thread::spawn(move || {
                let (mut counts, mut ids) = (HashMap::<(String, i64), u64>::new(), 0usize);
                loop {
                    let last = done.load(Ordering::SeqCst);
                    let taken = r.take();
                    for c in &taken.chunks {
                        ids += c.records().unwrap().len();
                    }
                    for (k, n) in taken.counts {
                        *counts.entry((k.key_id, k.minute)).or_insert(0) += n;
                    }
                    r.recycle(taken.chunks);
                    if last {
                        return (counts, ids);
                    }
                    std::thread::yield_now();
                }
            })
        };
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let r = std::sync::Arc::clone(&r);
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        let mut e = rec(60_000 * (i as i64 % 3));
                        e.request_id = format!("req_{w}_{i}");
                        e.key_id = Some(format!("key_{}", i % 7));
                        r.record(w, &e.entry(), (Some(window(1)), None));
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        done.store(true, Ordering::SeqCst);
        let (counts, ids) = flusher.join().unwrap();
        assert_eq!(ids, WORKERS * EACH);
        assert_eq!(counts.values().sum::<u64>(), (WORKERS * EACH) as u64);
        for key in 0..7 {
            for minute in [0, 60, 120] {
                let want = (0..EACH).filter(|i| i % 7 == key && (i % 3) * 60 == minute as usize);
                assert_eq!(
                    counts.get(&(format!("key_{key}"), minute)).copied(),
                    Some((want.count() * WORKERS) as u64),
                );
            }
        }
        assert_eq!(r.dropped(), 0);
    }
}
