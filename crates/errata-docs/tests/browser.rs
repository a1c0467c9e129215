//! The HTML reference in real headless Chromium, driven over WebDriver by a chromedriver this
//! test starts on a free loopback port: every `#code` anchor lands on its code's section, every
//! in-page link has a target, and typing in the filter box (real key events) hides the other
//! codes, in the tables and the sections alike, until it is cleared.
//!
//! Needs Debian's `chromium` and `chromium-driver` (or `CHROMIUM` and `CHROMEDRIVER` pointing at
//! them). Without them the test prints "skipped: no chromium" and passes, unless `CI` is set:
//! there it fails.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use errata_core::Catalog;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// How long the whole browser session may take before the test fails.
const SESSION_TIMEOUT: Duration = Duration::from_secs(180);

/// How long chromedriver may take to listen.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(30);

/// Flags that keep Chromium from reaching for a network this machine does not have.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
];

/// A program named by an environment variable, or the first of `names` found on `PATH`.
fn program(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "errata-docs-browser-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A chromedriver listening on a loopback port; killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start(program: &Path, log: &Path) -> Driver {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let mut driver = Driver { child, port };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + DRIVER_START_TIMEOUT;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = driver.child.try_wait() {
                panic!(
                    "chromedriver exited early ({status}); log: {}",
                    log.display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        driver
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn html_reference_works_in_headless_chromium() {
    let tools = program("CHROMIUM", &["chromium", "chromium-browser"])
        .zip(program("CHROMEDRIVER", &["chromedriver"]));
    let Some((chromium, chromedriver)) = tools else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but chromium or chromedriver is missing (apt-get install chromium chromium-driver)"
        );
        println!("skipped: no chromium");
        return;
    };

    let dir = TempDir::new();
    let page = dir.path().join("errors.html");
    std::fs::write(&page, errata_docs::html(Catalog::builtin()).unwrap()).expect("write the page");
    let page_url = format!("file://{}", page.display());
    let driver = Driver::start(&chromedriver, &dir.path().join("chromedriver.log"));

    let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
    args.push(format!(
        "--user-data-dir={}",
        dir.path().join("profile").display()
    ));
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": chromium, "args": args }),
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let outcome = runtime.block_on(async {
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url())
            .await
            .map_err(|e| format!("no WebDriver session: {e}"))?;
        let checks = tokio::time::timeout(SESSION_TIMEOUT, check_page(&client, &page_url)).await;
        // Close the session (and its browser) whatever the checks found.
        let _ = client.close().await;
        checks.map_err(|_| "the browser session timed out".to_owned())?
    });
    drop(driver);
    if let Err(e) = outcome {
        panic!("{e}");
    }
}

/// Where an element is and whether it shows.
const ELEMENT_STATE: &str = r#"
    const el = document.getElementById(arguments[0]);
    if (!el) { return null; }
    const r = el.getBoundingClientRect();
    return {
        tag: el.tagName.toLowerCase(),
        top: r.top,
        visible: el.getClientRects().length > 0,
        viewport: window.innerHeight,
        target: el.matches(":target"),
    };
"#;

/// The codes whose sections and table rows are showing.
const SHOWN: &str = r#"
    const shown = (sel) => Array.from(document.querySelectorAll(sel))
        .filter((el) => el.getClientRects().length > 0)
        .map((el) => el.dataset.code);
    return { sections: shown("article.code"), rows: shown("tr[data-code]") };
"#;

/// In-page links whose target does not exist.
const DANGLING_LINKS: &str = r##"
    return Array.from(document.querySelectorAll('a[href^="#"]'))
        .map((a) => decodeURIComponent(a.getAttribute("href").slice(1)))
        .filter((id) => !document.getElementById(id));
"##;

