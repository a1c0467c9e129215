//! The request log and usage counts in the key store: one implementation for SQLite and
//! PostgreSQL (the SQL is the same; `QueryBuilder` writes each database's placeholders).
//!
//! Records are kept in chunks (`request_log_chunks`, see [`crate::reqlog::chunk`]), as the
//! recorder wrote them: a flush inserts a row per worker, not a row and four index entries per
//! request. A lookup by id reads the chunks' id filters and opens the few that may hold it; a
//! listing walks the chunks newest first, skipping those whose names lack a filter's value,
//! until no older chunk can hold a better record. Retention deletes whole chunks and rewrites
//! the one or two it cuts through; small chunks (a quiet gateway's) are merged. A SQLite file
//! store keeps big chunks' records in files beside the database (`spill.rs`).
//!
//! A flush is one transaction: all its chunks in one multi-row INSERT, then the usage upserts.
//! PostgreSQL partitions `request_log_chunks` by the UTC day of `max_time_ms` (migration 0005,
//! `postgres/partitions.rs`): a write that finds no partition for its day has the store make it
//! (the `partitions` hook of [`super::log_ops`]) and is tried once more; retention drops the
//! days wholly before its cutoff as tables before the statements here handle the day it cuts
//! through. Every statement names a chunk by [`ChunkAt`] (time and id), so that it reads one
//! partition.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde::{Deserialize, Serialize};

use crate::db::StoreError;
use crate::reqlog::chunk::{Names, Raw, Raws};
use crate::reqlog::{Record, UsageKey};

/// A usage bucket size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Minute,
    Hour,
    Day,
}

impl Step {
    pub const ALL: [Step; 3] = [Step::Minute, Step::Hour, Step::Day];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Minute => "minute",
            Step::Hour => "hour",
            Step::Day => "day",
        }
    }

    pub fn seconds(self) -> i64 {
        match self {
            Step::Minute => 60,
            Step::Hour => 3600,
            Step::Day => 86_400,
        }
    }

    pub fn parse(s: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The start of the bucket `t` (Unix seconds) falls in.
    pub fn floor(self, t: i64) -> i64 {
        t.div_euclid(self.seconds()) * self.seconds()
    }
}

/// A status filter: one status (`429`) or a class (`4xx`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    Exact(u16),
    Class(u16),
}

impl StatusFilter {
    pub fn parse(s: &str) -> Option<StatusFilter> {
        if let Some(c) = s.strip_suffix("xx") {
            return match c.as_bytes() {
                [d @ b'1'..=b'5'] => Some(StatusFilter::Class(u16::from(d - b'0'))),
                _ => None,
            };
        }
        if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse::<u16>()
            .ok()
            .filter(|s| (100..=599).contains(s))
            .map(StatusFilter::Exact)
    }

    pub(crate) fn range(self) -> (i64, i64) {
        match self {
            StatusFilter::Exact(s) => (i64::from(s), i64::from(s) + 1),
            StatusFilter::Class(c) => (i64::from(c) * 100, i64::from(c) * 100 + 100),
        }
    }
}

/// Which records to list, newest first.
#[derive(Clone, Debug, Default)]
pub struct RequestQuery {
    pub tenant: Option<String>,
    pub key_id: Option<String>,
    pub code: Option<String>,
    pub status: Option<StatusFilter>,
    /// Unix milliseconds, inclusive.
    pub since_ms: Option<i64>,
    /// Unix milliseconds, exclusive.
    pub until_ms: Option<i64>,
    /// Only records older than this (time_ms, request_id): the page cursor.
    pub before: Option<(i64, String)>,
    pub limit: u32,
}

/// Whose usage, over which buckets.
#[derive(Clone, Debug)]
pub struct UsageQuery {
    pub tenant: Option<String>,
    pub key_id: Option<String>,
    pub step: Step,
    /// Unix seconds, inclusive (aligned to the step).
    pub since: i64,
    /// Unix seconds, exclusive.
    pub until: i64,
}

/// One bucket's count for one status and code.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct UsageRow {
    pub bucket: i64,
    pub status: i64,
    pub code: String,
    pub count: i64,
}

