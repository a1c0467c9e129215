//! What goes upstream with a request: hop-by-hop headers removed, `X-Forwarded-*` set, identity
//! headers added (client-sent copies stripped). The client itself is [`crate::upstream`].

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use errata_store::keys::Environment;

/// The prefix of every identity header errata sends upstream.
pub const IDENTITY_PREFIX: &str = "x-errata-";

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1). Names made once:
/// removing by a `&str` would parse the name on every call.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_ERRATA_TENANT: HeaderName = HeaderName::from_static("x-errata-tenant");
const X_ERRATA_KEY_ID: HeaderName = HeaderName::from_static("x-errata-key-id");
const X_ERRATA_SCOPES: HeaderName = HeaderName::from_static("x-errata-scopes");
const X_ERRATA_PLAN: HeaderName = HeaderName::from_static("x-errata-plan");
const X_ERRATA_ENVIRONMENT: HeaderName = HeaderName::from_static("x-errata-environment");

/// Who the request is from, as the upstream learns it.
#[derive(Clone, Copy, Debug)]
pub struct Identity<'a> {
    pub tenant: &'a str,
    pub key_id: &'a str,
    pub scopes: &'a [String],
    pub environment: Option<Environment>,
    pub plan: &'a str,
}

/// Whether a header name with `_` in it reads, with each `_` as `-`, as a header the gateway
/// removes or sets itself (hop-by-hop, framing, `Host`, forwarding, identity, the request id,
/// a key). Servers that turn header names into variables (CGI, WSGI, Rack, PHP) make no
/// difference between the two spellings, so such a header is never forwarded: it could frame
/// a body the gateway did not see, or pose as an identity the gateway did not verify.
pub fn underscore_alias(name: &[u8], request_id: &str) -> bool {
    if !name.contains(&b'_') || name.len() > 64 {
        return false;
    }
    let mut dashed = [0u8; 64];
    for (d, &b) in dashed.iter_mut().zip(name) {
        *d = if b == b'_' {
            b'-'
        } else {
            b.to_ascii_lowercase()
        };
    }
    let dashed = &dashed[..name.len()];
    const SENSITIVE: [&str; 17] = [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "host",
        "expect",
        "authorization",
        "x-api-key",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
    ];
    SENSITIVE.iter().any(|s| s.as_bytes() == dashed)
        || dashed.starts_with(IDENTITY_PREFIX.as_bytes())
        || dashed == request_id.as_bytes()
}

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(header::CONNECTION) {
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
    }
    for h in &HOP_BY_HOP {
        headers.remove(h);
    }
}

/// Prepares the client's headers for the upstream.
pub fn upstream_headers(
    headers: &mut HeaderMap,
    identity: Option<Identity<'_>>,
    strip_key_headers: bool,
    request_id: (&HeaderName, &str),
    client_ip: IpAddr,
    proto: &'static str,
) {
    strip_hop_by_hop(headers);
    if headers
        .keys()
        .any(|k| k.as_str().starts_with(IDENTITY_PREFIX))
    {
        let forged: Vec<HeaderName> = headers
            .keys()
            .filter(|k| k.as_str().starts_with(IDENTITY_PREFIX))
            .cloned()
            .collect();
        for k in forged {
            headers.remove(k);
        }
    }
    if headers
        .keys()
        .any(|k| underscore_alias(k.as_str().as_bytes(), request_id.0.as_str()))
    {
        let aliases: Vec<HeaderName> = headers
            .keys()
            .filter(|k| underscore_alias(k.as_str().as_bytes(), request_id.0.as_str()))
            .cloned()
            .collect();
        for k in aliases {
            headers.remove(k);
        }
    }
    if strip_key_headers {
        headers.remove(header::AUTHORIZATION);
        headers.remove(X_API_KEY);
    }
    let original_host = headers.get(header::HOST).cloned();
    let xff = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {client_ip}"),
        None => client_ip.to_string(),
    };
    let mut set = |name: HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    if let Some(id) = identity {
        set(X_ERRATA_TENANT, id.tenant);
        set(X_ERRATA_KEY_ID, id.key_id);
        set(X_ERRATA_SCOPES, &id.scopes.join(" "));
        set(X_ERRATA_PLAN, id.plan);
        if let Some(env) = id.environment {
            set(X_ERRATA_ENVIRONMENT, env.as_str());
        }
    }
    set(X_FORWARDED_FOR, &xff);
    set(request_id.0.clone(), request_id.1);
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    if let Some(h) = original_host {
        headers.insert(X_FORWARDED_HOST, h);
    }
}
