//! Key management shared by the CLI and the admin API: create, list, show, revoke, rotate.

use std::sync::Arc;

use errata_core::Violation;

use crate::config::AdminConfig;
use errata_store::db::{KeyRecord, KeyStatus, KeyStore, NewKey, StoreError};
use errata_store::keys;

/// A created or rotated key: the record and the plaintext, shown this once.
#[derive(Debug, serde::Serialize)]
pub struct Issued {
    pub key: KeyRecord,
    pub secret: String,
}

/// Why a key could not be made.
#[derive(Debug)]
pub enum ManageError {
    /// The request is wrong: one entry per field.
    Invalid(Vec<Violation>),
    NotFound,
    /// The key no longer works, so it cannot be rotated.
    Inactive(Inactive),
    Store(StoreError),
}

/// A key that no longer works: revoked (by hand or by a rotation) or past its expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inactive {
    pub id: String,
    /// [`KeyStatus::Revoked`] or [`KeyStatus::Expired`].
    pub status: KeyStatus,
    /// When it was revoked, or when it expired (Unix seconds).
    pub since: i64,
    /// The key that replaced it, when a rotation revoked it.
    pub replaced_by: Option<String>,
}

impl Inactive {
    /// The key's state when it does not work at `now`; `None` while it works. The one check
    /// every rotation (CLI, admin API, portal) makes, with the status the admin API shows.
    pub fn of(k: &KeyRecord, now: i64) -> Option<Inactive> {
        let (status, since) = match KeyStatus::of(k, now) {
            KeyStatus::Active => return None,
            KeyStatus::Revoked => (KeyStatus::Revoked, k.revoked_at?),
            KeyStatus::Expired => (KeyStatus::Expired, k.expires_at?),
        };
        Some(Inactive {
            id: k.id.clone(),
            status,
            since,
            replaced_by: k.replaced_by.clone(),
        })
    }
}

impl std::fmt::Display for Inactive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (id, at) = (&self.id, rfc3339(self.since));
        match (self.status, &self.replaced_by) {
            (KeyStatus::Expired, _) => write!(f, "{id} expired at {at}")?,
            (_, Some(new)) => write!(f, "{id} was revoked at {at} (replaced by {new})")?,
            (_, None) => write!(f, "{id} was revoked at {at}")?,
        }
        f.write_str(" and cannot be rotated; create a new key instead")
    }
}

impl From<StoreError> for ManageError {
    fn from(e: StoreError) -> Self {
        ManageError::Store(e)
    }
}

impl std::fmt::Display for ManageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManageError::Invalid(v) => {
                let parts: Vec<String> = v
                    .iter()
                    .map(|v| format!("{}: {}", v.field(), v.message))
                    .collect();
                write!(f, "invalid key: {}", parts.join("; "))
            }
            ManageError::NotFound => f.write_str("no such key"),
            ManageError::Inactive(i) => write!(f, "{i}"),
            ManageError::Store(e) => write!(f, "{e}"),
        }
    }
}

fn token_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic() && b != b',')
}

/// Checks and stores a new key.
pub async fn create(
    store: &Arc<dyn KeyStore>,
    cfg: &AdminConfig,
    new: &NewKey,
    now: i64,
) -> Result<Issued, ManageError> {
    let mut bad = Vec::new();
    if !token_ok(&new.tenant) {
        bad.push(Violation::new(
            ["tenant"],
            "Required: 1 to 128 visible characters",
            "invalid_type",
        ));
    }
    check_name(&new.name, &mut bad);
    check_scopes(&new.scopes, &mut bad);
    let plan = new.plan.clone().unwrap_or_else(|| cfg.default_plan.clone());
    check_plan(cfg, &plan, &mut bad);
    check_limits(new.limits.as_ref(), &mut bad);
    check_expiry(new.expires_at, &mut bad);
    if !bad.is_empty() {
        return Err(ManageError::Invalid(bad));
    }
    let secret = keys::generate(&cfg.key_prefix, new.environment);
    let key = store
        .insert(new, &plan, &secret.hash, &secret.hint, now)
        .await?;
    Ok(Issued {
        key,
        secret: secret.plaintext,
    })
}

/// The latest expiry accepted: the end of year 9999.
pub const MAX_EXPIRY: i64 = 253_402_300_799;

fn check_expiry(e: Option<i64>, bad: &mut Vec<Violation>) {
    if e.is_some_and(|e| !(0..=MAX_EXPIRY).contains(&e)) {
        bad.push(Violation::new(
            ["expires_at"],
            format!("Unix seconds between 0 and {MAX_EXPIRY}"),
            "too_small",
        ));
    }
}

fn check_name(name: &str, bad: &mut Vec<Violation>) {
    // Only spaces means ASCII spaces, tabs and line breaks: the document's pattern says the same.
    let blank = name.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
    if blank || name.chars().count() > 200 {
        bad.push(Violation::new(
            ["name"],
            "Required: 1 to 200 characters, not only spaces",
            "invalid_type",
        ));
    }
}

fn check_scopes(scopes: &[String], bad: &mut Vec<Violation>) {
    for (i, s) in scopes.iter().enumerate() {
        if !token_ok(s) {
            bad.push(Violation::new(
                ["scopes".to_owned(), i.to_string()],
                "A scope is 1 to 128 visible characters without commas",
                "invalid_string",
            ));
        }
    }
}

fn check_plan(cfg: &AdminConfig, plan: &str, bad: &mut Vec<Violation>) {
    if !cfg.plans.contains_key(plan) {
        let known: Vec<&str> = cfg.plans.keys().map(String::as_str).collect();
        bad.push(Violation::new(
            ["plan"],
            format!(
                "Invalid enum value. Expected {}, received '{plan}'",
                known.join(" | ")
            ),
            "invalid_enum_value",
        ));
    }
}

