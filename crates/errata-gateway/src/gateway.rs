//! The request path: request id → route → authenticate → authorize → limits → body checks →
//! proxy → response, each step failing only with a condition rendered by the catalog.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use bytes::Bytes;
use errata_core::{ApiError, Catalog, Condition, Format};
use http::HeaderMap;
use std::fmt::Write as _;

use http::header::{self, HeaderName, HeaderValue};
use http_body_util::{BodyExt, Limited};

use crate::auth::{self, KeyCache};
use crate::client_ip::client_ip;
use crate::config::{Config, EnvironmentRule, FailurePolicy, LimitScope, Limits, Route};
use crate::keys::Environment;
use crate::limits::{Clock, Counters, Outcome, Verdict, Window};
use crate::metrics;
use crate::proxy::{self, Identity, Upstream};
use crate::respond::{RenderedCode, error_response};
use crate::store::{KeyRecord, KeyStore};

/// The largest upstream error body read to decide whether it is already in the envelope.
const MAX_ERROR_BODY: usize = 256 * 1024;

/// Everything the request path needs, shared by all requests.
pub struct Gateway {
    pub config: Arc<Config>,
    pub catalog: Arc<Catalog>,
    pub store: Arc<dyn KeyStore>,
    pub cache: Arc<KeyCache>,
    pub counters: Arc<dyn Counters>,
    pub clock: Arc<dyn Clock>,
    pub recorder: Arc<crate::reqlog::Recorder>,
    upstream: Upstream,
    errors_page: Bytes,
    last_used: Mutex<HashMap<String, i64>>,
}

impl Gateway {
    pub fn new(
        config: Config,
        store: Arc<dyn KeyStore>,
        counters: Arc<dyn Counters>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Gateway>, String> {
        let mut catalog = config.catalog.clone();
        catalog.set_doc_url(config.errors_path.clone());
        let errors_page = Bytes::from(errata_docs::html(&catalog).map_err(|e| e.to_string())?);
        let upstream = Upstream::new(
            &config.upstream,
            config.connect_timeout,
            config.response_timeout,
        )?;
        Ok(Arc::new(Gateway {
            recorder: Arc::new(crate::reqlog::Recorder::new(config.request_log.clone())),
            cache: Arc::new(KeyCache::new(config.key_cache_ttl)),
            config: Arc::new(config),
            catalog: Arc::new(catalog),
            store,
            counters,
            clock,
            upstream,
            errors_page,
            last_used: Mutex::new(HashMap::new()),
        }))
    }

    /// The public router: the error reference page and everything else proxied.
    pub fn router(self: &Arc<Self>) -> axum::Router {
        let page = Arc::clone(self);
        let other = Arc::clone(self);
        let errors_page = axum::routing::get(move || {
            let body = page.errors_page.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/html; charset=utf-8"),
                    )],
                    body,
                )
            }
        })
        // Any other method on the page is a catalog 405, not axum's empty one.
        .fallback(move |req: Request| {
            let gw = Arc::clone(&other);
            async move {
                let format = Format::from_accept(
                    req.headers()
                        .get(header::ACCEPT)
                        .and_then(|v| v.to_str().ok()),
                );
                let err = ApiError::condition(Condition::MethodNotAllowed)
                    .arg("method", req.method().as_str())
                    .arg("path", req.uri().path())
                    .arg("allowed", "GET, HEAD")
                    .header("allow", "GET, HEAD")
                    .request_id(gw.catalog.request_id().generate());
                error_response(&gw.catalog, &err, format)
            }
        });
        axum::Router::new()
            .route(&self.config.errors_path, errors_page)
            .fallback(handle)
            .with_state(Arc::clone(self))
    }

    /// Takes the keys used since the last call, for the store's `last_used_at`.
    pub fn take_last_used(&self) -> Vec<(String, i64)> {
        self.last_used
            .lock()
            .map(|mut m| m.drain().collect())
            .unwrap_or_default()
    }
}

/// One request's facts for logs and metrics.
struct Trace {
    request_id: String,
    route: String,
    key_id: Option<String>,
    tenant: Option<String>,
    upstream_status: Option<u16>,
    upstream_request_id: Option<String>,
    windows: (Option<Window>, Option<Window>),
}

