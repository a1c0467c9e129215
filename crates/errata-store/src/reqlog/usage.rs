//! Usage counted per minute, key, route, status and code; and each key's last seen limit
//! state.

use serde::Serialize;

use crate::counters::Window;

/// One usage counter's identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UsageKey {
    /// Start of the minute, Unix seconds.
    pub minute: i64,
    pub key_id: String,
    pub tenant: String,
    pub route: String,
    pub status: u16,
    /// The catalog code, empty for none.
    pub code: String,
}

/// One limit's state, as the rate-limit headers tell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LimitWindow {
    /// Requests allowed per window.
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the limit is fully available again.
    pub reset: u64,
    /// The window, in seconds.
    pub window: u64,
}

impl From<Window> for LimitWindow {
    fn from(w: Window) -> Self {
        LimitWindow {
            limit: w.limit,
            remaining: w.remaining,
            reset: w.reset,
            window: w.window,
        }
    }
}

/// A key's limit state after its last request on this instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LimitState {
    pub key_id: String,
    /// When it was observed, Unix seconds.
    pub observed_at: i64,
    pub rate: Option<LimitWindow>,
    pub quota: Option<LimitWindow>,
}