fn check_limits(limits: Option<&errata_store::plans::Limits>, bad: &mut Vec<Violation>) {
    let Some(l) = limits else { return };
    let mut zero = |field: &str, v: Option<u64>| {
        if v == Some(0) {
            bad.push(Violation::new(
                ["limits", field],
                "Must be at least 1",
                "too_small",
            ));
        }
    };
    zero("rate", l.rate.map(u64::from));
    zero("per_seconds", Some(u64::from(l.per_seconds)));
    zero("concurrency", l.concurrency.map(u64::from));
}

/// Changes to a key's attributes; absent fields stay as they are, `null` clears the optional
/// ones.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyPatch {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub plan: Option<String>,
    #[schema(value_type = Option<Vec<String>>)]
    pub ip_allowlist: Option<Vec<ipnet::IpNet>>,
    /// Unix seconds; null: never expires. A past time expires the key at once.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 253402300799_i64)]
    pub expires_at: Option<Option<i64>>,
    /// Per-key limits over the plan's; null: the plan's.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<errata_store::plans::Limits>)]
    pub limits: Option<Option<errata_store::plans::Limits>>,
}

/// A field that is present (possibly `null`), as opposed to absent.
fn present<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// Applies a patch to a key (of `tenant` only, when given). A revoked key can still be edited;
/// it stays revoked.
pub async fn update(
    store: &Arc<dyn KeyStore>,
    cfg: &AdminConfig,
    id: &str,
    tenant: Option<&str>,
    patch: &KeyPatch,
) -> Result<KeyRecord, ManageError> {
    let mut key = owned(store, id, tenant).await?;
    let mut bad = Vec::new();
    if let Some(n) = &patch.name {
        check_name(n, &mut bad);
        key.name = n.clone();
    }
    if let Some(s) = &patch.scopes {
        check_scopes(s, &mut bad);
        key.scopes = s.clone();
    }
    if let Some(p) = &patch.plan {
        check_plan(cfg, p, &mut bad);
        key.plan = p.clone();
    }
    if let Some(ips) = &patch.ip_allowlist {
        key.ip_allowlist = ips.clone();
    }
    if let Some(e) = patch.expires_at {
        check_expiry(e, &mut bad);
        key.expires_at = e;
    }
    if let Some(l) = &patch.limits {
        check_limits(l.as_ref(), &mut bad);
        key.limits = l.clone();
    }
    if !bad.is_empty() {
        return Err(ManageError::Invalid(bad));
    }
    if !store.update(&key).await? {
        return Err(ManageError::NotFound);
    }
    store.get(id).await?.ok_or(ManageError::NotFound)
}

/// A key of `tenant` (any tenant's when `None`); another tenant's is not found.
async fn owned(
    store: &Arc<dyn KeyStore>,
    id: &str,
    tenant: Option<&str>,
) -> Result<KeyRecord, ManageError> {
    store
        .get(id)
        .await?
        .filter(|k| tenant.is_none_or(|t| t == k.tenant))
        .ok_or(ManageError::NotFound)
}

/// Replaces a working key (of `tenant` only, when given) with a new secret; the old one is
/// revoked at once. A revoked or expired key is refused with [`ManageError::Inactive`], also
/// when another rotation or a revocation takes it first.
pub async fn rotate(
    store: &Arc<dyn KeyStore>,
    cfg: &AdminConfig,
    id: &str,
    tenant: Option<&str>,
    now: i64,
) -> Result<Issued, ManageError> {
    let old = owned(store, id, tenant).await?;
    if let Some(i) = Inactive::of(&old, now) {
        return Err(ManageError::Inactive(i));
    }
    let secret = keys::generate(&cfg.key_prefix, old.environment);
    if let Some(key) = store.rotate(id, &secret.hash, &secret.hint, now).await? {
        return Ok(Issued {
            key,
            secret: secret.plaintext,
        });
    }
    // The store refused: the key stopped working since it was read. Say how.
    let current = store.get(id).await?.ok_or(ManageError::NotFound)?;
    match Inactive::of(&current, now) {
        Some(i) => Err(ManageError::Inactive(i)),
        None => Err(ManageError::Store(StoreError(format!(
            "{id} changed while it was being rotated; try again"
        )))),
    }
}

/// A revocation's outcome.
#[derive(Debug)]
pub struct Revoked {
    /// The key as it is now, with the time it was first revoked.
    pub key: KeyRecord,
    /// Whether it was revoked before this call, which then changed nothing.
    pub already: bool,
}

impl std::fmt::Display for Revoked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = rfc3339(self.key.revoked_at.unwrap_or_default());
        if self.already {
            write!(f, "{} was already revoked at {at}", self.key.id)
        } else {
            write!(f, "{} revoked at {at}", self.key.id)
        }
    }
}

/// Revokes a key (of `tenant` only, when given). Revoking twice keeps the first time.
pub async fn revoke(
    store: &Arc<dyn KeyStore>,
    id: &str,
    tenant: Option<&str>,
    now: i64,
) -> Result<Revoked, ManageError> {
    let key = owned(store, id, tenant).await?;
    if key.revoked_at.is_some() {
        return Ok(Revoked { key, already: true });
    }
    let key = store.revoke(id, now).await?.ok_or(ManageError::NotFound)?;
    // Another revocation or rotation may have come first: its time stands.
    let already = key.revoked_at != Some(now);
    Ok(Revoked { key, already })
}

/// Unix seconds as RFC 3339 in UTC (`2026-11-15T00:00:00Z`); the number itself when it is out
/// of range.
pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

/// The current time in Unix seconds.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
