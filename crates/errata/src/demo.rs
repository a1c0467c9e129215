//! `errata serve --demo`: the gateway in front of the bundled example service (Kaplaix-style
//! event ingestion), with keys made for the occasion, the curl commands that show a success
//! and each kind of error, and the way into the console and the request log.
//!
//! The demo's state (keys, request log) is a SQLite file in a directory of its own under the
//! system's temporary directory, so that `errata keys` and `errata requests` can read it while
//! the demo runs; the directory is removed when the demo stops. A config passed with
//! `--config` is honoured except where it would change what the tour shows (see
//! [`OWN_POLICY`]).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use errata::config::Config;
use errata::serve;
use errata_admin::manage;
use errata_gateway::config::{DEFAULT_KEY_PREFIX, reachable};
use errata_store::counters::SystemClock;
use errata_store::db::NewKey;
use errata_store::keys::Environment;
use tokio::net::TcpListener;

use crate::gateway_cli::shell_word;

/// The demo's policy: a plan roomy enough for the whole tour, a small one (5 a minute) for the
/// rate-limit line alone, one plan-gated route, scoped event routes.
const POLICY: &str = r#"
key_prefix = "demo"

[limits]
default_plan = "starter"
max_body_bytes = 4096
content_types = ["application/json"]

[plans.starter]
rate = 600
per_seconds = 60
monthly_quota = 10000

[plans.free]
rate = 5
per_seconds = 60
monthly_quota = 1000

[plans.agency]
rate = 100
features = ["white_label"]

[[routes]]
path = "/v1/events"
methods = ["GET", "POST"]
scopes = ["events:write"]

[[routes]]
path = "/v1/agents"
methods = ["GET", "POST"]
scopes = ["events:write"]

[[routes]]
path = "/v1/exports"
methods = ["GET"]

[[routes]]
path = "/v1/reports"
plans = ["agency"]
"#;

/// What the demo keeps as its own whatever a config says, because the tour depends on it.
const OWN_POLICY: &str = "upstream (the example service), routes, plans, [limits], key \
headers and store (a temporary file)";

/// What a config passed with `--config` gives the demo.
const FROM_CONFIG: &str = "the catalog, the listeners and their TLS, [admin] (listen, \
token), [portal], the counters, [timeouts], [key_cache], [failure], [idempotency], \
[request_log], workers, max_connections, trusted proxies and request id header, errors_path \
and key_prefix";

async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    match TcpListener::bind(addr).await {
        Ok(l) => Ok(l),
        // The usual port is taken: any free one will do for a demo.
        Err(_) => TcpListener::bind(SocketAddr::new(addr.ip(), 0))
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}")),
    }
}

/// The demo's state directory, removed when dropped (at the end of the demo, or when it fails
/// to start).
struct StateDir(PathBuf);

