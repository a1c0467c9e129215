//! Limit: rate, monthly quota and concurrency for the key (or its tenant), one bounded call
//! to the counters; their failure policy when they do not answer.

use std::fmt::Write as _;

use errata_core::{ApiError, Condition};
use http::header::{HeaderName, HeaderValue};

use errata_store::counters::FailurePolicy;
use errata_store::plans::{LimitScope, Limits};

use crate::config::Route;
use crate::gateway::{Gateway, Trace};
use crate::trace_context::Stage;
use errata_store::counters::{Lease, Outcome, Verdict, Window};
use errata_store::db::KeyRecord;

/// What the limits admitted: the concurrency lease to hold while the answer streams, and the
/// windows for the rate-limit headers.
#[derive(Default)]
pub struct Admitted {
    pub lease: Option<Lease>,
    pub rate: Option<Window>,
    pub quota: Option<Window>,
}

/// Checks and counts the request against the key's limits on the route. The trace's `windows`
/// get the windows after this request, admitted or not (for the usage counts' limit state);
/// the counters call is timed on it.
pub async fn limit(
    gw: &Gateway,
    route: &Route,
    rec: &KeyRecord,
    now_ms: u64,
    trace: &mut Trace,
) -> Result<Admitted, ApiError> {
    let cfg = &gw.config;
    let limits = cfg.limits_for(&rec.plan, route, rec.limits.as_ref());
    if limits.rate.is_none() && limits.monthly_quota.is_none() && limits.concurrency.is_none() {
        return Ok(Admitted::default());
    }
    let subject = match cfg.limit_scope {
        LimitScope::Key => format!("k:{}", rec.id),
        LimitScope::Tenant => format!("t:{}", rec.tenant),
    };
    let since = trace.trace_context.clock();
    let checked = check(gw, &subject, &limits, now_ms).await;
    trace.trace_context.record(Stage::Counters, since);
    let seen = &mut trace.windows;
    match checked? {
        Some(Outcome {
            verdict: Verdict::Allowed(lease),
            rate,
            quota,
        }) => {
            gw.metrics.limiter("allowed");
            *seen = (rate, quota);
            Ok(Admitted {
                lease: Some(lease),
                rate,
                quota,
            })
        }
        Some(Outcome {
            verdict:
                Verdict::Limited {
                    condition,
                    retry_after,
                    limit,
                },
            rate,
            quota,
        }) => {
            gw.metrics.limiter(condition.name());
            *seen = (rate, quota);
            let mut err = ApiError::condition(condition)
                .arg("retry_after", retry_after)
                .arg("limit", limit)
                .retry_after(retry_after);
            for (n, v) in limit_headers(rate, quota) {
                err = err.header(n.as_str(), v.to_str().unwrap_or_default());
            }
            Err(err)
        }
        None => Ok(Admitted::default()), // failed open
    }
}

/// One call to the counters, bounded in time; `None` when failing open.
async fn check(
    gw: &Gateway,
    subject: &str,
    limits: &Limits,
    now_ms: u64,
) -> Result<Option<Outcome>, ApiError> {
    let timeout = gw.config.counters_timeout;
    let failure =
        match tokio::time::timeout(timeout, gw.counters.check(subject, limits, now_ms)).await {
            Ok(Ok(o)) => return Ok(Some(o)),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("counters timed out after {} ms", timeout.as_millis()),
        };
    match gw.config.counters_failure {
        FailurePolicy::Open => {
            gw.metrics.limiter("fail_open");
            tracing::warn!(error = %failure, "counters unavailable; failing open");
            Ok(None)
        }
        FailurePolicy::Closed => {
            gw.metrics.limiter("fail_closed");
            tracing::warn!(error = %failure, "counters unavailable; failing closed");
            Err(ApiError::condition(Condition::ServiceUnavailable)
                .arg("retry_after", 1)
                .retry_after(1))
        }
    }
}

