//! Trace export over OTLP (`[tracing] otlp`), and the trace settings every request reads.
//!
//! [`Tracing`] is one field of the [`Gateway`](crate::gateway::Gateway): whether a client's
//! `traceparent` is trusted, the share of new traces sampled, and, with `otlp` set, the
//! exporter. A request's trace is made by [`Tracing::context`] (see [`crate::trace_context`]);
//! only a sampled trace with an exporter records its stages' times, and only such a trace
//! costs anything when it ends: [`Tracing::finish`] hands the request's facts to a bounded
//! queue (`try_send`, never a wait) and returns. An export thread of its own, with its own
//! runtime, turns them into spans (`spans.rs`) and posts them in batches (`export.rs`); a trace
//! that finds the queue full is dropped and its spans counted in
//! `errata_trace_spans_dropped_total{reason="queue_full"}`.

mod config;
mod export;
mod spans;

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::gateway::Trace;
use crate::lookup::HeaderLookup;
use crate::trace_context::{TraceContext, random_u64};

pub use config::{DEFAULT_SERVICE_NAME, RawTracing, TracingConfig};
pub use export::{EXPORT_INTERVAL, MAX_BATCH, MAX_QUEUE};

use export::Exporter;
use spans::{Finished, Shape};

/// How long shutdown waits for the queued spans to be exported.
pub const SHUTDOWN_FLUSH: Duration = Duration::from_secs(5);

/// Which new traces are sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sample {
    All,
    Never,
    /// Those whose random draw is below this.
    Below(u64),
}

impl Sample {
    fn of(ratio: f64) -> Sample {
        if ratio >= 1.0 {
            Sample::All
        } else if ratio <= 0.0 || ratio.is_nan() {
            Sample::Never
        } else {
            // `as` saturates; a ratio below 1 stays below 2^64.
            Sample::Below((ratio * 18_446_744_073_709_551_616.0) as u64)
        }
    }

    fn draw(self) -> bool {
        match self {
            Sample::All => true,
            Sample::Never => false,
            Sample::Below(t) => random_u64() < t,
        }
    }
}

/// The gateway's trace settings and its exporter, if any.
pub struct Tracing {
    trust_incoming: bool,
    sample: Sample,
    exporter: Option<Arc<Exporter>>,
}

impl Tracing {
    /// The settings of `config`, with an exporter (and its thread) when `otlp` is set.
    pub fn new(config: &Config) -> Result<Arc<Tracing>, String> {
        let exporter = match &config.tracing.otlp {
            None => None,
            Some(endpoint) => Some(Arc::new(Exporter::start(
                endpoint,
                &config.tracing.service_name,
                Shape::of(config),
                MAX_QUEUE,
            )?)),
        };
        Ok(Arc::new(Tracing::with(config, exporter)))
    }

    fn with(config: &Config, exporter: Option<Arc<Exporter>>) -> Tracing {
        Tracing {
            trust_incoming: config.tracing.trust_incoming,
            sample: Sample::of(config.tracing.sample),
            exporter,
        }
    }

