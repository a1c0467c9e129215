//! [`ApiError`]: an error the API answered with, read back through the catalog.

use std::fmt;
use std::time::{Duration, SystemTime};

use errata_core::{Catalog, ParsedError, reason_phrase};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::Value;

use crate::retry;

/// The API answered with an error status (4xx or 5xx).
///
/// When the body is an error of the catalog (its envelope, or problem+json), every field the
/// envelope carries is here, and the catalog adds what the body leaves out (the type of a code
/// whose envelope has none). When it is not (an HTML 502 from a load balancer, an empty 503),
/// [`code`](Self::code) is `None` and [`raw_body`](Self::raw_body) holds what was sent.
///
/// ```
/// use errata_client::ApiError;
/// use errata_client::reqwest::header::HeaderMap;
/// use errata_core::{ApiError as Raise, Catalog, Condition, Format};
///
/// // What an errata server sends for a rate limit...
/// let catalog = Catalog::builtin();
/// let sent = catalog.render(
///     &Raise::condition(Condition::RateLimited).retry_after(12).request_id("req_7Hq2"),
///     Format::Envelope,
/// );
/// let mut headers = HeaderMap::new();
/// for (name, value) in &sent.headers {
///     headers.insert(name.parse::<errata_client::reqwest::header::HeaderName>()?, value.parse()?);
/// }
/// // ...is what the client reads back.
/// let err = ApiError::from_response(catalog, sent.status, &headers, &sent.body_bytes());
/// assert_eq!(err.status(), 429);
/// assert_eq!(err.code(), Some("rate_limit_exceeded"));
/// assert_eq!(err.kind(), Some("rate_limit_error"));
/// assert_eq!(err.request_id(), Some("req_7Hq2"));
/// assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(12)));
/// assert!(err.is_retryable());
/// assert_eq!(
///     err.to_string(),
///     "rate_limit_exceeded: Rate limit exceeded. Please retry after 12 seconds. (HTTP 429, request_id req_7Hq2)"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ApiError {
    status: u16,
    code: Option<String>,
    kind: Option<String>,
    message: Option<String>,
    param: Option<String>,
    details: Option<Value>,
    request_id: Option<String>,
    doc_url: Option<String>,
    retry_after: Option<Duration>,
    retryable: bool,
    in_catalog: bool,
    raw_body: Option<String>,
    headers: HeaderMap,
    pub(crate) attempts: u32,
}

