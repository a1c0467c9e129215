//! The request log on PostgreSQL, partitioned by UTC day (migration 0005): records of three
//! days in three partitions and all found; retention dropping whole days and trimming the day
//! it cuts through; four instances making one missing day at once; a database of the layout
//! before partitions moved into them, ids going on; lookups and listings on indexes. Usage
//! counted per writer (migration 0006): two instances counting one key in rows of their own,
//! summed by every query, and rows counted before writer ids kept (PostgreSQL and SQLite).
//! Times are explicit (days in 2030), never waited for.

#[path = "../../errata/tests/support/services.rs"]
mod services;

use std::sync::Arc;

use errata_store::db::{self, KeyStore, RequestQuery, Retention, Step, UsageQuery};
use errata_store::reqlog::{Chunk, Record, Recorder, RequestLogConfig};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
/// 2030-01-01T00:00:00Z, day 21915: far from today, whose partitions the store makes itself.
const D0: i64 = 21_915 * DAY_MS;

/// The partition name of the day starting at `ms` (2030-01-DD).
fn part(ms: i64) -> String {
    assert!((D0..D0 + 31 * DAY_MS).contains(&ms));
    format!("request_log_chunks_203001{:02}", (ms - D0) / DAY_MS + 1)
}

fn rec(n: usize, time_ms: i64) -> Record {
    let status = [200, 200, 201, 404, 429, 502][n % 6];
    Record {
        request_id: format!(
            "req_{:016x}",
            (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ),
        time_ms,
        method: ["GET", "POST"][n % 2].into(),
        path: format!("/v1/items/{}", n % 97),
        route: ["/v1/*", "/public"][n % 3 / 2].into(),
        key_id: Some(format!("key_{}", n % 5)),
        tenant: Some(["acme", "globex"][n % 5 % 2].into()),
        status,
        code: match status {
            404 => Some("resource_not_found".into()),
            429 => Some("rate_limited".into()),
            502 => Some("upstream_error".into()),
            _ => None,
        },
        latency_us: (n % 5000) as i64,
        upstream_status: (status != 429).then_some(status),
        upstream_request_id: None,
        trace_id: Some(format!("{n:032x}")),
    }
}

/// Records `records` through a two-worker recorder and writes them as one flush, as the
/// gateway's flush task does.
async fn flush(store: &dyn KeyStore, records: &[Record]) {
    let r = Recorder::new(
        RequestLogConfig {
            queue: 1 << 20,
            ..RequestLogConfig::default()
        },
        2,
    );
    for (i, rec) in records.iter().enumerate() {
        r.record(i % 2, &rec.entry(), (None, None));
    }
    let t = r.take();
    store.write_chunks(&t.chunks, &t.counts).await.unwrap();
}

/// The migrations of `db` (`postgres` or `sqlite`) before `version`: a database of the layout
/// an earlier errata left, to open with this one.
async fn migrations_before(db: &str, version: i64) -> sqlx::migrate::Migrator {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(db);
    let mut before = sqlx::migrate::Migrator::new(dir).await.unwrap();
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < version)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    assert_eq!(before.migrations.len() as i64, version - 1);
    before
}

async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url).await.unwrap()
}

/// The partitions of `request_log_chunks`, by name.
async fn partitions(url: &str) -> Vec<String> {
    let mut c = connect(url).await;
    let mut names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::TEXT FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'request_log_chunks'::regclass",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    names.sort();
    names
}

/// Records a partition holds (by its chunks' counts), or `None` when there is no such table.
async fn records_in(url: &str, name: &str) -> Option<i64> {
    let mut c = connect(url).await;
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(name)
        .fetch_one(&mut c)
        .await
        .unwrap();
    if !exists {
        return None;
    }
    Some(
        sqlx::query_scalar(&format!(
            "SELECT CAST(COALESCE(SUM(record_count), 0) AS BIGINT) FROM {name}"
        ))
        .fetch_one(&mut c)
        .await
        .unwrap(),
    )
}

/// The UTC day number PostgreSQL says it is.
async fn today(url: &str) -> i64 {
    let mut c = connect(url).await;
    sqlx::query_scalar("SELECT CAST(floor(extract(epoch FROM now()) / 86400) AS BIGINT)")
        .fetch_one(&mut c)
        .await
        .unwrap()
}

