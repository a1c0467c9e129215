//! Running errata: the gateway's workers and the admin listener over one store, the background
//! tasks (revocation poll, last-used flush, request-log flush) and graceful shutdown (stop
//! accepting, drain in-flight requests within a bound).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use errata_admin::Admin;
use errata_gateway::gateway::Gateway;
use errata_gateway::live::{self, Live};
use errata_gateway::tls::{self, CertReloader};
use errata_gateway::worker;
use errata_store::counters::{self, Clock, Counters, SystemClock};
use errata_store::db::{self, KeyStore};
use errata_store::keys;

use crate::config::Config;
use crate::reload::Reloader;

/// How often the store's change marker is polled; a key revoked by another process (the CLI,
/// another instance) stops working within this bound plus one store round trip.
pub const REVOCATION_POLL: Duration = Duration::from_millis(100);

/// How often last-used times are written back.
pub const LAST_USED_FLUSH: Duration = Duration::from_secs(5);

/// A running gateway.
pub struct Running {
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub admin_token: String,
    /// The gateway in force (a reload replaces it).
    pub live: Arc<Live>,
    /// The admin API's state in force (its configuration, sessions, portal signer).
    admin: Arc<ArcSwap<Admin>>,
    /// The config reload (SIGHUP, `POST /config/reload`, a watched file).
    pub reloader: Arc<Reloader>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// The gateway in force now.
    pub fn gateway(&self) -> Arc<Gateway> {
        self.live.load_full()
    }

    /// The admin API's state in force now.
    pub fn admin(&self) -> Arc<Admin> {
        self.admin.load_full()
    }

    /// Turns not ready, keeps serving for the configured drain time (`timeouts.drain_ms`), then
    /// stops accepting and waits for in-flight requests up to the configured grace.
    pub async fn shutdown(self) {
        self.shutdown_or(std::future::pending::<()>()).await;
    }

    /// As [`Running::shutdown`], with the drain time cut short when `cut` resolves (a second
    /// signal).
    pub async fn shutdown_or(self, cut: impl std::future::Future<Output = ()>) {
        // Readiness first: /readyz and `health_path` answer 503 (`draining`) from now on, while
        // the listeners still serve, so a load balancer takes the instance out before it stops.
        let gateway = self.gateway();
        gateway.health.start_draining();
        let drain = gateway.config.drain;
        if !drain.is_zero() {
            tracing::info!(
                drain_ms = drain.as_millis() as u64,
                "not ready; serving on while load balancers notice"
            );
            tokio::select! {
                () = tokio::time::sleep(drain) => {}
                () = cut => tracing::info!("drain cut short"),
            }
        }
        drop(gateway);
        let _ = self.shutdown.send(true);
        let grace = self.gateway().config.shutdown_grace;
        let spans = Arc::clone(&self.gateway().tracing);
        for t in self.tasks {
            if tokio::time::timeout(grace, t).await.is_err() {
                tracing::warn!("shutdown grace elapsed with requests still in flight");
            }
        }
        // The spans of the last requests, exported within a bound.
        spans.flush(errata_gateway::otlp::SHUTDOWN_FLUSH).await;
    }
}

/// Opens the key store at `url`, with an error that names it.
pub async fn open_store(url: &str) -> Result<Arc<dyn KeyStore>, String> {
    db::open(url)
        .await
        .map_err(|e| format!("cannot open the key store {url}: {e}"))
}

/// Opens the store and counters a config names.
pub async fn open_backends(cfg: &Config) -> Result<(Arc<dyn KeyStore>, Arc<dyn Counters>), String> {
    let store = open_store(&cfg.gateway.store_url).await?;
    let counters = counters::open(&cfg.gateway.counters_url)
        .await
        .map_err(|e| e.to_string())?;
    Ok((store, counters))
}

/// Starts the gateway on a bound public listener (every worker accepts from it) and a bound
/// admin listener, with the given backends and clock.
pub async fn start(
    cfg: Config,
    store: Arc<dyn KeyStore>,
    counters: Arc<dyn Counters>,
    clock: Arc<dyn Clock>,
    listener: TcpListener,
    admin_listener: TcpListener,
) -> Result<Running, String> {
    let listener = listener.into_std().map_err(|e| e.to_string())?;
    let listeners = (0..cfg.gateway.workers.max(1))
        .map(|_| listener.try_clone())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot share the public listener: {e}"))?;
    start_on(cfg, store, counters, clock, listeners, admin_listener).await
}

