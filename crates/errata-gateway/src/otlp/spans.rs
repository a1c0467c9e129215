//! A recorded request made spans, on the export thread: the gateway's SERVER span for the
//! request, and under it one span per stage it went through (key lookup, counters,
//! idempotency) and the CLIENT span of its upstream call, whose id the upstream was given as
//! its parent. Attributes follow OpenTelemetry's HTTP conventions, with errata's own under
//! `errata.`; an answer with a catalog code has it as `error.type`, and a 5xx answer (an
//! upstream call that failed, or answered 4xx or 5xx) has the error status.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use http::Method;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use crate::config::Config;
use crate::trace_context::{Recording, Span, new_span_id};

/// What a recorded request leaves for its spans: moved out of its trace, never copied on the
/// request path.
pub(crate) struct Finished {
    pub recording: Box<Recording>,
    pub trace_id: [u8; 16],
    pub parent_id: Option<[u8; 8]>,
    pub upstream_span_id: [u8; 8],
    pub tracestate: Option<Box<str>>,
    pub method: Method,
    pub path: String,
    pub route: Option<String>,
    pub request_id: String,
    pub key_id: Option<String>,
    pub tenant: Option<String>,
    pub status: u16,
    pub code: Option<String>,
    pub latency: Duration,
    pub upstream_status: Option<u16>,
    pub idempotency: &'static str,
}

impl Finished {
    /// How many spans it makes.
    pub(crate) fn span_count(&self) -> u64 {
        let r = &self.recording;
        1 + u64::from(r.key_lookup.is_some())
            + u64::from(r.counters.is_some())
            + u64::from(r.idempotency.is_some())
            + u64::from(r.upstream.is_some())
    }
}

/// What every span of a gateway says alike: its listener's scheme and its upstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    scheme: &'static str,
    /// The upstream's base URL, without a trailing `/`.
    upstream: String,
    upstream_host: String,
    upstream_port: i64,
}

impl Shape {
    pub(crate) fn of(config: &Config) -> Shape {
        let upstream = config.upstream.trim_end_matches('/').to_owned();
        let uri: Option<http::Uri> = upstream.parse().ok();
        let https = upstream.starts_with("https://");
        let host = uri
            .as_ref()
            .and_then(|u| u.host())
            .unwrap_or("")
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri
            .as_ref()
            .and_then(|u| u.port_u16())
            .unwrap_or(if https { 443 } else { 80 });
        Shape {
            scheme: if config.tls.is_some() {
                "https"
            } else {
                "http"
            },
            upstream,
            upstream_host: host,
            upstream_port: i64::from(port),
        }
    }
}

/// The span names of the stages.
pub const KEY_LOOKUP: &str = "key lookup";
pub const COUNTERS: &str = "counters";
pub const IDEMPOTENCY: &str = "idempotency";

/// Appends the spans of `f` to `out`.
pub(crate) fn spans(
    f: Finished,
    shape: &Shape,
    scope: &InstrumentationScope,
    out: &mut Vec<SpanData>,
) {
    let r = &f.recording;
    let trace_id = TraceId::from_bytes(f.trace_id);
    let state = f
        .tracestate
        .as_deref()
        .and_then(|s| s.parse::<TraceState>().ok())
        .unwrap_or_default();
    let context = |id: [u8; 8]| {
        SpanContext::new(
            trace_id,
            SpanId::from_bytes(id),
            TraceFlags::SAMPLED,
            false,
            state.clone(),
        )
    };
    let at = |i: Instant| r.wall + i.saturating_duration_since(r.start);
    let server_id = SpanId::from_bytes(r.span_id);
    let span = |id: [u8; 8], kind: SpanKind, name: Cow<'static, str>, s: Span| SpanData {
        span_context: context(id),
        parent_span_id: server_id,
        parent_span_is_remote: false,
        span_kind: kind,
        name,
        start_time: at(s.start),
        end_time: at(s.end),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: scope.clone(),
    };

    let mut children = Vec::with_capacity(4);
    if let Some((s, cached)) = r.key_lookup {
        let mut d = span(new_span_id(), SpanKind::Internal, KEY_LOOKUP.into(), s);
        let cache = if cached { "hit" } else { "miss" };
        d.attributes.push(KeyValue::new("errata.key_cache", cache));
        children.push(d);
    }
    if let Some(s) = r.counters {
        children.push(span(new_span_id(), SpanKind::Internal, COUNTERS.into(), s));
    }
    if let Some(s) = r.idempotency {
        let mut d = span(new_span_id(), SpanKind::Internal, IDEMPOTENCY.into(), s);
        if !f.idempotency.is_empty() {
            d.attributes
                .push(KeyValue::new("errata.idempotency", f.idempotency));
        }
        children.push(d);
    }
    if let Some(s) = r.upstream {
        let name = Cow::Owned(f.method.as_str().to_owned());
        let mut d = span(f.upstream_span_id, SpanKind::Client, name, s);
        d.attributes.extend([
            KeyValue::new("http.request.method", f.method.as_str().to_owned()),
            KeyValue::new("server.address", shape.upstream_host.clone()),
            KeyValue::new("server.port", shape.upstream_port),
            KeyValue::new("url.full", format!("{}{}", shape.upstream, f.path)),
        ]);
        let error = match f.upstream_status {
            Some(status) => {
                d.attributes.push(KeyValue::new(
                    "http.response.status_code",
                    i64::from(status),
                ));
                (status >= 400).then(|| status.to_string())
            }
            // No answer: the request failed upstream, as the catalog's code says.
            None => Some(f.code.clone().unwrap_or_else(|| "_OTHER".to_owned())),
        };
        if let Some(e) = error {
            d.status = Status::error(e.clone());
            d.attributes.push(KeyValue::new("error.type", e));
        }
        children.push(d);
    }

    // The request's span: to its answer's head, and around every stage.
    let mut end = r.wall + f.latency;
    for c in &children {
        end = end.max(c.end_time);
    }
    let name = match &f.route {
        Some(route) => format!("{} {route}", f.method),
        None => f.method.as_str().to_owned(),
    };
    let mut attributes = vec![
        KeyValue::new("http.request.method", f.method.as_str().to_owned()),
        KeyValue::new("url.path", f.path),
        KeyValue::new("url.scheme", shape.scheme),
    ];
    if let Some(route) = f.route {
        attributes.push(KeyValue::new("http.route", route));
    }
    attributes.push(KeyValue::new(
        "http.response.status_code",
        i64::from(f.status),
    ));
    attributes.push(KeyValue::new("errata.request_id", f.request_id));
    if let Some(k) = f.key_id {
        attributes.push(KeyValue::new("errata.key_id", k));
    }
    if let Some(t) = f.tenant {
        attributes.push(KeyValue::new("errata.tenant", t));
    }
    let error = f
        .code
        .or_else(|| (f.status >= 500).then(|| f.status.to_string()));
    let status = match &error {
        Some(e) if f.status >= 500 => Status::error(e.clone()),
        _ => Status::Unset,
    };
    if let Some(e) = error {
        attributes.push(KeyValue::new("error.type", e));
    }
    out.push(SpanData {
        span_context: context(r.span_id),
        parent_span_id: f.parent_id.map_or(SpanId::INVALID, SpanId::from_bytes),
        parent_span_is_remote: f.parent_id.is_some(),
        span_kind: SpanKind::Server,
        name: name.into(),
        start_time: r.wall,
        end_time: end,
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: scope.clone(),
    });
    out.append(&mut children);
}

/// The instrumentation scope of errata's spans.
pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("errata")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}
