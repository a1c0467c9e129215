//! The `[request_log]` config section.

use serde::Deserialize;

/// `[request_log]`: what is kept of answered requests, and for how long.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequestLogConfig {
    /// Record requests and usage at all.
    pub enabled: bool,
    /// Days a record (and per-minute usage) is kept.
    pub retention_days: u32,
    /// The most records kept; the oldest go first.
    pub max_rows: u64,
    /// The share of successful requests recorded, 0.0 to 1.0; errors are always recorded and
    /// usage always counts every request.
    pub success_sample: f64,
    /// How often records and usage are written.
    pub flush_interval_ms: u64,
    /// Records one worker gathers before a flush starts without waiting for the interval
    /// (each worker's records are written as one chunk).
    pub batch_rows: usize,
    /// Records waiting to be written, shared out among the workers; beyond a worker's share
    /// they are dropped and counted.
    pub queue: usize,
}

impl Default for RequestLogConfig {
    fn default() -> Self {
        RequestLogConfig {
            enabled: true,
            retention_days: 7,
            max_rows: 1_000_000,
            success_sample: 1.0,
            flush_interval_ms: 1000,
            batch_rows: 20_000,
            queue: 65_536,
        }
    }
}

impl RequestLogConfig {
    /// What is wrong with the values, if anything.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !(0.0..=1.0).contains(&self.success_sample) {
            p.push("`request_log.success_sample` must be between 0.0 and 1.0".to_owned());
        }
        if self.retention_days == 0 {
            p.push("`request_log.retention_days` must be at least 1".to_owned());
        }
        if self.flush_interval_ms == 0 || self.batch_rows == 0 || self.queue == 0 {
            p.push(
                "`request_log.flush_interval_ms`, `batch_rows` and `queue` must be at least 1"
                    .to_owned(),
            );
        }
        p
    }
}
