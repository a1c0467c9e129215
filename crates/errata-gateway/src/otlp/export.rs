//! The export thread: a bounded queue in front, batches of spans posted to the collector
//! behind, on a thread and a tokio runtime of its own so that a slow collector is never the
//! workers' problem.
//!
//! The request path only ever calls [`Exporter::send`]: a `try_send` on the queue, which never
//! waits. A request whose trace finds the queue full is dropped there, its spans counted in
//! `errata_trace_spans_dropped_total{reason="queue_full"}`. The thread turns each request into
//! its spans, and posts them when [`MAX_BATCH`] are waiting or every [`EXPORT_INTERVAL`],
//! one post at a time (OTLP/HTTP protobuf to `/v1/traces`, over hyper, retried with backoff
//! within [`EXPORT_TIMEOUT`]); while it posts, requests wait in the queue. Spans the collector
//! did not take are counted with `reason="export_failed"` and a warning (at most one a
//! minute). Shutdown flushes what is queued, bounded by its caller; dropping the exporter
//! closes the queue, and the thread posts what it holds and ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use tokio::sync::{mpsc, oneshot};

use super::spans::{Finished, Shape, scope, spans};
use crate::config::Config;

/// Requests whose spans wait for the export thread, at most (each is one to five spans).
pub const MAX_QUEUE: usize = 2048;
/// Spans posted at once, at most.
pub const MAX_BATCH: usize = 512;
/// How often spans waiting are posted when fewer than a batch.
pub const EXPORT_INTERVAL: Duration = Duration::from_secs(1);
/// How long one post may take, retries included.
pub const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// The least time between two warnings about failed exports.
const WARN_EVERY: Duration = Duration::from_secs(60);

enum Msg {
    Trace(Box<Finished>),
    Flush(oneshot::Sender<()>),
}

/// The queue to the export thread.
pub(crate) struct Exporter {
    tx: mpsc::Sender<Msg>,
    dropped: std::sync::Arc<AtomicU64>,
    endpoint: String,
    service_name: String,
    shape: Shape,
}

/// Counts spans lost, by why.
fn count_dropped(dropped: &AtomicU64, n: u64, reason: &'static str) {
    dropped.fetch_add(n, Ordering::Relaxed);
    metrics::counter!("errata_trace_spans_dropped_total", "reason" => reason).increment(n);
}

impl Exporter {
    /// Starts the export thread, posting to `endpoint` as `service_name`, with a queue of
    /// `queue` requests.
    pub(crate) fn start(
        endpoint: &str,
        service_name: &str,
        shape: Shape,
        queue: usize,
    ) -> Result<Exporter, String> {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let dropped = std::sync::Arc::new(AtomicU64::new(0));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let (url, name, thread_shape, thread_dropped) = (
            endpoint.to_owned(),
            service_name.to_owned(),
            shape.clone(),
            std::sync::Arc::clone(&dropped),
        );
        std::thread::Builder::new()
            .name("errata-otlp".to_owned())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("the export runtime: {e}")));
                        return;
                    }
                };
                // The exporter's HTTP client is made on the runtime that runs it.
                let made = rt.block_on(async {
                    opentelemetry_otlp::SpanExporter::builder()
                        .with_http()
                        .with_endpoint(url)
                        .with_protocol(Protocol::HttpBinary)
                        .with_timeout(EXPORT_TIMEOUT)
                        .build()
                });
                let mut exporter = match made {
                    Ok(e) => e,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                exporter.set_resource(&Resource::builder_empty().with_service_name(name).build());
                let _ = ready_tx.send(Ok(()));
                rt.block_on(run(rx, exporter, thread_shape, thread_dropped));
            })
            .map_err(|e| format!("tracing.otlp: cannot start the export thread: {e}"))?;
        ready_rx
            .recv()
            .map_err(|_| "tracing.otlp: the export thread did not start".to_owned())?
            .map_err(|e| format!("tracing.otlp: {e}"))?;
        Ok(Exporter {
            tx,
            dropped,
            endpoint: endpoint.to_owned(),
            service_name: service_name.to_owned(),
            shape,
        })
    }

    /// Whether this exporter is what `config` asks for (the same endpoint, service name and
    /// upstream), so that a reloaded gateway can keep it.
    pub(crate) fn serves(&self, endpoint: &str, service_name: &str, config: &Config) -> bool {
        self.endpoint == endpoint
            && self.service_name == service_name
            && self.shape == Shape::of(config)
    }

    /// Queues a request's spans; a full queue drops them, counted.
    pub(crate) fn send(&self, f: Box<Finished>) {
        let n = f.span_count();
        if self.tx.try_send(Msg::Trace(f)).is_err() {
            count_dropped(&self.dropped, n, "queue_full");
        }
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Has everything queued so far posted, waiting at most `within`.
    pub(crate) async fn flush(&self, within: Duration) {
        let (done, wait) = oneshot::channel();
        let _ = tokio::time::timeout(within, async {
            if self.tx.send(Msg::Flush(done)).await.is_ok() {
                let _ = wait.await;
            }
        })
        .await;
    }
}

