//! Health and readiness of one errata process, shared by everything that asks: the admin
//! listener's `/healthz` and `/readyz`, the gateway's public `health_path`, and the metrics.
//!
//! - **Liveness**: the process is up and none of its workers has stopped.
//! - **Readiness**: the key store and the counters answer within their timeouts, the public
//!   listener's certificate (when there is one) is valid, and the process is not shutting
//!   down. The checks run at once, each bounded by its own timeout, so an answer never takes
//!   longer than the longest timeout.
//!
//! [`Health::check`] runs the checks now (the admin `/readyz`, and a background probe every
//! [`REFRESH`]); [`Health::last`] is what the last run saw, for an answer that must not reach
//! the backends itself (a public path). Messages of failures are safe to show a client: no
//! address, no driver error; those go to the log, once per change.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use errata_core::{ApiError, Condition, Violation};

use crate::counters::Counters;
use crate::db::KeyStore;

/// How often the background probe refreshes what [`Health::last`] answers.
pub const REFRESH: Duration = Duration::from_secs(1);

/// Why a check failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// For machines: `unreachable`, `timeout`, `expired`, `draining`, `starting`, `stopped`.
    pub code: &'static str,
    /// For people, safe to show any client.
    pub message: String,
    /// The underlying error, for the log only.
    pub cause: String,
}

impl Failure {
    pub fn new(code: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            cause: String::new(),
        }
    }

    fn violation(&self, name: &str) -> Violation {
        Violation::new([name], self.message.clone(), self.code)
    }
}

/// One check's outcome.
#[derive(Clone, Debug)]
pub struct Check {
    /// `store`, `counters` or `tls`.
    pub name: &'static str,
    pub latency: Duration,
    /// `None`: the check passed.
    pub failure: Option<Failure>,
}

impl Check {
    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }
}

/// A check of the public listener's certificate, made by whoever holds it.
pub type TlsCheck = Arc<dyn Fn() -> Result<(), Failure> + Send + Sync>;

/// Readiness at one moment.
#[derive(Clone, Debug)]
pub struct Readiness {
    /// What the checks saw; `None` before the first run.
    pub checks: Option<Arc<Vec<Check>>>,
    /// Whether the process is shutting down.
    pub draining: bool,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        !self.draining
            && self
                .checks
                .as_ref()
                .is_some_and(|c| c.iter().all(Check::ok))
    }

    /// Each reason not to be ready, named: a failed check by its name, the process's own state
    /// (starting, draining) as `gateway`.
    pub fn failures(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        match &self.checks {
            None => out.push(
                Failure::new(
                    "starting",
                    "the gateway has not checked its dependencies yet",
                )
                .violation("gateway"),
            ),
            Some(checks) => {
                for c in checks.iter() {
                    if let Some(f) = &c.failure {
                        out.push(f.violation(c.name));
                    }
                }
            }
        }
        if self.draining {
            out.push(Failure::new("draining", "the gateway is shutting down").violation("gateway"));
        }
        out
    }

    /// The not-ready answer: the catalog's code for an unavailable dependency (503), with
    /// each reason in `details`.
    pub fn error(&self) -> ApiError {
        unavailable(self.failures())
    }
}

/// Liveness at one moment.
#[derive(Clone, Copy, Debug)]
pub struct Liveness {
    pub uptime: Duration,
    /// Worker threads started, and how many of them have stopped.
    pub workers: usize,
    pub stopped: usize,
    pub draining: bool,
}

impl Liveness {
    /// Alive unless a worker stopped while the process was not shutting down.
    pub fn is_live(&self) -> bool {
        self.stopped == 0 || self.draining
    }

    pub fn error(&self) -> ApiError {
        unavailable([Failure::new(
            "stopped",
            format!("{} of {} workers stopped", self.stopped, self.workers),
        )
        .violation("workers")])
    }
}

fn unavailable(details: impl IntoIterator<Item = Violation>) -> ApiError {
    ApiError::condition(Condition::ServiceUnavailable)
        .arg("retry_after", 1)
        .retry_after(1)
        .details(details)
}

/// The state behind the answers: the dependencies to check, the draining flag, the workers,
/// and what the last checks saw. One per process, behind an `Arc`: a gateway made again (a
/// reload) keeps the one it had.
pub struct Health {
    store: Arc<dyn KeyStore>,
    counters: Option<Arc<dyn Counters>>,
    /// The bounds of the store's and the counters' checks, which a reload may change.
    timeouts: RwLock<(Duration, Duration)>,
    tls: RwLock<Option<TlsCheck>>,
    draining: AtomicBool,
    workers: AtomicUsize,
    stopped: AtomicUsize,
    last: RwLock<Option<Arc<Vec<Check>>>>,
    started: Instant,
}