/// Starts the gateway with one public listener per worker.
pub async fn start_on(
    cfg: Config,
    store: Arc<dyn KeyStore>,
    counters: Arc<dyn Counters>,
    clock: Arc<dyn Clock>,
    listeners: Vec<std::net::TcpListener>,
    admin_listener: TcpListener,
) -> Result<Running, String> {
    errata_admin::prometheus::install();
    let admin_token = cfg
        .admin_token
        .clone()
        .unwrap_or_else(|| keys::generate("admin", keys::Environment::Live).plaintext);
    let admin_config = cfg.admin();
    let admin_tls = cfg.admin_tls.clone();
    let cfg_for_reload = cfg.clone();
    let mut gateway_config = cfg.gateway;
    gateway_config.workers = listeners.len().max(1);
    let addr = listeners
        .first()
        .ok_or("no public listener")?
        .local_addr()
        .map_err(|e| e.to_string())?;
    // The address bound (a port of 0 made real) is what `doc_url` links derive from.
    gateway_config.listen = addr;
    let gateway = Gateway::new(gateway_config, Arc::clone(&store), counters, clock)?;
    let live = live::live(Arc::clone(&gateway));
    let admin_addr = admin_listener.local_addr().map_err(|e| e.to_string())?;
    let (tx, rx) = watch::channel(false);
    let mut tasks = Vec::new();

    // TLS on the public listener: the certificate is loaded now (a bad one stops the start)
    // and followed on disk from then on.
    let tls = match &gateway.config.tls {
        None => None,
        Some(files) => {
            let cert = CertReloader::load(files).map_err(|e| e.to_string())?;
            gateway
                .health
                .set_tls(errata_gateway::health::tls_check(Arc::clone(&cert)));
            let config = tls::server::config(Arc::clone(&cert), true)
                .map_err(|e| format!("TLS setup failed: {e}"))?;
            let mut stop = rx.clone();
            tasks.push(tokio::spawn(cert.watch(
                tls::reload::RELOAD_POLL,
                async move {
                    let _ = stop.wait_for(|s| *s).await;
                },
            )));
            Some(tokio_rustls::TlsAcceptor::from(config))
        }
    };
    // Readiness is known before the first request: the checks run once now.
    gateway.health.check().await;
    let workers = worker::spawn(&live, listeners, &rx, tls)?;
    gateway.health.workers_started(workers.len());
    for done in workers {
        let health = Arc::clone(&gateway.health);
        tasks.push(tokio::spawn(async move {
            let _ = done.await;
            health.worker_stopped();
        }));
    }

    let admin_state = Arc::new(
        Admin::new(
            admin_config,
            Arc::clone(&gateway.catalog),
            Arc::clone(&gateway.store),
            Arc::clone(&gateway.cache),
            Arc::clone(&gateway.recorder),
            admin_token.clone(),
        )
        .with_health(Arc::clone(&gateway.health)),
    );
    let admin = Arc::new(ArcSwap::new(Arc::clone(&admin_state)));
    let admin_router = Arc::new(ArcSwap::from_pointee(errata_admin::router(admin_state)));
    let admin_app = swappable(Arc::clone(&admin_router));
    let reloader = Reloader::new(
        cfg_for_reload,
        Arc::clone(&live),
        Arc::clone(&admin),
        admin_router,
    );
    let _ = admin.load().reload.set(crate::reload::weak(&reloader));
    let mut stop = rx.clone();
    if let Some(files) = &admin_tls {
        let cert = CertReloader::load(files).map_err(|e| e.to_string())?;
        let config = tls::server::config(Arc::clone(&cert), false)
            .map_err(|e| format!("TLS setup failed: {e}"))?;
        let mut watch_stop = rx.clone();
        tasks.push(tokio::spawn(cert.watch(
            tls::reload::RELOAD_POLL,
            async move {
                let _ = watch_stop.wait_for(|s| *s).await;
            },
        )));
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        tasks.push(tokio::spawn(tls::server::serve_admin(
            admin_listener,
            acceptor,
            admin_app,
            stop,
        )));
    } else {
        tasks.push(tokio::spawn(async move {
            let res = axum::serve(admin_listener, admin_app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = res {
                tracing::error!(error = %e, "admin listener failed");
            }
        }));
    }

    // The background tasks read the gateway in force each time: holding one would keep a
    // reloaded-away gateway (and its upstream pools) alive.
    // Revocation: poll the store's change marker; any change forgets every cached verification.
    let current = Arc::clone(&live);
    let mut stop = rx.clone();
    tasks.push(tokio::spawn(async move {
        let mut last = None;
        let mut tick = tokio::time::interval(REVOCATION_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            let gw = current.load_full();
            match tokio::time::timeout(gw.config.store_timeout, gw.store.change_marker()).await {
                Ok(Ok(m)) => {
                    if last.is_some_and(|l| l != m) {
                        gw.cache.clear();
                    }
                    last = Some(m);
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "revocation poll failed"),
                Err(_) => tracing::warn!("revocation poll timed out"),
            }
        }
    }));

    // Where the store pushes changes (PostgreSQL NOTIFY), forget at once rather than at the
    // next poll.
    if let Some(mut changes) = store.watch_changes() {
        let cache = Arc::clone(&gateway.cache);
        let mut stop = rx.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    msg = changes.recv() => match msg {
                        Some(()) => cache.clear(),
                        None => break,
                    },
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        }));
    }

    // Readiness, checked again every second in the background, so `health_path` and the
    // metrics answer from a recent state without reaching the backends themselves.
    let mut stop = rx.clone();
    tasks.push(tokio::spawn(Arc::clone(&gateway.health).watch(
        errata_gateway::health::REFRESH,
        async move {
            let _ = stop.wait_for(|s| *s).await;
        },
    )));

    // Last-used times, written in batches.
    let current = Arc::clone(&live);
    let mut stop = rx.clone();
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(LAST_USED_FLUSH);
        loop {
            let stopping = tokio::select! {
                _ = tick.tick() => false,
                _ = stop.wait_for(|s| *s) => true,
            };
            let gw = current.load_full();
            let used = gw.take_last_used();
            if !used.is_empty()
                && let Err(e) = gw.store.touch(&used).await
            {
                tracing::warn!(error = %e, "could not record last use of keys");
            }
            if stopping {
                break;
            }
        }
    }));

    // The request log and usage, written in batches off the request path.
    tasks.push(tokio::spawn(errata_store::flush::run(
        Arc::clone(&gateway.recorder),
        Arc::clone(&store),
        Arc::clone(&gateway.clock),
        rx.clone(),
    )));

    Ok(Running {
        addr,
        admin_addr,
        admin_token,
        live,
        admin,
        reloader,
        shutdown: tx,
        tasks,
    })
}