    /// The tracing of a reloaded gateway with `config`: `trust_incoming` and `sample` are
    /// taken from it, and the running exporter (its queue and what it holds) is kept when
    /// `otlp`, `service_name` and the upstream it names in spans are unchanged; otherwise a
    /// new one starts, and the old one exports what it holds once the last gateway using it
    /// is gone.
    pub fn carry_over(old: &Tracing, config: &Config) -> Result<Arc<Tracing>, String> {
        let keep = match (&old.exporter, &config.tracing.otlp) {
            (Some(e), Some(endpoint)) => e.serves(endpoint, &config.tracing.service_name, config),
            _ => false,
        };
        if keep {
            Ok(Arc::new(Tracing::with(config, old.exporter.clone())))
        } else {
            Tracing::new(config)
        }
    }

    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.exporter.is_some()
    }

    /// The trace of a request with `headers`.
    pub fn context<H: HeaderLookup + ?Sized>(&self, headers: &H) -> TraceContext {
        let sample = self.sample;
        TraceContext::of(
            headers,
            self.trust_incoming,
            || sample.draw(),
            self.exporter.is_some(),
        )
    }

    /// The trace of an answer made without reading the request's headers (a refused head).
    pub fn fresh(&self) -> TraceContext {
        self.context(&http::HeaderMap::new())
    }

    /// Exports the spans of a recorded request that got `status` (and `code`, for an error
    /// of the catalog's) after `latency`; `route` is its route's name, none when it matched
    /// none. Does nothing for a trace that is not recorded. Never waits: a full queue drops
    /// the trace and counts its spans.
    pub fn finish(
        &self,
        trace: Trace,
        route: Option<&str>,
        status: u16,
        code: Option<&str>,
        latency: Duration,
    ) {
        let Some(exporter) = &self.exporter else {
            return;
        };
        let tc = trace.trace_context;
        let Some(recording) = tc.recording else {
            return;
        };
        exporter.send(Box::new(Finished {
            recording,
            trace_id: tc.trace_id,
            parent_id: tc.parent_id,
            upstream_span_id: tc.upstream_span_id,
            tracestate: tc.tracestate,
            method: trace.method,
            path: trace.path,
            route: route.map(str::to_owned),
            request_id: trace.request_id,
            key_id: trace.key_id,
            tenant: trace.tenant,
            status,
            code: code.map(str::to_owned),
            latency,
            upstream_status: trace.upstream_status,
            idempotency: trace.idempotency,
        }));
    }

    /// Spans dropped since start: the queue was full, or the collector did not take them.
    pub fn dropped(&self) -> u64 {
        self.exporter.as_ref().map_or(0, |e| e.dropped())
    }

    /// Exports what is queued, waiting at most `within` (at shutdown).
    pub async fn flush(&self, within: Duration) {
        if let Some(e) = &self.exporter {
            e.flush(within).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(tracing: &str) -> Config {
        let src = format!("upstream = \"http://127.0.0.1:3000\"\n[tracing]\n{tracing}\n");
        Config::from_toml(&src, std::path::Path::new(".")).unwrap()
    }

    fn same_exporter(a: &Tracing, b: &Tracing) -> bool {
        match (&a.exporter, &b.exporter) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    #[test]
    fn a_reload_keeps_the_exporter_unless_where_or_as_what_it_exports_changed() {
        let otlp = "otlp = \"http://127.0.0.1:9/\"";
        let old = Tracing::new(&config(otlp)).unwrap();
        assert!(old.exporting() && !old.trust_incoming && old.sample == Sample::All);

        let live = format!("{otlp}\ntrust_incoming = true\nsample = 0.5");
        let new = Tracing::carry_over(&old, &config(&live)).unwrap();
        assert!(
            same_exporter(&old, &new),
            "only per-request settings changed"
        );
        assert!(new.trust_incoming);
        assert_eq!(new.sample, Sample::of(0.5));

        let renamed = format!("{otlp}\nservice_name = \"api\"");
        let new = Tracing::carry_over(&old, &config(&renamed)).unwrap();
        assert!(new.exporting() && !same_exporter(&old, &new));
        let moved = "otlp = \"http://127.0.0.1:10/\"";
        let new = Tracing::carry_over(&old, &config(moved)).unwrap();
        assert!(new.exporting() && !same_exporter(&old, &new));
        let off = Tracing::carry_over(&old, &config("")).unwrap();
        assert!(!off.exporting());
    }

    #[test]
    fn the_sample_ratio_is_the_share_of_new_traces_sampled() {
        assert_eq!(Sample::of(1.0), Sample::All);
        assert_eq!(Sample::of(0.0), Sample::Never);
        assert!((0..1000).all(|_| Sample::of(1.0).draw()));
        assert!((0..1000).all(|_| !Sample::of(0.0).draw()));
        let n = 100_000;
        let kept = (0..n).filter(|_| Sample::of(0.25).draw()).count();
        assert!((23_000..27_000).contains(&kept), "{kept} of {n}");
        let kept = (0..n).filter(|_| Sample::of(0.001).draw()).count();
        assert!((40..200).contains(&kept), "{kept} of {n}");
    }
}
