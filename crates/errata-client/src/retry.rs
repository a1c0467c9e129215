//! When to try again and how long to wait: the retry policy, exponential backoff with full
//! jitter, and `Retry-After` in all the forms servers send.
//!
//! A failed attempt is retried only when all of these hold:
//!
//! 1. the error can be helped by a retry ([`crate::Error::is_retryable`]: the catalog's
//!    `retryable` for a code it knows; 408, 429 and 5xx for a body outside the catalog; always
//!    for network failures and timeouts);
//! 2. the request is safe to repeat: an idempotent method, or one carrying an `Idempotency-Key`;
//! 3. retries remain ([`RetryPolicy::max_retries`]);
//! 4. the server's `Retry-After`, if any, is within [`RetryPolicy::max_retry_after`];
//! 5. the wait ends before the [`RetryPolicy::deadline`], if one is set.
//!
//! The wait is the server's `Retry-After` when it sent one (exactly: the server knows when its
//! window reopens), else `jitter(min(max_delay, initial_delay * 2^(n-1)))` before retry `n`.

use std::time::{Duration, Instant, SystemTime};

use reqwest::header::HeaderMap;

use crate::error::Error;
use crate::jitter::Jitter;

/// How many times to retry, how long to wait, and when to give up.
///
/// The defaults: 2 retries (3 attempts), 0.5 s initial delay doubling up to 8 s, `Retry-After`
/// honoured up to 60 s, no overall deadline (each attempt still has the client's timeout).
///
/// ```
/// use std::time::Duration;
/// use errata_client::{Client, RetryPolicy};
///
/// let policy = RetryPolicy::default()
///     .max_retries(4)
///     .initial_delay(Duration::from_millis(200))
///     .max_delay(Duration::from_secs(5))
///     .max_retry_after(Duration::from_secs(30))
///     .deadline(Duration::from_secs(20));
/// let client = Client::builder("http://127.0.0.1:8080").retry(policy).build()?;
/// # Ok::<(), errata_client::BuildError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) initial_delay: Duration,
    pub(crate) max_delay: Duration,
    pub(crate) max_retry_after: Duration,
    pub(crate) deadline: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            deadline: None,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries: one attempt, whatever the answer.
    ///
    /// ```
    /// use errata_client::RetryPolicy;
    /// assert_eq!(RetryPolicy::never(), RetryPolicy::default().max_retries(0));
    /// ```
    pub fn never() -> Self {
        RetryPolicy::default().max_retries(0)
    }

    /// Retries after the first attempt (so `max_retries + 1` attempts at most). Default 2.
    ///
    /// ```
    /// let p = errata_client::RetryPolicy::default().max_retries(5);
    /// ```
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The backoff step before the first retry; it doubles for each further retry. Default 0.5 s.
    ///
    /// ```
    /// let p = errata_client::RetryPolicy::default().initial_delay(std::time::Duration::from_millis(100));
    /// ```
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// The largest backoff step. Default 8 s.
    ///
    /// ```
    /// let p = errata_client::RetryPolicy::default().max_delay(std::time::Duration::from_secs(30));
    /// ```
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The longest `Retry-After` the client waits for. A server asking for more (a spent quota
    /// that resets tomorrow) gets no retry: the error is returned at once, with
    /// [`crate::ApiError::retry_after`] telling the caller how long. Default 60 s.
    ///
    /// ```
    /// let p = errata_client::RetryPolicy::default().max_retry_after(std::time::Duration::from_secs(10));
    /// ```
    pub fn max_retry_after(mut self, ceiling: Duration) -> Self {
        self.max_retry_after = ceiling;
        self
    }

    /// A total time budget across all attempts and waits, counted from the first attempt on the
    /// client's [`crate::clock::Clock`]. No wait is started that would end past it, and the
    /// attempt in flight when it passes ends as a [`crate::TimeoutError`]. Default: none.
    ///
    /// ```
    /// let p = errata_client::RetryPolicy::default().deadline(std::time::Duration::from_secs(15));
    /// ```
    pub fn deadline(mut self, budget: Duration) -> Self {
        self.deadline = Some(budget);
        self
    }

    /// The backoff step before retry `n` (1-based), before jitter.
    pub(crate) fn backoff_cap(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial_delay
            .saturating_mul(factor)
            .min(self.max_delay)
    }
}

/// Whether a status is worth retrying when the body does not say (it is outside the catalog).
pub(crate) fn status_is_retryable(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

/// How long the server asked the client to wait: `retry-after-ms` (milliseconds, preferred as
/// the more precise), else `Retry-After` as delay-seconds or an HTTP-date (relative to `now`; a
/// date in the past means no wait). Unparseable values are ignored.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("retry-after-ms").and_then(parse_millis) {
        return Some(ms);
    }
    let value = text("retry-after")?;
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // An absurd number of seconds saturates; the ceiling then refuses it.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

