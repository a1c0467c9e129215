//! `errata serve` and `errata keys`: the gateway and its keys.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use errata::config::Config;
use errata_admin::manage;
use errata_store::db::{self, KeyRecord, NewKey};
use errata_store::keys::Environment;
use errata_store::plans::Limits;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The gateway config (TOML); embedded defaults when left out.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Start the bundled example service as the upstream, create a test key and print curl
    /// commands that show a success and each kind of error.
    #[arg(long)]
    pub demo: bool,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create a key; its secret is printed once.
    Create(CreateArgs),
    /// List keys (never their secrets).
    List {
        /// Only this tenant's keys.
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        at: StoreArgs,
    },
    /// Show one key.
    Show {
        /// The key id (`key_…`), as `keys list` prints it.
        id: String,
        #[command(flatten)]
        at: StoreArgs,
    },
    /// Revoke a key: refused by every gateway on the store within the revocation bound.
    Revoke {
        /// The key id (`key_…`).
        id: String,
        #[command(flatten)]
        at: StoreArgs,
    },
    /// Replace a key with a new secret; the old one is revoked.
    Rotate {
        /// The key id (`key_…`).
        id: String,
        #[command(flatten)]
        at: StoreArgs,
    },
}

#[derive(Args, Debug)]
pub struct StoreArgs {
    /// The gateway config whose store (and key prefix, plans) to use; embedded defaults when
    /// left out.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A store URL, overriding the config's (`sqlite://errata-keys.db`).
    #[arg(long)]
    pub store: Option<String>,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The customer the key belongs to (1 to 128 visible characters, no commas); sent
    /// upstream with each request and used to confine portal sessions.
    #[arg(long)]
    pub tenant: String,
    /// A label for people: what the key is for ("ci", "production server").
    #[arg(long)]
    pub name: String,
    /// `live` or `test`.
    #[arg(long, default_value = "live")]
    pub environment: String,
    /// A scope; repeatable.
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// A plan of the config's `[plans]`; the config's default plan when left out.
    #[arg(long)]
    pub plan: Option<String>,
    /// An allowed client network in CIDR form; repeatable.
    #[arg(long = "allow-ip")]
    pub allow_ips: Vec<String>,
    /// Expiry, in days from now.
    #[arg(long = "expires-in-days")]
    pub expires_in_days: Option<u32>,
    /// Per-key rate limit: requests per `--per-seconds`.
    #[arg(long)]
    pub rate: Option<u32>,
    /// The window of `--rate`, in seconds.
    #[arg(long = "per-seconds", default_value_t = 60)]
    pub per_seconds: u32,
    /// Per-key quota: requests per calendar month (UTC), over the plan's.
    #[arg(long = "monthly-quota")]
    pub monthly_quota: Option<u64>,
    /// Per-key limit of requests in flight at once, over the plan's.
    #[arg(long)]
    pub concurrency: Option<u32>,
    /// Print the new key and its secret as JSON (for scripts).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub at: StoreArgs,
}

#[derive(Subcommand, Debug)]
pub enum RequestsCommand {
    /// Show the record of one request, by the request id its answer carried.
    Show {
        /// The request id (`req_…`), as the client saw it in the response header or body.
        id: String,
        #[command(flatten)]
        at: StoreArgs,
    },
    /// List request records, newest first.
    List {
        /// Only this tenant's requests.
        #[arg(long)]
        tenant: Option<String>,
        /// Only this key's requests.
        #[arg(long = "key-id")]
        key_id: Option<String>,
        /// Only answers with this catalog code (e.g. `rate_limited`).
        #[arg(long)]
        code: Option<String>,
        /// A status (`429`) or a class (`4xx`).
        #[arg(long)]
        status: Option<String>,
        /// Only requests at or after this time: Unix seconds or RFC 3339.
        #[arg(long)]
        since: Option<String>,
        /// Only requests before this time: Unix seconds or RFC 3339.
        #[arg(long)]
        until: Option<String>,
        /// The most records to print.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: StoreArgs,
    },
}

