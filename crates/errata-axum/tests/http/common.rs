//! The test service, a loopback server for it, and a client that reads replies as a user sees
//! them: status, the headers that matter, and the JSON body with the request id redacted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use errata_axum::{
    ErrataLayer, Error, Json, Path, Query, RateLimitMetaLayer, RequestId, Tenant, ValidJson,
};
use errata_core::{Catalog, Violation};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// The catalogs every condition is checked against: the built-in one and the seeds'.
pub fn catalogs() -> Vec<(&'static str, Arc<Catalog>)> {
    let mut out = vec![("default", Arc::new(Catalog::builtin().clone()))];
    for name in ["klayrai", "klyra", "kaplaix", "bearer"] {
        out.push((name, catalog(name)));
    }
    out
}

pub fn catalog(name: &str) -> Arc<Catalog> {
    let path = format!("{}/../../catalogs/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    match Catalog::from_file(&path) {
        Ok(c) => Arc::new(c),
        Err(diags) => panic!("{path} does not load: {diags:?}"),
    }
}

/// How the test service's layer is set up.
#[derive(Clone)]
pub struct Setup {
    pub timeout: Option<Duration>,
    pub body_limit: usize,
    pub concurrency: Option<usize>,
    pub trusted_request_id: Option<&'static str>,
    pub meta: bool,
    /// Start with no items at all (item 1 belongs to `acme` otherwise).
    pub no_items: bool,
    /// Apply the layer with `Router::layer` instead of `ErrataLayer::wrap`.
    pub per_route: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            // Long enough for any handler on a loaded machine: only `/slow` should time out.
            timeout: Some(Duration::from_secs(10)),
            body_limit: 1024,
            concurrency: None,
            trusted_request_id: None,
            meta: false,
            no_items: false,
            per_route: false,
        }
    }
}

impl Setup {
    /// A 50 ms timeout, for a server that only `/slow` (a 20 s sleep) is asked of.
    pub fn timing_out() -> Self {
        Setup {
            timeout: Some(Duration::from_millis(50)),
            ..Setup::default()
        }
    }
}

/// What the blocking handler signals and waits for (the overload test).
#[derive(Default)]
pub struct Gate {
    pub entered: Notify,
    pub release: Notify,
}

