//! The request log's flush task: writes the [`Recorder`]'s queued records and usage counts every `flush_interval_ms` (sooner
//! when a batch fills), and applies retention once a minute of the gateway's clock.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::counters::Clock;
use crate::db::{KeyStore, Retention, Step};
use crate::reqlog::Recorder;

/// Days hour buckets are kept.
pub const HOUR_RETENTION_DAYS: i64 = 90;
/// Days day buckets are kept.
pub const DAY_RETENTION_DAYS: i64 = 400;

/// Runs until `stop` turns true, then writes what is left and returns.
pub async fn run(
    recorder: Arc<Recorder>,
    store: Arc<dyn KeyStore>,
    clock: Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
) {
    let Some(mut queue) = recorder.take_queue() else {
        return;
    };
    let cfg = recorder.config().clone();
    let every = Duration::from_millis(cfg.flush_interval_ms);
    let mut batch = Vec::new();
    let mut last_prune_minute = None;
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(every) => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        // Drain everything queued now, a batch at a time.
        loop {
            batch.clear();
            while batch.len() < cfg.batch_rows {
                match queue.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            let counts = recorder.take_counts();
            if batch.is_empty() && counts.is_empty() {
                break;
            }
            if let Err(e) = store.write_log(&batch, &counts).await {
                metrics::counter!("errata_request_log_write_failures_total").increment(1);
                tracing::warn!(error = %e, records = batch.len(), "could not write the request log");
            }
            if batch.len() < cfg.batch_rows {
                break;
            }
        }
        let now_ms = i64::try_from(clock.now_ms()).unwrap_or(i64::MAX);
        let minute = now_ms / 60_000;
        if last_prune_minute != Some(minute) {
            last_prune_minute = Some(minute);
            let now = now_ms / 1000;
            let days = |d: i64| now - d * 86_400;
            let minute_days = i64::from(cfg.retention_days);
            let r = Retention {
                before_ms: now_ms - minute_days * 86_400_000,
                max_rows: cfg.max_rows,
                usage_before: [
                    (Step::Minute, days(minute_days)),
                    (Step::Hour, days(HOUR_RETENTION_DAYS.max(minute_days))),
                    (Step::Day, days(DAY_RETENTION_DAYS.max(minute_days))),
                ],
            };
            match store.prune_log(&r).await {
                Ok(n) if n > 0 => tracing::debug!(records = n, "request log pruned"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not prune the request log"),
            }
        }
        if stopping {
            break;
        }
    }
}
