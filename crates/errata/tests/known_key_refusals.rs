//! A refused request with a key the store knows (revoked, expired, out of scope) is its key's
//! and its tenant's: in the request log, the tenant's usage and `errata requests list
//! --tenant`, on both of the gateway's paths (the relay, and hyper's for `success_meta`
//! routes); an unknown or missing key names nobody. The admin API's all-tenants overview
//! counts them all. Over real HTTP, on SQLite and on PostgreSQL.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use errata::config::Config;
use errata::serve;
use errata_store::counters::{ManualClock, MemoryCounters};
use errata_store::db;
use serde_json::{Value, json};
use support::*;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

const TOKEN: &str = "admin-token-0123456789";

/// `/v1/reports` needs a scope; `/echo` has `success_meta`, which the relay leaves to hyper;
/// the rest of `/v1` and `/plain500` are relayed.
const ROUTES: &str = "[plans.default]\n\n[[routes]]\npath = \"/v1/reports\"\nscopes = [\"reports:write\"]\n\n[[routes]]\npath = \"/v1\"\n\n[[routes]]\npath = \"/echo\"\nsuccess_meta = true\n\n[[routes]]\npath = \"/plain500\"\n";

async fn start_on(store_url: &str) -> Harness {
    let gate = Arc::new(Semaphore::new(0));
    let up = upstream(Arc::clone(&gate)).await;
    let src = format!(
        "upstream = \"{up}\"\nstore = \"{store_url}\"\nkey_prefix = \"test\"\n{ROUTES}\n[admin]\ntoken = \"{TOKEN}\"\n\n[request_log]\nflush_interval_ms = 20\n"
    );
    let cfg = Config::from_toml(&src, std::path::Path::new("."))
        .unwrap_or_else(|d| panic!("{}", d.render("test config")));
    let store = db::open(&cfg.gateway.store_url).await.unwrap();
    let clock = ManualClock::new(T0_MS);
    let running = serve::start(
        cfg,
        Arc::clone(&store),
        Arc::new(MemoryCounters::default()),
        Arc::new(clock.clone()),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .await
    .unwrap();
    Harness {
        base: format!("http://{}", running.addr),
        admin: format!("http://{}", running.admin_addr),
        running,
        clock,
        store,
        http: reqwest::Client::new(),
        gate,
    }
}

async fn admin(h: &Harness, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut req = h
        .http
        .request(method, format!("{}{path}", h.admin))
        .bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let (s, _, b) = parts(req.send().await.unwrap()).await;
    assert_eq!(s, 200, "{path}: {b}");
    b
}

async fn admin_get(h: &Harness, path: &str) -> (u16, Value) {
    let res = h
        .http
        .get(format!("{}{path}", h.admin))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let (s, _, b) = parts(res).await;
    (s, b)
}

/// Polls the admin API until `path` answers 200 with `ok(body)`, for up to 5 s.
async fn eventually(h: &Harness, path: &str, ok: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..250 {
        let (s, b) = admin_get(h, path).await;
        if s == 200 && ok(&b) {
            return b;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "{path} never satisfied the condition; last: {:?}",
        admin_get(h, path).await
    );
}

/// Sends a request; its status, catalog code and request id.
async fn call(h: &Harness, path: &str, key: Option<&str>) -> (u16, Option<String>, String) {
    let mut req = h.get(path);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let (s, headers, body) = parts(req.send().await.unwrap()).await;
    let code = body["error"]["code"].as_str().map(str::to_owned);
    (s, code, request_id(&headers, &body))
}

/// What one request was expected to be recorded as.
struct Sent {
    id: String,
    path: &'static str,
    route: &'static str,
    key: Option<String>,
    tenant: Option<&'static str>,
    status: u16,
    code: Option<&'static str>,
    upstream: Option<u16>,
}

/// The records of `list`, without their latency and trace id (which vary; a trace id is 32
/// hex digits), by request id.
fn without_latency(list: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut r = r.clone();
            let o = r.as_object_mut().unwrap();
            o.remove("latency_us");
            let trace_id = o.remove("trace_id").unwrap();
            let trace_id = trace_id.as_str().unwrap();
            assert!(
                trace_id.len() == 32 && trace_id.bytes().all(|b| b.is_ascii_hexdigit()),
                "{trace_id}"
            );
            r
        })
        .collect();
    out.sort_by_key(|r| r["request_id"].as_str().unwrap().to_owned());
    out
}

