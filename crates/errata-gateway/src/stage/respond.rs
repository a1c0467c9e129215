//! Respond: the upstream's answer made the client's. Hop-by-hop headers go, the rate-limit
//! headers come, a success streams through while the concurrency lease is held, and an error
//! is made the catalog's (see [`upstream_error`]): a raise-form body rendered from the catalog,
//! an envelope checked against it and rendered again in the client's format with the gateway's
//! request id (the upstream's own id, if it differs, is kept for the access log), anything else
//! normalized into the catalog's code for its status.
//! On a route with `success_meta = true`, a JSON success gets the key's remaining requests.

use bytes::Bytes;
use errata_core::raise::{self, RaiseError};
use errata_core::{ApiError, Condition, ParsedError};
use http::header::{self, HeaderName};
use http::{HeaderMap, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::upstream::UpstreamBody;

use crate::gateway::{Gateway, Trace};
use crate::metrics::Normalized;
use crate::proxy;
use crate::reply::Body;
use crate::respond::{RenderedCode, error_response, rendered_response};
use crate::stage::limit::{Admitted, limit_headers};
use crate::success_meta;

/// The largest upstream error body read (a raise form, or an error in the envelope); a larger
/// one is normalized.
pub const MAX_ERROR_BODY: usize = 256 * 1024;

/// The client's answer from the upstream's.
pub async fn respond(
    gw: &Gateway,
    success_meta: bool,
    res: Response<UpstreamBody>,
    admitted: Admitted,
    trace: &mut Trace,
) -> Result<Response<Body>, ApiError> {
    let (mut parts, body) = res.into_parts();
    if upstream_head(gw, &mut parts, &admitted, trace) {
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

/// Takes in the upstream's response head: its status and request id noted in the trace, its
/// hop-by-hop headers removed, the rate-limit headers set. Whether it is an error (a status of
/// 400 or more, or a raise-form body whatever the status).
pub fn upstream_head(
    gw: &Gateway,
    parts: &mut http::response::Parts,
    admitted: &Admitted,
    trace: &mut Trace,
) -> bool {
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
    let raised = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(raise::is_raise_content_type);
    parts.status.as_u16() >= 400 || raised
}

/// The refusal `err` rendered for the client, with the request id and the path as instance.
pub fn refusal(gw: &Gateway, err: ApiError, trace: &Trace) -> Response<Body> {
    let err = err
        .request_id(trace.request_id.clone())
        .instance(trace.path.clone());
    error_response(&gw.catalog, &err, trace.format)
}

/// An upstream error, made the catalog's:
///
/// - a raise-form body (`application/vnd.errata+json`) is the code it names rendered from the
///   catalog, at the catalog's status; a raise the catalog cannot render is its internal error;
/// - an error in the envelope (or problem+json with a `code`) passes when its code is the
///   catalog's at that code's status (`check_upstream_errors = false` lets any through),
///   rendered again through the catalog: completed where it lacks members, in the format the
///   client asked for, with the gateway's request id;
/// - anything else is normalized into the catalog's code for its status.
///
/// Each normalization is logged at warn with both request ids and counted by reason.
async fn upstream_error(
    gw: &Gateway,
    parts: http::response::Parts,
    body: UpstreamBody,
    trace: &mut Trace,
) -> Response<Body> {
    let collected = tokio::time::timeout(
        gw.config.response_timeout,
        Limited::new(body, MAX_ERROR_BODY).collect(),
    )
    .await;
    let bytes = match collected {
        Ok(Ok(c)) => Ok(c.to_bytes()),
        Ok(Err(e)) if e.is::<LengthLimitError>() => Err(RaiseError::TooLarge {
            limit: MAX_ERROR_BODY,
        }),
        Ok(Err(e)) => Err(RaiseError::Unread(e.to_string())),
        Err(_) => Err(RaiseError::Unread("timed out".to_owned())),
    };
    upstream_error_read(gw, parts, bytes, trace)
}

/// The upstream's error head (its hop-by-hop headers gone, the rate-limit headers added) and
/// its body as read (at most [`MAX_ERROR_BODY`]), made the catalog's as [`upstream_error`]
/// tells. The relay reads the body itself and comes here.
pub fn upstream_error_read(
    gw: &Gateway,
    parts: http::response::Parts,
    bytes: Result<Bytes, RaiseError>,
    trace: &mut Trace,
) -> Response<Body> {
    let status = parts.status.as_u16();
    let ct = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let retry_after = parts
        .headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());

    if ct.as_deref().is_some_and(raise::is_raise_content_type) {
        let raised = bytes.and_then(|b| gw.catalog.read_raise(&b));
        return match raised {
            Ok(err) => {
                let err = err
                    .request_id(trace.request_id.clone())
                    .instance(trace.path.clone());
                let mut res = error_response(&gw.catalog, &err, trace.format);
                keep_upstream_headers(gw, &parts.headers, &mut res);
                res
            }
            Err(e) => {
                let reason = match e {
                    RaiseError::UnknownCode(_) => Normalized::UnknownCode,
                    _ => Normalized::InvalidRaise,
                };
                normalized(gw, trace, status, reason, &e);
                let err = ApiError::condition(Condition::InternalError);
                normalized_response(gw, &parts.headers, err, trace)
            }
        };
    }

    if let Ok(bytes) = &bytes
        && let Some(parsed) = gw.catalog.parse_body(ct.as_deref(), bytes)
    {
        if let Some(id) = parsed.request_id.as_deref()
            && id != trace.request_id
        {
            trace.upstream_request_id = Some(id.to_owned());
        }
        let code = parsed.code.clone().unwrap_or_default();
        let def = gw.catalog.code(&code);
        let problem = match def {
            None => Some(Normalized::ForeignCode),
            Some(d) if d.status != status => Some(Normalized::WrongStatus),
            Some(_) => None,
        };
        match problem {
            Some(reason) if gw.config.check_upstream_errors => {
                let why = match reason {
                    Normalized::ForeignCode => format!("code `{code}` is not in the catalog"),
                    _ => format!(
                        "code `{code}` has status {} in the catalog",
                        def.map_or(0, |d| d.status)
                    ),
                };
                normalized(gw, trace, status, reason, &why);
            }
            _ => {
                let rendered = gw.catalog.render_parsed(
                    &parsed,
                    status,
                    trace.format,
                    Some(&trace.request_id),
                    Some(&trace.path),
                    retry_after,
                );
                return match rendered {
                    Some(r) => {
                        let mut res = rendered_response(r);
                        keep_upstream_headers(gw, &parts.headers, &mut res);
                        res
                    }
                    // A code outside the catalog, let through unchecked: as sent, with the
                    // gateway's request id.
                    None => pass_through(gw, parts, bytes, &parsed, code, trace),
                };
            }
        }
    } else {
        // Not the envelope: an HTML 502 page, a plain-text 500, a framework's default.
        let why = match &bytes {
            Ok(_) => "the body is not in the catalog's envelope".to_owned(),
            Err(e) => e.to_string().replacen("raise body", "body", 1),
        };
        normalized(gw, trace, status, Normalized::NotEnvelope, &why);
    }
    let mut err = ApiError::status(status);
    if let Some(secs) = retry_after {
        err = err.retry_after(secs);
    }
    normalized_response(gw, &parts.headers, err, trace)
}

/// Logs and counts one normalized upstream error.
fn normalized(
    gw: &Gateway,
    trace: &Trace,
    status: u16,
    reason: Normalized,
    why: &dyn std::fmt::Display,
) {
    gw.metrics.normalized(trace.route, reason);
    tracing::warn!(
        request_id = %trace.request_id,
        upstream_request_id = %trace.upstream_request_id.as_deref().unwrap_or(""),
        route = %gw.route_name(trace.route),
        status,
        reason = %reason.as_str(),
        problem = %why,
        "upstream error normalized"
    );
}

/// The catalog's answer in place of an upstream's error: `err` with the request id and the
/// path, in the client's format; of the upstream's headers only `Allow` and rate limits stay.
fn normalized_response(
    gw: &Gateway,
    upstream: &HeaderMap,
    err: ApiError,
    trace: &Trace,
) -> Response<Body> {
    let err = err
        .request_id(trace.request_id.clone())
        .instance(trace.path.clone());
    let mut res = error_response(&gw.catalog, &err, trace.format);
    for (n, v) in upstream.iter() {
        let keep = n == header::ALLOW
            || n.as_str().starts_with("ratelimit")
            || n.as_str().starts_with("x-ratelimit");
        if keep {
            res.headers_mut().insert(n.clone(), v.clone());
        }
    }
    res
}

/// The upstream's own headers beside an error the catalog rendered for it, except those the
/// rendering owns (the body's type, length and encoding, `Retry-After`, the request id).
fn keep_upstream_headers(gw: &Gateway, upstream: &HeaderMap, res: &mut Response<Body>) {
    let owned: Vec<HeaderName> = res.headers().keys().cloned().collect();
    for (n, v) in upstream.iter() {
        let skip = owned.contains(n)
            || n == header::CONTENT_TYPE
            || n == header::CONTENT_LENGTH
            || n == header::CONTENT_ENCODING
            || n == header::RETRY_AFTER
            || n == gw.request_id_header;
        if !skip {
            res.headers_mut().append(n.clone(), v.clone());
        }
    }
}

/// An upstream envelope passed as sent but for the request id (a code outside the catalog,
/// with `check_upstream_errors = false`).
fn pass_through(
    gw: &Gateway,
    mut parts: http::response::Parts,
    bytes: &Bytes,
    parsed: &ParsedError,
    code: String,
    trace: &Trace,
) -> Response<Body> {
    let mut out = bytes.clone();
    if parsed.request_id.as_deref() != Some(trace.request_id.as_str())
        && let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(bytes)
        && gw.catalog.set_request_id(&mut v, &trace.request_id)
        && let Ok(b) = serde_json::to_vec(&v)
    {
        out = Bytes::from(b);
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut res = Response::from_parts(parts, Body::full(out));
    res.extensions_mut().insert(RenderedCode(code));
    res
}