/// The name the store gives the partition of a day number.
async fn name_of_day(url: &str, day: i64) -> String {
    let mut c = connect(url).await;
    sqlx::query_scalar(
        "SELECT 'request_log_chunks_' || to_char(DATE '1970-01-01' + CAST($1 AS INTEGER), 'YYYYMMDD')",
    )
    .bind(day)
    .fetch_one(&mut c)
    .await
    .unwrap()
}

fn everything() -> RequestQuery {
    RequestQuery {
        limit: 100_000,
        ..RequestQuery::default()
    }
}

fn newest_first(mut v: Vec<Record>) -> Vec<Record> {
    v.sort_by(|a, b| (b.time_ms, &b.request_id).cmp(&(a.time_ms, &a.request_id)));
    v
}

async fn all_found(store: &dyn KeyStore, records: &[Record]) {
    for r in records {
        assert_eq!(
            store.request(&r.request_id).await.unwrap().as_ref(),
            Some(r),
            "{} at {}",
            r.request_id,
            r.time_ms
        );
    }
}

/// Records of three UTC days, each day's flushed on its own (as a gateway's flushes are, a
/// second apart), land in the three days' partitions; all are found by id and by listing, a
/// listing across a day boundary included. Opening made today's and tomorrow's partitions.
#[tokio::test]
async fn three_days_of_records_land_in_three_partitions() {
    let Some(pg) = services::postgres().await else {
        return;
    };
    let before = today(&pg.url).await;
    let store = db::open(&pg.url).await.unwrap();
    let after = today(&pg.url).await;
    let mut all = Vec::new();
    for day in 0..3 {
        for flushed in 0..4 {
            let records: Vec<Record> = (0..250)
                .map(|i| {
                    let n = all.len() + i;
                    rec(
                        n,
                        D0 + day * DAY_MS + flushed * 6 * HOUR_MS + i as i64 * 1000,
                    )
                })
                .collect();
            flush(store.as_ref(), &records).await;
            all.extend(records);
        }
    }
    // Every flush crossed minutes: each hour counted once, exactly.
    let hours = store
        .usage(&UsageQuery {
            tenant: None,
            key_id: None,
            step: Step::Hour,
            since: 0,
            until: i64::MAX,
        })
        .await
        .unwrap();
    let mut per_hour = std::collections::BTreeMap::<i64, i64>::new();
    for u in &hours {
        *per_hour.entry(u.bucket).or_default() += u.count;
    }
    let mut want = std::collections::BTreeMap::<i64, i64>::new();
    for r in &all {
        *want.entry(r.time_ms / HOUR_MS * 3600).or_default() += 1;
    }
    assert_eq!(per_hour, want);

    let names = partitions(&pg.url).await;
    for day in 0..3 {
        let p = part(D0 + day * DAY_MS);
        assert!(names.contains(&p), "{p} in {names:?}");
        assert_eq!(records_in(&pg.url, &p).await, Some(1000), "{p}");
    }
    // The days open made ahead (it ran between `before` and `after`).
    let mut made_ahead = false;
    for day in before..=after {
        let (a, b) = (
            name_of_day(&pg.url, day).await,
            name_of_day(&pg.url, day + 1).await,
        );
        made_ahead |= names.contains(&a) && names.contains(&b);
    }
    assert!(made_ahead, "today's and tomorrow's partitions in {names:?}");

    all_found(store.as_ref(), &all).await;
    assert_eq!(store.request("req_nope").await.unwrap(), None);
    assert_eq!(
        store.requests(&everything()).await.unwrap(),
        newest_first(all.clone())
    );
    // From the last flush of the first day to the first of the third.
    let q = RequestQuery {
        since_ms: Some(D0 + 18 * HOUR_MS),
        until_ms: Some(D0 + 2 * DAY_MS + HOUR_MS),
        ..everything()
    };
    let want: Vec<Record> = all
        .iter()
        .filter(|r| r.time_ms >= D0 + 18 * HOUR_MS && r.time_ms < D0 + 2 * DAY_MS + HOUR_MS)
        .cloned()
        .collect();
    assert_eq!(want.len(), 250 + 1000 + 250);
    assert_eq!(store.requests(&q).await.unwrap(), newest_first(want));
}

