//! `errata serve --demo`: the gateway in front of the bundled example service (Kaplaix-style
//! event ingestion), with keys made for the occasion and the curl commands that show a success
//! and each kind of error.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use errata::config::Config;
use errata::serve;
use errata_admin::manage;
use errata_store::counters::SystemClock;
use errata_store::db::NewKey;
use errata_store::keys::Environment;
use tokio::net::TcpListener;

/// The demo's policy: a plan roomy enough for the whole tour, a small one (5 a minute) for the
/// rate-limit line alone, one plan-gated route, scoped event routes.
const POLICY: &str = r#"
store = "sqlite::memory:"
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

async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    match TcpListener::bind(addr).await {
        Ok(l) => Ok(l),
        // The usual port is taken: any free one will do for a demo.
        Err(_) => TcpListener::bind(SocketAddr::new(addr.ip(), 0))
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}")),
    }
}

pub async fn run(base: Config) -> Result<(), String> {
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

    let src = format!("upstream = \"http://{upstream_addr}\"\n{POLICY}");
    let mut cfg = Config::from_toml(&src, Path::new("."))
        .map_err(|d| format!("demo config: {}", d.render("demo")))?;
    cfg.gateway.catalog = base.gateway.catalog;
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

    let listener = bind(base.gateway.listen).await?;
    let admin = bind(base.admin_listen).await?;
    let running =
        serve::start(cfg, store, counters, Arc::new(SystemClock), listener, admin).await?;
    print_tour(running.addr, &keys);
    serve::shutdown_signal().await;
    running.shutdown().await;
    Ok(())
}

/// The secrets the tour's commands use.
struct Keys {
    acme: String,
    readonly: String,
    globex: String,
    limited: String,
}

/// Prints the tour. Every command, run in the order printed, gets the status its comment
/// starts with (`crates/errata/tests/demo.rs` runs them all); the key lines are `NAME=secret`,
/// ready to paste into a shell.
fn print_tour(addr: SocketAddr, keys: &Keys) {
    let u = format!("http://{addr}");
    let j = "-H 'content-type: application/json'";
    let Keys {
        acme,
        readonly,
        globex,
        limited,
    } = keys;
    // A closed stdout must not stop the gateway.
    let _ = writeln!(
        std::io::stdout(),
        r#"errata gateway listening on {u} (demo: in front of the example event service)

Test keys (shown once; kept in memory for this run); paste these lines into your shell:
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
  curl -i {u}/v1/agents/agent-1 -H "Authorization: Bearer demo_test_nope"    # 401 malformed key
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

Every code, with examples: {u}/errors
Stop with Ctrl-C."#
    );
}
