//! What the request path works with: the [`Gateway`] every worker shares (config, catalog,
//! store, cache, counters, metrics, idempotency, request log, the per-worker upstreams) and the
//! [`Trace`] of one request, which the stages fill in for the answer, the logs and metrics.
//! The path itself is [`crate::request_path`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use errata_core::{ApiError, Catalog, Condition, Format};
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response};
use hyper::body::Incoming;

use crate::config::Config;
use crate::gate::Refusals;
use crate::idempotency::Idempotency;
use crate::lookup::HeaderLookup;
use crate::metrics::Metrics;
use crate::reply::Body;
use crate::respond::{Prerendered, raw_error};
use crate::upstream::Upstream;
use errata_store::counters::{Clock, Counters, Window};
use errata_store::db::KeyStore;
use errata_store::idempotency::{MemoryRecords, Records};
use errata_store::key_cache::KeyCache;
use errata_store::reqlog::Recorder;

/// The header of the request the gate hands hyper in place of a head it refuses.
const GATE_HEADER: &str = "x-errata-gate";

/// One request's facts for the answer, logs and metrics.
#[derive(Clone)]
pub struct Trace {
    pub request_id: String,
    pub format: Format,
    pub method: Method,
    pub path: String,
    /// The metrics slot of the route (the last slot: no route).
    pub route: usize,
    /// The presented key's id and tenant when the store knows the key, usable or not (a
    /// revoked key's refusal is its tenant's); none for a missing, malformed or unknown key.
    pub key_id: Option<String>,
    pub tenant: Option<String>,
    /// The upstream's status, when the request reached it.
    pub upstream_status: Option<u16>,
    /// The upstream's own request id: its request-id header, or the id its error envelope
    /// carried when that was not the gateway's.
    pub upstream_request_id: Option<String>,
    /// The idempotency decision for the access log (empty: none was made).
    pub idempotency: &'static str,
    /// The key's rate and quota windows after this request, when limited (for usage).
    pub windows: (Option<Window>, Option<Window>),
    /// When the request arrived, Unix milliseconds (for the request log).
    pub started_ms: u64,
    /// Its W3C trace: the trace id, the upstream's parent span, and the stages' times when
    /// the trace is exported.
    pub trace_context: crate::trace_context::TraceContext,
}

impl Trace {
    pub fn new(gw: &Gateway, req: &Request<Incoming>) -> Trace {
        Trace::of(gw, req.method().clone(), req.uri().path(), req.headers())
    }

    /// The trace of a request with `method` on `path`, from its headers.
    pub fn of<H: HeaderLookup + ?Sized>(
        gw: &Gateway,
        method: Method,
        path: &str,
        headers: &H,
    ) -> Trace {
        Trace {
            request_id: request_id(gw, headers),
            format: Format::from_accept(headers.text("accept")),
            method,
            path: path.to_owned(),
            route: gw.metrics.unmatched(),
            key_id: None,
            tenant: None,
            upstream_status: None,
            upstream_request_id: None,
            idempotency: "",
            windows: (None, None),
            started_ms: gw.clock.now_ms(),
            trace_context: gw.tracing.context(headers),
        }
    }
}

/// The request id: a trusted inbound one when configured and safe, else a new one.
fn request_id<H: HeaderLookup + ?Sized>(gw: &Gateway, headers: &H) -> String {
    if let Some(h) = &gw.config.trusted_request_id_header
        && let Some(v) = headers.text(h.as_str())
        && errata_core::request_id::is_safe_token(v)
    {
        return v.to_owned();
    }
    gw.catalog.request_id().generate()
}

