//! Several gateway processes sharing one PostgreSQL key store and one Redis: limits hold across
//! instances, a revocation on one is seen by the other within the bound, and losing Redis gives
//! the configured failure policy without a hang, then recovery. The limits and revocation run
//! twice: in plain text, and over TLS to both PostgreSQL (`verify-full`) and Redis (`rediss://`
//! with a private CA). On a Redis Cluster (three masters, a replica each, started by the test):
//! the same limits and idempotency, each API key's state on one master and the keys spread
//! over all, a seed that is down passed over, and a master killed mid-run as a bounded blip.

#[path = "support/certs.rs"]
mod certs;
#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/services.rs"]
mod services;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Semaphore;

const TOKEN: &str = "admin-token-0123456789";

struct Instance {
    child: Child,
    base: String,
    admin: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("errata-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Counts requests that reached an upstream's `/hold`.
type Held = Arc<std::sync::atomic::AtomicUsize>;

/// An upstream whose `/hold` answers only when the test adds a permit.
async fn upstream(gate: Arc<Semaphore>, held: Held) -> String {
    let app = axum::Router::new()
        .route("/ok", axum::routing::get(|| async { "ok" }))
        .route(
            "/hold",
            axum::routing::get(move || {
                let gate = Arc::clone(&gate);
                let held = Arc::clone(&held);
                async move {
                    held.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let _p = gate.acquire().await;
                    "released"
                }
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://{addr}")
}

fn write_config(dir: &Path, upstream: &str, store: &str, counters: &str, extra: &str) -> PathBuf {
    let path = dir.join("errata.toml");
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:0\"\nupstream = \"{upstream}\"\nstore = \"{store}\"\ncounters = \"{counters}\"\nkey_prefix = \"multi\"\n{extra}\n\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n"
        ),
    )
    .unwrap();
    path
}

fn start(cfg: &Path) -> Instance {
    let mut child = Command::new(env!("CARGO_BIN_EXE_errata"))
        .args(["serve", "--config"])
        .arg(cfg)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut base = None;
    let mut admin = None;
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("errata gateway listening on ") {
            base = Some(rest.split(' ').next().unwrap().to_owned());
        }
        if let Some(rest) = line.trim().strip_prefix("admin API: ") {
            admin = Some(rest.split(' ').next().unwrap().to_owned());
            break;
        }
    }
    // Keep draining stdout so the process never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Instance {
        child,
        base: base.expect("listening line"),
        admin: admin.expect("admin line"),
    }
}

async fn create_key(http: &reqwest::Client, admin: &str, body: Value) -> (String, String) {
    let res = http
        .post(format!("{admin}/keys"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    (
        v["secret"].as_str().unwrap().to_owned(),
        v["key"]["id"].as_str().unwrap().to_owned(),
    )
}

/// Fires `n` requests at once, alternating between the instances; returns the statuses.
async fn burst(
    http: &reqwest::Client,
    bases: &[&str],
    path: &str,
    key: &str,
    n: usize,
) -> Vec<u16> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let req = http
            .get(format!("{}{path}", bases[i % bases.len()]))
            .bearer_auth(key);
        tasks.push(tokio::spawn(async move {
            req.send().await.map(|r| r.status().as_u16()).unwrap_or(0)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn count(statuses: &[u16], s: u16) -> usize {
    statuses.iter().filter(|&&x| x == s).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_revocation_hold_across_instances() {
    let Some(db) = services::postgres().await else {
        return;
    };
    let Some(redis) = services::redis() else {
        return;
    };
    let dir = temp_dir("multi");
    across_instances(&dir, &db.url, &redis.url).await;
    drop((redis, db));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_revocation_hold_across_instances_over_tls() {
    let Some(db) = services::postgres().await else {
        return;
    };
    let Some(pg_cert) = services::postgres_server_cert().await else {
        return;
    };
    let dir = temp_dir("multi-tls");
    let ca = certs::TestCa::new("errata test Redis CA");
    let (cert, key) = ca
        .leaf(&["localhost"])
        .write(&dir, "redis.pem", "redis.key");
    let ca_file = ca.write(&dir, "redis-ca.pem");
    let Some(redis) = services::redis_tls(cert, key, ca_file) else {
        return;
    };
    let store = services::postgres_tls_url(
        &db.url,
        &format!("sslmode=verify-full&sslrootcert={}", pg_cert.display()),
    );
    // Relative to the config file, as a deployment would write it.
    let counters = format!("{}?ca=redis-ca.pem", redis.url);
    across_instances(&dir, &store, &counters).await;
    drop((redis, db));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two instances on one store and one Redis: rate, quota, concurrency and revocation are shared.
async fn across_instances(dir: &Path, store: &str, counters: &str) {
    let gate = Arc::new(Semaphore::new(0));
    let reached = Held::default();
    let up = upstream(Arc::clone(&gate), Arc::clone(&reached)).await;
    // Generous bounds on Redis and the store: this test is about sharing, not latency, and a
    // loaded machine must not turn a slow round trip into a 503.
    let plans = "[timeouts]\ncounters_ms = 2000\nstore_ms = 2000\n\n[limits]\ndefault_plan = \"free\"\n\n[plans.free]\nrate = 20\nper_seconds = 3600\nburst = 5\n\n[plans.quota]\nmonthly_quota = 12\n\n[plans.parallel]\nconcurrency = 2\n";
    let cfg = write_config(dir, &up, store, counters, plans);
    let (a, b) = (start(&cfg), start(&cfg));
    let bases = [a.base.as_str(), b.base.as_str()];
    let http = reqwest::Client::new();

    // Rate: 20 per hour with a burst of 5 admits exactly 25 of 60 concurrent requests.
    let (key, _) = create_key(&http, &a.admin, json!({"tenant": "acme", "name": "rate"})).await;
    let statuses = burst(&http, &bases, "/ok", &key, 60).await;
    assert_eq!(
        (count(&statuses, 200), count(&statuses, 429)),
        (25, 35),
        "{statuses:?}"
    );

    // Quota: 12 a month, shared.
    let (key, _) = create_key(
        &http,
        &b.admin,
        json!({"tenant": "acme", "name": "quota", "plan": "quota"}),
    )
    .await;
    let statuses = burst(&http, &bases, "/ok", &key, 30).await;
    assert_eq!(
        (count(&statuses, 200), count(&statuses, 429)),
        (12, 18),
        "{statuses:?}"
    );

    // Concurrency: 2 in flight across both instances.
    let (key, _) = create_key(
        &http,
        &a.admin,
        json!({"tenant": "acme", "name": "parallel", "plan": "parallel"}),
    )
    .await;
    let held: Vec<_> = (0..2)
        .map(|i| {
            tokio::spawn(
                http.get(format!("{}/hold", bases[i]))
                    .bearer_auth(&key)
                    .send(),
            )
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while reached.load(std::sync::atomic::Ordering::SeqCst) < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        reached.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "both held requests are in flight"
    );
    let s = burst(&http, &bases, "/ok", &key, 2).await;
    assert_eq!(s, vec![429, 429], "both instances see the two slots held");
    gate.add_permits(2);
    for h in held {
        assert_eq!(h.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(
        burst(&http, &bases, "/ok", &key, 2).await,
        vec![200, 200],
        "slots released"
    );

    // Revocation on A is seen on B within the bound.
    let (key, id) = create_key(&http, &a.admin, json!({"tenant": "acme", "name": "revoke"})).await;
    assert_eq!(burst(&http, &[bases[1]], "/ok", &key, 1).await, vec![200]);
    let res = http
        .post(format!("{}/keys/{id}/revoke", a.admin))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let revoked = Instant::now();
    let mut seen = None;
    while revoked.elapsed() < Duration::from_secs(5) {
        if burst(&http, &[bases[1]], "/ok", &key, 1).await == vec![401] {
            seen = Some(revoked.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = seen.expect("the other instance refuses the revoked key");
    println!("revocation on A seen on B after {took:?}");
    drop((a, b));
}

async fn redis_outage(policy: &str, during: u16) {
    let Some(db) = services::postgres().await else {
        return;
    };
    let Some(mut redis) = services::redis() else {
        return;
    };
    if !redis.owned() {
        println!("skipped: the Redis of ERRATA_TEST_REDIS_URL cannot be stopped by the test");
        return;
    }
    let dir = temp_dir(&format!("outage-{policy}"));
    let up = upstream(Arc::new(Semaphore::new(0)), Held::default()).await;
    let extra = format!(
        "[failure]\ncounters = \"{policy}\"\n\n[timeouts]\ncounters_ms = 200\n\n[plans.default]\nrate = 1000\nper_seconds = 1\n"
    );
    let cfg = write_config(&dir, &up, &db.url, &redis.url, &extra);
    let gw = start(&cfg);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let (key, _) = create_key(
        &http,
        &gw.admin,
        json!({"tenant": "acme", "name": "outage"}),
    )
    .await;
    assert_eq!(burst(&http, &[&gw.base], "/ok", &key, 1).await, vec![200]);

    redis.kill();
    for _ in 0..5 {
        let res = http
            .get(format!("{}/ok", gw.base))
            .bearer_auth(&key)
            .send()
            .await
            .expect("no hang, no crash");
        assert_eq!(res.status().as_u16(), during, "{policy}");
        if during == 503 {
            assert_eq!(res.headers()["retry-after"], "1");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"]["code"], "service_unavailable");
        }
    }

    redis.start_again();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut recovered = false;
    while Instant::now() < deadline {
        let res = http
            .get(format!("{}/ok", gw.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        if res.status() == 200 && res.headers().contains_key("x-ratelimit-remaining") {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(recovered, "counting resumes by itself once Redis is back");
    drop((gw, redis, db));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_redis_fails_closed_then_recovers() {
    redis_outage("closed", 503).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_redis_fails_open_then_recovers() {
    redis_outage("open", 200).await;
}

/// An upstream that counts the orders it really created; `/v1/held` answers only when the test
/// adds a permit.
async fn orders_upstream(
    runs: Arc<std::sync::atomic::AtomicUsize>,
    gate: Arc<Semaphore>,
) -> String {
    use std::sync::atomic::Ordering;
    let order = move |held: bool| {
        let (runs, gate) = (Arc::clone(&runs), Arc::clone(&gate));
        move || {
            let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
            let gate = Arc::clone(&gate);
            async move {
                if held {
                    let _p = gate.acquire().await;
                }
                (
                    axum::http::StatusCode::CREATED,
                    axum::Json(json!({"id": format!("ord_{n}")})),
                )
            }
        }
    };
    let app = axum::Router::new()
        .route("/v1/orders", axum::routing::post(order(false)))
        .route("/v1/held", axum::routing::post(order(true)));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_runs_once_across_instances() {
    let Some(db) = services::postgres().await else {
        return;
    };
    let Some(redis) = services::redis() else {
        return;
    };
    let dir = temp_dir("idempotency");
    idempotency_across(&dir, &db.url, &redis.url).await;
    drop((redis, db));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two instances on one store and one Redis (or cluster): an idempotency key runs once.
async fn idempotency_across(dir: &Path, store: &str, counters: &str) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let runs = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(0));
    let up = orders_upstream(Arc::clone(&runs), Arc::clone(&gate)).await;
    let cfg = write_config(
        dir,
        &up,
        store,
        counters,
        "[[routes]]\npath = \"/v1\"\nidempotency = true\n",
    );
    let (a, b) = (start(&cfg), start(&cfg));
    let bases = [a.base.as_str(), b.base.as_str()];
    let http = reqwest::Client::new();
    let (key, _) = create_key(&http, &a.admin, json!({"tenant": "acme", "name": "idem"})).await;
    let post = |base: &str, path: &str, idem: &str| {
        http.post(format!("{base}{path}"))
            .bearer_auth(&key)
            .header("idempotency-key", idem)
            .header("content-type", "application/json")
            .body(r#"{"sku":"mug"}"#)
            .send()
    };

    // Sequential: the answer made through A replays from B.
    let first = post(bases[0], "/v1/orders", "seq").await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(!first.headers().contains_key("idempotent-replayed"));
    let first: Value = first.json().await.unwrap();
    let again = post(bases[1], "/v1/orders", "seq").await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // Concurrent, alternating between the instances: one execution, everyone else 409 or the
    // replay of that one.
    let attempts: Vec<_> = (0..30)
        .map(|i| tokio::spawn(post(bases[i % 2], "/v1/orders", "burst")))
        .collect();
    let mut ids = Vec::new();
    for t in attempts {
        let res = t.await.unwrap().unwrap();
        match res.status().as_u16() {
            201 => ids.push(res.json::<Value>().await.unwrap()["id"].clone()),
            409 => assert_eq!(res.headers()["retry-after"], "1"),
            s => panic!("unexpected status {s}"),
        }
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "one execution for the burst"
    );
    assert!(ids.iter().all(|id| id == "ord_2"), "{ids:?}");

    // In flight on A: B says so; once A's answer is in, B replays it.
    let held = tokio::spawn(post(bases[0], "/v1/held", "held"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while runs.load(Ordering::SeqCst) < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let busy = post(bases[1], "/v1/held", "held").await.unwrap();
    assert_eq!(busy.status(), 409);
    let body: Value = busy.json().await.unwrap();
    assert_eq!(body["error"]["code"], "idempotency_key_in_use");
    gate.add_permits(1);
    let held = held.await.unwrap().unwrap();
    assert_eq!(held.status(), 201);
    let held: Value = held.json().await.unwrap();
    let replay = post(bases[1], "/v1/held", "held").await.unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.json::<Value>().await.unwrap(), held);
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_revocation_hold_across_instances_on_a_redis_cluster() {
    let Some(db) = services::postgres().await else {
        return;
    };
    let Some(cluster) = cluster::Cluster::start() else {
        return;
    };
    let dir = temp_dir("multi-cluster");
    across_instances(&dir, &db.url, &cluster.url()).await;
    drop((cluster, db));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `rediss+cluster://`: every node speaks only TLS (clients, replication, the cluster bus), the
/// gateway trusts the private CA named by `ca`, and the limits are shared as over plain TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_across_instances_on_a_redis_cluster_over_tls() {
    let Some(db) = services::postgres().await else {
        return;
    };
    let dir = temp_dir("multi-cluster-tls");
    let ca = certs::TestCa::new("errata test Redis Cluster CA");
    let (cert, key) = ca
        .leaf(&["127.0.0.1", "localhost"])
        .write(&dir, "redis.pem", "redis.key");
    let ca_file = ca.write(&dir, "redis-ca.pem");
    let Some(cluster) = cluster::Cluster::start_tls(cert, key, ca_file) else {
        return;
    };
    let counters = format!("{}?ca=redis-ca.pem", cluster.url());
    assert!(counters.starts_with("rediss+cluster://"), "{counters}");
    across_instances(&dir, &db.url, &counters).await;
    drop((cluster, db));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_runs_once_across_instances_on_a_redis_cluster() {
    let Some(db) = services::postgres().await else {
        return;
    };
    let Some(cluster) = cluster::Cluster::start() else {
        return;
    };
    let dir = temp_dir("idempotency-cluster");
    idempotency_across(&dir, &db.url, &cluster.url()).await;
    drop((cluster, db));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A port nothing listens on.
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Each API key's counters and idempotency records share its hash tag, so they sit together on
/// the master of one slot, and different keys land on different masters. A seed listed first
/// that is down is passed over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_spread_over_the_cluster_masters() {
    use std::collections::BTreeSet;
    let Some(db) = services::postgres().await else {
        return;
    };
    let Some(cluster) = cluster::Cluster::start() else {
        return;
    };
    let dir = temp_dir("cluster-spread");
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let up = orders_upstream(runs, Arc::new(Semaphore::new(0))).await;
    let counters = cluster.url().replacen(
        "redis+cluster://",
        &format!("redis+cluster://127.0.0.1:{},", dead_port()),
        1,
    );
    let cfg = write_config(
        &dir,
        &up,
        &db.url,
        &counters,
        "[[routes]]\npath = \"/v1\"\nidempotency = true\n\n[plans.default]\nrate = 100\nper_seconds = 60\n",
    );
    let gw = start(&cfg);
    let http = reqwest::Client::new();
    let masters = cluster.masters();
    let mut used = BTreeSet::new();
    for i in 0..12 {
        let (key, id) = create_key(
            &http,
            &gw.admin,
            json!({"tenant": "acme", "name": format!("spread-{i}")}),
        )
        .await;
        let res = http
            .post(format!("{}/v1/orders", gw.base))
            .bearer_auth(&key)
            .header("idempotency-key", "spread")
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        assert_eq!(res.headers()["x-ratelimit-remaining"], "99");
        let rate = format!("errata:{{k:{id}}}:rate");
        let record = format!("errata:{{k:{id}}}:idem:spread");
        let home = cluster.master_of(&rate);
        for &m in &masters {
            assert_eq!(cluster.holds(m, &rate), m == home, "{rate} on {m}");
            assert_eq!(cluster.holds(m, &record), m == home, "{record} on {m}");
        }
        used.insert(home);
    }
    assert!(used.len() >= 2, "12 keys all on one master: {used:?}");

    // Resharding: the slot of a key moves to another master with its state; the gateway,
    // still sending to the old one, is told MOVED, follows it and goes on counting.
    let (key, id) = create_key(&http, &gw.admin, json!({"tenant": "acme", "name": "moved"})).await;
    let get = || {
        http.post(format!("{}/v1/orders", gw.base))
            .bearer_auth(&key)
            .body("{}")
            .send()
    };
    assert_eq!(
        get().await.unwrap().headers()["x-ratelimit-remaining"],
        "99"
    );
    let rate = format!("errata:{{k:{id}}}:rate");
    let from = cluster.master_of(&rate);
    let to = *masters.iter().find(|&&m| m != from).unwrap();
    cluster.move_slot_of(&rate, to);
    assert!(cluster.holds(to, &rate) && !cluster.holds(from, &rate));
    let res = get().await.unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["x-ratelimit-remaining"], "98");
    drop(gw);
    drop((cluster, db));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// No seed answers: the gateway does not start, and says which cluster it could not reach.
#[test]
fn an_unreachable_cluster_stops_the_start_with_a_clear_error() {
    let dir = temp_dir("cluster-unreachable");
    let (p1, p2) = (dead_port(), dead_port());
    let store = format!("sqlite://{}", dir.join("keys.db").display());
    let cfg = write_config(
        &dir,
        "http://127.0.0.1:9",
        &store,
        &format!("redis+cluster://127.0.0.1:{p1},127.0.0.1:{p2}"),
        "",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_errata"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot connect to Redis Cluster (seeds 127.0.0.1:{p1},127.0.0.1:{p2})"
        )),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A master killed mid-run (its replica promoted): for the failover window the failure policy
/// applies (closed: 503; open: admitted uncounted), no request waits past `counters_ms`, then
/// both instances count again by themselves, and the limit still holds across them: what was
/// counted before the kill (replicated) and after the failover adds up to the limit exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_is_a_bounded_blip() {
    let Some(db) = services::postgres().await else {
        return;
    };
    let Some(mut cluster) = cluster::Cluster::start() else {
        return;
    };
    let dir = temp_dir("cluster-failover");
    let up = upstream(Arc::new(Semaphore::new(0)), Held::default()).await;
    let plan = "[timeouts]\ncounters_ms = 500\n\n[plans.default]\nrate = 20\nper_seconds = 3600\nburst = 0\n";
    let instance = |policy: &str| {
        let d = dir.join(policy);
        std::fs::create_dir_all(&d).unwrap();
        start(&write_config(
            &d,
            &up,
            &db.url,
            &cluster.url(),
            &format!("[failure]\ncounters = \"{policy}\"\n\n{plan}"),
        ))
    };
    let (closed, open) = (instance("closed"), instance("open"));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let (key, id) = create_key(
        &http,
        &closed.admin,
        json!({"tenant": "acme", "name": "failover"}),
    )
    .await;
    let get = |base: &str| http.get(format!("{base}/ok")).bearer_auth(&key).send();
    for i in 0..10 {
        let base = if i % 2 == 0 { &closed.base } else { &open.base };
        let res = get(base).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["x-ratelimit-remaining"], (19 - i).to_string());
    }
    let master = cluster.master_of(&format!("errata:{{k:{id}}}:rate"));
    assert!(
        cluster::wait(Duration::from_secs(5), || cluster.replica_in_sync(master)),
        "the replica has the ten counted requests"
    );

    cluster.kill(master);
    let killed = Instant::now();
    let (mut refused, mut admitted_uncounted, mut counted) = (0, 0, 0);
    let (mut closed_back, mut open_back) = (false, false);
    while !(closed_back && open_back) {
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "both instances count again within 30 s of the kill"
        );
        for (base, back) in [
            (&closed.base, &mut closed_back),
            (&open.base, &mut open_back),
        ] {
            if *back {
                continue;
            }
            let res = get(base)
                .await
                .expect("an answer within the client's 3 s: no request hangs");
            let status = res.status().as_u16();
            let limited = res.headers().contains_key("x-ratelimit-remaining");
            match (base == &closed.base, status, limited) {
                (_, 200, true) => {
                    counted += 1;
                    *back = true;
                }
                (true, 503, false) => {
                    refused += 1;
                    assert_eq!(res.headers()["retry-after"], "1");
                    let body: Value = res.json().await.unwrap();
                    assert_eq!(body["error"]["code"], "service_unavailable");
                }
                (false, 200, false) => admitted_uncounted += 1,
                other => panic!("unexpected answer during the failover: {other:?}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "failover: {refused} refused (closed), {admitted_uncounted} admitted uncounted (open), \
         counting again after {:?}",
        killed.elapsed()
    );
    assert!(
        refused > 0,
        "the closed instance refused while the slot had no master"
    );
    assert!(
        admitted_uncounted > 0,
        "the open instance admitted while the slot had no master"
    );
    let promoted = cluster.master_of(&format!("errata:{{k:{id}}}:rate"));
    assert_ne!(promoted, master, "the replica serves the slot now");

    let statuses = burst(&http, &[&closed.base, &open.base], "/ok", &key, 20).await;
    assert_eq!(
        count(&statuses, 200),
        20 - 10 - counted,
        "the limit holds across the failover: {statuses:?}"
    );
    assert_eq!(count(&statuses, 429), 10 + counted, "{statuses:?}");
    drop((closed, open));
    drop((cluster, db));
    std::fs::remove_dir_all(&dir).unwrap();
}
