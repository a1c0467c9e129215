//! Live reload: the config file read again on SIGHUP, on `POST /config/reload` and, with
//! `watch_config = true`, when it (or the catalog it names) changes on disk.
//!
//! The new file is checked whole first; any problem refuses the reload and the running config
//! keeps serving. Otherwise a new gateway is built over the running one's state (store, key
//! cache, counters, idempotency records, request log, upstream pools when the upstream is the
//! same) and swapped in: requests that arrive from then on use it, requests in flight finish
//! on the old one, and no connection is closed. Settings that belong to the process (its
//! listeners, workers, stores, key cache size) keep their running values and are reported as
//! needing a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use axum::Router;
use errata_admin::Admin;
use errata_admin::reload::{Reload, ReloadError, Reloaded};
use errata_gateway::live::Live;
use tokio::sync::{Mutex, watch};

use crate::config::Config;

/// How often a watched config file is looked at.
pub const WATCH_POLL: Duration = Duration::from_secs(1);

/// The process's reload: what is running and where its config came from.
pub struct Reloader {
    /// The config file; none on the embedded defaults (and in the demo).
    file: OnceLock<PathBuf>,
    live: Arc<Live>,
    admin: Arc<ArcSwap<Admin>>,
    admin_app: Arc<ArcSwap<Router>>,
    /// The config in force (with the running values of what takes a restart). Held for the
    /// whole of a reload, so that reloads happen one at a time.
    current: Mutex<Config>,
}

impl Reloader {
    pub fn new(
        config: Config,
        live: Arc<Live>,
        admin: Arc<ArcSwap<Admin>>,
        admin_app: Arc<ArcSwap<Router>>,
    ) -> Arc<Reloader> {
        Arc::new(Reloader {
            file: OnceLock::new(),
            live,
            admin,
            admin_app,
            current: Mutex::new(config),
        })
    }

    /// Names the file the running config was read from (once).
    pub fn set_file(&self, file: Option<&Path>) {
        if let Some(f) = file {
            let _ = self.file.set(f.to_path_buf());
        }
    }

    /// Reads the config file again and puts it in force.
    pub async fn reload(&self) -> Result<Reloaded, ReloadError> {
        let Some(file) = self.file.get().cloned() else {
            return Err(ReloadError::NoFile);
        };
        let shown = file.display().to_string();
        let read = tokio::task::spawn_blocking(move || Config::from_file(&file))
            .await
            .map_err(|e| ReloadError::Failed(format!("reading the config failed: {e}")))?;
        match read {
            Ok(config) => self.apply(config, shown).await,
            Err(rendered) => Err(ReloadError::Invalid {
                file: shown,
                problems: problems(&rendered),
            }),
        }
    }

    /// Puts `config` (read from `file`) in force for new requests.
    pub async fn apply(&self, mut config: Config, file: String) -> Result<Reloaded, ReloadError> {
        let mut current = self.current.lock().await;
        let (changed, restart_required) = changes(&current, &config);
        keep_running_values(&current, &mut config);
        if changed.is_empty() {
            return Ok(Reloaded {
                status: "unchanged".into(),
                file,
                changed,
                restart_required,
            });
        }
        let gateway = self
            .live
            .load()
            .reloaded(config.gateway.clone())
            .map_err(ReloadError::Failed)?;
        if changed.iter().any(|c| c == "log_level")
            && let Err(e) = crate::logs::set_level(&config.gateway.log_level)
        {
            tracing::warn!(error = %e, "the new log_level could not be applied");
        }
        let admin = Arc::new(
            self.admin
                .load()
                .reloaded(config.admin(), Arc::clone(&gateway.catalog)),
        );
        self.live.store(gateway);
        self.admin_app
            .store(Arc::new(errata_admin::router(Arc::clone(&admin))));
        self.admin.store(admin);
        *current = config;
        Ok(Reloaded {
            status: "reloaded".into(),
            file,
            changed,
            restart_required,
        })
    }