/// Everything the request path needs. Shared by all workers: read-only, or per worker
/// (`upstreams`, `last_used`), or lock-free.
pub struct Gateway {
    pub config: Arc<Config>,
    pub catalog: Arc<Catalog>,
    pub store: Arc<dyn KeyStore>,
    pub cache: Arc<KeyCache>,
    pub counters: Arc<dyn Counters>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Metrics,
    /// Idempotency records and settings, used on `idempotency = true` routes only.
    pub idempotency: Idempotency,
    /// The request log and usage counts, fed by the log stage.
    pub recorder: Arc<Recorder>,
    /// The catalog's request-id header.
    pub request_id_header: HeaderName,
    /// Refusals rendered once per kind, per worker (the relay's answers).
    pub prerendered: Prerendered,
    /// Liveness and readiness (the admin `/healthz` and `/readyz`, `health_path`): one per
    /// process, carried over by a reload.
    pub health: Arc<crate::health::Health>,
    /// Trace context settings and the OTLP exporter (`[tracing]`).
    pub tracing: Arc<crate::otlp::Tracing>,
    /// One upstream client (and connection pool) per worker, made on the worker's runtime.
    upstreams: Arc<Vec<OnceLock<Upstream>>>,
    errors_page: Bytes,
    route_names: Vec<String>,
    /// The secret in the gate's marked request, and that request.
    marker: String,
    marked: Bytes,
    /// Keys used since the last flush, per worker.
    last_used: Arc<Vec<Mutex<HashMap<String, i64>>>>,
}

/// What a gateway hands the one that replaces it on a reload: the state that outlives a
/// config.
struct Kept {
    store: Arc<dyn KeyStore>,
    cache: Arc<KeyCache>,
    counters: Arc<dyn Counters>,
    clock: Arc<dyn Clock>,
    records: Arc<dyn Records>,
    recorder: Arc<Recorder>,
    /// The per-worker upstream clients, when the upstream is the same (their pooled
    /// connections go on serving).
    upstreams: Option<Arc<Vec<OnceLock<Upstream>>>>,
    last_used: Arc<Vec<Mutex<HashMap<String, i64>>>>,
    /// The gate's marker: connections opened before a reload hand their refusals to the
    /// gateway current when they are read.
    marker: String,
    health: Arc<crate::health::Health>,
    /// The tracing of the gateway replaced, whose exporter goes on when its settings did not
    /// change.
    tracing: Option<Arc<crate::otlp::Tracing>>,
}

