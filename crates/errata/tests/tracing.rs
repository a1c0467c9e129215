//! W3C trace context and OTLP export, over real HTTP on loopback: a gateway in front of the
//! support upstream (which echoes the headers it got, `traceparent` among them), exporting to
//! an OTLP/HTTP receiver this test runs, which decodes the protobuf the exporter posts.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as Code;
use prost::Message;
use serde_json::Value;
use support::*;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

const TOKEN: &str = "admin-token-0123456789";

/// A client's trace and span (the W3C spec's example ids).
const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// What the receiver was sent: each span with the `service.name` of its resource.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, Span)>>>);

impl Received {
    fn of_trace(&self, trace_id: &str) -> Vec<Span> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| hex(&s.trace_id) == trace_id)
            .map(|(_, s)| s.clone())
            .collect()
    }

    fn services(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|(n, _)| n.clone())
            .collect();
        v.dedup();
        v
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// An OTLP/HTTP receiver: `POST /v1/traces` with an `ExportTraceServiceRequest` in protobuf.
async fn receiver() -> (String, Received) {
    let got = Received::default();
    let keep = got.clone();
    let app = Router::new().route(
        "/v1/traces",
        post(move |headers: HeaderMap, body: Bytes| {
            let keep = keep.clone();
            async move {
                assert_eq!(headers["content-type"], "application/x-protobuf");
                let Ok(req) = ExportTraceServiceRequest::decode(body) else {
                    return (StatusCode::BAD_REQUEST, Vec::new());
                };
                let mut all = keep.0.lock().unwrap();
                for rs in req.resource_spans {
                    let service = rs
                        .resource
                        .iter()
                        .flat_map(|r| r.attributes.iter())
                        .find(|kv| kv.key == "service.name")
                        .map(|kv| text(kv.value.as_ref()))
                        .unwrap_or_default();
                    for ss in rs.scope_spans {
                        let scope = ss.scope.map(|s| s.name).unwrap_or_default();
                        assert_eq!(scope, "errata");
                        for span in ss.spans {
                            all.push((service.clone(), span));
                        }
                    }
                }
                (StatusCode::OK, Vec::new())
            }
        }),
    );
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (format!("http://{addr}"), got)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn text(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(Any::StringValue(s)) => s.clone(),
        other => panic!("not a string: {other:?}"),
    }
}

/// A span's attributes as JSON values (strings and integers), by key.
fn attrs(s: &Span) -> BTreeMap<String, Value> {
    s.attributes
        .iter()
        .map(|KeyValue { key, value, .. }| {
            let v = match value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Any::StringValue(s)) => Value::from(s.clone()),
                Some(Any::IntValue(i)) => Value::from(*i),
                other => panic!("{key}: unexpected value {other:?}"),
            };
            (key.clone(), v)
        })
        .collect()
}

fn map(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// The span named `name` (exactly one).
fn named<'s>(spans: &'s [Span], name: &str) -> &'s Span {
    let found: Vec<&Span> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one `{name}` span in {spans:#?}");
    found[0]
}

fn kind(s: &Span) -> SpanKind {
    SpanKind::try_from(s.kind).unwrap()
}

fn span_status(s: &Span) -> (Code, String) {
    let st = s.status.clone().unwrap_or_default();
    (Code::try_from(st.code).unwrap(), st.message)
}

/// Checks `child` is a child of `parent`, within its time.
fn child_of(child: &Span, parent: &Span) {
    assert_eq!(child.trace_id, parent.trace_id, "{}", child.name);
    assert_eq!(child.parent_span_id, parent.span_id, "{}", child.name);
    assert!(
        child.start_time_unix_nano >= parent.start_time_unix_nano
            && child.end_time_unix_nano <= parent.end_time_unix_nano
            && child.start_time_unix_nano <= child.end_time_unix_nano,
        "{} within {}",
        child.name,
        parent.name
    );
}

