//! Log: the request id on every answer, the request's metrics, its access-log line, its
//! record for the request log and usage counts, and its spans when its trace is exported.

use std::time::{Duration, Instant};

use http::Response;
use http::header::HeaderValue;

use crate::gateway::{Gateway, Trace};
use crate::reply::Body;
use crate::respond::RenderedCode;
use crate::trace_context::hex_str;
use errata_store::reqlog::Entry;

/// Stamps the request id on the answer, counts it, logs it and records it.
pub fn finish(
    gw: &Gateway,
    worker: usize,
    trace: Trace,
    mut res: Response<Body>,
    started: Instant,
) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(&trace.request_id) {
        res.headers_mut().insert(gw.request_id_header.clone(), v);
    }
    let status = res.status().as_u16();
    let code = res.extensions().get::<RenderedCode>().map(|c| c.0.as_str());
    answered(gw, worker, trace, status, code, started.elapsed());
    res
}

/// Counts, logs and records an answer with `status` (and `code`, for an error of the
/// catalog's) that took `latency` to its head. The relay calls this directly: it writes the
/// request id itself.
pub fn answered(
    gw: &Gateway,
    worker: usize,
    trace: Trace,
    status: u16,
    code: Option<&str>,
    latency: Duration,
) {
    gw.metrics.request(trace.route, status, code, latency);
    let route = gw.route_name(trace.route);
    let trace_id = trace.trace_context.trace_id_hex();
    let trace_id = hex_str(&trace_id);
    tracing::info!(
        target: "errata::access",
        request_id = %trace.request_id,
        trace_id = %trace_id,
        method = %trace.method,
        path = %trace.path,
        route,
        key_id = trace.key_id.as_deref().unwrap_or(""),
        tenant = trace.tenant.as_deref().unwrap_or(""),
        status,
        code = code.unwrap_or(""),
        upstream_request_id = trace.upstream_request_id.as_deref().unwrap_or(""),
        idempotency = trace.idempotency,
        latency_ms = latency.as_secs_f64() * 1000.0,
    );
    if gw.recorder.enabled() {
        record(gw, worker, &trace, trace_id, status, code, latency);
    }
    if trace.trace_context.recording.is_some() {
        let route = (trace.route != gw.metrics.unmatched()).then_some(route);
        gw.tracing.finish(trace, route, status, code, latency);
    }
}

/// Hands the request's record to the request log and usage counts.
fn record(
    gw: &Gateway,
    worker: usize,
    trace: &Trace,
    trace_id: &str,
    status: u16,
    code: Option<&str>,
    latency: Duration,
) {
    // Borrowed, not moved: the recorder copies what it keeps into the worker's own buffer.
    let entry = Entry {
        request_id: &trace.request_id,
        time_ms: i64::try_from(trace.started_ms).unwrap_or(i64::MAX),
        method: trace.method.as_str(),
        path: &trace.path,
        route: gw.route_name(trace.route),
        key_id: trace.key_id.as_deref(),
        tenant: trace.tenant.as_deref(),
        status,
        code,
        latency_us: i64::try_from(latency.as_micros()).unwrap_or(i64::MAX),
        upstream_status: trace.upstream_status,
        upstream_request_id: trace.upstream_request_id.as_deref(),
        trace_id: Some(trace_id),
    };
    gw.recorder.record(worker, &entry, trace.windows);
}
