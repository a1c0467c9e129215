//! The request log in the key store, on SQLite (a real file) and PostgreSQL (a real server):
//! every record found by its id, listings equal to a plain filter-and-sort of the same
//! records, retention exact, usage exact through failed writes, and rows kept before chunks
//! moved into chunks.

#[path = "../../errata/tests/support/services.rs"]
mod services;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use errata_store::counters::ManualClock;
use errata_store::db::{
    self, KeyRecord, KeyStore, NewKey, RequestQuery, Retention, StatusFilter, Step, StoreError,
    UsageQuery, UsageRow,
};
use errata_store::reqlog::{Chunk, Record, Recorder, RequestLogConfig, UsageKey};
use tokio::sync::watch;

const T0: i64 = 1_790_000_000_000;

/// A small deterministic generator (xorshift), so that a failure replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn rec(i: usize, time_ms: i64, rng: &mut Rng) -> Record {
    let keyed = rng.below(6) != 0;
    let key = rng.below(4);
    let status = [200, 200, 200, 201, 404, 429, 500, 502][rng.below(8) as usize];
    Record {
        request_id: format!(
            "req_{:016x}",
            (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ),
        time_ms,
        method: ["GET", "POST", "DELETE"][rng.below(3) as usize].into(),
        path: format!("/v1/items/{}", rng.below(1000)),
        route: ["/v1/*", "/public"][rng.below(2) as usize].into(),
        key_id: keyed.then(|| format!("key_{key}")),
        tenant: keyed.then(|| ["acme", "globex"][key as usize % 2].into()),
        status,
        code: match status {
            404 => Some("resource_not_found".into()),
            429 => Some("rate_limited".into()),
            500 | 502 => Some("upstream_error".into()),
            _ => None,
        },
        latency_us: rng.below(100_000) as i64,
        upstream_status: (status != 429).then_some(status),
        upstream_request_id: (rng.below(3) == 0).then(|| format!("up_{i}")),
        trace_id: (rng.below(4) != 0).then(|| format!("{:016x}{:016x}", rng.below(u64::MAX), i)),
    }
}

/// What a listing must answer: the records that pass the filters, newest first.
fn model(all: &[Record], q: &RequestQuery) -> Vec<Record> {
    let mut v: Vec<Record> = all
        .iter()
        .filter(|r| {
            q.tenant
                .as_ref()
                .is_none_or(|t| r.tenant.as_ref() == Some(t))
                && q.key_id
                    .as_ref()
                    .is_none_or(|k| r.key_id.as_ref() == Some(k))
                && q.code.as_ref().is_none_or(|c| r.code.as_ref() == Some(c))
                && q.status.is_none_or(|s| match s {
                    StatusFilter::Exact(s) => r.status == s,
                    StatusFilter::Class(c) => r.status / 100 == c,
                })
                && q.since_ms.is_none_or(|s| r.time_ms >= s)
                && q.until_ms.is_none_or(|u| r.time_ms < u)
                && q.before
                    .as_ref()
                    .is_none_or(|(t, id)| (r.time_ms, r.request_id.as_str()) < (*t, id.as_str()))
        })
        .cloned()
        .collect();
    v.sort_by(|a, b| (b.time_ms, b.request_id.as_str()).cmp(&(a.time_ms, a.request_id.as_str())));
    v.truncate(q.limit as usize);
    v
}

fn usage_query(step: Step) -> UsageQuery {
    UsageQuery {
        tenant: None,
        key_id: None,
        step,
        since: 0,
        until: i64::MAX,
    }
}

fn total(rows: &[UsageRow]) -> i64 {
    rows.iter().map(|r| r.count).sum()
}

