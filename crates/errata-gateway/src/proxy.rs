//! What goes upstream with a request: hop-by-hop headers removed, `X-Forwarded-*` set, identity
//! headers added (client-sent copies stripped). The client itself is [`crate::upstream`].

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

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

/// Who the request is from, as the upstream learns it.
#[derive(Clone, Debug, Default)]
pub struct Identity {
    pub tenant: String,
    pub key_id: String,
    pub scopes: Vec<String>,
    pub environment: Option<Environment>,
    pub plan: String,
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
    proto: &'static str,
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
    set("x-forwarded-proto", proto);
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
