//! Records in this process's memory, the default: sharded maps with a byte budget. Finished
//! records leave when they expire or, when the budget is spent, oldest first (a retry of an
//! evicted key runs again). Claims are never evicted: each belongs to a running request, which
//! finishes or releases it.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::record::Record;
use super::records::{Fingerprint, Found, NewClaim, Records, RecordsError};

const SHARDS: usize = 16;

struct Entry {
    fingerprint: Fingerprint,
    token: String,
    expires_ms: u64,
    /// `None` while the request is in flight.
    record: Option<Arc<Record>>,
    /// Which finished record this is, to match the eviction queue's entries.
    seq: u64,
}

#[derive(Default)]
struct Shard {
    map: HashMap<String, Entry>,
    /// Finished records in the order they were stored (so also of expiry: one TTL for all).
    order: VecDeque<(u64, String)>,
    bytes: usize,
    next_seq: u64,
}

impl Shard {
    /// Drops finished records that expired, then the oldest while over `budget`.
    fn trim(&mut self, now_ms: u64, budget: usize) {
        while let Some((seq, key)) = self.order.front() {
            let Some(e) = self.map.get(key) else {
                self.order.pop_front();
                continue;
            };
            if e.seq != *seq || e.record.is_none() {
                // Replaced since: the queue entry is stale.
                self.order.pop_front();
                continue;
            }
            if e.expires_ms > now_ms && self.bytes <= budget {
                break;
            }
            if let Some((_, key)) = self.order.pop_front()
                && let Some(e) = self.map.remove(&key)
            {
                self.bytes -= e.record.map_or(0, |r| r.size());
            }
        }
    }

    fn remove(&mut self, key: &str) {
        if let Some(e) = self.map.remove(key) {
            self.bytes -= e.record.map_or(0, |r| r.size());
        }
    }
}

/// In-memory records for one gateway instance.
pub struct MemoryRecords {
    shards: Vec<Mutex<Shard>>,
    budget: usize,
}

impl MemoryRecords {
    /// Records holding up to about `max_bytes` of answers.
    pub fn new(max_bytes: u64) -> MemoryRecords {
        MemoryRecords {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            budget: usize::try_from(max_bytes).unwrap_or(usize::MAX) / SHARDS,
        }
    }

    fn shard(&self, key: &str) -> Result<std::sync::MutexGuard<'_, Shard>, RecordsError> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        self.shards[(h.finish() as usize) % SHARDS]
            .lock()
            .map_err(|_| RecordsError("records lock poisoned".into()))
    }
}

#[async_trait]
impl Records for MemoryRecords {
    async fn claim(&self, key: &str, claim: &NewClaim, now_ms: u64) -> Result<Found, RecordsError> {
        let mut shard = self.shard(key)?;
        shard.trim(now_ms, self.budget);
        match shard.map.get(key) {
            Some(e) if e.expires_ms > now_ms => {
                return Ok(match &e.record {
                    None => Found::InFlight {
                        fingerprint: e.fingerprint,
                    },
                    Some(r) => Found::Done {
                        fingerprint: e.fingerprint,
                        record: Arc::clone(r),
                    },
                });
            }
            Some(_) => shard.remove(key),
            None => {}
        }
        shard.map.insert(
            key.to_owned(),
            Entry {
                fingerprint: claim.fingerprint,
                token: claim.token.clone(),
                expires_ms: claim.expires_ms,
                record: None,
                seq: 0,
            },
        );
        Ok(Found::Claimed)
    }

    async fn complete(
        &self,
        key: &str,
        token: &str,
        record: &Record,
        expires_ms: u64,
        ttl_ms: u64,
    ) -> Result<bool, RecordsError> {
        let mut shard = self.shard(key)?;
        let seq = shard.next_seq;
        let Some(e) = shard.map.get_mut(key) else {
            return Ok(false);
        };
        if e.token != token || e.record.is_some() {
            return Ok(false);
        }
        let record = Arc::new(record.clone());
        let size = record.size();
        e.record = Some(record);
        e.expires_ms = expires_ms;
        e.seq = seq;
        shard.next_seq += 1;
        shard.bytes += size;
        shard.order.push_back((seq, key.to_owned()));
        shard.trim(expires_ms.saturating_sub(ttl_ms), self.budget);
        Ok(true)
    }

