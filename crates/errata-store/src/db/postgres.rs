//! The PostgreSQL key store, for several gateway instances: the same schema and behaviour as
//! SQLite, plus `LISTEN/NOTIFY` so a change made anywhere reaches every instance at once, and
//! the request log's chunks partitioned by day ([`partitions`]).

mod partitions;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tokio::sync::mpsc;

use super::row::{KeyRow, NewRow, bind_row};
use super::{KeyRecord, KeyStore, NewKey, StoreError};

/// The channel the schema's trigger notifies on every change of a key.
pub const CHANNEL: &str = "errata_keys";

/// Keys in a PostgreSQL database.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The id this store writes its usage counts under (random, never 0): each instance adds
    /// to rows of its own, so no instance's flush waits for another's row locks.
    writer: i64,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl PgStore {
    /// Connects (failing within `timeout`) and applies migrations. TLS follows the URL's
    /// `sslmode` (`disable`, `prefer` — the default —, `require`, `verify-ca`, `verify-full`) and
    /// `sslrootcert` (a private CA), as libpq reads them. Certificates are verified against
    /// `sslrootcert` and the Mozilla roots built into errata (`webpki-roots`), not the system's
    /// store, so what a `verify-*` mode trusts does not depend on the machine.
    pub async fn open(url: &str, timeout: Duration) -> Result<PgStore, StoreError> {
        crate::install_tls_provider();
        let opts = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(timeout.max(Duration::from_secs(1)))
            .connect_with(opts)
            .await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError(format!("migrations: {e}")))?;
        // A write that finds no partition makes it: one missing here only costs that.
        if let Err(e) = partitions::ahead(&pool).await {
            tracing::warn!(error = %e, "could not make today's request log partitions");
        }
        let moved = ops::adopt_old_rows(&pool, None).await?;
        if moved > 0 {
            tracing::info!(records = moved, "request log rows moved into chunks");
        }
        Ok(PgStore {
            pool,
            writer: writer_id(),
        })
    }

    async fn fetch(&self, sql: &str, arg: &str) -> Result<Option<KeyRecord>, StoreError> {
        sqlx::query_as::<_, KeyRow>(sql)
            .bind(arg)
            .fetch_optional(&self.pool)
            .await?
            .map(KeyRecord::try_from)
            .transpose()
    }
}

/// A writer id for a store being opened: random and positive, so never the 0 of rows written
/// before writer ids (or by SQLite). Two stores with one id would only wait on each other's
/// row locks, as all did before; at 2^63 ids, they practically never have.
fn writer_id() -> i64 {
    use rand::Rng;
    rand::rng().random_range(1..=i64::MAX)
}

const INSERT: &str = "INSERT INTO api_keys (id, key_hash, hint, tenant, name, environment, scopes, plan, ip_allowlist, limits, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

/// Revokes a key for its replacement, only while it works: not revoked, not expired at `now`
/// (as [`super::KeyStatus::of`] says). The guard and the change are one statement.
const ROTATE_OLD: &str = "UPDATE api_keys SET revoked_at = $1, replaced_by = $2 WHERE id = $3 \
     AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1) RETURNING *";

mod ops {
    crate::db::log_ops::log_ops!(
        sqlx::Postgres,
        sqlx::PgPool,
        // SKIP LOCKED: instances opening at once each move rows of their own.
        "DELETE FROM request_log WHERE ctid IN (SELECT ctid FROM request_log LIMIT 20000 \
         FOR UPDATE SKIP LOCKED) RETURNING *",
        super::partitions::made_for
    );
}

#[async_trait]
impl KeyStore for PgStore {
    async fn insert(
        &self,
        key: &NewKey,
        plan: &str,
        hash: &str,
        hint: &str,
        now: i64,
    ) -> Result<KeyRecord, StoreError> {
        let row = NewRow::new(key, plan, hash, hint, now);
        bind_row!(sqlx::query(INSERT), row)
            .execute(&self.pool)
            .await?;
        self.get(&row.id)
            .await?
            .ok_or_else(|| StoreError("inserted key vanished".into()))
    }

    async fn find_by_hash(&self, hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.fetch("SELECT * FROM api_keys WHERE key_hash = $1", hash)
            .await
    }

    async fn get(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.fetch("SELECT * FROM api_keys WHERE id = $1", id).await
    }

    async fn list(&self, tenant: Option<&str>) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = sqlx::query_as::<_, KeyRow>(
            "SELECT * FROM api_keys WHERE $1::text IS NULL OR tenant = $1 ORDER BY created_at, id",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(KeyRecord::try_from).collect()
    }

