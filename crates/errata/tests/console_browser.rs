//! The console and a tenant's portal in real headless Chromium, against a real gateway in front
//! of a real upstream: sign in, create a key (its secret shown once), send traffic through the
//! gateway with it, see that traffic in the usage charts, click a bar through to the requests
//! behind it, see every tenant at once in the overview, read the limit state of a key with limits,
//! of one whose plan has none and of one never used, look one up by id, read the error reference
//! (its Markdown code as `<code>`), revoke the key and see the gateway refuse it; then, in a
//! portal session, only that tenant's keys and requests, and another tenant's request id not
//! found.
//!
//! Every page is saved as a PNG under `target/console-screenshots/` (the path is printed) so a
//! person can look at it.
//!
//! Needs Debian's `chromium` and `chromium-driver`; without them the test prints
//! "skipped: no chromium" and passes, unless `CI` is set: there it fails.

#[path = "support/browser.rs"]
mod browser;
mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use browser::{Driver, WAIT, click, run, screenshot, shown, text_of, text_until, type_into};
use errata::config::Config;
use errata::serve::{self, Running};
use errata_store::counters::{MemoryCounters, SystemClock};
use errata_store::db;
use fantoccini::Client;
use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

const ADMIN_TOKEN: &str = "admin-token-0123456789";

/// How long the whole browser session may take before the test fails.
const SESSION_TIMEOUT: Duration = Duration::from_secs(240);

/// A gateway on the system clock (the usage charts are drawn against "now"). The default plan
/// allows five requests per minute per key and no burst, so the sixth request is a catalog 429;
/// the `free` plan has no limits.
async fn gateway() -> Running {
    let up = support::upstream(Arc::new(Semaphore::new(0))).await;
    let src = format!(
        "upstream = \"{up}\"\nstore = \"sqlite::memory:\"\nkey_prefix = \"test\"\n\n\
         [plans.default]\nrate = 5\nper_seconds = 60\nburst = 0\n\n[plans.free]\n\n\
         [admin]\ntoken = \"{ADMIN_TOKEN}\"\n"
    );
    let cfg = Config::from_toml(&src, Path::new("."))
        .unwrap_or_else(|d| panic!("{}", d.render("test config")));
    let store = db::open(&cfg.gateway.store_url)
        .await
        .expect("the store opens");
    serve::start(
        cfg,
        store,
        Arc::new(MemoryCounters::default()),
        Arc::new(SystemClock),
        TcpListener::bind("127.0.0.1:0").await.expect("a port"),
        TcpListener::bind("127.0.0.1:0").await.expect("a port"),
    )
    .await
    .expect("the gateway starts")
}

/// Where the screenshots go: `target/console-screenshots/` of the workspace.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    dir.canonicalize().unwrap_or(dir)
}

#[test]
fn console_and_portal_work_in_headless_chromium() {
    let Some((chromium, chromedriver)) = browser::tools() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but chromium or chromedriver is missing (apt-get install chromium chromium-driver)"
        );
        println!("skipped: no chromium");
        return;
    };
    let scratch = std::env::temp_dir().join(format!("errata-console-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("a scratch directory");
    let shots = screenshot_dir();
    println!("screenshots: {}", shots.display());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let driver = Driver::start(&chromedriver, &scratch.join("chromedriver.log"));
    let outcome = runtime.block_on(async {
        let running = gateway().await;
        let client = driver.session(&chromium, &scratch.join("profile")).await?;
        let flow = Flow {
            client: &client,
            running: &running,
            http: reqwest::Client::new(),
            shots: &shots,
        };
        let checks = tokio::time::timeout(SESSION_TIMEOUT, flow.run()).await;
        let _ = client.close().await;
        running.shutdown().await;
        checks.map_err(|_| "the browser session timed out".to_owned())?
    });
    drop(driver);
    let _ = std::fs::remove_dir_all(&scratch);
    if let Err(e) = outcome {
        panic!("{e}");
    }
}

struct Flow<'a> {
    client: &'a Client,
    running: &'a Running,
    http: reqwest::Client,
    shots: &'a Path,
}

