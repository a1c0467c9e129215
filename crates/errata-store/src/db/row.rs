//! One `api_keys` row as both databases return it, and its conversion to a [`KeyRecord`].

use super::{KeyRecord, NewKey, StoreError, new_id};
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
fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// The values of one inserted `api_keys` row, in the column order of both stores' `INSERT`.
pub(crate) struct NewRow<'a> {
    pub(crate) id: String,
    pub(crate) hash: &'a str,
    pub(crate) hint: &'a str,
    pub(crate) tenant: &'a str,
    pub(crate) name: &'a str,
    pub(crate) environment: &'static str,
    pub(crate) scopes: String,
    pub(crate) plan: &'a str,
    pub(crate) ip_allowlist: String,
    pub(crate) limits: Option<String>,
    pub(crate) expires_at: Option<i64>,
    pub(crate) created_at: i64,
}

impl<'a> NewRow<'a> {
    /// A new key's row.
    pub(crate) fn new(
        key: &'a NewKey,
        plan: &'a str,
        hash: &'a str,
        hint: &'a str,
        now: i64,
    ) -> Self {
        NewRow {
            id: new_id(),
            hash,
            hint,
            tenant: &key.tenant,
            name: &key.name,
            environment: key.environment.as_str(),
            scopes: to_json(&key.scopes),
            plan,
            ip_allowlist: to_json(&key.ip_allowlist),
            limits: key.limits.as_ref().map(to_json),
            expires_at: key.expires_at,
            created_at: now,
        }
    }

    /// The row replacing `old` on rotation: the same attributes under a new secret, with the
    /// id the old row already names in `replaced_by`.
    pub(crate) fn replacing(
        old: &'a KeyRecord,
        id: String,
        hash: &'a str,
        hint: &'a str,
        now: i64,
    ) -> Self {
        NewRow {
            id,
            hash,
            hint,
            tenant: &old.tenant,
            name: &old.name,
            environment: old.environment.as_str(),
            scopes: to_json(&old.scopes),
            plan: &old.plan,
            ip_allowlist: to_json(&old.ip_allowlist),
            limits: old.limits.as_ref().map(to_json),
            expires_at: old.expires_at,
            created_at: now,
        }
    }
}

/// Binds a [`NewRow`] to an `INSERT INTO api_keys` query of either database, in column order.
macro_rules! bind_row {
    ($query:expr, $row:expr) => {{
        let r = &$row;
        $query
            .bind(&r.id)
            .bind(r.hash)
            .bind(r.hint)
            .bind(r.tenant)
            .bind(r.name)
            .bind(r.environment)
            .bind(&r.scopes)
            .bind(r.plan)
            .bind(&r.ip_allowlist)
            .bind(&r.limits)
            .bind(r.expires_at)
            .bind(r.created_at)
    }};
}
pub(crate) use bind_row;