#[derive(Clone)]
struct AppState {
    /// Rows of (tenant, id, name): the "database" of items.
    items: Arc<Mutex<Vec<(String, u32, String)>>>,
    gate: Arc<Gate>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct NewItem {
    #[schemars(length(min = 1, max = 20))]
    name: String,
    #[schemars(extend("format" = "uuid"))]
    sku: String,
    #[schemars(range(min = 1, max = 100))]
    qty: u32,
    tags: Option<Vec<Tag>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tag {
    New,
    Sale,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Page {
    limit: Option<u32>,
    cursor: Option<String>,
}

/// The test service: one route per way to fail.
pub fn app(catalog: Arc<Catalog>, setup: &Setup, gate: Arc<Gate>) -> Router {
    let state = AppState {
        items: Arc::new(Mutex::new(if setup.no_items {
            Vec::new()
        } else {
            vec![("acme".into(), 1, "Spring sale".into())]
        })),
        gate,
    };
    let mut layer = ErrataLayer::new(catalog).body_limit(setup.body_limit);
    layer = match setup.timeout {
        Some(t) => layer.timeout(t),
        None => layer.no_timeout(),
    };
    if let Some(n) = setup.concurrency {
        layer = layer.concurrency_limit(n);
    }
    if let Some(h) = setup.trusted_request_id {
        layer = layer.trust_request_id_header(h);
    }
    let router = Router::new()
        .route("/items", post(create_item).get(list_items))
        .route("/items/{id}", get(get_item))
        .route("/raw", post(raw_item))
        .route("/app-error", get(app_error))
        .route("/panic", get(panics))
        .route("/slow", get(slow))
        .route("/block", get(block))
        .route("/teapot", get(|| async { StatusCode::IM_A_TEAPOT }))
        .route("/bare-404", get(|| async { StatusCode::NOT_FOUND }))
        .route("/whoami", get(whoami))
        .route("/data", get(data))
        .with_state(state);
    let router = if setup.meta {
        router.layer(RateLimitMetaLayer::new())
    } else {
        router
    };
    if setup.per_route {
        router.layer(layer)
    } else {
        layer.wrap(router)
    }
}

async fn create_item(ValidJson(item): ValidJson<NewItem>) -> (StatusCode, Json<Value>) {
    (StatusCode::CREATED, Json(json!({"name": item.name})))
}

async fn raw_item(Json(item): Json<NewItem>) -> Json<Value> {
    Json(json!({"name": item.name}))
}

async fn list_items(Query(page): Query<Page>) -> Json<Value> {
    Json(json!({"limit": page.limit}))
}

async fn get_item(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<u32>,
) -> Result<Json<Value>, Error> {
    let id_text = id.to_string();
    let name = tenant
        .load("Item", &id_text, |tenant, _| async move {
            let rows = state.items.lock().map_err(|_| "poisoned")?;
            // WHERE tenant_id = ? AND id = ?
            Ok::<_, &str>(
                rows.iter()
                    .find(|(t, i, _)| t == tenant && *i == id)
                    .map(|(_, _, name)| name.clone()),
            )
        })
        .await?;
    Ok(Json(json!({"id": id, "name": name})))
}

async fn app_error() -> Result<Json<Value>, Error> {
    Err(Error::code("too_many_campaigns")
        .arg("max", 20)
        .arg("provided", 25)
        .param("campaign_ids")
        .details([Violation::new(["campaign_ids"], "Too many", "too_big")]))
}

async fn panics() -> Json<Value> {
    panic!("boom: the database password is hunter2")
}

async fn slow() -> Json<Value> {
    tokio::time::sleep(Duration::from_secs(20)).await;
    Json(json!({}))
}

async fn block(State(state): State<AppState>) -> Json<Value> {
    state.gate.entered.notify_one();
    state.gate.release.notified().await;
    Json(json!({"released": true}))
}

async fn whoami(id: RequestId) -> String {
    id.to_string()
}

async fn data() -> ([(&'static str, &'static str); 1], Json<Value>) {
    (
        [("x-ratelimit-limit", "100")],
        Json(json!({"data": [1, 2]})),
    )
}

/// Serves `app` on a random loopback port; the base URL.
pub async fn serve(app: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    format!("http://{addr}")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("HTTP client")
}

/// A reply as the client sees it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub raw: Vec<u8>,
}

impl Reply {
    pub async fn from(res: reqwest::Response) -> Reply {
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    v.to_str().unwrap_or("<bytes>").to_owned(),
                )
            })
            .collect();
        let raw = res.bytes().await.expect("body").to_vec();
        Reply {
            status,
            headers,
            raw,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.raw).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.raw)
            )
        })
    }

    /// Status, the headers a client acts on, and the body, with the request id checked (same
    /// in header and body, in the catalog's format) and replaced by `[request_id]`.
    pub fn view(&self, catalog: &Catalog) -> Value {
        let id_header = &catalog.request_id().header;
        let id = self
            .header(id_header)
            .unwrap_or_else(|| panic!("no {id_header} header"))
            .to_owned();
        assert!(
            catalog.request_id().matches(&id),
            "request id {id} is not in the catalog's format"
        );
        let body = redact(self.json(), &id);
        let mut headers = serde_json::Map::new();
        for name in ["content-type", "allow", "retry-after"] {
            if let Some(v) = self.header(name) {
                headers.insert(name.into(), Value::from(v));
            }
        }
        headers.insert(id_header.clone(), Value::from("[request_id]"));
        json!({"status": self.status, "headers": headers, "body": body})
    }
}

/// The value with every string equal to `id` replaced by `[request_id]`.
pub fn redact(value: Value, id: &str) -> Value {
    match value {
        Value::String(s) if s == id => Value::from("[request_id]"),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| redact(v, id)).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, redact(v, id))).collect())
        }
        other => other,
    }
}

/// Sends raw bytes over TCP (what a client library would refuse to send) and reads the reply.
pub async fn raw_request(base: &str, request: &[u8]) -> Reply {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    // Nothing more will come: a server waiting for the rest of a body sees the end.
    stream.shutdown().await.expect("half-close");
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.expect("read");
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = buf[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        raw: body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
    out
}