/// A `traceparent` as the upstream received it: (version, trace id, parent id, flags).
fn split_traceparent(v: &str) -> (String, String, String, String) {
    let p: Vec<&str> = v.split('-').collect();
    assert_eq!(p.len(), 4, "{v}");
    assert_eq!(v.len(), 55, "{v}");
    assert!(
        v.bytes()
            .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{v}"
    );
    assert_ne!(p[1], "00000000000000000000000000000000");
    assert_ne!(p[2], "0000000000000000");
    (p[0].into(), p[1].into(), p[2].into(), p[3].into())
}

/// The access line of request `id`.
fn access_line(id: &str) -> String {
    logs::line(
        tracing::Level::INFO,
        &format!("access line for {id}"),
        |l| l.contains("errata::access") && l.contains(&format!("request_id={id} ")),
    )
}

struct Setup {
    h: Harness,
    received: Received,
    upstream: String,
    collector: String,
}

/// The config (beside the harness's) of a gateway exporting to `collector`.
fn extra(collector: &str, tracing: &str) -> String {
    format!(
        "[tracing]\notlp = \"{collector}\"\nservice_name = \"errata-test\"\n{tracing}\n\n\
         [limits]\nrate = 1000\n\n\
         [request_log]\nflush_interval_ms = 20\n\n\
         [[routes]]\npath = \"/v1\"\n\n\
         [[routes]]\npath = \"/v1/orders\"\nidempotency = true\n\n\
         [[routes]]\npath = \"/plain500\"\n"
    )
}

/// A gateway with `tracing` as its `[tracing]` section (its `otlp` pointed at a new receiver),
/// limits (so the counters are called), a plain route and an idempotent one.
async fn setup(tracing: &str) -> Setup {
    logs::captured(tracing::Level::INFO);
    let (collector, received) = receiver().await;
    let gate = Arc::new(Semaphore::new(0));
    let up = upstream(Arc::clone(&gate)).await;
    let h = start_with_upstream(&extra(&collector, tracing), &up, gate).await;
    Setup {
        h,
        received,
        upstream: up,
        collector,
    }
}

impl Setup {
    /// Has the gateway export what it holds, and returns the spans of `trace_id`.
    async fn spans(&self, trace_id: &str) -> Vec<Span> {
        self.h
            .running
            .gateway()
            .tracing
            .flush(Duration::from_secs(5))
            .await;
        self.received.of_trace(trace_id)
    }

