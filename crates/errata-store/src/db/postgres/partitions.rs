//! `request_log_chunks` partitioned by the UTC day of `max_time_ms` (migration 0005): making the
//! partitions writes need, ahead of time and on demand, and retention dropping whole days.
//!
//! A partition is made by the database's `errata_request_log_partition(day)`, which names it
//! (`request_log_chunks_YYYYMMDD`), bounds it, and takes another session making the same day
//! at the same moment as success. Making or dropping one takes an ACCESS EXCLUSIVE lock on
//! `request_log_chunks`: while it waits for the transactions that use the table, every new one
//! queues behind it, so it waits at most [`LOCK_TIMEOUT`] and gives up (a write then fails and is
//! retried at the next flush; a partition not dropped has its rows deleted instead).

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::PgPool;

use crate::db::log::day_of;
use crate::db::{Retention, StoreError};

/// How long making or dropping a partition waits for the table's lock.
const LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '2s'";

/// "No partition of relation found for row": a check violation (the table has no CHECK of its
/// own, so an insert into it fails with this code for no other reason).
const NO_PARTITION: &str = "23514";
/// The relation is gone (another instance dropped the partition first).
const UNDEFINED_TABLE: &str = "42P01";
/// The lock was not had within the timeout, or the wait was a deadlock.
const LOCK_NOT_AVAILABLE: &str = "55P03";
const DEADLOCK: &str = "40P01";

fn code(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
}

/// Makes the partition of `day` unless it exists (tried twice); true when this call made it.
pub(crate) async fn make(pool: &PgPool, day: i64) -> Result<bool, StoreError> {
    match make_once(pool, day).await {
        Ok(made) => Ok(made),
        Err(e) => {
            tracing::debug!(day, error = %e, "making a request log partition; trying again");
            Ok(make_once(pool, day).await?)
        }
    }
}

async fn make_once(pool: &PgPool, day: i64) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(LOCK_TIMEOUT).execute(&mut *tx).await?;
    let made: bool = sqlx::query_scalar("SELECT errata_request_log_partition($1)")
        .bind(day)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    if made {
        tracing::info!(day, "request log partition made");
    }
    Ok(made)
}

/// The `partitions` hook of the log operations: after inserting chunks whose newest records are
/// at `max_times` failed with `e`, makes the partitions of their days when that is what the
/// insert lacked. True when it was (the write is worth one more try).
pub(crate) async fn made_for(
    pool: &PgPool,
    e: &sqlx::Error,
    max_times: &[i64],
) -> Result<bool, StoreError> {
    if code(e).as_deref() != Some(NO_PARTITION) {
        return Ok(false);
    }
    let mut days: Vec<i64> = max_times.iter().map(|&t| day_of(t)).collect();
    days.sort_unstable();
    days.dedup();
    for day in days {
        make(pool, day).await?;
    }
    Ok(true)
}

/// Makes today's and tomorrow's partitions (UTC), so that writes find them.
pub(crate) async fn ahead(pool: &PgPool) -> Result<(), StoreError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let today = day_of(now);
    make(pool, today).await?;
    make(pool, today + 1).await?;
    Ok(())
}

/// A partition of `request_log_chunks` and the `max_time_ms` it holds: `[from, to)`, `None`
/// for MINVALUE or MAXVALUE.
#[derive(Debug, PartialEq, Eq)]
struct Partition {
    name: String,
    from: Option<i64>,
    to: Option<i64>,
}

/// The range a partition bound (`pg_get_expr` of `relpartbound`) says, as `(from, to)`; `None`
/// for anything else (a DEFAULT partition).
fn bounds(expr: &str) -> Option<(Option<i64>, Option<i64>)> {
    let rest = expr.trim().strip_prefix("FOR VALUES FROM (")?;
    let (from, rest) = rest.split_once(") TO (")?;
    let to = rest.strip_suffix(')')?;
    let value = |v: &str| -> Option<Option<i64>> {
        match v.trim() {
            "MINVALUE" | "MAXVALUE" => Some(None),
            v => v.trim_matches('\'').parse().ok().map(Some),
        }
    };
    Some((value(from)?, value(to)?))
}

/// The table's partitions with a range, oldest first.
async fn partitions(pool: &PgPool) -> Result<Vec<Partition>, StoreError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::TEXT, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i \
         JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'request_log_chunks'::regclass",
    )
    .fetch_all(pool)
    .await?;
    let mut parts: Vec<Partition> = rows
        .into_iter()
        .filter_map(|(name, expr)| {
            let (from, to) = bounds(&expr)?;
            Some(Partition { name, from, to })
        })
        .collect();
    parts.sort_by_key(|p| p.from.unwrap_or(i64::MIN));
    Ok(parts)
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Records in one partition.
async fn records_in(pool: &PgPool, name: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT CAST(COALESCE(SUM(record_count), 0) AS BIGINT) FROM {}",
        quoted(name)
    ))
    .fetch_one(pool)
    .await?)
}