impl Health {
    /// Checks `store` and `counters`, each within its timeout.
    pub fn new(
        store: Arc<dyn KeyStore>,
        store_timeout: Duration,
        counters: Arc<dyn Counters>,
        counters_timeout: Duration,
    ) -> Health {
        let h = Health::store_only(store, store_timeout);
        Health {
            counters: Some(counters),
            timeouts: RwLock::new((store_timeout, counters_timeout)),
            ..h
        }
    }

    /// Checks the key store only (an admin API with no gateway beside it).
    pub fn store_only(store: Arc<dyn KeyStore>, store_timeout: Duration) -> Health {
        Health {
            store,
            counters: None,
            timeouts: RwLock::new((store_timeout, Duration::ZERO)),
            tls: RwLock::new(None),
            draining: AtomicBool::new(false),
            workers: AtomicUsize::new(0),
            stopped: AtomicUsize::new(0),
            last: RwLock::new(None),
            started: Instant::now(),
        }
    }

    /// Bounds the store's and the counters' checks anew (a reloaded `[timeouts]`).
    pub fn set_timeouts(&self, store: Duration, counters: Duration) {
        if let Ok(mut t) = self.timeouts.write() {
            *t = (store, counters);
        }
    }

    /// Adds (or replaces) the check of the public listener's certificate.
    pub fn set_tls(&self, check: TlsCheck) {
        if let Ok(mut t) = self.tls.write() {
            *t = Some(check);
        }
    }

    /// Turns not ready for good: the process is shutting down.
    pub fn start_draining(&self) {
        if !self.draining.swap(true, Ordering::SeqCst) {
            metrics::gauge!("errata_ready").set(0.0);
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Notes `n` more worker threads started.
    pub fn workers_started(&self, n: usize) {
        self.workers.fetch_add(n, Ordering::SeqCst);
    }

    /// Notes a worker thread stopped (its accept loop ended, or it panicked).
    pub fn worker_stopped(&self) {
        self.stopped.fetch_add(1, Ordering::SeqCst);
        if !self.is_draining() {
            tracing::error!("a gateway worker stopped while serving");
        }
    }

    pub fn liveness(&self) -> Liveness {
        Liveness {
            uptime: self.started.elapsed(),
            workers: self.workers.load(Ordering::SeqCst),
            stopped: self.stopped.load(Ordering::SeqCst),
            draining: self.is_draining(),
        }
    }

    /// What the last checks saw, with the draining flag as it is now. Reaches no backend.
    pub fn last(&self) -> Readiness {
        Readiness {
            checks: self.last.read().ok().and_then(|l| l.clone()),
            draining: self.is_draining(),
        }
    }

    /// Runs every check now, at once, each within its timeout; keeps the result for
    /// [`Health::last`], logs what changed and sets the metrics.
    pub async fn check(&self) -> Readiness {
        let (store_timeout, counters_timeout) = self.timeouts.read().map_or(
            (Duration::from_millis(500), Duration::from_millis(100)),
            |t| *t,
        );
        let store = probe(
            "store",
            "the key store",
            store_timeout,
            self.store.change_marker(),
        );
        let counters = async {
            match &self.counters {
                Some(c) => Some(
                    probe(
                        "counters",
                        "the counters backend",
                        counters_timeout,
                        c.ping(),
                    )
                    .await,
                ),
                None => None,
            }
        };
        let (store, counters) = tokio::join!(store, counters);
        let mut checks = vec![store];
        checks.extend(counters);
        let tls = self.tls.read().ok().and_then(|t| t.clone());
        if let Some(tls) = tls {
            let t0 = Instant::now();
            let res = tls();
            checks.push(Check {
                name: "tls",
                latency: t0.elapsed(),
                failure: res.err(),
            });
        }
        let checks = Arc::new(checks);
        let previous = match self.last.write() {
            Ok(mut l) => l.replace(Arc::clone(&checks)),
            Err(_) => None,
        };
        log_changes(previous.as_deref(), &checks);
        let readiness = Readiness {
            checks: Some(checks),
            draining: self.is_draining(),
        };
        record(&readiness);
        readiness
    }

    /// Runs [`Health::check`] every `every` until `stop` resolves.
    pub async fn watch(self: Arc<Self>, every: Duration, stop: impl Future<Output = ()>) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = &mut stop => return,
            }
            self.check().await;
        }
    }
}

/// One backend's round trip, bounded by `timeout`.
async fn probe<T, E: std::fmt::Display>(
    name: &'static str,
    what: &str,
    timeout: Duration,
    call: impl Future<Output = Result<T, E>>,
) -> Check {
    let t0 = Instant::now();
    let res = tokio::time::timeout(timeout, call).await;
    let latency = t0.elapsed();
    let failure = match res {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(Failure {
            code: "unreachable",
            message: format!("{what} is unreachable"),
            cause: e.to_string(),
        }),
        Err(_) => Some(Failure {
            code: "timeout",
            message: format!("{what} did not answer within {} ms", timeout.as_millis()),
            cause: String::new(),
        }),
    };
    Check {
        name,
        latency,
        failure,
    }
}

