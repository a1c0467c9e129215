//! The sustained insert rate of the request log on PostgreSQL from several gateway instances.
//!
//! ```text
//! cargo run --release -p errata-store --example reqlog_load -- \
//!     --url postgres://postgres@127.0.0.1:5432/test --instances 4 --seconds 30
//! ```
//!
//! Makes a fresh database beside the one `--url` names (dropped at the end unless `--keep`),
//! then runs two phases, each with `--instances` writer processes (this program again, as a
//! gateway instance is a process of its own with its own pool) started at one moment:
//!
//! - `chunked`: each process is a gateway's request log: a [`Recorder`] with `--workers` workers
//!   (the gateway's default, 2) fed by one producer thread per worker with realistic records
//!   (2,000 keys of 200 tenants, a few routes, statuses with their catalog codes, upstream ids,
//!   trace ids), and errata's own flush task ([`errata_store::flush::run`]) writing them through
//!   [`KeyStore::write_chunks`] with the default `[request_log]` settings (flush every second, or
//!   as soon as a worker holds `batch_rows` = 20,000 records; retention once a minute). A
//!   producer that is `batch_rows` ahead of the flush waits for it instead of dropping records:
//!   the rate is as fast as PostgreSQL takes them.
//! - `plain`: the same records, one row per request, into a table laid out as the request log
//!   was before chunks (`request_log` with its four indexes): batches of the size a chunked
//!   flush carries, each one transaction of multi-row INSERTs (4,000 rows a statement), back to
//!   back: the rows per second this PostgreSQL takes.
//!
//! - `records-only` (with `--phase all`): `chunked` with the usage counts left out of the
//!   flushes, to show what the chunks alone cost. The gateway always writes both.
//!
//! Each process reports what it wrote within the window; this one sums them and prints records
//! per second, flushes per second, chunk rows per second, usage counters per second (each one
//! upserts its minute, hour and day rows) and the flush latency's p50 and p99.
//! `--phase chunked|plain|both|all` (default both), `--workers N` (2), `--keys N` (2,000 keys,
//! a tenant per 10: the usage counters a flush upserts grow with them), `--keep`.

use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use errata_store::counters::SystemClock;
use errata_store::db::{
    self, KeyRecord, KeyStore, NewKey, RequestQuery, Retention, StoreError, TenantUsageRow,
    UsageQuery, UsageRow,
};
use errata_store::reqlog::{Chunk, Entry, Record, Recorder, RequestLogConfig, UsageKey};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, QueryBuilder};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone, Debug)]
struct Args {
    url: String,
    instances: usize,
    seconds: u64,
    workers: usize,
    phase: String,
    keys: u64,
    keep: bool,
    /// A writer process: `chunked` or `plain`, its instance number, the start (Unix ms).
    child: Option<(String, usize, u64)>,
}