impl StateDir {
    fn create() -> Result<StateDir, String> {
        let dir = std::env::temp_dir().join(format!("errata-demo-{}", std::process::id()));
        // A directory of this name can only be left by an earlier process with this id, gone.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| {
            format!(
                "cannot make the demo's state directory {}: {e}",
                dir.display()
            )
        })?;
        Ok(StateDir(dir))
    }

    fn store_url(&self) -> String {
        format!("sqlite://{}", self.0.join("errata.db").display())
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The config the demo runs with: `base` (the embedded defaults, or the file given with
/// `--config`) with the demo's own policy, upstream and store in place of its own.
fn compose(mut cfg: Config, upstream: SocketAddr, store_url: String) -> Result<Config, String> {
    let src = format!("upstream = \"http://{upstream}\"\n{POLICY}");
    let own = Config::from_toml(&src, Path::new("."))
        .map_err(|d| format!("demo config: {}", d.render("demo")))?
        .gateway;
    let g = &mut cfg.gateway;
    g.upstream = own.upstream;
    g.upstream_ca = None;
    g.store_url = store_url;
    g.key_headers = own.key_headers;
    g.limit_scope = own.limit_scope;
    g.default_plan = own.default_plan;
    g.plans = own.plans;
    g.default_limits = own.default_limits;
    g.max_body_bytes = own.max_body_bytes;
    g.content_types = own.content_types;
    g.routes = own.routes;
    // A key prefix the config chose is kept; otherwise the demo's keys say what they are for.
    if g.key_prefix == DEFAULT_KEY_PREFIX {
        g.key_prefix = own.key_prefix;
    }
    Ok(cfg)
}

/// Runs the demo; `config` is the file `base` was read from, if any.
pub async fn run(base: Config, config: Option<&Path>) -> Result<(), String> {
    let mut signals = serve::Signals::install();
    let state = StateDir::create()?;

    // The example service, in this process, on a free loopback port.
    let catalog = Arc::new(base.gateway.catalog.clone());
    let app = kaplaix_events::app(Arc::clone(&catalog), "sqlite::memory:")
        .await
        .map_err(|e| format!("cannot start the example service: {e}"))?;
    let upstream = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot start the example service: {e}"))?;
    let upstream_addr = upstream.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(upstream, app).await {
            tracing::error!(error = %e, "example service stopped");
        }
    });

    let cfg = compose(base, upstream_addr, state.store_url())?;
    let (store, counters) = serve::open_backends(&cfg).await?;
    let now = manage::now_secs();
    let key = |tenant: &str, name: &str, scopes: &[&str], plan: Option<&str>| NewKey {
        tenant: tenant.into(),
        name: name.into(),
        environment: Environment::Test,
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        plan: plan.map(str::to_owned),
        ..NewKey::default()
    };
    let issue = |k: NewKey| {
        let (store, admin) = (Arc::clone(&store), cfg.admin());
        async move {
            manage::create(&store, &admin, &k, now)
                .await
                .map(|i| i.secret)
                .map_err(|e| e.to_string())
        }
    };
    let keys = Keys {
        acme: issue(key("acme", "demo", &["events:write"], None)).await?,
        readonly: issue(key("acme", "read-only", &[], None)).await?,
        globex: issue(key("globex", "another tenant", &["events:write"], None)).await?,
        limited: issue(key("acme", "rate-limited", &["events:write"], Some("free"))).await?,
    };

    let listener = bind(cfg.gateway.listen).await?;
    let admin = bind(cfg.admin_listen).await?;
    let tour = Tour {
        scheme: if cfg.gateway.tls.is_some() {
            "https"
        } else {
            "http"
        },
        admin_scheme: if cfg.admin_tls.is_some() {
            "https"
        } else {
            "http"
        },
        errors_path: cfg.gateway.errors_path.clone(),
        key_prefix: cfg.gateway.key_prefix.clone(),
        token_chosen: cfg.admin_token.is_some(),
        request_log: cfg.gateway.request_log.enabled,
        store_url: cfg.gateway.store_url.clone(),
        state: state.0.clone(),
        config: config.map(Path::to_path_buf),
    };
    let running =
        serve::start(cfg, store, counters, Arc::new(SystemClock), listener, admin).await?;
    tour.print(&running, &keys);
    signals.until_stopped(&running.reloader).await;
    running.shutdown().await;
    drop(state);
    Ok(())
}

/// The secrets the tour's commands use.
struct Keys {
    acme: String,
    readonly: String,
    globex: String,
    limited: String,
}

/// What the tour says besides the keys and the addresses.
struct Tour {
    scheme: &'static str,
    admin_scheme: &'static str,
    errors_path: String,
    key_prefix: String,
    token_chosen: bool,
    request_log: bool,
    store_url: String,
    state: PathBuf,
    config: Option<PathBuf>,
}

/// How to run this binary from a shell: `errata` when that is what `PATH` finds, else its path.
fn errata_command() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return "errata".into();
    };
    let canonical = exe.canonicalize().unwrap_or_else(|_| exe.clone());
    let on_path = std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            d.join("errata")
                .canonicalize()
                .is_ok_and(|c| c == canonical)
        })
    });
    if on_path {
        "errata".into()
    } else {
        shell_word(&exe.display().to_string())
    }
}

