//! The key store: where API keys live, behind one interface.
//!
//! The embedded default is SQLite (a file, WAL mode, migrations applied at start); PostgreSQL
//! serves several gateway instances. Both pass one shared test suite.

pub mod log;
mod log_ops;
mod postgres;
mod row;
mod spill;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::keys::Environment;
use crate::plans::Limits;

pub use log::{RequestQuery, Retention, StatusFilter, Step, TenantUsageRow, UsageQuery, UsageRow};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// One stored key. Never holds the plaintext.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ApiKey)]
pub struct KeyRecord {
    pub id: String,
    #[serde(skip_serializing)]
    pub key_hash: String,
    /// The first characters of the key, for listings.
    pub hint: String,
    pub tenant: String,
    pub name: String,
    pub environment: Environment,
    pub scopes: Vec<String>,
    pub plan: String,
    /// IP networks in CIDR form the key may be used from; empty: any.
    #[schema(value_type = Vec<String>)]
    pub ip_allowlist: Vec<IpNet>,
    /// Per-key limit overrides.
    pub limits: Option<Limits>,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The key that replaced this one by rotation.
    pub replaced_by: Option<String>,
}

/// What a new key is made of; the store adds the id and timestamps.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewApiKey)]
pub struct NewKey {
    pub tenant: String,
    pub name: String,
    #[serde(default = "live")]
    pub environment: Environment,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// A configured plan; default: the default plan.
    pub plan: Option<String>,
    /// IP networks in CIDR form; empty: any.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub ip_allowlist: Vec<IpNet>,
    pub limits: Option<Limits>,
    /// Unix seconds; a past time makes a key that is already expired.
    #[schema(minimum = 0, maximum = 253402300799_i64)]
    pub expires_at: Option<i64>,
}

/// A key as the admin API shows it: the record and its derived status.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ApiKeyView)]
pub struct KeyView {
    #[serde(flatten)]
    pub key: KeyRecord,
    pub status: KeyStatus,
}

/// Whether a key works today.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Revoked,
    Expired,
}

impl KeyStatus {
    pub fn of(k: &KeyRecord, now: i64) -> KeyStatus {
        if k.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if k.expires_at.is_some_and(|e| e <= now) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }

    /// The name the admin API gives it (`active`, `revoked`, `expired`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Revoked => "revoked",
            KeyStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<KeyStatus> {
        match s {
            "active" => Some(KeyStatus::Active),
            "revoked" => Some(KeyStatus::Revoked),
            "expired" => Some(KeyStatus::Expired),
            _ => None,
        }
    }
}

impl KeyView {
    pub fn new(key: KeyRecord, now: i64) -> KeyView {
        KeyView {
            status: KeyStatus::of(&key, now),
            key,
        }
    }
}

fn live() -> Environment {
    Environment::Live
}

/// A store failure (unreachable, timed out, corrupt row).
#[derive(Debug, thiserror::Error)]
#[error("key store: {0}")]
pub struct StoreError(pub String);

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError(e.to_string())
    }
}

