//! The request log's flush task: every `flush_interval_ms` (sooner when a worker's batch has
//! `batch_rows` records) it takes the [`Recorder`]'s batches whole and writes their chunks and
//! usage in one transaction; it applies retention once a minute of the gateway's clock.
//!
//! A write that fails is tried again at the next flush with what came since, in the same
//! transaction, so usage stays exact across an outage of the store. Records waiting beyond
//! `queue` are dropped (the oldest first) and counted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::counters::Clock;
use crate::db::{KeyStore, Retention, Step};
use crate::reqlog::{Chunk, Recorder, UsageKey};

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
    let mut unwritten = Unwritten::default();
    let mut last_prune_minute = None;
    loop {
        // Read each round: a reload may have changed the interval or retention.
        let cfg = recorder.config();
        let every = Duration::from_millis(cfg.flush_interval_ms);
        let stopping = tokio::select! {
            _ = tokio::time::sleep(every) => false,
            _ = recorder.filled() => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        flush(&recorder, store.as_ref(), &mut unwritten).await;
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
            let lost: usize = unwritten.chunks.iter().map(|c| c.rows).sum();
            if lost > 0 || !unwritten.counts.is_empty() {
                recorder.count_dropped(lost as u64);
                tracing::warn!(
                    records = lost,
                    "stopping with request log records and usage the store did not take"
                );
            }
            break;
        }
    }
}

/// What the store has not taken yet.
#[derive(Default)]
struct Unwritten {
    chunks: Vec<Chunk>,
    counts: HashMap<UsageKey, u64>,
}

/// Takes the recorder's batches and writes them with whatever is still unwritten.
async fn flush(recorder: &Recorder, store: &dyn KeyStore, unwritten: &mut Unwritten) {
    let taken = recorder.take();
    unwritten.chunks.extend(taken.chunks);
    for (k, n) in taken.counts {
        *unwritten.counts.entry(k).or_insert(0) += n;
    }
    if unwritten.chunks.is_empty() && unwritten.counts.is_empty() {
        return;
    }
    let counts: Vec<(UsageKey, u64)> = unwritten
        .counts
        .iter()
        .map(|(k, n)| (k.clone(), *n))
        .collect();
    match store.write_chunks(&unwritten.chunks, &counts).await {
        Ok(()) => {
            recorder.recycle(unwritten.chunks.drain(..));
            unwritten.counts.clear();
        }
        Err(e) => {
            metrics::counter!("errata_request_log_write_failures_total").increment(1);
            let queue = recorder.config().queue;
            let mut held: usize = unwritten.chunks.iter().map(|c| c.rows).sum();
            tracing::warn!(error = %e, records = held, "could not write the request log; will retry");
            // Keep at most `queue` records waiting: the oldest go first.
            let mut drop = 0;
            while held > queue && drop < unwritten.chunks.len() {
                held -= unwritten.chunks[drop].rows;
                recorder.count_dropped(unwritten.chunks[drop].rows as u64);
                drop += 1;
            }
            unwritten.chunks.drain(..drop);
        }
    }
}
