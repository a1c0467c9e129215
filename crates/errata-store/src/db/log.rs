//! The request log and usage counts in the key store: one implementation for SQLite and
//! PostgreSQL (the SQL is the same; `QueryBuilder` writes each database's placeholders).

use serde::{Deserialize, Serialize};

use crate::reqlog::{Record, UsageKey};

/// A usage bucket size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
        }
    }
}

/// The usage rows one flushed counter adds to: its minute, hour and day.
pub(crate) fn usage_rows(counts: &[(UsageKey, u64)]) -> Vec<(Step, i64, &UsageKey, i64)> {
    let mut rows = Vec::with_capacity(counts.len() * 3);
    for (k, n) in counts {
        for step in Step::ALL {
            rows.push((
                step,
                step.floor(k.minute),
                k,
                i64::try_from(*n).unwrap_or(i64::MAX),
            ));
        }
    }
    rows
}

/// The request id's last byte, the first column of the lookup index (see the migration).
pub(crate) fn id_tail(request_id: &str) -> i32 {
    request_id.as_bytes().last().copied().map_or(0, i32::from)
}

/// The log operations, written once for both databases.
macro_rules! log_ops {
    ($db:ty, $pool:ty) => {
        use sqlx::QueryBuilder;

        use crate::reqlog::{Record, UsageKey};
        use crate::db::StoreError;
        use crate::db::log::{
            RecordRow, RequestQuery, Retention, UsageQuery, UsageRow, id_tail, usage_rows,
        };

        pub(crate) async fn write(
            pool: &$pool,
            records: &[Record],
            counts: &[(UsageKey, u64)],
        ) -> Result<(), StoreError> {
            let mut tx = pool.begin().await?;
            // Fixed-size statements: the same SQL each time, prepared once per connection.
            for records in records.chunks(crate::reqlog::config::STATEMENT_ROWS) {
                let mut q = QueryBuilder::<$db>::new(
                    "INSERT INTO request_log (request_id, time_ms, method, path, route, key_id, \
                     tenant, status, code, latency_us, upstream_status, upstream_request_id, \
                     id_tail) ",
                );
                q.push_values(records, |mut b, r| {
                    b.push_bind(r.request_id.as_str())
                        .push_bind(r.time_ms)
                        .push_bind(r.method.as_str())
                        .push_bind(r.path.as_str())
                        .push_bind(r.route.as_str())
                        .push_bind(r.key_id.as_deref())
                        .push_bind(r.tenant.as_deref())
                        .push_bind(i64::from(r.status))
                        .push_bind(r.code.as_deref())
                        .push_bind(r.latency_us)
                        .push_bind(r.upstream_status.map(i64::from))
                        .push_bind(r.upstream_request_id.as_deref())
                        .push_bind(id_tail(&r.request_id));
                });
                q.build().execute(&mut *tx).await?;
            }
            let rows = usage_rows(counts);
            // A statement binds at most a few thousand values in either database.
            for chunk in rows.chunks(500) {
                let mut q = QueryBuilder::<$db>::new(
                    "INSERT INTO usage_counts (step, bucket, key_id, tenant, route, status, code, count) ",
                );
                q.push_values(chunk, |mut b, (step, bucket, k, n)| {
                    b.push_bind(step.as_str())
                        .push_bind(*bucket)
                        .push_bind(k.key_id.as_str())
                        .push_bind(k.tenant.as_str())
                        .push_bind(k.route.as_str())
                        .push_bind(i64::from(k.status))
                        .push_bind(k.code.as_str())
                        .push_bind(*n);
                });
                q.push(
                    " ON CONFLICT (step, bucket, key_id, route, status, code) \
                     DO UPDATE SET count = usage_counts.count + excluded.count",
                );
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        }

        pub(crate) async fn get(pool: &$pool, id: &str) -> Result<Option<Record>, StoreError> {
            let mut q = QueryBuilder::<$db>::new("SELECT * FROM request_log WHERE id_tail = ");
            q.push_bind(id_tail(id));
            q.push(" AND request_id = ").push_bind(id);
            q.push(" ORDER BY time_ms DESC LIMIT 1");
            Ok(q.build_query_as::<RecordRow>()
                .fetch_optional(pool)
                .await?
                .map(Record::from))
        }

        pub(crate) async fn list(
            pool: &$pool,
            f: &RequestQuery,
        ) -> Result<Vec<Record>, StoreError> {
            let mut q = QueryBuilder::<$db>::new("SELECT * FROM request_log WHERE 1 = 1");
            if let Some(t) = &f.tenant {
                q.push(" AND tenant = ").push_bind(t.as_str());
            }
            if let Some(k) = &f.key_id {
                q.push(" AND key_id = ").push_bind(k.as_str());
            }
            if let Some(c) = &f.code {
                q.push(" AND code = ").push_bind(c.as_str());
            }
            if let Some(s) = f.status {
                let (lo, hi) = s.range();
                q.push(" AND status >= ").push_bind(lo);
                q.push(" AND status < ").push_bind(hi);
            }
            if let Some(s) = f.since_ms {
                q.push(" AND time_ms >= ").push_bind(s);
            }
            if let Some(u) = f.until_ms {
                q.push(" AND time_ms < ").push_bind(u);
            }
            if let Some((t, id)) = &f.before {
                q.push(" AND (time_ms < ").push_bind(*t);
                q.push(" OR (time_ms = ").push_bind(*t);
                q.push(" AND request_id < ").push_bind(id.as_str());
                q.push("))");
            }
            q.push(" ORDER BY time_ms DESC, request_id DESC LIMIT ");
            q.push_bind(i64::from(f.limit));
            let rows = q.build_query_as::<RecordRow>().fetch_all(pool).await?;
            Ok(rows.into_iter().map(Record::from).collect())
        }

        pub(crate) async fn usage(
            pool: &$pool,
            f: &UsageQuery,
        ) -> Result<Vec<UsageRow>, StoreError> {
            let mut q = QueryBuilder::<$db>::new(
                "SELECT bucket, status, code, CAST(SUM(count) AS BIGINT) AS count \
                 FROM usage_counts WHERE step = ",
            );
            q.push_bind(f.step.as_str());
            if let Some(t) = &f.tenant {
                q.push(" AND tenant = ").push_bind(t.as_str());
            }
            if let Some(k) = &f.key_id {
                q.push(" AND key_id = ").push_bind(k.as_str());
            }
            q.push(" AND bucket >= ").push_bind(f.since);
            q.push(" AND bucket < ").push_bind(f.until);
            q.push(" GROUP BY bucket, status, code ORDER BY bucket, status, code");
            Ok(q.build_query_as::<UsageRow>().fetch_all(pool).await?)
        }

        /// Writes a key's editable fields; `None` when there is no such key.
        pub(crate) async fn update_key(
            pool: &$pool,
            k: &crate::db::KeyRecord,
        ) -> Result<bool, StoreError> {
            let mut q = QueryBuilder::<$db>::new("UPDATE api_keys SET name = ");
            q.push_bind(k.name.as_str());
            q.push(", scopes = ")
                .push_bind(serde_json::to_string(&k.scopes).unwrap_or_else(|_| "[]".into()));
            q.push(", plan = ").push_bind(k.plan.as_str());
            q.push(", ip_allowlist = ").push_bind(
                serde_json::to_string(&k.ip_allowlist).unwrap_or_else(|_| "[]".into()),
            );
            q.push(", limits = ").push_bind(
                k.limits
                    .as_ref()
                    .and_then(|l| serde_json::to_string(l).ok()),
            );
            q.push(", expires_at = ").push_bind(k.expires_at);
            q.push(" WHERE id = ").push_bind(k.id.as_str());
            Ok(q.build().execute(pool).await?.rows_affected() > 0)
        }

        pub(crate) async fn prune(pool: &$pool, r: &Retention) -> Result<u64, StoreError> {
            let mut gone = 0;
            let mut q = QueryBuilder::<$db>::new("DELETE FROM request_log WHERE time_ms < ");
            q.push_bind(r.before_ms);
            gone += q.build().execute(pool).await?.rows_affected();
            let mut q = QueryBuilder::<$db>::new(
                "DELETE FROM request_log WHERE time_ms < (SELECT time_ms FROM request_log \
                 ORDER BY time_ms DESC LIMIT 1 OFFSET ",
            );
            q.push_bind(i64::try_from(r.max_rows.saturating_sub(1)).unwrap_or(i64::MAX));
            q.push(")");
            gone += q.build().execute(pool).await?.rows_affected();
            for (step, before) in r.usage_before {
                let mut q = QueryBuilder::<$db>::new("DELETE FROM usage_counts WHERE step = ");
                q.push_bind(step.as_str());
                q.push(" AND bucket < ").push_bind(before);
                q.build().execute(pool).await?;
            }
            Ok(gone)
        }
    };
}
pub(crate) use log_ops;
