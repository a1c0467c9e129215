//! Portal session tokens: signed, expiring sessions the provider's app hands to its customer.
//!
//! A session token is `pt1.<hex tenant>.<expiry>.<hex HMAC-SHA256>` over the part before the
//! signature, with `portal.secret` (or, unset, a random secret per start: sessions then die
//! with the process, and several instances need a shared, configured secret).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::PortalConfig;

const VERSION: &str = "pt1";

/// Signs and checks portal session tokens.
pub struct PortalSigner {
    secret: Vec<u8>,
    public_url: Option<String>,
}

/// A verified portal session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalSession {
    pub tenant: String,
    pub expires_at: i64,
}

impl PortalSigner {
    pub fn from_config(cfg: &PortalConfig) -> PortalSigner {
        let secret = match cfg.resolved_secret() {
            Some(s) => s.into_bytes(),
            None => {
                tracing::info!(
                    "no portal.secret configured: portal links are signed with a random secret and die with this process"
                );
                let mut b = vec![0u8; 32];
                rand::Rng::fill(&mut rand::rng(), &mut b[..]);
                b
            }
        };
        PortalSigner {
            secret,
            public_url: cfg.public_url.clone(),
        }
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        m.update(payload.as_bytes());
        m
    }

    /// A token for `tenant` valid until `expires_at` (Unix seconds).
    pub fn sign(&self, tenant: &str, expires_at: i64) -> String {
        let payload = format!("{VERSION}.{}.{expires_at}", hex::encode(tenant));
        let sig = hex::encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{sig}")
    }

    /// The session a token carries, if its signature holds and it has not expired at `now`.
    pub fn verify(&self, token: &str, now: i64) -> Option<PortalSession> {
        let (payload, sig) = token.rsplit_once('.')?;
        let sig = hex::decode(sig).ok()?;
        self.mac(payload).verify_slice(&sig).ok()?;
        let mut parts = payload.split('.');
        let (v, tenant, exp) = (parts.next()?, parts.next()?, parts.next()?);
        if v != VERSION || parts.next().is_some() {
            return None;
        }
        let tenant = String::from_utf8(hex::decode(tenant).ok()?).ok()?;
        let expires_at: i64 = exp.parse().ok()?;
        (expires_at > now).then_some(PortalSession { tenant, expires_at })
    }

    /// The portal page's URL carrying `token` in its fragment (never sent to a server).
    pub fn url(&self, fallback_base: &str, token: &str) -> String {
        let base = self
            .public_url
            .as_deref()
            .unwrap_or(fallback_base)
            .trim_end_matches('/');
        format!("{base}/portal#token={token}")
    }
}
