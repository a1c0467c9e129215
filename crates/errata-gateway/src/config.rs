//! The gateway's configuration: a TOML file validated up front, every problem with its line.
//!
//! With no file the gateway runs on embedded defaults: a SQLite key store next to the working
//! directory, in-memory counters, the built-in catalog, one catch-all route that needs a key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use errata_core::schema::{Document, Examples, Shape};
use errata_core::{Catalog, Diagnostic, Diagnostics};
use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use errata_store::counters::FailurePolicy;
use errata_store::plans::{LimitScope, Limits, Plan, RawPlan, plans_from_raw};
use errata_store::{At, Report};

/// Which key environment a route accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EnvironmentRule {
    #[default]
    Any,
    Live,
    Test,
}

/// One route and its policy. Routes match by path prefix (`/v1/reports` matches
/// `/v1/reports/42`), longest prefix first; `methods` empty means any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub path: String,
    pub methods: Vec<String>,
    /// Whether a key is needed (false for public routes such as a health check).
    pub auth: bool,
    pub scopes: Vec<String>,
    /// Plans allowed; empty means any plan.
    pub plans: Vec<String>,
    /// A feature the key's plan must include.
    pub feature: Option<String>,
    pub environment: EnvironmentRule,
    /// Limits for this route, over the plan's.
    pub limits: Option<Limits>,
    pub max_body_bytes: Option<u64>,
    /// Accepted request content types; empty means any.
    pub content_types: Option<Vec<String>>,
    /// Whether `POST` and `PATCH` honour the idempotency key (see `crate::idempotency`).
    pub idempotency: bool,
    /// Add `meta.remaining_requests` (and limit and reset) to JSON object bodies of successes.
    pub success_meta: bool,
}

impl Route {
    /// Whether `path` is this route's path or below it (on segment boundaries).
    pub fn matches(&self, path: &str) -> bool {
        self.path.is_empty()
            || path == self.path
            || (path.starts_with(&self.path) && path.as_bytes().get(self.path.len()) == Some(&b'/'))
    }

    /// The route's name in metrics and logs: `/v1/reports/*`, or `/*` for the catch-all.
    pub fn name(&self) -> String {
        format!("{}/*", self.path)
    }
}

