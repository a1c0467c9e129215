//! Idempotency: on a route with `idempotency = true`, a `POST` or `PATCH` with a key is
//! replayed, refused (in use, reused) or claimed (see [`crate::idempotency`]). Every other
//! request goes on with its body streaming, untouched.

use std::sync::Arc;

use errata_core::ApiError;
use http::{Request, Response};
use hyper::body::Incoming;

use errata_store::plans::LimitScope;

use crate::config::Route;
use crate::gateway::{Gateway, Trace};
pub use crate::idempotency::Begin;
use crate::idempotency::{self, Claim};
use crate::reply::Body;
use crate::stage::authenticate::Caller;
use crate::stage::limit::{Admitted, limit_headers};
use crate::trace_context::Stage;

/// Decides the request; `max_body` bounds the body read to fingerprint it.
pub async fn begin(
    gw: &Gateway,
    route: &Route,
    caller: Option<&Caller>,
    req: Request<Incoming>,
    max_body: u64,
    trace: &mut Trace,
) -> Result<Begin, ApiError> {
    if !route.idempotency {
        return Ok(Begin::Run(idempotency::streamed(req, max_body), None));
    }
    // Keys are kept per tenant or per API key, as the limits count.
    let scope = caller.map(|c| match gw.config.limit_scope {
        LimitScope::Key => format!("k:{}", c.record.id),
        LimitScope::Tenant => format!("t:{}", c.record.tenant),
    });
    let since = trace.trace_context.clock();
    let Trace {
        request_id,
        idempotency: log,
        ..
    } = trace;
    let begun = (gw.idempotency)
        .begin(route, scope.as_deref(), req, max_body, request_id, log)
        .await;
    trace.trace_context.record(Stage::Idempotency, since);
    begun
}

/// A recorded answer, with this request's rate-limit headers (its concurrency lease ends here).
pub fn replayed(mut res: Response<Body>, admitted: Admitted) -> Response<Body> {
    res.headers_mut()
        .extend(limit_headers(admitted.rate, admitted.quota));
    res
}

/// Runs `exchange` (forward, then respond) on a task of its own, recording its answer under
/// `claim`, so a client that goes away does not cancel the request it claimed the key for.
pub async fn run<F, Fut>(
    gw: &Arc<Gateway>,
    claim: Claim,
    trace: &mut Trace,
    exchange: F,
) -> Result<Response<Body>, ApiError>
where
    F: FnOnce(Arc<Gateway>, Trace) -> Fut,
    Fut: Future<Output = (Result<Response<Body>, ApiError>, Trace)> + Send + 'static,
{
    let task = exchange(Arc::clone(gw), trace.clone());
    let (answer, back) = idempotency::detached(claim, task).await;
    if let Some(back) = back {
        trace.upstream_request_id = back.upstream_request_id;
        trace.upstream_status = back.upstream_status;
        trace.trace_context.take_upstream(&back.trace_context);
    }
    answer
}