/// The export thread's loop, until the queue closes.
async fn run(
    mut rx: mpsc::Receiver<Msg>,
    exporter: opentelemetry_otlp::SpanExporter,
    shape: Shape,
    dropped: std::sync::Arc<AtomicU64>,
) {
    let scope = scope();
    let mut post = Post {
        exporter,
        dropped,
        warned: None,
    };
    let mut batch: Vec<SpanData> = Vec::with_capacity(MAX_BATCH);
    let mut tick = tokio::time::interval(EXPORT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(Msg::Trace(f)) => {
                    spans(*f, &shape, &scope, &mut batch);
                    if batch.len() >= MAX_BATCH {
                        post.all(&mut batch).await;
                    }
                }
                Some(Msg::Flush(done)) => {
                    while let Ok(m) = rx.try_recv() {
                        match m {
                            Msg::Trace(f) => spans(*f, &shape, &scope, &mut batch),
                            Msg::Flush(other) => {
                                let _ = other.send(());
                            }
                        }
                    }
                    post.all(&mut batch).await;
                    let _ = done.send(());
                }
                None => {
                    post.all(&mut batch).await;
                    return;
                }
            },
            _ = tick.tick() => {
                if !batch.is_empty() {
                    post.all(&mut batch).await;
                }
            }
        }
    }
}

struct Post {
    exporter: opentelemetry_otlp::SpanExporter,
    dropped: std::sync::Arc<AtomicU64>,
    warned: Option<Instant>,
}

impl Post {
    /// Posts every span of `batch`, [`MAX_BATCH`] at a time.
    async fn all(&mut self, batch: &mut Vec<SpanData>) {
        while !batch.is_empty() {
            let rest = batch.split_off(batch.len().min(MAX_BATCH));
            let now = std::mem::replace(batch, rest);
            let n = now.len() as u64;
            if let Err(e) = self.exporter.export(now).await {
                count_dropped(&self.dropped, n, "export_failed");
                if self.warned.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
                    self.warned = Some(Instant::now());
                    tracing::warn!(error = %e, spans = n, "spans not exported");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::trace_context::{Recording, Span, new_span_id, new_trace_id};

    fn shape() -> Shape {
        let cfg = crate::config::Config::from_toml("", std::path::Path::new(".")).unwrap();
        Shape::of(&cfg)
    }

    /// A request that went through a key lookup and upstream: three spans.
    fn finished() -> Box<Finished> {
        let now = Instant::now();
        let stage = Span {
            start: now,
            end: now,
        };
        Box::new(Finished {
            recording: Box::new(Recording {
                wall: SystemTime::now(),
                start: now,
                span_id: new_span_id(),
                key_lookup: Some((stage, true)),
                counters: None,
                idempotency: None,
                upstream: Some(stage),
            }),
            trace_id: new_trace_id(),
            parent_id: None,
            upstream_span_id: new_span_id(),
            tracestate: None,
            method: http::Method::GET,
            path: "/v1/a".into(),
            route: Some("/v1/*".into()),
            request_id: "req_1".into(),
            key_id: None,
            tenant: None,
            status: 200,
            code: None,
            latency: Duration::from_millis(1),
            upstream_status: Some(200),
            idempotency: "",
        })
    }

    #[test]
    fn a_full_queue_drops_the_trace_and_counts_its_spans() {
        let (tx, _rx) = mpsc::channel(2);
        let e = Exporter {
            tx,
            dropped: std::sync::Arc::new(AtomicU64::new(0)),
            endpoint: String::new(),
            service_name: String::new(),
            shape: shape(),
        };
        e.send(finished());
        e.send(finished());
        assert_eq!(e.dropped(), 0);
        e.send(finished());
        assert_eq!(e.dropped(), 3, "one trace of three spans");
    }

    #[tokio::test]
    async fn spans_the_collector_refuses_are_counted_and_flush_is_bounded() {
        // A collector that answers every post 400 (not retried).
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let _ = s.read(&mut buf).await;
                    let _ = s
                        .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                });
            }
        });
        let url = format!("http://{addr}/v1/traces");
        let e = Exporter::start(&url, "errata", shape(), 16).unwrap();
        e.send(finished());
        e.send(finished());
        e.flush(Duration::from_secs(10)).await;
        assert_eq!(e.dropped(), 6);

        // A collector that never answers: flush returns within its bound.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/traces", silent.local_addr().unwrap());
        let e = Exporter::start(&url, "errata", shape(), 16).unwrap();
        e.send(finished());
        let t = Instant::now();
        e.flush(Duration::from_millis(300)).await;
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        drop(silent);
    }
}