/// 10,000 records through the recorder, as the gateway hands them over (two workers, taken
/// three times): every one found by its id, and usage counts each request once.
async fn every_record_is_found_by_its_id(store: Arc<dyn KeyStore>) {
    let mut rng = Rng(7);
    let records: Vec<Record> = (0..10_000)
        .map(|i| rec(i, T0 + (i as i64 / 3), &mut rng))
        .collect();
    let r = Recorder::new(
        RequestLogConfig {
            queue: 1 << 20,
            ..RequestLogConfig::default()
        },
        2,
    );
    for (i, rec) in records.iter().enumerate() {
        r.record(i % 2, &rec.entry(), (None, None));
        if i % 4000 == 3999 || i == records.len() - 1 {
            let t = r.take();
            store.write_chunks(&t.chunks, &t.counts).await.unwrap();
        }
    }
    assert_eq!(r.dropped(), 0);
    // Looked up eight at a time.
    let records = Arc::new(records);
    let mut lookups = tokio::task::JoinSet::new();
    for part in 0..8 {
        let (store, records) = (Arc::clone(&store), Arc::clone(&records));
        lookups.spawn(async move {
            for rec in records.iter().skip(part).step_by(8) {
                assert_eq!(
                    store.request(&rec.request_id).await.unwrap().as_ref(),
                    Some(rec)
                );
            }
        });
    }
    while let Some(done) = lookups.join_next().await {
        done.unwrap();
    }
    assert_eq!(store.request("req_nope").await.unwrap(), None);
    // Every request, keyed or not (those under no key and no tenant).
    for step in Step::ALL {
        assert_eq!(
            total(&store.usage(&usage_query(step)).await.unwrap()),
            records.len() as i64
        );
    }
    // The same id twice: the newer record is the one found.
    let mut again = records[17].clone();
    again.time_ms += 60_000;
    again.status = 503;
    store.write_log(&[again.clone()], &[]).await.unwrap();
    assert_eq!(store.request(&again.request_id).await.unwrap(), Some(again));
}

/// Records in chunks of many sizes, overlapping in time: every listing (filters, pages)
/// equals filtering and sorting them all.
async fn listings_match_a_plain_sort(store: Arc<dyn KeyStore>) {
    let mut rng = Rng(11);
    let mut all = Vec::new();
    let mut i = 0;
    for size in [1, 7, 300, 2, 1500, 40, 900, 3, 650] {
        let start = T0 + rng.below(20_000) as i64;
        let chunk: Vec<Record> = (0..size)
            .map(|_| {
                i += 1;
                rec(i, start + rng.below(5_000) as i64, &mut rng)
            })
            .collect();
        store.write_log(&chunk, &[]).await.unwrap();
        all.extend(chunk);
    }
    let pick = |rng: &mut Rng, v: &[&str]| -> Option<String> {
        let i = rng.below(v.len() as u64 + 2) as usize;
        v.get(i).map(|s| (*s).to_owned())
    };
    for round in 0..150 {
        let mut q = RequestQuery {
            tenant: pick(&mut rng, &["acme", "globex", "initech"]),
            key_id: pick(&mut rng, &["key_0", "key_1", "key_3"]),
            code: pick(&mut rng, &["rate_limited", "upstream_error", "nope"]),
            status: [
                None,
                None,
                Some(StatusFilter::Class(2)),
                Some(StatusFilter::Exact(429)),
                Some(StatusFilter::Class(5)),
            ][rng.below(5) as usize],
            since_ms: (rng.below(3) == 0).then(|| T0 + rng.below(25_000) as i64),
            until_ms: (rng.below(3) == 0).then(|| T0 + rng.below(25_000) as i64),
            before: None,
            limit: [1, 2, 10, 50, 501][rng.below(5) as usize],
        };
        // Every page of the listing, each equal to the model's.
        let mut pages = 0;
        loop {
            let got = store.requests(&q).await.unwrap();
            let want = model(&all, &q);
            assert_eq!(got, want, "round {round}, page {pages}: {q:?}");
            let Some(last) = got.last().filter(|_| got.len() == q.limit as usize) else {
                break;
            };
            q.before = Some((last.time_ms, last.request_id.clone()));
            pages += 1;
            if pages > 5 {
                break;
            }
        }
    }
}