/// The key store interface; SQLite here, PostgreSQL for several instances.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Stores a new key under `hash`; `plan` is already resolved.
    async fn insert(
        &self,
        key: &NewKey,
        plan: &str,
        hash: &str,
        hint: &str,
        now: i64,
    ) -> Result<KeyRecord, StoreError>;
    async fn find_by_hash(&self, hash: &str) -> Result<Option<KeyRecord>, StoreError>;
    async fn get(&self, id: &str) -> Result<Option<KeyRecord>, StoreError>;
    async fn list(&self, tenant: Option<&str>) -> Result<Vec<KeyRecord>, StoreError>;
    /// Marks a key revoked; `None` when there is no such key. Revoking twice keeps the first time.
    async fn revoke(&self, id: &str, now: i64) -> Result<Option<KeyRecord>, StoreError>;
    /// Replaces a key: a new key with the same attributes under `hash`, the old one revoked, in
    /// one transaction. Only a key that works at `now` is replaced: `None` when there is no
    /// such key or it is revoked (by hand, or by an earlier rotation) or expired, and then
    /// nothing changes. The check and the revocation are one statement, so of two rotations of
    /// one key, or a rotation and a revocation, racing, only one takes the key.
    async fn rotate(
        &self,
        id: &str,
        hash: &str,
        hint: &str,
        now: i64,
    ) -> Result<Option<KeyRecord>, StoreError>;
    /// Records last use, for many keys at once.
    async fn touch(&self, used: &[(String, i64)]) -> Result<(), StoreError>;
    /// A value that changes whenever any process changed the keys (for cache invalidation).
    async fn change_marker(&self) -> Result<i64, StoreError>;

    /// Writes a key's editable fields (name, scopes, plan, IP allowlist, limits, expiry) as
    /// `key` has them; false when there is no such key.
    async fn update(&self, key: &KeyRecord) -> Result<bool, StoreError>;

    /// Appends request records and adds usage counts (to their minute, hour and day), in one
    /// transaction.
    async fn write_log(
        &self,
        records: &[crate::reqlog::Record],
        counts: &[(crate::reqlog::UsageKey, u64)],
    ) -> Result<(), StoreError>;
    /// Appends chunks of request records (as the recorder wrote them) and adds usage counts,
    /// in one transaction. The stores here keep chunks as they are; by default (a store that
    /// wraps another) they are decoded and handed to [`KeyStore::write_log`].
    async fn write_chunks(
        &self,
        chunks: &[crate::reqlog::Chunk],
        counts: &[(crate::reqlog::UsageKey, u64)],
    ) -> Result<(), StoreError> {
        let mut records = Vec::new();
        for c in chunks {
            records.extend(c.records()?);
        }
        self.write_log(&records, counts).await
    }
    /// The newest record with this request id.
    async fn request(&self, id: &str) -> Result<Option<crate::reqlog::Record>, StoreError>;
    /// Records matching `q`, newest first.
    async fn requests(&self, q: &RequestQuery) -> Result<Vec<crate::reqlog::Record>, StoreError>;
    /// Usage counts per bucket, status and code.
    async fn usage(&self, q: &UsageQuery) -> Result<Vec<UsageRow>, StoreError>;
    /// Usage counts per tenant and status over the query's whole range.
    async fn usage_by_tenant(&self, q: &UsageQuery) -> Result<Vec<TenantUsageRow>, StoreError>;
    /// Deletes what retention says is too old or too many; returns records deleted.
    async fn prune_log(&self, r: &Retention) -> Result<u64, StoreError>;

    /// Pushes a message on every change of a key made anywhere, where the store can (PostgreSQL
    /// `LISTEN/NOTIFY`); `None` where only polling [`KeyStore::change_marker`] tells.
    fn watch_changes(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<()>> {
        None
    }
}

/// Opens the store a URL names (`sqlite://FILE`, `sqlite::memory:`, `postgres://...`).
pub async fn open(url: &str) -> Result<Arc<dyn KeyStore>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            PgStore::open(url, std::time::Duration::from_secs(5)).await?,
        ))
    } else {
        Err(StoreError(format!("unsupported store URL `{url}`")))
    }
}

/// Opens the store a URL names as [`open`] does, but never makes one: a SQLite file that does
/// not exist is an error (for commands that only read).
pub async fn open_existing(url: &str) -> Result<Arc<dyn KeyStore>, StoreError> {
    if sqlite_file(url).is_some() {
        return Ok(Arc::new(SqliteStore::open_existing(url).await?));
    }
    open(url).await
}

/// The file a `sqlite:` store URL names; `None` for any other store (in memory, PostgreSQL).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if url.starts_with("sqlite:") {
        SqliteStore::file(url)
    } else {
        None
    }
}

/// A fresh key id.
pub(crate) fn new_id() -> String {
    use rand::Rng;
    const ALPHA: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let tail: String = (0..16)
        .map(|_| ALPHA[rng.random_range(0..ALPHA.len())] as char)
        .collect();
    format!("key_{tail}")
}