impl ApiError {
    /// Reads an error response through `catalog`. Total: any status, headers and bytes give an
    /// error value (a body outside the catalog is kept raw). An HTTP-date `Retry-After` is
    /// measured against the system clock; the client uses its own [`crate::clock::Clock`].
    ///
    /// ```
    /// use errata_client::ApiError;
    /// use errata_client::reqwest::header::HeaderMap;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("content-type", "text/html".parse()?);
    /// headers.insert("x-request-id", "req_lb01".parse()?);
    /// let html = b"<html><body><h1>502 Bad Gateway</h1></body></html>";
    /// let err = ApiError::from_response(errata_core::Catalog::builtin(), 502, &headers, html);
    /// assert_eq!(err.code(), None);
    /// assert_eq!(err.request_id(), Some("req_lb01")); // from the catalog's request-id header
    /// assert!(err.is_retryable()); // 5xx outside the catalog
    /// assert!(err.raw_body().unwrap().contains("502 Bad Gateway"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_response(catalog: &Catalog, status: u16, headers: &HeaderMap, body: &[u8]) -> Self {
        ApiError::read(catalog, status, headers, body, SystemTime::now())
    }

    pub(crate) fn read(
        catalog: &Catalog,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Self {
        let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let parsed = catalog.parse_body(content_type, body);
        let header_id = headers
            .get(catalog.request_id().header.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned);
        let raw_body = match parsed {
            Some(_) => None,
            None => Some(String::from_utf8_lossy(body).into_owned()),
        };
        let ParsedError {
            code,
            kind,
            message,
            param,
            request_id,
            doc_url,
            details,
        } = parsed.unwrap_or_default();
        let def = code.as_deref().and_then(|c| catalog.code(c));
        ApiError {
            status,
            kind: kind.or_else(|| def.map(|d| d.kind.clone())),
            doc_url: doc_url.or_else(|| def.and_then(|d| catalog.doc_url_for(&d.code))),
            retryable: def.map_or_else(|| retry::status_is_retryable(status), |d| d.retryable),
            in_catalog: def.is_some(),
            code,
            message,
            param,
            details,
            request_id: request_id.filter(|id| !id.is_empty()).or(header_id),
            retry_after: retry::retry_after(headers, now),
            raw_body,
            headers: headers.clone(),
            attempts: 1,
        }
    }

    /// The HTTP status.
    ///
    /// ```
    /// # let err = errata_client::ApiError::from_response(errata_core::Catalog::builtin(), 404, &Default::default(), b"");
    /// assert_eq!(err.status(), 404);
    /// ```
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The machine-readable code from the body; `None` when the body was not an error of the
    /// catalog. Match on this, never on the message.
    ///
    /// ```
    /// # let err = errata_client::ApiError::from_response(errata_core::Catalog::builtin(), 404, &Default::default(), br#"{"error":{"code":"resource_not_found","message":"Campaign 'c' not found."}}"#);
    /// match err.code() {
    ///     Some("resource_not_found") => { /* create it */ }
    ///     _ => { /* report */ }
    /// }
    /// ```
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The code's category (`rate_limit_error`, `invalid_request_error`...): from the body, or
    /// from the catalog when the envelope has no such field.
    ///
    /// ```
    /// # let err = errata_client::ApiError::from_response(errata_core::Catalog::builtin(), 429, &Default::default(), br#"{"error":{"code":"quota_exceeded","message":"..."}}"#);
    /// assert_eq!(err.kind(), Some("rate_limit_error"));
    /// ```
    pub fn kind(&self) -> Option<&str> {
        self.kind.as_deref()
    }

    /// The human-readable message (problem+json's `detail`). For people, not for matching.
    ///
    /// ```
    /// # let err = errata_client::ApiError::from_response(errata_core::Catalog::builtin(), 400, &Default::default(), br#"{"error":{"code":"invalid_request","message":"Bad JSON."}}"#);
    /// assert_eq!(err.message(), Some("Bad JSON."));
    /// ```
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The request parameter at fault, when the envelope carries one.
    ///
    /// ```
    /// # let err = errata_client::ApiError::from_response(errata_core::Catalog::builtin(), 422, &Default::default(), br#"{"error":{"code":"missing_required_field","message":"m","param":"account_id"}}"#);
    /// assert_eq!(err.param(), Some("account_id"));
    /// ```
    pub fn param(&self) -> Option<&str> {
        self.param.as_deref()
    }

    /// The field-level problems (`details`, or problem+json's `errors`), as sent.
    ///
    /// ```
    /// # let err = errata_client::ApiError::from_response(errata_core::Catalog::builtin(), 422, &Default::default(), br#"{"error":{"code":"validation_error","message":"m","details":[{"path":["name"],"message":"Required","code":"invalid_type"}]}}"#);
    /// let details = err.details().and_then(|d| d.as_array()).unwrap();
    /// assert_eq!(details[0]["message"], "Required");
    /// ```
    pub fn details(&self) -> Option<&Value> {
        self.details.as_ref()
    }

    /// The request id: from the body when the envelope has a place for it, else from the
    /// catalog's request-id header. Log it; support finds the request with it.
    ///
    /// ```
    /// # let err = errata_client::ApiError::from_response(errata_core::Catalog::builtin(), 500, &Default::default(), br#"{"error":{"code":"internal_error","message":"m","request_id":"req_1"}}"#);
    /// assert_eq!(err.request_id(), Some("req_1"));
    /// ```
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The link to the code's documentation: from the body, or built from the catalog's
    /// `doc_url`.
    ///
    /// ```
    /// # let err = errata_client::ApiError::from_response(errata_core::Catalog::builtin(), 500, &Default::default(), br#"{"error":{"code":"internal_error","message":"m"}}"#);
    /// assert_eq!(err.doc_url(), Some("/errors#internal_error"));
    /// ```
    pub fn doc_url(&self) -> Option<&str> {
        self.doc_url.as_deref()
    }

    /// How long the server asked to wait (`retry-after-ms`, or `Retry-After` in seconds or as
    /// an HTTP-date). Present even when the client did not retry (above the ceiling).
    ///
    /// ```
    /// # let mut h = errata_client::reqwest::header::HeaderMap::new();
    /// # h.insert("retry-after", "30".parse().unwrap());
    /// # let err = errata_client::ApiError::from_response(errata_core::Catalog::builtin(), 503, &h, b"");
    /// assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(30)));
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether a retry can help: the catalog's `retryable` for a code it knows, else whether
    /// the status is 408, 429 or 5xx.
    ///
    /// ```
    /// use errata_client::ApiError;
    /// let quota = br#"{"error":{"code":"quota_exceeded","message":"m"}}"#;
    /// let rate = br#"{"error":{"code":"rate_limit_exceeded","message":"m"}}"#;
    /// let read = |b: &[u8]| ApiError::from_response(errata_core::Catalog::builtin(), 429, &Default::default(), b);
    /// assert!(!read(quota).is_retryable()); // both 429: the catalog tells them apart
    /// assert!(read(rate).is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// Whether the code is one the client's catalog knows (an API newer than the catalog may
    /// send codes it does not).
    ///
    /// ```
    /// # let err = errata_client::ApiError::from_response(errata_core::Catalog::builtin(), 418, &Default::default(), br#"{"error":{"code":"teapot","message":"m"}}"#);
    /// assert_eq!(err.code(), Some("teapot"));
    /// assert!(!err.in_catalog());
    /// ```
    pub fn in_catalog(&self) -> bool {
        self.in_catalog
    }

    /// The body as text when it was not an error of the catalog (HTML, plain text, empty);
    /// `None` when it was.
    ///
    /// ```
    /// # let err = errata_client::ApiError::from_response(errata_core::Catalog::builtin(), 503, &Default::default(), b"");
    /// assert_eq!(err.raw_body(), Some(""));
    /// ```
    pub fn raw_body(&self) -> Option<&str> {
        self.raw_body.as_deref()
    }

    /// The response headers.
    ///
    /// ```
    /// # let err = errata_client::ApiError::from_response(errata_core::Catalog::builtin(), 503, &Default::default(), b"");
    /// assert!(err.headers().get("ratelimit-remaining").is_none());
    /// ```
    pub fn headers(&self) -> &reqwest::header::HeaderMap {
        &self.headers
    }

    /// How many attempts were made before this error was returned.
    ///
    /// ```
    /// # let err = errata_client::ApiError::from_response(errata_core::Catalog::builtin(), 503, &Default::default(), b"");
    /// assert_eq!(err.attempts(), 1);
    /// ```
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.code, &self.message) {
            (Some(code), Some(message)) => write!(f, "{code}: {message}")?,
            (Some(code), None) => write!(f, "{code}")?,
            (None, _) => {
                let what = match self.raw_body.as_deref() {
                    Some(b) if b.trim().is_empty() => "the response body is empty",
                    _ => "the response body is not an error of the API's catalog",
                };
                write!(f, "{}: {what}", reason_phrase(self.status))?;
            }
        }
        write!(f, " (HTTP {}, ", self.status)?;
        match &self.request_id {
            Some(id) => write!(f, "request_id {id})"),
            None => write!(f, "no request id)"),
        }
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn any_body_reads_without_panicking() {
        let bodies: [&[u8]; 12] = [
            b"",
            b"null",
            b"[]",
            b"42",
            b"{}",
            br#"{"error": null}"#,
            br#"{"error": {"code": 5, "message": "m"}}"#,
            br#"{"error": {"code": "internal_error", "message": 7, "details": "x"}}"#,
            br#"{"error": {"code": "internal_error", "request_id": ""}}"#,
            b"\xff\xfe\x00garbage",
            b"<html>",
            br#"{"type": "about:blank", "status": 500}"#,
        ];
        let mut problem = HeaderMap::new();
        problem.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        problem.insert("x-request-id", HeaderValue::from_bytes(b"\xff").unwrap());
        for headers in [HeaderMap::new(), problem] {
            for body in bodies {
                for status in [400, 418, 499, 500, 599] {
                    let e = ApiError::from_response(Catalog::builtin(), status, &headers, body);
                    assert_eq!(e.status(), status);
                    assert!(!e.to_string().is_empty());
                }
            }
        }
    }

    #[test]
    fn an_empty_body_request_id_falls_back_to_the_header() {
        let mut h = HeaderMap::new();
        h.insert("x-request-id", HeaderValue::from_static("req_hdr"));
        let body = br#"{"error": {"code": "internal_error", "message": "m", "request_id": ""}}"#;
        let e = ApiError::from_response(Catalog::builtin(), 500, &h, body);
        assert_eq!(e.request_id(), Some("req_hdr"));
        assert_eq!(e.code(), Some("internal_error"));
        assert!(e.message().is_some());
    }
}
