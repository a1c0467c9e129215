//! Forward: the client's request to the upstream, with hop-by-hop headers removed, identity
//! and forwarding headers set, the gateway's request id under the catalog's header, the
//! gateway's `traceparent` (and an adopted trace's `tracestate`) in place of the client's, and
//! the body limited as it streams (or already read whole, for an idempotency key).

use std::net::IpAddr;

use errata_core::{ApiError, Condition};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Request, Response};

use crate::upstream::{ProxyBody, UpstreamBody};

use crate::gateway::{Gateway, Trace};
use crate::proxy::{self, Identity};
use crate::stage::authenticate::Caller;
use crate::trace_context::{Stage, TraceContext};

const TRACEPARENT: HeaderName = HeaderName::from_static(crate::trace_context::TRACEPARENT);
const TRACESTATE: HeaderName = HeaderName::from_static(crate::trace_context::TRACESTATE);

/// Sends the request upstream on the worker's client and returns the upstream's answer.
pub async fn forward(
    gw: &Gateway,
    worker: usize,
    req: Request<ProxyBody>,
    caller: Option<&Caller>,
    ip: IpAddr,
    max_body: u64,
    trace: &mut Trace,
) -> Result<Response<UpstreamBody>, ApiError> {
    let identity = caller.map(|c| Identity {
        tenant: &c.record.tenant,
        key_id: &c.record.id,
        scopes: &c.record.scopes,
        environment: Some(c.record.environment),
        plan: &c.record.plan,
    });
    let (mut parts, body) = req.into_parts();
    proxy::upstream_headers(
        &mut parts.headers,
        identity,
        caller.is_some(),
        (&gw.request_id_header, &trace.request_id),
        ip,
        // The public listener is TLS or plain as a whole.
        if gw.config.tls.is_some() {
            "https"
        } else {
            "http"
        },
    );
    trace_headers(&mut parts.headers, &trace.trace_context);
    let Some(upstream) = gw.upstream(worker) else {
        return Err(ApiError::condition(Condition::UpstreamUnreachable));
    };
    let since = trace.trace_context.clock();
    let sent = upstream.send(Request::from_parts(parts, body)).await;
    trace.trace_context.record(Stage::Upstream, since);
    match sent {
        Ok(res) => Ok(res),
        Err(Condition::BodyTooLarge) => {
            Err(ApiError::condition(Condition::BodyTooLarge).arg("limit", max_body))
        }
        Err(c @ Condition::UpstreamTimeout) => {
            Err(ApiError::condition(c).arg("timeout", upstream.response_timeout().as_secs().max(1)))
        }
        Err(c) => Err(ApiError::condition(c)),
    }
}

/// The gateway's `traceparent` in place of the client's, and the `tracestate` of an adopted
/// trace (the client's otherwise dropped).
fn trace_headers(headers: &mut HeaderMap, tc: &TraceContext) {
    headers.remove(&TRACESTATE);
    if let Ok(v) = HeaderValue::from_bytes(&tc.upstream_traceparent()) {
        headers.insert(TRACEPARENT, v);
    }
    if let Some(state) = tc.tracestate.as_deref()
        && let Ok(v) = HeaderValue::from_str(state)
    {
        headers.insert(TRACESTATE, v);
    }
}
