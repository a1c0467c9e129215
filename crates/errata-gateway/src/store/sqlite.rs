//! The SQLite key store: one file, WAL mode, migrations at start.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::row::{KeyRow, to_json};
use super::{KeyRecord, KeyStore, NewKey, StoreError, new_id};

/// Keys in a SQLite database.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

impl SqliteStore {
    /// Opens (creating if needed) the database and applies migrations.
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        let memory = url.contains(":memory:");
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(if memory {
                SqliteJournalMode::Memory
            } else {
                SqliteJournalMode::Wal
            })
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            // An in-memory database exists once per connection: keep exactly one.
            .max_connections(if memory { 1 } else { 4 })
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts)
            .await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError(format!("migrations: {e}")))?;
        Ok(SqliteStore { pool })
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

const INSERT: &str = "INSERT INTO api_keys (id, key_hash, hint, tenant, name, environment, scopes, plan, ip_allowlist, limits, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

#[async_trait]
impl KeyStore for SqliteStore {
    async fn insert(
        &self,
        key: &NewKey,
        plan: &str,
        hash: &str,
        hint: &str,
        now: i64,
    ) -> Result<KeyRecord, StoreError> {
        let id = new_id();
        sqlx::query(INSERT)
            .bind(&id)
            .bind(hash)
            .bind(hint)
            .bind(&key.tenant)
            .bind(&key.name)
            .bind(key.environment.as_str())
            .bind(to_json(&key.scopes))
            .bind(plan)
            .bind(to_json(&key.ip_allowlist))
            .bind(key.limits.as_ref().map(to_json))
            .bind(key.expires_at)
            .bind(now)
            .execute(&self.pool)
            .await?;
        self.get(&id)
            .await?
            .ok_or_else(|| StoreError("inserted key vanished".into()))
    }

    async fn find_by_hash(&self, hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.fetch("SELECT * FROM api_keys WHERE key_hash = ?", hash)
            .await
    }

    async fn get(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.fetch("SELECT * FROM api_keys WHERE id = ?", id).await
    }

    async fn list(&self, tenant: Option<&str>) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = match tenant {
            Some(t) => {
                sqlx::query_as::<_, KeyRow>(
                    "SELECT * FROM api_keys WHERE tenant = ? ORDER BY created_at, id",
                )
                .bind(t)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as::<_, KeyRow>("SELECT * FROM api_keys ORDER BY created_at, id")
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.into_iter().map(KeyRecord::try_from).collect()
    }

    async fn revoke(&self, id: &str, now: i64) -> Result<Option<KeyRecord>, StoreError> {
        sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?")
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
        let mut tx = self.pool.begin().await?;
        let Some(old) = sqlx::query_as::<_, KeyRow>("SELECT * FROM api_keys WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let old = KeyRecord::try_from(old)?;
        let new_id = new_id();
        sqlx::query(INSERT)
            .bind(&new_id)
            .bind(hash)
            .bind(hint)
            .bind(&old.tenant)
            .bind(&old.name)
            .bind(old.environment.as_str())
            .bind(to_json(&old.scopes))
            .bind(&old.plan)
            .bind(to_json(&old.ip_allowlist))
            .bind(old.limits.as_ref().map(to_json))
            .bind(old.expires_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?), replaced_by = ? WHERE id = ?",
        )
        .bind(now)
        .bind(&new_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.get(&new_id).await
    }

    async fn touch(&self, used: &[(String, i64)]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (id, at) in used {
            sqlx::query(
                "UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE id = ?",
            )
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn change_marker(&self) -> Result<i64, StoreError> {
        // Bumped by a trigger on every change that matters, whoever made it (this process, the
        // CLI, another gateway on the same file).
        let v: i64 = sqlx::query_scalar("SELECT revision FROM key_revision WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(v)
    }
}