/// The whole configuration, validated.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// TLS on the public listener (`[tls]`); plain HTTP without it.
    pub tls: Option<crate::tls::TlsFiles>,
    pub upstream: String,
    /// A private CA an `https://` upstream's certificate is verified against, instead of the
    /// system's roots.
    pub upstream_ca: Option<PathBuf>,
    pub catalog: Catalog,
    pub catalog_path: Option<PathBuf>,
    pub store_url: String,
    pub counters_url: String,
    pub key_prefix: String,
    /// Headers a key is accepted from: `authorization` (Bearer) and/or `x-api-key`.
    pub key_headers: Vec<String>,
    pub trusted_proxies: Vec<IpNet>,
    /// An inbound request-id header trusted from clients (for a hop in front of errata).
    pub trusted_request_id_header: Option<String>,
    pub errors_path: String,
    /// A path the gateway answers itself, without a key, with its readiness (`health_path`):
    /// 200 `{"status":"ready"}` or the catalog's 503. Unset: no such path.
    pub health_path: Option<String>,
    /// The gateway's address as its clients reach it (`https://api.example.com`), which makes
    /// every error's `doc_url` a link that can be followed from a log line or an exception;
    /// derived from the listen address when unset.
    pub public_url: Option<String>,
    /// Whether an upstream error in the envelope passes only with a catalog code at that
    /// code's status (otherwise it is normalized). Off for an API migrating to its catalog.
    pub check_upstream_errors: bool,
    /// Whether the upstream's `Server` header reaches the client (off: it is dropped).
    pub pass_server_header: bool,
    /// Whether the config file (and the catalog it names) is watched and read again when it
    /// changes, as on SIGHUP (`watch_config`).
    pub watch_config: bool,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    pub store_timeout: Duration,
    pub counters_timeout: Duration,
    pub shutdown_grace: Duration,
    /// How long, on SIGTERM/SIGINT, the gateway keeps serving while not ready before it stops
    /// accepting (`timeouts.drain_ms`), so a load balancer sees it leave first.
    pub drain: Duration,
    pub key_cache_ttl: Duration,
    /// How long a client has to send a complete request head.
    pub header_read_timeout: Duration,
    /// Worker threads, each with its own runtime and listening socket.
    pub workers: usize,
    /// Open public connections allowed at once; past it new ones get the catalog's 503.
    pub max_connections: usize,
    /// How long past `key_cache_ttl` a verification is still served while the store is asked
    /// again (or failing).
    pub key_cache_max_stale: Duration,
    /// About how many verifications the cache holds.
    pub key_cache_capacity: usize,
    pub counters_failure: FailurePolicy,
    pub limit_scope: LimitScope,
    pub default_plan: String,
    pub plans: BTreeMap<String, Plan>,
    pub default_limits: Limits,
    pub max_body_bytes: u64,
    pub content_types: Vec<String>,
    pub routes: Vec<Route>,
    pub idempotency: errata_store::idempotency::Settings,
    pub request_log: errata_store::reqlog::RequestLogConfig,
    /// Trace context and OTLP export (`[tracing]`).
    pub tracing: crate::otlp::TracingConfig,
    /// How log lines are written: one JSON object each, or text for a terminal.
    pub log_format: LogFormat,
    /// What is logged, as a tracing-subscriber `EnvFilter` directive (`"info"`,
    /// `"info,errata::access=warn"`); `RUST_LOG`, when set, wins over it.
    pub log_level: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<Spanned<String>>,
    tls: Option<Spanned<RawTls>>,
    upstream: Option<Spanned<String>>,
    upstream_ca: Option<Spanned<String>>,
    catalog: Option<Spanned<String>>,
    store: Option<Spanned<String>>,
    counters: Option<Spanned<String>>,
    key_prefix: Option<Spanned<String>>,
    key_headers: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    trusted_proxies: Vec<Spanned<String>>,
    trusted_request_id_header: Option<String>,
    errors_path: Option<Spanned<String>>,
    health_path: Option<Spanned<String>>,
    public_url: Option<Spanned<String>>,
    #[serde(default = "yes")]
    check_upstream_errors: bool,
    #[serde(default)]
    pass_server_header: bool,
    #[serde(default)]
    watch_config: bool,
    workers: Option<Spanned<i64>>,
    max_connections: Option<Spanned<i64>>,
    /// `[admin]` and `[portal]` belong to the admin side, which reads them from the same
    /// source; they are only let through here.
    #[serde(rename = "admin")]
    _admin: Option<toml::Value>,
    #[serde(default)]
    timeouts: RawTimeouts,
    #[serde(default)]
    key_cache: RawKeyCache,
    #[serde(default)]
    failure: RawFailure,
    #[serde(default)]
    limits: RawDefaults,
    #[serde(default)]
    plans: BTreeMap<String, Spanned<RawPlan>>,
    #[serde(default)]
    routes: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    idempotency: errata_store::idempotency::RawSettings,
    #[serde(default)]
    request_log: errata_store::reqlog::RequestLogConfig,
    #[serde(default)]
    tracing: crate::otlp::RawTracing,
    #[serde(rename = "portal")]
    _portal: Option<toml::Value>,
    log_format: Option<LogFormat>,
    log_level: Option<Spanned<String>>,
}

/// A listener's certificate chain and key (PEM files).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert: Spanned<String>,
    pub key: Spanned<String>,
}

/// A listener's address, or `default` when it is not given.
pub fn socket_addr(
    s: &Option<Spanned<String>>,
    default: SocketAddr,
    at: At<'_>,
    err: Report<'_>,
) -> SocketAddr {
    match s {
        None => default,
        Some(s) => s.get_ref().parse().unwrap_or_else(|_| {
            err(
                at(s.span().start),
                format!("`{}` is not a socket address", s.get_ref()),
                "write an IP and a port, e.g. \"127.0.0.1:8080\" or \"0.0.0.0:8080\"",
            );
            default
        }),
    }
}