fn parse_time(flag: &str, v: &str) -> Result<i64, String> {
    if let Ok(n) = v.parse::<i64>() {
        return Ok(n);
    }
    time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| {
            format!(
                "--{flag} `{v}`: give Unix seconds or an RFC 3339 time such as 2026-11-15T00:00:00Z"
            )
        })
}

fn print_request(r: &errata_store::reqlog::Record) {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(r.time_ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| r.time_ms.to_string());
    println!(
        "{}  {t}  {} {}  {}  {}  key={}  tenant={}  {:.1}ms",
        r.request_id,
        r.method,
        r.path,
        r.status,
        r.code.as_deref().unwrap_or("-"),
        r.key_id.as_deref().unwrap_or("-"),
        r.tenant.as_deref().unwrap_or("-"),
        r.latency_us as f64 / 1000.0
    );
}

pub fn requests(cmd: RequestsCommand) -> Result<ExitCode, String> {
    let rt = runtime()?;
    rt.block_on(async move {
        let (RequestsCommand::Show { at, .. } | RequestsCommand::List { at, .. }) = &cmd;
        let mut cfg = load_config(at.config.as_deref())?;
        if let Some(url) = &at.store {
            cfg.gateway.store_url = url.clone();
        }
        let store = errata::serve::open_store(&cfg.gateway.store_url).await?;
        match cmd {
            RequestsCommand::Show { id, .. } => {
                let r = store
                    .request(&id)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or(format!(
                        "no record of `{id}` (unknown, older than the retention, or not yet written: records are written about once a second)"
                    ))?;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?
                );
            }
            RequestsCommand::List {
                tenant,
                key_id,
                code,
                status,
                since,
                until,
                limit,
                json,
                ..
            } => {
                let status = match status {
                    None => None,
                    Some(s) => Some(db::StatusFilter::parse(&s).ok_or(format!(
                        "--status `{s}`: give a status such as 429 or a class such as 4xx"
                    ))?),
                };
                let q = db::RequestQuery {
                    tenant,
                    key_id,
                    code,
                    status,
                    since_ms: since.map(|v| parse_time("since", &v)).transpose()?.map(|s| s * 1000),
                    until_ms: until.map(|v| parse_time("until", &v)).transpose()?.map(|s| s * 1000),
                    before: None,
                    limit: limit.clamp(1, 10_000),
                };
                let records = store.requests(&q).await.map_err(|e| e.to_string())?;
                if records.is_empty() && !json {
                    println!("no records");
                }
                for r in &records {
                    if json {
                        println!("{}", serde_json::to_string(r).map_err(|e| e.to_string())?);
                    } else {
                        print_request(r);
                    }
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn load_config(path: Option<&Path>) -> Result<Config, String> {
    match path {
        Some(p) => Config::from_file(p),
        None => Ok(Config::embedded()),
    }
}

/// The runtime for the admin listener and background work; the public listener runs on the
/// gateway's own worker threads, so one thread is plenty here.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// JSON logs to standard error, `RUST_LOG` to filter (default `info`).
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_current_span(false)
        .try_init();
}

pub fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    let cfg = load_config(args.config.as_deref())?;
    init_logs();
    let rt = runtime()?;
    if args.demo {
        rt.block_on(crate::demo::run(cfg))?;
    } else {
        let generated_token = cfg.admin_token.is_none();
        rt.block_on(async {
            let (upstream, store, counters) = (
                cfg.gateway.upstream.clone(),
                cfg.gateway.store_url.clone(),
                cfg.gateway.counters_url.clone(),
            );
            errata::serve::run(cfg, |r| {
                let admin = if generated_token {
                    format!("http://{} (token for this run: {})", r.admin_addr, r.admin_token)
                } else {
                    format!("http://{}", r.admin_addr)
                };
                // A closed stdout (a supervisor that stopped reading) must not stop the gateway.
                let _ = writeln!(
                    std::io::stdout(),
                    "errata gateway listening on http://{} -> {upstream}\n  store {store}, counters {counters}\n  error reference: http://{}{}\n  admin API: {admin}",
                    r.addr, r.addr, r.gateway.config.errors_path
                );
            })
            .await
        })?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_key(k: &KeyRecord) {
    let revoked = k
        .revoked_at
        .map_or(String::new(), |t| format!("  revoked {}", timestamp(t)));
    println!(
        "{}  {}  tenant={}  name={:?}  env={}  plan={}  scopes=[{}]{}",
        k.id,
        k.hint,
        k.tenant,
        k.name,
        k.environment.as_str(),
        k.plan,
        k.scopes.join(" "),
        revoked
    );
}

fn timestamp(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

pub fn keys(cmd: KeysCommand) -> Result<ExitCode, String> {
    let rt = runtime()?;
    rt.block_on(async move {
        let at = match &cmd {
            KeysCommand::Create(c) => &c.at,
            KeysCommand::List { at, .. }
            | KeysCommand::Show { at, .. }
            | KeysCommand::Revoke { at, .. }
            | KeysCommand::Rotate { at, .. } => at,
        };
        let mut cfg = load_config(at.config.as_deref())?;
        if let Some(url) = &at.store {
            cfg.gateway.store_url = url.clone();
        }
        let store = errata::serve::open_store(&cfg.gateway.store_url).await?;
        let now = manage::now_secs();
        match cmd {
            KeysCommand::Create(c) => {
                let environment = Environment::parse(&c.environment).ok_or_else(|| {
                    format!("--environment `{}`: use live or test", c.environment)
                })?;
                let ip_allowlist = c
                    .allow_ips
                    .iter()
                    .map(|s| {
                        s.parse::<ipnet::IpNet>()
                            .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                            .map_err(|_| format!("--allow-ip `{s}` is not an IP address or CIDR"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let limits =
                    (c.rate.is_some() || c.monthly_quota.is_some() || c.concurrency.is_some())
                        .then_some(Limits {
                            rate: c.rate,
                            per_seconds: c.per_seconds,
                            burst: 0,
                            monthly_quota: c.monthly_quota,
                            concurrency: c.concurrency,
                        });
                let new = NewKey {
                    tenant: c.tenant,
                    name: c.name,
                    environment,
                    scopes: c.scopes,
                    plan: c.plan,
                    ip_allowlist,
                    limits,
                    expires_at: c.expires_in_days.map(|d| now + i64::from(d) * 86_400),
                };
                let issued = manage::create(&store, &cfg.admin(), &new, now)
                    .await
                    .map_err(|e| e.to_string())?;
                if c.json {
                    let json = serde_json::to_string_pretty(&issued).map_err(|e| e.to_string())?;
                    println!("{json}");
                    return Ok(ExitCode::SUCCESS);
                }
                print_key(&issued.key);
                println!(
                    "\n{}\n\nThis is the only time the key is shown; only its SHA-256 is stored.",
                    issued.secret
                );
            }
            KeysCommand::List { tenant, .. } => {
                let keys = store
                    .list(tenant.as_deref())
                    .await
                    .map_err(|e| e.to_string())?;
                if keys.is_empty() {
                    println!("no keys");
                }
                keys.iter().for_each(print_key);
            }
            KeysCommand::Show { id, .. } => {
                let k = store
                    .get(&id)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or(format!("no key `{id}`"))?;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&k).map_err(|e| e.to_string())?
                );
            }
            KeysCommand::Revoke { id, .. } => {
                let k = store
                    .revoke(&id, now)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or(format!("no key `{id}`"))?;
                print_key(&k);
            }
            KeysCommand::Rotate { id, .. } => {
                let issued = manage::rotate(&store, &cfg.admin(), &id, now)
                    .await
                    .map_err(|e| e.to_string())?;
                print_key(&issued.key);
                println!(
                    "\n{}\n\nThis is the only time the key is shown; `{id}` is revoked.",
                    issued.secret
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
