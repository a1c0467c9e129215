//! The verified-key cache under load, on a real SQLite store: one lookup per key at a time
//! (single flight), stale answers while a refresh runs, a revocation that wins over a refresh
//! already in flight, a bound on staleness when the store fails, and a bounded size.
//!
//! The store is the real SQLite store wrapped to count lookups and to hold their answers back
//! at a gate (the read happens first: a held answer is one read before whatever the test does
//! meanwhile), or to fail like an unreachable store.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

mod support;

use async_trait::async_trait;
use errata::config::Config;
use errata_admin::manage;
use errata_core::Condition;
use errata_gateway::auth;
use errata_store::db::{self, KeyRecord, KeyStore, NewKey, StoreError};
use errata_store::key_cache::KeyCache;
use errata_store::keys::Environment;
use tokio::sync::Semaphore;

/// The real store, counting lookups; each lookup's answer waits for a permit of `gate`.
struct Counted {
    inner: Arc<dyn KeyStore>,
    lookups: AtomicUsize,
    gate: Semaphore,
    down: AtomicBool,
}

impl Counted {
    fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }

    fn open_gate(&self) {
        self.gate.add_permits(1 << 20);
    }

    /// Waits until `n` lookups have begun (they are held at the gate).
    async fn until_lookups(&self, n: usize) {
        for _ in 0..2_000 {
            if self.lookups() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("expected {n} lookups, saw {}", self.lookups());
    }
}

#[async_trait]
impl KeyStore for Counted {
    async fn insert(
        &self,
        key: &NewKey,
        plan: &str,
        hash: &str,
        hint: &str,
        now: i64,
    ) -> Result<KeyRecord, StoreError> {
        self.inner.insert(key, plan, hash, hint, now).await
    }
    async fn find_by_hash(&self, hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError("connection refused".into()));
        }
        let found = self.inner.find_by_hash(hash).await;
        if let Ok(permit) = self.gate.acquire().await {
            permit.forget();
        }
        found
    }
    async fn get(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.inner.get(id).await
    }
    async fn list(&self, tenant: Option<&str>) -> Result<Vec<KeyRecord>, StoreError> {
        self.inner.list(tenant).await
    }
    async fn revoke(&self, id: &str, now: i64) -> Result<Option<KeyRecord>, StoreError> {
        self.inner.revoke(id, now).await
    }
    async fn rotate(
        &self,
        id: &str,
        hash: &str,
        hint: &str,
        now: i64,
    ) -> Result<Option<KeyRecord>, StoreError> {
        self.inner.rotate(id, hash, hint, now).await
    }
    async fn touch(&self, used: &[(String, i64)]) -> Result<(), StoreError> {
        self.inner.touch(used).await
    }
    async fn change_marker(&self) -> Result<i64, StoreError> {
        self.inner.change_marker().await
    }
    async fn update(&self, key: &KeyRecord) -> Result<bool, StoreError> {
        self.inner.update(key).await
    }
    async fn write_log(
        &self,
        records: &[errata_store::reqlog::Record],
        counts: &[(errata_store::reqlog::UsageKey, u64)],
    ) -> Result<(), StoreError> {
        self.inner.write_log(records, counts).await
    }
    async fn request(&self, id: &str) -> Result<Option<errata_store::reqlog::Record>, StoreError> {
        self.inner.request(id).await
    }
    async fn requests(
        &self,
        q: &errata_store::db::RequestQuery,
    ) -> Result<Vec<errata_store::reqlog::Record>, StoreError> {
        self.inner.requests(q).await
    }
    async fn usage(
        &self,
        q: &errata_store::db::UsageQuery,
    ) -> Result<Vec<errata_store::db::UsageRow>, StoreError> {
        self.inner.usage(q).await
    }
    async fn usage_by_tenant(
        &self,
        q: &errata_store::db::UsageQuery,
    ) -> Result<Vec<errata_store::db::TenantUsageRow>, StoreError> {
        self.inner.usage_by_tenant(q).await
    }
    async fn prune_log(&self, r: &errata_store::db::Retention) -> Result<u64, StoreError> {
        self.inner.prune_log(r).await
    }
}

