//! `errata serve --demo`: the gateway in front of the bundled example service (Kaplaix-style
//! event ingestion), with keys made for the occasion and the curl commands that show a success
//! and each kind of error.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use errata_gateway::config::Config;
use errata_gateway::limits::SystemClock;
use errata_gateway::manage;
use errata_gateway::serve;
use errata_gateway::store::NewKey;
use tokio::net::TcpListener;

/// The demo's policy: a small rate limit to hit, one plan-gated route, scoped event routes.
const POLICY: &str = r#"
store = "sqlite::memory:"
key_prefix = "demo"

[limits]
default_plan = "free"
max_body_bytes = 4096
content_types = ["application/json"]

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
    let catalog = Arc::new(base.catalog.clone());
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
    cfg.catalog = base.catalog;
    let (store, counters) = serve::open_backends(&cfg).await?;
    let now = manage::now_secs();
    let key = |tenant: &str, name: &str, scopes: &[&str]| NewKey {
        tenant: tenant.into(),
        name: name.into(),
        environment: errata_gateway::keys::Environment::Test,
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        ..NewKey::default()
    };
    let issue = |k: NewKey| {
        let (store, cfg) = (Arc::clone(&store), cfg.clone());
        async move {
            manage::create(&store, &cfg, &k, now)
                .await
                .map(|i| i.secret)
                .map_err(|e| e.to_string())
        }
    };
    let acme = issue(key("acme", "demo", &["events:write"])).await?;
    let readonly = issue(key("acme", "read-only", &[])).await?;
    let globex = issue(key("globex", "another tenant", &["events:write"])).await?;

    let listener = bind(base.listen).await?;
    let admin = bind(base.admin_listen).await?;
    let running =
        serve::start(cfg, store, counters, Arc::new(SystemClock), listener, admin).await?;
    print_tour(running.addr, &acme, &readonly, &globex);
    serve::shutdown_signal().await;
    running.shutdown().await;
    Ok(())
}

fn print_tour(addr: SocketAddr, acme: &str, readonly: &str, globex: &str) {
    let u = format!("http://{addr}");
    let j = "-H 'content-type: application/json'";
    // A closed stdout must not stop the gateway.
    let _ = writeln!(
        std::io::stdout(),
        r#"errata gateway listening on {u} (demo: in front of the example event service)

Test keys (shown once; kept in memory for this run):
  KEY={acme}        # tenant acme, scope events:write, plan free (5 requests/minute)
  READONLY={readonly}   # tenant acme, no scopes
  GLOBEX={globex}    # tenant globex, scope events:write

A success: register an agent (201), then ingest an event (202)
  curl -i -X POST {u}/v1/agents -H "Authorization: Bearer $KEY" {j} -d '{{"agentId":"agent-1","name":"Demo agent"}}'
  curl -i -X POST {u}/v1/events -H "Authorization: Bearer $KEY" {j} -d '{{"eventId":"0b7c1c1e-8d7e-4a35-9a9e-4a0d3f0f6c11","agentId":"agent-1","category":"log","payload":{{"message":"hello"}}}}'

Each kind of error, always the same envelope with the request id:
  curl -i {u}/v1/agents/agent-1                                              # 401 no key
  curl -i {u}/v1/agents/agent-1 -H "Authorization: Bearer demo_test_nope"    # 401 malformed key
  curl -i {u}/v1/agents/agent-1 -H "Authorization: Bearer $READONLY"         # 403 missing scope
  curl -i {u}/v1/reports -H "Authorization: Bearer $KEY"                     # 403 plan
  curl -i {u}/v1/agents/agent-1 -H "Authorization: Bearer $GLOBEX"           # 404 another tenant's agent
  curl -i {u}/v1/nothing -H "Authorization: Bearer $KEY"                     # 404 no route
  curl -i -X DELETE {u}/v1/events -H "Authorization: Bearer $KEY"            # 405 with Allow
  curl -i -X POST {u}/v1/agents -H "Authorization: Bearer $KEY" {j} -d '{{"agentId":"agent-1","name":"Again"}}'   # 409 duplicate
  curl -i -X POST {u}/v1/events -H "Authorization: Bearer $KEY" {j} -d '{{"eventId":"not-a-uuid","agentId":"agent-1"}}'   # 422 every field at once
  curl -i -X POST {u}/v1/events -H "Authorization: Bearer $KEY" -H 'content-type: text/plain' -d 'hi'     # 415
  head -c 5000 /dev/zero | tr '\0' 'x' | curl -i -X POST {u}/v1/events -H "Authorization: Bearer $KEY" {j} --data-binary @-   # 413
  for i in 1 2 3 4 5 6; do curl -s -o /dev/null -w '%{{http_code}} ' {u}/v1/agents/agent-1 -H "Authorization: Bearer $KEY"; done; echo   # 429 after 5
  curl -i {u}/v1/agents/agent-1 -H 'accept: application/problem+json'       # the same error as RFC 9457 problem+json

Every code, with examples: {u}/errors
Stop with Ctrl-C."#
    );
}
