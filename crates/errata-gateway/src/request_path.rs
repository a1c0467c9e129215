//! The request path, stage by stage: route → authenticate → authorize → limit → body checks →
//! idempotency → forward → respond (with `success_meta` on routes that ask), then log (access
//! line, metrics, request log and usage). Each stage is a module of [`crate::stage`] and fails
//! only with a condition the catalog renders; [`handle`] turns that into the answer.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use errata_core::{ApiError, Format};
use http::header::{self, HeaderValue};
use http::{Method, Request, Response};
use hyper::body::Incoming;

use crate::client_ip::client_ip;
use crate::gateway::{Gateway, Trace};
use crate::reply::Body;
use crate::stage::idempotency::{self, Begin};
use crate::stage::route::Routed;
use crate::stage::{authenticate, authorize, body, forward, limit, log, respond, route};

/// The answer to the gate's marked request: the refusal the gate left, in the envelope, and the
/// connection closed.
pub fn gate_refusal(gw: &Gateway, err: Option<ApiError>) -> Response<Body> {
    let started = Instant::now();
    let err = err.unwrap_or_else(|| {
        crate::head::Refusal::Malformed("the request head is not valid HTTP/1.1").error()
    });
    let trace = Trace {
        request_id: gw.catalog.request_id().generate(),
        format: Format::Envelope,
        method: Method::GET,
        path: String::new(),
        route: gw.metrics.unmatched(),
        key_id: None,
        tenant: None,
        upstream_status: None,
        upstream_request_id: None,
        idempotency: "",
        windows: (None, None),
        started_ms: gw.clock.now_ms(),
        trace_context: gw.tracing.fresh(),
    };
    let mut res = respond::refusal(gw, err, &trace);
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    log::finish(gw, 0, trace, res, started)
}

/// The request path: a request in, its answer out. Never fails: a refusal is an answer.
pub async fn handle(
    gw: &Arc<Gateway>,
    worker: usize,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Body> {
    let started = Instant::now();
    let mut trace = Trace::new(gw, &req);
    let res = match path(gw, worker, peer.ip(), req, &mut trace).await {
        Ok(res) => res,
        Err(err) => respond::refusal(gw, err, &trace),
    };
    log::finish(gw, worker, trace, res, started)
}

async fn path(
    gw: &Arc<Gateway>,
    worker: usize,
    peer: IpAddr,
    req: Request<Incoming>,
    trace: &mut Trace,
) -> Result<Response<Body>, ApiError> {
    let cfg = &gw.config;
    let route = match route::route(cfg, req.method(), req.uri().path())? {
        Routed::ErrorsPage => return Ok(gw.errors_page()),
        Routed::Health => return crate::health::answer(gw),
        Routed::Upstream(slot, route) => {
            trace.route = slot;
            route
        }
    };
    let now_ms = gw.clock.now_ms();
    let ip = client_ip(peer, req.headers(), &cfg.trusted_proxies);
    let caller = authenticate::authenticate(gw, route, req.headers(), now_ms, trace).await?;
    let mut admitted = limit::Admitted::default();
    if let Some(c) = &caller {
        authorize::authorize(cfg, route, &c.record, ip)?;
        gw.touch(worker, &c.record.id, now_ms);
        admitted = limit::limit(gw, route, &c.record, now_ms, trace).await?;
    }
    let max_body = body::check(cfg, route, req.headers())?;
    // Most requests go straight through; a claimed idempotency key runs detached and recorded.
    let (req, claim) =
        match idempotency::begin(gw, route, caller.as_ref(), req, max_body, trace).await? {
            Begin::Replay(res) => return Ok(idempotency::replayed(res, admitted)),
            Begin::Run(req, None) => {
                let res =
                    forward::forward(gw, worker, req, caller.as_ref(), ip, max_body, trace).await?;
                return respond::respond(gw, route.success_meta, res, admitted, trace).await;
            }
            Begin::Run(req, Some(claim)) => (req, claim),
        };
    let success_meta = route.success_meta;
    idempotency::run(gw, claim, trace, move |gw, mut trace| async move {
        let t = &mut trace;
        let res = match forward::forward(&gw, worker, req, caller.as_ref(), ip, max_body, t).await {
            Ok(res) => respond::respond(&gw, success_meta, res, admitted, &mut trace).await,
            Err(e) => Err(e),
        };
        (res, trace)
    })
    .await
}