    /// Reloads and logs the outcome (SIGHUP, a changed file).
    pub async fn reload_and_log(&self, why: &str) {
        match self.reload().await {
            Ok(r) => {
                tracing::info!(
                    trigger = why,
                    file = %r.file,
                    status = %r.status,
                    changed = %r.changed.join(","),
                    "config reloaded"
                );
                if !r.restart_required.is_empty() {
                    tracing::warn!(
                        settings = %r.restart_required.join(","),
                        "changed settings take effect only after a restart; their running values stay"
                    );
                }
            }
            Err(ReloadError::NoFile) => tracing::warn!(
                trigger = why,
                "this process has no config file to reload: it runs on the embedded defaults or as the demo"
            ),
            Err(e) => tracing::error!(
                trigger = why,
                problems = %e,
                "config reload refused; the running config stays"
            ),
        }
    }

    /// Watches the config file (and the catalog it names) while `watch_config` is on, and
    /// reloads when what is on disk has changed and stayed the same for one poll (an editor
    /// writes in steps).
    pub async fn watch(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let Some(file) = self.file.get().cloned() else {
            return;
        };
        let mut seen = self.stamp(&file).await;
        let mut pending = None;
        let mut tick = tokio::time::interval(WATCH_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if !self.live.load().config.watch_config {
                continue;
            }
            let now = self.stamp(&file).await;
            if now == seen {
                pending = None;
                continue;
            }
            if pending.as_ref() != Some(&now) {
                pending = Some(now);
                continue;
            }
            seen = now;
            pending = None;
            self.reload_and_log("file change").await;
        }
    }

    /// What a change of the config file or its catalog shows in.
    async fn stamp(&self, file: &Path) -> Vec<Option<(SystemTime, u64)>> {
        let catalog = self.live.load().config.catalog_path.clone();
        [Some(file.to_path_buf()), catalog]
            .into_iter()
            .flatten()
            .map(|p| {
                std::fs::metadata(&p)
                    .ok()
                    .and_then(|m| Some((m.modified().ok()?, m.len())))
            })
            .collect()
    }
}

impl Reload for Reloader {
    fn reload(
        &self,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Reloaded, ReloadError>> + Send + '_>> {
        Box::pin(Reloader::reload(self))
    }
}

/// The reload as the admin API holds it: it must not keep the process's state alive.
pub fn weak(r: &Arc<Reloader>) -> Weak<dyn Reload> {
    let strong: Arc<dyn Reload> = Arc::clone(r) as Arc<dyn Reload>;
    Arc::downgrade(&strong)
}

/// The problems of a rendered config error, one each: a problem starts on a line that is not
/// indented (its `help:` lines are).
fn problems(rendered: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in rendered.lines() {
        match out.last_mut() {
            Some(last) if line.starts_with(' ') => {
                last.push('\n');
                last.push_str(line);
            }
            _ => out.push(line.to_owned()),
        }
    }
    out
}

