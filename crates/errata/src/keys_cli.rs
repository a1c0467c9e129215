//! `errata keys`: create, list, show, revoke and rotate API keys in the configured store.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use errata_admin::manage::{self, ManageError};
use errata_store::db::{KeyView, NewKey};
use errata_store::keys::Environment;
use errata_store::plans::Limits;

use crate::gateway_cli::{StoreArgs, open_store_for, runtime, shell_word};

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create a key; its secret is printed once.
    Create(CreateArgs),
    /// List keys (never their secrets), oldest first, with their status and last use.
    List {
        /// Only this tenant's keys.
        #[arg(long)]
        tenant: Option<String>,
        /// One JSON object a line, as the admin API shows a key (times in Unix seconds).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: StoreArgs,
    },
    /// Show one key, with its status and times in RFC 3339.
    Show {
        /// The key id (`key_…`), as `keys list` prints it.
        id: String,
        /// The key as JSON, as the admin API shows it (times in Unix seconds).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: StoreArgs,
    },
    /// Revoke a key: refused by every gateway on the store within the revocation bound.
    /// Revoking a revoked key changes nothing and says when it was revoked.
    Revoke {
        /// The key id (`key_…`).
        id: String,
        #[command(flatten)]
        at: StoreArgs,
    },
    /// Replace a working key with a new secret; the old one is revoked. A revoked or expired
    /// key is refused (exit status 1): create a new key instead.
    Rotate {
        /// The key id (`key_…`).
        id: String,
        /// Print the new key and its secret as JSON (for scripts).
        #[arg(long)]
        json: bool,
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

/// The columns of `keys list`.
const COLUMNS: [&str; 9] = [
    "ID",
    "PREFIX",
    "TENANT",
    "NAME",
    "ENV",
    "PLAN",
    "STATUS",
    "LAST USED",
    "SCOPES",
];

/// A value for one line of a table: control characters (a line break in a name) escaped.
fn cell(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

fn row(v: &KeyView) -> [String; 9] {
    let k = &v.key;
    [
        k.id.clone(),
        cell(&k.hint),
        cell(&k.tenant),
        cell(&k.name),
        k.environment.as_str().to_owned(),
        cell(&k.plan),
        v.status.as_str().to_owned(),
        k.last_used_at.map_or("never".to_owned(), manage::rfc3339),
        if k.scopes.is_empty() {
            "-".to_owned()
        } else {
            cell(&k.scopes.join(","))
        },
    ]
}

/// Rows under a header, each column as wide as its widest value, two spaces apart; the last
/// column is not padded.
fn table(rows: &[[String; 9]]) -> String {
    let mut widths = COLUMNS.map(|h| h.chars().count());
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let header = COLUMNS.map(str::to_owned);
    let mut out = String::new();
    for r in std::iter::once(&header).chain(rows) {
        let last = r.len() - 1;
        for (i, (c, w)) in r.iter().zip(widths).enumerate() {
            out.push_str(c);
            if i < last {
                let pad = w - c.chars().count() + 2;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

fn limits(l: Option<&Limits>) -> String {
    let Some(l) = l else {
        return "the plan's".to_owned();
    };
    let mut parts = Vec::new();
    if let Some(r) = l.rate {
        parts.push(format!(
            "{r} requests per {} s (burst {})",
            l.per_seconds, l.burst
        ));
    }
    if let Some(q) = l.monthly_quota {
        parts.push(format!("{q} requests a month"));
    }
    if let Some(c) = l.concurrency {
        parts.push(format!("{c} at once"));
    }
    if parts.is_empty() {
        "the plan's".to_owned()
    } else {
        parts.join(", ")
    }
}

/// A key as `keys show` prints it: one `field: value` a line, times in RFC 3339.
fn details(v: &KeyView) -> String {
    let k = &v.key;
    let never = |t: Option<i64>| t.map_or("never".to_owned(), manage::rfc3339);
    let mut lines: Vec<(&str, String)> = vec![
        ("id", k.id.clone()),
        ("prefix", cell(&k.hint)),
        ("tenant", cell(&k.tenant)),
        ("name", cell(&k.name)),
        ("environment", k.environment.as_str().to_owned()),
        ("plan", cell(&k.plan)),
        ("status", v.status.as_str().to_owned()),
        (
            "scopes",
            if k.scopes.is_empty() {
                "none".to_owned()
            } else {
                cell(&k.scopes.join(", "))
            },
        ),
        (
            "ip allowlist",
            if k.ip_allowlist.is_empty() {
                "any".to_owned()
            } else {
                k.ip_allowlist
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ),
        ("limits", limits(k.limits.as_ref())),
        ("created", manage::rfc3339(k.created_at)),
        ("expires", never(k.expires_at)),
    ];
    if let Some(t) = k.revoked_at {
        lines.push(("revoked", manage::rfc3339(t)));
    }
    if let Some(r) = &k.replaced_by {
        lines.push(("replaced by", r.clone()));
    }
    lines.push(("last used", never(k.last_used_at)));
    lines
        .into_iter()
        .map(|(label, value)| format!("{:<14}{value}\n", format!("{label}:")))
        .collect()
}

fn json<T: serde::Serialize>(v: &T, pretty: bool) -> Result<String, String> {
    if pretty {
        serde_json::to_string_pretty(v)
    } else {
        serde_json::to_string(v)
    }
    .map_err(|e| e.to_string())
}

fn print_issued(issued: &manage::Issued, now: i64, after: &str) {
    print!("{}", details(&KeyView::new(issued.key.clone(), now)));
    println!(
        "\n{}\n\nThis is the only time the key is shown; {after}",
        issued.secret
    );
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
        // The same store, for a command suggested in an error.
        let mut same_store = String::new();
        if let Some(p) = &at.config {
            same_store.push_str(&format!(" --config {}", shell_word(&p.to_string_lossy())));
        }
        if let Some(url) = &at.store {
            same_store.push_str(&format!(" --store {}", shell_word(url)));
        }
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
                    println!("{}", json(&issued, true)?);
                } else {
                    print_issued(&issued, now, "only its SHA-256 is stored.");
                }
            }
            KeysCommand::List {
                tenant,
                json: as_json,
                ..
            } => {
                let keys = store
                    .list(tenant.as_deref())
                    .await
                    .map_err(|e| e.to_string())?;
                let views: Vec<KeyView> = keys.into_iter().map(|k| KeyView::new(k, now)).collect();
                if as_json {
                    for v in &views {
                        println!("{}", json(v, false)?);
                    }
                } else if views.is_empty() {
                    match tenant {
                        Some(t) => println!("no keys of tenant {t}"),
                        None => println!("no keys"),
                    }
                } else {
                    let rows: Vec<[String; 9]> = views.iter().map(row).collect();
                    print!("{}", table(&rows));
                }
            }
            KeysCommand::Show {
                id, json: as_json, ..
            } => {
                let k = store
                    .get(&id)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or(format!("no key `{id}`"))?;
                let v = KeyView::new(k, now);
                if as_json {
                    println!("{}", json(&v, true)?);
                } else {
                    print!("{}", details(&v));
                }
            }
            KeysCommand::Revoke { id, .. } => match manage::revoke(&store, &id, None, now).await {
                Ok(r) => println!("{r}"),
                Err(ManageError::NotFound) => return Err(format!("no key `{id}`")),
                Err(e) => return Err(e.to_string()),
            },
            KeysCommand::Rotate {
                id, json: as_json, ..
            } => {
                match manage::rotate(&store, &cfg.admin(), &id, None, now).await {
                    Ok(issued) if as_json => println!("{}", json(&issued, true)?),
                    Ok(issued) => print_issued(&issued, now, &format!("{id} is revoked.")),
                    Err(ManageError::Inactive(i)) => {
                        // The request was understood and refused: exit 1, as a failed check.
                        let old = store.get(&id).await.ok().flatten();
                        let how = old.map_or(String::new(), |k| {
                            format!(
                                ": errata keys create --tenant {} --name {}{same_store}",
                                shell_word(&k.tenant),
                                shell_word(&k.name)
                            )
                        });
                        eprintln!("error: {i}{how}");
                        return Ok(ExitCode::FAILURE);
                    }
                    Err(ManageError::NotFound) => return Err(format!("no key `{id}`")),
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
