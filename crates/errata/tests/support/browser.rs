//! Headless Chromium over WebDriver: a chromedriver on a free loopback port, a session with
//! flags that keep the browser off any network, and waits that give up after a bound.
//!
//! Needs Debian's `chromium` and `chromium-driver` (or `CHROMIUM` and `CHROMEDRIVER` pointing at
//! them); [`tools`] says whether they are here.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// How long chromedriver may take to listen.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a wait for something on a page may take.
pub const WAIT: Duration = Duration::from_secs(15);

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
    "--window-size=1360,900",
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

/// Chromium and chromedriver, when both are installed.
pub fn tools() -> Option<(PathBuf, PathBuf)> {
    program("CHROMIUM", &["chromium", "chromium-browser"])
        .zip(program("CHROMEDRIVER", &["chromedriver"]))
}

/// A chromedriver listening on a loopback port; killed when dropped.
pub struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    pub fn start(program: &Path, log: &Path) -> Driver {
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

    /// A browser session with its profile under `profile`.
    pub async fn session(&self, chromium: &Path, profile: &Path) -> Result<Client, String> {
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": chromium, "args": args }),
        );
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .map_err(|e| format!("no WebDriver session: {e}"))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a script in the page.
pub async fn run(client: &Client, script: &str, args: Vec<Value>) -> Result<Value, String> {
    client
        .execute(script, args)
        .await
        .map_err(|e| format!("script failed: {e}"))
}

/// The element `css` selects, once it shows (within [`WAIT`]).
pub async fn shown(client: &Client, css: &str) -> Result<Element, String> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(el) = client.find(Locator::Css(css)).await
            && el.is_displayed().await.unwrap_or(false)
        {
            return Ok(el);
        }
        if Instant::now() > deadline {
            let text = text_of(client, "body").await.unwrap_or_default();
            return Err(format!("{css} did not show; the page says: {text}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the text of `css` satisfies `ok`, and returns it.
pub async fn text_until(
    client: &Client,
    css: &str,
    what: &str,
    ok: impl Fn(&str) -> bool,
) -> Result<String, String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = text_of(client, css).await.unwrap_or_default();
        if ok(&text) {
            return Ok(text);
        }
        if Instant::now() > deadline {
            return Err(format!("{css}: expected {what}, shows {text:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The visible text of the first element `css` selects ("" when there is none).
pub async fn text_of(client: &Client, css: &str) -> Result<String, String> {
    let v = run(
        client,
        "const el = document.querySelector(arguments[0]); return el ? el.innerText : '';",
        vec![json!(css)],
    )
    .await?;
    Ok(v.as_str().unwrap_or("").to_owned())
}

/// Clicks the element `css` selects, once it shows. A page that re-renders between finding the
/// element and clicking it leaves a stale reference: find it again, within [`WAIT`].
pub async fn click(client: &Client, css: &str) -> Result<(), String> {
    let deadline = Instant::now() + WAIT;
    loop {
        match shown(client, css).await?.click().await {
            Ok(()) => return Ok(()),
            Err(e) if e.to_string().contains("stale element") && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(format!("click {css}: {e}")),
        }
    }
}

/// Types into the element `css` selects, once it shows.
pub async fn type_into(client: &Client, css: &str, keys: &str) -> Result<(), String> {
    shown(client, css)
        .await?
        .send_keys(keys)
        .await
        .map_err(|e| format!("type into {css}: {e}"))
}

/// Saves a screenshot of the page as `dir/name.png`.
pub async fn screenshot(client: &Client, dir: &Path, name: &str) -> Result<(), String> {
    let png = client
        .screenshot()
        .await
        .map_err(|e| format!("screenshot {name}: {e}"))?;
    std::fs::write(dir.join(format!("{name}.png")), png)
        .map_err(|e| format!("write screenshot {name}: {e}"))
}
