//! The gateway over real HTTP: a real upstream on loopback, the default catalog, exact status,
//! headers and JSON for each condition.

mod support;

use serde_json::json;
use support::*;

const POLICY: &str = r#"
[limits]
default_plan = "free"

[plans.free]

[plans.agency]
features = ["white_label"]

[[routes]]
path = "/v1/reports"
scopes = ["reports:write"]
plans = ["agency"]

[[routes]]
path = "/v1/white-label"
feature = "white_label"

[[routes]]
path = "/v1/live-only"
environment = "live"

[[routes]]
path = "/v1/events"
methods = ["GET", "POST"]
max_body_bytes = 64
content_types = ["application/json"]

[[routes]]
path = "/health"
auth = false

[[routes]]
path = "/"
"#;

#[tokio::test]
async fn a_good_key_reaches_the_upstream_with_identity_and_one_request_id() {
    let h = start(POLICY).await;
    let (key, key_id) = h
        .key(json!({"scopes": ["events:read"], "environment": "test"}))
        .await;
    let res = h
        .get("/echo")
        .bearer_auth(&key)
        .header("x-errata-tenant", "forged")
        .header("x-errata-scopes", "admin")
        .header("connection", "keep-alive, x-drop-me")
        .header("x-drop-me", "1")
        .send()
        .await
        .unwrap();
    let (status, headers, body) = parts(res).await;
    assert_eq!(status, 200);
    let id = request_id(&headers, &body);
    let up = &body["headers"];
    assert_eq!(up["x-errata-tenant"], "acme");
    assert_eq!(up["x-errata-key-id"], key_id.as_str());
    assert_eq!(up["x-errata-scopes"], "events:read");
    assert_eq!(up["x-errata-environment"], "test");
    assert_eq!(up["x-errata-plan"], "free");
    assert_eq!(up["x-request-id"], id.as_str());
    assert_eq!(up["x-forwarded-for"], "127.0.0.1");
    assert_eq!(up["x-forwarded-proto"], "http");
    assert_eq!(up["x-forwarded-host"], h.base.trim_start_matches("http://"));
    assert!(
        up.get("authorization").is_none(),
        "the key never reaches the upstream"
    );
    assert!(
        up.get("x-drop-me").is_none(),
        "headers named by Connection are hop-by-hop"
    );
    h.running.shutdown().await;
}

#[tokio::test]
async fn public_routes_need_no_key_and_the_error_page_is_served() {
    let h = start(POLICY).await;
    let res = h.get("/health").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = h.get("/errors").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    let page = res.text().await.unwrap();
    assert!(page.contains("id=\"missing_api_key\""));
    // Another method on the page is a catalog error too.
    let (status, headers, body) = parts(h.post("/errors").send().await.unwrap()).await;
    assert_eq!(status, 405);
    assert_eq!(headers["allow"], "GET, HEAD");
    let id = request_id(&headers, &body);
    assert_eq!(
        body,
        envelope(
            "method_not_allowed",
            "invalid_request_error",
            "POST is not allowed on /errors. Allowed: GET, HEAD.",
            &id
        )
    );
    h.running.shutdown().await;
}