/// A listener's certificate files, loaded once: a missing file or a key that does not match
/// the certificate is reported at the line that names it.
pub fn listener_tls(
    t: &Option<Spanned<RawTls>>,
    base: &Path,
    at: At<'_>,
    err: Report<'_>,
) -> Option<crate::tls::TlsFiles> {
    let t = t.as_ref()?.get_ref();
    crate::tls::settings::listener_files(t.cert.get_ref(), t.key.get_ref(), base)
        .map_err(|e| {
            let span = if e.file == base.join(t.key.get_ref()) {
                &t.key
            } else {
                &t.cert
            };
            err(
                at(span.span().start),
                format!("{}: {}", e.file.display(), e.problem),
                e.fix,
            );
        })
        .ok()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTimeouts {
    connect_ms: Option<u64>,
    response_ms: Option<u64>,
    store_ms: Option<u64>,
    counters_ms: Option<u64>,
    shutdown_ms: Option<u64>,
    drain_ms: Option<u64>,
    key_cache_ms: Option<u64>,
    header_read_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawKeyCache {
    capacity: Option<Spanned<u64>>,
    max_stale_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFailure {
    counters: Option<FailurePolicy>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    scope: Option<LimitScope>,
    default_plan: Option<Spanned<String>>,
    max_body_bytes: Option<u64>,
    content_types: Option<Vec<String>>,
    rate: Option<u32>,
    per_seconds: Option<u32>,
    burst: Option<u32>,
    monthly_quota: Option<u64>,
    concurrency: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    path: Spanned<String>,
    #[serde(default)]
    methods: Vec<Spanned<String>>,
    #[serde(default = "yes")]
    auth: bool,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    plans: Vec<Spanned<String>>,
    feature: Option<Spanned<String>>,
    #[serde(default)]
    environment: EnvironmentRule,
    limits: Option<Limits>,
    max_body_bytes: Option<u64>,
    content_types: Option<Vec<String>>,
    #[serde(default)]
    idempotency: bool,
    #[serde(default)]
    success_meta: bool,
}

fn yes() -> bool {
    true
}

/// How the process writes its log lines (`log_format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object a line, for a log collector.
    #[default]
    Json,
    /// One human-readable line an event, for a terminal.
    Text,
}

/// The level logged when `log_level` is not set.
pub const DEFAULT_LOG_LEVEL: &str = "info";

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// What is wrong with a `log_level` directive, if anything: a filter tracing-subscriber cannot
/// read, or a bare word that is a misspelt level (`infoo`, `warning`), which the filter would
/// otherwise take as a target's name and quietly log nothing of what was meant.
pub fn log_level_problem(directive: &str) -> Option<(String, String)> {
    let help = "give a level (error, warn, info, debug, trace) or directives such as \"info,errata::access=warn\"";
    if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(directive) {
        return Some((
            format!("log_level `{directive}` is not a log filter: {e}"),
            help.to_owned(),
        ));
    }
    for word in directive.split(',').map(str::trim) {
        let bare = !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphabetic());
        let lower = word.to_ascii_lowercase();
        if !bare || LEVELS.contains(&lower.as_str()) {
            continue;
        }
        let prefixed = LEVELS.iter().copied().find(|l| lower.starts_with(l));
        if let Some(level) = prefixed.or_else(|| errata_core::suggest::closest(&lower, &LEVELS)) {
            return Some((
                format!("log_level `{directive}`: `{word}` is not a level"),
                format!("did you mean `{level}`?"),
            ));
        }
    }
    None
}

/// An address to connect to for a listener on `addr`: one on every address (`0.0.0.0`, `::`)
/// is reached on loopback.
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(a) if a.ip().is_unspecified() => {
            SocketAddr::from(([127, 0, 0, 1], a.port()))
        }
        SocketAddr::V6(a) if a.ip().is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, a.port()))
        }
        a => a,
    }
}

/// The default upstream: a service on this machine's port 3000.
pub const DEFAULT_UPSTREAM: &str = "http://127.0.0.1:3000";

/// The default key prefix: keys look like `errata_live_<secret>`.
pub const DEFAULT_KEY_PREFIX: &str = "errata";

/// The default SQLite store: a file in the working directory.
pub const DEFAULT_STORE: &str = "sqlite://errata-keys.db";