impl Flow<'_> {
    fn admin(&self, path: &str) -> String {
        format!("http://{}{path}", self.running.admin_addr)
    }

    async fn goto(&self, path: &str) -> Result<(), String> {
        self.client
            .goto(&self.admin(path))
            .await
            .map_err(|e| format!("goto {path}: {e}"))
    }

    async fn shot(&self, name: &str) -> Result<(), String> {
        screenshot(self.client, self.shots, name).await
    }

    /// A request through the gateway: status, request id, JSON body.
    async fn call(&self, secret: &str, path: &str) -> Result<(u16, String, Value), String> {
        let res = self
            .http
            .get(format!("http://{}{path}", self.running.addr))
            .bearer_auth(secret)
            .send()
            .await
            .map_err(|e| format!("gateway call: {e}"))?;
        let status = res.status().as_u16();
        let id = res
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = res.json().await.unwrap_or(Value::Null);
        Ok((status, id, body))
    }

    /// The admin API, as an API client would call it (the bearer token, no cookie).
    async fn admin_api(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        let req = match method {
            "POST" => self.http.post(self.admin(path)).json(&body),
            _ => self.http.get(self.admin(path)),
        };
        let res = req
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = res.status();
        let v: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("{method} {path}: {status} {v}"));
        }
        Ok(v)
    }

    /// Waits until the request log holds `id` (it is written in batches).
    async fn logged(&self, id: &str) -> Result<(), String> {
        let deadline = Instant::now() + WAIT;
        while self
            .admin_api("GET", &format!("/requests/{id}"), Value::Null)
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                return Err(format!("request {id} never reached the request log"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    async fn run(&self) -> Result<(), String> {
        let secret = self.sign_in_and_create_key().await?;
        let traffic = self.send_traffic(&secret).await?;
        self.usage_and_drill_down(&traffic).await?;
        self.overview().await?;
        self.limit_states(&traffic).await?;
        self.lookup(&traffic).await?;
        self.errors_page().await?;
        self.edit(&secret).await?;
        self.revoke(&secret).await?;
        self.portal(&traffic).await?;
        Ok(())
    }

    /// Sign in (a wrong token first), create a key in the dialog; returns its secret.
    async fn sign_in_and_create_key(&self) -> Result<String, String> {
        self.goto("/").await?;
        shown(self.client, "#sign-in").await?;
        self.shot("01-sign-in").await?;

        type_into(self.client, "#token", "not-the-admin-token").await?;
        click(self.client, "#sign-in-button").await?;
        let refused = text_until(self.client, "#sign-in .alert", "a refusal", |t| {
            !t.is_empty()
        })
        .await?;
        if !refused.contains("Request id: req_") {
            return Err(format!("a refused sign-in shows no request id: {refused}"));
        }
        type_into(self.client, "#token", ADMIN_TOKEN).await?;
        click(self.client, "#sign-in-button").await?;
        shown(self.client, "#no-keys").await?;
        let url = self.client.current_url().await.map_err(|e| e.to_string())?;
        if url.as_str().contains(ADMIN_TOKEN) {
            return Err(format!("the admin token is in the URL: {url}"));
        }
        if url.path() != "/console/keys" {
            return Err(format!("signed in at {url}, expected /console/keys"));
        }
        self.shot("02-keys-empty").await?;

        // Another tenant's key, made through the API as a provider's back office would.
        self.admin_api(
            "POST",
            "/keys",
            json!({"tenant": "globex", "name": "globex server"}),
        )
        .await?;

        click(self.client, "#new-key").await?;
        type_into(self.client, "#key-form [name=tenant]", "acme").await?;
        type_into(self.client, "#key-form [name=name]", "checkout service").await?;
        type_into(
            self.client,
            "#key-form [name=scopes]",
            "orders:read orders:write",
        )
        .await?;
        self.shot("03-create-key").await?;
        click(self.client, "#save-key").await?;
        let secret = text_until(self.client, "#secret", "the new key", |t| {
            t.starts_with("test_live_")
        })
        .await?;
        self.shot("04-secret-once").await?;
        click(self.client, "#secret-done").await?;
        shown(self.client, "#keys").await?;
        // Shown once: nowhere on the page any more.
        let page = text_of(self.client, "body").await?;
        if page.contains(&secret) {
            return Err("the secret is still on the page after the dialog closed".into());
        }
        let rows = run(
            self.client,
            "return Array.from(document.querySelectorAll('#keys tbody tr')).map(r => r.dataset.tenant);",
            vec![],
        )
        .await?;
        let mut tenants: Vec<String> = serde_json::from_value(rows).map_err(|e| e.to_string())?;
        tenants.sort();
        if tenants != ["acme", "globex"] {
            return Err(format!("keys table shows tenants {tenants:?}"));
        }
        self.shot("05-keys").await?;
        Ok(secret)
    }

    /// Five requests that pass and three the rate limit refuses, plus one of globex's.
    async fn send_traffic(&self, secret: &str) -> Result<Traffic, String> {
        let mut ok = Vec::new();
        let mut limited = Vec::new();
        for i in 0..8 {
            let (status, id, body) = self.call(secret, &format!("/v1/orders/{i}")).await?;
            match status {
                200 => ok.push(id),
                429 if body["error"]["code"] == "rate_limit_exceeded" => limited.push(id),
                _ => return Err(format!("request {i}: {status} {body}")),
            }
        }
        if ok.len() != 5 || limited.len() != 3 {
            return Err(format!("{} passed, {} limited", ok.len(), limited.len()));
        }
        let globex = self
            .admin_api(
                "POST",
                "/keys",
                json!({"tenant": "globex", "name": "globex batch", "plan": "free"}),
            )
            .await?;
        let globex_secret = globex["secret"].as_str().unwrap_or_default().to_owned();
        let globex_key = globex["key"]["id"].as_str().unwrap_or_default().to_owned();
        let (status, globex_request, _) = self.call(&globex_secret, "/v1/orders/x").await?;
        if status != 200 {
            return Err(format!("globex's request: {status}"));
        }
        for id in ok.iter().chain(&limited).chain([&globex_request]) {
            self.logged(id).await?;
        }
        // Usage is counted apart from the log: wait until the API counts all eight too.
        let deadline = Instant::now() + WAIT;
        loop {
            let usage = self
                .admin_api("GET", "/usage?tenant=acme", Value::Null)
                .await?;
            if usage["totals"]["total"] == 8 {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("acme's usage never reached 8: {usage}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Traffic {
            ok,
            limited,
            globex_request,
            globex_key,
        })
    }

    /// The usage page of the key: totals, both charts, and a click on the 429 bar.
    async fn usage_and_drill_down(&self, traffic: &Traffic) -> Result<(), String> {
        click(self.client, "a[data-page=keys]").await?;
        click(
            self.client,
            "#keys tr[data-tenant=acme] [data-action=usage]",
        )
        .await?;
        text_until(self.client, "#usage-total", "8 requests", |t| t == "8").await?;
        text_until(self.client, "#usage-errors", "3 errors", |t| t == "3").await?;
        text_until(self.client, "#top-codes", "the 429s", |t| {
            t.contains("rate_limit_exceeded") && t.contains('3')
        })
        .await?;
        shown(self.client, "#chart-codes").await?;
        text_until(self.client, "#limit-state", "the key's rate left", |t| {
            t.contains("Rate") && t.contains("0 of 5 left")
        })
        .await?;
        self.shot("06-usage").await?;

        // Click the rate_limit_exceeded bar with a real pointer.
        let at = run(
            self.client,
            r#"
            const c = window.errataCharts.codes;
            const ds = c.data.datasets.findIndex(d => d.label === "rate_limit_exceeded");
            const i = c.data.datasets[ds].data.findIndex(v => v > 0);
            const bar = c.getDatasetMeta(ds).data[i];
            const r = c.canvas.getBoundingClientRect();
            return { x: bar.x - r.width / 2, y: (bar.y + bar.base) / 2 - r.height / 2 };
            "#,
            vec![],
        )
        .await?;
        let canvas = shown(self.client, "#chart-codes").await?;
        let pointer = MouseActions::new("mouse".into())
            .then(PointerAction::MoveToElement {
                element: canvas,
                duration: None,
                x: at["x"].as_f64().unwrap_or(0.0),
                y: at["y"].as_f64().unwrap_or(0.0),
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            });
        self.client
            .perform_actions(pointer)
            .await
            .map_err(|e| format!("click the bar: {e}"))?;
        shown(self.client, "#request-list").await?;
        let listed = run(
            self.client,
            "return Array.from(document.querySelectorAll('#request-list tbody tr')).map(r => r.dataset.request).sort();",
            vec![],
        )
        .await?;
        let mut want = traffic.limited.clone();
        want.sort();
        if listed != json!(want) {
            return Err(format!("the 429 bar lists {listed}, expected {want:?}"));
        }
        self.shot("07-requests-behind-a-bar").await?;

        // Through to one of them.
        let first = &traffic.limited[0];
        click(
            self.client,
            &format!("#request-list tr[data-request='{first}'] a"),
        )
        .await?;
        text_until(self.client, "#record-id", "the request id", |t| t == first).await?;
        text_until(self.client, "#record-code", "its code", |t| {
            t == "rate_limit_exceeded"
        })
        .await?;
        text_until(self.client, "#record-trace-id", "its trace id", |t| {
            t.len() == 32
                && t.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        .await?;
        Ok(())
    }

    /// Every tenant at once: acme's eight, globex's one and one with a key nobody has.
    async fn overview(&self) -> Result<(), String> {
        let (status, _, body) = self
            .call("test_live_nobodyhasthiskey0123456789", "/v1/orders/1")
            .await?;
        if status != 401 || body["error"]["code"] != "invalid_api_key" {
            return Err(format!("an unknown key gets {status} {body}"));
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let o = self
                .admin_api("GET", "/usage/overview?step=hour", Value::Null)
                .await?;
            if o["totals"]["total"] == 10 {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("the overview never counted 10 requests: {o}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        click(self.client, "a[data-page=overview]").await?;
        text_until(self.client, "#overview-total", "10 requests", |t| t == "10").await?;
        let errors = text_of(self.client, "#overview-errors").await?;
        let split = text_of(self.client, "#overview-error-split").await?;
        let tenants = text_of(self.client, "#overview-tenants").await?;
        let nobody = text_of(self.client, "#overview-no-tenant").await?;
        if (errors.as_str(), tenants.as_str(), nobody.as_str())
            != ("4", "2", "1 request with no known key")
            || !split.starts_with("4 4xx · 0 5xx")
        {
            return Err(format!(
                "the overview shows errors {errors} ({split}), tenants {tenants}, {nobody}"
            ));
        }
        let rows = run(
            self.client,
            "return Array.from(document.querySelectorAll('#top-tenants tbody tr')).map(r => [r.dataset.tenant, r.querySelector('td.num').textContent]);",
            vec![],
        )
        .await?;
        if rows != json!([["acme", "8"], ["globex", "1"]]) {
            return Err(format!("the top tenants are {rows}"));
        }
        let codes = run(
            self.client,
            "return Array.from(document.querySelectorAll('#overview-codes tbody tr')).map(r => [r.dataset.code, r.querySelector('td.num').textContent]);",
            vec![],
        )
        .await?;
        if codes != json!([["rate_limit_exceeded", "3"], ["invalid_api_key", "1"]]) {
            return Err(format!("the overview's top codes are {codes}"));
        }
        shown(self.client, "#overview-chart").await?;
        self.shot("16-overview").await?;
        // A tenant's line leads to its usage.
        click(self.client, "#top-tenants tr[data-tenant=acme] a").await?;
        text_until(self.client, "#usage-total", "acme's 8 requests", |t| {
            t == "8"
        })
        .await?;
        Ok(())
    }

    /// The limit state card tells a plan without limits from a key not used.
    async fn limit_states(&self, traffic: &Traffic) -> Result<(), String> {
        self.goto(&format!("/console/usage?key_id={}", traffic.globex_key))
            .await?;
        let card = text_until(self.client, "#limit-state", "no limits", |t| {
            t.contains("No limits on this plan")
        })
        .await?;
        if card.contains("Not used") {
            return Err(format!("a used key without limits reads: {card}"));
        }
        shown(self.client, "#limit-state[data-state=no-limits]").await?;
        self.shot("17-limit-state-no-limits").await?;
        let keys = self
            .admin_api("GET", "/keys?tenant=globex", Value::Null)
            .await?;
        let unused = keys["data"]
            .as_array()
            .and_then(|ks| ks.iter().find(|k| k["name"] == "globex server"))
            .and_then(|k| k["id"].as_str())
            .ok_or_else(|| format!("no unused globex key in {keys}"))?
            .to_owned();
        self.goto(&format!("/console/usage?key_id={unused}"))
            .await?;
        text_until(self.client, "#limit-state", "not used", |t| {
            t.contains("Not used since the gateway started")
        })
        .await?;
        shown(self.client, "#limit-state[data-state=unused]").await?;
        Ok(())
    }

    /// Paste a request id into the lookup form.
    async fn lookup(&self, traffic: &Traffic) -> Result<(), String> {
        click(self.client, "a[data-page=requests]").await?;
        let id = &traffic.ok[2];
        type_into(self.client, "#request-id", id).await?;
        click(self.client, "#look-up").await?;
        text_until(self.client, "#record-id", "the pasted id", |t| t == id).await?;
        let record = text_of(self.client, "#record").await?;
        if !record.contains("GET /v1/orders/2") || !record.contains("200") {
            return Err(format!("the record shows: {record}"));
        }
        self.shot("08-request-lookup").await?;
        Ok(())
    }

    /// The catalog's error reference, filtered by typing.
    async fn errors_page(&self) -> Result<(), String> {
        click(self.client, "a[data-page=errors]").await?;
        shown(self.client, "#code-rate_limit_exceeded").await?;
        self.shot("09-error-reference").await?;
        // The catalog's Markdown code is <code>, and its `<key>` is text, not markup.
        let resolution = run(
            self.client,
            "return document.querySelector('#code-missing_api_key .resolution').innerHTML;",
            vec![],
        )
        .await?;
        let want = "<strong>Resolution: </strong>Add the Authorization header with your API key: <code>Authorization: Bearer &lt;key&gt;</code>.";
        if resolution != json!(want) {
            return Err(format!(
                "missing_api_key's resolution renders as {resolution}"
            ));
        }
        let raw = run(
            self.client,
            "return [document.querySelectorAll('#codes key').length, Array.from(document.querySelectorAll('#codes p')).filter(p => p.textContent.includes('`')).length];",
            vec![],
        )
        .await?;
        if raw != json!([0, 0]) {
            return Err(format!(
                "elements from catalog text, paragraphs with backticks: {raw}"
            ));
        }
        type_into(self.client, "#code-filter", "api_key_revoked").await?;
        let visible = run(
            self.client,
            "return Array.from(document.querySelectorAll('#codes article')).filter(a => !a.hidden).map(a => a.dataset.code);",
            vec![],
        )
        .await?;
        if visible != json!(["api_key_revoked"]) {
            return Err(format!("filtering by api_key_revoked shows {visible}"));
        }
        Ok(())
    }

    /// Edit the key's IP allowlist: a bad block is refused in the dialog with the catalog's
    /// message; a good one takes effect at the gateway.
    async fn edit(&self, secret: &str) -> Result<(), String> {
        click(self.client, "a[data-page=keys]").await?;
        click(self.client, "#keys tr[data-tenant=acme] [data-action=edit]").await?;
        type_into(self.client, "#key-form [name=ip_allowlist]", "10.0.0.0/33").await?;
        click(self.client, "#save-key").await?;
        let refused = text_until(self.client, "#dialog .alert", "a refusal", |t| {
            !t.is_empty()
        })
        .await?;
        if !refused.contains("Request id: req_") {
            return Err(format!("a refused edit shows no request id: {refused}"));
        }
        self.shot("10-edit-refused").await?;
        let field = shown(self.client, "#key-form [name=ip_allowlist]").await?;
        field.clear().await.map_err(|e| e.to_string())?;
        type_into(self.client, "#key-form [name=ip_allowlist]", "10.0.0.0/8").await?;
        click(self.client, "#save-key").await?;
        text_until(
            self.client,
            "#keys tr[data-tenant=acme]",
            "the allowlist saved",
            |t| t.contains("checkout service"),
        )
        .await?;
        let (status, _, body) = self.call(secret, "/v1/orders/1").await?;
        if status != 403 || body["error"]["code"] != "ip_not_allowed" {
            return Err(format!("from outside the allowlist: {status} {body}"));
        }
        Ok(())
    }

    /// Revoke in the console; the gateway refuses the key.
    async fn revoke(&self, secret: &str) -> Result<(), String> {
        click(self.client, "a[data-page=keys]").await?;
        click(
            self.client,
            "#keys tr[data-tenant=acme] [data-action=revoke]",
        )
        .await?;
        click(self.client, "#confirm").await?;
        text_until(
            self.client,
            "#keys tr[data-tenant=acme] [data-status]",
            "revoked",
            |t| t == "revoked",
        )
        .await?;
        self.shot("11-key-revoked").await?;
        let (status, _, body) = self.call(secret, "/v1/orders/1").await?;
        if status != 401 || body["error"]["code"] != "api_key_revoked" {
            return Err(format!("a revoked key still gets {status} {body}"));
        }
        Ok(())
    }

    /// A portal session of acme: acme's keys and requests only; globex's request is not found.
    async fn portal(&self, traffic: &Traffic) -> Result<(), String> {
        let session = self
            .admin_api(
                "POST",
                "/portal/sessions",
                json!({"tenant": "acme", "ttl_minutes": 30}),
            )
            .await?;
        let token = session["token"].as_str().unwrap_or_default().to_owned();
        self.goto(&format!("/portal#token={token}")).await?;
        shown(self.client, "#keys").await?;
        let url = self.client.current_url().await.map_err(|e| e.to_string())?;
        if url.as_str().contains(&token) {
            return Err(format!("the portal token stays in the address bar: {url}"));
        }
        text_until(self.client, "#tenant-name", "acme", |t| t == "acme").await?;
        let rows = run(
            self.client,
            "return Array.from(document.querySelectorAll('#keys tbody tr')).map(r => r.dataset.tenant);",
            vec![],
        )
        .await?;
        if rows != json!(["acme"]) {
            return Err(format!("the portal lists keys of {rows}"));
        }
        self.shot("12-portal-keys").await?;

        // The customer makes its own key: the tenant is the session's.
        click(self.client, "#new-key").await?;
        let offered = run(
            self.client,
            "return !!document.querySelector('#key-form [name=tenant], #key-form [name=plan]');",
            vec![],
        )
        .await?;
        if offered != json!(false) {
            return Err("the portal's key form offers a tenant or a plan".into());
        }
        type_into(self.client, "#key-form [name=name]", "reporting job").await?;
        click(self.client, "#save-key").await?;
        text_until(self.client, "#secret", "the new key", |t| {
            t.starts_with("test_live_")
        })
        .await?;
        self.shot("13-portal-secret-once").await?;
        click(self.client, "#secret-done").await?;
        text_until(self.client, "#keys tbody", "both acme keys", |t| {
            t.contains("reporting job") && t.contains("checkout service")
        })
        .await?;
        let rows = run(
            self.client,
            "return Array.from(document.querySelectorAll('#keys tbody tr')).map(r => r.dataset.tenant);",
            vec![],
        )
        .await?;
        if rows != json!(["acme", "acme"]) {
            return Err(format!(
                "after creating one, the portal lists keys of {rows}"
            ));
        }

        // The tenant's usage, as the admin API counts it.
        let usage = self
            .admin_api("GET", "/usage?tenant=acme", Value::Null)
            .await?;
        let total = usage["totals"]["total"].as_u64().unwrap_or(0);
        if total < 8 {
            return Err(format!("the admin API counts {total} requests of acme"));
        }
        click(self.client, "a[data-page=usage]").await?;
        text_until(self.client, "#usage-total", "acme's requests", |t| {
            t == total.to_string()
        })
        .await?;
        self.shot("14-portal-usage").await?;

        click(self.client, "a[data-page=requests]").await?;
        let own = &traffic.ok[0];
        type_into(self.client, "#request-id", own).await?;
        click(self.client, "#look-up").await?;
        text_until(self.client, "#record-id", "acme's request", |t| t == own).await?;

        let other = &traffic.globex_request;
        let input = shown(self.client, "#request-id").await?;
        input.clear().await.map_err(|e| e.to_string())?;
        type_into(self.client, "#request-id", other).await?;
        click(self.client, "#look-up").await?;
        let alert = text_until(self.client, ".alert", "not found", |t| !t.is_empty()).await?;
        if !alert.contains("not found") || !alert.contains("Request id: req_") {
            return Err(format!("globex's request in acme's portal shows: {alert}"));
        }
        if alert.contains("orders") {
            return Err(format!("the refusal leaks the record: {alert}"));
        }
        self.shot("15-portal-other-tenant-not-found").await?;
        Ok(())
    }
}

struct Traffic {
    ok: Vec<String>,
    limited: Vec<String>,
    globex_request: String,
    /// The key of globex's request: its plan has no limits.
    globex_key: String,
}
