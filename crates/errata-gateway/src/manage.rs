//! Key management shared by the CLI and the admin API: create, list, show, revoke, rotate.

use std::sync::Arc;

use errata_core::Violation;

use crate::config::Config;
use crate::keys;
use crate::store::{KeyRecord, KeyStore, NewKey, StoreError};

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
    Store(StoreError),
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
    cfg: &Config,
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
    if new.name.trim().is_empty() || new.name.len() > 200 {
        bad.push(Violation::new(
            ["name"],
            "Required: 1 to 200 characters",
            "invalid_type",
        ));
    }
    for (i, s) in new.scopes.iter().enumerate() {
        if !token_ok(s) {
            bad.push(Violation::new(
                ["scopes".to_owned(), i.to_string()],
                "A scope is 1 to 128 visible characters without commas",
                "invalid_string",
            ));
        }
    }
    let plan = new.plan.clone().unwrap_or_else(|| cfg.default_plan.clone());
    if !cfg.plans.contains_key(&plan) {
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
    if new.expires_at.is_some_and(|e| e <= now) {
        bad.push(Violation::new(
            ["expires_at"],
            "Must be in the future",
            "too_small",
        ));
    }
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

/// Replaces a key with a new secret; the old one is revoked at once.
pub async fn rotate(
    store: &Arc<dyn KeyStore>,
    cfg: &Config,
    id: &str,
    now: i64,
) -> Result<Issued, ManageError> {
    let old = store.get(id).await?.ok_or(ManageError::NotFound)?;
    let secret = keys::generate(&cfg.key_prefix, old.environment);
    let key = store
        .rotate(id, &secret.hash, &secret.hint, now)
        .await?
        .ok_or(ManageError::NotFound)?;
    Ok(Issued {
        key,
        secret: secret.plaintext,
    })
}

/// The current time in Unix seconds.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