async fn check_page(client: &Client, page_url: &str) -> Result<(), String> {
    let catalog = Catalog::builtin();
    // Page order: by type, in order of first appearance.
    let codes: Vec<&str> = catalog
        .kinds()
        .into_iter()
        .flat_map(|k| catalog.codes().iter().filter(move |c| c.kind == k))
        .map(|c| c.code.as_str())
        .collect();

    // (a) Every code's anchor resolves to its section, scrolled into view.
    for code in &codes {
        client
            .goto(&format!("{page_url}#{code}"))
            .await
            .map_err(|e| format!("goto #{code}: {e}"))?;
        let state = run(client, ELEMENT_STATE, vec![json!(code)]).await?;
        if state.is_null() {
            return Err(format!("#{code}: no element with that id"));
        }
        let top = state["top"].as_f64().unwrap_or(f64::NAN);
        let viewport = state["viewport"].as_f64().unwrap_or(0.0);
        let in_view = (0.0..viewport).contains(&top);
        if state["tag"] != "article" || state["visible"] != true || !in_view {
            return Err(format!("#{code}: not shown in view: {state}"));
        }
        if state["target"] != true {
            return Err(format!("#{code}: the section is not the :target: {state}"));
        }
    }
    let dangling = run(client, DANGLING_LINKS, vec![]).await?;
    if dangling != json!([]) {
        return Err(format!("links without a target: {dangling}"));
    }

    // (b) The filter box, typed into with real key events.
    client
        .goto(page_url)
        .await
        .map_err(|e| format!("goto page: {e}"))?;
    let all = json!({ "sections": codes, "rows": codes });
    expect_shown(client, "before typing", &all).await?;
    let filter = client
        .find(Locator::Id("filter"))
        .await
        .map_err(|e| format!("no filter box: {e}"))?;
    let typed = "rate_limit_exceeded";
    type_keys(&filter, typed).await?;
    let one = json!({ "sections": [typed], "rows": [typed] });
    expect_shown(client, typed, &one).await?;
    let other = client
        .find(Locator::Id("missing_api_key"))
        .await
        .map_err(|e| format!("find missing_api_key: {e}"))?;
    if other.is_displayed().await.map_err(|e| e.to_string())? {
        return Err("missing_api_key still shows while filtering".into());
    }

    // Clearing it with backspaces shows every code again.
    let backspaces: String = std::iter::repeat_n(char::from(Key::Backspace), typed.len()).collect();
    type_keys(&filter, &backspaces).await?;
    expect_shown(client, "after clearing", &all).await?;

    // Type, status and description words match too; words narrow each other; Escape clears.
    for (query, want) in [
        (
            "rate_limit_error",
            &[
                "rate_limit_exceeded",
                "quota_exceeded",
                "concurrent_requests_exceeded",
            ][..],
        ),
        ("503", &["service_unavailable", "model_unavailable"][..]),
        ("monthly", &["quota_exceeded"][..]),
        ("KEY 401 revoked", &["api_key_revoked"][..]),
    ] {
        type_keys(&filter, query).await?;
        expect_shown(client, query, &json!({ "sections": want, "rows": want })).await?;
        type_keys(&filter, &char::from(Key::Escape).to_string()).await?;
        expect_shown(client, "after Escape", &all).await?;
    }
    type_keys(&filter, "no such code at all").await?;
    expect_shown(client, "no match", &json!({ "sections": [], "rows": [] })).await?;
    let none = run(
        client,
        "return document.getElementById('no-match').getClientRects().length > 0;",
        vec![],
    )
    .await?;
    if none != true {
        return Err("no 'no match' note when nothing matches".into());
    }
    Ok(())
}

async fn run(client: &Client, script: &str, args: Vec<Value>) -> Result<Value, String> {
    client
        .execute(script, args)
        .await
        .map_err(|e| format!("script failed: {e}"))
}

async fn type_keys(element: &fantoccini::elements::Element, keys: &str) -> Result<(), String> {
    element
        .send_keys(keys)
        .await
        .map_err(|e| format!("send_keys {keys:?}: {e}"))
}

async fn expect_shown(client: &Client, when: &str, want: &Value) -> Result<(), String> {
    let got = run(client, SHOWN, vec![]).await?;
    if &got != want {
        return Err(format!("{when}: shown {got}, expected {want}"));
    }
    Ok(())
}