fn keep(before_ms: i64, max_rows: u64) -> Retention {
    Retention {
        before_ms,
        max_rows,
        usage_before: [(Step::Minute, 0), (Step::Hour, 0), (Step::Day, 0)],
    }
}

/// Five days of records; "now" is noon of the fifth and records are kept two days: the first two
/// days' partitions are dropped whole (gone from the catalog), the third day, which the cutoff
/// cuts at noon, loses its chunks wholly older and keeps the newer records of the chunk the
/// cutoff cuts through. The count returned is every record gone. The pass merges each day's
/// small chunks into one, in its day's partition. Then `max_rows` takes the third day whole (its
/// partition dropped) and the oldest records of the fourth.
#[tokio::test]
async fn retention_drops_whole_days_and_trims_the_day_it_cuts() {
    let Some(pg) = services::postgres().await else {
        return;
    };
    let store = db::open(&pg.url).await.unwrap();
    let now = D0 + 4 * DAY_MS + 12 * HOUR_MS;
    let cutoff = now - 2 * DAY_MS;
    let mut all = Vec::new();
    for day in 0..5 {
        // 02:00-04:00, 08:00-16:00 (cut through on the third day), 20:00-22:00: 100 each.
        for (from, to) in [(2, 4), (8, 16), (20, 22)] {
            let start = D0 + day * DAY_MS + from * HOUR_MS;
            let step = (to - from) * HOUR_MS / 100;
            let records: Vec<Record> = (0..100)
                .map(|i| rec(all.len() + i, start + i as i64 * step))
                .collect();
            flush(store.as_ref(), &records).await;
            all.extend(records);
        }
    }
    let (old, kept): (Vec<Record>, Vec<Record>) =
        all.iter().cloned().partition(|r| r.time_ms < cutoff);
    // Two whole days, the third's first flush and half its second.
    assert_eq!(old.len(), 300 + 300 + 100 + 50);

    let gone = store.prune_log(&keep(cutoff, 1_000_000)).await.unwrap();
    assert_eq!(gone, old.len() as u64);
    for day in 0..2 {
        assert_eq!(records_in(&pg.url, &part(D0 + day * DAY_MS)).await, None);
        assert!(!partitions(&pg.url).await.contains(&part(D0 + day * DAY_MS)));
    }
    assert_eq!(records_in(&pg.url, &part(D0 + 2 * DAY_MS)).await, Some(150));
    let mut c = connect(&pg.url).await;
    for day in 2..5 {
        let chunks: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", part(D0 + day * DAY_MS)))
                .fetch_one(&mut c)
                .await
                .unwrap();
        assert_eq!(
            chunks, 1,
            "day {day}'s chunks merged into one, in its partition"
        );
    }
    all_found(store.as_ref(), &kept).await;
    for r in &old {
        assert_eq!(store.request(&r.request_id).await.unwrap(), None);
    }
    assert_eq!(
        store.requests(&everything()).await.unwrap(),
        newest_first(kept.clone())
    );
    assert_eq!(store.prune_log(&keep(cutoff, 1_000_000)).await.unwrap(), 0);

    // 480 of 750 kept: the third day's 150 (the whole partition), then the oldest 120 of the
    // fourth day's chunk.
    let gone = store.prune_log(&keep(cutoff, 480)).await.unwrap();
    assert_eq!(gone, 270);
    assert_eq!(records_in(&pg.url, &part(D0 + 2 * DAY_MS)).await, None);
    assert_eq!(records_in(&pg.url, &part(D0 + 3 * DAY_MS)).await, Some(180));
    let left = store.requests(&everything()).await.unwrap();
    assert_eq!(left, newest_first(kept[kept.len() - 480..].to_vec()));
}