impl Tour {
    /// Prints the tour. Every curl command, run in the order printed, gets the status its
    /// comment starts with (`crates/errata/tests/demo.rs` runs them all, and the lookups); the
    /// key and token lines are `NAME=secret`, ready to paste into a shell.
    fn print(&self, running: &serve::Running, keys: &Keys) {
        let u = format!("{}://{}", self.scheme, reachable(running.addr));
        let admin = format!("{}://{}", self.admin_scheme, reachable(running.admin_addr));
        let j = "-H 'content-type: application/json'";
        let Keys {
            acme,
            readonly,
            globex,
            limited,
        } = keys;
        let prefix = &self.key_prefix;
        let errors = &self.errors_path;
        let token = &running.admin_token;
        let token_note = if self.token_chosen {
            "the config's [admin] token"
        } else {
            "made for this run; set [admin] token in a config passed with --config to choose it"
        };
        let errata = errata_command();
        let store = shell_word(&self.store_url);
        let state = self.state.display();
        let lookups = if self.request_log {
            format!(
                r#"The request log: every answer above has a record, found by the request id it carried (its
x-request-id header; written about a second after the answer). Set ID to one (ID=req_...), then:
  {errata} requests list --limit 5 --store {store}    # the newest records, each line starting with its request id
  {errata} requests show "$ID" --store {store}
  curl -i "{admin}/requests/$ID" -H "Authorization: Bearer $ADMIN"    # 200 the same record, from the admin API
  {errata} keys list --store {store}"#
            )
        } else {
            "The request log is off ([request_log] enabled = false in the config): no records to look up."
                .to_owned()
        };
        let config = match &self.config {
            Some(path) => format!(
                "Taken from {}: {FROM_CONFIG}.\nThe demo keeps its own {OWN_POLICY}.",
                path.display()
            ),
            None => format!(
                "With --config FILE the demo takes {FROM_CONFIG} from FILE,\nand keeps its own {OWN_POLICY}."
            ),
        };
        // A closed stdout must not stop the gateway.
        let _ = writeln!(
            std::io::stdout(),
            r#"errata gateway listening on {u} (demo: in front of the example event service)

Test keys (shown once; kept in this run's store, below); paste these lines into your shell:
  KEY={acme}        # tenant acme, scope events:write, plan starter (600 requests/minute)
  READONLY={readonly}   # tenant acme, no scopes
  GLOBEX={globex}     # tenant globex, scope events:write
  LIMITED={limited}    # tenant acme, scope events:write, plan free (5 requests/minute)

Run the commands in order; each comment starts with the status you get.

A success: register an agent, then ingest an event
  curl -i -X POST {u}/v1/agents -H "Authorization: Bearer $KEY" {j} -d '{{"agentId":"agent-1","name":"Demo agent"}}'   # 201 registered
  curl -i -X POST {u}/v1/events -H "Authorization: Bearer $KEY" {j} -d '{{"eventId":"0b7c1c1e-8d7e-4a35-9a9e-4a0d3f0f6c11","agentId":"agent-1","category":"log","payload":{{"message":"hello"}}}}'   # 202 accepted

Each kind of error, always the same envelope with the request id of its x-request-id header:
  curl -i {u}/v1/agents/agent-1                                              # 401 no key
  curl -i {u}/v1/agents/agent-1 -H "Authorization: Bearer {prefix}_test_nope"    # 401 malformed key
  curl -i {u}/v1/agents/agent-1 -H "Authorization: Bearer $READONLY"         # 403 missing scope
  curl -i {u}/v1/reports -H "Authorization: Bearer $KEY"                     # 403 plan
  curl -i {u}/v1/agents/agent-1 -H "Authorization: Bearer $GLOBEX"           # 404 another tenant's agent
  curl -i {u}/v1/nothing -H "Authorization: Bearer $KEY"                     # 404 no route
  curl -i -X DELETE {u}/v1/events -H "Authorization: Bearer $KEY"            # 405 with Allow
  curl -i -X POST {u}/v1/agents -H "Authorization: Bearer $KEY" {j} -d '{{"agentId":"agent-1","name":"Again"}}'   # 409 duplicate
  curl -i -X POST {u}/v1/events -H "Authorization: Bearer $KEY" {j} -d '{{"eventId":"not-a-uuid","agentId":"agent-1"}}'   # 422 every field at once
  curl -i -X POST {u}/v1/events -H "Authorization: Bearer $KEY" -H 'content-type: text/plain' -d 'hi'     # 415 not JSON
  head -c 5000 /dev/zero | tr '\0' 'x' | curl -i -X POST {u}/v1/events -H "Authorization: Bearer $KEY" {j} --data-binary @-   # 413 over 4096 bytes
  for i in 1 2 3 4 5 6; do curl -s -o /dev/null -w '%{{http_code}} ' {u}/v1/agents/agent-1 -H "Authorization: Bearer $LIMITED"; done; echo   # 200 200 200 200 200 429: the sixth is over 5 a minute
  curl -i {u}/v1/agents/agent-1 -H 'accept: application/problem+json'       # 401 the same error as RFC 9457 problem+json

A code the service raises by name: it answers `content-type: application/vnd.errata+json` with
{{"code":"invalid_date_range","args":{{"max_days":90}},"param":"to"}}, and the gateway renders it from the catalog:
  curl -i '{u}/v1/exports?from=2026-01-01&to=2026-06-30' -H "Authorization: Bearer $KEY"   # 400 invalid_date_range, from the raise form

Every code, with examples: {u}{errors}

The console: open {admin}/ and sign in with the admin token ({token_note}):
  ADMIN={token}
  curl -i {admin}/keys -H "Authorization: Bearer $ADMIN"    # 200 the four keys above, from the admin API (docs/console-api.md)

{lookups}

This run's state (keys, request log) is in {state}/, removed when the demo stops.
{config}
Next, your own API behind the gateway: "Your own API" in README.md.
Stop with Ctrl-C."#
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_help_says_what_the_tour_says_it_takes_from_a_config() {
        use clap::CommandFactory;
        let cli = crate::cli::Cli::command();
        let serve = cli.find_subcommand("serve").expect("errata serve");
        let demo = serve
            .get_arguments()
            .find(|a| a.get_id() == "demo")
            .expect("--demo");
        let help = demo.get_long_help().expect("a long help").to_string();
        let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let help = flat(&help);
        assert!(help.contains("create four test keys"), "{help}");
        assert!(
            help.contains(&format!(
                "the demo takes from the file {}",
                flat(FROM_CONFIG)
            )),
            "{help}"
        );
        assert!(
            help.contains(&format!("it keeps its own {}.", flat(OWN_POLICY))),
            "{help}"
        );
    }
}
