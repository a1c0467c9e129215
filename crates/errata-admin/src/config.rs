//! What the admin side is configured with: the key rules it shares with the gateway (the
//! prefix, the plans), where it listens (the default base of portal links) and `[portal]`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use errata_store::plans::Plan;
use serde::Deserialize;

/// The admin API's configuration, composed with the gateway's by the `errata` binary.
#[derive(Clone, Debug)]
pub struct AdminConfig {
    /// Keys look like `<key_prefix>_live_<secret>`.
    pub key_prefix: String,
    /// The plan a new key gets when none is named.
    pub default_plan: String,
    pub plans: BTreeMap<String, Plan>,
    /// The admin listener's address, the base of portal links when `portal.public_url` is
    /// unset.
    pub admin_listen: SocketAddr,
    pub portal: PortalConfig,
}

/// `[portal]`: signed, expiring tenant sessions.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalConfig {
    /// The signing secret (at least 32 characters). Unset: a random one per start, so portal
    /// links die with the process; several instances must share a configured one.
    pub secret: Option<String>,
    /// An environment variable holding the secret instead.
    pub secret_env: Option<String>,
    /// The console's public base URL for portal links, e.g. `https://console.example.com`;
    /// default the admin listener's address.
    pub public_url: Option<String>,
}

impl PortalConfig {
    /// The configured secret, from the file or the environment.
    pub fn resolved_secret(&self) -> Option<String> {
        self.secret.clone().or_else(|| {
            self.secret_env
                .as_deref()
                .and_then(|v| std::env::var(v).ok())
        })
    }

    /// What is wrong with the values, if anything.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if let Some(v) = &self.secret_env
            && std::env::var(v).is_err()
        {
            p.push(format!(
                "`portal.secret_env` names `{v}`, which is not set in the environment"
            ));
        }
        if self.resolved_secret().is_some_and(|s| s.len() < 32) {
            p.push("the portal secret must be at least 32 characters".to_owned());
        }
        if let Some(u) = &self.public_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            p.push(format!(
                "`portal.public_url` `{u}` is not an http(s):// URL"
            ));
        }
        p
    }
}