/// Logs a check that failed, or failed differently, or recovered, since the last run.
fn log_changes(previous: Option<&Vec<Check>>, now: &[Check]) {
    for c in now {
        let before = previous
            .and_then(|p| p.iter().find(|p| p.name == c.name))
            .map(|p| p.failure.as_ref().map(|f| f.code));
        let code = c.failure.as_ref().map(|f| f.code);
        if before == Some(code) {
            continue;
        }
        match &c.failure {
            Some(f) => tracing::warn!(
                dependency = c.name,
                code = f.code,
                error = %f.cause,
                "not ready: {}",
                f.message
            ),
            None if before.is_some() => {
                tracing::info!(dependency = c.name, "ready again: {} answers", c.name)
            }
            None => {}
        }
    }
}

/// `errata_ready`, `errata_dependency_up{dependency}`, the checks' latency and failures.
fn record(r: &Readiness) {
    for c in r.checks.iter().flat_map(|c| c.iter()) {
        metrics::gauge!("errata_dependency_up", "dependency" => c.name).set(if c.ok() {
            1.0
        } else {
            0.0
        });
        metrics::histogram!("errata_readiness_check_duration_seconds", "dependency" => c.name)
            .record(c.latency.as_secs_f64());
        if let Some(f) = &c.failure {
            metrics::counter!(
                "errata_readiness_check_failures_total",
                "dependency" => c.name,
                "reason" => f.code
            )
            .increment(1);
        }
    }
    metrics::gauge!("errata_ready").set(if r.is_ready() { 1.0 } else { 0.0 });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::{CountersError, MemoryCounters, Outcome};
    use crate::plans::Limits;

    /// Counters that never answer, or fail at once.
    struct Broken {
        hang: bool,
    }

    #[async_trait::async_trait]
    impl Counters for Broken {
        async fn check(&self, _: &str, _: &Limits, _: u64) -> Result<Outcome, CountersError> {
            Err(CountersError("broken".into()))
        }
        async fn ping(&self) -> Result<(), CountersError> {
            if self.hang {
                std::future::pending::<()>().await;
            }
            Err(CountersError("connection refused".into()))
        }
    }

    async fn store() -> Arc<dyn KeyStore> {
        crate::db::open("sqlite::memory:").await.unwrap()
    }

    #[tokio::test]
    async fn ready_on_working_backends_and_lists_each_check() {
        let h = Health::new(
            store().await,
            Duration::from_millis(500),
            Arc::new(MemoryCounters::default()),
            Duration::from_millis(100),
        );
        assert!(!h.last().is_ready(), "not ready before the first check");
        assert_eq!(h.last().failures()[0].code, "starting");
        let r = h.check().await;
        assert!(r.is_ready());
        let checks = r.checks.as_deref().unwrap();
        let names: Vec<_> = checks.iter().map(|c| (c.name, c.ok())).collect();
        assert_eq!(names, [("store", true), ("counters", true)]);
        assert!(h.last().is_ready());
        h.start_draining();
        let r = h.last();
        assert!(!r.is_ready());
        let f = r.failures();
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].path.clone(), f[0].code.as_str()),
            (vec!["gateway".to_owned()], "draining")
        );
    }

    #[tokio::test]
    async fn a_failing_or_silent_backend_is_named_within_its_timeout() {
        for (hang, code, message) in [
            (false, "unreachable", "the counters backend is unreachable"),
            (
                true,
                "timeout",
                "the counters backend did not answer within 50 ms",
            ),
        ] {
            let h = Health::new(
                store().await,
                Duration::from_millis(500),
                Arc::new(Broken { hang }),
                Duration::from_millis(50),
            );
            let t0 = Instant::now();
            let r = h.check().await;
            assert!(t0.elapsed() < Duration::from_millis(400));
            assert!(!r.is_ready());
            let f = r.failures();
            assert_eq!(f.len(), 1);
            assert_eq!(f[0].path, vec!["counters".to_owned()]);
            assert_eq!((f[0].code.as_str(), f[0].message.as_str()), (code, message));
            let err = r.error();
            assert_eq!(err.retry_after, Some(1));
            assert_eq!(err.details, f);
        }
    }

    #[test]
    fn a_worker_that_stops_is_not_alive_unless_shutting_down() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let h = Health::store_only(rt.block_on(store()), Duration::from_millis(500));
        h.workers_started(2);
        assert!(h.liveness().is_live());
        h.worker_stopped();
        let l = h.liveness();
        assert!(!l.is_live());
        assert_eq!(l.error().details[0].message, "1 of 2 workers stopped");
        h.start_draining();
        assert!(h.liveness().is_live());
    }
}