/// Four instances (four pools) flush into a day no partition holds yet, at the same moment: all
/// writes succeed, the day has one partition, and every record and every count is there. Five
/// days in a row, so that the race is run more than once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_instances_make_a_missing_day_at_once() {
    let Some(pg) = services::postgres().await else {
        return;
    };
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(db::open(&pg.url).await.unwrap());
    }
    let mut all = Vec::new();
    for day in 10..15 {
        let start = D0 + day * DAY_MS + 12 * HOUR_MS;
        let barrier = Arc::new(tokio::sync::Barrier::new(4));
        let mut writers = tokio::task::JoinSet::new();
        let base = all.len();
        for (w, store) in stores.iter().enumerate() {
            let records: Vec<Record> = (0..500)
                .map(|i| rec(base + w * 500 + i, start + i as i64))
                .collect();
            all.extend(records.clone());
            let (store, barrier) = (Arc::clone(store), Arc::clone(&barrier));
            writers.spawn(async move {
                let r = Recorder::new(RequestLogConfig::default(), 2);
                for (i, rec) in records.iter().enumerate() {
                    r.record(i % 2, &rec.entry(), (None, None));
                }
                let t = r.take();
                barrier.wait().await;
                store.write_chunks(&t.chunks, &t.counts).await
            });
        }
        while let Some(done) = writers.join_next().await {
            done.unwrap().unwrap();
        }
        let p = part(D0 + day * DAY_MS);
        assert_eq!(records_in(&pg.url, &p).await, Some(2000), "{p}");
        let named: Vec<String> = partitions(&pg.url)
            .await
            .into_iter()
            .filter(|n| n.starts_with(&p))
            .collect();
        assert_eq!(named, [p]);
    }
    all_found(stores[3].as_ref(), &all).await;
    let usage = stores[0]
        .usage(&UsageQuery {
            tenant: None,
            key_id: None,
            step: Step::Day,
            since: 0,
            until: i64::MAX,
        })
        .await
        .unwrap();
    assert_eq!(usage.iter().map(|u| u.count).sum::<i64>(), all.len() as i64);
}