impl Gateway {
    pub fn new(
        config: Config,
        store: Arc<dyn KeyStore>,
        counters: Arc<dyn Counters>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Gateway>, String> {
        let workers = config.workers.max(1);
        let records = counters
            .idempotency_records()
            .unwrap_or_else(|| Arc::new(MemoryRecords::new(config.idempotency.memory_bytes)));
        let marker: String = {
            use rand::Rng;
            let mut rng = rand::rng();
            (0..32)
                .map(|_| format!("{:x}", rng.random_range(0..16u8)))
                .collect()
        };
        let health = Arc::new(crate::health::Health::new(
            Arc::clone(&store),
            config.store_timeout,
            Arc::clone(&counters),
            config.counters_timeout,
        ));
        let kept = Kept {
            health,
            recorder: Arc::new(Recorder::new(config.request_log.clone(), workers)),
            cache: Arc::new(KeyCache::new(
                config.key_cache_ttl,
                config.key_cache_max_stale,
                config.key_cache_capacity,
            )),
            store,
            counters,
            clock,
            records,
            upstreams: None,
            last_used: Arc::new((0..workers).map(|_| Mutex::new(HashMap::new())).collect()),
            marker,
            tracing: None,
        };
        Gateway::build(config, kept)
    }

    /// The gateway for a new config, taking over this one's state: the store, key cache,
    /// counters, idempotency records, request log (with the new settings), last-used times,
    /// and the upstream clients when the upstream and its timeouts are unchanged. The worker
    /// count and listen address are the running process's and stay as they are; the key
    /// cache keeps its size and times. Requests already on this gateway finish on it.
    pub fn reloaded(&self, mut config: Config) -> Result<Arc<Gateway>, String> {
        let old = &self.config;
        config.workers = old.workers;
        config.listen = old.listen;
        let same_upstream = config.upstream == old.upstream
            && config.upstream_ca == old.upstream_ca
            && config.connect_timeout == old.connect_timeout
            && config.response_timeout == old.response_timeout;
        let request_log = config.request_log.clone();
        let kept = Kept {
            health: Arc::clone(&self.health),
            store: Arc::clone(&self.store),
            cache: Arc::clone(&self.cache),
            counters: Arc::clone(&self.counters),
            clock: Arc::clone(&self.clock),
            records: self.idempotency.records(),
            recorder: Arc::clone(&self.recorder),
            upstreams: same_upstream.then(|| Arc::clone(&self.upstreams)),
            last_used: Arc::clone(&self.last_used),
            marker: self.marker.clone(),
            tracing: Some(Arc::clone(&self.tracing)),
        };
        let gateway = Gateway::build(config, kept)?;
        gateway.recorder.update(request_log);
        let c = &gateway.config;
        gateway
            .health
            .set_timeouts(c.store_timeout, c.counters_timeout);
        Ok(gateway)
    }

    fn build(config: Config, kept: Kept) -> Result<Arc<Gateway>, String> {
        let mut catalog = config.catalog.clone();
        catalog.set_doc_url(format!("{}{}", config.public_base(), config.errors_path));
        let errors_page = Bytes::from(errata_docs::html(&catalog).map_err(|e| e.to_string())?);
        let workers = config.workers.max(1);
        // The upstream URL is checked now; each worker makes its client on its own runtime.
        Upstream::with_ca(
            &config.upstream,
            config.connect_timeout,
            config.response_timeout,
            config.upstream_ca.as_deref(),
        )?;
        let upstreams = kept
            .upstreams
            .unwrap_or_else(|| Arc::new((0..workers).map(|_| OnceLock::new()).collect()));
        let mut route_names: Vec<String> = config.routes.iter().map(|r| r.name()).collect();
        let metrics = Metrics::new(&route_names, &catalog);
        route_names.push(crate::metrics::UNMATCHED.to_owned());
        let marker = kept.marker;
        let marked = Bytes::from(format!(
            "GET / HTTP/1.1\r\nhost: errata\r\n{GATE_HEADER}: {marker}\r\n\r\n"
        ));
        let request_id_header = HeaderName::from_bytes(catalog.request_id().header.as_bytes())
            .unwrap_or(HeaderName::from_static("x-request-id"));
        let idempotency = Idempotency::new(
            &config,
            kept.records,
            Arc::clone(&kept.clock),
            &catalog.request_id().header,
        );
        Ok(Arc::new(Gateway {
            idempotency,
            recorder: kept.recorder,
            cache: kept.cache,
            health: kept.health,
            tracing: match &kept.tracing {
                Some(old) => crate::otlp::Tracing::carry_over(old, &config)?,
                None => crate::otlp::Tracing::new(&config)?,
            },
            config: Arc::new(config),
            catalog: Arc::new(catalog),
            store: kept.store,
            counters: kept.counters,
            clock: kept.clock,
            metrics,
            request_id_header,
            prerendered: Prerendered::new(workers),
            upstreams,
            errors_page,
            route_names,
            marker,
            marked,
            last_used: kept.last_used,
        }))
    }

    /// The upstream client of `worker`, made on first use, on the runtime that uses it (its
    /// connections' tasks and its pool's sweeper run there).
    pub fn upstream(&self, worker: usize) -> Option<&Upstream> {
        let slot = self.upstreams.get(worker)?;
        if let Some(u) = slot.get() {
            return Some(u);
        }
        let cfg = &self.config;
        match Upstream::with_ca(
            &cfg.upstream,
            cfg.connect_timeout,
            cfg.response_timeout,
            cfg.upstream_ca.as_deref(),
        ) {
            Ok(u) => Some(slot.get_or_init(|| u)),
            Err(e) => {
                tracing::error!(error = %e, "cannot make the upstream client");
                None
            }
        }
    }

    /// The name of a route's metrics slot.
    pub fn route_name(&self, slot: usize) -> &str {
        self.route_names
            .get(slot)
            .map_or(crate::metrics::UNMATCHED, String::as_str)
    }

    /// Notes a key's use for the store's `last_used_at`, in the worker's own map.
    pub fn touch(&self, worker: usize, key_id: &str, now_ms: u64) {
        if let Some(m) = self.last_used.get(worker)
            && let Ok(mut m) = m.lock()
        {
            let secs = (now_ms / 1000) as i64;
            match m.get_mut(key_id) {
                Some(t) => *t = secs,
                None => {
                    m.insert(key_id.to_owned(), secs);
                }
            }
        }
    }

    /// Takes the keys used since the last call, for the store's `last_used_at`.
    pub fn take_last_used(&self) -> Vec<(String, i64)> {
        let mut all: HashMap<String, i64> = HashMap::new();
        for m in self.last_used.iter() {
            if let Ok(mut m) = m.lock() {
                for (k, t) in m.drain() {
                    let e = all.entry(k).or_insert(t);
                    *e = (*e).max(t);
                }
            }
        }
        all.into_iter().collect()
    }

    pub fn errors_page(&self) -> Response<Body> {
        let mut res = Response::new(Body::full(self.errors_page.clone()));
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        res
    }

    /// A new connection's refusal slot and the marked request the gate hands hyper in place
    /// of a head it refuses.
    pub fn refusals(&self) -> Refusals {
        Refusals {
            slot: Arc::new(Mutex::new(None)),
            marked: self.marked.clone(),
        }
    }

    /// Whether a request is the gate's marked one (a client cannot know the marker).
    pub fn is_marked(&self, req: &Request<Incoming>) -> bool {
        req.headers()
            .get(GATE_HEADER)
            .is_some_and(|v| v.as_bytes() == self.marker.as_bytes())
    }

    /// The answer to a connection past `max_connections`, as HTTP/1.1 bytes.
    pub fn over_capacity(&self) -> Bytes {
        let id = self.catalog.request_id().generate();
        let err = over_capacity_error().request_id(id.clone());
        let (bytes, status, code) = raw_error(&self.catalog, &err, (&self.request_id_header, &id));
        self.count_refusal(&id, status, &code);
        bytes
    }

    /// The same answer as a response, for an HTTP/2 connection past `max_connections`.
    pub fn over_capacity_response(&self) -> Response<Body> {
        let id = self.catalog.request_id().generate();
        let err = over_capacity_error().request_id(id.clone());
        let mut res = crate::respond::error_response(&self.catalog, &err, Format::Envelope);
        if let Ok(v) = HeaderValue::from_str(&id) {
            res.headers_mut().insert(self.request_id_header.clone(), v);
        }
        let code = res
            .extensions()
            .get::<crate::respond::RenderedCode>()
            .map_or_else(String::new, |c| c.0.clone());
        self.count_refusal(&id, res.status().as_u16(), &code);
        res
    }

    /// Metrics and the access line for an answer made outside the request path.
    fn count_refusal(&self, id: &str, status: u16, code: &str) {
        self.metrics.request(
            self.metrics.unmatched(),
            status,
            Some(code),
            std::time::Duration::ZERO,
        );
        tracing::info!(
            target: "errata::access",
            request_id = %id,
            trace_id = "",
            method = "",
            path = "",
            route = crate::metrics::UNMATCHED,
            key_id = "",
            tenant = "",
            status,
            code = %code,
            upstream_request_id = "",
            idempotency = "",
            latency_ms = 0.0,
        );
    }
}

fn over_capacity_error() -> ApiError {
    ApiError::condition(Condition::Overloaded)
        .arg("retry_after", 1)
        .retry_after(1)
}
