//! What the admin API works on ([`Admin`], shared by every handler) and the catalog errors its
//! handlers answer with when the store or a key operation fails.

use std::sync::{Arc, OnceLock, Weak};

use errata_axum::Error;
use errata_core::{ApiError, Condition, Violation};
use errata_store::db::KeyStore;
use errata_store::key_cache::KeyCache;
use errata_store::reqlog::Recorder;

use crate::config::AdminConfig;
use crate::manage::{Inactive, ManageError};
use crate::portal_token::PortalSigner;
use crate::sessions::Sessions;

/// What the admin API works on.
pub struct Admin {
    pub config: Arc<AdminConfig>,
    pub catalog: Arc<errata_core::Catalog>,
    pub store: Arc<dyn KeyStore>,
    pub cache: Arc<KeyCache>,
    pub token: String,
    pub recorder: Arc<Recorder>,
    pub sessions: Arc<Sessions>,
    pub portal: Arc<PortalSigner>,
    /// The process's config reload, for `POST /config/reload` (none: not offered).
    pub reload: OnceLock<Weak<dyn crate::reload::Reload>>,
    /// What `/healthz` and `/readyz` check: the gateway's, given with [`Admin::with_health`];
    /// by default the key store alone.
    pub health: Arc<errata_store::health::Health>,
}

impl Admin {
    /// The admin state over a gateway's store, key cache and request log: `token` opens
    /// everything, the portal's links are signed as `config.portal` says.
    pub fn new(
        config: AdminConfig,
        catalog: Arc<errata_core::Catalog>,
        store: Arc<dyn KeyStore>,
        cache: Arc<KeyCache>,
        recorder: Arc<Recorder>,
        token: String,
    ) -> Admin {
        let portal = PortalSigner::from_config(&config.portal);
        let health = Arc::new(errata_store::health::Health::store_only(
            Arc::clone(&store),
            std::time::Duration::from_millis(500),
        ));
        Admin {
            health,
            config: Arc::new(config),
            catalog,
            store,
            cache,
            token,
            recorder,
            sessions: Arc::new(Sessions::default()),
            portal: Arc::new(portal),
            reload: OnceLock::new(),
        }
    }

    /// The admin state after a config reload: the new plans, key prefix and catalog, over
    /// the same store, key cache, request log, token, console sessions and portal signer (its
    /// settings take a restart).
    pub fn reloaded(&self, mut config: AdminConfig, catalog: Arc<errata_core::Catalog>) -> Admin {
        config.portal = self.config.portal.clone();
        config.admin_listen = self.config.admin_listen;
        let reload = OnceLock::new();
        if let Some(r) = self.reload.get() {
            let _ = reload.set(r.clone());
        }
        Admin {
            config: Arc::new(config),
            catalog,
            store: Arc::clone(&self.store),
            cache: Arc::clone(&self.cache),
            token: self.token.clone(),
            recorder: Arc::clone(&self.recorder),
            sessions: Arc::clone(&self.sessions),
            portal: Arc::clone(&self.portal),
            reload,
            health: Arc::clone(&self.health),
        }
    }

    /// Checks `health` (the gateway's store, counters, certificate and draining state) at
    /// `/healthz` and `/readyz`.
    pub fn with_health(mut self, health: Arc<errata_store::health::Health>) -> Admin {
        self.health = health;
        self
    }
}

pub type Shared = axum::extract::State<Arc<Admin>>;

/// The catalog error for a failed key operation.
pub fn manage_error(e: ManageError, id: &str) -> Error {
    match e {
        ManageError::Invalid(v) => Error::invalid_fields(v),
        ManageError::NotFound => Error::not_found("API key", id),
        ManageError::Inactive(i) => inactive_error(&i),
        ManageError::Store(e) => store_error(e),
    }
}

/// A rotation of a key that no longer works: a conflict with the key's state, which no
/// condition names, so the catalog's code for 409 (the built-in catalog's
/// `resource_conflict`), with the key's state, since when and the fix in `details`.
fn inactive_error(i: &Inactive) -> Error {
    Error::from(ApiError::status(409)).details([Violation::new(
        ["status"],
        i.to_string(),
        i.status.as_str(),
    )])
}

/// A store failure: logged, and the catalog's unavailable code with a short retry.
pub fn store_error(e: errata_store::db::StoreError) -> Error {
    tracing::error!(error = %e, "admin: key store failed");
    ApiError::condition(Condition::ServiceUnavailable)
        .arg("retry_after", 1)
        .retry_after(1)
        .into()
}
