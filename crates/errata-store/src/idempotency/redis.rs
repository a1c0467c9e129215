//! Records in Redis, shared by the gateway instances that share its counters.
//!
//! One hash per key, `errata:{subject}:idem:{key}` (the subject's hash tag, as the counters'):
//! `fp` the request's fingerprint, `tok` the claim's token, `exp` its expiry (Unix ms, the
//! gateway's clock, as the counters use), and once finished `rec`, the encoded answer. Each
//! operation is one Lua script, so a claim is atomic across instances: of N instances claiming
//! one key at once, one gets it and the others see it in flight.
//!
//! The hash also carries a Redis expiry (`PEXPIRE`) of the claim's or record's TTL, so what an
//! instance leaves behind (it died mid-request) disappears by itself. Releasing a claim is sent
//! in the background; if it fails, the claim's TTL frees the key.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;

use super::record::Record;
use super::records::{Fingerprint, Found, NewClaim, Records, RecordsError};
use crate::redis_conn::{Conn, Lua};

/// KEYS: the entry. ARGV: now, token, fingerprint, claim expiry (ms), claim TTL (ms).
/// Returns {0, '', ''} when claimed, {1, fp, ''} in flight, {2, fp, rec} finished.
const CLAIM: &str = r#"
local v = redis.call('HMGET', KEYS[1], 'exp', 'fp', 'rec')
if v[1] and tonumber(v[1]) > tonumber(ARGV[1]) then
  if v[3] then
    return {2, v[2], v[3]}
  end
  return {1, v[2], ''}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'exp', ARGV[4], 'tok', ARGV[2], 'fp', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {0, '', ''}
"#;

/// KEYS: the entry. ARGV: token, record, expiry (ms), TTL (ms). Returns 1 if stored.
const COMPLETE: &str = r#"
if redis.call('HGET', KEYS[1], 'tok') ~= ARGV[1] or redis.call('HEXISTS', KEYS[1], 'rec') == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'exp', ARGV[3], 'rec', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"#;

/// KEYS: the entry. ARGV: token. Deletes an unfinished claim holding the token.
const RELEASE: &str = r#"
if redis.call('HGET', KEYS[1], 'tok') == ARGV[1] and redis.call('HEXISTS', KEYS[1], 'rec') == 0 then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

static CLAIM_SCRIPT: LazyLock<Lua> = LazyLock::new(|| Lua::new(CLAIM));
static COMPLETE_SCRIPT: LazyLock<Lua> = LazyLock::new(|| Lua::new(COMPLETE));
static RELEASE_SCRIPT: LazyLock<Lua> = LazyLock::new(|| Lua::new(RELEASE));

/// Records in a Redis (one node or a cluster), over the counters' connection (its timeouts
/// bound every call). Each script names one key, under the idempotency scope's hash tag.
#[derive(Clone)]
pub struct RedisRecords {
    conn: Conn,
}

impl std::fmt::Debug for RedisRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRecords").finish_non_exhaustive()
    }
}

impl RedisRecords {
    pub(crate) fn new(conn: Conn) -> Arc<RedisRecords> {
        Arc::new(RedisRecords { conn })
    }
}

/// The Redis key of a scoped idempotency key (`subject\0key`).
fn redis_key(key: &str) -> String {
    match key.split_once('\0') {
        Some((subject, k)) => format!("errata:{{{subject}}}:idem:{k}"),
        None => format!("errata:idem:{key}"),
    }
}

fn redis_error(e: redis::RedisError) -> RecordsError {
    RecordsError(format!("redis: {e}"))
}

fn fingerprint(bytes: &[u8]) -> Result<Fingerprint, RecordsError> {
    bytes
        .try_into()
        .map_err(|_| RecordsError("redis: a record has no valid fingerprint".into()))
}

#[async_trait]
impl Records for RedisRecords {
    async fn claim(&self, key: &str, claim: &NewClaim, now_ms: u64) -> Result<Found, RecordsError> {
        let mut invocation = CLAIM_SCRIPT.call();
        invocation
            .key(redis_key(key))
            .arg(now_ms)
            .arg(&claim.token)
            .arg(&claim.fingerprint[..])
            .arg(claim.expires_ms)
            .arg(claim.ttl_ms.max(1));
        let mut conn = self.conn.clone();
        let (state, fp, rec): (i64, Vec<u8>, Vec<u8>) =
            invocation.run(&mut conn).await.map_err(redis_error)?;
        match state {
            0 => Ok(Found::Claimed),
            1 => Ok(Found::InFlight {
                fingerprint: fingerprint(&fp)?,
            }),
            2 => Ok(Found::Done {
                fingerprint: fingerprint(&fp)?,
                record: Arc::new(
                    Record::decode(&rec)
                        .ok_or_else(|| RecordsError("redis: a record does not decode".into()))?,
                ),
            }),
            other => Err(RecordsError(format!(
                "redis: unexpected claim result {other}"
            ))),
        }
    }

    async fn complete(
        &self,
        key: &str,
        token: &str,
        record: &Record,
        expires_ms: u64,
        ttl_ms: u64,
    ) -> Result<bool, RecordsError> {
        let mut invocation = COMPLETE_SCRIPT.call();
        invocation
            .key(redis_key(key))
            .arg(token)
            .arg(record.encode())
            .arg(expires_ms)
            .arg(ttl_ms.max(1));
        let mut conn = self.conn.clone();
        let stored: i64 = invocation.run(&mut conn).await.map_err(redis_error)?;
        Ok(stored == 1)
    }

    fn release(&self, key: &str, token: &str) {
        // Without a runtime there is nothing to send with; the claim's TTL frees the key.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (key, token) = (redis_key(key), token.to_owned());
        let mut conn = self.conn.clone();
        runtime.spawn(async move {
            let mut invocation = RELEASE_SCRIPT.call();
            invocation.key(&key).arg(&token);
            let res: redis::RedisResult<i64> = invocation.run(&mut conn).await;
            if let Err(e) = res {
                tracing::warn!(error = %e, "releasing an idempotency key failed; its in-flight TTL will free it");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_the_subjects_hash_tag() {
        assert_eq!(
            redis_key("k:key_1\0order-42"),
            "errata:{k:key_1}:idem:order-42"
        );
    }
}
