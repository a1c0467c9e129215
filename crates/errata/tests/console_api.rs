//! The request log, usage, key edits, console sessions, the tenant portal and success_meta,
//! over real HTTP, on SQLite and on PostgreSQL.

mod support;

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

/// A gateway on the store at `store_url`, records flushed every 20 ms.
async fn start_on(store_url: &str, extra: &str) -> Harness {
    let gate = Arc::new(Semaphore::new(0));
    let up = upstream(Arc::clone(&gate)).await;
    let src = format!(
        "upstream = \"{up}\"\nstore = \"{store_url}\"\nkey_prefix = \"test\"\n{extra}\n\n[admin]\ntoken = \"{TOKEN}\"\n\n[request_log]\nflush_interval_ms = 20\n"
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

/// Sends a request and returns its status and request id.
async fn call(h: &Harness, path: &str, key: Option<&str>) -> (u16, String) {
    let mut req = h.get(path);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let (s, headers, body) = parts(req.send().await.unwrap()).await;
    (s, request_id(&headers, &body))
}

async fn request_log_records_every_answer(h: Harness) {
    let (secret, key_id) = h.key(json!({"tenant": "acme"})).await;
    let (ok, ok_id) = call(&h, "/echo?secret=not-stored", Some(&secret)).await;
    let (refused, refused_id) = call(&h, "/echo", None).await;
    let (upstream, upstream_id) = call(&h, "/plain500", Some(&secret)).await;
    assert_eq!((ok, refused, upstream), (200, 401, 500));

    let rec = eventually(&h, &format!("/requests/{ok_id}"), |_| true).await;
    assert_eq!(
        rec,
        json!({
            "request_id": ok_id, "time_ms": T0_MS, "method": "GET", "path": "/echo",
            "route": "/*", "key_id": key_id, "tenant": "acme", "status": 200, "code": null,
            "latency_us": rec["latency_us"], "upstream_status": 200,
            "upstream_request_id": null, "trace_id": rec["trace_id"]
        })
    );
    assert!(rec["latency_us"].as_i64().unwrap() > 0);
    let trace_id = rec["trace_id"].as_str().unwrap();
    assert!(
        trace_id.len() == 32
            && trace_id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{trace_id}"
    );
    assert!(
        !rec.to_string().contains(&secret),
        "the key is never recorded"
    );
    assert!(!rec.to_string().contains("not-stored"), "nor the query");

    let rec = eventually(&h, &format!("/requests/{refused_id}"), |_| true).await;
    assert_eq!(
        (
            &rec["status"],
            &rec["code"],
            &rec["key_id"],
            &rec["tenant"],
            &rec["upstream_status"]
        ),
        (
            &json!(401),
            &json!("missing_api_key"),
            &Value::Null,
            &Value::Null,
            &Value::Null
        )
    );
    let rec = eventually(&h, &format!("/requests/{upstream_id}"), |_| true).await;
    assert_eq!(
        (
            &rec["status"],
            &rec["code"],
            &rec["tenant"],
            &rec["upstream_status"]
        ),
        (
            &json!(500),
            &json!("internal_error"),
            &json!("acme"),
            &json!(500)
        )
    );

    // Unknown ids are a 404 in the envelope.
    let (s, b) = admin_get(&h, "/requests/req_nope").await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (404, Some("resource_not_found"))
    );

    // Filters, newest first.
    let b = eventually(&h, "/requests?tenant=acme", |b| {
        b["data"].as_array().unwrap().len() == 2
    })
    .await;
    let ids: Vec<&str> = b["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&ok_id.as_str()) && ids.contains(&upstream_id.as_str()));
    assert_eq!(b["next_cursor"], Value::Null);
    let (_, b) = admin_get(&h, "/requests?status=4xx").await;
    assert_eq!(b["data"].as_array().unwrap().len(), 1);
    assert_eq!(b["data"][0]["request_id"], refused_id.as_str());
    let (_, b) = admin_get(&h, "/requests?code=internal_error").await;
    assert_eq!(b["data"][0]["request_id"], upstream_id.as_str());
    let (_, b) = admin_get(&h, &format!("/requests?key_id={key_id}&status=200")).await;
    assert_eq!(b["data"].as_array().unwrap().len(), 1);
    let t0 = T0_MS / 1000;
    let (_, b) = admin_get(&h, &format!("/requests?since={}", t0 + 1)).await;
    assert_eq!(b["data"], json!([]));
    let (_, b) = admin_get(&h, &format!("/requests?since={t0}&until={}", t0 + 1)).await;
    assert_eq!(b["data"].as_array().unwrap().len(), 3);

    // Pages: two, then one, covering every record once.
    let (_, p1) = admin_get(&h, "/requests?limit=2").await;
    assert_eq!(p1["data"].as_array().unwrap().len(), 2);
    let cursor = p1["next_cursor"].as_str().unwrap();
    let (_, p2) = admin_get(&h, &format!("/requests?limit=2&cursor={cursor}")).await;
    assert_eq!(p2["data"].as_array().unwrap().len(), 1);
    assert_eq!(p2["next_cursor"], Value::Null);
    let mut all: Vec<String> = p1["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(p2["data"].as_array().unwrap())
        .map(|r| r["request_id"].as_str().unwrap().to_owned())
        .collect();
    all.sort();
    let mut want = vec![ok_id.clone(), refused_id.clone(), upstream_id.clone()];
    want.sort();
    assert_eq!(all, want);

    // Bad parameters are refused in the envelope.
    let (s, b) = admin_get(&h, "/requests?limit=0").await;
    assert_eq!(
        (s, b["error"]["code"].as_str(), b["error"]["param"].as_str()),
        (400, Some("invalid_parameter"), Some("limit"))
    );
    let (s, _) = admin_get(&h, "/requests?status=6xx").await;
    assert_eq!(s, 400);

    // Retention: 8 days on, the old records go; a new one stays.
    h.clock.advance_ms(8 * 86_400_000);
    let (_, fresh_id) = call(&h, "/echo", Some(&secret)).await;
    eventually(&h, &format!("/requests/{fresh_id}"), |_| true).await;
    eventually(&h, "/requests", |b| {
        b["data"].as_array().unwrap().len() == 1
    })
    .await;
    let (s, _) = admin_get(&h, &format!("/requests/{ok_id}")).await;
    assert_eq!(s, 404);
    h.running.shutdown().await;
}

#[tokio::test]
async fn request_log_on_sqlite() {
    request_log_records_every_answer(start_on("sqlite::memory:", "").await).await;
}

#[tokio::test]
async fn request_log_on_postgres() {
    let Some(db) = services::postgres().await else {
        return;
    };
    request_log_records_every_answer(start_on(&db.url, "").await).await;
}

async fn usage_counts_a_burst_exactly(h: Harness) {
    let (secret, key_id) = h.key(json!({"tenant": "acme", "plan": "small"})).await;
    let (other, _) = h.key(json!({"tenant": "acme", "plan": "small"})).await;
    // 5 allowed, then 3 refused by the rate limit, in the first minute.
    for i in 0..8 {
        let (s, _) = call(&h, "/echo", Some(&secret)).await;
        assert_eq!(s, if i < 5 { 200 } else { 429 }, "request {i}");
    }
    // Next minute: the window has room again; one 500 and one success on another key.
    h.clock.advance_ms(60_000);
    assert_eq!(call(&h, "/plain500", Some(&secret)).await.0, 500);
    assert_eq!(call(&h, "/echo", Some(&other)).await.0, 200);

    let t0 = (T0_MS / 1000) as i64;
    let q = format!(
        "/usage?key_id={key_id}&since={t0}&until={}&step=minute",
        t0 + 180
    );
    let u = eventually(&h, &q, |u| u["totals"]["total"] == 9).await;
    assert_eq!(u["key_id"], key_id.as_str());
    assert_eq!(u["tenant"], Value::Null);
    assert_eq!(u["since"], t0);
    assert_eq!(
        u["buckets"],
        json!([
            {"t": t0, "total": 8, "status": {"1xx": 0, "2xx": 5, "3xx": 0, "4xx": 3, "5xx": 0}, "codes": {"rate_limit_exceeded": 3}},
            {"t": t0 + 60, "total": 1, "status": {"1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 1}, "codes": {"internal_error": 1}},
            {"t": t0 + 120, "total": 0, "status": {"1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}, "codes": {}}
        ])
    );
    assert_eq!(
        u["top_codes"],
        json!([{"code": "rate_limit_exceeded", "count": 3}, {"code": "internal_error", "count": 1}])
    );
    // The key's limit state as of its last request: the 500 was counted.
    assert_eq!(u["limits"][0]["key_id"], key_id.as_str());
    assert_eq!(u["limits"][0]["rate"]["limit"], 5);
    assert_eq!(u["limits"][0]["quota"], Value::Null);

    // The tenant: both keys, rolled up by hour and by day too.
    for step in ["minute", "hour", "day"] {
        let q = format!(
            "/usage?tenant=acme&since={t0}&until={}&step={step}",
            t0 + 120
        );
        let u = eventually(&h, &q, |u| u["totals"]["total"] == 10).await;
        assert_eq!(u["totals"]["status"]["2xx"], 6, "{step}");
        assert_eq!(
            u["totals"]["codes"],
            json!({"internal_error": 1, "rate_limit_exceeded": 3}),
            "{step}"
        );
    }
    let (s, b) = admin_get(&h, "/usage?tenant=acme&key_id=x").await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (404, Some("resource_not_found"))
    );
    // A longer range answers its latest 1440 buckets; an empty range none.
    let (s, b) = admin_get(
        &h,
        &format!("/usage?tenant=acme&since=0&until={}&step=minute", t0 + 120),
    )
    .await;
    assert_eq!((s, b["buckets"].as_array().unwrap().len()), (200, 1440));
    assert_eq!(b["since"], t0 + 120 - 1440 * 60);
    assert_eq!(b["totals"]["total"], 10);
    let (_, b) = admin_get(&h, &format!("/usage?tenant=acme&since={t0}&until={t0}")).await;
    assert_eq!(
        (&b["buckets"], &b["totals"]["total"]),
        (&json!([]), &json!(0))
    );
    let (s, b) = admin_get(&h, "/usage?tenant=acme&step=week").await;
    assert_eq!((s, b["error"]["param"].as_str()), (400, Some("step")));
    let (s, b) = admin_get(&h, "/usage?key_id=key_nope").await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (404, Some("resource_not_found"))
    );
    h.running.shutdown().await;
}

const SMALL_PLAN: &str = "[plans.default]\n[plans.small]\nrate = 5\nper_seconds = 60\n";

#[tokio::test]
async fn usage_on_sqlite() {
    usage_counts_a_burst_exactly(start_on("sqlite::memory:", SMALL_PLAN).await).await;
}

#[tokio::test]
async fn usage_on_postgres() {
    let Some(db) = services::postgres().await else {
        return;
    };
    usage_counts_a_burst_exactly(start_on(&db.url, SMALL_PLAN).await).await;
}

#[tokio::test]
async fn keys_are_edited_and_filtered() {
    let h = start_on("sqlite::memory:", "[plans.default]\n[plans.pro]\n").await;
    let (secret, id) = h.key(json!({"tenant": "acme", "scopes": ["a"]})).await;
    let (_, other) = h.key(json!({"tenant": "globex", "plan": "pro"})).await;
    let patch = |body: Value, id: &str| {
        h.http
            .patch(format!("{}/keys/{id}", h.admin))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    let (s, _, k) = parts(
        patch(json!({"scopes": ["a", "b"], "plan": "pro", "ip_allowlist": ["10.0.0.0/8"], "limits": {"rate": 7}}), &id)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{k}");
    assert_eq!(
        (
            &k["scopes"],
            &k["plan"],
            &k["ip_allowlist"],
            &k["limits"]["rate"],
            &k["status"]
        ),
        (
            &json!(["a", "b"]),
            &json!("pro"),
            &json!(["10.0.0.0/8"]),
            &json!(7),
            &json!("active")
        )
    );
    // Effective at once: this client is not in the allowlist.
    let (s, _, b) = parts(h.get("/echo").bearer_auth(&secret).send().await.unwrap()).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (403, Some("ip_not_allowed"))
    );
    // null clears; a past expiry expires the key.
    let (_, _, k) = parts(
        patch(
            json!({"ip_allowlist": [], "limits": null, "expires_at": 1}),
            &id,
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (&k["limits"], &k["expires_at"], &k["status"]),
        (&Value::Null, &json!(1), &json!("expired"))
    );
    let (s, _, b) = parts(
        patch(json!({"plan": "gold", "scopes": ["x,y"]}), &id)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(
        b["error"]["details"],
        json!([
            {"path": ["scopes", "0"], "message": "A scope is 1 to 128 visible characters without commas", "code": "invalid_string"},
            {"path": ["plan"], "message": "Invalid enum value. Expected default | pro, received 'gold'", "code": "invalid_enum_value"}
        ])
    );
    // A bad CIDR: the field and the value, not a parser's position.
    let (s, _, b) = parts(
        patch(json!({"ip_allowlist": ["10.0.0.0/33"]}), &id)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(
        b["error"]["details"],
        json!([
            {"path": ["ip_allowlist", "0"], "message": "invalid IP address syntax: '10.0.0.0/33'", "code": "invalid_type"}
        ])
    );
    let (s, _, b) = parts(patch(json!({"tenant": "x"}), &id).await.unwrap()).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (422, Some("validation_error"))
    );
    let (s, _, _) = parts(patch(json!({}), "key_nope").await.unwrap()).await;
    assert_eq!(s, 404);

    // Filters.
    let (_, b) = admin_get(&h, "/keys?plan=pro&status=active").await;
    let ids: Vec<&str> = b["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![other.as_str()]);
    let (_, b) = admin_get(&h, "/keys?status=expired").await;
    assert_eq!(b["data"][0]["id"], id.as_str());
    let (s, _) = admin_get(&h, "/keys?status=gone").await;
    assert_eq!(s, 400);
    let (_, b) = admin_get(&h, "/plans").await;
    assert_eq!(b["data"].as_array().unwrap().len(), 2);
    h.running.shutdown().await;
}

#[tokio::test]
async fn console_sessions_use_an_http_only_cookie_and_a_csrf_header() {
    let h = start_on("sqlite::memory:", "").await;
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let session = format!("{}/session", h.admin);

    // The form: a wrong token goes back to the form, the right one to the console.
    let res = no_redirect
        .post(&session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/?signin=failed");
    assert!(res.headers().get("set-cookie").is_none());
    let res = no_redirect
        .post(&session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/console/keys");
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("errata_console="), "{cookie}");
    assert!(
        cookie.contains("; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200"),
        "{cookie}"
    );
    assert!(!cookie.contains(TOKEN));
    let pair = cookie.split(';').next().unwrap().to_owned();

    // The page learns its CSRF token; reads need only the cookie.
    let res = no_redirect
        .get(&session)
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let info: Value = res.json().await.unwrap();
    let csrf = info["csrf"].as_str().unwrap().to_owned();
    let res = no_redirect
        .get(format!("{}/keys", h.admin))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-frame-options"], "DENY");

    // Writes need the CSRF header too.
    let create = |csrf: Option<&str>| {
        let mut r = no_redirect
            .post(format!("{}/keys", h.admin))
            .header("cookie", &pair)
            .json(&json!({"tenant": "acme", "name": "from the console"}));
        if let Some(c) = csrf {
            r = r.header("x-csrf-token", c);
        }
        r.send()
    };
    let (s, _, b) = parts(create(None).await.unwrap()).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (403, Some("insufficient_scope"))
    );
    let (s, _, _) = parts(create(Some("wrong")).await.unwrap()).await;
    assert_eq!(s, 403);
    let (s, _, _) = parts(create(Some(&csrf)).await.unwrap()).await;
    assert_eq!(s, 201);

    // JSON sign-in answers with the CSRF token; a wrong token is a 401.
    let res = no_redirect
        .post(&session)
        .json(&json!({"token": TOKEN}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("HttpOnly")
    );
    let (s, _, b) = parts(
        no_redirect
            .post(&session)
            .json(&json!({"token": "nope"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("invalid_api_key"))
    );

    // Sign out: the session ends.
    let res = no_redirect
        .delete(&session)
        .header("cookie", &pair)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert!(
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let res = no_redirect
        .get(format!("{}/keys", h.admin))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    h.running.shutdown().await;
}

#[tokio::test]
async fn the_portal_sees_its_own_tenant_only() {
    let h = start_on(
        "sqlite::memory:",
        "[portal]\npublic_url = \"https://console.example.com\"\n",
    )
    .await;
    let (secret, mine) = h.key(json!({"tenant": "acme"})).await;
    let (other_secret, theirs) = h.key(json!({"tenant": "globex"})).await;
    let (_, my_req) = call(&h, "/echo", Some(&secret)).await;
    let (_, their_req) = call(&h, "/echo", Some(&other_secret)).await;
    eventually(&h, &format!("/requests/{their_req}"), |_| true).await;
    eventually(&h, &format!("/requests/{my_req}"), |_| true).await;

    let res = h
        .http
        .post(format!("{}/portal/sessions", h.admin))
        .bearer_auth(TOKEN)
        .json(&json!({"tenant": "acme", "ttl_minutes": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let link: Value = res.json().await.unwrap();
    let token = link["token"].as_str().unwrap().to_owned();
    assert_eq!(
        link["url"],
        format!("https://console.example.com/portal#token={token}").as_str()
    );
    let exp = link["expires_at"].as_i64().unwrap();
    assert!((exp - errata_admin::manage::now_secs() - 3600).abs() <= 2);

    let portal = |method: reqwest::Method, path: &str| {
        h.http
            .request(method, format!("{}/portal/api{path}", h.admin))
            .bearer_auth(&token)
    };
    let get = |path: &str| portal(reqwest::Method::GET, path).send();
    let (s, _, b) = parts(get("/session").await.unwrap()).await;
    assert_eq!((s, b), (200, json!({"tenant": "acme", "expires_at": exp})));
    let (_, _, b) = parts(get("/keys").await.unwrap()).await;
    let ids: Vec<&str> = b["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![mine.as_str()]);

    // Another tenant's key or request is not found, never forbidden.
    for path in [
        format!("/keys/{theirs}"),
        format!("/requests/{their_req}"),
        format!("/usage?key_id={theirs}"),
    ] {
        let (s, _, b) = parts(get(&path).await.unwrap()).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (404, Some("resource_not_found")),
            "{path}"
        );
    }
    for action in ["revoke", "rotate"] {
        let (s, _, _) = parts(
            portal(reqwest::Method::POST, &format!("/keys/{theirs}/{action}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, 404, "{action}");
    }
    let (s, _, _) = parts(
        portal(reqwest::Method::PATCH, &format!("/keys/{theirs}"))
            .json(&json!({"name": "mine now"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _, b) = parts(get(&format!("/requests/{my_req}")).await.unwrap()).await;
    assert_eq!((s, b["tenant"].as_str()), (200, Some("acme")));
    let (_, _, b) = parts(get("/requests").await.unwrap()).await;
    assert_eq!(b["data"].as_array().unwrap().len(), 1);

    // The tenant manages its own keys; plan and limits are not its to set.
    let (s, _, created) = parts(
        portal(reqwest::Method::POST, "/keys")
            .json(&json!({"name": "ci", "scopes": ["r"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(
        (&created["key"]["tenant"], &created["key"]["plan"]),
        (&json!("acme"), &json!("default"))
    );
    let (s, _, _) = parts(
        portal(reqwest::Method::POST, "/keys")
            .json(&json!({"name": "ci", "plan": "default"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 422);
    let (s, _, _) = parts(
        portal(reqwest::Method::PATCH, &format!("/keys/{mine}"))
            .json(&json!({"limits": null}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 422);
    let (s, _, k) = parts(
        portal(reqwest::Method::PATCH, &format!("/keys/{mine}"))
            .json(&json!({"ip_allowlist": ["192.0.2.0/24"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, &k["ip_allowlist"]), (200, &json!(["192.0.2.0/24"])));
    let (s, _, rotated) = parts(
        portal(reqwest::Method::POST, &format!("/keys/{mine}/rotate"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, &rotated["key"]["tenant"]), (201, &json!("acme")));
    let (s, _, k) = parts(
        portal(reqwest::Method::POST, &format!("/keys/{mine}/revoke"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, &k["status"]), (200, &json!("revoked")));

    // A portal token opens nothing on the admin API; the admin token nothing in the portal.
    let (s, _, _) = parts(
        h.http
            .get(format!("{}/keys", h.admin))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 401);
    let (s, _, _) = parts(
        h.http
            .get(format!("{}/portal/api/keys", h.admin))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 401);
    // A tampered or expired token is refused.
    let tampered = token.replacen("pt1.", "pt1.00", 1);
    let (s, _, _) = parts(
        h.http
            .get(format!("{}/portal/api/keys", h.admin))
            .bearer_auth(&tampered)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 401);
    let (s, _, b) = parts(
        h.http
            .post(format!("{}/portal/sessions", h.admin))
            .bearer_auth(TOKEN)
            .json(&json!({"tenant": "", "ttl_minutes": 0}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(b["error"]["details"].as_array().unwrap().len(), 2);
    h.running.shutdown().await;
}

#[test]
fn portal_tokens_expire_and_resist_tampering() {
    use errata_admin::PortalSigner;
    use errata_admin::config::PortalConfig;
    let cfg = PortalConfig {
        secret: Some("a-portal-secret-of-at-least-32-chars".into()),
        ..PortalConfig::default()
    };
    let s = PortalSigner::from_config(&cfg);
    let t = s.sign("acme", 1000);
    assert_eq!(s.verify(&t, 999).map(|x| x.tenant), Some("acme".to_owned()));
    assert_eq!(s.verify(&t, 1000), None, "expired");
    let forged = t.replace(".1000.", ".9999.");
    assert_eq!(s.verify(&forged, 999), None);
    let other = PortalSigner::from_config(&PortalConfig {
        secret: Some("another-portal-secret-of-32-chars!!".into()),
        ..PortalConfig::default()
    });
    assert_eq!(other.verify(&t, 999), None, "another secret");
}

#[tokio::test]
async fn success_meta_adds_remaining_requests_to_json_objects_only() {
    let h = start_on(
        "sqlite::memory:",
        "[limits]\nrate = 10\nper_seconds = 60\n\n[[routes]]\npath = \"/\"\nsuccess_meta = true\n",
    )
    .await;
    let (secret, _) = h.key(json!({})).await;
    let res = h.get("/echo").bearer_auth(&secret).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let len: usize = res.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["meta"],
        json!({"remaining_requests": 9, "limit": 10, "reset": 6})
    );
    assert_eq!(body["body_len"], 0, "the upstream's fields stay");
    assert_eq!(serde_json::to_vec(&body).unwrap().len(), len);
    // Not JSON: untouched.
    let res = h.get("/stream").bearer_auth(&secret).send().await.unwrap();
    assert_eq!(
        res.text().await.unwrap(),
        "chunk0;chunk1;chunk2;chunk3;chunk4;"
    );
    // Larger than the cap: untouched, streamed as it came.
    let res = h
        .get("/big.json")
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(text.len() > 256 * 1024);
    assert!(!text.contains("remaining_requests"));
    h.running.shutdown().await;
}