    fn release(&self, key: &str, token: &str) {
        let Ok(mut shard) = self.shard(key) else {
            return;
        };
        if shard
            .map
            .get(key)
            .is_some_and(|e| e.token == token && e.record.is_none())
        {
            shard.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn claim(token: &str, fp: u8, expires_ms: u64) -> NewClaim {
        NewClaim {
            token: token.into(),
            fingerprint: [fp; 32],
            expires_ms,
            ttl_ms: 0,
        }
    }

    fn record(body: &'static [u8]) -> Record {
        Record {
            status: 201,
            headers: Vec::new(),
            body: Bytes::from_static(body),
            code: None,
        }
    }

    #[tokio::test]
    async fn a_key_is_claimed_once_then_replays_until_it_expires() {
        let r = MemoryRecords::new(1 << 20);
        assert!(matches!(
            r.claim("k", &claim("a", 1, 100), 0).await.unwrap(),
            Found::Claimed
        ));
        assert!(matches!(
            r.claim("k", &claim("b", 1, 100), 10).await.unwrap(),
            Found::InFlight { fingerprint } if fingerprint == [1; 32]
        ));
        assert!(
            !r.complete("k", "b", &record(b"x"), 1000, 990)
                .await
                .unwrap()
        );
        assert!(
            r.complete("k", "a", &record(b"x"), 1000, 990)
                .await
                .unwrap()
        );
        let Found::Done { record: got, .. } = r.claim("k", &claim("c", 2, 100), 999).await.unwrap()
        else {
            panic!("a finished record replays");
        };
        assert_eq!(got.body, Bytes::from_static(b"x"));
        // A release by the finished claim's holder changes nothing.
        r.release("k", "a");
        assert!(matches!(
            r.claim("k", &claim("c", 2, 2000), 999).await.unwrap(),
            Found::Done { .. }
        ));
        // Expired: the key is free again.
        assert!(matches!(
            r.claim("k", &claim("c", 2, 2000), 1000).await.unwrap(),
            Found::Claimed
        ));
    }

    #[tokio::test]
    async fn a_released_or_lapsed_claim_frees_the_key() {
        let r = MemoryRecords::new(1 << 20);
        r.claim("k", &claim("a", 1, 100), 0).await.unwrap();
        r.release("k", "other");
        assert!(matches!(
            r.claim("k", &claim("b", 1, 100), 0).await.unwrap(),
            Found::InFlight { .. }
        ));
        r.release("k", "a");
        assert!(matches!(
            r.claim("k", &claim("b", 1, 100), 0).await.unwrap(),
            Found::Claimed
        ));
        // b never finishes: at its expiry the key is free, and b can no longer complete.
        assert!(matches!(
            r.claim("k", &claim("c", 1, 500), 100).await.unwrap(),
            Found::Claimed
        ));
        assert!(!r.complete("k", "b", &record(b"x"), 1000, 0).await.unwrap());
    }

    #[tokio::test]
    async fn the_oldest_records_leave_when_the_budget_is_spent() {
        // One shard's budget holds about two of these records.
        let body: &'static [u8] = &[7u8; 1000];
        let r = MemoryRecords::new((SHARDS * 2 * record(body).size()) as u64);
        let keys: Vec<String> = (0..200).map(|i| format!("key{i}")).collect();
        for k in &keys {
            r.claim(k, &claim("t", 1, 100), 0).await.unwrap();
            assert!(
                r.complete(k, "t", &record(body), 10_000, 10_000)
                    .await
                    .unwrap()
            );
        }
        // The last one stored is always kept.
        assert!(matches!(
            r.claim(&keys[199], &claim("v", 1, 100), 1).await.unwrap(),
            Found::Done { .. }
        ));
        let mut kept = 0;
        for k in &keys {
            if matches!(
                r.claim(k, &claim("u", 1, 100), 1).await.unwrap(),
                Found::Done { .. }
            ) {
                kept += 1;
            }
        }
        assert!(kept <= SHARDS * 2, "{kept} kept");
        assert!(kept >= SHARDS, "{kept} kept");
    }
}
