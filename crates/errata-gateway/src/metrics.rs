//! Prometheus metrics: requests by route, status and code; latency; limiter decisions.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once; later calls share it.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(
                        "errata_request_duration_seconds".into(),
                    ),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0, 10.0,
                    ],
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

/// The text exposition of every metric.
pub fn render() -> String {
    install().map(PrometheusHandle::render).unwrap_or_default()
}

/// One answered request.
pub fn request(route: &str, status: u16, code: Option<&str>, latency: Duration) {
    metrics::counter!(
        "errata_requests_total",
        "route" => route.to_owned(),
        "status" => status.to_string(),
        "code" => code.unwrap_or("").to_owned()
    )
    .increment(1);
    metrics::histogram!("errata_request_duration_seconds", "route" => route.to_owned())
        .record(latency.as_secs_f64());
}

/// One idempotency decision, through handles registered on first use.
pub fn idempotency(outcome: crate::idempotency::Outcome) {
    use crate::idempotency::Outcome;
    static HANDLES: OnceLock<[metrics::Counter; Outcome::ALL.len()]> = OnceLock::new();
    let handles = HANDLES.get_or_init(|| {
        Outcome::ALL.map(|o| metrics::counter!("errata_idempotency_total", "outcome" => o.as_str()))
    });
    handles[outcome as usize].increment(1);
}

/// One limiter decision: `allowed`, a condition name, `fail_open` or `fail_closed`.
pub fn limiter(decision: &str) {
    metrics::counter!("errata_limiter_decisions_total", "decision" => decision.to_owned())
        .increment(1);
}
