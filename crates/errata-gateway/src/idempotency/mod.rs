//! Idempotency keys at the edge: the first `POST` or `PATCH` with a key runs and its answer is
//! recorded; the same request again gets the recorded answer without reaching the upstream.
//!
//! `crate::stage::idempotency` calls it after the limits and the body's header checks, before
//! forwarding: [`Idempotency::begin`] decides, a replay answers at once, and a claimed request
//! goes upstream through [`detached`], its answer recorded by [`record`] as it streams.
//!
//! Decisions (Stripe's semantics): a key with another method, path or body than its first use
//! is `idempotency_key_reused`; a key whose first request is still running is
//! `idempotency_key_in_use` (Retry-After 1). A claimed key that gets no complete answer (the
//! upstream unreachable or timing out, the answer too large to record, the client gone
//! mid-stream) is released, so a retry runs again; a claim that is never released (its instance
//! died) lapses after the in-flight TTL. Routes without `idempotency = true` never get here.

mod recorder;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use errata_core::{ApiError, Condition};
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use sha2::{Digest, Sha256};

use errata_store::idempotency::{
    Fingerprint, Found, NewClaim, REPLAYED, Record, Records, recordable,
};

use errata_store::counters::{Clock, FailurePolicy};

use crate::config::{Config, Route};
use crate::reply::Body;
use crate::upstream::ProxyBody;

/// What became of an idempotency key, for `errata_idempotency_total{outcome}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A first request's answer was recorded.
    Stored,
    /// A recorded answer was sent again.
    Replayed,
    /// Refused: the key's first request is still running.
    InUse,
    /// Refused: the key was used with another request.
    Mismatch,
    /// A first request ran but its answer was not recorded; the key was released.
    NotStored,
    /// The records were unreachable and the request ran unprotected (`failure.counters = "open"`).
    FailOpen,
    /// The records were unreachable and the request was refused (`failure.counters = "closed"`).
    FailClosed,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Stored,
        Outcome::Replayed,
        Outcome::InUse,
        Outcome::Mismatch,
        Outcome::NotStored,
        Outcome::FailOpen,
        Outcome::FailClosed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Stored => "stored",
            Outcome::Replayed => "replayed",
            Outcome::InUse => "in_use",
            Outcome::Mismatch => "mismatch",
            Outcome::NotStored => "not_stored",
            Outcome::FailOpen => "fail_open",
            Outcome::FailClosed => "fail_closed",
        }
    }
}

/// The longest key accepted, in characters.
pub const MAX_KEY_LEN: usize = 255;

/// What the stage decided.
pub enum Begin {
    /// Forward the request; with a claim, record its answer through [`record`].
    Run(Request<ProxyBody>, Option<Claim>),
    /// Answer with this recorded response; the upstream is not asked.
    Replay(Response<Body>),
}

/// `errata_idempotency_total{outcome}`, one handle per outcome, made at start; shared by
/// the stage's claims, which count outcomes after the request has moved on.
#[derive(Clone)]
pub struct IdempotencyCounters([metrics::Counter; Outcome::ALL.len()]);

impl IdempotencyCounters {
    fn new() -> IdempotencyCounters {
        IdempotencyCounters(
            Outcome::ALL
                .map(|o| metrics::counter!("errata_idempotency_total", "outcome" => o.as_str())),
        )
    }

    /// One idempotency decision.
    pub fn count(&self, outcome: Outcome) {
        self.0[outcome as usize].increment(1);
    }
}

/// The idempotency stage, shared by all requests.
#[derive(Clone)]
pub struct Idempotency {
    inner: Arc<Inner>,
}

struct Inner {
    records: Arc<dyn Records>,
    clock: Arc<dyn Clock>,
    counters: IdempotencyCounters,
    header: http::HeaderName,
    ttl_ms: u64,
    in_flight_ms: u64,
    max_record_bytes: u64,
    /// Bound on each call to the records (the counters' timeout).
    timeout: Duration,
    failure: FailurePolicy,
    /// Bound on reading a request body to hash it.
    body_timeout: Duration,
    /// The catalog's request-id header, never recorded.
    request_id_header: String,
}

