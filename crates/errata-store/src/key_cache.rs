//! The verified-key cache: the store's answers by key hash, in 16 shards, bounded, with one
//! store lookup per key at a time and a stale answer served while that lookup runs.
//!
//! An answer is *fresh* for `fresh` (`timeouts.key_cache_ms`) after the store gave it. Past
//! that, the first request for the key asks the store again (the *refresh*); requests arriving
//! meanwhile are answered from the stale entry instead of queueing on the store, for at most
//! `max_stale` more (`key_cache.max_stale_ms`). A key no entry can answer for waits for the one
//! lookup already running for it (*single flight*), so a thousand requests for one key are one
//! store query, not a thousand.
//!
//! An answer is the key's whole record, a revoked or expired key's too: its refusals are told
//! apart and name its key and tenant from the cache, with no store query of their own. Only a
//! hash no key has is cached as `None`.
//!
//! A change of any key ([`KeyCache::clear`], from the admin API, the store's change poll or its
//! `LISTEN/NOTIFY`) moves the cache to a new *epoch*: entries of older epochs are never served,
//! even stale, and a lookup that began before the change never installs its answer (it asks the
//! store again), so a revocation wins over a refresh already in flight.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::db::{KeyRecord, KeyStore, StoreError};
use crate::keys;

/// The store's answer for a hash: the key's record, or `None` when no key has that hash.
pub type Answer = Option<Arc<KeyRecord>>;

/// Why no answer could be given.
#[derive(Debug)]
pub enum Unavailable {
    /// The store failed.
    Failed(StoreError),
    /// The store did not answer within the store timeout.
    TimedOut,
}

/// The default number of entries kept.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// The default time an answer is served past its freshness while the store is asked again.
pub const DEFAULT_MAX_STALE: Duration = Duration::from_secs(5);

/// Shards, one per leading hex digit of the key hash.
const SHARDS: usize = 16;

/// When a shard is full, the share of its entries dropped at once (the oldest): eviction
/// frees room for many inserts instead of scanning on each one.
const EVICT_DIVISOR: usize = 8;

/// Store answers by key hash. See the [module docs](self).
pub struct KeyCache {
    fresh: Duration,
    max_stale: Duration,
    shard_capacity: usize,
    epoch: AtomicU64,
    shards: Box<[Shard]>,
}

struct Shard {
    entries: RwLock<HashMap<String, Entry>>,
    /// Lookups under way, by hash; a waiter subscribes to the leader's outcome.
    flights: Mutex<HashMap<String, watch::Receiver<Option<Outcome>>>>,
}

struct Entry {
    answer: Answer,
    at: Instant,
    epoch: u64,
}

/// What a lookup's leader tells its waiters.
#[derive(Clone)]
enum Outcome {
    Answer(Answer),
    StoreDown,
}

/// A lookup this request leads: publishes to waiters, and leaves the flight table when dropped
/// (also when the request is cancelled, so a waiter then takes over).
struct Lead<'c> {
    shard: &'c Shard,
    hash: &'c str,
    tx: watch::Sender<Option<Outcome>>,
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        lock(&self.shard.flights).remove(self.hash);
    }
}

enum Role<'c> {
    Lead(Lead<'c>),
    Wait(watch::Receiver<Option<Outcome>>),
}

