//! The upstream error boundary over real processes on loopback: a Python upstream (stdlib
//! `http.server`) and a Node upstream (`node:http`) behind the gateway, raising catalog codes in
//! the raise form (`application/vnd.errata+json`) and answering errors in and outside the
//! envelope. The client sees the catalog's exact answer, in the format it asked for; what the
//! catalog cannot answer as sent is normalized, logged at warn and counted.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use errata_core::{ApiError, Catalog, Condition, Format};
use serde_json::{Value, json};
use support::{PUBLIC_URL, doc_url, parts, services::missing, start_with_upstream};
use tokio::sync::Semaphore;

const RAISE: &str = "application/vnd.errata+json; charset=utf-8";
const PROBLEM: &str = "application/problem+json";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[derive(Clone, Copy)]
enum Lang {
    Python,
    Node,
}

impl Lang {
    fn program(self) -> &'static str {
        match self {
            Lang::Python => "python3",
            Lang::Node => "node",
        }
    }

    fn script(self) -> PathBuf {
        let file = match self {
            Lang::Python => "upstream_table.py",
            Lang::Node => "upstream_table.mjs",
        };
        root().join("crates/errata/tests/fixtures").join(file)
    }
}

/// An upstream process answering from a table; killed when dropped.
struct Upstream {
    child: Child,
    url: String,
    table: PathBuf,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.table);
    }
}

/// Starts `lang`'s upstream over `table` (`{"/path": {"status", "headers", "json" | "text"}}`),
/// or says it is missing (`None`: the test returns; under CI it fails).
fn upstream(lang: Lang, table: &Value) -> Option<Upstream> {
    let found = Command::new(lang.program())
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        missing(lang.program(), "the upstream of these tests is a script")?;
    }
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path =
        std::env::temp_dir().join(format!("errata-upstream-{}-{n}.json", std::process::id()));
    std::fs::write(&path, serde_json::to_vec(table).unwrap()).unwrap();
    let mut child = Command::new(lang.program())
        .arg(lang.script())
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", lang.program()));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let Some(port) = line.trim().strip_prefix("PORT ") else {
        let mut err = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut err);
        panic!("{} did not start: {line} {err}", lang.program());
    };
    Some(Upstream {
        url: format!("http://127.0.0.1:{port}"),
        child,
        table: path,
    })
}

/// The captured warn line about request `id`.
fn warn_line(id: &str) -> String {
    support::logs::line(tracing::Level::WARN, &format!("warn line for {id}"), |l| {
        l.contains(id) && l.contains("upstream error normalized")
    })
}