#[tokio::test]
async fn each_key_failure_has_its_own_code() {
    let h = start(POLICY).await;
    let (key, key_id) = h.key(json!({})).await;
    let unknown =
        errata_store::keys::generate("test", errata_store::keys::Environment::Live).plaintext;
    let cases: Vec<(reqwest::RequestBuilder, &str, &str)> = vec![
        (
            h.get("/echo"),
            "missing_api_key",
            "No API key was provided. Send it as `Authorization: Bearer <key>`.",
        ),
        (
            h.get("/echo")
                .header("authorization", format!("Basic {key}")),
            "invalid_api_key",
            "Invalid API key. Check that your API key is correct and has not been revoked.",
        ),
        (
            h.get("/echo").bearer_auth("test_live_short"),
            "invalid_api_key",
            "Invalid API key. Check that your API key is correct and has not been revoked.",
        ),
        (
            h.get("/echo")
                .header("x-api-key", key.replace("test_", "prod_")),
            "invalid_api_key",
            "Invalid API key. Check that your API key is correct and has not been revoked.",
        ),
        (
            h.get("/echo").bearer_auth(&unknown),
            "invalid_api_key",
            "Invalid API key. Check that your API key is correct and has not been revoked.",
        ),
    ];
    for (req, code, message) in cases {
        let (status, headers, body) = parts(req.send().await.unwrap()).await;
        assert_eq!(status, 401, "{code}");
        assert_eq!(headers["content-type"], "application/json");
        let id = request_id(&headers, &body);
        assert_eq!(body, envelope(code, "authentication_error", message, &id));
    }
    // x-api-key is accepted as well as Bearer.
    let res = h
        .get("/echo")
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Revoked through the admin API: refused at once.
    let res = h
        .http
        .post(format!("{}/keys/{key_id}/revoke", h.admin))
        .bearer_auth("admin-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, headers, body) =
        parts(h.get("/echo").bearer_auth(&key).send().await.unwrap()).await;
    assert_eq!(status, 401);
    let id = request_id(&headers, &body);
    assert_eq!(
        body,
        envelope(
            "api_key_revoked",
            "authentication_error",
            "This API key has been revoked. Create a new key in your dashboard settings.",
            &id
        )
    );
    h.running.shutdown().await;
}

#[tokio::test]
async fn an_expired_key_is_refused_once_the_clock_passes_its_expiry() {
    let h = start(POLICY).await;
    let now = (h.clock_ms() / 1000) as i64;
    let (key, _) = h
        .key(json!({"expires_at": now.max(errata_admin::manage::now_secs()) + 60}))
        .await;
    assert_eq!(
        h.get("/echo")
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    h.clock
        .set_ms((errata_admin::manage::now_secs() as u64 + 61) * 1000);
    let (status, headers, body) =
        parts(h.get("/echo").bearer_auth(&key).send().await.unwrap()).await;
    assert_eq!(status, 401);
    let id = request_id(&headers, &body);
    assert_eq!(
        body,
        envelope(
            "api_key_expired",
            "authentication_error",
            "This API key has expired. Create a new key in your dashboard settings.",
            &id
        )
    );
    h.running.shutdown().await;
}

#[tokio::test]
async fn scopes_plans_features_environment_and_ip_allowlists() {
    let h = start(&format!("trusted_proxies = [\"127.0.0.1\"]\n{POLICY}")).await;
    let (free, _) = h.key(json!({"environment": "test"})).await;
    let (agency_no_scope, _) = h.key(json!({"plan": "agency"})).await;
    let (agency, _) = h
        .key(json!({"plan": "agency", "scopes": ["reports:write"]}))
        .await;
    let (free_scoped, _) = h.key(json!({"scopes": ["reports:write"]})).await;
    let (fenced, _) = h.key(json!({"ip_allowlist": ["10.0.0.0/8"]})).await;

    let check = |req: reqwest::RequestBuilder, code: &'static str, message: &'static str| async move {
        let (status, headers, body) = parts(req.send().await.unwrap()).await;
        assert_eq!(status, 403, "{code}: {body}");
        let id = request_id(&headers, &body);
        assert_eq!(body, envelope(code, "permission_error", message, &id));
    };
    check(
        h.post("/v1/reports").bearer_auth(&agency_no_scope),
        "insufficient_scope",
        "This API key lacks the required scope `reports:write`.",
    )
    .await;
    check(
        h.post("/v1/reports").bearer_auth(&free_scoped),
        "plan_insufficient",
        "This endpoint requires the agency plan.",
    )
    .await;
    assert_eq!(
        h.post("/v1/reports")
            .bearer_auth(&agency)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    check(
        h.get("/v1/white-label").bearer_auth(&free_scoped),
        "feature_not_available",
        "The white_label feature is available on the agency plan.",
    )
    .await;
    assert_eq!(
        h.get("/v1/white-label")
            .bearer_auth(&agency)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    check(
        h.get("/v1/live-only").bearer_auth(&free),
        "environment_not_allowed",
        "A test key cannot be used on this endpoint.",
    )
    .await;
    // The socket address is 127.0.0.1, a trusted proxy: the client is the forwarded address.
    check(
        h.get("/echo").bearer_auth(&fenced),
        "ip_not_allowed",
        "Requests from 127.0.0.1 are not allowed for this API key.",
    )
    .await;
    check(
        h.get("/echo")
            .bearer_auth(&fenced)
            .header("x-forwarded-for", "203.0.113.9"),
        "ip_not_allowed",
        "Requests from 203.0.113.9 are not allowed for this API key.",
    )
    .await;
    let res = h
        .get("/echo")
        .bearer_auth(&fenced)
        .header("x-forwarded-for", "10.1.2.3")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    h.running.shutdown().await;
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let h = start(POLICY).await;
    let (fenced, _) = h.key(json!({"ip_allowlist": ["10.0.0.0/8"]})).await;
    let res = h
        .get("/echo")
        .bearer_auth(&fenced)
        .header("x-forwarded-for", "10.1.2.3")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    h.running.shutdown().await;
}

#[tokio::test]
async fn rate_limit_arithmetic_with_a_controlled_clock() {
    let h = start(&POLICY.replace(
        "[plans.free]\n",
        "[plans.free]\nrate = 3\nper_seconds = 60\n",
    ))
    .await;
    let (key, _) = h.key(json!({})).await;
    for remaining in [2, 1, 0] {
        let res = h.get("/echo").bearer_auth(&key).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let hd = res.headers();
        assert_eq!(hd["ratelimit-policy"], "\"rate\";q=3;w=60");
        assert_eq!(hd["x-ratelimit-limit"], "3");
        assert_eq!(hd["x-ratelimit-remaining"], remaining.to_string().as_str());
        assert_eq!(
            hd["ratelimit"],
            format!("\"rate\";r={remaining};t={}", 20 * (3 - remaining)).as_str()
        );
    }
    // The fourth within the window: one request refills every 20 s.
    let (status, headers, body) =
        parts(h.get("/echo").bearer_auth(&key).send().await.unwrap()).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "20");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    let id = request_id(&headers, &body);
    assert_eq!(
        body,
        envelope(
            "rate_limit_exceeded",
            "rate_limit_error",
            "Rate limit exceeded. Please retry after 20 seconds.",
            &id
        )
    );
    // 19.5 s later: still limited, and Retry-After never says earlier than the real reset.
    h.clock.advance_ms(19_500);
    let res = h.get("/echo").bearer_auth(&key).send().await.unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "1");
    h.clock.advance_ms(500);
    assert_eq!(
        h.get("/echo")
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        h.get("/echo")
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        429
    );
    // After a whole window the full allowance is back.
    h.clock.advance_ms(60_000);
    for _ in 0..3 {
        assert_eq!(
            h.get("/echo")
                .bearer_auth(&key)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    assert_eq!(
        h.get("/echo")
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        429
    );
    h.running.shutdown().await;
}

#[tokio::test]
async fn the_monthly_quota_resets_with_the_calendar_month() {
    let h = start(&POLICY.replace("[plans.free]\n", "[plans.free]\nmonthly_quota = 2\n")).await;
    let (key, _) = h.key(json!({})).await;
    for _ in 0..2 {
        assert_eq!(
            h.get("/echo")
                .bearer_auth(&key)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let (status, headers, body) =
        parts(h.get("/echo").bearer_auth(&key).send().await.unwrap()).await;
    assert_eq!(status, 429);
    // T0 is 2026-11-15T00:00Z: 16 days to December.
    assert_eq!(headers["retry-after"], (16 * 86_400).to_string().as_str());
    // The policy's window is the month (30 days of November); the reset is what is left of it.
    assert_eq!(headers["ratelimit-policy"], "\"quota\";q=2;w=2592000");
    assert_eq!(
        headers["ratelimit"],
        format!("\"quota\";r=0;t={}", 16 * 86_400).as_str()
    );
    let id = request_id(&headers, &body);
    assert_eq!(
        body,
        envelope(
            "quota_exceeded",
            "rate_limit_error",
            "You have used your monthly quota of 2 requests. It resets at the start of next month (UTC).",
            &id
        )
    );
    h.clock.advance_ms(16 * 86_400 * 1000);
    assert_eq!(
        h.get("/echo")
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    h.running.shutdown().await;
}

#[tokio::test]
async fn concurrency_is_limited_while_requests_are_in_flight() {
    let h = start(&POLICY.replace("[plans.free]\n", "[plans.free]\nconcurrency = 1\n")).await;
    let (key, _) = h.key(json!({})).await;
    let mut first = tokio::spawn(h.get("/hold").bearer_auth(&key).send());
    // Wait until the first request holds its slot. A probe can win the race for the slot, and
    // then the held request is the one refused: send it again.
    let mut limited = None;
    for _ in 0..200 {
        if first.is_finished() {
            let refused = first.await.unwrap().unwrap();
            assert_eq!(
                refused.status(),
                429,
                "the held request either waits or is refused"
            );
            first = tokio::spawn(h.get("/hold").bearer_auth(&key).send());
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            continue;
        }
        let res = h.get("/echo").bearer_auth(&key).send().await.unwrap();
        if res.status() == 429 {
            limited = Some(parts(res).await);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let (_, headers, body) = limited.expect("the second request is limited");
    assert_eq!(headers["retry-after"], "1");
    let id = request_id(&headers, &body);
    assert_eq!(
        body,
        envelope(
            "concurrent_requests_exceeded",
            "rate_limit_error",
            "Too many concurrent requests. At most 1 may be in flight at once.",
            &id
        )
    );
    h.gate.add_permits(1);
    let res = first.await.unwrap().unwrap();
    assert_eq!(res.text().await.unwrap(), "released");
    assert_eq!(
        h.get("/echo")
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    h.running.shutdown().await;
}

#[tokio::test]
async fn body_size_and_type_are_checked_before_the_upstream() {
    let h = start(POLICY).await;
    let (key, _) = h.key(json!({})).await;
    let (status, headers, body) = parts(
        h.post("/v1/events")
            .bearer_auth(&key)
            .header("content-type", "text/plain")
            .body("hello")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 415);
    let id = request_id(&headers, &body);
    assert_eq!(
        body,
        envelope(
            "unsupported_content_type",
            "invalid_request_error",
            "The content type 'text/plain' is not supported.",
            &id
        )
    );
    let big = format!("{{\"data\": \"{}\"}}", "x".repeat(100));
    let (status, headers, body) = parts(
        h.post("/v1/events")
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 413);
    let id = request_id(&headers, &body);
    assert_eq!(
        body,
        envelope(
            "content_too_large",
            "invalid_request_error",
            "The request body exceeds the limit of 64 bytes.",
            &id
        )
    );
    // Streamed without a length: cut off while streaming, same answer.
    let stream = futures_util::stream::iter(
        big.into_bytes()
            .chunks(16)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let (status, _, body) = parts(
        h.post("/v1/events")
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "content_too_large");
    let res = h
        .post("/v1/events")
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    h.running.shutdown().await;
}

#[tokio::test]
async fn routes_and_methods() {
    let h = start(&POLICY.replace("[[routes]]\npath = \"/\"\n", "")).await;
    let (key, _) = h.key(json!({})).await;
    let (status, headers, body) =
        parts(h.get("/nowhere").bearer_auth(&key).send().await.unwrap()).await;
    assert_eq!(status, 404);
    let id = request_id(&headers, &body);
    assert_eq!(
        body,
        envelope(
            "resource_not_found",
            "not_found_error",
            "No route matches GET /nowhere.",
            &id
        )
    );
    let (status, headers, body) = parts(
        h.http
            .delete(format!("{}/v1/events", h.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 405);
    assert_eq!(headers["allow"], "GET, POST");
    let id = request_id(&headers, &body);
    assert_eq!(
        body,
        envelope(
            "method_not_allowed",
            "invalid_request_error",
            "DELETE is not allowed on /v1/events. Allowed: GET, POST.",
            &id
        )
    );
    h.running.shutdown().await;
}

#[tokio::test]
async fn upstream_failures_become_catalog_errors() {
    let h = start(&format!("[timeouts]\nresponse_ms = 300\n{POLICY}")).await;
    let (key, _) = h.key(json!({})).await;
    let expect = |path: &'static str, status: u16, code: &'static str, message: &'static str| {
        let req = h.get(path).bearer_auth(&key);
        async move {
            let (s, headers, body) = parts(req.send().await.unwrap()).await;
            assert_eq!(s, status, "{path}: {body}");
            let id = request_id(&headers, &body);
            assert_eq!(body, envelope(code, "api_error", message, &id), "{path}");
            headers
        }
    };
    expect(
        "/html502",
        502,
        "bad_gateway",
        "The upstream service could not be reached or sent an invalid response. Please try again.",
    )
    .await;
    expect("/plain500", 500, "internal_error", "An internal error occurred. Please try again. If the problem persists, contact support with the request_id.").await;
    expect(
        "/slow",
        504,
        "gateway_timeout",
        "The upstream service did not respond within 1 seconds.",
    )
    .await;
    // A status the catalog has no code for keeps its status, under the 4xx fallback code.
    let (s, headers, body) = parts(h.get("/teapot").bearer_auth(&key).send().await.unwrap()).await;
    assert_eq!(s, 418);
    let id = request_id(&headers, &body);
    assert_eq!(
        body,
        json!({"error": {"code": "invalid_request", "type": "invalid_request_error", "message": "The request could not be parsed.", "param": null, "request_id": id, "doc_url": doc_url("invalid_request")}})
    );
    // An error already in the envelope (a catalog code at its status) passes, with the
    // gateway's request id and completed from the catalog where it lacks members (doc_url).
    let (s, headers, body) = parts(
        h.get("/envelope404")
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 404);
    let id = request_id(&headers, &body);
    assert_eq!(
        body,
        json!({"error": {"code": "resource_not_found", "type": "not_found_error", "message": "Order 'ord_1' not found.", "param": null, "request_id": id, "doc_url": doc_url("resource_not_found")}})
    );
    h.running.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_bad_gateway() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let h = start_with_upstream(
        POLICY,
        &format!("http://{closed}"),
        std::sync::Arc::new(tokio::sync::Semaphore::new(0)),
    )
    .await;
    let (key, _) = h.key(json!({})).await;
    let (status, headers, body) =
        parts(h.get("/echo").bearer_auth(&key).send().await.unwrap()).await;
    assert_eq!(status, 502);
    let id = request_id(&headers, &body);
    assert_eq!(
        body,
        envelope(
            "bad_gateway",
            "api_error",
            "The upstream service could not be reached or sent an invalid response. Please try again.",
            &id
        )
    );
    h.running.shutdown().await;
}

#[tokio::test]
async fn bodies_stream_both_ways() {
    let h = start(POLICY).await;
    let (key, _) = h.key(json!({})).await;
    let res = h.get("/stream").bearer_auth(&key).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.text().await.unwrap(),
        "chunk0;chunk1;chunk2;chunk3;chunk4;"
    );
    h.running.shutdown().await;
}

#[tokio::test]
async fn problem_json_when_the_client_prefers_it() {
    let h = start(POLICY).await;
    let res = h
        .get("/echo")
        .header("accept", "application/problem+json")
        .send()
        .await
        .unwrap();
    let (status, headers, body) = parts(res).await;
    assert_eq!(status, 401);
    assert_eq!(headers["content-type"], "application/problem+json");
    let id = headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(
        body,
        json!({
            "type": doc_url("missing_api_key"),
            "title": "Missing API key",
            "status": 401,
            "detail": "No API key was provided. Send it as `Authorization: Bearer <key>`.",
            "instance": "/echo",
            "code": "missing_api_key",
            "request_id": id
        })
    );
    h.running.shutdown().await;
}

#[tokio::test]
async fn a_trusted_inbound_request_id_is_kept_and_an_unsafe_one_replaced() {
    let h = start(&format!(
        "trusted_request_id_header = \"x-request-id\"\n{POLICY}"
    ))
    .await;
    let res = h
        .get("/health")
        .header("x-request-id", "edge-123")
        .send()
        .await
        .unwrap();
    let (_, headers, body) = parts(res).await;
    assert_eq!(headers["x-request-id"], "edge-123");
    assert_eq!(body["headers"]["x-request-id"], "edge-123");
    let res = h
        .get("/health")
        .header("x-request-id", "bad id; x=1")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "bad id; x=1");
    assert!(
        errata_core::Catalog::builtin()
            .request_id()
            .matches(res.headers()["x-request-id"].to_str().unwrap())
    );
    h.running.shutdown().await;
}