/// Example values that type errors quote ("a string like \"127.0.0.1:8080\"").
pub const EXAMPLES: Examples<'static> = &[
    ("listen", "\"127.0.0.1:8080\""),
    ("upstream", "\"http://127.0.0.1:3000\""),
    ("upstream_ca", "\"ca.pem\""),
    ("catalog", "\"catalogs/klayrai.toml\""),
    ("store", "\"sqlite://errata-keys.db\""),
    ("counters", "\"memory://\""),
    ("key_prefix", "\"klyr\""),
    ("key_headers", "[\"authorization\", \"x-api-key\"]"),
    ("trusted_proxies", "[\"10.0.0.0/8\"]"),
    ("trusted_request_id_header", "\"x-request-id\""),
    ("errors_path", "\"/errors\""),
    ("health_path", "\"/healthz\""),
    ("public_url", "\"https://api.example.com\""),
    ("workers", "2"),
    ("max_connections", "10000"),
    ("tls.cert", "\"cert.pem\""),
    ("tls.key", "\"key.pem\""),
    ("timeouts.connect_ms", "2000"),
    ("timeouts.response_ms", "30000"),
    ("timeouts.drain_ms", "5000"),
    ("key_cache.capacity", "100000"),
    ("limits.default_plan", "\"free\""),
    ("limits.content_types", "[\"application/json\"]"),
    ("limits.rate", "100"),
    ("limits.per_seconds", "60"),
    ("plans.*.features", "[\"exports\"]"),
    ("plans.*.rate", "100"),
    ("routes.path", "\"/v1/reports\""),
    ("routes.methods", "[\"GET\", \"POST\"]"),
    ("routes.scopes", "[\"reports:read\"]"),
    ("routes.plans", "[\"pro\"]"),
    ("routes.content_types", "[\"application/json\"]"),
    ("idempotency.header", "\"Idempotency-Key\""),
    ("request_log.success_sample", "0.1"),
    ("tracing.otlp", "\"http://127.0.0.1:4318\""),
    ("tracing.sample", "0.01"),
    ("tracing.service_name", "\"errata\""),
    ("log_format", "\"json\""),
    ("log_level", "\"info,errata::access=warn\""),
];

impl Config {
    /// The base of every error's `doc_url`: `public_url`, or the listen address (loopback for
    /// a wildcard one, see [`reachable`]), `https` with `[tls]`.
    pub fn public_base(&self) -> String {
        if let Some(u) = &self.public_url {
            return u.clone();
        }
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", reachable(self.listen))
    }

    /// What the gateway's keys and the state's sections may hold, traced from the types that
    /// read them: unknown keys and wrong types are found against it.
    pub fn shape() -> Shape {
        Shape::of::<RawConfig>()
    }

    /// Validates config source, collecting every problem of the gateway's keys and the state's
    /// sections: unknown keys (with the nearest known one), wrong types, and wrong values. The
    /// `errata` binary's `Config` checks the whole file (the admin side's sections too) and
    /// calls [`Config::from_document`].
    pub fn from_toml(src: &str, base: &Path) -> Result<Config, Diagnostics> {
        let mut doc = Document::parse(src).map_err(|d| Diagnostics(vec![d]))?;
        let mut problems = doc.check(&Config::shape(), EXAMPLES);
        let result = Config::from_document(&doc, base);
        let mut all = match result {
            Ok(c) if problems.is_empty() => return Ok(c),
            Ok(_) => Diagnostics(Vec::new()),
            Err(d) => d,
        };
        problems.append(&mut all.0);
        let mut d = Diagnostics(problems);
        d.sort();
        Err(d)
    }