/// A database migrated before partitions (0001 to 0004) with chunks of three days, and a chunk
/// deleted since (its id used): opening it moves every chunk into its day's partition, ids kept,
/// and new chunks get ids above every id the old table gave.
#[tokio::test]
async fn an_old_layout_is_moved_into_partitions() {
    let Some(pg) = services::postgres().await else {
        return;
    };
    let before = migrations_before("postgres", 5).await;
    let mut c = connect(&pg.url).await;
    before.run(&mut c).await.unwrap();
    let mut old = Vec::new();
    for day in 0..3 {
        for flushed in 0..3 {
            let records: Vec<Record> = (0..200)
                .map(|i| {
                    rec(
                        old.len() + i,
                        D0 + day * DAY_MS + flushed * HOUR_MS + i as i64,
                    )
                })
                .collect();
            let chunk = Chunk::from_records(&records);
            sqlx::query(
                "INSERT INTO request_log_chunks (min_time_ms, max_time_ms, record_count, names, \
                 ids, data) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(chunk.min_time_ms)
            .bind(chunk.max_time_ms)
            .bind(chunk.rows as i64)
            .bind(&chunk.names)
            .bind(&chunk.ids)
            .bind(&chunk.data)
            .execute(&mut c)
            .await
            .unwrap();
            old.extend(records);
        }
    }
    let doomed = Chunk::from_records(&[rec(9999, D0)]);
    let doomed_id: i64 = sqlx::query_scalar(
        "INSERT INTO request_log_chunks (min_time_ms, max_time_ms, record_count, names, ids, \
         data) VALUES ($1, $1, 1, $2, $3, $4) RETURNING id",
    )
    .bind(doomed.min_time_ms)
    .bind(&doomed.names)
    .bind(&doomed.ids)
    .bind(&doomed.data)
    .fetch_one(&mut c)
    .await
    .unwrap();
    sqlx::query("DELETE FROM request_log_chunks WHERE id = $1")
        .bind(doomed_id)
        .execute(&mut c)
        .await
        .unwrap();
    let old_ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM request_log_chunks ORDER BY id")
        .fetch_all(&mut c)
        .await
        .unwrap();
    assert_eq!(old_ids.len(), 9);
    assert!(old_ids.iter().all(|&id| id < doomed_id));

    let store = db::open(&pg.url).await.unwrap();
    let kind: String = sqlx::query_scalar(
        "SELECT relkind::TEXT FROM pg_class WHERE oid = 'request_log_chunks'::regclass",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(kind, "p", "partitioned");
    let left: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('request_log_chunks_unpartitioned')::TEXT")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(left, None);
    let moved_ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM request_log_chunks ORDER BY id")
        .fetch_all(&mut c)
        .await
        .unwrap();
    assert_eq!(moved_ids, old_ids);
    for day in 0..3 {
        assert_eq!(
            records_in(&pg.url, &part(D0 + day * DAY_MS)).await,
            Some(600)
        );
    }
    all_found(store.as_ref(), &old).await;

    let new: Vec<Record> = (0..100)
        .map(|i| rec(10_000 + i, D0 + DAY_MS + 12 * HOUR_MS + i as i64))
        .collect();
    flush(store.as_ref(), &new).await;
    let new_ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM request_log_chunks WHERE min_time_ms >= $1 AND max_time_ms < $2 \
         ORDER BY id",
    )
    .bind(D0 + DAY_MS + 12 * HOUR_MS)
    .bind(D0 + 2 * DAY_MS)
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(new_ids.len(), 2, "one chunk per worker");
    assert!(new_ids.iter().all(|&id| id > doomed_id), "{new_ids:?}");
    all_found(store.as_ref(), &new).await;
    // The sequence now belongs to the partitioned table's column.
    let seq: Option<String> =
        sqlx::query_scalar("SELECT pg_get_serial_sequence('request_log_chunks', 'id')")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(seq.as_deref(), Some("public.request_log_chunks_id_seq"));
}

/// The plan PostgreSQL makes for a statement, as text.
async fn plan(c: &mut PgConnection, sql: &str) -> String {
    let rows: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {sql}"))
        .fetch_all(&mut *c)
        .await
        .unwrap();
    rows.join("\n")
}

/// The statements the store reads chunks and usage with, on the partitioned table: a chunk read
/// by (time, id) probes one partition's primary key (pruned at run time too, with the generic
/// plan a prepared statement ends up with); the listings can walk the primary key backwards,
/// with no sort and no partition before a listing's `since`; usage reads its indexes. The
/// tables are small, so sequential and bitmap scans are turned off: a statement then shows a
/// sequential scan, or a sort, only where no index serves it.
#[tokio::test]
async fn reads_use_the_partitions_indexes() {
    let Some(pg) = services::postgres().await else {
        return;
    };
    let store = db::open(&pg.url).await.unwrap();
    for day in 0..3 {
        let records: Vec<Record> = (0..100)
            .map(|i| rec(day * 100 + i, D0 + day as i64 * DAY_MS + i as i64))
            .collect();
        flush(store.as_ref(), &records).await;
    }
    let mut c = connect(&pg.url).await;
    let (id, max): (i64, i64) = sqlx::query_as(&format!(
        "SELECT id, max_time_ms FROM {} LIMIT 1",
        part(D0 + DAY_MS)
    ))
    .fetch_one(&mut c)
    .await
    .unwrap();
    for off in ["enable_seqscan", "enable_bitmapscan"] {
        sqlx::query(&format!("SET {off} = off"))
            .execute(&mut c)
            .await
            .unwrap();
    }

    let read = plan(
        &mut c,
        &format!(
            "SELECT names, data, file FROM request_log_chunks WHERE max_time_ms = {max} AND id = {id}"
        ),
    )
    .await;
    assert!(
        read.contains(&format!("{}_pkey", part(D0 + DAY_MS))),
        "{read}"
    );
    assert!(
        !read.contains(&part(D0)) && !read.contains(&part(D0 + 2 * DAY_MS)),
        "{read}"
    );
    assert!(!read.contains("Seq Scan"), "{read}");

    sqlx::query("SET plan_cache_mode = force_generic_plan")
        .execute(&mut c)
        .await
        .unwrap();
    sqlx::query(
        "PREPARE chunk(BIGINT, BIGINT) AS SELECT names, data, file FROM request_log_chunks \
         WHERE max_time_ms = $1 AND id = $2",
    )
    .execute(&mut c)
    .await
    .unwrap();
    let generic = plan(&mut c, &format!("EXECUTE chunk({max}, {id})")).await;
    assert!(generic.contains("Subplans Removed"), "{generic}");
    assert!(!generic.contains("Seq Scan"), "{generic}");

    let walk = plan(
        &mut c,
        "SELECT id, max_time_ms, ids FROM request_log_chunks ORDER BY max_time_ms DESC, id DESC",
    )
    .await;
    assert!(walk.contains("Index Scan Backward"), "{walk}");
    assert!(
        !walk.contains("Sort") && !walk.contains("Seq Scan"),
        "{walk}"
    );

    let listing = plan(
        &mut c,
        &format!(
            "SELECT id, max_time_ms, names FROM request_log_chunks WHERE max_time_ms >= {} \
             ORDER BY max_time_ms DESC, id DESC",
            D0 + DAY_MS
        ),
    )
    .await;
    assert!(listing.contains("Index Scan Backward"), "{listing}");
    assert!(!listing.contains(&part(D0)), "{listing}");
    assert!(
        !listing.contains("Sort") && !listing.contains("Seq Scan"),
        "{listing}"
    );

    let usage = plan(
        &mut c,
        "SELECT bucket, status, code, CAST(SUM(count) AS BIGINT) FROM usage_counts \
         WHERE step = 'minute' AND tenant = 'acme' AND bucket >= 0 AND bucket < 9999999999 \
         GROUP BY bucket, status, code",
    )
    .await;
    assert!(usage.contains("usage_counts_tenant"), "{usage}");
    assert!(!usage.contains("Seq Scan"), "{usage}");
    let of_key = plan(
        &mut c,
        "SELECT bucket, status, code, CAST(SUM(count) AS BIGINT) FROM usage_counts \
         WHERE step = 'hour' AND key_id = 'key_1' AND bucket >= 0 AND bucket < 9999999999 \
         GROUP BY bucket, status, code",
    )
    .await;
    assert!(of_key.contains("usage_counts_key"), "{of_key}");
    assert!(!of_key.contains("Seq Scan"), "{of_key}");
    // Retention of usage, whatever the writers: by an index that starts (step, ...) and holds
    // the bucket (the primary key, or one the planner finds cheaper on a small table).
    let retention = plan(
        &mut c,
        "DELETE FROM usage_counts WHERE step = 'minute' AND bucket < 1000",
    )
    .await;
    assert!(
        retention.contains("Index Scan using usage_counts_"),
        "{retention}"
    );
    assert!(!retention.contains("Seq Scan"), "{retention}");
}

/// A record of the one key, route, status and code the writer tests count: each adds to the
/// same minute, hour and day of one usage series.
fn shared(n: usize, time_ms: i64) -> Record {
    Record {
        key_id: Some("key_shared".into()),
        tenant: Some("acme".into()),
        route: "/v1/*".into(),
        status: 200,
        code: None,
        upstream_status: Some(200),
        ..rec(n, time_ms)
    }
}

fn records(from: usize, n: usize, start: i64) -> Vec<Record> {
    (from..from + n)
        .map(|i| shared(i, start + i as i64 * 100))
        .collect()
}

fn of_key(step: Step) -> UsageQuery {
    UsageQuery {
        tenant: None,
        key_id: Some("key_shared".into()),
        step,
        since: 0,
        until: i64::MAX,
    }
}

/// What every usage query says of the shared series: per step, its bucket and count; and the
/// tenant's total.
async fn shared_usage(store: &dyn KeyStore) -> (Vec<(Step, i64, i64)>, Vec<(String, i64, i64)>) {
    let mut per_step = Vec::new();
    for step in [Step::Minute, Step::Hour, Step::Day] {
        for u in store.usage(&of_key(step)).await.unwrap() {
            assert_eq!((u.status, u.code.as_str()), (200, ""));
            per_step.push((step, u.bucket, u.count));
        }
    }
    let tenant = store
        .usage_by_tenant(&UsageQuery {
            tenant: Some("acme".into()),
            key_id: None,
            step: Step::Day,
            since: 0,
            until: i64::MAX,
        })
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.tenant, t.status, t.count))
        .collect();
    (per_step, tenant)
}