async fn handle(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let started = Instant::now();
    let started_ms = gw.clock.now_ms();
    let request_id = request_id(&gw, req.headers());
    let format = Format::from_accept(
        req.headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok()),
    );
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut trace = Trace {
        request_id: request_id.clone(),
        route: "unmatched".into(),
        key_id: None,
        tenant: None,
        upstream_status: None,
        upstream_request_id: None,
        windows: (None, None),
    };
    let mut res = match pipeline(&gw, peer.ip(), req, &request_id, &mut trace).await {
        Ok(res) => res,
        Err(err) => {
            let err = err.request_id(request_id.clone()).instance(path.clone());
            error_response(&gw.catalog, &err, format)
        }
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(
            http::HeaderName::from_bytes(gw.catalog.request_id().header.as_bytes())
                .unwrap_or(http::HeaderName::from_static("x-request-id")),
            v,
        );
    }
    let status = res.status().as_u16();
    let code = res.extensions().get::<RenderedCode>().map(|c| c.0.clone());
    let latency = started.elapsed();
    metrics::request(&trace.route, status, code.as_deref(), latency);
    tracing::info!(
        target: "errata::access",
        request_id = %trace.request_id,
        method = %method,
        path = %path,
        route = %trace.route,
        key_id = trace.key_id.as_deref().unwrap_or(""),
        tenant = trace.tenant.as_deref().unwrap_or(""),
        status,
        code = code.as_deref().unwrap_or(""),
        latency_ms = latency.as_secs_f64() * 1000.0,
    );
    let windows = trace.windows;
    gw.recorder.record(
        crate::reqlog::Record {
            request_id: trace.request_id,
            time_ms: i64::try_from(started_ms).unwrap_or(i64::MAX),
            method: method.to_string(),
            path,
            route: trace.route,
            key_id: trace.key_id,
            tenant: trace.tenant,
            status,
            code,
            latency_us: i64::try_from(latency.as_micros()).unwrap_or(i64::MAX),
            upstream_status: trace.upstream_status,
            upstream_request_id: trace.upstream_request_id,
        },
        windows,
    );
    res
}

fn request_id(gw: &Gateway, headers: &HeaderMap) -> String {
    if let Some(h) = &gw.config.trusted_request_id_header
        && let Some(v) = headers.get(h.as_str()).and_then(|v| v.to_str().ok())
        && errata_core::request_id::is_safe_token(v)
    {
        return v.to_owned();
    }
    gw.catalog.request_id().generate()
}