fn args() -> Result<Args, Error> {
    let mut a = Args {
        url: String::new(),
        instances: 4,
        seconds: 30,
        workers: 2,
        phase: "both".into(),
        keys: 2000,
        keep: false,
        child: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => a.url = value()?,
            "--instances" => a.instances = value()?.parse()?,
            "--seconds" => a.seconds = value()?.parse()?,
            "--workers" => a.workers = value()?.parse()?,
            "--phase" => a.phase = value()?,
            "--keys" => a.keys = value()?.parse::<u64>()?.max(1),
            "--keep" => a.keep = true,
            "--child" => {
                let v = value()?;
                let mut p = v.split(',');
                let (Some(phase), Some(i), Some(start)) = (p.next(), p.next(), p.next()) else {
                    return Err("--child PHASE,INSTANCE,START_MS".into());
                };
                a.child = Some((phase.to_owned(), i.parse()?, start.parse()?));
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if a.url.is_empty() {
        return Err("--url postgres://... is required".into());
    }
    if !["chunked", "plain", "both", "all"].contains(&a.phase.as_str()) {
        return Err("--phase is chunked, plain, both or all".into());
    }
    Ok(a)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A small fast generator (xorshift64*), one per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const ROUTES: [&str; 6] = [
    "/v1/items/*",
    "/v1/orders/*",
    "/v1/search",
    "/v1/users/*",
    "/public/*",
    "unmatched",
];
/// Writes into its buffers the fields of one request as the gateway records them.
#[derive(Default)]
struct Gen {
    keys: u64,
    request_id: String,
    path: String,
    key_id: String,
    tenant: String,
    upstream_id: String,
    trace_id: String,
}

impl Gen {
    fn entry<'a>(&'a mut self, rng: &mut Rng, time_ms: i64) -> Entry<'a> {
        use std::fmt::Write;
        const ALPHA: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        self.request_id.clear();
        self.request_id.push_str("req_");
        let mut bits = rng.next();
        for i in 0..20 {
            if i == 10 {
                bits = rng.next();
            }
            self.request_id.push(ALPHA[(bits % 62) as usize] as char);
            bits /= 62;
        }
        // A few keys are most of the traffic.
        let key = (rng.below(self.keys) * rng.below(self.keys)) / self.keys;
        let route = match rng.below(100) {
            0..40 => 0,
            40..65 => 1,
            65..80 => 2,
            80..92 => 3,
            92..99 => 4,
            _ => 5,
        };
        let status: u16 = match rng.below(1000) {
            0..800 => 200,
            800..860 => 201,
            860..880 => 204,
            880..910 => 400,
            910..930 => 401,
            930..960 => 404,
            960..985 => 429,
            985..993 => 500,
            993..998 => 502,
            _ => 504,
        };
        let code = match status {
            400 => Some("invalid_request"),
            401 => Some("invalid_api_key"),
            404 => Some("resource_not_found"),
            429 => Some("rate_limited"),
            500 => Some("internal_error"),
            502 => Some("bad_gateway"),
            504 => Some("gateway_timeout"),
            _ => None,
        };
        // Refusals before a key is known carry none; 429s never reach the upstream.
        let keyed = status != 401;
        let forwarded = !matches!(status, 401 | 429 | 504);
        self.path.clear();
        let _ = match route {
            0 => write!(self.path, "/v1/items/{}", rng.below(100_000)),
            1 => write!(
                self.path,
                "/v1/orders/{}/lines/{}",
                rng.below(1_000_000),
                rng.below(20)
            ),
            2 => write!(self.path, "/v1/search"),
            3 => write!(self.path, "/v1/users/u_{:x}", rng.below(1 << 32)),
            4 => write!(self.path, "/public/status"),
            _ => write!(self.path, "/v2/unknown/{}", rng.below(100)),
        };
        self.key_id.clear();
        let _ = write!(self.key_id, "key_{key:016x}");
        self.tenant.clear();
        let _ = write!(self.tenant, "tenant_{}", key % (self.keys / 10).max(1));
        self.upstream_id.clear();
        let upstream_id = forwarded && rng.below(10) < 3;
        if upstream_id {
            let _ = write!(self.upstream_id, "up-{:012x}", rng.next() >> 16);
        }
        self.trace_id.clear();
        let _ = write!(self.trace_id, "{:016x}{:016x}", rng.next(), rng.next());
        Entry {
            request_id: &self.request_id,
            time_ms,
            method: ["GET", "GET", "GET", "POST", "PUT", "DELETE"][rng.below(6) as usize],
            path: &self.path,
            route: ROUTES[route],
            key_id: keyed.then_some(self.key_id.as_str()),
            tenant: keyed.then_some(self.tenant.as_str()),
            status,
            code,
            latency_us: 300 + rng.below(80_000) as i64,
            upstream_status: forwarded.then_some(status),
            upstream_request_id: upstream_id.then_some(self.upstream_id.as_str()),
            trace_id: Some(&self.trace_id),
        }
    }
}

/// What one writer process did within the window.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Report {
    records: u64,
    flushes: u64,
    chunk_rows: u64,
    usage_counters: u64,
    /// Microseconds, each flush's write.
    latencies_us: Vec<u64>,
    failed: u64,
    dropped: u64,
}

/// The window's measurements, shared by the store wrapper and the process.
#[derive(Default)]
struct Measure {
    report: Mutex<Report>,
    /// Records each worker has recorded since the last take.
    pending: Vec<AtomicUsize>,
    window: (u64, u64),
    /// Leave the usage counts out of the writes.
    records_only: bool,
}