impl Idempotency {
    /// The stage for a config, keeping records in `records`.
    pub fn new(
        config: &Config,
        records: Arc<dyn Records>,
        clock: Arc<dyn Clock>,
        request_id_header: &str,
    ) -> Idempotency {
        let s = &config.idempotency;
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Idempotency {
            inner: Arc::new(Inner {
                records,
                clock,
                counters: IdempotencyCounters::new(),
                header: s.header.clone(),
                ttl_ms: ms(s.ttl),
                in_flight_ms: ms(s.in_flight_ttl(config.response_timeout)),
                max_record_bytes: s.max_body_bytes,
                timeout: config.counters_timeout,
                failure: config.counters_failure,
                body_timeout: config.response_timeout,
                request_id_header: request_id_header.to_owned(),
            }),
        }
    }

    /// Where the records are kept, for the stage a reloaded gateway makes: the records (and
    /// the requests in flight they hold) outlive the settings.
    pub fn records(&self) -> Arc<dyn Records> {
        Arc::clone(&self.inner.records)
    }

    /// Decides a request: untouched (no key, or a route or method without idempotency), a
    /// replay, a refusal (`Err`), or a claimed run. `subject` scopes the keys (a tenant or an
    /// API key, as the limits count); `max_body` bounds the request body read to hash it.
    /// `log` gets the decision for the access log. A request left untouched goes on with its
    /// body streaming, limited to `max_body`.
    pub async fn begin(
        &self,
        route: &Route,
        subject: Option<&str>,
        req: Request<Incoming>,
        max_body: u64,
        request_id: &str,
        log: &mut &'static str,
    ) -> Result<Begin, ApiError> {
        if !route.idempotency || !(req.method() == Method::POST || req.method() == Method::PATCH) {
            return Ok(Begin::Run(streamed(req, max_body), None));
        }
        let Some(subject) = subject else {
            return Ok(Begin::Run(streamed(req, max_body), None));
        };
        let inner = &self.inner;
        let key = {
            let mut values = req.headers().get_all(&inner.header).iter();
            let Some(first) = values.next() else {
                return Ok(Begin::Run(streamed(req, max_body), None));
            };
            let valid = values.next().is_none()
                && !first.is_empty()
                && first.len() <= MAX_KEY_LEN
                && first.as_bytes().iter().all(|b| (0x20..0x7f).contains(b));
            if !valid {
                return Err(ApiError::condition(Condition::InvalidParameter)
                    .param(header_title(inner.header.as_str()))
                    .arg(
                        "reason",
                        format!(
                            "the {} header must be one value of 1 to {MAX_KEY_LEN} printable \
                             ASCII characters",
                            header_title(inner.header.as_str())
                        ),
                    ));
            }
            format!("{subject}\0{}", String::from_utf8_lossy(first.as_bytes()))
        };

        let (parts, body) = req.into_parts();
        let body = read_body(body, max_body, inner.body_timeout).await?;
        let fingerprint = fingerprint(&parts.method, &parts.uri, &body);
        let body: ProxyBody = Full::new(body).map_err(|e| match e {}).boxed_unsync();
        let req = Request::from_parts(parts, body);

        let now_ms = inner.clock.now_ms();
        let claim = NewClaim {
            token: format!("{:032x}", rand::random::<u128>()),
            fingerprint,
            expires_ms: now_ms.saturating_add(inner.in_flight_ms),
            ttl_ms: inner.in_flight_ms,
        };
        let failure =
            match tokio::time::timeout(inner.timeout, inner.records.claim(&key, &claim, now_ms))
                .await
            {
                Ok(Ok(found)) => return self.decide(found, key, claim, req, request_id, log),
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!(
                    "idempotency records timed out after {} ms",
                    inner.timeout.as_millis()
                ),
            };
        match inner.failure {
            FailurePolicy::Open => {
                inner.counters.count(Outcome::FailOpen);
                *log = Outcome::FailOpen.as_str();
                tracing::warn!(error = %failure, request_id, "idempotency records unavailable; running without replay protection");
                Ok(Begin::Run(req, None))
            }
            FailurePolicy::Closed => {
                inner.counters.count(Outcome::FailClosed);
                *log = Outcome::FailClosed.as_str();
                tracing::warn!(error = %failure, request_id, "idempotency records unavailable; failing closed");
                Err(ApiError::condition(Condition::ServiceUnavailable)
                    .arg("retry_after", 1)
                    .retry_after(1))
            }
        }
    }