const STORE_TIMEOUT: Duration = Duration::from_secs(30);

struct Setup {
    store: Arc<Counted>,
    cache: Arc<KeyCache>,
    key: String,
    key_id: String,
}

/// A SQLite store with one valid key, and a cache with the given freshness and staleness.
async fn setup(fresh_ms: u64, max_stale_ms: u64) -> Setup {
    let inner = db::open("sqlite::memory:").await.expect("store");
    let cfg = Config::embedded();
    let issued = manage::create(
        &inner,
        &cfg.admin(),
        &NewKey {
            tenant: "acme".into(),
            name: "load".into(),
            environment: Environment::Live,
            ..NewKey::default()
        },
        manage::now_secs(),
    )
    .await
    .expect("key");
    let store = Arc::new(Counted {
        inner,
        lookups: AtomicUsize::new(0),
        gate: Semaphore::new(0),
        down: AtomicBool::new(false),
    });
    store.open_gate();
    Setup {
        store,
        cache: Arc::new(KeyCache::new(
            Duration::from_millis(fresh_ms),
            Duration::from_millis(max_stale_ms),
            1_000,
        )),
        key: issued.secret,
        key_id: issued.key.id,
    }
}

impl Setup {
    async fn verify(&self) -> Result<Arc<KeyRecord>, Option<Condition>> {
        verify_with(&self.store, &self.cache, &self.key).await
    }

    /// `n` verifications at once, each in its own task.
    fn spawn_many(&self, n: usize) -> Vec<tokio::task::JoinHandle<Result<(), Option<Condition>>>> {
        (0..n)
            .map(|_| {
                let (store, cache, key) = (
                    Arc::clone(&self.store),
                    Arc::clone(&self.cache),
                    self.key.clone(),
                );
                tokio::spawn(async move { verify_with(&store, &cache, &key).await.map(|_| ()) })
            })
            .collect()
    }
}

async fn verify_with(
    store: &Counted,
    cache: &KeyCache,
    key: &str,
) -> Result<Arc<KeyRecord>, Option<Condition>> {
    auth::verify(
        "errata",
        key,
        store,
        cache,
        STORE_TIMEOUT,
        manage::now_secs(),
    )
    .await
    .map_err(|e| e.as_condition())
}

async fn outcomes(
    tasks: Vec<tokio::task::JoinHandle<Result<(), Option<Condition>>>>,
) -> Vec<Result<(), Option<Condition>>> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

