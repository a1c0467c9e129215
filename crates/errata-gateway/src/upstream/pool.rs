//! Idle upstream connections of one worker: a LIFO stack with a cap and an idle timeout.
//!
//! A connection is in the stack only while nothing uses it: `checkout` takes the newest live
//! one out, and the response body puts it back when it has been read to its end
//! (`UpstreamBody`). Closed connections are skipped, expired ones dropped, and a sweeper task
//! (one per pool, started with its first connection) closes those left idle past the timeout
//! when no request comes to do it. The stack is newest-last, so the oldest sit at the front.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;

use super::ProxyBody;

/// How many idle connections a worker keeps, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolOptions {
    /// Idle connections kept; more are closed as they come back. 0 disables reuse.
    pub max_idle: usize,
    /// An idle connection older than this is closed, never reused.
    pub idle_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> PoolOptions {
        PoolOptions {
            max_idle: 256,
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// What the pool has done so far (for tests and metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections opened.
    pub connects: u64,
    /// Requests sent on a connection that had served one before.
    pub reuses: u64,
    /// Requests sent again on a fresh connection after a reused one closed.
    pub retries: u64,
    /// Address lookups.
    pub resolves: u64,
    /// Connections idle right now.
    pub idle: usize,
}

struct Idle {
    tx: SendRequest<ProxyBody>,
    since: Instant,
}

struct State {
    idle: VecDeque<Idle>,
    stats: PoolStats,
}

pub(crate) struct Pool {
    state: Mutex<State>,
    options: PoolOptions,
    sweeping: AtomicBool,
}

impl Pool {
    pub(crate) fn new(options: PoolOptions) -> Pool {
        Pool {
            state: Mutex::new(State {
                idle: VecDeque::with_capacity(options.max_idle.min(1024)),
                stats: PoolStats::default(),
            }),
            options,
            sweeping: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The newest idle connection that is still open and ready for a request.
    pub(crate) async fn checkout(&self) -> Option<SendRequest<ProxyBody>> {
        loop {
            let mut tx = self.pop()?;
            // Ready at once unless the connection is just finishing its last response; an
            // error means the upstream closed it while it was idle.
            if tx.ready().await.is_ok() {
                self.lock().stats.reuses += 1;
                return Some(tx);
            }
        }
    }

    fn pop(&self) -> Option<SendRequest<ProxyBody>> {
        let now = Instant::now();
        let mut state = self.lock();
        while let Some(idle) = state.idle.pop_back() {
            if now.saturating_duration_since(idle.since) >= self.options.idle_timeout {
                // The newest has expired, so every older one has too.
                state.idle.clear();
                return None;
            }
            if !idle.tx.is_closed() {
                return Some(idle.tx);
            }
        }
        None
    }

    /// Puts a connection whose response was read to its end back on the stack.
    pub(crate) fn release(&self, tx: SendRequest<ProxyBody>) {
        if tx.is_closed() || self.options.max_idle == 0 {
            return;
        }
        let since = Instant::now();
        let mut state = self.lock();
        if state.idle.len() >= self.options.max_idle {
            state.idle.pop_front();
        }
        state.idle.push_back(Idle { tx, since });
    }

    pub(crate) fn note_connect(self: &Arc<Self>) {
        self.lock().stats.connects += 1;
        if !self.sweeping.swap(true, Ordering::Relaxed) {
            self.start_sweeper();
        }
    }

    pub(crate) fn note_reuse(&self) {
        self.lock().stats.reuses += 1;
    }

    pub(crate) fn note_retry(&self) {
        self.lock().stats.retries += 1;
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let state = self.lock();
        PoolStats {
            idle: state.idle.len(),
            ..state.stats
        }
    }

    /// Drops connections that are closed or idle past the timeout.
    fn sweep(&self) {
        let now = Instant::now();
        let timeout = self.options.idle_timeout;
        self.lock()
            .idle
            .retain(|i| !i.tx.is_closed() && now.saturating_duration_since(i.since) < timeout);
    }

    /// Sweeps every half idle timeout until the pool is gone.
    fn start_sweeper(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let pool: Weak<Pool> = Arc::downgrade(self);
        let period = (self.options.idle_timeout / 2).max(Duration::from_millis(10));
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match pool.upgrade() {
                    Some(pool) => pool.sweep(),
                    None => return,
                }
            }
        });
    }
}