/// The PostgreSQL store with each flush's write timed.
struct Timed {
    inner: Arc<dyn KeyStore>,
    measure: Arc<Measure>,
}

#[async_trait]
impl KeyStore for Timed {
    async fn insert(
        &self,
        key: &NewKey,
        plan: &str,
        hash: &str,
        hint: &str,
        now: i64,
    ) -> Result<KeyRecord, StoreError> {
        self.inner.insert(key, plan, hash, hint, now).await
    }
    async fn find_by_hash(&self, hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.inner.find_by_hash(hash).await
    }
    async fn get(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.inner.get(id).await
    }
    async fn list(&self, tenant: Option<&str>) -> Result<Vec<KeyRecord>, StoreError> {
        self.inner.list(tenant).await
    }
    async fn revoke(&self, id: &str, now: i64) -> Result<Option<KeyRecord>, StoreError> {
        self.inner.revoke(id, now).await
    }
    async fn rotate(
        &self,
        id: &str,
        hash: &str,
        hint: &str,
        now: i64,
    ) -> Result<Option<KeyRecord>, StoreError> {
        self.inner.rotate(id, hash, hint, now).await
    }
    async fn touch(&self, used: &[(String, i64)]) -> Result<(), StoreError> {
        self.inner.touch(used).await
    }
    async fn change_marker(&self) -> Result<i64, StoreError> {
        self.inner.change_marker().await
    }
    async fn update(&self, key: &KeyRecord) -> Result<bool, StoreError> {
        self.inner.update(key).await
    }
    async fn write_log(
        &self,
        records: &[Record],
        counts: &[(UsageKey, u64)],
    ) -> Result<(), StoreError> {
        self.inner.write_log(records, counts).await
    }
    async fn write_chunks(
        &self,
        chunks: &[Chunk],
        counts: &[(UsageKey, u64)],
    ) -> Result<(), StoreError> {
        // The flush task took the batches just now: the producers may go on.
        for p in &self.measure.pending {
            p.store(0, Ordering::Relaxed);
        }
        let counts = if self.measure.records_only {
            &[]
        } else {
            counts
        };
        let started = Instant::now();
        let res = self.inner.write_chunks(chunks, counts).await;
        let took = started.elapsed();
        let end = now_ms();
        let (from, to) = self.measure.window;
        let mut r = self
            .measure
            .report
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if res.is_err() {
            r.failed += 1;
        } else if end > from && end <= to {
            r.records += chunks.iter().map(|c| c.rows as u64).sum::<u64>();
            r.flushes += 1;
            r.chunk_rows += chunks.len() as u64;
            r.usage_counters += counts.len() as u64;
            r.latencies_us.push(took.as_micros() as u64);
        }
        res
    }
    async fn request(&self, id: &str) -> Result<Option<Record>, StoreError> {
        self.inner.request(id).await
    }
    async fn requests(&self, q: &RequestQuery) -> Result<Vec<Record>, StoreError> {
        self.inner.requests(q).await
    }
    async fn usage(&self, q: &UsageQuery) -> Result<Vec<UsageRow>, StoreError> {
        self.inner.usage(q).await
    }
    async fn usage_by_tenant(&self, q: &UsageQuery) -> Result<Vec<TenantUsageRow>, StoreError> {
        self.inner.usage_by_tenant(q).await
    }
    async fn prune_log(&self, r: &Retention) -> Result<u64, StoreError> {
        self.inner.prune_log(r).await
    }
}

async fn sleep_until(ms: u64) {
    let now = now_ms();
    if ms > now {
        tokio::time::sleep(Duration::from_millis(ms - now)).await;
    }
}