/// One tenant's count for one status over a whole range (`""`: answers that named no known
/// key).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct TenantUsageRow {
    pub tenant: String,
    pub status: i64,
    pub count: i64,
}

/// What retention removes.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    /// Records older than this (Unix ms) go.
    pub before_ms: i64,
    /// Beyond this many records, the oldest go.
    pub max_rows: u64,
    /// Per step, buckets older than this (Unix seconds) go.
    pub usage_before: [(Step, i64); 3],
}

/// A row of the `request_log` table that chunks replaced (moved into chunks at open).
#[derive(sqlx::FromRow)]
pub(crate) struct RecordRow {
    request_id: String,
    time_ms: i64,
    method: String,
    path: String,
    route: String,
    key_id: Option<String>,
    tenant: Option<String>,
    status: i64,
    code: Option<String>,
    latency_us: i64,
    upstream_status: Option<i64>,
    upstream_request_id: Option<String>,
}

impl From<RecordRow> for Record {
    fn from(r: RecordRow) -> Self {
        Record {
            request_id: r.request_id,
            time_ms: r.time_ms,
            method: r.method,
            path: r.path,
            route: r.route,
            key_id: r.key_id,
            tenant: r.tenant,
            status: u16::try_from(r.status).unwrap_or(0),
            code: r.code,
            latency_us: r.latency_us,
            upstream_status: r.upstream_status.and_then(|s| u16::try_from(s).ok()),
            upstream_request_id: r.upstream_request_id,
            // Kept since chunks replaced the table.
            trace_id: None,
        }
    }
}

/// The usage rows a flush adds to: each counter's minute, hour and day, summed per row of
/// `usage_counts` (its key: step, bucket, key, route, status, code and the store's writer id),
/// in the order of that key. Counters of two minutes of one hour (a flush across a minute's end)
/// add to one hour row, once: PostgreSQL refuses an upsert whose rows meet one row twice
/// ("cannot affect row a second time"). Each store writes rows of its own writer id, so
/// instances never upsert one row; the order still makes two flushes of one store that overlap
/// (clones of a store sharing its id) lock their rows in one order, never deadlocking.
pub(crate) fn usage_rows(counts: &[(UsageKey, u64)]) -> Vec<(Step, i64, &UsageKey, i64)> {
    type RowKey<'a> = (Step, i64, &'a str, &'a str, u16, &'a str);
    let mut at: HashMap<RowKey<'_>, usize> = HashMap::with_capacity(counts.len() * 3);
    let mut rows: Vec<(Step, i64, &UsageKey, i64)> = Vec::with_capacity(counts.len() * 3);
    for (k, n) in counts {
        let n = i64::try_from(*n).unwrap_or(i64::MAX);
        for step in Step::ALL {
            let bucket = step.floor(k.minute);
            let key = (
                step,
                bucket,
                k.key_id.as_str(),
                k.route.as_str(),
                k.status,
                k.code.as_str(),
            );
            match at.entry(key) {
                Entry::Occupied(i) => {
                    let row = &mut rows[*i.get()];
                    row.3 = row.3.saturating_add(n);
                }
                Entry::Vacant(v) => {
                    v.insert(rows.len());
                    rows.push((step, bucket, k, n));
                }
            }
        }
    }
    fn order<'a>(r: &(Step, i64, &'a UsageKey, i64)) -> (i64, i64, &'a str, &'a str, u16, &'a str) {
        let k = r.2;
        (r.0.seconds(), r.1, &k.key_id, &k.route, k.status, &k.code)
    }
    rows.sort_unstable_by(|a, b| order(a).cmp(&order(b)));
    rows
}

/// Where a chunk is: its id and its newest record's time. Chunks are never changed in place
/// (a rewrite is a new chunk), so the pair names one chunk for good; PostgreSQL partitions by
/// the time, and a read or delete of one chunk that names both looks in one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChunkAt {
    pub(crate) id: i64,
    pub(crate) max_time_ms: i64,
}

/// One day in milliseconds: the width of a PostgreSQL partition.
pub(crate) const DAY_MS: i64 = 86_400_000;