fn expected(sent: &[&Sent]) -> Vec<Value> {
    let mut out: Vec<Value> = sent
        .iter()
        .map(|s| {
            json!({
                "request_id": s.id, "time_ms": T0_MS, "method": "GET", "path": s.path,
                "route": s.route, "key_id": s.key, "tenant": s.tenant, "status": s.status,
                "code": s.code, "upstream_status": s.upstream, "upstream_request_id": null
            })
        })
        .collect();
    out.sort_by_key(|r| r["request_id"].as_str().unwrap().to_owned());
    out
}

/// A request to send and what it is answered: path, key, its id, tenant (empty: none), route,
/// status, code, upstream status.
type Case<'a> = (
    &'static str,
    Option<&'a str>,
    Option<&'a str>,
    &'static str,
    &'static str,
    u16,
    Option<&'static str>,
    Option<u16>,
);

/// Sends every kind of request and checks where each is found. Returns what it sent.
async fn refusals_are_their_tenants(h: &Harness) -> Vec<Sent> {
    let (good, good_id) = h.key(json!({"tenant": "acme"})).await;
    let (revoked, revoked_id) = h.key(json!({"tenant": "acme"})).await;
    let (expired, expired_id) = h.key(json!({"tenant": "globex"})).await;
    let (other, other_id) = h.key(json!({"tenant": "initech"})).await;
    admin(
        h,
        reqwest::Method::POST,
        &format!("/keys/{revoked_id}/revoke"),
        None,
    )
    .await;
    let patched = admin(
        h,
        reqwest::Method::PATCH,
        &format!("/keys/{expired_id}"),
        Some(json!({"expires_at": 1})),
    )
    .await;
    assert_eq!(patched["status"], "expired");
    // Well formed, but no key has it.
    let unknown = format!("test_live_{}", "q".repeat(32));

    let plan: [Case; 11] = [
        // path, key, its id, tenant, route, status, code, upstream status
        (
            "/echo",
            Some(&good),
            Some(&good_id),
            "acme",
            "/echo/*",
            200,
            None,
            Some(200),
        ),
        (
            "/v1/reports",
            Some(&good),
            Some(&good_id),
            "acme",
            "/v1/reports/*",
            403,
            Some("insufficient_scope"),
            None,
        ),
        (
            "/v1/things",
            Some(&revoked),
            Some(&revoked_id),
            "acme",
            "/v1/*",
            401,
            Some("api_key_revoked"),
            None,
        ),
        (
            "/echo",
            Some(&revoked),
            Some(&revoked_id),
            "acme",
            "/echo/*",
            401,
            Some("api_key_revoked"),
            None,
        ),
        (
            "/v1/things",
            Some(&expired),
            Some(&expired_id),
            "globex",
            "/v1/*",
            401,
            Some("api_key_expired"),
            None,
        ),
        (
            "/echo",
            Some(&expired),
            Some(&expired_id),
            "globex",
            "/echo/*",
            401,
            Some("api_key_expired"),
            None,
        ),
        (
            "/v1/things",
            Some(&unknown),
            None,
            "",
            "/v1/*",
            401,
            Some("invalid_api_key"),
            None,
        ),
        (
            "/echo",
            Some(&unknown),
            None,
            "",
            "/echo/*",
            401,
            Some("invalid_api_key"),
            None,
        ),
        (
            "/v1/things",
            None,
            None,
            "",
            "/v1/*",
            401,
            Some("missing_api_key"),
            None,
        ),
        (
            "/plain500",
            Some(&good),
            Some(&good_id),
            "acme",
            "/plain500/*",
            500,
            Some("internal_error"),
            Some(500),
        ),
        (
            "/v1/things",
            Some(&other),
            Some(&other_id),
            "initech",
            "/v1/*",
            200,
            None,
            Some(200),
        ),
    ];
    let mut sent = Vec::new();
    for (path, key, key_id, tenant, route, status, code, upstream) in plan {
        let (s, c, id) = call(h, path, key).await;
        assert_eq!((s, c.as_deref()), (status, code), "{path} with {key_id:?}");
        sent.push(Sent {
            id,
            path,
            route,
            key: key_id.map(str::to_owned),
            tenant: Some(tenant).filter(|t| !t.is_empty()),
            status,
            code,
            upstream,
        });
    }

    // Each record as the admin API shows it: the known keys' refusals name key and tenant.
    for s in &sent {
        let rec = eventually(h, &format!("/requests/{}", s.id), |_| true).await;
        let rec = without_latency(&json!({"data": [rec]})).remove(0);
        assert_eq!(rec, expected(&[s])[0], "{}", s.path);
    }

    // The tenant's list holds its keys' refusals, on both paths; the key's likewise.
    let of = |t: &str| {
        sent.iter()
            .filter(|s| s.tenant == Some(t))
            .collect::<Vec<_>>()
    };
    let acme = eventually(h, "/requests?tenant=acme", |b| {
        b["data"].as_array().unwrap().len() == 5
    })
    .await;
    assert_eq!(without_latency(&acme), expected(&of("acme")));
    let (_, by_key) = admin_get(h, &format!("/requests?tenant=acme&key_id={revoked_id}")).await;
    let revoked_sent: Vec<&Sent> = sent
        .iter()
        .filter(|s| s.key.as_deref() == Some(revoked_id.as_str()))
        .collect();
    assert_eq!(revoked_sent.len(), 2);
    assert_eq!(without_latency(&by_key), expected(&revoked_sent));
    let (_, globex) = admin_get(h, "/requests?tenant=globex&status=401").await;
    assert_eq!(without_latency(&globex), expected(&of("globex")));

    // The tenant's usage counts them; a key's too.
    let t0 = (T0_MS / 1000) as i64;
    let range = format!("since={t0}&until={}&step=minute", t0 + 60);
    let u = eventually(h, &format!("/usage?tenant=acme&{range}"), |u| {
        u["totals"]["total"] == 5
    })
    .await;
    assert_eq!(
        u["totals"],
        json!({
            "total": 5,
            "status": {"1xx": 0, "2xx": 1, "3xx": 0, "4xx": 3, "5xx": 1},
            "codes": {"api_key_revoked": 2, "insufficient_scope": 1, "internal_error": 1}
        })
    );
    let u = eventually(h, &format!("/usage?key_id={expired_id}&{range}"), |u| {
        u["totals"]["total"] == 2
    })
    .await;
    assert_eq!(u["totals"]["codes"], json!({"api_key_expired": 2}));
    // A key that never passed its limits has no limit state; a key of a plan without limits
    // that reached the upstream has one with neither rate nor quota.
    assert_eq!(u["limits"], json!([]));
    let u = eventually(h, &format!("/usage?key_id={good_id}&{range}"), |u| {
        u["totals"]["total"] == 3
    })
    .await;
    assert_eq!(
        u["limits"],
        json!([{"key_id": good_id, "observed_at": t0, "rate": null, "quota": null}])
    );
    sent
}