/// The admin app as served: each request goes to the router in force, which a reload
/// replaces (new plans, catalog, OpenAPI document) without touching the listener.
fn swappable(current: Arc<ArcSwap<Router>>) -> Router {
    use tower::ServiceExt;
    Router::new().fallback_service(tower::service_fn(move |req: axum::extract::Request| {
        let router = Router::clone(&current.load());
        async move { router.oneshot(req).await }
    }))
}

/// Runs until SIGTERM or SIGINT, then shuts down gracefully; SIGHUP reads `file` (the config
/// `cfg` came from, if any) again. `ready` is called once both listeners are bound.
pub async fn run(
    cfg: Config,
    file: Option<&Path>,
    ready: impl FnOnce(&Running),
) -> Result<(), String> {
    let mut signals = Signals::install();
    let (store, counters) = open_backends(&cfg).await?;
    let listeners = worker::bind(cfg.gateway.listen, cfg.gateway.workers)
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.gateway.listen))?;
    let admin_listener = TcpListener::bind(cfg.admin_listen)
        .await
        .map_err(|e| format!("cannot listen on {} (admin): {e}", cfg.admin_listen))?;
    let running = start_on(
        cfg,
        store,
        counters,
        Arc::new(SystemClock),
        listeners,
        admin_listener,
    )
    .await?;
    running.reloader.set_file(file);
    tokio::spawn(Arc::clone(&running.reloader).watch(running.shutdown.subscribe()));
    ready(&running);
    signals.until_stopped(&running.reloader).await;
    tracing::info!("shutting down: draining in-flight requests");
    // A second SIGTERM or Ctrl-C ends the drain time at once.
    running.shutdown_or(signals.stop()).await;
    Ok(())
}

/// The signals errata answers. Installed before the listeners are announced: a SIGHUP or
/// SIGTERM that arrived before its handler would end the process at once (their default).
pub struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    pub fn install() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
                hup: signal(SignalKind::hangup()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Resolves on SIGTERM or SIGINT (Ctrl-C); each SIGHUP meanwhile reloads the config (as
    /// `systemctl reload` and most supervisors send it).
    pub async fn until_stopped(&mut self, reloader: &Reloader) {
        #[cfg(unix)]
        loop {
            tokio::select! {
                () = next(&mut self.term) => return,
                () = next(&mut self.int) => return,
                () = next(&mut self.hup) => reloader.reload_and_log("SIGHUP").await,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = reloader;
            self.stop().await;
        }
    }

    /// Resolves on the next SIGTERM or SIGINT.
    pub async fn stop(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            () = next(&mut self.term) => {}
            () = next(&mut self.int) => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The next delivery of a signal; never, when its handler could not be installed.
#[cfg(unix)]
async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
