//! The `[idempotency]` section of the gateway's configuration, validated with the rest of it.

use std::time::Duration;

use http::HeaderName;
use serde::Deserialize;
use toml::Spanned;

use crate::{At, Report};

/// The section as written. Every key is optional.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    header: Option<Spanned<String>>,
    ttl_hours: Option<Spanned<u64>>,
    max_body_bytes: Option<u64>,
    in_flight_seconds: Option<Spanned<u64>>,
    memory_bytes: Option<u64>,
}

/// How keys are read and how long records live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The request header carrying the key (default `Idempotency-Key`).
    pub header: HeaderName,
    /// How long a finished request's answer replays.
    pub ttl: Duration,
    /// Answers with a larger body are streamed but not recorded.
    pub max_body_bytes: u64,
    /// How long a claim on a key outlives a request that never finishes (an instance that
    /// died); `None`: the upstream response timeout plus [`IN_FLIGHT_SLACK`].
    pub in_flight: Option<Duration>,
    /// The most bytes of answers the in-memory records hold before the oldest are dropped.
    pub memory_bytes: u64,
}

/// Added to the upstream response timeout for the default in-flight TTL.
pub const IN_FLIGHT_SLACK: Duration = Duration::from_secs(30);

/// The longest `ttl_hours` accepted: 30 days.
const MAX_TTL_HOURS: u64 = 720;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            header: HeaderName::from_static("idempotency-key"),
            ttl: Duration::from_secs(24 * 3600),
            max_body_bytes: 1 << 20,
            in_flight: None,
            memory_bytes: 64 << 20,
        }
    }
}

impl Settings {
    /// The claim TTL given the upstream response timeout.
    pub fn in_flight_ttl(&self, response_timeout: Duration) -> Duration {
        self.in_flight
            .unwrap_or(response_timeout.saturating_add(IN_FLIGHT_SLACK))
    }

    /// Validates the section, reporting each problem through `err` at the position `at` gives
    /// for a byte offset.
    pub fn from_raw(raw: &RawSettings, at: At<'_>, err: Report<'_>) -> Settings {
        let mut s = Settings::default();
        if let Some(h) = &raw.header {
            match HeaderName::from_bytes(h.get_ref().as_bytes()) {
                Ok(name) => s.header = name,
                Err(_) => err(
                    at(h.span().start),
                    format!("`{}` is not a valid header name", h.get_ref()),
                    "use a token such as \"Idempotency-Key\"",
                ),
            }
        }
        if let Some(t) = &raw.ttl_hours {
            let hours = *t.get_ref();
            if hours == 0 || hours > MAX_TTL_HOURS {
                err(
                    at(t.span().start),
                    format!("ttl_hours = {hours} is out of range"),
                    "records replay for 1 to 720 hours (30 days); 24 is the usual",
                );
            } else {
                s.ttl = Duration::from_secs(hours * 3600);
            }
        }
        if let Some(b) = raw.max_body_bytes {
            s.max_body_bytes = b;
        }
        if let Some(f) = &raw.in_flight_seconds {
            if *f.get_ref() == 0 {
                err(
                    at(f.span().start),
                    "in_flight_seconds must be at least 1".into(),
                    "leave it out for the upstream response timeout plus 30 s",
                );
            } else {
                s.in_flight = Some(Duration::from_secs(*f.get_ref()));
            }
        }
        if let Some(m) = raw.memory_bytes {
            s.memory_bytes = m;
        }
        s
    }
}