/// The overview of every request `refusals_are_their_tenants` sent, exactly.
async fn overview_counts_every_tenant(h: &Harness) {
    let t0 = (T0_MS / 1000) as i64;
    let path = format!("/usage/overview?since={t0}&until={}&step=minute", t0 + 120);
    let o = eventually(h, &path, |o| o["totals"]["total"] == 11).await;
    let zero = json!({"1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0});
    assert_eq!(
        o,
        json!({
            "step": "minute",
            "since": t0,
            "until": t0 + 120,
            "buckets": [
                {
                    "t": t0, "total": 11,
                    "status": {"1xx": 0, "2xx": 2, "3xx": 0, "4xx": 8, "5xx": 1},
                    "codes": {
                        "api_key_expired": 2, "api_key_revoked": 2, "insufficient_scope": 1,
                        "internal_error": 1, "invalid_api_key": 2, "missing_api_key": 1
                    }
                },
                {"t": t0 + 60, "total": 0, "status": zero, "codes": {}}
            ],
            "totals": {
                "total": 11,
                "status": {"1xx": 0, "2xx": 2, "3xx": 0, "4xx": 8, "5xx": 1},
                "codes": {
                    "api_key_expired": 2, "api_key_revoked": 2, "insufficient_scope": 1,
                    "internal_error": 1, "invalid_api_key": 2, "missing_api_key": 1
                }
            },
            "errors": 9,
            "top_codes": [
                {"code": "api_key_expired", "count": 2},
                {"code": "api_key_revoked", "count": 2},
                {"code": "invalid_api_key", "count": 2},
                {"code": "insufficient_scope", "count": 1},
                {"code": "internal_error", "count": 1},
                {"code": "missing_api_key", "count": 1}
            ],
            "tenants": 3,
            "top_tenants": [
                {"tenant": "acme", "total": 5, "errors": 4,
                 "status": {"1xx": 0, "2xx": 1, "3xx": 0, "4xx": 3, "5xx": 1}},
                {"tenant": "globex", "total": 2, "errors": 2,
                 "status": {"1xx": 0, "2xx": 0, "3xx": 0, "4xx": 2, "5xx": 0}},
                {"tenant": "initech", "total": 1, "errors": 0,
                 "status": {"1xx": 0, "2xx": 1, "3xx": 0, "4xx": 0, "5xx": 0}}
            ],
            "no_tenant": {
                "total": 3, "errors": 3,
                "status": {"1xx": 0, "2xx": 0, "3xx": 0, "4xx": 3, "5xx": 0}
            }
        })
    );
    // By hour: the same counts in one bucket.
    let (s, o) = admin_get(
        h,
        &format!("/usage/overview?since={t0}&until={}&step=hour", t0 + 3600),
    )
    .await;
    assert_eq!(
        (
            s,
            &o["totals"]["total"],
            &o["buckets"].as_array().unwrap().len()
        ),
        (200, &json!(11), &1)
    );
    // An empty range has no bucket and no tenant.
    let (_, o) = admin_get(h, &format!("/usage/overview?since={t0}&until={t0}")).await;
    assert_eq!(
        (
            &o["buckets"],
            &o["totals"]["total"],
            &o["tenants"],
            &o["top_tenants"]
        ),
        (&json!([]), &json!(0), &json!(0), &json!([]))
    );
    // A parameter it does not take, or a bad step, is the catalog's 400.
    let (s, b) = admin_get(h, "/usage/overview?tenant=acme").await;
    assert_eq!(
        (s, b["error"]["code"].as_str(), b["error"]["param"].as_str()),
        (400, Some("invalid_parameter"), Some("tenant"))
    );
    let (s, b) = admin_get(h, "/usage/overview?step=week").await;
    assert_eq!((s, b["error"]["param"].as_str()), (400, Some("step")));
    // In the OpenAPI document, with its answer's schema.
    let (s, doc) = admin_get(h, "/openapi.json").await;
    assert_eq!(s, 200);
    let op = &doc["paths"]["/usage/overview"]["get"];
    assert_eq!(op["operationId"], "get_usage_overview");
    assert_eq!(
        op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Overview"
    );
    let mut fields: Vec<&String> = doc["components"]["schemas"]["Overview"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "buckets",
            "errors",
            "no_tenant",
            "since",
            "step",
            "tenants",
            "top_codes",
            "top_tenants",
            "totals",
            "until"
        ]
    );
    // Without the admin token: the catalog's 401.
    let res = h
        .http
        .get(format!("{}/usage/overview", h.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

/// A SQLite file in a fresh temporary directory, removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn known_key_refusals_are_their_tenants_on_sqlite() {
    let dir = TempDir(
        std::env::temp_dir().join(format!("errata-known-key-refusals-{}", std::process::id())),
    );
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(&dir.0).unwrap();
    let url = format!("sqlite://{}", dir.0.join("keys.db").display());
    let h = start_on(&url).await;
    let sent = refusals_are_their_tenants(&h).await;
    overview_counts_every_tenant(&h).await;

    // `errata requests list --tenant` reads the same store: the revoked key's refusals are
    // acme's, with its key id.
    let out = Command::new(env!("CARGO_BIN_EXE_errata"))
        .args([
            "requests", "list", "--tenant", "acme", "--json", "--store", &url,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let listed = json!({ "data": lines });
    let acme: Vec<&Sent> = sent.iter().filter(|s| s.tenant == Some("acme")).collect();
    assert_eq!(without_latency(&listed), expected(&acme));
    h.running.shutdown().await;
}

#[tokio::test]
async fn known_key_refusals_are_their_tenants_on_postgres() {
    let Some(db) = services::postgres().await else {
        return;
    };
    let h = start_on(&db.url).await;
    refusals_are_their_tenants(&h).await;
    overview_counts_every_tenant(&h).await;
    h.running.shutdown().await;
}
