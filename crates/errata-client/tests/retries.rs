//! Retries over real HTTP against the fault server: how many attempts each kind of answer gets
//! and exactly how long the client waits between them (a manual clock records every wait).

mod support;

use std::time::Duration;

use errata_client::clock::{Clock, ManualClock};
use errata_client::jitter::FullJitter;
use errata_client::{Error, RetryPolicy};
use errata_core::{ApiError, Catalog, Format};
use serde_json::{Value, json};
use support::{FaultServer, Reply, client, secs};

const RID: &str = "req_R3tryT3stR3qu3st0000001";

/// A code of the built-in catalog as an errata server sends it.
fn code(c: &'static str) -> Reply {
    Reply::error(
        Catalog::builtin(),
        ApiError::code(c).request_id(RID),
        Format::Envelope,
    )
}

fn ok() -> Reply {
    Reply::json(200, json!({"id": "camp_1"}))
}

/// Runs one GET against `script` with the client `configure` makes; returns the outcome, the
/// number of attempts the server saw and the waits the clock recorded.
async fn run(
    script: Vec<Reply>,
    configure: impl FnOnce(errata_client::ClientBuilder) -> errata_client::ClientBuilder,
) -> (Result<Value, Error>, usize, Vec<Duration>) {
    let server = FaultServer::start(script).await;
    let clock = ManualClock::new();
    let c = configure(client(&server, &clock)).build().unwrap();
    let out = c.get("/v1/campaigns/camp_1").send::<Value>().await;
    (out, server.attempts(), clock.sleeps())
}

fn defaults(b: errata_client::ClientBuilder) -> errata_client::ClientBuilder {
    b
}

#[tokio::test]
async fn a_retryable_code_backs_off_exponentially_then_succeeds() {
    let (out, attempts, sleeps) = run(
        vec![code("service_unavailable"), code("bad_gateway"), ok()],
        defaults,
    )
    .await;
    assert_eq!(out.unwrap(), json!({"id": "camp_1"}));
    assert_eq!(attempts, 3);
    assert_eq!(sleeps, [secs(0.5), secs(1.0)]);
}

#[tokio::test]
async fn retries_stop_at_the_maximum_and_return_the_last_error() {
    let (out, attempts, sleeps) = run(vec![code("internal_error"); 4], defaults).await;
    let err = out.unwrap_err();
    assert_eq!(err.code(), Some("internal_error"));
    assert_eq!(err.request_id(), Some(RID));
    assert_eq!(err.attempts(), 3);
    assert!(err.is_retryable());
    assert_eq!(attempts, 3, "2 retries by default");
    assert_eq!(sleeps, [secs(0.5), secs(1.0)]);
}

#[tokio::test]
async fn backoff_doubles_up_to_the_maximum_delay() {
    let policy = RetryPolicy::default()
        .max_retries(6)
        .initial_delay(secs(1.0))
        .max_delay(secs(4.0));
    let (out, attempts, sleeps) = run(vec![code("gateway_timeout"); 7], |b| b.retry(policy)).await;
    assert_eq!(out.unwrap_err().attempts(), 7);
    assert_eq!(attempts, 7);
    let want: Vec<_> = [1.0, 2.0, 4.0, 4.0, 4.0, 4.0].map(secs).into();
    assert_eq!(sleeps, want);
}

#[tokio::test]
async fn jitter_chooses_the_wait_within_each_step() {
    // A quarter of each step, exactly.
    let (_, _, sleeps) = run(vec![code("internal_error"); 3], |b| {
        b.jitter(|cap: Duration| cap / 4)
    })
    .await;
    assert_eq!(sleeps, [secs(0.125), secs(0.25)]);

    // Full jitter from a seed: reproducible, within [0, step], not simply the step.
    let policy = RetryPolicy::default().max_retries(5);
    let seeded =
        |b: errata_client::ClientBuilder| b.retry(policy.clone()).jitter(FullJitter::seeded(9));
    let (_, _, first) = run(vec![code("internal_error"); 6], seeded).await;
    let (_, _, second) = run(vec![code("internal_error"); 6], seeded).await;
    assert_eq!(first, second);
    let caps = [0.5, 1.0, 2.0, 4.0, 8.0].map(secs);
    assert!(
        first.iter().zip(caps).all(|(d, cap)| *d <= cap),
        "{first:?}"
    );
    assert_ne!(first, caps);
}

#[tokio::test]
async fn codes_the_catalog_calls_non_retryable_are_returned_at_once() {
    // The seeds: never retry 400, 401, 403, 404; and a spent quota is a 429 no wait fixes.
    for c in [
        "invalid_request",
        "validation_error",
        "missing_api_key",
        "invalid_api_key",
        "permission_denied",
        "resource_not_found",
        "method_not_allowed",
        "resource_conflict",
        "quota_exceeded",
    ] {
        let (out, attempts, sleeps) = run(vec![code(c), ok()], defaults).await;
        let err = out.unwrap_err();
        assert_eq!(err.code(), Some(c));
        assert!(!err.is_retryable(), "{c}");
        assert_eq!((attempts, err.attempts()), (1, 1), "{c}");
        assert!(sleeps.is_empty(), "{c}");
    }
}