/// One gateway instance's request log, flat out, from `start` for `a.seconds` (the usage
/// counts left out of the writes when `records_only`).
async fn chunked(a: &Args, records_only: bool, seed: u64, start: u64) -> Result<Report, Error> {
    let (url, workers, seconds) = (a.url.as_str(), a.workers, a.seconds);
    let config = RequestLogConfig {
        // Retention by age only, as a sized deployment sets it: the default max_rows (one
        // million) would be reached in seconds here.
        max_rows: u64::MAX,
        ..RequestLogConfig::default()
    };
    let batch_rows = config.batch_rows;
    let recorder = Arc::new(Recorder::new(config, workers));
    let measure = Arc::new(Measure {
        pending: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
        window: (start, start + seconds * 1000),
        records_only,
        ..Measure::default()
    });
    let store: Arc<dyn KeyStore> = Arc::new(Timed {
        inner: db::open(url).await?,
        measure: Arc::clone(&measure),
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let flusher = tokio::spawn(errata_store::flush::run(
        Arc::clone(&recorder),
        store,
        Arc::new(SystemClock),
        stop_rx,
    ));
    let producing = Arc::new(AtomicBool::new(true));
    let produced = Arc::new(AtomicU64::new(0));
    sleep_until(start).await;
    let producers: Vec<_> = (0..workers)
        .map(|w| {
            let keys = a.keys;
            let (recorder, measure, producing, produced) = (
                Arc::clone(&recorder),
                Arc::clone(&measure),
                Arc::clone(&producing),
                Arc::clone(&produced),
            );
            std::thread::spawn(move || {
                let mut rng = Rng((seed ^ ((w as u64 + 1) << 40)) | 1);
                let mut g = Gen {
                    keys,
                    ..Gen::default()
                };
                let mut n = 0u64;
                while producing.load(Ordering::Relaxed) {
                    if measure.pending[w].load(Ordering::Relaxed) >= batch_rows {
                        std::thread::sleep(Duration::from_micros(500));
                        continue;
                    }
                    let time_ms = now_ms() as i64;
                    for _ in 0..64 {
                        recorder.record(w, &g.entry(&mut rng, time_ms), (None, None));
                    }
                    measure.pending[w].fetch_add(64, Ordering::Relaxed);
                    n += 64;
                }
                produced.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    sleep_until(start + seconds * 1000).await;
    producing.store(false, Ordering::Relaxed);
    for p in producers {
        let _ = p.join();
    }
    let _ = stop_tx.send(true);
    flusher.await?;
    let mut r = std::mem::take(&mut *measure.report.lock().unwrap_or_else(|e| e.into_inner()));
    r.dropped = recorder.dropped();
    Ok(r)
}

/// The table the request log was before chunks (migration 0002), under another name.
const PLAIN_TABLE: &str = "
CREATE TABLE IF NOT EXISTS request_log_plain (
    request_id TEXT NOT NULL, time_ms BIGINT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL,
    route TEXT NOT NULL, key_id TEXT, tenant TEXT, status BIGINT NOT NULL, code TEXT,
    latency_us BIGINT NOT NULL, upstream_status BIGINT, upstream_request_id TEXT,
    trace_id TEXT, id_tail INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS request_log_plain_id ON request_log_plain (id_tail, time_ms, request_id);
CREATE INDEX IF NOT EXISTS request_log_plain_time ON request_log_plain (time_ms);
CREATE INDEX IF NOT EXISTS request_log_plain_tenant_time ON request_log_plain (tenant, time_ms)
    WHERE tenant IS NOT NULL;
CREATE INDEX IF NOT EXISTS request_log_plain_key_time ON request_log_plain (key_id, time_ms)
    WHERE key_id IS NOT NULL;
";

/// Rows per INSERT: 14 values each, within PostgreSQL's 65,535.
const PLAIN_ROWS: usize = 4000;

/// One instance inserting the same records one row per request, batches of the size a chunked
/// flush carries (`batch_rows` per worker) in one transaction each, back to back.
async fn plain(a: &Args, seed: u64, start: u64) -> Result<Report, Error> {
    let (url, seconds) = (a.url.as_str(), a.seconds);
    let batch = a.workers * RequestLogConfig::default().batch_rows;
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(PgConnectOptions::from_str(url)?)
        .await?;
    let mut rng = Rng(seed | 1);
    let mut g = Gen {
        keys: a.keys,
        ..Gen::default()
    };
    let mut report = Report::default();
    let end = start + seconds * 1000;
    sleep_until(start).await;
    let mut rows: Vec<Record> = Vec::with_capacity(batch);
    while now_ms() < end {
        rows.clear();
        let time_ms = now_ms() as i64;
        for _ in 0..batch {
            let e = g.entry(&mut rng, time_ms);
            rows.push(Record {
                request_id: e.request_id.to_owned(),
                time_ms: e.time_ms,
                method: e.method.to_owned(),
                path: e.path.to_owned(),
                route: e.route.to_owned(),
                key_id: e.key_id.map(str::to_owned),
                tenant: e.tenant.map(str::to_owned),
                status: e.status,
                code: e.code.map(str::to_owned),
                latency_us: e.latency_us,
                upstream_status: e.upstream_status,
                upstream_request_id: e.upstream_request_id.map(str::to_owned),
                trace_id: e.trace_id.map(str::to_owned),
            });
        }
        let started = Instant::now();
        let mut tx = pool.begin().await?;
        for part in rows.chunks(PLAIN_ROWS) {
            let mut q = QueryBuilder::<sqlx::Postgres>::new(
                "INSERT INTO request_log_plain (request_id, time_ms, method, path, route, key_id, \
                 tenant, status, code, latency_us, upstream_status, upstream_request_id, \
                 trace_id, id_tail) ",
            );
            q.push_values(part, |mut b, r| {
                b.push_bind(&r.request_id)
                    .push_bind(r.time_ms)
                    .push_bind(&r.method)
                    .push_bind(&r.path)
                    .push_bind(&r.route)
                    .push_bind(&r.key_id)
                    .push_bind(&r.tenant)
                    .push_bind(i64::from(r.status))
                    .push_bind(&r.code)
                    .push_bind(r.latency_us)
                    .push_bind(r.upstream_status.map(i64::from))
                    .push_bind(&r.upstream_request_id)
                    .push_bind(&r.trace_id)
                    .push_bind(i32::from(*r.request_id.as_bytes().last().unwrap_or(&0)));
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let took = started.elapsed();
        if now_ms() <= end {
            report.records += rows.len() as u64;
            report.flushes += 1;
            report.chunk_rows += rows.len() as u64;
            report.latencies_us.push(took.as_micros() as u64);
        }
    }
    Ok(report)
}

fn child(a: &Args, phase: &str, instance: usize, start: u64) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let seed = 0x5eed_0000_0000 ^ ((instance as u64) << 20) ^ start;
    let report = rt.block_on(async {
        match phase {
            "chunked" => chunked(a, false, seed, start).await,
            "records-only" => chunked(a, true, seed, start).await,
            _ => plain(a, seed, start).await,
        }
    })?;
    println!("REPORT {}", serde_json::to_string(&report)?);
    Ok(())
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// Starts the writer processes of one phase at one moment and sums what they report.
fn phase(a: &Args, url: &str, phase: &str) -> Result<(), Error> {
    let start = now_ms() + 3000;
    let exe = std::env::current_exe()?;
    let children: Vec<_> = (0..a.instances)
        .map(|i| {
            Command::new(&exe)
                .args(["--url", url])
                .args(["--seconds", &a.seconds.to_string()])
                .args(["--workers", &a.workers.to_string()])
                .args(["--keys", &a.keys.to_string()])
                .args(["--child", &format!("{phase},{i},{start}")])
                .stdout(Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    let mut total = Report::default();
    for c in children {
        let out = c.wait_with_output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("REPORT "))
            .ok_or_else(|| format!("a {phase} writer reported nothing ({})", out.status))?;
        let r: Report = serde_json::from_str(line)?;
        total.records += r.records;
        total.flushes += r.flushes;
        total.chunk_rows += r.chunk_rows;
        total.usage_counters += r.usage_counters;
        total.failed += r.failed;
        total.dropped += r.dropped;
        total.latencies_us.extend(r.latencies_us);
    }
    total.latencies_us.sort_unstable();
    let s = a.seconds as f64;
    let rows = if phase == "plain" {
        "rows"
    } else {
        "chunk rows"
    };
    println!(
        "{phase:>12}: {} instances x {} s: {:.0} records/s, {:.2} flushes/s, {:.1} {rows}/s, \
         {:.0} usage counters/s, flush p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms \
         ({} records, {} flushes, {} failed, {} dropped)",
        a.instances,
        a.seconds,
        total.records as f64 / s,
        total.flushes as f64 / s,
        total.chunk_rows as f64 / s,
        total.usage_counters as f64 / s,
        percentile(&total.latencies_us, 0.5),
        percentile(&total.latencies_us, 0.99),
        percentile(&total.latencies_us, 1.0),
        total.records,
        total.flushes,
        total.failed,
        total.dropped,
    );
    Ok(())
}

/// Bytes on disk of a table and its partitions, indexes and TOAST included.
async fn size(c: &mut PgConnection, table: &str) -> Result<i64, Error> {
    Ok(sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(pg_total_relation_size(c.oid)), 0) AS BIGINT) FROM pg_class c \
         WHERE c.oid = to_regclass($1) OR c.oid IN \
         (SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass($1))",
    )
    .bind(table)
    .fetch_one(&mut *c)
    .await?)
}

async fn count(c: &mut PgConnection, sql: &str) -> Result<i64, Error> {
    Ok(sqlx::query_scalar(sql).fetch_one(&mut *c).await?)
}

fn main() -> Result<(), Error> {
    let a = args()?;
    if let Some((p, i, start)) = a.child.clone() {
        return child(&a, &p, i, start);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let name = format!("errata_reqlog_load_{}", std::process::id());
    let (head, query) = match a.url.split_once('?') {
        Some((h, q)) => (h, format!("?{q}")),
        None => (a.url.as_str(), String::new()),
    };
    let (base, _) = head.rsplit_once('/').ok_or("the URL names no database")?;
    let url = format!("{base}/{name}{query}");
    rt.block_on(async {
        let mut admin = PgConnection::connect(&a.url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        // Migrations and today's partitions once, before the instances open.
        drop(db::open(&url).await?);
        let mut c = PgConnection::connect(&url).await?;
        sqlx::raw_sql(PLAIN_TABLE).execute(&mut c).await?;
        let version: String = sqlx::query_scalar("SHOW server_version")
            .fetch_one(&mut c)
            .await?;
        println!(
            "database {name} (PostgreSQL {version}); {} cores here, shared by the writers and \
             the server",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        Ok::<_, Error>(())
    })?;
    let run = || -> Result<(), Error> {
        if a.phase != "plain" {
            phase(&a, &url, "chunked")?;
        }
        if a.phase == "all" {
            phase(&a, &url, "records-only")?;
        }
        if a.phase != "chunked" {
            phase(&a, &url, "plain")?;
        }
        rt.block_on(async {
            let mut c = PgConnection::connect(&url).await?;
            let records = count(
                &mut c,
                "SELECT CAST(COALESCE(SUM(record_count), 0) AS BIGINT) FROM request_log_chunks",
            )
            .await?;
            let chunks = count(&mut c, "SELECT COUNT(*) FROM request_log_chunks").await?;
            let chunk_bytes = size(&mut c, "request_log_chunks").await?;
            let usage_rows = count(&mut c, "SELECT COUNT(*) FROM usage_counts").await?;
            // One per instance of each phase that counted usage: each opened store writes its
            // usage rows under an id of its own.
            let writers = count(&mut c, "SELECT COUNT(DISTINCT writer) FROM usage_counts").await?;
            let usage_bytes = size(&mut c, "usage_counts").await?;
            let plain_rows = count(&mut c, "SELECT COUNT(*) FROM request_log_plain").await?;
            let plain_bytes = size(&mut c, "request_log_plain").await?;
            let per = |b: i64, n: i64| if n > 0 { b as f64 / n as f64 } else { 0.0 };
            println!(
                "on disk: chunks {records} records in {chunks} rows, {:.1} MiB ({:.0} B/record); \
                 usage_counts {usage_rows} rows of {writers} writers, {:.1} MiB; plain \
                 {plain_rows} rows, {:.1} MiB \
                 ({:.0} B/row)",
                chunk_bytes as f64 / 1048576.0,
                per(chunk_bytes, records),
                usage_bytes as f64 / 1048576.0,
                plain_bytes as f64 / 1048576.0,
                per(plain_bytes, plain_rows),
            );
            Ok::<_, Error>(())
        })
    };
    let result = run();
    if a.keep {
        println!("kept: {url}");
    } else {
        rt.block_on(async {
            let mut admin = PgConnection::connect(&a.url).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await?;
            Ok::<_, Error>(())
        })?;
    }
    result
}