/// The UTC day (since 1970-01-01) a time in Unix milliseconds falls in.
pub(crate) fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// Whether two times fall in one UTC day (chunks merged are).
pub(crate) fn same_day(a: i64, b: i64) -> bool {
    day_of(a) == day_of(b)
}

/// The partition hook of a store that keeps chunks in one table (SQLite): no write ever fails
/// for want of a partition.
pub(crate) async fn one_table<P: Sync>(
    _: &P,
    _: &sqlx::Error,
    _: &[i64],
) -> Result<bool, StoreError> {
    Ok(false)
}

/// Records per chunk when records (not chunks) are written, or old rows moved into chunks.
pub(crate) const CHUNK_ROWS: usize = 20_000;
/// Chunks with fewer records than this are merged by retention.
pub(crate) const SMALL_CHUNK: i64 = 1_000;
/// The most records a merge makes one chunk of.
pub(crate) const MERGED_ROWS: i64 = 10_000;
/// The most chunks one merge takes.
pub(crate) const MERGE_CHUNKS: usize = 256;
/// The most merges one retention pass makes.
pub(crate) const MERGES: usize = 8;
/// Reads of the chunks a lookup or listing makes when chunks are rewritten under it.
pub(crate) const READ_ATTEMPTS: u32 = 3;
/// The most chunks one INSERT writes (7 values each: within either database's limit on the
/// values one statement binds). A flush writes one chunk per worker, so one INSERT.
pub(crate) const INSERT_CHUNKS: usize = 1000;
/// Inserts of moved old rows tried again in a row after the partition they wanted was made.
pub(crate) const ADOPT_RETRIES: u32 = 8;

/// Newest first: by time, then by request id (both descending).
fn newest_first(a: (i64, &[u8]), b: (i64, &[u8])) -> Ordering {
    b.0.cmp(&a.0).then_with(|| b.1.cmp(a.1))
}

fn key(r: &Record) -> (i64, &[u8]) {
    (r.time_ms, r.request_id.as_bytes())
}

/// A query's filters, as one chunk's name indexes (+ 1).
struct Wanted<'q> {
    tenant: Option<u32>,
    key: Option<u32>,
    code: Option<u32>,
    status: Option<(i64, i64)>,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    before: Option<(i64, &'q [u8])>,
}