/// The value of `errata_upstream_errors_normalized_total{route, reason}` (0 when absent).
async fn normalized(h: &support::Harness, route: &str, reason: &str) -> u64 {
    let text = h
        .http
        .get(format!("{}/metrics", h.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let labels = format!("route=\"{route}\"");
    let reason = format!("reason=\"{reason}\"");
    text.lines()
        .find(|l| {
            l.starts_with("errata_upstream_errors_normalized_total{")
                && l.contains(&labels)
                && l.contains(&reason)
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A GET through the gateway, as the client sees it: status, headers, body.
async fn get(
    h: &support::Harness,
    path: &str,
    accept: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = h.get(path);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    parts(req.send().await.unwrap()).await
}

fn id_of(headers: &reqwest::header::HeaderMap) -> String {
    headers["x-request-id"].to_str().unwrap().to_owned()
}

/// What the built-in catalog (with the gateway's `/errors` reference) renders for `err`.
fn catalog_answer(err: ApiError, format: Format, id: &str, path: &str) -> (u16, Value) {
    let out = Catalog::builtin().render(&err.request_id(id).instance(path), format);
    let mut body = out.body;
    absolute_doc_urls(&mut body);
    (out.status, body)
}

/// The upstream table every language serves, under `/{p}/...`.
fn table(p: &str) -> Value {
    let raise = |status: u16, body: Value| json!({"status": status, "headers": {"content-type": RAISE, "x-request-id": format!("up_{p}_1")}, "json": body});
    let envelope = |status: u16, body: Value| json!({"status": status, "headers": {"content-type": "application/json", "x-request-id": format!("up_{p}_2")}, "json": body});
    let mut t = serde_json::Map::new();
    let mut put = |path: &str, v: Value| {
        t.insert(format!("/{p}/{path}"), v);
    };
    // The upstream's status is not the client's: the catalog's is.
    put(
        "campaigns",
        raise(
            422,
            json!({"code": "too_many_campaigns", "args": {"max": 20, "provided": 25}}),
        ),
    );
    put(
        "limited",
        raise(
            503,
            json!({"code": "rate_limit_exceeded", "retry_after": 30}),
        ),
    );
    put(
        "limited_args",
        raise(
            429,
            json!({"code": "rate_limit_exceeded", "args": {"retry_after": 7}}),
        ),
    );
    put(
        "fields",
        raise(
            400,
            json!({"code": "validation_error", "param": "items", "details": [
                {"path": ["items", 0, "sku"], "message": "Required", "code": "invalid_type"},
                {"path": ["name"], "message": "Too short", "code": "too_small"}
            ]}),
        ),
    );
    put(
        "ok_status",
        raise(
            200,
            json!({"code": "missing_required_field", "param": "title"}),
        ),
    );
    put("unknown", raise(400, json!({"code": "no_such_code"})));
    put(
        "malformed",
        json!({"status": 400, "headers": {"content-type": RAISE}, "text": "{\"code\": \"too_many_campaigns\","}),
    );
    put(
        "extra_member",
        raise(400, json!({"code": "missing_content", "message": "mine"})),
    );
    put(
        "variant",
        raise(
            400,
            json!({"code": "too_many_campaigns", "variant": "nope", "args": {"max": 20, "provided": 25}}),
        ),
    );
    put(
        "missing_arg",
        raise(
            400,
            json!({"code": "too_many_campaigns", "args": {"max": 20}}),
        ),
    );
    put(
        "foreign",
        envelope(
            429,
            json!({"error": {"code": "quota_blown", "type": "x", "message": "Over quota."}}),
        ),
    );
    put(
        "wrong_status",
        envelope(
            500,
            json!({"error": {"code": "resource_not_found", "message": "Gone."}}),
        ),
    );
    put(
        "incomplete",
        envelope(
            429,
            json!({"error": {"code": "quota_exceeded", "message": "Monthly quota of 500 requests used."}}),
        ),
    );
    put(
        "with_details",
        envelope(
            422,
            json!({"error": {"code": "validation_error", "type": "invalid_request_error",
                "message": "Fix the fields.", "param": null,
                "details": [{"path": ["name"], "message": "Required", "code": "invalid_type"}],
                "request_id": format!("up_{p}_body")}}),
        ),
    );
    put(
        "problem",
        json!({"status": 404, "headers": {"content-type": "application/problem+json"},
            "json": {"type": "about:blank", "title": "Not found", "status": 404,
                     "detail": "Order 'ord_1' not found.", "code": "resource_not_found"}}),
    );
    put(
        "html",
        json!({"status": 500, "headers": {"content-type": "text/html"},
            "text": "<html><body><h1>500 Internal Server Error</h1></body></html>"}),
    );
    Value::Object(t)
}

fn routes(prefixes: &[&str]) -> String {
    prefixes
        .iter()
        .map(|p| format!("[[routes]]\npath = \"/{p}\"\nauth = false\n"))
        .collect()
}

/// Every behaviour of the boundary against one language's upstream, under `/{p}`.
async fn boundary(lang: Lang, p: &str) {
    support::logs::captured(tracing::Level::WARN);
    let Some(up) = upstream(lang, &table(p)) else {
        return;
    };
    let h = start_with_upstream(&routes(&[p]), &up.url, Arc::new(Semaphore::new(0))).await;
    let route = format!("/{p}/*");

    // A raised code: the catalog's exact envelope, at the catalog's status.
    let path = format!("/{p}/campaigns");
    let (s, headers, body) = get(&h, &path, None).await;
    let id = id_of(&headers);
    assert_eq!(s, 400, "{body}");
    assert_eq!(headers["content-type"], "application/json");
    assert!(headers.get("retry-after").is_none());
    assert_eq!(
        body,
        json!({"error": {
            "code": "too_many_campaigns",
            "type": "invalid_request_error",
            "message": "Maximum of 20 campaign IDs allowed per report. You provided 25.",
            "param": null,
            "request_id": id,
            "doc_url": doc_url("too_many_campaigns")
        }})
    );
    assert_ne!(id, format!("up_{p}_1"), "the gateway's own request id");
    // And as problem+json.
    let (s, headers, body) = get(&h, &path, Some(PROBLEM)).await;
    let id = id_of(&headers);
    assert_eq!(s, 400);
    assert_eq!(headers["content-type"], PROBLEM);
    assert_eq!(
        body,
        json!({
            "type": doc_url("too_many_campaigns"),
            "title": "Too many campaign IDs",
            "status": 400,
            "detail": "Maximum of 20 campaign IDs allowed per report. You provided 25.",
            "instance": path,
            "code": "too_many_campaigns",
            "request_id": id
        })
    );

    // Retry-After from `retry_after`, and from `args.retry_after` when that is absent.
    for (name, secs) in [("limited", 30), ("limited_args", 7)] {
        let path = format!("/{p}/{name}");
        let (s, headers, body) = get(&h, &path, None).await;
        let id = id_of(&headers);
        assert_eq!(s, 429, "{body}");
        assert_eq!(headers["retry-after"], secs.to_string().as_str());
        assert_eq!(
            body,
            json!({"error": {
                "code": "rate_limit_exceeded",
                "type": "rate_limit_error",
                "message": format!("Rate limit exceeded. Please retry after {secs} seconds."),
                "param": null,
                "request_id": id,
                "doc_url": doc_url("rate_limit_exceeded")
            }})
        );
        let (s, headers, body) = get(&h, &path, Some(PROBLEM)).await;
        let id = id_of(&headers);
        assert_eq!(s, 429);
        assert_eq!(headers["content-type"], PROBLEM);
        assert_eq!(headers["retry-after"], secs.to_string().as_str());
        assert_eq!(
            body,
            json!({
                "type": doc_url("rate_limit_exceeded"),
                "title": "Rate limit exceeded",
                "status": 429,
                "detail": format!("Rate limit exceeded. Please retry after {secs} seconds."),
                "instance": path,
                "code": "rate_limit_exceeded",
                "request_id": id
            })
        );
    }

    // Details and param, in both formats.
    let path = format!("/{p}/fields");
    let (s, headers, body) = get(&h, &path, None).await;
    let id = id_of(&headers);
    assert_eq!(s, 422);
    assert_eq!(
        body,
        json!({"error": {
            "code": "validation_error",
            "type": "invalid_request_error",
            "message": "One or more fields failed validation.",
            "param": "items",
            "details": [
                {"path": ["items", "0", "sku"], "message": "Required", "code": "invalid_type"},
                {"path": ["name"], "message": "Too short", "code": "too_small"}
            ],
            "request_id": id,
            "doc_url": doc_url("validation_error")
        }})
    );
    let (_, headers, body) = get(&h, &path, Some(PROBLEM)).await;
    let id = id_of(&headers);
    assert_eq!(
        body,
        json!({
            "type": doc_url("validation_error"),
            "title": "Validation failed",
            "status": 422,
            "detail": "One or more fields failed validation.",
            "instance": path,
            "code": "validation_error",
            "param": "items",
            "request_id": id,
            "errors": [
                {"detail": "Required", "pointer": "#/items/0/sku", "code": "invalid_type"},
                {"detail": "Too short", "pointer": "#/name", "code": "too_small"}
            ]
        })
    );

    // A raise is an error whatever status it came with.
    let (s, _, body) = get(&h, &format!("/{p}/ok_status"), None).await;
    assert_eq!(s, 422);
    assert_eq!(body["error"]["message"], "The 'title' field is required.");

    // What the catalog cannot render as raised is its internal error: counted, logged with
    // both request ids, and nothing of the raise (no argument value) reaches the client.
    for (name, reason) in [
        ("unknown", "unknown_code"),
        ("malformed", "invalid_raise"),
        ("extra_member", "invalid_raise"),
        ("variant", "invalid_raise"),
        ("missing_arg", "invalid_raise"),
    ] {
        let path = format!("/{p}/{name}");
        for accept in [None, Some(PROBLEM)] {
            let before = normalized(&h, &route, reason).await;
            let (s, headers, body) = get(&h, &path, accept).await;
            let id = id_of(&headers);
            let format = Format::from_accept(accept);
            let want = catalog_answer(
                ApiError::condition(Condition::InternalError),
                format,
                &id,
                &path,
            );
            assert_eq!((s, body.clone()), want, "{path} {accept:?}");
            // The random request id may spell `20` itself: look past it.
            assert!(!body.to_string().replace(&id, "").contains("20"), "{body}");
            assert_eq!(
                headers["content-type"],
                if accept.is_some() {
                    PROBLEM
                } else {
                    "application/json"
                }
            );
            assert_eq!(normalized(&h, &route, reason).await, before + 1, "{path}");
            let line = warn_line(&id);
            assert!(line.contains(&format!("request_id={id} ")), "{line}");
            assert!(line.contains(&format!("reason={reason} ")), "{line}");
            if name != "malformed" {
                assert!(
                    line.contains(&format!("upstream_request_id=up_{p}_1 ")),
                    "{line}"
                );
            }
        }
    }
    let line = warn_line(&{
        let (_, headers, _) = get(&h, &format!("/{p}/missing_arg"), None).await;
        id_of(&headers)
    });
    assert!(line.contains("needs `provided`"), "{line}");

    // Envelopes outside the catalog: a foreign code, a catalog code at another status; and a
    // body outside the envelope. Each is the catalog's code for the upstream's status.
    for (name, status, reason) in [
        ("foreign", 429, "foreign_code"),
        ("wrong_status", 500, "wrong_status"),
        ("html", 500, "not_envelope"),
    ] {
        let path = format!("/{p}/{name}");
        for accept in [None, Some(PROBLEM)] {
            let before = normalized(&h, &route, reason).await;
            let (s, headers, body) = get(&h, &path, accept).await;
            let id = id_of(&headers);
            let want = catalog_answer(
                ApiError::status(status),
                Format::from_accept(accept),
                &id,
                &path,
            );
            assert_eq!((s, body), want, "{path} {accept:?}");
            assert_eq!(normalized(&h, &route, reason).await, before + 1, "{path}");
            let line = warn_line(&id);
            assert!(line.contains(&format!("request_id={id} ")), "{line}");
            assert!(line.contains(&format!("reason={reason} ")), "{line}");
            if name != "html" {
                assert!(
                    line.contains(&format!("upstream_request_id=up_{p}_2 ")),
                    "{line}"
                );
            }
        }
    }

    // An envelope lacking members is completed from the catalog, keeping its message.
    let path = format!("/{p}/incomplete");
    let (s, headers, body) = get(&h, &path, None).await;
    let id = id_of(&headers);
    assert_eq!(s, 429);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        body,
        json!({"error": {
            "code": "quota_exceeded",
            "type": "rate_limit_error",
            "message": "Monthly quota of 500 requests used.",
            "param": null,
            "request_id": id,
            "doc_url": doc_url("quota_exceeded")
        }})
    );

    // An envelope answered as problem+json, its details as `errors`; the upstream's own id in
    // the body is replaced by the gateway's.
    let path = format!("/{p}/with_details");
    let (s, headers, body) = get(&h, &path, Some(PROBLEM)).await;
    let id = id_of(&headers);
    assert_eq!(s, 422);
    assert_eq!(headers["content-type"], PROBLEM);
    assert_eq!(
        body,
        json!({
            "type": doc_url("validation_error"),
            "title": "Validation failed",
            "status": 422,
            "detail": "Fix the fields.",
            "instance": path,
            "code": "validation_error",
            "request_id": id,
            "errors": [{"detail": "Required", "pointer": "#/name", "code": "invalid_type"}]
        })
    );
    let (_, headers, body) = get(&h, &path, None).await;
    let id = id_of(&headers);
    assert_eq!(
        body,
        json!({"error": {
            "code": "validation_error",
            "type": "invalid_request_error",
            "message": "Fix the fields.",
            "param": null,
            "details": [{"path": ["name"], "message": "Required", "code": "invalid_type"}],
            "request_id": id,
            "doc_url": doc_url("validation_error")
        }})
    );

    // An upstream's problem+json with a catalog code, answered in the envelope.
    let path = format!("/{p}/problem");
    let (s, headers, body) = get(&h, &path, None).await;
    let id = id_of(&headers);
    assert_eq!(s, 404);
    assert_eq!(
        body,
        json!({"error": {
            "code": "resource_not_found",
            "type": "not_found_error",
            "message": "Order 'ord_1' not found.",
            "param": null,
            "request_id": id,
            "doc_url": doc_url("resource_not_found")
        }})
    );
    h.running.shutdown().await;
    drop(up);
}

#[tokio::test]
async fn a_python_upstream_raises_catalog_codes() {
    boundary(Lang::Python, "py").await;
}

#[tokio::test]
async fn a_node_upstream_raises_catalog_codes() {
    boundary(Lang::Node, "node").await;
}

/// `check_upstream_errors = false`: envelopes pass whatever their code and status, for an API
/// migrating to its catalog; a raise is still checked.
#[tokio::test]
async fn with_the_check_off_a_foreign_code_passes() {
    support::logs::captured(tracing::Level::WARN);
    let p = "off";
    let Some(up) = upstream(Lang::Python, &table(p)) else {
        return;
    };
    let config = format!("check_upstream_errors = false\n{}", routes(&[p]));
    let h = start_with_upstream(&config, &up.url, Arc::new(Semaphore::new(0))).await;
    let route = format!("/{p}/*");
    let before = normalized(&h, &route, "foreign_code").await;
    let (s, headers, body) = get(&h, "/off/foreign", None).await;
    let id = id_of(&headers);
    assert_eq!(s, 429);
    assert_eq!(
        body,
        json!({"error": {"code": "quota_blown", "type": "x", "message": "Over quota.", "request_id": id}})
    );
    assert_eq!(normalized(&h, &route, "foreign_code").await, before);
    // A catalog code at another status keeps that status, completed from the catalog.
    let (s, headers, body) = get(&h, "/off/wrong_status", None).await;
    let id = id_of(&headers);
    assert_eq!(s, 500);
    assert_eq!(
        body,
        json!({"error": {"code": "resource_not_found", "type": "not_found_error", "message": "Gone.",
            "param": null, "request_id": id, "doc_url": doc_url("resource_not_found")}})
    );
    // The raise form is checked all the same.
    let (s, _, body) = get(&h, "/off/unknown", None).await;
    assert_eq!(s, 500);
    assert_eq!(body["error"]["code"], "internal_error");
    h.running.shutdown().await;
    drop(up);
}

/// Prefixes every string of `v` that is a link into `/errors` with the harness's `public_url`.
fn absolute_doc_urls(v: &mut Value) {
    match v {
        Value::String(s) if s.starts_with("/errors#") => *s = format!("{PUBLIC_URL}{s}"),
        Value::Array(a) => a.iter_mut().for_each(absolute_doc_urls),
        Value::Object(o) => o.values_mut().for_each(absolute_doc_urls),
        _ => {}
    }
}

/// The shared server case table (crates/errata-sdk/cases/server.json) through the raise form:
/// per catalog one gateway, trusting the case's request id, in front of one upstream that
/// answers `/v1/cases/N` with case N's raise body.
#[tokio::test]
async fn the_server_case_table_through_the_raise_form() {
    let table: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("crates/errata-sdk/cases/server.json")).unwrap(),
    )
    .unwrap();
    let cases = table["cases"].as_array().unwrap();
    let mut catalogs: Vec<&str> = cases
        .iter()
        .map(|c| c["catalog"].as_str().unwrap())
        .collect();
    catalogs.dedup();
    catalogs.sort_unstable();
    catalogs.dedup();
    let mut ran = 0;
    for file in catalogs {
        let mine: Vec<&Value> = cases.iter().filter(|c| c["catalog"] == file).collect();
        let answers: serde_json::Map<String, Value> = mine
            .iter()
            .map(|c| {
                (
                    c["path"].as_str().unwrap().to_owned(),
                    json!({"status": 500, "headers": {"content-type": RAISE}, "json": c["raise"]}),
                )
            })
            .collect();
        let Some(up) = upstream(Lang::Python, &Value::Object(answers)) else {
            return;
        };
        let catalog = root().join("catalogs").join(file);
        let config = format!(
            "catalog = \"{}\"\ntrusted_request_id_header = \"x-request-id\"\n{}",
            catalog.display(),
            routes(&["v1"])
        );
        let h = start_with_upstream(&config, &up.url, Arc::new(Semaphore::new(0))).await;
        for case in mine {
            let name = case["name"].as_str().unwrap();
            let mut req = h
                .get(case["path"].as_str().unwrap())
                .header("x-request-id", case["request_id"].as_str().unwrap());
            if let Some(a) = case.get("accept").and_then(Value::as_str) {
                req = req.header("accept", a);
            }
            let (s, headers, body) = parts(req.send().await.unwrap()).await;
            assert_eq!(
                u64::from(s),
                case["status"].as_u64().unwrap(),
                "{name}: {body}"
            );
            for (n, v) in case["headers"].as_object().unwrap() {
                assert_eq!(
                    headers.get(n.as_str()).and_then(|h| h.to_str().ok()),
                    v.as_str(),
                    "{name}: header {n}"
                );
            }
            // The gateway points every doc_url at its own reference page (`errors_path` under
            // `public_url`), so a problem type of a catalog without a doc_url is that page's
            // anchor, and a relative one is made absolute.
            let mut want = case["body"].clone();
            absolute_doc_urls(&mut want);
            if let Some(t) = want.get("type").and_then(Value::as_str)
                && let Some(code) = t.strip_prefix("urn:problem-type:")
            {
                want["type"] = Value::String(doc_url(code));
            }
            assert_eq!(body, want, "{name}");
            ran += 1;
        }
        h.running.shutdown().await;
        drop(up);
    }
    assert_eq!(ran, cases.len());
}