/// The settings that changed from `old` to `new`: those a reload puts in force, and those
/// that take a restart.
pub fn changes(old: &Config, new: &Config) -> (Vec<String>, Vec<String>) {
    let (o, n) = (&old.gateway, &new.gateway);
    let mut live = Vec::new();
    let mut restart = Vec::new();
    let mut note = |name: &str, same: bool, needs_restart: bool| {
        if !same {
            if needs_restart {
                restart.push(name.to_owned());
            } else {
                live.push(name.to_owned());
            }
        }
    };
    // What belongs to the process: its sockets, threads and stores.
    note("listen", o.listen == n.listen, true);
    note("tls", o.tls == n.tls, true);
    note("workers", o.workers == n.workers, true);
    note(
        "max_connections",
        o.max_connections == n.max_connections,
        true,
    );
    note("store", o.store_url == n.store_url, true);
    note("counters", o.counters_url == n.counters_url, true);
    note(
        "key_cache",
        (o.key_cache_ttl, o.key_cache_max_stale, o.key_cache_capacity)
            == (n.key_cache_ttl, n.key_cache_max_stale, n.key_cache_capacity),
        true,
    );
    note(
        "idempotency.memory_bytes",
        o.idempotency.memory_bytes == n.idempotency.memory_bytes,
        true,
    );
    note(
        "request_log.queue",
        o.request_log.queue == n.request_log.queue,
        true,
    );
    note("log_format", o.log_format == n.log_format, true);
    note("admin.listen", old.admin_listen == new.admin_listen, true);
    note("admin.tls", old.admin_tls == new.admin_tls, true);
    note("admin.token", old.admin_token == new.admin_token, true);
    note("portal", old.portal == new.portal, true);

    // What the requests that arrive from now on use.
    note("upstream", o.upstream == n.upstream, false);
    note("upstream_ca", o.upstream_ca == n.upstream_ca, false);
    note("catalog", same_catalog(&o.catalog, &n.catalog), false);
    note("key_prefix", o.key_prefix == n.key_prefix, false);
    note("key_headers", o.key_headers == n.key_headers, false);
    note(
        "trusted_proxies",
        o.trusted_proxies == n.trusted_proxies,
        false,
    );
    note(
        "trusted_request_id_header",
        o.trusted_request_id_header == n.trusted_request_id_header,
        false,
    );
    note("errors_path", o.errors_path == n.errors_path, false);
    note("public_url", o.public_url == n.public_url, false);
    note("health_path", o.health_path == n.health_path, false);
    note(
        "check_upstream_errors",
        o.check_upstream_errors == n.check_upstream_errors,
        false,
    );
    note(
        "pass_server_header",
        o.pass_server_header == n.pass_server_header,
        false,
    );
    note("watch_config", o.watch_config == n.watch_config, false);
    note("log_level", o.log_level == n.log_level, false);
    note(
        "timeouts",
        (
            o.connect_timeout,
            o.response_timeout,
            o.store_timeout,
            o.counters_timeout,
            o.shutdown_grace,
            o.header_read_timeout,
            o.drain,
        ) == (
            n.connect_timeout,
            n.response_timeout,
            n.store_timeout,
            n.counters_timeout,
            n.shutdown_grace,
            n.header_read_timeout,
            n.drain,
        ),
        false,
    );
    note("failure", o.counters_failure == n.counters_failure, false);
    note(
        "limits",
        (
            o.limit_scope,
            &o.default_plan,
            &o.default_limits,
            o.max_body_bytes,
            &o.content_types,
        ) == (
            n.limit_scope,
            &n.default_plan,
            &n.default_limits,
            n.max_body_bytes,
            &n.content_types,
        ),
        false,
    );
    for name in o
        .plans
        .keys()
        .chain(n.plans.keys().filter(|k| !o.plans.contains_key(*k)))
    {
        note(
            &format!("plans.{name}"),
            o.plans.get(name) == n.plans.get(name),
            false,
        );
    }
    note("routes", o.routes == n.routes, false);
    let mut idem = n.idempotency.clone();
    idem.memory_bytes = o.idempotency.memory_bytes;
    note("idempotency", o.idempotency == idem, false);
    let mut log = n.request_log.clone();
    log.queue = o.request_log.queue;
    note("request_log", o.request_log == log, false);
    note("tracing", o.tracing == n.tracing, false);
    (live, restart)
}

/// Whether two catalogs say the same: name, envelope, request ids and every code.
fn same_catalog(a: &errata_core::Catalog, b: &errata_core::Catalog) -> bool {
    a.codes() == b.codes()
        && a.name() == b.name()
        && format!("{:?}{:?}", a.envelope(), a.request_id())
            == format!("{:?}{:?}", b.envelope(), b.request_id())
}

/// The running values of what takes a restart, put back into a new config.
fn keep_running_values(running: &Config, new: &mut Config) {
    let (r, n) = (&running.gateway, &mut new.gateway);
    n.listen = r.listen;
    n.tls = r.tls.clone();
    n.workers = r.workers;
    n.max_connections = r.max_connections;
    n.store_url = r.store_url.clone();
    n.counters_url = r.counters_url.clone();
    n.key_cache_ttl = r.key_cache_ttl;
    n.key_cache_max_stale = r.key_cache_max_stale;
    n.key_cache_capacity = r.key_cache_capacity;
    n.idempotency.memory_bytes = r.idempotency.memory_bytes;
    n.request_log.queue = r.request_log.queue;
    n.log_format = r.log_format;
    new.admin_listen = running.admin_listen;
    new.admin_tls = running.admin_tls.clone();
    new.admin_token = running.admin_token.clone();
    new.portal = running.portal.clone();
}