/// `t + d`, or a time far enough ahead when that is past what an `Instant` holds.
fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .unwrap_or_else(|| t + Duration::from_secs(1 << 32))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl KeyCache {
    /// A cache trusting an answer for `fresh`, serving it up to `max_stale` longer while the
    /// store is asked again, holding about `capacity` entries (rounded up to a multiple of 16).
    pub fn new(fresh: Duration, max_stale: Duration, capacity: usize) -> KeyCache {
        KeyCache {
            fresh,
            max_stale,
            shard_capacity: capacity.div_ceil(SHARDS).max(1),
            epoch: AtomicU64::new(0),
            shards: (0..SHARDS)
                .map(|_| Shard {
                    entries: RwLock::new(HashMap::new()),
                    flights: Mutex::new(HashMap::new()),
                })
                .collect(),
        }
    }

    /// Forgets every answer (a key changed somewhere): nothing cached before is served again,
    /// and no lookup begun before is installed.
    pub fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for shard in self.shards.iter() {
            shard
                .entries
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        }
    }

    /// The number of entries held (for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.entries
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .len()
            })
            .sum()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, hash: &str) -> &Shard {
        let digit = hash
            .as_bytes()
            .first()
            .and_then(|b| (*b as char).to_digit(16))
            .unwrap_or(0) as usize;
        &self.shards[digit % SHARDS]
    }

    /// The store's answer for `hash`: from the cache when fresh; otherwise from the one lookup
    /// for it, led by this request or another (a stale answer meanwhile, if there is one).
    /// The whole wait is bounded by `timeout`.
    pub async fn answer(
        &self,
        hash: &str,
        store: &dyn KeyStore,
        timeout: Duration,
    ) -> Result<Answer, Unavailable> {
        self.answer_noting(hash, store, timeout, &mut false).await
    }

    /// [`KeyCache::answer`], setting `cached` when the answer came from the cache (fresh, or
    /// stale while another request asks the store) without waiting for the store.
    pub async fn answer_noting(
        &self,
        hash: &str,
        store: &dyn KeyStore,
        timeout: Duration,
        cached: &mut bool,
    ) -> Result<Answer, Unavailable> {
        let shard = self.shard(hash);
        let started = Instant::now();
        let epoch = self.epoch.load(Ordering::Acquire);
        let stale = match self.cached(shard, hash, epoch, started) {
            Cached::Fresh(answer) => {
                *cached = true;
                return Ok(answer);
            }
            Cached::Stale(answer) => Some(answer),
            Cached::None => None,
        };
        // A stale answer may be served only while no change was announced since it was read.
        let stale_ok = |s: &Option<Answer>| {
            s.clone()
                .filter(|_| self.epoch.load(Ordering::Acquire) == epoch)
        };
        let deadline = later(started, timeout);
        loop {
            match self.join(shard, hash) {
                Role::Wait(mut rx) => {
                    if let Some(answer) = stale_ok(&stale) {
                        *cached = true;
                        return Ok(answer);
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    let outcome =
                        match tokio::time::timeout(left, rx.wait_for(Option::is_some)).await {
                            Err(_) => return Err(Unavailable::TimedOut),
                            // The leader went away without an answer: lead or wait again.
                            Ok(Err(_)) => continue,
                            Ok(Ok(outcome)) => outcome.clone(),
                        };
                    return match outcome {
                        Some(Outcome::Answer(answer)) => Ok(answer),
                        Some(Outcome::StoreDown) | None => Err(Unavailable::Failed(StoreError(
                            "the key store failed".into(),
                        ))),
                    };
                }
                Role::Lead(lead) => {
                    // A lookup that ended between the first look and now may have answered.
                    let now_epoch = self.epoch.load(Ordering::Acquire);
                    if let Cached::Fresh(answer) =
                        self.cached(shard, hash, now_epoch, Instant::now())
                    {
                        let _ = lead.tx.send(Some(Outcome::Answer(answer.clone())));
                        return Ok(answer);
                    }
                    return match self.lookup(shard, hash, store, deadline).await {
                        Ok(answer) => {
                            let _ = lead.tx.send(Some(Outcome::Answer(answer.clone())));
                            Ok(answer)
                        }
                        Err(e) => {
                            let _ = lead.tx.send(Some(Outcome::StoreDown));
                            match stale_ok(&stale) {
                                Some(answer) => {
                                    tracing::warn!(
                                        error = ?e,
                                        "key store unavailable; serving the last verification"
                                    );
                                    Ok(answer)
                                }
                                None => Err(e),
                            }
                        }
                    };
                }
            }
        }
    }

    fn cached(&self, shard: &Shard, hash: &str, epoch: u64, now: Instant) -> Cached {
        let map = shard.entries.read().unwrap_or_else(PoisonError::into_inner);
        let Some(e) = map.get(hash).filter(|e| e.epoch == epoch) else {
            return Cached::None;
        };
        let age = now.saturating_duration_since(e.at);
        if age < self.fresh {
            Cached::Fresh(e.answer.clone())
        } else if age < self.fresh + self.max_stale {
            Cached::Stale(e.answer.clone())
        } else {
            Cached::None
        }
    }

    /// Leads the lookup for `hash`, or joins the one under way.
    fn join<'c>(&self, shard: &'c Shard, hash: &'c str) -> Role<'c> {
        let mut flights = lock(&shard.flights);
        if let Some(rx) = flights.get(hash) {
            return Role::Wait(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        flights.insert(hash.to_owned(), rx);
        Role::Lead(Lead { shard, hash, tx })
    }

    /// Asks the store, until an answer is read within one epoch (a change announced during the
    /// read means the answer may predate it), and installs it.
    async fn lookup(
        &self,
        shard: &Shard,
        hash: &str,
        store: &dyn KeyStore,
        deadline: Instant,
    ) -> Result<Answer, Unavailable> {
        loop {
            let epoch = self.epoch.load(Ordering::Acquire);
            let left = deadline.saturating_duration_since(Instant::now());
            let answer = match tokio::time::timeout(left, store.find_by_hash(hash)).await {
                Ok(Ok(Some(rec))) if keys::hashes_equal(&rec.key_hash, hash) => Some(Arc::new(rec)),
                Ok(Ok(_)) => None,
                Ok(Err(e)) => return Err(Unavailable::Failed(e)),
                Err(_) => return Err(Unavailable::TimedOut),
            };
            if self.install(shard, hash, &answer, epoch) {
                return Ok(answer);
            }
        }
    }

    /// Stores an answer read in `epoch`; `false` (and nothing stored) when the epoch has moved.
    fn install(&self, shard: &Shard, hash: &str, answer: &Answer, epoch: u64) -> bool {
        let mut map = shard
            .entries
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Checked under the shard's lock: `clear` moves the epoch before it takes the lock.
        if self.epoch.load(Ordering::Acquire) != epoch {
            return false;
        }
        let now = Instant::now();
        if map.len() >= self.shard_capacity && !map.contains_key(hash) {
            self.evict(&mut map, now);
        }
        map.insert(
            hash.to_owned(),
            Entry {
                answer: answer.clone(),
                at: now,
                epoch,
            },
        );
        true
    }

    /// Makes room in a full shard: drops what can no longer be served, and if that is not
    /// enough, the oldest eighth (never everything at once).
    fn evict(&self, map: &mut HashMap<String, Entry>, now: Instant) {
        let usable = self.fresh + self.max_stale;
        let epoch = self.epoch.load(Ordering::Acquire);
        map.retain(|_, e| e.epoch == epoch && now.saturating_duration_since(e.at) < usable);
        if map.len() < self.shard_capacity {
            return;
        }
        let mut ages: Vec<Instant> = map.values().map(|e| e.at).collect();
        let drop = (ages.len() / EVICT_DIVISOR).max(1);
        let (_, cutoff, _) = ages.select_nth_unstable(drop - 1);
        let cutoff = *cutoff;
        let mut dropped = 0;
        map.retain(|_, e| {
            if dropped < drop && e.at <= cutoff {
                dropped += 1;
                false
            } else {
                true
            }
        });
    }
}

enum Cached {
    Fresh(Answer),
    Stale(Answer),
    None,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(hash: &str) -> Answer {
        Some(Arc::new(KeyRecord {
            id: format!("key_{hash}"),
            key_hash: hash.to_owned(),
            hint: String::new(),
            tenant: "t".into(),
            name: "n".into(),
            environment: crate::keys::Environment::Live,
            scopes: Vec::new(),
            plan: "default".into(),
            ip_allowlist: Vec::new(),
            limits: None,
            expires_at: None,
            created_at: 0,
            last_used_at: None,
            revoked_at: None,
            replaced_by: None,
        }))
    }

    #[test]
    fn a_full_shard_drops_its_oldest_eighth_not_everything() {
        // 16 entries a shard; every hash below lands in shard 0.
        let cache = KeyCache::new(Duration::from_secs(60), Duration::ZERO, 16 * 16);
        let shard = cache.shard("0");
        for i in 0..16 {
            let h = format!("0{i:02}");
            assert!(cache.install(shard, &h, &record(&h), 0));
        }
        assert_eq!(cache.len(), 16);
        assert!(cache.install(shard, "0new", &record("0new"), 0));
        // 16 full: the two oldest go (16 / 8), the new one comes in.
        assert_eq!(cache.len(), 15);
        let now = Instant::now();
        assert!(matches!(
            cache.cached(shard, "0new", 0, now),
            Cached::Fresh(_)
        ));
        assert!(matches!(
            cache.cached(shard, "015", 0, now),
            Cached::Fresh(_)
        ));
    }

    #[test]
    fn an_install_from_before_a_clear_is_refused() {
        let cache = KeyCache::new(Duration::from_secs(60), Duration::ZERO, 100);
        let shard = cache.shard("a1");
        cache.clear();
        assert!(!cache.install(shard, "a1", &record("a1"), 0));
        assert!(cache.is_empty());
        assert!(cache.install(shard, "a1", &record("a1"), 1));
        assert_eq!(cache.len(), 1);
    }
}
