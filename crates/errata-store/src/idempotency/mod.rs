//! Idempotency records: the answer of a claimed idempotency key, kept until it expires, in this
//! process's memory or in Redis beside the counters. The gateway's idempotency stage decides
//! with them.

mod memory;
mod record;
mod records;
mod redis;
mod settings;

pub use memory::MemoryRecords;
pub use record::{REPLAYED, Record, recordable};
pub use records::{Fingerprint, Found, NewClaim, Records, RecordsError};
pub use redis::RedisRecords;
pub use settings::{IN_FLIGHT_SLACK, RawSettings, Settings};
