//! One `api_keys` row as both databases return it, and its conversion to a [`KeyRecord`].

use super::{KeyRecord, StoreError};
use crate::keys::Environment;

/// The columns of `api_keys`, the same in SQLite and PostgreSQL.
#[derive(sqlx::FromRow)]
pub(crate) struct KeyRow {
    id: String,
    key_hash: String,
    hint: String,
    tenant: String,
    name: String,
    environment: String,
    scopes: String,
    plan: String,
    ip_allowlist: String,
    limits: Option<String>,
    expires_at: Option<i64>,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
    replaced_by: Option<String>,
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("corrupt row: {e}"))
}

impl TryFrom<KeyRow> for KeyRecord {
    type Error = StoreError;

    fn try_from(r: KeyRow) -> Result<Self, StoreError> {
        Ok(KeyRecord {
            environment: Environment::parse(&r.environment)
                .ok_or_else(|| corrupt(format!("environment `{}`", r.environment)))?,
            scopes: serde_json::from_str(&r.scopes).map_err(corrupt)?,
            ip_allowlist: serde_json::from_str(&r.ip_allowlist).map_err(corrupt)?,
            limits: r
                .limits
                .map(|l| serde_json::from_str(&l))
                .transpose()
                .map_err(corrupt)?,
            id: r.id,
            key_hash: r.key_hash,
            hint: r.hint,
            tenant: r.tenant,
            name: r.name,
            plan: r.plan,
            expires_at: r.expires_at,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
            replaced_by: r.replaced_by,
        })
    }
}

/// A list or limits column as JSON (these types always serialize).
pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}