/// Retention by age cuts through chunks record by record; by count it keeps exactly
/// `max_rows`, the oldest gone; small chunks are merged and still found.
async fn retention_is_exact(store: Arc<dyn KeyStore>) {
    let mut rng = Rng(3);
    // Three chunks, one after the other in time: [0, 1000), [1000, 2000), [2000, 3000).
    let mut all: Vec<Record> = Vec::new();
    for c in 0..3 {
        let chunk: Vec<Record> = (0..1000)
            .map(|i| rec(c * 1000 + i, T0 + (c * 1000 + i) as i64, &mut rng))
            .collect();
        store.write_log(&chunk, &[]).await.unwrap();
        all.extend(chunk);
    }
    let count = |store: Arc<dyn KeyStore>| async move {
        let q = RequestQuery {
            limit: 10_000,
            ..RequestQuery::default()
        };
        store.requests(&q).await.unwrap()
    };
    let keep = |before_ms: i64, max_rows: u64| Retention {
        before_ms,
        max_rows,
        usage_before: [(Step::Minute, 0), (Step::Hour, 0), (Step::Day, 0)],
    };
    // Age: the first chunk whole and half the second.
    let gone = store.prune_log(&keep(T0 + 1500, 1_000_000)).await.unwrap();
    assert_eq!(gone, 1500);
    let left = count(Arc::clone(&store)).await;
    assert_eq!(left.len(), 1500);
    assert!(left.iter().all(|r| r.time_ms >= T0 + 1500));
    assert_eq!(store.request(&all[1499].request_id).await.unwrap(), None);
    assert_eq!(
        store.request(&all[1500].request_id).await.unwrap().as_ref(),
        Some(&all[1500])
    );
    // Count: 1,234 kept, the newest.
    let gone = store.prune_log(&keep(T0, 1234)).await.unwrap();
    assert_eq!(gone, 266);
    let left = count(Arc::clone(&store)).await;
    assert_eq!(left.len(), 1234);
    assert_eq!(left.last().map(|r| r.time_ms), Some(T0 + 3000 - 1234));
    assert_eq!(store.prune_log(&keep(T0, 1234)).await.unwrap(), 0);

    // A quiet gateway: many small chunks, merged by the next pass, all still found.
    let small: Vec<Record> = (0..120)
        .map(|i| rec(5000 + i, T0 + 10_000 + i as i64, &mut rng))
        .collect();
    for pair in small.chunks(2) {
        store.write_log(pair, &[]).await.unwrap();
    }
    assert_eq!(store.prune_log(&keep(T0, 1_000_000)).await.unwrap(), 0);
    for r in &small {
        assert_eq!(
            store.request(&r.request_id).await.unwrap().as_ref(),
            Some(r)
        );
    }
    assert_eq!(count(Arc::clone(&store)).await.len(), 1234 + 120);
}

async fn chunk_rows(url: &str) -> i64 {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM request_log_chunks")
            .fetch_one(&mut c)
            .await
            .unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM request_log_chunks")
            .fetch_one(&mut c)
            .await
            .unwrap()
    }
}

/// Rows of the table chunks replaced are moved into chunks when the store opens.
async fn old_rows_are_moved_into_chunks(url: &str) {
    use sqlx::Connection;
    let store = db::open(url).await.unwrap();
    let mut rng = Rng(5);
    // The table never had trace ids.
    let old: Vec<Record> = (0..30)
        .map(|i| Record {
            trace_id: None,
            ..rec(i, T0 + i as i64, &mut rng)
        })
        .collect();
    let insert = "INSERT INTO request_log (request_id, time_ms, method, path, route, key_id, \
                  tenant, status, code, latency_us, upstream_status, upstream_request_id, \
                  id_tail) VALUES ";
    let values: Vec<String> = old
        .iter()
        .map(|r| {
            let s = |v: &Option<String>| v.as_ref().map_or("NULL".into(), |v| format!("'{v}'"));
            format!(
                "('{}', {}, '{}', '{}', '{}', {}, {}, {}, {}, {}, {}, {}, 0)",
                r.request_id,
                r.time_ms,
                r.method,
                r.path,
                r.route,
                s(&r.key_id),
                s(&r.tenant),
                r.status,
                s(&r.code),
                r.latency_us,
                r.upstream_status.map_or("NULL".into(), |u| u.to_string()),
                s(&r.upstream_request_id),
            )
        })
        .collect();
    let sql = format!("{insert}{}", values.join(", "));
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(&sql).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(&sql).execute(&mut c).await.unwrap();
    }
    drop(store);
    let store = db::open(url).await.unwrap();
    for r in &old {
        assert_eq!(
            store.request(&r.request_id).await.unwrap().as_ref(),
            Some(r)
        );
    }
    assert_eq!(chunk_rows(url).await, 1);
    let left: i64 = if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM request_log")
            .fetch_one(&mut c)
            .await
            .unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM request_log")
            .fetch_one(&mut c)
            .await
            .unwrap()
    };
    assert_eq!(left, 0);
}

