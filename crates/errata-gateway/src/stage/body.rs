//! Body checks: the declared size and the content type, before anything reaches the upstream.
//! The size is enforced again while the body streams (a chunked body declares none).

use errata_core::{ApiError, Condition};
use http::HeaderMap;
use http::header;

use crate::config::{Config, Route};

/// The body limit for the route, once the declared length and content type pass.
pub fn check(cfg: &Config, route: &Route, headers: &HeaderMap) -> Result<u64, ApiError> {
    let max_body = route.max_body_bytes.unwrap_or(cfg.max_body_bytes);
    let content_types = route.content_types.as_ref().unwrap_or(&cfg.content_types);
    let has_body = headers
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v != "0")
        || headers.contains_key(header::TRANSFER_ENCODING);
    if has_body && !content_types.is_empty() {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
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
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > max_body
    {
        return Err(ApiError::condition(Condition::BodyTooLarge).arg("limit", max_body));
    }
    Ok(max_body)
}
