//! Time for the limits, replaceable in tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in milliseconds.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> u64;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

/// A clock tests move by hand.
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub fn new(now_ms: u64) -> ManualClock {
        ManualClock(Arc::new(AtomicU64::new(now_ms)))
    }

    pub fn advance_ms(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn set_ms(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The calendar month (UTC) holding `now_ms`: its label (`2026-11`) and the Unix ms at which
/// the next month starts.
pub fn month_bounds(now_ms: u64) -> (String, u64) {
    let secs = (now_ms / 1000) as i64;
    let dt =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let (y, m) = (dt.year(), dt.month());
    let (ny, nm) = if m == time::Month::December {
        (y + 1, time::Month::January)
    } else {
        (y, m.next())
    };
    let next = time::Date::from_calendar_date(ny, nm, 1)
        .map(|d| d.midnight().assume_utc().unix_timestamp())
        .unwrap_or(secs + 31 * 86_400);
    (format!("{y:04}-{:02}", m as u8), (next as u64) * 1000)
}

/// The length in seconds of the calendar month (UTC) holding `now_ms`: the window of a monthly
/// quota in `RateLimit-Policy`.
pub fn month_seconds(now_ms: u64) -> u64 {
    let secs = (now_ms / 1000) as i64;
    let dt =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    u64::from(dt.month().length(dt.year())) * 86_400
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_lengths() {
        assert_eq!(month_seconds(1_794_700_800_000), 30 * 86_400); // 2026-11-15
        assert_eq!(month_seconds(1_832_976_000_000), 29 * 86_400); // 2028-02-01
        assert_eq!(month_seconds(1_798_761_599_000), 31 * 86_400); // 2026-12-31
    }

    #[test]
    fn month_bounds_roll_over_years() {
        // 2026-12-31T23:59:59Z
        let (label, next) = month_bounds(1_798_761_599_000);
        assert_eq!(label, "2026-12");
        assert_eq!(next, 1_798_761_600_000); // 2027-01-01T00:00:00Z
        let (label, _) = month_bounds(1_798_761_600_000);
        assert_eq!(label, "2027-01");
    }
}
