//! Forwarding to the upstream: hop-by-hop headers removed, `Host` and `X-Forwarded-*` set,
//! identity headers added (client-sent copies stripped), connect and response timeouts, and
//! failures classified into conditions.

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use errata_core::Condition;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::keys::Environment;

/// The prefix of every identity header errata sends upstream.
pub const IDENTITY_PREFIX: &str = "x-errata-";

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The body errata sends upstream.
pub type ProxyBody =
    http_body_util::combinators::UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// Who the request is from, as the upstream learns it.
#[derive(Clone, Debug, Default)]
pub struct Identity {
    pub tenant: String,
    pub key_id: String,
    pub scopes: Vec<String>,
    pub environment: Option<Environment>,
    pub plan: String,
}

/// The upstream HTTP client.
#[derive(Clone)]
pub struct Upstream {
    client: Client<HttpConnector, ProxyBody>,
    base: Uri,
    authority: HeaderValue,
    response_timeout: Duration,
}

impl Upstream {
    pub fn new(
        base: &str,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Result<Upstream, String> {
        let base: Uri = base
            .parse()
            .map_err(|e| format!("upstream `{base}`: {e}"))?;
        let authority = base
            .authority()
            .ok_or_else(|| format!("upstream `{base}` has no host"))?
            .as_str()
            .parse()
            .map_err(|_| format!("upstream `{base}` has an invalid host"))?;
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(256)
            .build(connector);
        Ok(Upstream {
            client,
            base,
            authority,
            response_timeout,
        })
    }

    /// Sends the request upstream. `path_and_query` is the client's.
    pub async fn send(&self, mut req: Request<ProxyBody>) -> Result<Response<Incoming>, Condition> {
        let pq = req
            .uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        let base_path = self.base.path().trim_end_matches('/');
        let uri = Uri::builder()
            .scheme(self.base.scheme_str().unwrap_or("http"))
            .authority(self.authority.to_str().unwrap_or_default())
            .path_and_query(format!("{base_path}{pq}"))
            .build()
            .map_err(|_| Condition::InvalidParameter)?;
        *req.uri_mut() = uri;
        req.headers_mut()
            .insert(header::HOST, self.authority.clone());
        match tokio::time::timeout(self.response_timeout, self.client.request(req)).await {
            Err(_) => Err(Condition::UpstreamTimeout),
            Ok(Ok(res)) => Ok(res),
            Ok(Err(e)) => Err(classify(&e)),
        }
    }

    pub fn response_timeout(&self) -> Duration {
        self.response_timeout
    }
}

/// Which condition a client error is.
fn classify(e: &hyper_util::client::legacy::Error) -> Condition {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return Condition::BodyTooLarge;
        }
        if let Some(h) = s.downcast_ref::<hyper::Error>()
            && h.is_parse()
        {
            return Condition::UpstreamInvalidResponse;
        }
        source = s.source();
    }
    if e.is_connect() {
        tracing::warn!(error = %e, "upstream unreachable");
    } else {
        tracing::warn!(error = ?e, "upstream failed");
    }
    Condition::UpstreamUnreachable
}

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for h in HOP_BY_HOP {
        headers.remove(*h);
    }
}

/// Prepares the client's headers for the upstream.
pub fn upstream_headers(
    headers: &mut HeaderMap,
    identity: Option<&Identity>,
    strip_key_headers: bool,
    request_id: (&str, &str),
    client_ip: IpAddr,
) {
    strip_hop_by_hop(headers);
    let forged: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with(IDENTITY_PREFIX))
        .cloned()
        .collect();
    for k in forged {
        headers.remove(k);
    }
    if strip_key_headers {
        headers.remove(header::AUTHORIZATION);
        headers.remove("x-api-key");
    }
    let original_host = headers.get(header::HOST).cloned();
    let xff = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {client_ip}"),
        None => client_ip.to_string(),
    };
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    if let Some(id) = identity {
        set("x-errata-tenant", &id.tenant);
        set("x-errata-key-id", &id.key_id);
        set("x-errata-scopes", &id.scopes.join(" "));
        set("x-errata-plan", &id.plan);
        if let Some(env) = id.environment {
            set("x-errata-environment", env.as_str());
        }
    }
    set("x-forwarded-proto", "http");
    if let Some(h) = original_host.as_ref().and_then(|h| h.to_str().ok()) {
        set("x-forwarded-host", h);
    }
    set("x-forwarded-for", &xff);
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(request_id.0.as_bytes()),
        HeaderValue::from_str(request_id.1),
    ) {
        headers.insert(n, v);
    }
}
