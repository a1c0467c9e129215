//! The configuration file as a whole: the gateway's keys (with the state's sections it
//! composes: store, counters, plans, idempotency, request log) read by errata-gateway, and the
//! admin side's `[admin]` (its listener) and `[portal]` read here, from the same source, every
//! problem with its line.

use std::net::SocketAddr;
use std::path::Path;

use errata_admin::config::{AdminConfig, PortalConfig};
use errata_core::schema::{Document, Shape};
use errata_core::{Diagnostic, Diagnostics};
use errata_gateway::config::{RawTls, listener_tls, socket_addr};
use errata_gateway::tls::TlsFiles;
use serde::Deserialize;
use toml::Spanned;

/// The whole configuration, validated.
#[derive(Clone, Debug)]
pub struct Config {
    /// Everything the gateway and the state behind it read.
    pub gateway: errata_gateway::config::Config,
    /// The admin listener (loopback by default).
    pub admin_listen: SocketAddr,
    /// TLS on the admin listener (`[admin.tls]`).
    pub admin_tls: Option<TlsFiles>,
    /// The admin token; a random one per start when unset.
    pub admin_token: Option<String>,
    pub portal: PortalConfig,
}

/// The admin side's sections; the gateway's keys are read by errata-gateway. The whole file is
/// checked at once against both (`RawSides` replaces the gateway's placeholders for these).
#[derive(Deserialize)]
struct RawSides {
    #[serde(default)]
    admin: RawAdmin,
    #[serde(default)]
    portal: PortalConfig,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    listen: Option<Spanned<String>>,
    token: Option<String>,
    token_env: Option<Spanned<String>>,
    tls: Option<Spanned<RawTls>>,
}

/// Example values of the admin side's keys, for type errors.
const ADMIN_EXAMPLES: errata_core::schema::Examples<'static> = &[
    ("admin.listen", "\"127.0.0.1:8081\""),
    ("admin.token_env", "\"ERRATA_ADMIN_TOKEN\""),
    ("admin.tls.cert", "\"cert.pem\""),
    ("admin.tls.key", "\"key.pem\""),
    ("portal.secret_env", "\"ERRATA_PORTAL_SECRET\""),
    ("portal.public_url", "\"https://console.example.com\""),
];

impl Config {
    /// The embedded defaults: no file needed.
    pub fn embedded() -> Config {
        Config::from_toml("", Path::new(".")).expect("the empty config is valid")
    }

    /// Reads and validates a config file; relative paths in it resolve against its folder.
    /// The error is every problem rendered, one `file:line:column: error: ...` each.
    pub fn from_file(path: &Path) -> Result<Config, String> {
        let src = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: error: cannot read: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::from_toml(&src, base).map_err(|d| d.render(&path.display().to_string()))
    }

    /// Validates config source, collecting every problem of every section: unknown keys and
    /// sections (with the nearest known name), wrong types, then wrong values.
    pub fn from_toml(src: &str, base: &Path) -> Result<Config, Diagnostics> {
        let mut doc = Document::parse(src).map_err(|d| Diagnostics(vec![d]))?;
        let mut shape = errata_gateway::config::Config::shape();
        shape.merge(Shape::of::<RawSides>());
        let examples = [errata_gateway::config::EXAMPLES, ADMIN_EXAMPLES].concat();
        let mut diags = doc.check(&shape, &examples);
        let at = |off: usize| doc.position(off);
        let raw: RawSides = match doc.deserialize() {
            Ok(raw) => raw,
            Err(d) => {
                diags.extend(d);
                return Err(sorted(diags));
            }
        };
        let gateway = errata_gateway::config::Config::from_document(&doc, base);

        let mut err = |pos: (usize, usize), msg: String, help: &str| {
            diags.push(Diagnostic::error(pos, msg).help(help.to_owned()));
        };
        let admin_listen = socket_addr(
            &raw.admin.listen,
            SocketAddr::from(([127, 0, 0, 1], 8081)),
            &at,
            &mut err,
        );
        let admin_tls = listener_tls(&raw.admin.tls, base, &at, &mut err);
        let admin_token = match (&raw.admin.token, &raw.admin.token_env) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(var)) => match std::env::var(var.get_ref()) {
                Ok(t) if !t.is_empty() => Some(t),
                _ => {
                    err(
                        at(var.span().start),
                        format!("environment variable `{}` is not set", var.get_ref()),
                        "export it, or set admin.token",
                    );
                    None
                }
            },
            (None, None) => None,
        };
        if admin_token.as_ref().is_some_and(|t| t.len() < 16) {
            err(
                (0, 0),
                "the admin token is shorter than 16 characters".into(),
                "use a long random token",
            );
        }
        for p in raw.portal.problems() {
            err((0, 0), p, "see docs/gateway-config.md, [portal]");
        }

        let gateway = match gateway {
            Ok(g) if diags.is_empty() => g,
            Ok(_) => return Err(sorted(diags)),
            Err(d) => {
                let mut all = d.0;
                all.extend(diags);
                return Err(sorted(all));
            }
        };
        Ok(Config {
            gateway,
            admin_listen,
            admin_tls,
            admin_token,
            portal: raw.portal,
        })
    }

    /// What the admin API is configured with.
    pub fn admin(&self) -> AdminConfig {
        AdminConfig {
            key_prefix: self.gateway.key_prefix.clone(),
            default_plan: self.gateway.default_plan.clone(),
            plans: self.gateway.plans.clone(),
            admin_listen: self.admin_listen,
            portal: self.portal.clone(),
        }
    }
}

/// Problems in the order of the file, those without a line last, then those of the catalog it
/// names.
fn sorted(diags: Vec<Diagnostic>) -> Diagnostics {
    let mut d = Diagnostics(diags);
    d.sort();
    d
}
