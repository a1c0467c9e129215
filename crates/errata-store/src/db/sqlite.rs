//! The SQLite key store: one file, WAL mode, migrations at start.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Connection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use super::row::{KeyRow, NewRow, bind_row};
use super::spill::Spill;
use super::{KeyRecord, KeyStore, NewKey, StoreError};

/// Keys in a SQLite database.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Where big request log chunks go (a file database's `FILE-requests/`).
    spill: Option<Spill>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

impl SqliteStore {
    /// Opens (creating if needed) the database and applies migrations.
    ///
    /// Switching a file into WAL takes a lock that SQLite's busy timeout cannot wait on, so two
    /// connections opening a new file at once could fail with "database is locked". The switch
    /// and the migrations therefore happen on one connection (retried while another process
    /// holds the file), and only then does the pool open; WAL is a property of the file, so the
    /// pool's connections find it set. Migrations racing with another process's are retried.
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(url, true).await
    }

    /// Opens the database only where its file exists: a missing file is an error, never a
    /// new database (for commands that only read).
    pub async fn open_existing(url: &str) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(url, false).await
    }

    /// The database file a `sqlite:` URL names; `None` for an in-memory database.
    pub fn file(url: &str) -> Option<std::path::PathBuf> {
        if url.contains(":memory:") {
            return None;
        }
        let opts = SqliteConnectOptions::from_str(url).ok()?;
        Some(opts.get_filename().to_owned())
    }

    async fn open_with(url: &str, create: bool) -> Result<SqliteStore, StoreError> {
        let memory = url.contains(":memory:");
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(create || memory)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            // A flush of the request log writes thousands of rows in one transaction: a page
            // cache that holds them saves spilling pages to the WAL mid-transaction (SQLite's
            // default is 2 MiB; this is an upper bound, used as needed).
            .pragma("cache_size", "-16384")
            // Statement journals (one per multi-row INSERT in a transaction) in memory, not in
            // a temporary file written page by page.
            .pragma("temp_store", "memory");
        if memory {
            // An in-memory database exists once per connection: keep exactly one.
            let pool = pool_options(1)
                .connect_with(opts.journal_mode(SqliteJournalMode::Memory))
                .await?;
            MIGRATOR
                .run_direct(&mut *pool.acquire().await?)
                .await
                .map_err(migration_failed)?;
            return Ok(SqliteStore { pool, spill: None });
        }
        let mut first = connect_wal(&opts).await?;
        migrate_racing(&mut first).await?;
        first.close().await?;
        let spill = Spill::beside(opts.get_filename());
        let pool = pool_options(4).connect_with(opts).await?;
        let moved = ops::adopt_old_rows(&pool, spill.as_ref()).await?;
        if moved > 0 {
            tracing::info!(records = moved, "request log rows moved into chunks");
        }
        Ok(SqliteStore { pool, spill })
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

fn pool_options(max: u32) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(max)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
}

/// One connection with the file in WAL mode, waiting out (up to ten seconds) another process
/// that holds the lock the switch needs.
async fn connect_wal(opts: &SqliteConnectOptions) -> Result<SqliteConnection, StoreError> {
    let opts = opts.clone().journal_mode(SqliteJournalMode::Wal);
    let mut attempt = 0;
    loop {
        match SqliteConnection::connect_with(&opts).await {
            Ok(conn) => return Ok(conn),
            Err(e) if attempt < 100 && is_busy(&e) => attempt += 1,
            Err(e) => return Err(e.into()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn is_busy(e: &sqlx::Error) -> bool {
    // SQLITE_BUSY (5) and its extended codes (BUSY_RECOVERY, BUSY_SNAPSHOT, ...).
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| c & 0xff == 5)
}

/// Runs the migrations on a file that other processes may be migrating at the same moment.
/// SQLite has no lock that spans sqlx's migrations, but each one commits or rolls back whole:
/// when another opener applied a migration first, ours fails executing it, and running them
/// again finds it applied. Only such execution errors are retried (a few times); any other
/// (a migration changed since it was applied, one missing) is returned at once.
async fn migrate_racing(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    use sqlx::migrate::MigrateError;
    let mut attempt = 0;
    loop {
        match MIGRATOR.run_direct(&mut *conn).await {
            Ok(()) => return Ok(()),
            Err(MigrateError::Execute(_) | MigrateError::ExecuteMigration(..)) if attempt < 20 => {
                attempt += 1;
            }
            Err(e) => return Err(migration_failed(e)),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn migration_failed(e: sqlx::migrate::MigrateError) -> StoreError {
    StoreError(format!("migrations: {e}"))
}

const INSERT: &str = "INSERT INTO api_keys (id, key_hash, hint, tenant, name, environment, scopes, plan, ip_allowlist, limits, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// Revokes a key for its replacement, only while it works: not revoked, not expired at `now`
/// (as [`super::KeyStatus::of`] says). The guard and the change are one statement.
const ROTATE_OLD: &str = "UPDATE api_keys SET revoked_at = ?, replaced_by = ? WHERE id = ? \
     AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) RETURNING *";

/// The writer id of every SQLite store's usage counts. Several writers pay off in PostgreSQL,
/// where instances would otherwise wait on each other's row locks; SQLite writes one
/// transaction at a time to the whole file, so one set of rows serves every process.
const WRITER: i64 = 0;

mod ops {
    crate::db::log_ops::log_ops!(
        sqlx::Sqlite,
        sqlx::SqlitePool,
        "DELETE FROM request_log WHERE rowid IN (SELECT rowid FROM request_log LIMIT 20000) \
         RETURNING *"
    );
}

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
        let row = NewRow::new(key, plan, hash, hint, now);
        bind_row!(sqlx::query(INSERT), row)
            .execute(&self.pool)
            .await?;
        self.get(&row.id)
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
        let new_id = super::new_id();
        // Writing first takes the file's write lock before anything is read, so the guard
        // below sees every committed revocation, rotation or expiry change.
        let mut tx = self.pool.begin().await?;
        let Some(old) = sqlx::query_as::<_, KeyRow>(ROTATE_OLD)
            .bind(now)
            .bind(&new_id)
            .bind(id)
            .bind(now)
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

    async fn update(&self, key: &KeyRecord) -> Result<bool, StoreError> {
        ops::update_key(&self.pool, key).await
    }

    async fn write_log(
        &self,
        records: &[crate::reqlog::Record],
        counts: &[(crate::reqlog::UsageKey, u64)],
    ) -> Result<(), StoreError> {
        ops::write(&self.pool, self.spill.as_ref(), WRITER, records, counts).await
    }

    async fn write_chunks(
        &self,
        chunks: &[crate::reqlog::Chunk],
        counts: &[(crate::reqlog::UsageKey, u64)],
    ) -> Result<(), StoreError> {
        ops::write_chunks(&self.pool, self.spill.as_ref(), WRITER, chunks, counts).await
    }

    async fn request(&self, id: &str) -> Result<Option<crate::reqlog::Record>, StoreError> {
        ops::get(&self.pool, self.spill.as_ref(), id).await
    }

    async fn requests(
        &self,
        q: &super::RequestQuery,
    ) -> Result<Vec<crate::reqlog::Record>, StoreError> {
        ops::list(&self.pool, self.spill.as_ref(), q).await
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

    async fn prune_log(&self, r: &super::Retention) -> Result<u64, StoreError> {
        ops::prune(&self.pool, self.spill.as_ref(), r).await
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
