//! Prometheus metrics: requests by route, status and code; latency; limiter and idempotency
//! decisions; upstream errors normalized, by route and reason.
//!
//! The request path records through handles made once per (route, status, code): label strings
//! are built the first time a combination is seen, never per request.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use errata_core::Catalog;
use metrics::{Counter, Histogram};

/// Statuses with a handle slot (100 to 599).
const STATUSES: usize = 500;

/// One route's handles.
struct RouteMetrics {
    name: String,
    duration: Histogram,
    /// Answers without a catalog code (the upstream's), by status.
    by_status: Vec<OnceLock<Counter>>,
    /// Answers with a catalog code: the code's status and its handle.
    by_code: HashMap<String, (u16, OnceLock<Counter>)>,
    /// Upstream errors normalized, by [`Normalized`] reason.
    normalized: [Counter; Normalized::ALL.len()],
}

/// Why an upstream's error was not answered as the upstream meant it, but normalized: counted
/// in `errata_upstream_errors_normalized_total{route, reason}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalized {
    /// A raise-form body naming a code the catalog does not have.
    UnknownCode,
    /// A raise-form body that is not valid: not JSON, wrong members, a variant the code does
    /// not have, an argument its message needs missing, too large.
    InvalidRaise,
    /// An envelope whose code is not in the catalog.
    ForeignCode,
    /// An envelope whose code is the catalog's, at another status.
    WrongStatus,
    /// A body outside the envelope (an HTML 502, a plain-text 500).
    NotEnvelope,
}

impl Normalized {
    pub const ALL: [Normalized; 5] = [
        Normalized::UnknownCode,
        Normalized::InvalidRaise,
        Normalized::ForeignCode,
        Normalized::WrongStatus,
        Normalized::NotEnvelope,
    ];

    /// The `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Normalized::UnknownCode => "unknown_code",
            Normalized::InvalidRaise => "invalid_raise",
            Normalized::ForeignCode => "foreign_code",
            Normalized::WrongStatus => "wrong_status",
            Normalized::NotEnvelope => "not_envelope",
        }
    }
}

/// Handles for every route of a config (and for requests no route matched), made at start.
pub struct Metrics {
    routes: Vec<RouteMetrics>,
    limiter: HashMap<&'static str, Counter>,
}

/// The route name requests no route matched are counted under.
pub const UNMATCHED: &str = "unmatched";

impl Metrics {
    /// `routes` are the route names in config order; one more slot, last, is [`UNMATCHED`].
    pub fn new(routes: &[String], catalog: &Catalog) -> Metrics {
        let routes = routes
            .iter()
            .map(String::as_str)
            .chain([UNMATCHED])
            .map(|name| RouteMetrics {
                name: name.to_owned(),
                duration: metrics::histogram!(
                    "errata_request_duration_seconds",
                    "route" => name.to_owned()
                ),
                by_status: (0..STATUSES).map(|_| OnceLock::new()).collect(),
                by_code: catalog
                    .codes()
                    .iter()
                    .map(|c| (c.code.clone(), (c.status, OnceLock::new())))
                    .collect(),
                normalized: Normalized::ALL.map(|reason| {
                    metrics::counter!(
                        "errata_upstream_errors_normalized_total",
                        "route" => name.to_owned(),
                        "reason" => reason.as_str()
                    )
                }),
            })
            .collect();
        let limiter = [
            "allowed",
            "fail_open",
            "fail_closed",
            "rate_limited",
            "quota_exceeded",
            "concurrency_exceeded",
        ]
        .into_iter()
        .map(|d| {
            (
                d,
                metrics::counter!("errata_limiter_decisions_total", "decision" => d),
            )
        })
        .collect();
        Metrics { routes, limiter }
    }

    /// The slot of requests no route matched.
    pub fn unmatched(&self) -> usize {
        self.routes.len() - 1
    }

    /// One answered request on route slot `route`.
    pub fn request(&self, route: usize, status: u16, code: Option<&str>, latency: Duration) {
        let Some(r) = self.routes.get(route) else {
            return;
        };
        r.duration.record(latency.as_secs_f64());
        let counter = |name: &str, status: u16, code: &str| {
            metrics::counter!(
                "errata_requests_total",
                "route" => name.to_owned(),
                "status" => status.to_string(),
                "code" => code.to_owned()
            )
        };
        match code.filter(|c| !c.is_empty()) {
            None => match r.by_status.get(usize::from(status).wrapping_sub(100)) {
                Some(slot) => slot
                    .get_or_init(|| counter(&r.name, status, ""))
                    .increment(1),
                None => counter(&r.name, status, "").increment(1),
            },
            Some(code) => match r.by_code.get(code) {
                Some((s, slot)) if *s == status => slot
                    .get_or_init(|| counter(&r.name, status, code))
                    .increment(1),
                // An upstream's code outside the catalog, or at another status.
                _ => counter(&r.name, status, code).increment(1),
            },
        }
    }

    /// One upstream error normalized on route slot `route`.
    pub fn normalized(&self, route: usize, reason: Normalized) {
        if let Some(r) = self.routes.get(route) {
            r.normalized[reason as usize].increment(1);
        }
    }

    /// One limiter decision: `allowed`, a condition name, `fail_open` or `fail_closed`.
    pub fn limiter(&self, decision: &str) {
        match self.limiter.get(decision) {
            Some(c) => c.increment(1),
            None => metrics::counter!(
                "errata_limiter_decisions_total",
                "decision" => decision.to_owned()
            )
            .increment(1),
        }
    }
}
