//! `errata keys`: create, list, show, revoke and rotate API keys in the configured store.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use errata_admin::manage;
use errata_store::db::{KeyRecord, NewKey};
use errata_store::keys::Environment;
use errata_store::plans::Limits;

use crate::gateway_cli::{StoreArgs, open_store_for, runtime};

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
        let (cfg, store) = open_store_for(at, matches!(cmd, KeysCommand::Create(_))).await?;
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