#[tokio::test]
async fn the_catalog_decides_per_code_not_per_status() {
    // Both 429: a rate limit passes, a monthly quota does not (even with a short Retry-After).
    let quota = Reply::error(
        Catalog::builtin(),
        ApiError::code("quota_exceeded")
            .arg("limit", 10000)
            .retry_after(2),
        Format::Envelope,
    );
    let (out, attempts, _) = run(vec![quota, ok()], defaults).await;
    assert_eq!(out.unwrap_err().code(), Some("quota_exceeded"));
    assert_eq!(attempts, 1);

    let (out, attempts, _) = run(vec![code("rate_limit_exceeded"), ok()], defaults).await;
    assert!(out.is_ok());
    assert_eq!(attempts, 2);

    // A 409 the catalog marks retryable (one diagnostic at a time) is retried.
    let (out, attempts, _) = run(vec![code("diagnostic_in_progress"), ok()], defaults).await;
    assert!(out.is_ok());
    assert_eq!(attempts, 2);
}

#[tokio::test]
async fn a_seed_catalog_file_drives_the_same_rules() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../catalogs/klayrai.toml");
    let klayrai = Catalog::from_file(path).unwrap();
    let reply = |c: &'static str| Reply::error(&klayrai, ApiError::code(c), Format::Envelope);
    // KlayrAI says a 422 "campaign not synced" is worth waiting for; the default catalog has
    // a code of the same name that is not. The client follows the catalog it was given.
    let (out, attempts, _) = run(vec![reply("campaign_not_synced"), ok()], |b| {
        b.catalog_file(path)
    })
    .await;
    assert!(out.is_ok());
    assert_eq!(attempts, 2);
    let (out, attempts, _) = run(vec![reply("not_found"), ok()], |b| b.catalog_file(path)).await;
    assert_eq!(out.unwrap_err().code(), Some("not_found"));
    assert_eq!(attempts, 1);
}

#[tokio::test]
async fn codes_outside_the_catalog_fall_back_to_the_status() {
    let unknown = |status| {
        Reply::json(
            status,
            json!({"error": {"code": "brand_new_code", "message": "New."}}),
        )
        .with_header("x-request-id", RID)
    };
    for (status, retried) in [
        (503, true),
        (500, true),
        (408, true),
        (429, true),
        (400, false),
        (409, false),
    ] {
        let (out, attempts, _) = run(vec![unknown(status), ok()], defaults).await;
        assert_eq!(attempts, if retried { 2 } else { 1 }, "{status}");
        if !retried {
            let err = out.unwrap_err();
            assert_eq!(err.code(), Some("brand_new_code"));
            assert!(!err.as_api().unwrap().in_catalog());
        }
    }
}

#[tokio::test]
async fn bodies_outside_the_catalog_fall_back_to_the_status() {
    let cases = [
        (Reply::html(502), true),
        (Reply::empty(503), true),
        (Reply::empty(429), true),
        (
            Reply::body(504, "text/plain", "upstream request timeout"),
            true,
        ),
        (
            Reply::json(500, json!({"message": "Internal Server Error"})),
            true,
        ),
        (Reply::html(404), false),
        (Reply::body(401, "text/plain", "Unauthorized"), false),
        (Reply::empty(400), false),
    ];
    for (reply, retried) in cases {
        let (out, attempts, sleeps) =
            run(vec![reply.clone(), reply.clone(), reply], defaults).await;
        let err = out.unwrap_err();
        assert_eq!(err.code(), None);
        assert!(err.as_api().unwrap().raw_body().is_some());
        assert_eq!(attempts, if retried { 3 } else { 1 }, "{err}");
        assert_eq!(sleeps.len(), if retried { 2 } else { 0 });
    }
}

