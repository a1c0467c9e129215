//! Forward: the client's request to the upstream, with hop-by-hop headers removed, identity
//! and forwarding headers set, the gateway's request id under the catalog's header, and the
//! body limited as it streams (or already read whole, for an idempotency key).

use std::net::IpAddr;

use errata_core::{ApiError, Condition};
use http::{Request, Response};

use crate::upstream::{ProxyBody, UpstreamBody};

use crate::gateway::Gateway;
use crate::proxy::{self, Identity};
use crate::stage::authenticate::Caller;

/// Sends the request upstream on the worker's client and returns the upstream's answer.
pub async fn forward(
    gw: &Gateway,
    worker: usize,
    req: Request<ProxyBody>,
    caller: Option<&Caller>,
    ip: IpAddr,
    max_body: u64,
    request_id: &str,
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
        (&gw.request_id_header, request_id),
        ip,
        // The public listener is TLS or plain as a whole.
        if gw.config.tls.is_some() {
            "https"
        } else {
            "http"
        },
    );
    let Some(upstream) = gw.upstream(worker) else {
        return Err(ApiError::condition(Condition::UpstreamUnreachable));
    };
    match upstream.send(Request::from_parts(parts, body)).await {
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