    fn decide(
        &self,
        found: Found,
        key: String,
        claim: NewClaim,
        req: Request<ProxyBody>,
        request_id: &str,
        log: &mut &'static str,
    ) -> Result<Begin, ApiError> {
        let refuse = |outcome: Outcome, log: &mut &'static str| {
            self.inner.counters.count(outcome);
            *log = outcome.as_str();
            Err(match outcome {
                Outcome::InUse => ApiError::condition(Condition::IdempotencyKeyInUse)
                    .arg("retry_after", 1)
                    .retry_after(1),
                _ => ApiError::condition(Condition::IdempotencyKeyReused),
            })
        };
        match found {
            Found::Claimed => {
                *log = "executed";
                Ok(Begin::Run(
                    req,
                    Some(Claim {
                        inner: Arc::clone(&self.inner),
                        key,
                        token: claim.token,
                        request_id: request_id.to_owned(),
                        done: false,
                    }),
                ))
            }
            Found::InFlight { fingerprint } if fingerprint == claim.fingerprint => {
                refuse(Outcome::InUse, log)
            }
            Found::Done {
                fingerprint,
                record,
            } if fingerprint == claim.fingerprint => {
                self.inner.counters.count(Outcome::Replayed);
                *log = Outcome::Replayed.as_str();
                Ok(Begin::Replay(replay(&record)))
            }
            Found::InFlight { .. } | Found::Done { .. } => refuse(Outcome::Mismatch, log),
        }
    }
}

/// `idempotency-key` as people write it: `Idempotency-Key`.
fn header_title(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The request with its body streamed upstream as it arrives, limited to `max_body`.
pub fn streamed(req: Request<Incoming>, max_body: u64) -> Request<ProxyBody> {
    req.map(|body| {
        Limited::new(body, usize::try_from(max_body).unwrap_or(usize::MAX)).boxed_unsync()
    })
}

/// The request body, whole, within the route's size limit and the body timeout.
async fn read_body(body: Incoming, max_body: u64, timeout: Duration) -> Result<Bytes, ApiError> {
    let limited = Limited::new(body, usize::try_from(max_body).unwrap_or(usize::MAX));
    match tokio::time::timeout(timeout, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<LengthLimitError>() => {
            Err(ApiError::condition(Condition::BodyTooLarge).arg("limit", max_body))
        }
        Ok(Err(_)) => Err(ApiError::condition(Condition::MalformedRequest)
            .arg("reason", "the request body ended before its end")),
        Err(_) => {
            Err(ApiError::condition(Condition::ClientTimeout)
                .arg("timeout", timeout.as_secs().max(1)))
        }
    }
}

/// What a key stands for: method, path with query, and body.
fn fingerprint(method: &Method, uri: &http::Uri, body: &[u8]) -> Fingerprint {
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update([0]);
    h.update(
        uri.path_and_query()
            .map_or("/", |pq| pq.as_str())
            .as_bytes(),
    );
    h.update([0]);
    h.update(body);
    h.finalize().into()
}

/// A key claimed for one running request. Finishing records the answer; dropping it unfinished
/// releases the key.
pub struct Claim {
    inner: Arc<Inner>,
    key: String,
    token: String,
    request_id: String,
    done: bool,
}

impl Claim {
    /// Stores the finished answer under the key; on failure the key is released.
    async fn finish(mut self, record: Record) {
        let inner = Arc::clone(&self.inner);
        let now_ms = inner.clock.now_ms();
        let stored = tokio::time::timeout(
            inner.timeout,
            inner.records.complete(
                &self.key,
                &self.token,
                &record,
                now_ms.saturating_add(inner.ttl_ms),
                inner.ttl_ms,
            ),
        )
        .await;
        let why = match stored {
            Ok(Ok(true)) => {
                self.done = true;
                inner.counters.count(Outcome::Stored);
                tracing::debug!(target: "errata::idempotency", request_id = %self.request_id, outcome = "stored", "answer recorded");
                return;
            }
            Ok(Ok(false)) => "its claim lapsed before the answer completed".to_owned(),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("timed out after {} ms", inner.timeout.as_millis()),
        };
        self.abandon(&why);
    }

    /// Releases the key without a record, saying why.
    fn abandon(mut self, why: &str) {
        self.done = true;
        self.inner.records.release(&self.key, &self.token);
        self.inner.counters.count(Outcome::NotStored);
        tracing::info!(target: "errata::idempotency", request_id = %self.request_id, outcome = "not_stored", reason = why, "idempotency key released; a retry runs again");
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.done {
            self.inner.records.release(&self.key, &self.token);
            self.inner.counters.count(Outcome::NotStored);
            tracing::info!(target: "errata::idempotency", request_id = %self.request_id, outcome = "not_stored", reason = "no complete answer (upstream failed, or the client went away)", "idempotency key released; a retry runs again");
        }
    }
}

/// Runs `forward`, the request's trip upstream and back, on a task of its own that records the
/// answer under `claim`: a client that goes away
/// before the answer arrives (its own timeout) no longer cancels the upstream request, so its
/// retry finds the answer recorded (or the key in use) instead of running the request again.
/// Reading an answer nobody waits for is bounded by the in-flight TTL.
/// The future yields its `T` (the request's trace) back beside the answer.
pub async fn detached<F, T>(
    claim: Claim,
    forward: F,
) -> (Result<Response<Body>, ApiError>, Option<T>)
where
    F: Future<Output = (Result<Response<Body>, ApiError>, T)> + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let unattended = Duration::from_millis(claim.inner.in_flight_ms);
    tokio::spawn(async move {
        let (answer, carried) = forward.await;
        let answer = match answer {
            Ok(res) => Ok(record(Some(claim), res).await),
            Err(e) => {
                drop(claim); // released before the client can retry
                Err(e)
            }
        };
        if let Err((Ok(res), _)) = tx.send((answer, carried)) {
            // The client is gone: read the answer to its end, which records it.
            let _ = tokio::time::timeout(unattended, res.into_body().collect()).await;
        }
    });
    match rx.await {
        Ok((answer, carried)) => (answer, Some(carried)),
        Err(_) => (Err(ApiError::condition(Condition::InternalError)), None),
    }
}