const N: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_for_an_uncached_key_make_one_lookup() {
    let s = setup(60_000, 60_000).await;
    s.store.gate.forget_permits(1 << 20);
    let tasks = s.spawn_many(N);
    s.store.until_lookups(1).await;
    // Give every task time to reach the cache while the one lookup is held.
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.store.open_gate();
    let out = outcomes(tasks).await;
    assert!(out.iter().all(Result::is_ok), "{out:?}");
    assert_eq!(s.store.lookups(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_on_an_expired_entry_make_one_lookup() {
    // Fresh for 20 ms, then served stale for 20 ms more: after 100 ms the entry is expired.
    let s = setup(20, 20).await;
    s.verify().await.expect("valid");
    assert_eq!(s.store.lookups(), 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.store.gate.forget_permits(1 << 20);
    let tasks = s.spawn_many(N);
    s.store.until_lookups(2).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.store.open_gate();
    let out = outcomes(tasks).await;
    assert!(out.iter().all(Result::is_ok), "{out:?}");
    assert_eq!(s.store.lookups(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stale_entry_is_served_while_one_refresh_runs() {
    let s = setup(30, 60_000).await;
    s.verify().await.expect("valid");
    tokio::time::sleep(Duration::from_millis(80)).await;
    s.store.gate.forget_permits(1 << 20);

    // The first request past freshness refreshes; its lookup is held at the gate.
    let refresher = s.spawn_many(1);
    s.store.until_lookups(2).await;
    // Everyone else is answered from the stale entry at once: these finish with the gate shut.
    let out = outcomes(s.spawn_many(N)).await;
    assert!(out.iter().all(Result::is_ok), "{out:?}");
    assert_eq!(s.store.lookups(), 2);

    s.store.open_gate();
    assert!(outcomes(refresher).await[0].is_ok());
    // The refreshed entry is fresh again: no lookup.
    s.verify().await.expect("valid");
    assert_eq!(s.store.lookups(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_during_a_refresh_wins_over_the_refresh() {
    let s = setup(30, 60_000).await;
    s.verify().await.expect("valid");
    tokio::time::sleep(Duration::from_millis(80)).await;
    s.store.gate.forget_permits(1 << 20);

    // The refresh reads the store while the key is still valid, and is held there.
    let refresher = s.spawn_many(1);
    s.store.until_lookups(2).await;
    assert!(outcomes(s.spawn_many(10)).await.iter().all(Result::is_ok));

    // The key is revoked and the change announced (as the admin API, the change poll or
    // LISTEN/NOTIFY do) while that read's answer is still on its way.
    s.store
        .revoke(&s.key_id, manage::now_secs())
        .await
        .expect("revoke")
        .expect("the key exists");
    s.cache.clear();

    // From now on nobody is served the stale "valid": they wait for the refresh.
    let after = s.spawn_many(N);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(after.iter().all(|t| !t.is_finished()));

    s.store.open_gate();
    let revoked = Err(Some(Condition::RevokedKey));
    // The answer read before the revocation is not installed: the store is asked again.
    assert_eq!(outcomes(refresher).await, vec![revoked]);
    assert!(outcomes(after).await.iter().all(|o| *o == revoked));
    assert_eq!(s.store.lookups(), 3);
    assert_eq!(s.verify().await.map(|_| ()), revoked);
    assert_eq!(s.store.lookups(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_store_is_bridged_for_max_stale_then_refused() {
    let s = setup(30, 2_000).await;
    s.verify().await.expect("valid");
    s.store.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(80)).await;
    // Past freshness, within max_stale: the last verification still holds.
    s.verify().await.expect("valid while the store is down");
    assert_eq!(s.store.lookups(), 2);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    // Past max_stale: the key is refused as unverifiable.
    assert_eq!(
        s.verify().await.map(|_| ()),
        Err(Some(Condition::ServiceUnavailable))
    );
    // Back up: verified again.
    s.store.down.store(false, Ordering::SeqCst);
    s.verify().await.expect("valid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_stops_stale_answers_even_while_the_store_fails() {
    let s = setup(30, 60_000).await;
    s.verify().await.expect("valid");
    s.store.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(80)).await;
    s.verify().await.expect("stale while the store is down");
    s.cache.clear();
    assert_eq!(
        s.verify().await.map(|_| ()),
        Err(Some(Condition::ServiceUnavailable))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unknown_key_is_one_lookup_and_then_cached() {
    let s = setup(60_000, 60_000).await;
    let unknown = format!("errata_live_{}", "x".repeat(32));
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (store, cache, key) = (Arc::clone(&s.store), Arc::clone(&s.cache), unknown.clone());
            tokio::spawn(async move { verify_with(&store, &cache, &key).await.map(|_| ()) })
        })
        .collect();
    let out = outcomes(tasks).await;
    assert!(out.iter().all(|o| *o == Err(Some(Condition::UnknownKey))));
    assert_eq!(s.store.lookups(), 1);
}

#[tokio::test]
async fn the_cache_holds_at_most_its_capacity() {
    let s = setup(60_000, 60_000).await;
    let cache = KeyCache::new(Duration::from_secs(60), Duration::from_secs(60), 64);
    for i in 0..1_000 {
        let key = format!("errata_live_{i:0>32}");
        assert_eq!(
            verify_with(&s.store, &cache, &key).await.map(|_| ()),
            Err(Some(Condition::UnknownKey))
        );
        assert!(cache.len() <= 64, "{} entries", cache.len());
    }
    // The valid key still verifies, and stays cached.
    verify_with(&s.store, &cache, &s.key).await.expect("valid");
    let before = s.store.lookups();
    verify_with(&s.store, &cache, &s.key).await.expect("valid");
    assert_eq!(s.store.lookups(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn over_http_a_key_past_its_cache_entry_is_not_refused_while_the_store_is_slow() {
    use errata_store::counters::{MemoryCounters, SystemClock};
    use tokio::net::TcpListener;

    let s = setup(50, 60_000).await;
    // store_ms long enough that the held refresh does not time out (a timed-out refresh ends
    // its flight, and the next request past freshness starts another).
    let up = support::upstream(Arc::new(Semaphore::new(0))).await;
    let cfg = Config::from_toml(
        &format!("upstream = \"{up}\"\n\n[timeouts]\nkey_cache_ms = 50\nstore_ms = 30000\n"),
        std::path::Path::new("."),
    )
    .expect("config");
    let running = errata::serve::start(
        cfg,
        Arc::clone(&s.store) as Arc<dyn KeyStore>,
        Arc::new(MemoryCounters::default()),
        Arc::new(SystemClock),
        TcpListener::bind("127.0.0.1:0").await.expect("bind"),
        TcpListener::bind("127.0.0.1:0").await.expect("bind"),
    )
    .await
    .expect("gateway");
    let url = format!("http://{}/v1/things", running.addr);
    let http = reqwest::Client::new();
    let get = |http: reqwest::Client, url: String, key: String| async move {
        http.get(url)
            .bearer_auth(key)
            .send()
            .await
            .expect("answer")
            .status()
            .as_u16()
    };
    assert_eq!(get(http.clone(), url.clone(), s.key.clone()).await, 200);
    assert_eq!(s.store.lookups(), 1);

    // Past freshness, with the store's answers held back: the one refresh waits, every other
    // request is served.
    tokio::time::sleep(Duration::from_millis(120)).await;
    s.store.gate.forget_permits(1 << 20);
    let refresher = tokio::spawn(get(http.clone(), url.clone(), s.key.clone()));
    s.store.until_lookups(2).await;
    let tasks: Vec<_> = (0..N)
        .map(|_| tokio::spawn(get(http.clone(), url.clone(), s.key.clone())))
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("task"), 200);
    }
    assert_eq!(s.store.lookups(), 2);
    s.store.open_gate();
    assert_eq!(refresher.await.expect("task"), 200);
    assert_eq!(s.store.lookups(), 2);
}

#[tokio::test]
async fn a_revoked_keys_record_is_cached_so_its_refusals_name_it_without_a_lookup_each() {
    let s = setup(60_000, 60_000).await;
    s.store
        .revoke(&s.key_id, manage::now_secs())
        .await
        .expect("revoke")
        .expect("the key exists");
    for _ in 0..5 {
        let rec = auth::find("errata", &s.key, s.store.as_ref(), &s.cache, STORE_TIMEOUT)
            .await
            .expect("the store knows the key");
        assert_eq!(
            (rec.id.as_str(), rec.tenant.as_str()),
            (s.key_id.as_str(), "acme")
        );
        assert_eq!(
            auth::usable(&rec, manage::now_secs())
                .unwrap_err()
                .as_condition(),
            Some(Condition::RevokedKey)
        );
    }
    // One store lookup for five refusals, as for a valid key.
    assert_eq!(s.store.lookups(), 1);
    assert_eq!(
        verify_with(&s.store, &s.cache, &s.key).await.unwrap_err(),
        Some(Condition::RevokedKey)
    );
    assert_eq!(s.store.lookups(), 1);
}
