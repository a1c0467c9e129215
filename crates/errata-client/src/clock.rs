//! Time as the client sees it: the instant deadlines are counted from, the wall time an HTTP-date
//! `Retry-After` is measured against, and the sleep between attempts.
//!
//! The default, [`SystemClock`], is the real thing. [`ManualClock`] never sleeps: it records each
//! delay asked of it and moves its own time forward by that much, so tests (yours too) assert the
//! exact backoff without waiting for it.
//!
//! ```
//! use std::time::Duration;
//! use errata_client::clock::{Clock, ManualClock};
//!
//! # tokio_test_block_on(async {
//! let clock = ManualClock::new();
//! let start = clock.now();
//! clock.sleep(Duration::from_secs(2)).await; // returns at once
//! assert_eq!(clock.now() - start, Duration::from_secs(2));
//! assert_eq!(clock.sleeps(), vec![Duration::from_secs(2)]);
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```
//!
//! Caveat: only the waits *between* attempts go through the clock. The timeout of an attempt in
//! flight is a real timer (it has to interrupt real I/O); its length is computed from the clock,
//! so a [`ManualClock`] moved near a deadline does shorten the next attempt's timeout.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// The future a [`Clock`] returns from [`Clock::sleep`].
///
/// ```
/// use errata_client::clock::Sleep;
/// let no_wait: Sleep = Box::pin(std::future::ready(()));
/// ```
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Where the client reads the time and how it waits between attempts.
///
/// The same clock measures the deadline, dates a `Retry-After: <HTTP-date>`, and sleeps, so a
/// test clock keeps all three consistent.
///
/// ```
/// use std::time::{Duration, Instant, SystemTime};
/// use errata_client::clock::{Clock, Sleep};
///
/// /// A clock that never waits, for a batch job that prefers failing fast.
/// #[derive(Debug)]
/// struct Impatient;
///
/// impl Clock for Impatient {
///     fn now(&self) -> Instant { Instant::now() }
///     fn wall(&self) -> SystemTime { SystemTime::now() }
///     fn sleep(&self, _: Duration) -> Sleep { Box::pin(std::future::ready(())) }
/// }
/// let client = errata_client::Client::builder("http://127.0.0.1:8080").clock(Impatient);
/// ```
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// A monotonic instant; the deadline across attempts is counted with it.
    fn now(&self) -> Instant;
    /// The wall-clock time; a `Retry-After` HTTP-date is measured against it.
    fn wall(&self) -> SystemTime;
    /// Waits for `duration` before the next attempt.
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// The real clock: `Instant::now`, `SystemTime::now` and `tokio::time::sleep`. The default.
///
/// ```
/// use errata_client::clock::{Clock, SystemClock};
/// assert!(SystemClock.wall() > std::time::UNIX_EPOCH);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that moves only when told to (or when asked to sleep), and remembers every sleep.
///
/// Clones share one time line, so a test keeps a clone to inspect after handing one to the
/// client.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use errata_client::clock::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let wall = clock.wall();
/// clock.advance(Duration::from_millis(1500));
/// assert_eq!(clock.wall().duration_since(wall).unwrap(), Duration::from_millis(1500));
/// assert!(clock.sleeps().is_empty()); // advancing is not sleeping
/// assert_eq!(wall.duration_since(UNIX_EPOCH).unwrap().subsec_nanos(), 0);
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    inner: Arc<Mutex<Manual>>,
}

#[derive(Debug)]
struct Manual {
    start: Instant,
    wall_start: SystemTime,
    elapsed: Duration,
    sleeps: Vec<Duration>,
}

impl ManualClock {
    /// A clock whose wall time starts at 2024-01-01T00:00:00Z (a whole second, so an HTTP-date
    /// computed from it is exact).
    ///
    /// ```
    /// use errata_client::clock::{Clock, ManualClock};
    /// assert_eq!(httpdate::fmt_http_date(ManualClock::new().wall()), "Mon, 01 Jan 2024 00:00:00 GMT");
    /// ```
    pub fn new() -> Self {
        ManualClock::starting_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_067_200))
    }

    /// A clock whose wall time starts at `wall`.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use errata_client::clock::{Clock, ManualClock};
    /// let clock = ManualClock::starting_at(UNIX_EPOCH + Duration::from_secs(60));
    /// assert_eq!(clock.wall(), UNIX_EPOCH + Duration::from_secs(60));
    /// ```
    pub fn starting_at(wall: SystemTime) -> Self {
        ManualClock {
            inner: Arc::new(Mutex::new(Manual {
                start: Instant::now(),
                wall_start: wall,
                elapsed: Duration::ZERO,
                sleeps: Vec::new(),
            })),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Manual> {
        // The lock guards plain data; a panic elsewhere cannot leave it half-written.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves time forward without recording a sleep.
    ///
    /// ```
    /// use std::time::Duration;
    /// use errata_client::clock::ManualClock;
    /// let clock = ManualClock::new();
    /// clock.advance(Duration::from_secs(3));
    /// assert_eq!(clock.elapsed(), Duration::from_secs(3));
    /// ```
    pub fn advance(&self, by: Duration) {
        let mut s = self.state();
        s.elapsed = s.elapsed.saturating_add(by);
    }

    /// How far this clock has moved since it was made.
    ///
    /// ```
    /// use errata_client::clock::ManualClock;
    /// assert_eq!(ManualClock::new().elapsed(), std::time::Duration::ZERO);
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.state().elapsed
    }

    /// Every sleep asked of this clock, in order.
    ///
    /// ```
    /// use std::time::Duration;
    /// use errata_client::clock::{Clock, ManualClock};
    /// let clock = ManualClock::new();
    /// drop(clock.sleep(Duration::from_millis(500))); // recorded when asked, even if not awaited
    /// assert_eq!(clock.sleeps(), vec![Duration::from_millis(500)]);
    /// ```
    pub fn sleeps(&self) -> Vec<Duration> {
        self.state().sleeps.clone()
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        let s = self.state();
        s.start.checked_add(s.elapsed).unwrap_or(s.start)
    }

    fn wall(&self) -> SystemTime {
        let s = self.state();
        s.wall_start.checked_add(s.elapsed).unwrap_or(s.wall_start)
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        let mut s = self.state();
        s.sleeps.push(duration);
        s.elapsed = s.elapsed.saturating_add(duration);
        Box::pin(std::future::ready(()))
    }
}