    /// Validates the gateway's keys of a parsed file (checked against [`Config::shape`], with
    /// what that refused left out): every wrong value, each at its line.
    pub fn from_document(doc: &Document<'_>, base: &Path) -> Result<Config, Diagnostics> {
        let at = |off: usize| doc.position(off);
        let raw: RawConfig = doc.deserialize().map_err(Diagnostics)?;
        let mut diags = Vec::new();
        let mut err = |pos: (usize, usize), msg: String, help: &str| {
            diags.push(Diagnostic::error(pos, msg).help(help.to_owned()));
        };

        let listen = socket_addr(
            &raw.listen,
            SocketAddr::from(([127, 0, 0, 1], 8080)),
            &at,
            &mut err,
        );

        let upstream = match &raw.upstream {
            None => DEFAULT_UPSTREAM.to_owned(),
            Some(u) => {
                let s = u.get_ref().trim_end_matches('/').to_owned();
                if !(s.starts_with("http://") || s.starts_with("https://"))
                    || s.parse::<http::Uri>().is_err()
                {
                    err(
                        at(u.span().start),
                        format!("upstream `{}` is not an http:// URL", u.get_ref()),
                        "give the upstream's base URL, e.g. \"http://127.0.0.1:3000\" or \"https://api.internal\"",
                    );
                }
                s
            }
        };
        // TLS: listener certificates loaded once (a missing file or a key that does not match
        // the certificate stops the gateway here), the upstream's private CA read once.
        let tls = listener_tls(&raw.tls, base, &at, &mut err);
        let upstream_ca = raw.upstream_ca.as_ref().and_then(|ca| {
            if !upstream.starts_with("https://") {
                err(
                    at(ca.span().start),
                    "upstream_ca is set but the upstream is not https://".into(),
                    "write the upstream as https://..., or drop upstream_ca",
                );
                return None;
            }
            crate::tls::settings::upstream_ca(ca.get_ref(), base)
                .map_err(|e| {
                    err(
                        at(ca.span().start),
                        format!("{}: {}", e.file.display(), e.problem),
                        e.fix,
                    )
                })
                .ok()
        });

        let mut catalog_problems = Vec::new();
        let (catalog, catalog_path) = match &raw.catalog {
            None => (Catalog::builtin().clone(), None),
            Some(p) => {
                let path = base.join(p.get_ref());
                match Catalog::from_file(&path) {
                    Ok(c) => (c, Some(path)),
                    Err(d) => {
                        let file = path.display().to_string();
                        err(
                            at(p.span().start),
                            format!("catalog `{file}` is not a valid catalog"),
                            &format!("fix it (`errata catalog check {file}`), or point at another"),
                        );
                        // The catalog's own problems, each in its file, after the config's.
                        catalog_problems.extend(d.0.into_iter().map(|d| match d.file {
                            Some(_) => d,
                            None => d.in_file(file.clone()),
                        }));
                        (Catalog::builtin().clone(), None)
                    }
                }
            }
        };

        let store_url = match &raw.store {
            None => DEFAULT_STORE.to_owned(),
            Some(s) => {
                let v = s.get_ref();
                if !(v.starts_with("sqlite:")
                    || v.starts_with("postgres://")
                    || v.starts_with("postgresql://"))
                {
                    err(
                        at(s.span().start),
                        format!("store `{v}` is not a sqlite: or postgres:// URL"),
                        "use e.g. \"sqlite://errata-keys.db\"",
                    );
                }
                match v.strip_prefix("sqlite://") {
                    Some(file) if !file.starts_with('/') && !file.starts_with(':') => {
                        format!("sqlite://{}", base.join(file).display())
                    }
                    _ if v.starts_with("postgres") => crate::tls::settings::postgres_url(v, base)
                        .unwrap_or_else(|(msg, fix)| {
                            err(at(s.span().start), format!("store: {msg}"), fix);
                            v.clone()
                        }),
                    _ => v.clone(),
                }
            }
        };
        let counters_url = match &raw.counters {
            None => "memory://".to_owned(),
            Some(s) => {
                let v = s.get_ref();
                let at_value = at(s.span().start);
                let redis = errata_store::counters::is_redis(v);
                if !(v.starts_with("memory:") || redis) {
                    err(
                        at_value,
                        format!("counters `{v}` is not memory:// or a Redis URL"),
                        "use \"memory://\" for one instance, \"redis://HOST:6379\" for several, \
                         or \"redis+cluster://HOST:6379,HOST:6379\" for a Redis Cluster",
                    );
                    v.clone()
                } else if let Some(Err(msg)) = redis.then(|| errata_store::counters::check_url(v)) {
                    err(
                        at_value,
                        format!("counters: {msg}"),
                        "write redis://HOST:PORT, or redis+cluster://HOST:PORT,HOST:PORT for a \
                         Redis Cluster (rediss:// and rediss+cluster:// over TLS)",
                    );
                    v.clone()
                } else {
                    crate::tls::settings::redis_url(v, base).unwrap_or_else(|(msg, fix)| {
                        err(at_value, format!("counters: {msg}"), fix);
                        v.clone()
                    })
                }
            }
        };

        let key_prefix = match &raw.key_prefix {
            None => DEFAULT_KEY_PREFIX.to_owned(),
            Some(p) => {
                let v = p.get_ref();
                if v.is_empty()
                    || v.len() > 16
                    || !v
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                {
                    err(
                        at(p.span().start),
                        format!("key_prefix `{v}` must be 1 to 16 lower-case letters or digits"),
                        "keys look like <prefix>_live_<secret>, e.g. key_prefix = \"klyr\"",
                    );
                }
                v.clone()
            }
        };
        let key_headers = match &raw.key_headers {
            None => vec!["authorization".to_owned(), "x-api-key".to_owned()],
            Some(hs) => {
                if hs.is_empty() {
                    err(
                        (0, 0),
                        "key_headers is empty".into(),
                        "accept \"authorization\", \"x-api-key\" or both",
                    );
                }
                hs.iter()
                    .map(|h| {
                        let v = h.get_ref().to_ascii_lowercase();
                        if v != "authorization" && v != "x-api-key" {
                            err(
                                at(h.span().start),
                                format!("`{}` is not a key header errata reads", h.get_ref()),
                                "use \"authorization\" (Bearer) or \"x-api-key\"",
                            );
                        }
                        v
                    })
                    .collect()
            }
        };
        let trusted_proxies = raw
            .trusted_proxies
            .iter()
            .filter_map(|p| {
                let v = p.get_ref();
                v.parse::<IpNet>()
                    .or_else(|_| v.parse::<std::net::IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        err(
                            at(p.span().start),
                            format!("trusted proxy `{v}` is not an IP address or CIDR"),
                            "write e.g. \"10.0.0.0/8\" or \"127.0.0.1\"",
                        )
                    })
                    .ok()
            })
            .collect();
        let errors_path = match &raw.errors_path {
            None => "/errors".to_owned(),
            Some(p) => {
                if !p.get_ref().starts_with('/') {
                    err(
                        at(p.span().start),
                        format!("errors_path `{}` must start with /", p.get_ref()),
                        "e.g. \"/errors\"",
                    );
                }
                p.get_ref().clone()
            }
        };
        let health_path = raw.health_path.as_ref().map(|p| {
            let v = p.get_ref();
            if !v.starts_with('/') {
                err(
                    at(p.span().start),
                    format!("health_path `{v}` must start with /"),
                    "e.g. \"/healthz\"",
                );
            } else if *v == errors_path {
                err(
                    at(p.span().start),
                    format!("health_path `{v}` is the errors_path too"),
                    "give the health check a path of its own, e.g. \"/healthz\"",
                );
            }
            v.clone()
        });
        let public_url = raw.public_url.as_ref().and_then(|u| {
            let url = u.get_ref().trim_end_matches('/');
            match url.parse::<http::Uri>() {
                Ok(uri)
                    if matches!(uri.scheme_str(), Some("http" | "https"))
                        && uri.host().is_some()
                        && uri.query().is_none() =>
                {
                    Some(url.to_owned())
                }
                _ => {
                    err(
                        at(u.span().start),
                        format!(
                            "public_url `{}` is not an http:// or https:// URL",
                            u.get_ref()
                        ),
                        "give the address clients call, e.g. \"https://api.example.com\"",
                    );
                    None
                }
            }
        });
        let mut count = |v: &Option<Spanned<i64>>, name: &str, default: usize, help: &str| match v {
            None => default,
            Some(n) => match usize::try_from(*n.get_ref()) {
                Ok(c) if c >= 1 => c,
                _ => {
                    err(
                        at(n.span().start),
                        format!("{name} = {} must be at least 1", n.get_ref()),
                        help,
                    );
                    default
                }
            },
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = count(
            &raw.workers,
            "workers",
            cores,
            "leave it out for one worker per core, or give a count such as 2",
        );
        let max_connections = count(
            &raw.max_connections,
            "max_connections",
            10_000,
            "give the open connections allowed at once, e.g. 10000",
        );
        if raw.timeouts.header_read_ms == Some(0) {
            err(
                (0, 0),
                "timeouts.header_read_ms is 0".into(),
                "give clients time to send a request head, e.g. 30000",
            );
        }

        let ms = |v: Option<u64>, d: u64| Duration::from_millis(v.unwrap_or(d));
        let t = &raw.timeouts;
        let key_cache_capacity = match &raw.key_cache.capacity {
            None => errata_store::key_cache::DEFAULT_CAPACITY,
            Some(c) => {
                let n = *c.get_ref();
                if n == 0 || n > 100_000_000 {
                    err(
                        at(c.span().start),
                        format!("key_cache.capacity {n} is out of range"),
                        "give the most verified keys to keep, from 1 to 100000000 (default 100000)",
                    );
                }
                n as usize
            }
        };

        let (plans, default_plan) =
            plans_from_raw(&raw.plans, &raw.limits.default_plan, &at, &mut err);
        let l = &raw.limits;
        let default_limits = Limits::from_fields(
            l.rate,
            l.per_seconds,
            l.burst,
            l.monthly_quota,
            l.concurrency,
        );
        if default_limits.per_seconds == 0 || default_limits.rate == Some(0) {
            err(
                (0, 0),
                "[limits] has a zero rate or window".into(),
                "rate and per_seconds must be at least 1",
            );
        }

        let idempotency =
            errata_store::idempotency::Settings::from_raw(&raw.idempotency, &at, &mut err);

        let mut routes = Vec::new();
        for r in &raw.routes {
            let rr = r.get_ref();
            let path = rr.path.get_ref();
            if !path.starts_with('/') {
                err(
                    at(rr.path.span().start),
                    format!("route path `{path}` must start with /"),
                    "e.g. path = \"/v1/reports\"",
                );
            }
            let mut methods = Vec::new();
            for m in &rr.methods {
                let v = m.get_ref().to_ascii_uppercase();
                if !matches!(
                    v.as_str(),
                    "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS"
                ) {
                    err(
                        at(m.span().start),
                        format!("`{}` is not an HTTP method", m.get_ref()),
                        "use GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS",
                    );
                }
                methods.push(v);
            }
            for p in &rr.plans {
                if !plans.contains_key(p.get_ref()) {
                    err(
                        at(p.span().start),
                        format!(
                            "route `{path}` names plan `{}`, which is not defined",
                            p.get_ref()
                        ),
                        "define it under [plans.NAME]",
                    );
                }
            }
            if let Some(f) = &rr.feature
                && !plans.values().any(|p| p.features.contains(f.get_ref()))
            {
                err(
                    at(f.span().start),
                    format!("no plan includes feature `{}`", f.get_ref()),
                    "add it to a plan's `features`, or the route can never be used",
                );
            }
            if let Some(l) = &rr.limits
                && (l.per_seconds == 0 || l.rate == Some(0))
            {
                err(
                    at(r.span().start),
                    format!("route `{path}` has a zero rate or window"),
                    "rate and per_seconds must be at least 1",
                );
            }
            if rr.idempotency && !rr.auth {
                err(
                    at(r.span().start),
                    format!("route `{path}` has idempotency = true but auth = false"),
                    "idempotency keys are kept per tenant or API key: the route needs a key",
                );
            }
            routes.push(Route {
                path: path.trim_end_matches('/').to_owned(),
                methods,
                auth: rr.auth,
                scopes: rr.scopes.clone(),
                plans: rr.plans.iter().map(|p| p.get_ref().clone()).collect(),
                feature: rr.feature.as_ref().map(|f| f.get_ref().clone()),
                environment: rr.environment,
                limits: rr.limits.clone(),
                max_body_bytes: rr.max_body_bytes,
                content_types: rr.content_types.clone(),
                idempotency: rr.idempotency,
                success_meta: rr.success_meta,
            });
        }
        if routes.is_empty() {
            routes.push(Route {
                path: String::new(),
                methods: Vec::new(),
                auth: true,
                scopes: Vec::new(),
                plans: Vec::new(),
                feature: None,
                environment: EnvironmentRule::Any,
                limits: None,
                max_body_bytes: None,
                content_types: None,
                idempotency: false,
                success_meta: false,
            });
        }
        // Longest prefix first.
        routes.sort_by_key(|r| std::cmp::Reverse(r.path.len()));

        let log_level = match &raw.log_level {
            None => DEFAULT_LOG_LEVEL.to_owned(),
            Some(l) => {
                if let Some((msg, help)) = log_level_problem(l.get_ref()) {
                    err(at(l.span().start), msg, &help);
                }
                l.get_ref().clone()
            }
        };

        for p in raw.request_log.problems() {
            err((0, 0), p, "see docs/gateway-config.md, [request_log]");
        }
        let tracing_config = crate::otlp::TracingConfig::from_raw(&raw.tracing, &at, &mut err);

        if !diags.is_empty() {
            diags.extend(catalog_problems);
            let mut d = Diagnostics(diags);
            d.sort();
            return Err(d);
        }
        Ok(Config {
            listen,
            tls,
            upstream,
            upstream_ca,
            catalog,
            catalog_path,
            store_url,
            counters_url,
            key_prefix,
            key_headers,
            trusted_proxies,
            trusted_request_id_header: raw
                .trusted_request_id_header
                .map(|h| h.to_ascii_lowercase()),
            errors_path,
            health_path,
            public_url,
            check_upstream_errors: raw.check_upstream_errors,
            pass_server_header: raw.pass_server_header,
            watch_config: raw.watch_config,
            connect_timeout: ms(t.connect_ms, 2_000),
            response_timeout: ms(t.response_ms, 30_000),
            store_timeout: ms(t.store_ms, 500),
            counters_timeout: ms(t.counters_ms, 100),
            shutdown_grace: ms(t.shutdown_ms, 10_000),
            drain: ms(t.drain_ms, 0),
            key_cache_ttl: ms(t.key_cache_ms, 1_000),
            header_read_timeout: ms(t.header_read_ms, 30_000),
            workers,
            max_connections,
            key_cache_max_stale: raw.key_cache.max_stale_ms.map_or(
                errata_store::key_cache::DEFAULT_MAX_STALE,
                Duration::from_millis,
            ),
            key_cache_capacity,
            counters_failure: raw.failure.counters.unwrap_or_default(),
            limit_scope: raw.limits.scope.unwrap_or_default(),
            default_plan,
            plans,
            default_limits,
            max_body_bytes: raw.limits.max_body_bytes.unwrap_or(1 << 20),
            content_types: raw.limits.content_types.unwrap_or_default(),
            routes,
            idempotency,
            request_log: raw.request_log,
            tracing: tracing_config,
            log_format: raw.log_format.unwrap_or_default(),
            log_level,
        })
    }