#[tokio::test]
async fn retry_after_in_seconds_is_waited_exactly() {
    let limited = Reply::error(
        Catalog::builtin(),
        ApiError::code("rate_limit_exceeded")
            .retry_after(7)
            .request_id(RID),
        Format::Envelope,
    );
    let (out, attempts, sleeps) = run(vec![limited.clone(), limited, ok()], defaults).await;
    assert!(out.is_ok());
    assert_eq!(attempts, 3);
    assert_eq!(
        sleeps,
        [secs(7.0), secs(7.0)],
        "Retry-After replaces the backoff"
    );
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_measured_on_the_clock() {
    let server_clock = ManualClock::new(); // the client's clock starts at the same wall time
    let at = |s| httpdate::fmt_http_date(server_clock.wall() + Duration::from_secs(s));
    let busy = |date: String| code("service_unavailable").with_header("retry-after", &date);
    // At t=0 the server says "at 9 s"; at t=9 it says "at 13 s"; then "at a past time".
    let script = vec![
        busy(at(9)),
        busy(at(13)),
        busy("Sun, 31 Dec 2023 23:59:00 GMT".into()),
        ok(),
    ];
    let (out, attempts, sleeps) = run(script, |b| b.max_retries(3)).await;
    assert!(out.is_ok());
    assert_eq!(attempts, 4);
    assert_eq!(sleeps, [secs(9.0), secs(4.0), secs(0.0)]);
}

#[tokio::test]
async fn retry_after_ms_is_preferred_for_its_precision() {
    let busy = code("service_unavailable")
        .with_header("retry-after", "2")
        .with_header("retry-after-ms", "1500");
    let (out, _, sleeps) = run(vec![busy, ok()], defaults).await;
    assert!(out.is_ok());
    assert_eq!(sleeps, [secs(1.5)]);
}

#[tokio::test]
async fn retry_after_above_the_ceiling_returns_the_error_at_once() {
    let long = |secs| {
        Reply::error(
            Catalog::builtin(),
            ApiError::code("rate_limit_exceeded")
                .retry_after(secs)
                .request_id(RID),
            Format::Envelope,
        )
    };
    // Default ceiling 60 s.
    let (out, attempts, sleeps) = run(vec![long(120), ok()], defaults).await;
    let err = out.unwrap_err();
    assert_eq!(err.code(), Some("rate_limit_exceeded"));
    assert_eq!(err.retry_after(), Some(secs(120.0)));
    assert!(err.is_retryable(), "retryable, just not now");
    assert_eq!((attempts, sleeps.len()), (1, 0));

    // The same in HTTP-date form.
    let clock = ManualClock::new();
    let date = httpdate::fmt_http_date(clock.wall() + Duration::from_secs(3600));
    let (out, attempts, _) = run(
        vec![
            code("service_unavailable").with_header("retry-after", &date),
            ok(),
        ],
        defaults,
    )
    .await;
    assert_eq!(out.unwrap_err().retry_after(), Some(secs(3600.0)));
    assert_eq!(attempts, 1);

    // A higher ceiling lets the client wait.
    let policy = RetryPolicy::default().max_retry_after(secs(300.0));
    let (out, attempts, sleeps) = run(vec![long(120), ok()], |b| b.retry(policy)).await;
    assert!(out.is_ok());
    assert_eq!((attempts, sleeps), (2, vec![secs(120.0)]));
}

#[tokio::test]
async fn the_deadline_stops_waits_that_would_end_past_it() {
    // Deadline 3 s: attempt at 0, wait 1 s, attempt at 1, a 2 s wait would end at 3: stop.
    let policy = RetryPolicy::default()
        .max_retries(10)
        .initial_delay(secs(1.0))
        .deadline(secs(3.0));
    let (out, attempts, sleeps) = run(vec![code("internal_error"); 5], |b| b.retry(policy)).await;
    assert_eq!(out.unwrap_err().attempts(), 2);
    assert_eq!(attempts, 2);
    assert_eq!(sleeps, [secs(1.0)]);

    // A Retry-After under the ceiling but past the deadline is not waited for either.
    let policy = RetryPolicy::default().deadline(secs(10.0));
    let busy = code("service_unavailable").with_header("retry-after", "30");
    let (out, attempts, sleeps) = run(vec![busy, ok()], |b| b.retry(policy)).await;
    assert_eq!(out.unwrap_err().retry_after(), Some(secs(30.0)));
    assert_eq!((attempts, sleeps.len()), (1, 0));
}

#[tokio::test]
async fn no_retries_means_one_attempt() {
    let (out, attempts, _) = run(vec![code("internal_error"), ok()], |b| b.max_retries(0)).await;
    assert!(out.is_err());
    assert_eq!(attempts, 1);

    // A request can override the client's policy.
    let server = FaultServer::start(vec![code("internal_error"), ok()]).await;
    let clock = ManualClock::new();
    let c = client(&server, &clock).build().unwrap();
    let out = c
        .get("/v1/x")
        .retry(RetryPolicy::never())
        .send::<Value>()
        .await;
    assert_eq!(out.unwrap_err().attempts(), 1);
    assert_eq!(server.attempts(), 1);
}

#[tokio::test]
async fn problem_json_errors_follow_the_catalog_too() {
    let problem = |c: &'static str| {
        Reply::error(
            Catalog::builtin(),
            ApiError::code(c).request_id(RID),
            Format::Problem,
        )
    };
    let (out, attempts, _) = run(vec![problem("rate_limit_exceeded"), ok()], defaults).await;
    assert!(out.is_ok());
    assert_eq!(attempts, 2);
    let (out, attempts, _) = run(vec![problem("quota_exceeded"), ok()], defaults).await;
    assert_eq!(out.unwrap_err().code(), Some("quota_exceeded"));
    assert_eq!(attempts, 1);
}
