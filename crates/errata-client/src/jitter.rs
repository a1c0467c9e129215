//! Jitter: how much of a backoff step is actually waited.
//!
//! "Full jitter" waits a uniformly random time between zero and the exponential step, which
//! spreads clients that failed together (the usual case for a 503) across the whole window.
//! The source is injectable so tests can assert exact delays:
//!
//! ```
//! use std::time::Duration;
//! use errata_client::jitter::{FullJitter, Jitter, NoJitter};
//!
//! let step = Duration::from_secs(2);
//! assert_eq!(NoJitter.sample(step), step);
//! assert!(FullJitter::seeded(7).sample(step) <= step);
//! // Any `Fn(Duration) -> Duration` is a jitter source too:
//! let half = |cap: Duration| cap / 2;
//! assert_eq!(half.sample(step), Duration::from_secs(1));
//! ```

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Chooses the delay to wait for one backoff step.
///
/// `cap` is `min(max_delay, initial_delay * 2^(retry - 1))`; an implementation returns a delay
/// no longer than it (longer values are clamped by the client).
///
/// ```
/// use std::time::Duration;
/// use errata_client::jitter::Jitter;
///
/// /// "Equal jitter": half the step, plus a random half.
/// struct Equal;
/// impl Jitter for Equal {
///     fn sample(&self, cap: Duration) -> Duration {
///         cap / 2 + errata_client::jitter::FullJitter::new().sample(cap / 2)
///     }
/// }
/// assert!(Equal.sample(Duration::from_secs(4)) >= Duration::from_secs(2));
/// ```
pub trait Jitter: Send + Sync + 'static {
    /// The delay to wait, between zero and `cap`.
    fn sample(&self, cap: Duration) -> Duration;
}

impl<F> Jitter for F
where
    F: Fn(Duration) -> Duration + Send + Sync + 'static,
{
    fn sample(&self, cap: Duration) -> Duration {
        self(cap)
    }
}

/// Uniform in `[0, cap]`, from the thread's RNG or a seeded one. The default.
///
/// ```
/// use std::time::Duration;
/// use errata_client::jitter::{FullJitter, Jitter};
///
/// let cap = Duration::from_millis(800);
/// let a: Vec<_> = (0..4).map(|_| FullJitter::seeded(1).sample(cap)).collect();
/// assert!(a.iter().all(|d| *d == a[0])); // one seed, one sequence
/// ```
pub struct FullJitter {
    seeded: Option<Mutex<StdRng>>,
}

impl FullJitter {
    /// Full jitter from the thread-local RNG.
    ///
    /// ```
    /// use std::time::Duration;
    /// use errata_client::jitter::{FullJitter, Jitter};
    /// assert!(FullJitter::new().sample(Duration::from_secs(1)) <= Duration::from_secs(1));
    /// ```
    pub fn new() -> Self {
        FullJitter { seeded: None }
    }

    /// Full jitter from an RNG seeded with `seed`: the same seed gives the same delays.
    ///
    /// ```
    /// use std::time::Duration;
    /// use errata_client::jitter::{FullJitter, Jitter};
    /// let cap = Duration::from_secs(8);
    /// assert_eq!(FullJitter::seeded(42).sample(cap), FullJitter::seeded(42).sample(cap));
    /// ```
    pub fn seeded(seed: u64) -> Self {
        FullJitter {
            seeded: Some(Mutex::new(StdRng::seed_from_u64(seed))),
        }
    }
}

impl Default for FullJitter {
    fn default() -> Self {
        FullJitter::new()
    }
}

impl fmt::Debug for FullJitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FullJitter")
            .field("seeded", &self.seeded.is_some())
            .finish()
    }
}

impl Jitter for FullJitter {
    fn sample(&self, cap: Duration) -> Duration {
        let max = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        let nanos = match &self.seeded {
            Some(rng) => rng
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .random_range(0..=max),
            None => rand::rng().random_range(0..=max),
        };
        Duration::from_nanos(nanos)
    }
}

/// No jitter: every step waits its whole cap (0.5 s, 1 s, 2 s, ...). For tests and for a single
/// client that is alone in failing.
///
/// ```
/// use std::time::Duration;
/// use errata_client::jitter::{Jitter, NoJitter};
/// assert_eq!(NoJitter.sample(Duration::from_secs(4)), Duration::from_secs(4));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct NoJitter;

impl Jitter for NoJitter {
    fn sample(&self, cap: Duration) -> Duration {
        cap
    }
}