    fn upstream_port(&self) -> i64 {
        self.upstream.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// The request log's record of `id`, from the admin API.
    async fn record(&self, id: &str) -> Value {
        for _ in 0..250 {
            let res = self
                .h
                .http
                .get(format!("{}/requests/{id}", self.h.admin))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap();
            if res.status() == 200 {
                return res.json().await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no record of {id}");
    }
}

/// Sends a GET with `headers`; returns the status, request id, the upstream's echo (when it
/// was reached) and the body.
async fn get(s: &Setup, path: &str, headers: &[(&str, &str)]) -> (u16, String, Value) {
    let mut req = s.h.get(path);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let (status, h, body) = parts(req.send().await.unwrap()).await;
    let id = request_id(&h, &body);
    (status, id, body)
}

fn echoed<'b>(body: &'b Value, header: &str) -> Option<&'b str> {
    body["headers"][header].as_str()
}

#[tokio::test]
async fn a_trusted_traceparent_is_continued_through_the_stages_to_the_upstream() {
    let s = setup("trust_incoming = true\nsample = 1.0").await;
    let (secret, key_id) = s.h.key(serde_json::json!({})).await;
    let bearer = format!("Bearer {secret}");
    let client = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    let (status, id, body) = get(
        &s,
        "/v1/things",
        &[
            ("authorization", &bearer),
            ("traceparent", &client),
            ("tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // The upstream got the gateway's traceparent: the client's trace, the gateway's span.
    let (version, trace, parent, flags) = split_traceparent(echoed(&body, "traceparent").unwrap());
    assert_eq!(
        (version.as_str(), trace.as_str(), flags.as_str()),
        ("00", CLIENT_TRACE, "01")
    );
    assert_ne!(parent, CLIENT_SPAN);
    assert_eq!(
        echoed(&body, "tracestate"),
        Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
    );

    let spans = s.spans(CLIENT_TRACE).await;
    assert_eq!(spans.len(), 4, "{spans:#?}");
    assert_eq!(s.received.services(), ["errata-test"]);
    let server = named(&spans, "GET /v1/*");
    assert_eq!(kind(server), SpanKind::Server);
    assert_eq!(hex(&server.parent_span_id), CLIENT_SPAN);
    assert_eq!(
        attrs(server),
        map(&[
            ("http.request.method", "GET".into()),
            ("url.path", "/v1/things".into()),
            ("url.scheme", "http".into()),
            ("http.route", "/v1/*".into()),
            ("http.response.status_code", 200.into()),
            ("errata.request_id", id.clone().into()),
            ("errata.key_id", key_id.clone().into()),
            ("errata.tenant", "acme".into()),
        ])
    );
    assert_eq!(span_status(server), (Code::Unset, String::new()));

    let lookup = named(&spans, "key lookup");
    assert_eq!(kind(lookup), SpanKind::Internal);
    assert_eq!(attrs(lookup), map(&[("errata.key_cache", "miss".into())]));
    child_of(lookup, server);

    let counters = named(&spans, "counters");
    assert_eq!(kind(counters), SpanKind::Internal);
    assert_eq!(attrs(counters), map(&[]));
    child_of(counters, server);

    let up = named(&spans, "GET");
    assert_eq!(kind(up), SpanKind::Client);
    assert_eq!(
        hex(&up.span_id),
        parent,
        "the upstream's parent is the CLIENT span"
    );
    assert_eq!(
        attrs(up),
        map(&[
            ("http.request.method", "GET".into()),
            ("server.address", "127.0.0.1".into()),
            ("server.port", s.upstream_port().into()),
            ("url.full", format!("{}/v1/things", s.upstream).into()),
            ("http.response.status_code", 200.into()),
        ])
    );
    assert_eq!(span_status(up), (Code::Unset, String::new()));
    child_of(up, server);
    assert!(lookup.end_time_unix_nano <= counters.start_time_unix_nano);
    assert!(counters.end_time_unix_nano <= up.start_time_unix_nano);
    // The client's tracestate rides on every span.
    assert!(
        spans
            .iter()
            .all(|sp| sp.trace_state == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
    );

    // The trace id is in the access line and the request log.
    assert!(
        access_line(&id).contains(&format!("trace_id={CLIENT_TRACE} ")),
        "{}",
        access_line(&id)
    );
    let rec = s.record(&id).await;
    assert_eq!(rec["trace_id"], CLIENT_TRACE);

    // The same key again: the cache answers.
    let other = "0af7651916cd43dd8448eb211c80319c";
    let (status, _, _) = get(
        &s,
        "/v1/things",
        &[
            ("authorization", &bearer),
            ("traceparent", &format!("00-{other}-b7ad6b7169203331-01")),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let spans = s.spans(other).await;
    assert_eq!(spans.len(), 4, "{spans:#?}");
    assert_eq!(
        attrs(named(&spans, "key lookup")),
        map(&[("errata.key_cache", "hit".into())])
    );
}

#[tokio::test]
async fn errors_carry_the_catalog_code_and_5xx_the_error_status() {
    let s = setup("trust_incoming = true").await;

    // No key: the server span alone, its error.type the catalog's code.
    let trace = "11111111111111111111111111111111";
    let (status, id, body) = get(
        &s,
        "/v1/things",
        &[("traceparent", &format!("00-{trace}-2222222222222222-01"))],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "missing_api_key");
    let spans = s.spans(trace).await;
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let server = named(&spans, "GET /v1/*");
    assert_eq!(
        attrs(server),
        map(&[
            ("http.request.method", "GET".into()),
            ("url.path", "/v1/things".into()),
            ("url.scheme", "http".into()),
            ("http.route", "/v1/*".into()),
            ("http.response.status_code", 401.into()),
            ("errata.request_id", id.into()),
            ("error.type", "missing_api_key".into()),
        ])
    );
    assert_eq!(
        span_status(server),
        (Code::Unset, String::new()),
        "a 4xx is not the server's error"
    );

    // A route that matches nothing: the span is named by the method alone.
    let trace = "33333333333333333333333333333333";
    let (status, id, body) = get(
        &s,
        "/nowhere",
        &[("traceparent", &format!("00-{trace}-2222222222222222-01"))],
    )
    .await;
    assert_eq!(status, 404);
    let spans = s.spans(trace).await;
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(
        attrs(named(&spans, "GET")),
        map(&[
            ("http.request.method", "GET".into()),
            ("url.path", "/nowhere".into()),
            ("url.scheme", "http".into()),
            ("http.response.status_code", 404.into()),
            ("errata.request_id", id.into()),
            ("error.type", body["error"]["code"].clone()),
        ])
    );

    // The upstream's plain 500: normalized into the catalog, the server span in error, and
    // the upstream span with the upstream's status as its error.
    let (secret, key_id) = s.h.key(serde_json::json!({})).await;
    let trace = "44444444444444444444444444444444";
    let (status, id, body) = get(
        &s,
        "/plain500",
        &[
            ("authorization", &format!("Bearer {secret}")),
            ("traceparent", &format!("00-{trace}-2222222222222222-01")),
        ],
    )
    .await;
    assert_eq!(status, 500);
    let code = body["error"]["code"].as_str().unwrap().to_owned();
    assert_eq!(code, "internal_error");
    let spans = s.spans(trace).await;
    assert_eq!(spans.len(), 4, "{spans:#?}");
    let server = named(&spans, "GET /plain500/*");
    assert_eq!(
        attrs(server),
        map(&[
            ("http.request.method", "GET".into()),
            ("url.path", "/plain500".into()),
            ("url.scheme", "http".into()),
            ("http.route", "/plain500/*".into()),
            ("http.response.status_code", 500.into()),
            ("errata.request_id", id.into()),
            ("errata.key_id", key_id.into()),
            ("errata.tenant", "acme".into()),
            ("error.type", code.clone().into()),
        ])
    );
    assert_eq!(span_status(server), (Code::Error, code));
    let up = named(&spans, "GET");
    assert_eq!(
        attrs(up),
        map(&[
            ("http.request.method", "GET".into()),
            ("server.address", "127.0.0.1".into()),
            ("server.port", s.upstream_port().into()),
            ("url.full", format!("{}/plain500", s.upstream).into()),
            ("http.response.status_code", 500.into()),
            ("error.type", "500".into()),
        ])
    );
    assert_eq!(span_status(up), (Code::Error, "500".to_owned()));
    child_of(up, server);
}

#[tokio::test]
async fn an_untrusted_or_malformed_traceparent_starts_a_new_trace() {
    for (tracing, traceparent) in [
        // Not trusted: a valid traceparent is not adopted.
        (
            "trust_incoming = false",
            format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"),
        ),
        // Trusted, but not valid (upper-case hex): ignored.
        (
            "trust_incoming = true",
            format!("00-{}-{CLIENT_SPAN}-01", CLIENT_TRACE.to_uppercase()),
        ),
        // Trusted, but version ff: ignored.
        (
            "trust_incoming = true",
            format!("ff-{CLIENT_TRACE}-{CLIENT_SPAN}-01"),
        ),
    ] {
        let s = setup(tracing).await;
        let (secret, _) = s.h.key(serde_json::json!({})).await;
        let (status, id, body) = get(
            &s,
            "/v1/things",
            &[
                ("authorization", &format!("Bearer {secret}")),
                ("traceparent", &traceparent),
                ("tracestate", "rojo=00f067aa0ba902b7"),
            ],
        )
        .await;
        assert_eq!(status, 200, "{tracing}");
        let (version, trace, parent, flags) =
            split_traceparent(echoed(&body, "traceparent").unwrap());
        assert_eq!(version, "00");
        assert_ne!(
            trace.to_lowercase(),
            CLIENT_TRACE,
            "{tracing} {traceparent}"
        );
        assert_eq!(flags, "01", "sample = 1 by default");
        assert_eq!(
            echoed(&body, "tracestate"),
            None,
            "not carried for a new trace"
        );

        assert!(s.spans(CLIENT_TRACE).await.is_empty());
        let spans = s.spans(&trace).await;
        assert_eq!(spans.len(), 4, "{spans:#?}");
        let server = named(&spans, "GET /v1/*");
        assert!(server.parent_span_id.is_empty(), "a root span");
        assert_eq!(hex(&named(&spans, "GET").span_id), parent);
        assert!(spans.iter().all(|sp| sp.trace_state.is_empty()));

        assert_eq!(s.record(&id).await["trace_id"], trace.as_str());
        assert!(access_line(&id).contains(&format!("trace_id={trace} ")));
    }
}

#[tokio::test]
async fn sample_0_exports_no_new_trace_but_keeps_a_sampled_parents() {
    let s = setup("trust_incoming = true\nsample = 0").await;
    let (secret, _) = s.h.key(serde_json::json!({})).await;
    let bearer = format!("Bearer {secret}");
    for _ in 0..20 {
        let (status, _, body) = get(&s, "/v1/things", &[("authorization", &bearer)]).await;
        assert_eq!(status, 200);
        let (_, _, _, flags) = split_traceparent(echoed(&body, "traceparent").unwrap());
        assert_eq!(flags, "00", "the upstream is told the trace is not sampled");
    }
    // A parent that did not sample: not exported either, and its decision goes on.
    let unsampled = "55555555555555555555555555555555";
    let (_, _, body) = get(
        &s,
        "/v1/things",
        &[
            ("authorization", &bearer),
            ("traceparent", &format!("00-{unsampled}-{CLIENT_SPAN}-00")),
        ],
    )
    .await;
    let (_, trace, _, flags) = split_traceparent(echoed(&body, "traceparent").unwrap());
    assert_eq!((trace.as_str(), flags.as_str()), (unsampled, "00"));
    assert!(s.spans(unsampled).await.is_empty());
    assert_eq!(s.received.count(), 0, "nothing exported");

    // A trusted parent that sampled is kept: parent-based.
    let (_, _, body) = get(
        &s,
        "/v1/things",
        &[
            ("authorization", &bearer),
            (
                "traceparent",
                &format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"),
            ),
        ],
    )
    .await;
    let (_, _, _, flags) = split_traceparent(echoed(&body, "traceparent").unwrap());
    assert_eq!(flags, "01");
    assert_eq!(s.spans(CLIENT_TRACE).await.len(), 4);
    assert_eq!(s.received.count(), 4);
}

#[tokio::test]
async fn hypers_path_sends_the_same_traceparent_and_times_idempotency() {
    let s = setup("trust_incoming = true").await;
    let (secret, key_id) = s.h.key(serde_json::json!({})).await;
    // An idempotent route: hyper's path, the request detached and recorded.
    let res =
        s.h.post("/v1/orders")
            .bearer_auth(&secret)
            .header("idempotency-key", "order-1")
            .header("content-type", "application/json")
            .header("traceparent", format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"))
            .header("tracestate", "rojo=1")
            .body("{}")
            .send()
            .await
            .unwrap();
    let (status, headers, body) = parts(res).await;
    assert_eq!(status, 200, "{body}");
    let id = request_id(&headers, &body);
    let (_, trace, parent, flags) = split_traceparent(echoed(&body, "traceparent").unwrap());
    assert_eq!((trace.as_str(), flags.as_str()), (CLIENT_TRACE, "01"));
    assert_eq!(echoed(&body, "tracestate"), Some("rojo=1"));

    let spans = s.spans(CLIENT_TRACE).await;
    assert_eq!(spans.len(), 5, "{spans:#?}");
    let server = named(&spans, "POST /v1/orders/*");
    assert_eq!(hex(&server.parent_span_id), CLIENT_SPAN);
    assert_eq!(
        attrs(server),
        map(&[
            ("http.request.method", "POST".into()),
            ("url.path", "/v1/orders".into()),
            ("url.scheme", "http".into()),
            ("http.route", "/v1/orders/*".into()),
            ("http.response.status_code", 200.into()),
            ("errata.request_id", id.clone().into()),
            ("errata.key_id", key_id.into()),
            ("errata.tenant", "acme".into()),
        ])
    );
    for name in ["key lookup", "counters", "idempotency", "POST"] {
        child_of(named(&spans, name), server);
    }
    assert_eq!(
        attrs(named(&spans, "idempotency")),
        map(&[("errata.idempotency", "executed".into())])
    );
    let up = named(&spans, "POST");
    assert_eq!(kind(up), SpanKind::Client);
    assert_eq!(hex(&up.span_id), parent);
    assert_eq!(attrs(up)["http.response.status_code"], 200);
    assert!(named(&spans, "idempotency").end_time_unix_nano <= up.start_time_unix_nano);
    assert_eq!(s.record(&id).await["trace_id"], CLIENT_TRACE);
}

#[tokio::test]
async fn without_otlp_the_trace_still_goes_upstream_and_into_the_logs() {
    logs::captured(tracing::Level::INFO);
    let h = start("[request_log]\nflush_interval_ms = 20\n").await;
    assert!(!h.running.gateway().tracing.exporting());
    let (secret, _) = h.key(serde_json::json!({})).await;
    let res = h
        .get("/echo")
        .bearer_auth(&secret)
        .header("traceparent", format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"))
        .send()
        .await
        .unwrap();
    let (status, headers, body) = parts(res).await;
    assert_eq!(status, 200);
    let id = request_id(&headers, &body);
    // Not trusted by default: a trace of the gateway's own, sampled (`sample` is 1).
    let (_, trace, _, flags) = split_traceparent(echoed(&body, "traceparent").unwrap());
    assert_ne!(trace, CLIENT_TRACE);
    assert_eq!(flags, "01");
    assert!(access_line(&id).contains(&format!("trace_id={trace} ")));
    for _ in 0..250 {
        let res = h
            .http
            .get(format!("{}/requests/{id}", h.admin))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            let rec: Value = res.json().await.unwrap();
            assert_eq!(rec["trace_id"], trace.as_str());
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no record of {id}");
}

#[test]
fn tracing_settings_are_checked_with_the_rest_of_the_config() {
    let src = "[tracing]\notlp = \"https://collector:4318\"\nsample = 1.5\nservice_name = \"\"\ntrust_incoming = \"yes\"\n";
    let Err(err) = errata::config::Config::from_toml(src, std::path::Path::new(".")) else {
        panic!("refused");
    };
    assert_eq!(
        err.render("errata.toml"),
        "errata.toml:2:8: error: tracing.otlp `https://collector:4318` is not an http:// URL\n  \
         help: give the collector's OTLP/HTTP address, e.g. \"http://127.0.0.1:4318\" (spans are posted to its /v1/traces; for an https collector, run one beside the gateway)\n\
         errata.toml:3:10: error: tracing.sample = 1.5 is out of range\n  \
         help: give the share of new traces sampled, from 0.0 to 1.0, e.g. 0.01\n\
         errata.toml:4:16: error: tracing.service_name is empty\n  \
         help: name the gateway as the collector shows it, e.g. \"errata\" or \"api-gateway\"\n\
         errata.toml:5:18: error: `tracing.trust_incoming` must be true or false, not `\"yes\"`\n  \
         help: write `trust_incoming = true` or `trust_incoming = false`, without quotes"
    );
    // `sample` may be written as an integer; the defaults hold without the section.
    let ok = "[tracing]\nsample = 0\notlp = \"http://127.0.0.1:4318/\"\n";
    let cfg = errata::config::Config::from_toml(ok, std::path::Path::new("."))
        .unwrap_or_else(|d| panic!("{}", d.render("errata.toml")));
    assert_eq!(cfg.gateway.tracing.sample, 0.0);
    assert_eq!(
        cfg.gateway.tracing.otlp.as_deref(),
        Some("http://127.0.0.1:4318/v1/traces")
    );
    let cfg = errata::config::Config::from_toml("", std::path::Path::new(".")).unwrap();
    assert_eq!(
        cfg.gateway.tracing,
        errata_gateway::otlp::TracingConfig {
            trust_incoming: false,
            otlp: None,
            sample: 1.0,
            service_name: "errata".into(),
        }
    );
}

#[tokio::test]
async fn a_reload_changes_trust_and_sampling_and_keeps_exporting() {
    let s = setup("trust_incoming = false").await;
    let (secret, _) = s.h.key(serde_json::json!({})).await;
    let bearer = format!("Bearer {secret}");
    let client = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    let sent = [("authorization", bearer.as_str()), ("traceparent", &client)];
    let (_, _, body) = get(&s, "/v1/things", &sent).await;
    let (_, first, _, _) = split_traceparent(echoed(&body, "traceparent").unwrap());
    assert_ne!(first, CLIENT_TRACE, "not trusted yet");
    assert_eq!(s.spans(&first).await.len(), 4);

    // The same config but for [tracing], as a reload reads it from the file.
    let src = format!(
        "upstream = \"{}\"\nstore = \"sqlite::memory:\"\nkey_prefix = \"test\"\npublic_url = \"{PUBLIC_URL}\"\n{}\n\n[admin]\ntoken = \"{TOKEN}\"\n",
        s.upstream,
        extra(&s.collector, "trust_incoming = true\nsample = 0"),
    );
    let cfg = errata::config::Config::from_toml(&src, std::path::Path::new("."))
        .unwrap_or_else(|d| panic!("{}", d.render("errata.toml")));
    let reloaded =
        s.h.running
            .reloader
            .apply(cfg, "errata.toml".into())
            .await
            .unwrap();
    assert_eq!(reloaded.status, "reloaded");
    assert_eq!(reloaded.changed, ["tracing"]);
    assert!(reloaded.restart_required.is_empty());

    // Trusted now: the client's sampled trace is continued and exported (to the same
    // collector); a new trace is no longer sampled.
    let (_, _, body) = get(&s, "/v1/things", &sent).await;
    let (_, trace, _, flags) = split_traceparent(echoed(&body, "traceparent").unwrap());
    assert_eq!((trace.as_str(), flags.as_str()), (CLIENT_TRACE, "01"));
    assert_eq!(s.spans(CLIENT_TRACE).await.len(), 4);
    let (_, _, body) = get(&s, "/v1/things", &[("authorization", bearer.as_str())]).await;
    let (_, new, _, flags) = split_traceparent(echoed(&body, "traceparent").unwrap());
    assert_eq!(flags, "00");
    assert!(s.spans(&new).await.is_empty());
    assert_eq!(s.received.count(), 8);
}

#[tokio::test]
async fn an_upstream_that_does_not_answer_is_the_client_spans_error() {
    logs::captured(tracing::Level::INFO);
    let (collector, received) = receiver().await;
    // Nothing listens on port 1: the connection is refused.
    let gate = Arc::new(Semaphore::new(0));
    let h = start_with_upstream(&extra(&collector, ""), "http://127.0.0.1:1", gate).await;
    let (secret, _) = h.key(serde_json::json!({})).await;
    let res = h
        .get("/v1/things")
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    let (status, headers, body) = parts(res).await;
    assert_eq!(status, 502);
    assert_eq!(body["error"]["code"], "bad_gateway");
    let line = access_line(&request_id(&headers, &body));
    let trace = line
        .split("trace_id=")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .unwrap()
        .to_owned();
    h.running
        .gateway()
        .tracing
        .flush(Duration::from_secs(5))
        .await;
    let spans = received.of_trace(&trace);
    assert_eq!(spans.len(), 4, "{spans:#?}");
    let server = named(&spans, "GET /v1/*");
    assert_eq!(attrs(server)["error.type"], "bad_gateway");
    assert_eq!(span_status(server), (Code::Error, "bad_gateway".to_owned()));
    let up = named(&spans, "GET");
    assert_eq!(
        attrs(up),
        map(&[
            ("http.request.method", "GET".into()),
            ("server.address", "127.0.0.1".into()),
            ("server.port", 1.into()),
            ("url.full", "http://127.0.0.1:1/v1/things".into()),
            ("error.type", "bad_gateway".into()),
        ])
    );
    assert_eq!(span_status(up), (Code::Error, "bad_gateway".to_owned()));
    child_of(up, server);
}