/// The names [`limit_headers`] sets.
pub const LIMIT_HEADER_NAMES: [&str; 5] = [
    "ratelimit-policy",
    "ratelimit",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
];

/// The same headers as [`limit_headers`], written as HTTP/1.1 header lines (for the relay,
/// which writes heads as bytes).
pub fn write_limit_headers(out: &mut Vec<u8>, rate: Option<Window>, quota: Option<Window>) {
    use std::io::Write as _;
    let named = [("rate", rate), ("quota", quota)];
    let Some(main) = rate.or(quota) else {
        return;
    };
    for (header, state) in [("ratelimit-policy", false), ("ratelimit", true)] {
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(b": ");
        let mut first = true;
        for (n, w) in named.iter().filter_map(|(n, w)| w.map(|w| (*n, w))) {
            if !first {
                out.extend_from_slice(b", ");
            }
            first = false;
            let _ = if state {
                write!(out, "\"{n}\";r={};t={}", w.remaining, w.reset)
            } else {
                write!(out, "\"{n}\";q={};w={}", w.limit, w.window)
            };
        }
        out.extend_from_slice(b"\r\n");
    }
    let _ = write!(
        out,
        "x-ratelimit-limit: {}\r\nx-ratelimit-remaining: {}\r\nx-ratelimit-reset: {}\r\n",
        main.limit, main.remaining, main.reset
    );
}

/// The standard rate-limit headers: the IETF draft's `RateLimit-Policy` and `RateLimit`, and
/// the common `X-RateLimit-*` (of the rate policy, else the quota).
pub fn limit_headers(
    rate: Option<Window>,
    quota: Option<Window>,
) -> Vec<(HeaderName, HeaderValue)> {
    let named = [("rate", rate), ("quota", quota)];
    let mut named = named.iter().filter_map(|(n, w)| w.map(|w| (*n, w)));
    let Some(main) = named.clone().next().map(|(_, w)| w) else {
        return Vec::new();
    };
    let (mut policy, mut state) = (String::with_capacity(48), String::with_capacity(48));
    for (i, (n, w)) in named.by_ref().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(policy, "{sep}\"{n}\";q={};w={}", w.limit, w.window);
        let _ = write!(state, "{sep}\"{n}\";r={};t={}", w.remaining, w.reset);
    }
    // Digits, quotes, `;`, `=`, `,` and spaces: always a valid header value.
    let value = |s: String| HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static(""));
    vec![
        (HeaderName::from_static("ratelimit-policy"), value(policy)),
        (HeaderName::from_static("ratelimit"), value(state)),
        (
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderValue::from(main.limit),
        ),
        (
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderValue::from(main.remaining),
        ),
        (
            HeaderName::from_static("x-ratelimit-reset"),
            HeaderValue::from(main.reset),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(limit: u64, remaining: u64, reset: u64, window: u64) -> Window {
        Window {
            limit,
            remaining,
            reset,
            window,
        }
    }

    #[test]
    fn the_written_headers_are_the_header_map_s() {
        let cases = [
            (None, None),
            (Some(w(600, 599, 1, 60)), None),
            (None, Some(w(10000, 12, 86400, 2678400))),
            (
                Some(w(5, 0, 42, 60)),
                Some(w(10000, 9999, 2161087, 2678400)),
            ),
        ];
        for (rate, quota) in cases {
            let mut want = Vec::new();
            for (n, v) in limit_headers(rate, quota) {
                want.extend_from_slice(n.as_str().as_bytes());
                want.extend_from_slice(b": ");
                want.extend_from_slice(v.as_bytes());
                want.extend_from_slice(b"\r\n");
            }
            let mut got = Vec::new();
            write_limit_headers(&mut got, rate, quota);
            assert_eq!(
                String::from_utf8(got).unwrap(),
                String::from_utf8(want).unwrap()
            );
        }
    }
}