impl<'q> Wanted<'q> {
    /// `None` when the chunk does not name a tenant, key or code the query asks for: none of
    /// its records can match.
    fn new(f: &'q RequestQuery, names: &Names) -> Option<Wanted<'q>> {
        let index = |v: &Option<String>| match v {
            None => Some(None),
            Some(s) => names.find(s).map(|i| Some(i + 1)),
        };
        Some(Wanted {
            tenant: index(&f.tenant)?,
            key: index(&f.key_id)?,
            code: index(&f.code)?,
            status: f.status.map(StatusFilter::range),
            since_ms: f.since_ms,
            until_ms: f.until_ms,
            before: f.before.as_ref().map(|(t, id)| (*t, id.as_bytes())),
        })
    }

    fn matches(&self, r: &Raw) -> bool {
        self.tenant.is_none_or(|t| r.tenant == t)
            && self.key.is_none_or(|k| r.key == k)
            && self.code.is_none_or(|c| r.code == c)
            && self
                .status
                .is_none_or(|(lo, hi)| (lo..hi).contains(&i64::from(r.status)))
            && self.since_ms.is_none_or(|s| r.time_ms >= s)
            && self.until_ms.is_none_or(|u| r.time_ms < u)
            && self
                .before
                .is_none_or(|b| newest_first(b, (r.time_ms, r.request_id)).is_lt())
    }
}

/// Whether a chunk with these names can hold records that match `f`.
pub(crate) fn could_match(f: &RequestQuery, names: &[u8]) -> Result<bool, StoreError> {
    Ok(Wanted::new(f, &Names::decode(names)?).is_some())
}

/// Adds the records of one chunk that match `f` to `found`, which stays the newest `f.limit`
/// matches so far, newest first.
pub(crate) fn add_matching(
    f: &RequestQuery,
    names: &[u8],
    data: &[u8],
    found: &mut Vec<Record>,
) -> Result<(), StoreError> {
    let limit = f.limit as usize;
    let names = Names::decode(names)?;
    let Some(wanted) = Wanted::new(f, &names) else {
        return Ok(());
    };
    let mut hits: Vec<Raw> = Vec::new();
    {
        let worst = (found.len() >= limit)
            .then(|| found.last().map(key))
            .flatten();
        for raw in Raws::new(data)? {
            let raw = raw?;
            if wanted.matches(&raw)
                && worst.is_none_or(|w| newest_first((raw.time_ms, raw.request_id), w).is_lt())
            {
                hits.push(raw);
            }
        }
    }
    hits.sort_by(|a, b| newest_first((a.time_ms, a.request_id), (b.time_ms, b.request_id)));
    hits.truncate(limit);
    for raw in hits {
        found.push(raw.record(&names)?);
    }
    found.sort_by(|a, b| newest_first(key(a), key(b)));
    found.truncate(limit);
    Ok(())
}

/// What reading a chunk's records found.
pub(crate) enum ChunkRead {
    Records {
        names: Vec<u8>,
        data: Vec<u8>,
        /// Read from a file: a file that does not decode is a lost chunk, not an error.
        spilled: bool,
    },
    /// No such chunk (any more).
    Gone,
    /// The chunk's row names a file that is missing or unreadable: its records are lost.
    Lost,
}

/// Whether a listing can stop before a chunk whose newest record is at `max_time_ms`.
pub(crate) fn listing_done(f: &RequestQuery, found: &[Record], max_time_ms: i64) -> bool {
    found.len() >= f.limit as usize && found.last().is_none_or(|w| max_time_ms < w.time_ms)
}

/// Keeps in `best` the newest record of the chunk with this id, if newer than `best`.
pub(crate) fn find_newest(
    id: &str,
    names: &[u8],
    data: &[u8],
    best: &mut Option<Record>,
) -> Result<(), StoreError> {
    let names = Names::decode(names)?;
    for raw in Raws::new(data)?.with_id(id.as_bytes()) {
        let raw = raw?;
        if best.as_ref().is_none_or(|b| raw.time_ms > b.time_ms) {
            *best = Some(raw.record(&names)?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(minute: i64, status: u16) -> UsageKey {
        UsageKey {
            minute,
            key_id: "key_1".into(),
            tenant: "acme".into(),
            route: "/v1/*".into(),
            status,
            code: String::new(),
        }
    }

    #[test]
    fn days_are_utc_days_before_and_after_1970() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(DAY_MS - 1), 0);
        assert_eq!(day_of(DAY_MS), 1);
        assert_eq!(day_of(-1), -1);
        // 2026-09-21T12:53:20Z
        assert_eq!(day_of(1_790_000_000_000), 20_717);
        assert!(same_day(DAY_MS, 2 * DAY_MS - 1) && !same_day(DAY_MS - 1, DAY_MS));
    }

    #[test]
    fn usage_rows_meet_each_bucket_once() {
        // Two minutes of one hour and one day, and another status.
        let counts = [
            (key(3600, 200), 2),
            (key(3660, 200), 3),
            (key(3660, 404), 1),
        ];
        let rows: Vec<(&str, i64, u16, i64)> = usage_rows(&counts)
            .into_iter()
            .map(|(step, bucket, k, n)| (step.as_str(), bucket, k.status, n))
            .collect();
        // In the order of the table's key, whatever the order of the counters.
        assert_eq!(
            rows,
            [
                ("minute", 3600, 200, 2),
                ("minute", 3660, 200, 3),
                ("minute", 3660, 404, 1),
                ("hour", 3600, 200, 5),
                ("hour", 3600, 404, 1),
                ("day", 0, 200, 5),
                ("day", 0, 404, 1),
            ]
        );
        let mut reversed = counts.clone();
        reversed.reverse();
        let again: Vec<(Step, i64, u16, i64)> = usage_rows(&reversed)
            .into_iter()
            .map(|(step, bucket, k, n)| (step, bucket, k.status, n))
            .collect();
        let first: Vec<(Step, i64, u16, i64)> = usage_rows(&counts)
            .into_iter()
            .map(|(step, bucket, k, n)| (step, bucket, k.status, n))
            .collect();
        assert_eq!(again, first);
    }
}