/// The shared series' rows of one step in the table: (writer, count), by writer.
async fn rows_of(c: &mut PgConnection, step: &str) -> Vec<(i64, i64)> {
    sqlx::query_as(
        "SELECT writer, count FROM usage_counts WHERE step = $1 AND key_id = 'key_shared' \
         ORDER BY writer",
    )
    .bind(step)
    .fetch_all(&mut *c)
    .await
    .unwrap()
}

/// Two instances (two pools, two stores) count requests of one key in one minute: each adds to
/// rows of its own writer id, never the other's, and every usage query answers the sum. One
/// instance's flush goes through while the other's rows are locked by a transaction that has
/// not ended (as by a flush of the other instance in progress): the lock timeout set on the
/// database would fail it if it waited. Retention deletes every writer's rows of an old bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_count_one_key_in_rows_of_their_own() {
    let Some(pg) = services::postgres().await else {
        return;
    };
    let mut c = connect(&pg.url).await;
    let name: String = sqlx::query_scalar("SELECT current_database()::TEXT")
        .fetch_one(&mut c)
        .await
        .unwrap();
    sqlx::query(&format!("ALTER DATABASE {name} SET lock_timeout = '5s'"))
        .execute(&mut c)
        .await
        .unwrap();
    let a = db::open(&pg.url).await.unwrap();
    let b = db::open(&pg.url).await.unwrap();
    // 2030-01-21 12:00, the minute every record falls in (100 ms apart, 50 of them at most).
    let start = D0 + 20 * DAY_MS + 12 * HOUR_MS;
    let (minute, hour, day) = (start / 1000, start / 1000, (D0 + 20 * DAY_MS) / 1000);

    flush(a.as_ref(), &records(0, 30, start)).await;
    flush(b.as_ref(), &records(30, 20, start)).await;
    let want = |n: i64| {
        (
            vec![
                (Step::Minute, minute, n),
                (Step::Hour, hour, n),
                (Step::Day, day, n),
            ],
            vec![("acme".to_owned(), 200, n)],
        )
    };
    assert_eq!(shared_usage(a.as_ref()).await, want(50));
    assert_eq!(shared_usage(b.as_ref()).await, want(50));
    let mut writers = Vec::new();
    for step in ["minute", "hour", "day"] {
        let rows = rows_of(&mut c, step).await;
        assert_eq!(rows.len(), 2, "{step}: {rows:?}");
        let mut counts: Vec<i64> = rows.iter().map(|r| r.1).collect();
        counts.sort();
        assert_eq!(counts, [20, 30], "{step}");
        assert!(rows.iter().all(|r| r.0 != 0), "{step}: {rows:?}");
        writers.push(rows.iter().map(|r| r.0).collect::<Vec<_>>());
    }
    assert!(writers.iter().all(|w| w == &writers[0]), "{writers:?}");
    let a_writer: i64 = sqlx::query_scalar(
        "SELECT writer FROM usage_counts WHERE step = 'minute' AND key_id = 'key_shared' \
         AND count = 30",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();

    // A's rows locked as its flush in progress holds them: B's flush does not wait.
    let mut held = connect(&pg.url).await;
    let mut tx = held.begin().await.unwrap();
    let locked: Vec<i64> =
        sqlx::query_scalar("SELECT count FROM usage_counts WHERE writer = $1 FOR UPDATE")
            .bind(a_writer)
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    assert_eq!(locked, [30, 30, 30]);
    flush(b.as_ref(), &records(50, 10, start)).await;
    tx.commit().await.unwrap();
    flush(a.as_ref(), &records(60, 5, start)).await;
    assert_eq!(shared_usage(a.as_ref()).await, want(65));
    for step in ["minute", "hour", "day"] {
        let rows = rows_of(&mut c, step).await;
        let by: Vec<(bool, i64)> = rows.iter().map(|r| (r.0 == a_writer, r.1)).collect();
        assert!(
            by.contains(&(true, 35)) && by.contains(&(false, 30)) && by.len() == 2,
            "{step}: {rows:?}"
        );
    }

    // Minutes before the next one go, both writers' rows; hours and days stay.
    let gone = a
        .prune_log(&Retention {
            before_ms: 0,
            max_rows: 1_000_000,
            usage_before: [(Step::Minute, minute + 60), (Step::Hour, 0), (Step::Day, 0)],
        })
        .await
        .unwrap();
    assert_eq!(gone, 0);
    assert!(rows_of(&mut c, "minute").await.is_empty());
    assert_eq!(rows_of(&mut c, "hour").await.len(), 2);
    let (per_step, tenant) = shared_usage(b.as_ref()).await;
    assert_eq!(per_step, [(Step::Hour, hour, 65), (Step::Day, day, 65)]);
    assert_eq!(tenant, [("acme".to_owned(), 200, 65)]);
}

