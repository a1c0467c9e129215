//! Log: the request id on every answer, the request's metrics and its access-log line.

use std::time::Instant;

use http::Response;
use http::header::HeaderValue;

use crate::gateway::{Gateway, Trace};
use crate::reply::Body;
use crate::respond::RenderedCode;

/// Stamps the request id on the answer, counts it and logs it.
pub fn finish(
    gw: &Gateway,
    trace: &Trace,
    mut res: Response<Body>,
    started: Instant,
) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(&trace.request_id) {
        res.headers_mut().insert(gw.request_id_header.clone(), v);
    }
    let status = res.status().as_u16();
    let code = res.extensions().get::<RenderedCode>().map(|c| c.0.as_str());
    let latency = started.elapsed();
    gw.metrics.request(trace.route, status, code, latency);
    tracing::info!(
        target: "errata::access",
        request_id = %trace.request_id,
        method = %trace.method,
        path = %trace.path,
        route = gw.route_name(trace.route),
        key_id = trace.key_id.as_deref().unwrap_or(""),
        tenant = trace.tenant.as_deref().unwrap_or(""),
        status,
        code = code.unwrap_or(""),
        upstream_request_id = trace.upstream_request_id.as_deref().unwrap_or(""),
        idempotency = trace.idempotency,
        latency_ms = latency.as_secs_f64() * 1000.0,
    );
    res
}
