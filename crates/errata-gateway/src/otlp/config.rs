//! The `[tracing]` section of the gateway's configuration, validated with the rest of it.

use serde::Deserialize;
use toml::Spanned;

use errata_store::{At, Report};

/// The section as written. Every key is optional.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawTracing {
    #[serde(default)]
    trust_incoming: bool,
    otlp: Option<Spanned<String>>,
    sample: Option<Spanned<f64>>,
    service_name: Option<Spanned<String>>,
}

/// Trace context and OTLP export, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct TracingConfig {
    /// Whether a client's `traceparent` (and `tracestate`) is adopted; off, every request
    /// starts a trace of its own.
    pub trust_incoming: bool,
    /// Where spans are posted (OTLP/HTTP protobuf, the full `.../v1/traces` URL); none: no
    /// export.
    pub otlp: Option<String>,
    /// The share of new traces sampled, 0.0 to 1.0: their `traceparent` upstream says
    /// sampled, and with `otlp` their spans are exported. An adopted trace keeps the client's
    /// decision.
    pub sample: f64,
    /// The `service.name` of the exported spans.
    pub service_name: String,
}

/// The `service.name` when none is given.
pub const DEFAULT_SERVICE_NAME: &str = "errata";

/// The path of the OTLP/HTTP traces endpoint.
const TRACES_PATH: &str = "/v1/traces";

impl Default for TracingConfig {
    fn default() -> Self {
        TracingConfig {
            trust_incoming: false,
            otlp: None,
            sample: 1.0,
            service_name: DEFAULT_SERVICE_NAME.to_owned(),
        }
    }
}

impl TracingConfig {
    /// Validates the section, reporting each problem through `err` at the position `at` gives
    /// for a byte offset.
    pub fn from_raw(raw: &RawTracing, at: At<'_>, err: Report<'_>) -> TracingConfig {
        let mut c = TracingConfig {
            trust_incoming: raw.trust_incoming,
            ..TracingConfig::default()
        };
        if let Some(u) = &raw.otlp {
            match traces_url(u.get_ref()) {
                Some(url) => c.otlp = Some(url),
                None => err(
                    at(u.span().start),
                    format!("tracing.otlp `{}` is not an http:// URL", u.get_ref()),
                    "give the collector's OTLP/HTTP address, e.g. \"http://127.0.0.1:4318\" (spans are posted to its /v1/traces; for an https collector, run one beside the gateway)",
                ),
            }
        }
        if let Some(s) = &raw.sample {
            let v = *s.get_ref();
            if (0.0..=1.0).contains(&v) {
                c.sample = v;
            } else {
                err(
                    at(s.span().start),
                    format!("tracing.sample = {v} is out of range"),
                    "give the share of new traces sampled, from 0.0 to 1.0, e.g. 0.01",
                );
            }
        }
        if let Some(n) = &raw.service_name {
            let v = n.get_ref();
            if v.is_empty() || v.len() > 255 || v.chars().any(char::is_control) {
                let what = if v.is_empty() {
                    "tracing.service_name is empty".to_owned()
                } else {
                    format!("tracing.service_name `{v}` is not 1 to 255 printable characters")
                };
                err(
                    at(n.span().start),
                    what,
                    "name the gateway as the collector shows it, e.g. \"errata\" or \"api-gateway\"",
                );
            } else {
                c.service_name = v.clone();
            }
        }
        c
    }
}

/// The traces endpoint for a collector's address: `http://host[:port][/base]`, to which
/// `/v1/traces` is added unless it ends so already.
fn traces_url(base: &str) -> Option<String> {
    let base = base.trim_end_matches('/');
    let uri: http::Uri = base.parse().ok()?;
    if uri.scheme_str() != Some("http") || uri.host().is_none_or(str::is_empty) {
        return None;
    }
    if uri.query().is_some() {
        return None;
    }
    if uri.path().ends_with(TRACES_PATH) {
        Some(base.to_owned())
    } else {
        Some(format!("{base}{TRACES_PATH}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_collector_address_becomes_its_traces_endpoint() {
        assert_eq!(
            traces_url("http://collector:4318").as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        assert_eq!(
            traces_url("http://collector:4318/").as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        assert_eq!(
            traces_url("http://10.0.0.1:4318/otel/v1/traces").as_deref(),
            Some("http://10.0.0.1:4318/otel/v1/traces")
        );
        for bad in [
            "collector:4318",
            "https://collector:4318",
            "grpc://collector:4317",
            "http://",
            "http://collector:4318/?a=1",
            "",
        ] {
            assert_eq!(traces_url(bad), None, "{bad}");
        }
    }
}
