//! errata-gateway: the error contract in front of any upstream.
//!
//! A reverse proxy that authenticates API keys, enforces scopes, IP allowlists, plans, rate
//! limits, monthly quotas and concurrency, guards body size and type, and turns every failure —
//! its own or the upstream's — into the catalog's envelope with one request id.

// Refusals carry an `ApiError` (about 200 bytes); they are built only on the refusal path, and
// boxing them would cost an allocation there for nothing.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod client_ip;
pub mod config;
pub mod conn;
pub mod gate;
pub mod gateway;
pub mod head;
pub mod health;
pub mod idempotency;
pub mod live;
pub mod lookup;
pub mod metrics;
pub mod otlp;
pub mod proxy;
pub mod relay;
pub mod reply;
pub mod request_path;
pub mod respond;
pub mod stage;
pub mod success_meta;
pub mod tls;
pub mod trace_context;
pub mod upstream;
pub mod worker;