    /// The route for a path: the longest matching prefix (on segment boundaries).
    pub fn route(&self, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.matches(path))
    }

    /// The limits for a key on a route: defaults, then the plan, then the route, then the
    /// key's own overrides.
    pub fn limits_for(&self, plan: &str, route: &Route, key_overrides: Option<&Limits>) -> Limits {
        let mut l = self.default_limits.clone();
        if let Some(p) = self.plans.get(plan) {
            l = l.overlay(&p.limits);
        }
        if let Some(r) = &route.limits {
            l = l.overlay(r);
        }
        if let Some(k) = key_overrides {
            l = l.overlay(k);
        }
        l
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_upstream_errors_is_on_by_default_and_a_boolean() {
        let base = Path::new(".");
        assert!(Config::from_toml("", base).unwrap().check_upstream_errors);
        let off = Config::from_toml("check_upstream_errors = false\n", base).unwrap();
        assert!(!off.check_upstream_errors);
        let err = Config::from_toml("\ncheck_upstream_errors = \"no\"\n", base).unwrap_err();
        assert_eq!(
            err.render("errata.toml"),
            "errata.toml:2:25: error: `check_upstream_errors` must be true or false, not `\"no\"`\n  help: write `check_upstream_errors = true` or `check_upstream_errors = false`, without quotes"
        );
    }

    #[test]
    fn log_format_and_log_level_default_and_are_checked_at_their_line() {
        let base = Path::new(".");
        let c = Config::from_toml("", base).unwrap();
        assert_eq!(
            (c.log_format, c.log_level.as_str()),
            (LogFormat::Json, "info")
        );
        let c = Config::from_toml(
            "log_format = \"text\"\nlog_level = \"info,errata::access=warn\"\n",
            base,
        )
        .unwrap();
        assert_eq!(
            (c.log_format, c.log_level.as_str()),
            (LogFormat::Text, "info,errata::access=warn")
        );
        let err =
            Config::from_toml("log_format = \"jsn\"\nlog_level = \"infoo\"\n", base).unwrap_err();
        assert_eq!(
            err.render("errata.toml"),
            "errata.toml:1:14: error: `log_format` must be one of \"json\", \"text\", not `\"jsn\"`\n  help: did you mean \"json\"?\nerrata.toml:2:13: error: log_level `infoo`: `infoo` is not a level\n  help: did you mean `info`?"
        );
        let err = Config::from_toml("log_level = \"errata::access=loud\"\n", base).unwrap_err();
        assert_eq!(
            err.render("errata.toml"),
            "errata.toml:1:13: error: log_level `errata::access=loud` is not a log filter: error parsing level filter: expected one of \"off\", \"error\", \"warn\", \"info\", \"debug\", \"trace\", or a number 0-5\n  help: give a level (error, warn, info, debug, trace) or directives such as \"info,errata::access=warn\""
        );
    }
}
