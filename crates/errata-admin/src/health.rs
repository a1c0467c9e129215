//! `GET /healthz` and `GET /readyz`: what a load balancer or an orchestrator's probes call, with
//! no token.
//!
//! - `/healthz` (liveness): 200 while the process is up and every worker serves; the catalog's
//!   503 when a worker stopped.
//! - `/readyz` (readiness): the key store and the counters are asked now, at once, each within
//!   its configured timeout (`store_timeout`, `counters_timeout`), and the public listener's
//!   certificate is checked; 200 with each check's status and latency, or the catalog's 503
//!   with each reason (`store`, `counters`, `tls`, or `gateway` when it is shutting down) in
//!   `details`.
//!
//! The checks and their state are [`errata_store::health`].

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use errata_axum::Error;
use errata_store::health::{Check, Readiness};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::Admin;

/// `ok`: the process is up and serving.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LiveStatus {
    Ok,
}

/// The liveness answer.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Live {
    pub status: LiveStatus,
    /// errata's version.
    pub version: String,
    /// Whole seconds since the process started.
    pub uptime_seconds: u64,
    /// Gateway worker threads serving.
    pub workers: u64,
}

/// `ready`: every check passed.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReadyStatus {
    Ready,
}

/// `ok`: the check passed.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
}

/// One check that passed.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CheckResult {
    pub status: CheckStatus,
    /// How long the check took, in milliseconds (microsecond precision).
    pub latency_ms: f64,
}

/// The checks made: the key store and the counters always, the public listener's TLS
/// certificate when it has one.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Checks {
    pub store: CheckResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counters: Option<CheckResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<CheckResult>,
}

/// The readiness answer.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Ready {
    pub status: ReadyStatus,
    pub checks: Checks,
}

impl Ready {
    /// The answer for a readiness that is ready (every check passed).
    fn of(r: &Readiness) -> Ready {
        let find = |name: &str| {
            r.checks
                .iter()
                .flat_map(|c| c.iter())
                .find(|c| c.name == name)
                .map(result)
        };
        Ready {
            status: ReadyStatus::Ready,
            checks: Checks {
                store: find("store").unwrap_or(CheckResult {
                    status: CheckStatus::Ok,
                    latency_ms: 0.0,
                }),
                counters: find("counters"),
                tls: find("tls"),
            },
        }
    }
}

fn result(c: &Check) -> CheckResult {
    CheckResult {
        status: CheckStatus::Ok,
        latency_ms: c.latency.as_micros() as f64 / 1000.0,
    }
}

/// Health answers are never cached by a proxy between the probe and errata.
fn no_store(body: impl IntoResponse) -> Response {
    let mut res = body.into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Liveness: the process is up and its workers serve.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses(
        (status = 200, description = "The process is up and every worker serves", body = Live),
        (status = 503, description = "A worker stopped (`details` says how many)"),
    ))]
pub async fn healthz(State(a): State<Arc<Admin>>) -> Result<Response, Error> {
    let l = a.health.liveness();
    if !l.is_live() {
        return Err(l.error().into());
    }
    Ok(no_store(Json(Live {
        status: LiveStatus::Ok,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_seconds: l.uptime.as_secs(),
        workers: l.workers.saturating_sub(l.stopped) as u64,
    })))
}

/// Readiness: the key store and the counters answer within their timeouts, the listener's
/// certificate is valid, and the process is not shutting down.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses(
        (status = 200, description = "Ready: every check passed, with its latency", body = Ready),
        (status = 503, description = "Not ready: each reason in `details`, by check (`store`, `counters`, `tls`) or `gateway` (`draining` while it shuts down)"),
    ))]
pub async fn readyz(State(a): State<Arc<Admin>>) -> Result<Response, Error> {
    let r = a.health.check().await;
    if !r.is_ready() {
        return Err(r.error().into());
    }
    Ok(no_store(Json(Ready::of(&r))))
}