async fn pipeline(
    gw: &Arc<Gateway>,
    peer: IpAddr,
    req: Request,
    request_id: &str,
    trace: &mut Trace,
) -> Result<Response, ApiError> {
    let cfg = &gw.config;
    let path = req.uri().path().to_owned();
    let Some(route) = cfg.route(&path) else {
        return Err(ApiError::condition(Condition::RouteNotFound)
            .arg("method", req.method().as_str())
            .arg("path", path));
    };
    trace.route = if route.path.is_empty() {
        "/*".into()
    } else {
        format!("{}/*", route.path)
    };
    if !route.methods.is_empty() && !route.methods.iter().any(|m| m == req.method().as_str()) {
        let allowed = route.methods.join(", ");
        return Err(ApiError::condition(Condition::MethodNotAllowed)
            .arg("method", req.method().as_str())
            .arg("path", path)
            .arg("allowed", allowed.clone())
            .header("allow", allowed));
    }
    let ip = client_ip(peer, req.headers(), &cfg.trusted_proxies);
    let now_ms = gw.clock.now_ms();

    // Authenticate and authorize.
    let mut key_source = None;
    let key = if route.auth {
        let (presented, source) = match auth::presented_key(req.headers(), &cfg.key_headers) {
            Err(c) => return Err(ApiError::condition(c)),
            Ok(None) => return Err(ApiError::condition(Condition::MissingKey)),
            Ok(Some(k)) => k,
        };
        key_source = Some(source);
        let rec = auth::verify(
            &cfg.key_prefix,
            presented,
            gw.store.as_ref(),
            &gw.cache,
            cfg.store_timeout,
            (now_ms / 1000) as i64,
        )
        .await?;
        trace.key_id = Some(rec.id.clone());
        trace.tenant = Some(rec.tenant.clone());
        authorize(cfg, route, &rec, ip)?;
        if let Ok(mut m) = gw.last_used.lock() {
            m.insert(rec.id.clone(), (now_ms / 1000) as i64);
        }
        Some(rec)
    } else {
        None
    };

    // Limits.
    let mut lease = None;
    let mut windows = (None, None);
    if let Some(rec) = &key {
        let limits = cfg.limits_for(&rec.plan, route, rec.limits.as_ref());
        if limits.rate.is_some() || limits.monthly_quota.is_some() || limits.concurrency.is_some() {
            let subject = match cfg.limit_scope {
                LimitScope::Key => format!("k:{}", rec.id),
                LimitScope::Tenant => format!("t:{}", rec.tenant),
            };
            match check_limits(gw, &subject, &limits, now_ms).await? {
                Some(Outcome {
                    verdict: Verdict::Allowed(l),
                    rate,
                    quota,
                }) => {
                    metrics::limiter("allowed");
                    lease = Some(l);
                    windows = (rate, quota);
                    trace.windows = windows;
                }
                Some(Outcome {
                    verdict:
                        Verdict::Limited {
                            condition,
                            retry_after,
                            limit,
                        },
                    rate,
                    quota,
                }) => {
                    metrics::limiter(condition.name());
                    trace.windows = (rate, quota);
                    let mut err = ApiError::condition(condition)
                        .arg("retry_after", retry_after)
                        .arg("limit", limit)
                        .retry_after(retry_after);
                    for (n, v) in limit_headers(rate, quota) {
                        err = err.header(n.as_str(), v.to_str().unwrap_or_default());
                    }
                    return Err(err);
                }
                None => {} // failed open
            }
        }
    }

    // Body checks.
    let max_body = route.max_body_bytes.unwrap_or(cfg.max_body_bytes);
    let content_types = route.content_types.as_ref().unwrap_or(&cfg.content_types);
    let has_body = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v != "0")
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    if has_body && !content_types.is_empty() {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let media = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !content_types.iter().any(|t| t.eq_ignore_ascii_case(&media)) {
            return Err(ApiError::condition(Condition::UnsupportedContentType).arg(
                "content_type",
                if media.is_empty() {
                    "none".to_owned()
                } else {
                    media
                },
            ));
        }
    }
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > max_body
    {
        return Err(ApiError::condition(Condition::BodyTooLarge).arg("limit", max_body));
    }

    // Proxy.
    let identity = key.as_ref().map(|k| Identity {
        tenant: k.tenant.clone(),
        key_id: k.id.clone(),
        scopes: k.scopes.clone(),
        environment: Some(k.environment),
        plan: k.plan.clone(),
    });
    let (mut parts, body) = req.into_parts();
    proxy::upstream_headers(
        &mut parts.headers,
        identity.as_ref(),
        key_source.is_some(),
        (&gw.catalog.request_id().header, request_id),
        ip,
    );
    let body = Body::new(Limited::new(
        body,
        usize::try_from(max_body).unwrap_or(usize::MAX),
    ));
    let upstream_req = http::Request::from_parts(parts, body);
    let res = match gw.upstream.send(upstream_req).await {
        Ok(res) => res,
        Err(Condition::BodyTooLarge) => {
            return Err(ApiError::condition(Condition::BodyTooLarge).arg("limit", max_body));
        }
        Err(c @ Condition::UpstreamTimeout) => {
            return Err(ApiError::condition(c)
                .arg("timeout", gw.upstream.response_timeout().as_secs().max(1)));
        }
        Err(c) => return Err(ApiError::condition(c)),
    };
    let (mut parts, body) = res.into_parts();
    trace.upstream_status = Some(parts.status.as_u16());
    trace.upstream_request_id = parts
        .headers
        .get(gw.catalog.request_id().header.as_str())
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    proxy::strip_hop_by_hop(&mut parts.headers);
    for (n, v) in limit_headers(windows.0, windows.1) {
        parts.headers.insert(n, v);
    }
    if parts.status.as_u16() >= 400 {
        return upstream_error(gw, parts, body, request_id).await;
    }
    // The lease lives as long as the response body streams.
    let body = body.map_frame(move |f| {
        let _held = &lease;
        f
    });
    let res = Response::from_parts(parts, Body::new(body));
    if route.success_meta {
        return Ok(crate::success_meta::add(res, windows).await);
    }
    Ok(res)
}

/// Scopes, IP allowlist, environment, plan and feature.
fn authorize(cfg: &Config, route: &Route, rec: &KeyRecord, ip: IpAddr) -> Result<(), ApiError> {
    if !rec.ip_allowlist.is_empty() && !rec.ip_allowlist.iter().any(|n| n.contains(&ip)) {
        return Err(ApiError::condition(Condition::IpNotAllowed).arg("ip", ip.to_string()));
    }
    let env_ok = match route.environment {
        EnvironmentRule::Any => true,
        EnvironmentRule::Live => rec.environment == Environment::Live,
        EnvironmentRule::Test => rec.environment == Environment::Test,
    };
    if !env_ok {
        return Err(ApiError::condition(Condition::EnvironmentNotAllowed)
            .arg("environment", rec.environment.as_str()));
    }
    if let Some(missing) = route.scopes.iter().find(|s| !rec.scopes.contains(s)) {
        return Err(ApiError::condition(Condition::InsufficientScope).arg("scope", missing.clone()));
    }
    if !route.plans.is_empty() && !route.plans.contains(&rec.plan) {
        return Err(
            ApiError::condition(Condition::PlanInsufficient).arg("plan", route.plans[0].clone())
        );
    }
    if let Some(feature) = &route.feature {
        let has = cfg
            .plans
            .get(&rec.plan)
            .is_some_and(|p| p.features.contains(feature));
        if !has {
            let plan = cfg
                .plans
                .iter()
                .find(|(_, p)| p.features.contains(feature))
                .map_or("", |(n, _)| n.as_str());
            return Err(ApiError::condition(Condition::FeatureNotAvailable)
                .arg("feature", feature.clone())
                .arg("plan", plan));
        }
    }
    Ok(())
}

