//! The gateway the workers serve from, and its replacement on a config reload.
//!
//! Every request is answered by one [`Gateway`] from start to end: the one current when its
//! head was read. A reload builds a new gateway from the new config (sharing what must outlive
//! it: the store, key cache, counters, idempotency records, request log, metrics registry and,
//! when the upstream is the same, its connection pools) and swaps it in; requests in flight
//! keep the old one until they finish, and nothing is dropped.
//!
//! A connection reads the current gateway through its own [`Current`]: one atomic load per
//! request, no reference count touched unless a reload happened.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::gateway::Gateway;

/// The current gateway, shared by every worker and connection.
pub type Live = ArcSwap<Gateway>;

/// A live handle over `gateway`.
pub fn live(gateway: Arc<Gateway>) -> Arc<Live> {
    Arc::new(ArcSwap::new(gateway))
}

/// One connection's view of the current gateway.
pub struct Current {
    live: Arc<Live>,
    cache: arc_swap::Cache<Arc<Live>, Arc<Gateway>>,
}

impl Current {
    pub fn new(live: &Arc<Live>) -> Current {
        Current {
            live: Arc::clone(live),
            cache: arc_swap::Cache::new(Arc::clone(live)),
        }
    }

    /// The gateway current now.
    pub fn get(&mut self) -> &Arc<Gateway> {
        self.cache.load()
    }

    /// The live handle this view reads.
    pub fn live(&self) -> &Arc<Live> {
        &self.live
    }
}