/// The answer to a claimed request, streamed to the client while it is recorded; untouched
/// without a claim. An answer larger than `max_body_bytes` streams unrecorded and releases
/// the key.
pub async fn record(claim: Option<Claim>, res: Response<Body>) -> Response<Body> {
    let Some(claim) = claim else {
        return res;
    };
    let (parts, body) = res.into_parts();
    let head = recorder::Head {
        status: parts.status.as_u16(),
        headers: recordable(&parts.headers, &claim.inner.request_id_header),
        code: parts
            .extensions
            .get::<crate::respond::RenderedCode>()
            .map(|c| c.0.clone()),
    };
    let max = claim.inner.max_record_bytes;
    let body = recorder::Recording::start(body, claim, head, max).await;
    Response::from_parts(parts, body)
}

/// A recorded answer again, marked as a replay.
fn replay(record: &Record) -> Response<Body> {
    let mut res = Response::new(Body::full(record.body.clone()));
    *res.status_mut() = http::StatusCode::from_u16(record.status).unwrap_or(http::StatusCode::OK);
    let headers = res.headers_mut();
    for (n, v) in &record.headers {
        headers.append(n.clone(), v.clone());
    }
    headers.insert(REPLAYED, http::HeaderValue::from_static("true"));
    if let Some(code) = &record.code {
        res.extensions_mut()
            .insert(crate::respond::RenderedCode(code.clone()));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_covers_method_path_query_and_body() {
        let uri = |s: &str| s.parse::<http::Uri>().unwrap();
        let base = fingerprint(&Method::POST, &uri("/v1/orders"), b"{}");
        assert_eq!(base, fingerprint(&Method::POST, &uri("/v1/orders"), b"{}"));
        assert_ne!(base, fingerprint(&Method::PATCH, &uri("/v1/orders"), b"{}"));
        assert_ne!(
            base,
            fingerprint(&Method::POST, &uri("/v1/orders/1"), b"{}")
        );
        assert_ne!(
            base,
            fingerprint(&Method::POST, &uri("/v1/orders?a=1"), b"{}")
        );
        assert_ne!(base, fingerprint(&Method::POST, &uri("/v1/orders"), b"{ }"));
        // The separators keep the parts apart.
        assert_ne!(
            fingerprint(&Method::POST, &uri("/a"), b"b"),
            fingerprint(&Method::POST, &uri("/ab"), b"")
        );
    }

    #[test]
    fn header_names_are_written_as_people_write_them() {
        assert_eq!(header_title("idempotency-key"), "Idempotency-Key");
        assert_eq!(header_title("x-idem"), "X-Idem");
    }
}
