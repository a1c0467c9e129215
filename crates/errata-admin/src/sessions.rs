//! Live console sessions, kept in memory: the cookie that names one, its CSRF token and its
//! expiry. Only the SHA-256 of a cookie value is kept. The sign-in and sign-out handlers are in
//! [`crate::session`].

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, header};

/// The session cookie's name.
pub const COOKIE: &str = "errata_console";
/// The header carrying the CSRF token on writes.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a console session lives.
pub const TTL_SECS: i64 = 12 * 3600;
/// Sessions kept at most (the oldest go first).
const MAX_SESSIONS: usize = 10_000;

/// One signed-in console.
#[derive(Clone, Debug)]
pub struct Session {
    pub csrf: String,
    pub expires_at: i64,
}

/// Live console sessions, by the SHA-256 of the cookie value.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

fn random_token() -> String {
    errata_store::keys::generate("s", errata_store::keys::Environment::Live).plaintext[7..]
        .to_owned()
}

impl Sessions {
    /// Starts a session; returns the cookie value and the session.
    pub fn start(&self, now: i64) -> (String, Session) {
        let id = random_token();
        let s = Session {
            csrf: random_token(),
            expires_at: now + TTL_SECS,
        };
        if let Ok(mut m) = self.map.lock() {
            m.retain(|_, s| s.expires_at > now);
            if m.len() >= MAX_SESSIONS
                && let Some(oldest) = m
                    .iter()
                    .min_by_key(|(_, s)| s.expires_at)
                    .map(|(k, _)| k.clone())
            {
                m.remove(&oldest);
            }
            m.insert(errata_store::keys::hash(&id), s.clone());
        }
        (id, s)
    }

    /// The live session a request's cookie names.
    pub fn from_headers(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie(headers)?;
        let now = crate::manage::now_secs();
        let m = self.map.lock().ok()?;
        m.get(&errata_store::keys::hash(id))
            .filter(|s| s.expires_at > now)
            .cloned()
    }

    /// Ends the session a request's cookie names.
    pub fn end(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers)
            && let Ok(mut m) = self.map.lock()
        {
            m.remove(&errata_store::keys::hash(id));
        }
    }
}

/// The session cookie's value in a request.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}