/// A database of the layout before writer ids (migrations 0001 to 0005) with usage counted:
/// opening it keeps those rows, as writer 0, and the store's flushes add rows of its own id
/// beside them; usage is the sum of both.
#[tokio::test]
async fn usage_counted_before_writer_ids_is_kept() {
    let Some(pg) = services::postgres().await else {
        return;
    };
    let before = migrations_before("postgres", 6).await;
    let mut c = connect(&pg.url).await;
    before.run(&mut c).await.unwrap();
    let start = D0 + 20 * DAY_MS + 12 * HOUR_MS;
    for (step, bucket) in [
        ("minute", start / 1000),
        ("hour", start / 1000),
        ("day", (D0 + 20 * DAY_MS) / 1000),
    ] {
        sqlx::query(
            "INSERT INTO usage_counts (step, bucket, key_id, tenant, route, status, code, count) \
             VALUES ($1, $2, 'key_shared', 'acme', '/v1/*', 200, '', 40)",
        )
        .bind(step)
        .bind(bucket)
        .execute(&mut c)
        .await
        .unwrap();
    }

    let store = db::open(&pg.url).await.unwrap();
    assert_eq!(rows_of(&mut c, "day").await, [(0, 40)]);
    flush(store.as_ref(), &records(0, 7, start)).await;
    let (per_step, tenant) = shared_usage(store.as_ref()).await;
    assert_eq!(
        per_step.iter().map(|u| u.2).collect::<Vec<_>>(),
        [47, 47, 47]
    );
    assert_eq!(tenant, [("acme".to_owned(), 200, 47)]);
    for step in ["minute", "hour", "day"] {
        let rows = rows_of(&mut c, step).await;
        assert_eq!(rows.len(), 2, "{step}: {rows:?}");
        assert_eq!(rows[0], (0, 40), "{step}");
        assert_eq!(rows[1].1, 7, "{step}");
    }
}