/// One call to the counters, bounded in time; `None` when failing open.
async fn check_limits(
    gw: &Gateway,
    subject: &str,
    limits: &Limits,
    now_ms: u64,
) -> Result<Option<Outcome>, ApiError> {
    let timeout = gw.config.counters_timeout;
    let failure =
        match tokio::time::timeout(timeout, gw.counters.check(subject, limits, now_ms)).await {
            Ok(Ok(o)) => return Ok(Some(o)),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("counters timed out after {} ms", timeout.as_millis()),
        };
    match gw.config.counters_failure {
        FailurePolicy::Open => {
            metrics::limiter("fail_open");
            tracing::warn!(error = %failure, "counters unavailable; failing open");
            Ok(None)
        }
        FailurePolicy::Closed => {
            metrics::limiter("fail_closed");
            tracing::warn!(error = %failure, "counters unavailable; failing closed");
            Err(ApiError::condition(Condition::ServiceUnavailable)
                .arg("retry_after", 1)
                .retry_after(1))
        }
    }
}

/// The standard rate-limit headers: the IETF draft's `RateLimit-Policy` and `RateLimit`, and
/// the common `X-RateLimit-*` (of the rate policy, else the quota).
pub fn limit_headers(
    rate: Option<Window>,
    quota: Option<Window>,
) -> Vec<(HeaderName, HeaderValue)> {
    let named = [("rate", rate), ("quota", quota)];
    let mut named = named.iter().filter_map(|(n, w)| w.map(|w| (*n, w)));
    let Some(main) = named.clone().next().map(|(_, w)| w) else {
        return Vec::new();
    };
    let (mut policy, mut state) = (String::with_capacity(48), String::with_capacity(48));
    for (i, (n, w)) in named.by_ref().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(policy, "{sep}\"{n}\";q={};w={}", w.limit, w.window);
        let _ = write!(state, "{sep}\"{n}\";r={};t={}", w.remaining, w.reset);
    }
    // Digits, quotes, `;`, `=`, `,` and spaces: always a valid header value.
    let value = |s: String| HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static(""));
    vec![
        (HeaderName::from_static("ratelimit-policy"), value(policy)),
        (HeaderName::from_static("ratelimit"), value(state)),
        (
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderValue::from(main.limit),
        ),
        (
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderValue::from(main.remaining),
        ),
        (
            HeaderName::from_static("x-ratelimit-reset"),
            HeaderValue::from(main.reset),
        ),
    ]
}

/// An upstream error: passed through when already in the envelope (with the request id added
/// if missing), otherwise normalized into the catalog's code for its status.
async fn upstream_error(
    gw: &Gateway,
    mut parts: http::response::Parts,
    body: hyper::body::Incoming,
    request_id: &str,
) -> Result<Response, ApiError> {
    let status = parts.status;
    let ct = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let collected = tokio::time::timeout(
        gw.upstream.response_timeout(),
        Limited::new(body, MAX_ERROR_BODY).collect(),
    )
    .await;
    let bytes = match collected {
        Ok(Ok(c)) => Some(c.to_bytes()),
        _ => None,
    };
    if let Some(bytes) = &bytes
        && let Some(parsed) = gw.catalog.parse_body(ct.as_deref(), bytes)
    {
        let code = parsed.code.unwrap_or_default();
        let mut out = bytes.clone();
        if parsed.request_id.is_none()
            && let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(bytes)
            && gw.catalog.insert_request_id(&mut v, request_id)
            && let Ok(b) = serde_json::to_vec(&v)
        {
            out = Bytes::from(b);
        }
        parts.headers.remove(header::CONTENT_LENGTH);
        let mut res = Response::from_parts(parts, Body::from(out));
        res.extensions_mut().insert(RenderedCode(code));
        return Ok(res);
    }
    // Not the envelope: an HTML 502 page, a plain-text 500, a framework's default.
    tracing::warn!(
        status = status.as_u16(),
        "upstream error outside the catalog normalized"
    );
    let mut err = ApiError::status(status.as_u16()).request_id(request_id);
    if let Some(secs) = parts
        .headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        err = err.retry_after(secs);
    }
    let mut res = error_response(&gw.catalog, &err, Format::Envelope);
    for (n, v) in parts.headers.iter() {
        let keep = n == header::ALLOW
            || n.as_str().starts_with("ratelimit")
            || n.as_str().starts_with("x-ratelimit");
        if keep {
            res.headers_mut().insert(n.clone(), v.clone());
        }
    }
    Ok(res)
}