    async fn revoke(&self, id: &str, now: i64) -> Result<Option<KeyRecord>, StoreError> {
        sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.get(id).await
    }

    async fn rotate(
        &self,
        id: &str,
        hash: &str,
        hint: &str,
        now: i64,
    ) -> Result<Option<KeyRecord>, StoreError> {
        let new_id = super::new_id();
        let mut tx = self.pool.begin().await?;
        // The row lock this takes makes a concurrent rotation or revocation wait, and then
        // re-check the guard against what this one committed.
        let Some(old) = sqlx::query_as::<_, KeyRow>(ROTATE_OLD)
            .bind(now)
            .bind(&new_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let old = KeyRecord::try_from(old)?;
        let row = NewRow::replacing(&old, new_id, hash, hint, now);
        bind_row!(sqlx::query(INSERT), row)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.get(&row.id).await
    }

    async fn touch(&self, used: &[(String, i64)]) -> Result<(), StoreError> {
        let (ids, ats): (Vec<String>, Vec<i64>) = used.iter().cloned().unzip();
        sqlx::query(
            "UPDATE api_keys k SET last_used_at = GREATEST(COALESCE(k.last_used_at, 0), u.at) \
             FROM UNNEST($1::text[], $2::bigint[]) AS u(id, at) WHERE k.id = u.id",
        )
        .bind(ids)
        .bind(ats)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn update(&self, key: &KeyRecord) -> Result<bool, StoreError> {
        ops::update_key(&self.pool, key).await
    }

    async fn write_log(
        &self,
        records: &[crate::reqlog::Record],
        counts: &[(crate::reqlog::UsageKey, u64)],
    ) -> Result<(), StoreError> {
        ops::write(&self.pool, None, self.writer, records, counts).await
    }

    async fn write_chunks(
        &self,
        chunks: &[crate::reqlog::Chunk],
        counts: &[(crate::reqlog::UsageKey, u64)],
    ) -> Result<(), StoreError> {
        ops::write_chunks(&self.pool, None, self.writer, chunks, counts).await
    }

    async fn request(&self, id: &str) -> Result<Option<crate::reqlog::Record>, StoreError> {
        ops::get(&self.pool, None, id).await
    }

    async fn requests(
        &self,
        q: &super::RequestQuery,
    ) -> Result<Vec<crate::reqlog::Record>, StoreError> {
        ops::list(&self.pool, None, q).await
    }

    async fn usage(&self, q: &super::UsageQuery) -> Result<Vec<super::UsageRow>, StoreError> {
        ops::usage(&self.pool, q).await
    }

    async fn usage_by_tenant(
        &self,
        q: &super::UsageQuery,
    ) -> Result<Vec<super::TenantUsageRow>, StoreError> {
        ops::usage_by_tenant(&self.pool, q).await
    }

    /// Makes the coming days' partitions (once a minute, as days pass), drops the days
    /// retention empties whole, then trims the rest as SQLite does.
    async fn prune_log(&self, r: &super::Retention) -> Result<u64, StoreError> {
        if let Err(e) = partitions::ahead(&self.pool).await {
            tracing::warn!(error = %e, "could not make the coming request log partitions");
        }
        let dropped = partitions::drop_old(&self.pool, r).await?;
        Ok(dropped + ops::prune(&self.pool, None, r).await?)
    }

    async fn change_marker(&self) -> Result<i64, StoreError> {
        let v: i64 = sqlx::query_scalar("SELECT revision FROM key_revision WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(v)
    }

    fn watch_changes(&self) -> Option<mpsc::UnboundedReceiver<()>> {
        let (tx, rx) = mpsc::unbounded_channel();
        let pool = self.pool.clone();
        tokio::spawn(async move {
            loop {
                let mut listener = match PgListener::connect_with(&pool).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN connection failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                if let Err(e) = listener.listen(CHANNEL).await {
                    tracing::warn!(error = %e, "LISTEN failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                // A reconnect may have missed notifications: treat it as a change.
                if tx.send(()).is_err() {
                    return;
                }
                loop {
                    match listener.try_recv().await {
                        Ok(Some(_)) => {
                            if tx.send(()).is_err() {
                                return;
                            }
                        }
                        // The connection dropped; notifications may be lost, so clear and
                        // reconnect.
                        Ok(None) => {
                            if tx.send(()).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            break;
                        }
                    }
                }
            }
        });
        Some(rx)
    }
}