/// The same on SQLite, whose migration makes the table again for its new key: the rows counted
/// before are kept (writer 0) with their indexes, and a SQLite store adds to those same rows
/// (its writer is always 0).
#[tokio::test]
async fn sqlite_keeps_usage_counted_before_writer_ids() {
    let dir = std::env::temp_dir().join(format!("errata-usage-writer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("keys.db").display());
    let before = migrations_before("sqlite", 5).await;
    let start = D0 + 20 * DAY_MS + 12 * HOUR_MS;
    {
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        before.run(&mut c).await.unwrap();
        for (step, bucket) in [
            ("minute", start / 1000),
            ("hour", start / 1000),
            ("day", (D0 + 20 * DAY_MS) / 1000),
        ] {
            sqlx::query(
                "INSERT INTO usage_counts (step, bucket, key_id, tenant, route, status, code, \
                 count) VALUES (?, ?, 'key_shared', 'acme', '/v1/*', 200, '', 40)",
            )
            .bind(step)
            .bind(bucket)
            .execute(&mut c)
            .await
            .unwrap();
        }
        c.close().await.unwrap();
    }

    let store = db::open(&url).await.unwrap();
    flush(store.as_ref(), &records(0, 7, start)).await;
    let (per_step, tenant) = shared_usage(store.as_ref()).await;
    assert_eq!(
        per_step.iter().map(|u| u.2).collect::<Vec<_>>(),
        [47, 47, 47]
    );
    assert_eq!(tenant, [("acme".to_owned(), 200, 47)]);
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT step, writer, count FROM usage_counts WHERE key_id = 'key_shared' ORDER BY step",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            ("day".to_owned(), 0, 47),
            ("hour".to_owned(), 0, 47),
            ("minute".to_owned(), 0, 47),
        ]
    );
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'usage_counts' \
         AND sql IS NOT NULL ORDER BY name",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(indexes, ["usage_counts_key", "usage_counts_tenant"]);
    c.close().await.unwrap();
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