fn parse_millis(value: &str) -> Option<Duration> {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_millis(value.parse().unwrap_or(u64::MAX)));
    }
    let ms: f64 = value.parse().ok()?;
    let nanos = (ms * 1e6).round();
    if !(nanos.is_finite() && nanos >= 0.0) {
        return None;
    }
    // `as` saturates: a wait beyond u64 nanoseconds (584 years) is refused by the ceiling anyway.
    Some(Duration::from_nanos(nanos as u64))
}

/// What to do after a failed attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Wait this long, then try again.
    Retry(Duration),
    /// Return the error; the reason is logged.
    Stop(&'static str),
}

/// Everything [`decide`] needs besides the error.
pub(crate) struct Attempt<'a> {
    pub policy: &'a RetryPolicy,
    pub jitter: &'a dyn Jitter,
    /// 1-based number of the attempt that just failed.
    pub number: u32,
    /// Whether repeating the request is safe (idempotent method or Idempotency-Key).
    pub repeatable: bool,
    pub now: Instant,
    pub deadline: Option<Instant>,
}

/// Decides whether to retry after `err`, and after how long.
pub(crate) fn decide(err: &Error, a: &Attempt<'_>) -> Decision {
    if !err.is_retryable() {
        return Decision::Stop("not retryable");
    }
    if !a.repeatable {
        return Decision::Stop("method not idempotent and no Idempotency-Key");
    }
    if a.number > a.policy.max_retries {
        return Decision::Stop("no retries left");
    }
    let delay = match err.retry_after() {
        Some(wait) if wait > a.policy.max_retry_after => {
            return Decision::Stop("Retry-After above the ceiling");
        }
        Some(wait) => wait,
        None => {
            let cap = a.policy.backoff_cap(a.number);
            a.jitter.sample(cap).min(cap)
        }
    };
    if let Some(deadline) = a.deadline {
        let ends = a.now.checked_add(delay);
        if ends.is_none_or(|t| t >= deadline) {
            return Decision::Stop("the wait would end past the deadline");
        }
    }
    Decision::Retry(delay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.insert(*n, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn backoff_doubles_then_caps() {
        let p = RetryPolicy::default().max_retries(10);
        let steps: Vec<_> = (1..=7).map(|n| p.backoff_cap(n).as_millis()).collect();
        assert_eq!(steps, [500, 1000, 2000, 4000, 8000, 8000, 8000]);
        assert_eq!(p.backoff_cap(u32::MAX), Duration::from_secs(8));
    }

    /// Headers, and the wait they ask for.
    type Case = (Vec<(&'static str, String)>, Option<Duration>);

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_067_200);
        let date = |secs| httpdate::fmt_http_date(now + Duration::from_secs(secs));
        let cases: Vec<Case> = vec![
            (
                vec![("retry-after", "12".into())],
                Some(Duration::from_secs(12)),
            ),
            (vec![("retry-after", " 0 ".into())], Some(Duration::ZERO)),
            (vec![("retry-after", date(9))], Some(Duration::from_secs(9))),
            (
                vec![("retry-after", "Sun, 31 Dec 2023 23:00:00 GMT".into())],
                Some(Duration::ZERO),
            ),
            (
                vec![("retry-after-ms", "1500".into())],
                Some(Duration::from_millis(1500)),
            ),
            (
                vec![("retry-after-ms", "2.5".into())],
                Some(Duration::from_micros(2500)),
            ),
            (
                vec![
                    ("retry-after", "30".into()),
                    ("retry-after-ms", "250".into()),
                ],
                Some(Duration::from_millis(250)),
            ),
            (
                vec![
                    ("retry-after", "3".into()),
                    ("retry-after-ms", "soon".into()),
                ],
                Some(Duration::from_secs(3)),
            ),
            (
                vec![("retry-after", "99999999999999999999999".into())],
                Some(Duration::from_secs(u64::MAX)),
            ),
            (vec![("retry-after", "-1".into())], None),
            (vec![("retry-after", "".into())], None),
            (vec![("retry-after", "tomorrow".into())], None),
            (vec![("retry-after-ms", "-5".into())], None),
            (vec![("retry-after-ms", "NaN".into())], None),
            (vec![("retry-after-ms", "1e400".into())], None),
            (
                vec![("retry-after-ms", "1e30".into())],
                Some(Duration::from_nanos(u64::MAX)),
            ),
            (vec![], None),
        ];
        for (pairs, want) in cases {
            let pairs: Vec<_> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
            assert_eq!(retry_after(&headers(&pairs), now), want, "{pairs:?}");
        }
    }

    #[test]
    fn retry_after_that_is_not_text_is_ignored() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        assert_eq!(retry_after(&h, SystemTime::now()), None);
    }

    #[test]
    fn status_fallback() {
        for s in [408, 429, 500, 502, 503, 504, 599] {
            assert!(status_is_retryable(s), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 422, 300, 200] {
            assert!(!status_is_retryable(s), "{s}");
        }
    }
}
