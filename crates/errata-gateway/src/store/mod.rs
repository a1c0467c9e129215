//! The key store: where API keys live, behind one interface.
//!
//! The embedded default is SQLite (a file, WAL mode, migrations applied at start); PostgreSQL
//! serves several gateway instances. Both pass one shared test suite.

mod postgres;
mod row;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::config::Limits;
use crate::keys::Environment;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// One stored key. Never holds the plaintext.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub tenant: String,
    pub name: String,
    #[serde(default = "live")]
    pub environment: Environment,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub plan: Option<String>,
    #[serde(default)]
    pub ip_allowlist: Vec<IpNet>,
    pub limits: Option<Limits>,
    pub expires_at: Option<i64>,
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
    /// one transaction.
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