fn sqlite_url(name: &str) -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("errata-reqlog-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("keys.db").display());
    (dir, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_finds_every_record_by_id() {
    let (dir, url) = sqlite_url("ids");
    every_record_is_found_by_its_id(db::open(&url).await.unwrap()).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_finds_every_record_by_id() {
    let Some(pg) = services::postgres().await else {
        return;
    };
    every_record_is_found_by_its_id(db::open(&pg.url).await.unwrap()).await;
}

#[tokio::test]
async fn sqlite_listings_match_a_plain_sort() {
    let (dir, url) = sqlite_url("list");
    listings_match_a_plain_sort(db::open(&url).await.unwrap()).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn postgres_listings_match_a_plain_sort() {
    let Some(pg) = services::postgres().await else {
        return;
    };
    listings_match_a_plain_sort(db::open(&pg.url).await.unwrap()).await;
}

#[tokio::test]
async fn sqlite_retention_is_exact() {
    let (dir, url) = sqlite_url("retention");
    retention_is_exact(db::open(&url).await.unwrap()).await;
    // The 60 two-record chunks were merged into one.
    assert_eq!(chunk_rows(&url).await, 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn postgres_retention_is_exact() {
    let Some(pg) = services::postgres().await else {
        return;
    };
    retention_is_exact(db::open(&pg.url).await.unwrap()).await;
    assert_eq!(chunk_rows(&pg.url).await, 2);
}

#[tokio::test]
async fn sqlite_moves_old_rows_into_chunks() {
    let (dir, url) = sqlite_url("adopt");
    old_rows_are_moved_into_chunks(&url).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn postgres_moves_old_rows_into_chunks() {
    let Some(pg) = services::postgres().await else {
        return;
    };
    old_rows_are_moved_into_chunks(&pg.url).await;
}

/// A store whose log writes fail while `down` is set.
struct Flaky {
    inner: Arc<dyn KeyStore>,
    down: AtomicBool,
}

#[async_trait]
impl KeyStore for Flaky {
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
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError("connection refused".into()));
        }
        self.inner.write_log(records, counts).await
    }
    async fn write_chunks(
        &self,
        chunks: &[Chunk],
        counts: &[(UsageKey, u64)],
    ) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError("connection refused".into()));
        }
        self.inner.write_chunks(chunks, counts).await
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
    async fn usage_by_tenant(
        &self,
        q: &UsageQuery,
    ) -> Result<Vec<errata_store::db::TenantUsageRow>, StoreError> {
        self.inner.usage_by_tenant(q).await
    }
    async fn prune_log(&self, r: &Retention) -> Result<u64, StoreError> {
        self.inner.prune_log(r).await
    }
}

/// Polls until `ok` holds, for up to 5 s.
async fn eventually<F: AsyncFnMut() -> bool>(mut ok: F) {
    for _ in 0..500 {
        if ok().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened");
}

/// While the store refuses writes, records and usage wait and are written once it takes them,
/// each once; past `queue` waiting records the oldest are dropped and counted, usage still
/// exact.
#[tokio::test]
async fn a_failed_write_is_retried_and_usage_stays_exact() {
    let (dir, url) = sqlite_url("flaky");
    let store = Arc::new(Flaky {
        inner: db::open(&url).await.unwrap(),
        down: AtomicBool::new(true),
    });
    let recorder = Arc::new(Recorder::new(
        RequestLogConfig {
            flush_interval_ms: 5,
            queue: 250,
            ..RequestLogConfig::default()
        },
        1,
    ));
    let (stop_tx, stop) = watch::channel(false);
    let flush = tokio::spawn(errata_store::flush::run(
        Arc::clone(&recorder),
        Arc::clone(&store) as Arc<dyn KeyStore>,
        Arc::new(ManualClock::new(T0 as u64)),
        stop,
    ));
    let mut rng = Rng(9);
    let mut records = Vec::new();
    for wave in 0..5 {
        for i in 0..100 {
            let mut r = rec(wave * 100 + i, T0 + (wave * 100 + i) as i64, &mut rng);
            r.key_id = Some("key_a".into());
            r.tenant = Some("acme".into());
            recorder.record(0, &r.entry(), (None, None));
            records.push(r);
        }
        // Each wave is taken by a flush that fails.
        let seen = recorder.dropped();
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(recorder.dropped() >= seen);
    }
    assert_eq!(
        store
            .requests(&RequestQuery {
                limit: 1000,
                ..RequestQuery::default()
            })
            .await
            .unwrap(),
        vec![]
    );
    store.down.store(false, Ordering::SeqCst);
    let usage = || async { total(&store.usage(&usage_query(Step::Minute)).await.unwrap()) };
    eventually(async || usage().await == 500).await;
    let dropped = recorder.dropped() as usize;
    assert_eq!(
        dropped,
        500 - 200,
        "the two newest waves (250 at most) waited"
    );
    let mut found = 0;
    for r in &records {
        if let Some(got) = store.request(&r.request_id).await.unwrap() {
            assert_eq!(&got, r);
            found += 1;
        }
    }
    assert_eq!(found, 500 - dropped);
    // Written once: later flushes add nothing.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(usage().await, 500);
    stop_tx.send(true).unwrap();
    flush.await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

fn chunk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("keys.db-requests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// A SQLite file store keeps big chunks in files beside the database: retention removes them
/// with their rows, a file no row names is removed once old, and a lost file costs its own
/// records only.
#[tokio::test]
async fn sqlite_keeps_big_chunks_in_files() {
    let (dir, url) = sqlite_url("files");
    let store = db::open(&url).await.unwrap();
    let mut rng = Rng(13);
    let chunks: Vec<Vec<Record>> = (0..3)
        .map(|c| {
            (0..3000)
                .map(|i| rec(c * 3000 + i, T0 + (c * 3000 + i) as i64, &mut rng))
                .collect()
        })
        .collect();
    for c in &chunks {
        store.write_log(c, &[]).await.unwrap();
    }
    // A small one stays in its row.
    store.write_log(&chunks[0][..3], &[]).await.unwrap();
    assert_eq!(chunk_files(&dir).len(), 3);
    assert_eq!(chunk_rows(&url).await, 4);
    for r in [&chunks[0][0], &chunks[1][1500], &chunks[2][2999]] {
        assert_eq!(
            store.request(&r.request_id).await.unwrap().as_ref(),
            Some(r)
        );
    }

    // An orphan (a writer died between its file and its row): removed once old, not before.
    let files_dir = dir.join("keys.db-requests");
    let old = files_dir.join(format!("{:032x}.chunk", 1));
    let fresh = files_dir.join(format!("{:032x}.chunk", 2));
    std::fs::write(&old, b"x").unwrap();
    std::fs::write(&fresh, b"x").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    let keep_all = Retention {
        before_ms: 0,
        max_rows: 1_000_000,
        usage_before: [(Step::Minute, 0), (Step::Hour, 0), (Step::Day, 0)],
    };
    assert_eq!(store.prune_log(&keep_all).await.unwrap(), 0);
    assert!(!old.exists() && fresh.exists());
    std::fs::remove_file(&fresh).unwrap();

    // Retention: the first chunk whole (its file goes), half the second (rewritten).
    let gone = store
        .prune_log(&Retention {
            before_ms: T0 + 4500,
            ..keep_all
        })
        .await
        .unwrap();
    assert_eq!(gone, 3000 + 3 + 1500);
    assert_eq!(chunk_files(&dir).len(), 2);
    assert_eq!(store.request(&chunks[0][5].request_id).await.unwrap(), None);
    assert_eq!(
        store
            .request(&chunks[1][1500].request_id)
            .await
            .unwrap()
            .as_ref(),
        Some(&chunks[1][1500])
    );

    // A lost file (the third chunk's, the only one of 3,000 records): its records are gone,
    // the rest still answer.
    // The largest file: the second chunk's (1,500 records left) is about half its size.
    let third = chunk_files(&dir)
        .into_iter()
        .max_by_key(|f| std::fs::metadata(f).unwrap().len())
        .unwrap();
    std::fs::remove_file(third).unwrap();
    let all = store
        .requests(&RequestQuery {
            limit: 10_000,
            ..RequestQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1500);
    assert_eq!(store.request(&chunks[2][0].request_id).await.unwrap(), None);
    assert_eq!(
        store
            .request(&chunks[1][2000].request_id)
            .await
            .unwrap()
            .as_ref(),
        Some(&chunks[1][2000])
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