/// What became of a partition retention meant to drop.
enum Dropped {
    /// Dropped, with this many records (0 when another instance dropped it first).
    Records(i64),
    /// Left: its lock was not had in time, or it held more than it could lose.
    Left,
}

/// Detaches and drops a partition, counting its records between the two (no write can reach it
/// once detached, so the count is exact); left as it was when it holds more than `at_most`.
async fn drop_partition(
    pool: &PgPool,
    name: &str,
    at_most: Option<i64>,
) -> Result<Dropped, StoreError> {
    let part = quoted(name);
    let mut tx = pool.begin().await?;
    sqlx::query(LOCK_TIMEOUT).execute(&mut *tx).await?;
    let detached = sqlx::query(&format!(
        "ALTER TABLE request_log_chunks DETACH PARTITION {part}"
    ))
    .execute(&mut *tx)
    .await;
    if let Err(e) = detached {
        let _ = tx.rollback().await;
        return match code(&e).as_deref() {
            Some(UNDEFINED_TABLE) => Ok(Dropped::Records(0)),
            Some(LOCK_NOT_AVAILABLE | DEADLOCK) => {
                tracing::warn!(
                    partition = name,
                    error = %e,
                    "request log partition not dropped now; its rows are deleted instead"
                );
                Ok(Dropped::Left)
            }
            _ => Err(e.into()),
        };
    }
    let n: i64 = sqlx::query_scalar(&format!(
        "SELECT CAST(COALESCE(SUM(record_count), 0) AS BIGINT) FROM {part}"
    ))
    .fetch_one(&mut *tx)
    .await?;
    if at_most.is_some_and(|m| n > m) {
        tx.rollback().await?;
        return Ok(Dropped::Left);
    }
    sqlx::query(&format!("DROP TABLE {part}"))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(
        partition = name,
        records = n,
        "request log partition dropped"
    );
    Ok(Dropped::Records(n))
}

/// Drops the partitions retention empties whole: every day wholly before `r.before_ms`, then,
/// while more than `r.max_rows` records are kept, the oldest days whose records all go. Returns
/// the records they held. The day the cutoff falls in, and any day left, are the row
/// statements' (`log_ops::prune`) to trim.
pub(crate) async fn drop_old(pool: &PgPool, r: &Retention) -> Result<u64, StoreError> {
    let mut gone = 0i64;
    let mut kept = Vec::new();
    let mut stopped = false;
    for p in partitions(pool).await? {
        let old = p.to.is_some_and(|to| to <= r.before_ms);
        if !old || stopped {
            kept.push(p);
            continue;
        }
        match drop_partition(pool, &p.name, None).await? {
            Dropped::Records(n) => gone += n,
            Dropped::Left => stopped = true,
        }
    }
    if !stopped {
        let (total,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(record_count), 0) AS BIGINT) FROM request_log_chunks",
        )
        .fetch_one(pool)
        .await?;
        let mut excess = total.saturating_sub(i64::try_from(r.max_rows).unwrap_or(i64::MAX));
        for p in kept {
            if excess <= 0 {
                break;
            }
            let n = records_in(pool, &p.name).await?;
            if n == 0 {
                continue;
            }
            if n > excess {
                break;
            }
            match drop_partition(pool, &p.name, Some(excess)).await? {
                Dropped::Records(n) => {
                    gone += n;
                    excess -= n;
                }
                Dropped::Left => break,
            }
        }
    }
    Ok(u64::try_from(gone).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_read_what_postgres_writes() {
        assert_eq!(
            bounds("FOR VALUES FROM ('1790035200000') TO ('1790121600000')"),
            Some((Some(1_790_035_200_000), Some(1_790_121_600_000)))
        );
        assert_eq!(
            bounds("FOR VALUES FROM ('-432000000') TO ('-345600000')"),
            Some((Some(-432_000_000), Some(-345_600_000)))
        );
        assert_eq!(
            bounds("FOR VALUES FROM ('9223372036828800000') TO (MAXVALUE)"),
            Some((Some(9_223_372_036_828_800_000), None))
        );
        assert_eq!(
            bounds("FOR VALUES FROM (MINVALUE) TO ('-9223372036828800000')"),
            Some((None, Some(-9_223_372_036_828_800_000)))
        );
        assert_eq!(bounds("DEFAULT"), None);
    }
}
