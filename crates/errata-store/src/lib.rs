//! errata-store: the state behind the gateway's request path and the admin API.
//!
//! Everything here sits behind a trait with an in-process and a shared backend, so one instance
//! runs on embedded defaults and several share PostgreSQL and Redis:
//!
//! - [`db`]: the [`KeyStore`](db::KeyStore) on SQLite or PostgreSQL (keys, their migrations,
//!   the change watcher, and the request log's and usage's tables and queries).
//! - [`counters`]: rate (GCRA), quota and concurrency decided in one call, in memory or Redis
//!   (one node or a Redis Cluster, through one connection type in `redis_conn`).
//! - [`idempotency`]: the recorded answers of idempotent requests, in memory or Redis.
//! - [`reqlog`]: the request log and usage as they are recorded and batched; [`flush`]: the
//!   task that writes them into the key store and applies retention.
//! - [`key_cache`]: verified keys held in front of the store (single flight, stale while
//!   revalidating, forgotten on every change).
//! - [`keys`]: key generation and hashing; [`plans`]: plans and their limits.
//! - [`health`]: liveness and readiness (the store and counters answer in time, the process is
//!   not shutting down), shared by the admin API and the gateway.
//!
//! No HTTP server or client lives here; the settings of each part are defined and checked
//! beside it.

pub mod counters;
pub mod db;
pub mod flush;
pub mod health;
pub mod idempotency;
pub mod key_cache;
pub mod keys;
pub mod plans;
mod redis_conn;
pub mod reqlog;

/// Where a configuration problem is reported: its position (line, column), the message and the
/// fix. Each part of the state checks its own section of the configuration through one.
pub type Report<'r> = &'r mut dyn FnMut((usize, usize), String, &str);

/// A position in the configuration's source from a byte offset: (line, column).
pub type At<'a> = &'a dyn Fn(usize) -> (usize, usize);

/// Makes `ring` rustls's process-wide provider, for the libraries that open their own TLS
/// connections (sqlx to PostgreSQL, redis to `rediss://`). Idempotent; a provider installed
/// earlier is kept.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
