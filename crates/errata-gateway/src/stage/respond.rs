//! Respond: the upstream's answer made the client's. Hop-by-hop headers go, the rate-limit
//! headers come, a success streams through while the concurrency lease is held, and an error
//! is passed on in the envelope with the gateway's request id (the upstream's own id, if it
//! differs, is kept for the access log), or normalized into the catalog's code for its status.
//! On a route with `success_meta = true`, a JSON success gets the key's remaining requests.

use bytes::Bytes;
use errata_core::{ApiError, Format};
use http::Response;
use http::header;
use http_body_util::{BodyExt, Limited};

use crate::upstream::UpstreamBody;

use crate::gateway::{Gateway, Trace};
use crate::proxy;
use crate::reply::Body;
use crate::respond::{RenderedCode, error_response};
use crate::stage::limit::{Admitted, limit_headers};
use crate::success_meta;

/// The largest upstream error body read to decide whether it is already in the envelope.
const MAX_ERROR_BODY: usize = 256 * 1024;

/// The client's answer from the upstream's.
pub async fn respond(
    gw: &Gateway,
    success_meta: bool,
    res: Response<UpstreamBody>,
    admitted: Admitted,
    trace: &mut Trace,
) -> Result<Response<Body>, ApiError> {
    let (mut parts, body) = res.into_parts();
    trace.upstream_status = Some(parts.status.as_u16());
    if let Some(v) = parts.headers.get(&gw.request_id_header)
        && let Ok(v) = v.to_str()
        && v != trace.request_id
    {
        trace.upstream_request_id = Some(v.to_owned());
    }
    proxy::strip_hop_by_hop(&mut parts.headers);
    for (n, v) in limit_headers(admitted.rate, admitted.quota) {
        parts.headers.insert(n, v);
    }
    if parts.status.as_u16() >= 400 {
        return Ok(upstream_error(gw, parts, body, trace).await);
    }
    if success_meta {
        let windows = (admitted.rate, admitted.quota);
        return Ok(success_meta::add(parts, body, admitted.lease, windows).await);
    }
    Ok(Response::from_parts(
        parts,
        Body::Upstream(body, admitted.lease),
    ))
}

/// The refusal `err` rendered for the client, with the request id and the path as instance.
pub fn refusal(gw: &Gateway, err: ApiError, trace: &Trace) -> Response<Body> {
    let err = err
        .request_id(trace.request_id.clone())
        .instance(trace.path.clone());
    error_response(&gw.catalog, &err, trace.format)
}

/// An upstream error: passed through when already in the envelope, with the gateway's request
/// id in it; otherwise normalized into the catalog's code for its status.
async fn upstream_error(
    gw: &Gateway,
    mut parts: http::response::Parts,
    body: UpstreamBody,
    trace: &mut Trace,
) -> Response<Body> {
    let status = parts.status;
    let ct = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let collected = tokio::time::timeout(
        gw.config.response_timeout,
        Limited::new(body, MAX_ERROR_BODY).collect(),
    )
    .await;
    let bytes = match collected {
        Ok(Ok(c)) => Some(c.to_bytes()),
        _ => None,
    };
    if let Some(bytes) = &bytes
        && let Some(parsed) = gw.catalog.parse_body(ct.as_deref(), bytes)
    {
        let code = parsed.code.unwrap_or_default();
        let mut out = bytes.clone();
        if parsed.request_id.as_deref() != Some(trace.request_id.as_str())
            && let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(bytes)
            && gw.catalog.set_request_id(&mut v, &trace.request_id)
            && let Ok(b) = serde_json::to_vec(&v)
        {
            out = Bytes::from(b);
        }
        if parsed.request_id.is_some() {
            trace.upstream_request_id = parsed.request_id;
        }
        parts.headers.remove(header::CONTENT_LENGTH);
        let mut res = Response::from_parts(parts, Body::full(out));
        res.extensions_mut().insert(RenderedCode(code));
        return res;
    }
    // Not the envelope: an HTML 502 page, a plain-text 500, a framework's default.
    tracing::warn!(
        status = status.as_u16(),
        "upstream error outside the catalog normalized"
    );
    let mut err = ApiError::status(status.as_u16()).request_id(trace.request_id.clone());
    if let Some(secs) = parts
        .headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        err = err.retry_after(secs);
    }
    let mut res = error_response(&gw.catalog, &err, Format::Envelope);
    for (n, v) in parts.headers.iter() {
        let keep = n == header::ALLOW
            || n.as_str().starts_with("ratelimit")
            || n.as_str().starts_with("x-ratelimit");
        if keep {
            res.headers_mut().insert(n.clone(), v.clone());
        }
    }
    res
}
