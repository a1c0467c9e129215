//! What one worker recorded since the last flush: its records, written straight into a chunk;
//! its usage counts; its keys' limit states. The flush task takes it whole.

use std::collections::HashMap;

use super::Entry;
use super::chunk::{Builder, Chunk};
use super::usage::{LimitState, UsageKey};
use crate::counters::Window;

/// One usage counter, its names as indexes into the batch's chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Slot {
    /// Start of the minute, Unix seconds.
    minute: i64,
    /// Index + 1; 0 for none (an answer that named no known key).
    key: u32,
    /// Index + 1; 0 for none.
    tenant: u32,
    route: u32,
    status: u16,
    /// Index + 1; 0 for none.
    code: u32,
}

/// A key's limit windows after a request.
#[derive(Clone, Copy, Debug)]
struct Snap {
    observed_at: i64,
    rate: Option<Window>,
    quota: Option<Window>,
}

/// What became of a record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Added {
    /// Kept: the batch now holds this many.
    Kept(usize),
    /// Left out by `success_sample`.
    Sampled,
    /// The batch was full.
    Dropped,
}

/// What a worker has recorded since the last flush.
#[derive(Default)]
pub(crate) struct Batch {
    chunk: Builder,
    counts: HashMap<Slot, u64>,
    /// The counter the previous request added to, not yet in `counts`: most requests add to
    /// the one before theirs, without hashing.
    last: Option<(Slot, u64)>,
    /// By key name index.
    limits: Vec<Option<Snap>>,
}

impl Batch {
    /// Writes its records into `data` from now on (the batch is empty).
    pub(crate) fn use_buffer(&mut self, data: Vec<u8>) {
        self.chunk.use_buffer(data);
    }

    /// Whether its record buffer has room already (it held records before).
    pub(crate) fn has_buffer(&self) -> bool {
        self.chunk.capacity() > 0
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.chunk.rows() == 0 && self.last.is_none() && self.counts.is_empty()
    }

    /// Counts `e` in usage (an answer that named no known key under no key and no tenant),
    /// keeps the key's limit windows and (when `keep` and fewer than `cap` are held) appends
    /// the record.
    ///
    /// A key's limit state is kept when its limits were counted (`windows` has one), and also
    /// when the request reached the upstream without one: it passed the limit stage, and none
    /// of its limits count requests (a plan without rate or quota).
    pub(crate) fn add(
        &mut self,
        e: &Entry,
        windows: (Option<Window>, Option<Window>),
        keep: bool,
        cap: usize,
    ) -> Added {
        let n = self.chunk.named(e);
        let slot = Slot {
            minute: e.time_ms.div_euclid(60_000) * 60,
            key: n.key,
            tenant: n.tenant,
            route: n.route,
            status: e.status,
            code: n.code,
        };
        match &mut self.last {
            Some((s, c)) if *s == slot => *c += 1,
            last => {
                if let Some((s, c)) = last.replace((slot, 1)) {
                    *self.counts.entry(s).or_insert(0) += c;
                }
            }
        }
        let counted = windows.0.is_some() || windows.1.is_some() || e.upstream_status.is_some();
        if n.key != 0 && counted {
            let k = (n.key - 1) as usize;
            if self.limits.len() <= k {
                self.limits.resize(k + 1, None);
            }
            self.limits[k] = Some(Snap {
                observed_at: e.time_ms / 1000,
                rate: windows.0,
                quota: windows.1,
            });
        }
        if !keep {
            return Added::Sampled;
        }
        if self.chunk.rows() >= cap {
            return Added::Dropped;
        }
        self.chunk.push_named(e, &n);
        Added::Kept(self.chunk.rows())
    }

    /// The limit state of a key as this batch saw it last.
    pub(crate) fn limit_state(&self, key_id: &str) -> Option<LimitState> {
        let i = self.chunk.find(key_id)? as usize;
        let s = self.limits.get(i).copied().flatten()?;
        Some(LimitState {
            key_id: key_id.to_owned(),
            observed_at: s.observed_at,
            rate: s.rate.map(Into::into),
            quota: s.quota.map(Into::into),
        })
    }

    /// Empties the batch: its records as a chunk (None when there are none), its usage counts
    /// and its limit states. It then writes into `data`.
    pub(crate) fn finish(
        &mut self,
        data: Vec<u8>,
    ) -> (Option<Chunk>, Vec<(UsageKey, u64)>, Vec<LimitState>) {
        if let Some((s, c)) = self.last.take() {
            *self.counts.entry(s).or_insert(0) += c;
        }
        let name = |b: &Builder, i: u32| b.name(i).to_owned();
        // Index + 1, 0 for none (the empty name).
        let maybe = |b: &Builder, i: u32| i.checked_sub(1).map_or_else(String::new, |i| name(b, i));
        let counts = self
            .counts
            .drain()
            .map(|(s, n)| {
                let k = UsageKey {
                    minute: s.minute,
                    key_id: maybe(&self.chunk, s.key),
                    tenant: maybe(&self.chunk, s.tenant),
                    route: name(&self.chunk, s.route),
                    status: s.status,
                    code: maybe(&self.chunk, s.code),
                };
                (k, n)
            })
            .collect();
        let limits = self
            .limits
            .drain(..)
            .enumerate()
            .filter_map(|(i, s)| {
                let s = s?;
                Some(LimitState {
                    key_id: self.chunk.name(i as u32).to_owned(),
                    observed_at: s.observed_at,
                    rate: s.rate.map(Into::into),
                    quota: s.quota.map(Into::into),
                })
            })
            .collect();
        let chunk = self.chunk.finish(data);
        ((chunk.rows > 0).then_some(chunk), counts, limits)
    }
}
