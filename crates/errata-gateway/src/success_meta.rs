//! `success_meta = true` on a route: the key's remaining requests in successful JSON bodies.
//!
//! A JSON object body of a known length up to [`MAX_BYTES`], not content-encoded, gets
//! `meta.remaining_requests`, `meta.limit` and `meta.reset` (seconds) from the rate limit (the
//! monthly quota where no rate is set), merged into an existing `meta` object. Any other body
//! (not JSON, not an object, compressed, larger, of unknown length) passes untouched and
//! streams as before.

use http::{Response, header};
use http_body_util::BodyExt;

use crate::reply::Body;
use crate::upstream::UpstreamBody;
use errata_store::counters::{Lease, Window};

/// The largest body rewritten.
pub const MAX_BYTES: u64 = 256 * 1024;

/// The answer from an upstream success, with the meta fields added where it can; otherwise
/// streamed as it was, the concurrency lease held while it streams.
pub async fn add(
    mut parts: http::response::Parts,
    body: UpstreamBody,
    lease: Option<Lease>,
    windows: (Option<Window>, Option<Window>),
) -> Response<Body> {
    let Some(w) = windows.0.or(windows.1) else {
        return Response::from_parts(parts, Body::Upstream(body, lease));
    };
    let h = &parts.headers;
    let json = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false);
    let len = h
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let encoded = h
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes() != b"identity");
    if !json || encoded || len.is_none_or(|l| l > MAX_BYTES) {
        return Response::from_parts(parts, Body::Upstream(body, lease));
    }
    let bytes = match http_body_util::Limited::new(body, MAX_BYTES as usize)
        .collect()
        .await
    {
        Ok(c) => c.to_bytes(),
        // The body failed mid-way: nothing sensible to send but an empty one.
        Err(e) => {
            tracing::warn!(error = %e, "upstream body failed while adding success meta");
            parts.headers.remove(header::CONTENT_LENGTH);
            return Response::from_parts(parts, Body::empty());
        }
    };
    let rewritten = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|mut v| {
            let obj = v.as_object_mut()?;
            let meta = obj
                .entry("meta")
                .or_insert_with(|| serde_json::Value::Object(Default::default()))
                .as_object_mut()?;
            meta.insert("remaining_requests".into(), w.remaining.into());
            meta.insert("limit".into(), w.limit.into());
            meta.insert("reset".into(), w.reset.into());
            serde_json::to_vec(&v).ok()
        });
    match rewritten {
        Some(b) => {
            parts.headers.insert(header::CONTENT_LENGTH, b.len().into());
            Response::from_parts(parts, Body::full(b))
        }
        None => Response::from_parts(parts, Body::full(bytes)),
    }
}
