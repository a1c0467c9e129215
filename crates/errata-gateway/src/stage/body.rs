//! Body checks: the declared size and the content type, before anything reaches the upstream.
//! The size is enforced again while the body streams (a chunked body declares none).

use errata_core::{ApiError, Condition};

use crate::config::{Config, Route};
use crate::lookup::HeaderLookup;

/// The body limit for the route, once the declared length and content type pass.
pub fn check<H: HeaderLookup + ?Sized>(
    cfg: &Config,
    route: &Route,
    headers: &H,
) -> Result<u64, ApiError> {
    let max_body = route.max_body_bytes.unwrap_or(cfg.max_body_bytes);
    let content_types = route.content_types.as_ref().unwrap_or(&cfg.content_types);
    let has_body = headers.first("content-length").is_some_and(|v| v != b"0")
        || headers.has("transfer-encoding");
    if has_body && !content_types.is_empty() {
        let ct = headers.text("content-type").unwrap_or("");
        let media = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !content_types.iter().any(|t| t.eq_ignore_ascii_case(&media)) {
            return Err(ApiError::condition(Condition::UnsupportedContentType).arg(
                "content_type",
                if media.is_empty() {
                    "none".to_owned()
                } else {
                    media
                },
            ));
        }
    }
    if let Some(len) = headers
        .text("content-length")
        .and_then(|v| v.parse::<u64>().ok())
        && len > max_body
    {
        return Err(ApiError::condition(Condition::BodyTooLarge).arg("limit", max_body));
    }
    Ok(max_body)
}
