//! The shared table of classification and retry cases (`crates/errata-sdk/cases/retry.json`),
//! run against this client's reading of errors and its retry decision, as the generated Python
//! and TypeScript SDKs' suites run it against theirs.

use std::time::{Duration, Instant, SystemTime};

use errata_core::Catalog;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::api_error::ApiError;
use crate::error::{Error, TimeoutError};
use crate::retry::{self, Attempt, Decision, RetryPolicy};

const TABLE: &str = include_str!("../../errata-sdk/cases/retry.json");
const KAPLAIX: &str = include_str!("../../../catalogs/kaplaix.toml");

fn headers(v: &Value) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in v.as_object().into_iter().flatten() {
        h.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value.as_str().unwrap()).unwrap(),
        );
    }
    h
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[test]
fn every_case_of_the_shared_table() {
    let table: Value = serde_json::from_str(TABLE).unwrap();
    assert_eq!(table["catalog"], "catalogs/kaplaix.toml");
    let catalog = Catalog::from_toml(KAPLAIX).unwrap();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(table["now"].as_u64().unwrap());
    let policy = RetryPolicy::default();
    let cap_jitter = |cap: Duration| cap;
    let cases = table["cases"].as_array().unwrap();
    assert!(cases.len() >= 30);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let expect = &case["expect"];
        let err = match case.get("transport") {
            Some(_) => Error::Timeout(TimeoutError {
                timeout: Duration::from_secs(30),
                deadline: false,
                attempts: 1,
            }),
            None => {
                let status = u16::try_from(case["status"].as_u64().unwrap()).unwrap();
                let body = case["body"].as_str().unwrap().as_bytes();
                let api = ApiError::read(&catalog, status, &headers(&case["headers"]), body, now);
                if let Some(code) = expect.get("code") {
                    assert_eq!(api.code(), code.as_str(), "{name}: code");
                }
                if let Some(m) = expect.get("message") {
                    assert_eq!(api.message(), m.as_str(), "{name}: message");
                }
                if let Some(id) = expect.get("request_id") {
                    assert_eq!(api.request_id(), id.as_str(), "{name}: request_id");
                }
                if let Some(d) = expect.get("details") {
                    assert_eq!(api.details(), Some(d), "{name}: details");
                }
                if let Some(r) = expect.get("retryable") {
                    assert_eq!(
                        api.is_retryable(),
                        r.as_bool().unwrap(),
                        "{name}: retryable"
                    );
                }
                if let Some(ra) = expect.get("retry_after_ms") {
                    assert_eq!(
                        api.retry_after().map(millis),
                        ra.as_f64(),
                        "{name}: retry_after"
                    );
                }
                if let Some(class) = expect.get("class") {
                    // Rust has no class per code: the class's code is the one the body names
                    // when the catalog knows it.
                    if api.in_catalog() {
                        assert_eq!(api.code(), class.as_str(), "{name}: class");
                    }
                }
                Error::from(api)
            }
        };
        let method = case["method"].as_str().unwrap();
        let start = Instant::now();
        let deadline = case["deadline_left_ms"]
            .as_u64()
            .map(|ms| start + Duration::from_millis(ms));
        let decision = retry::decide(
            &err,
            &Attempt {
                policy: &policy,
                jitter: &cap_jitter,
                number: u32::try_from(case["attempt"].as_u64().unwrap()).unwrap(),
                repeatable: !matches!(method, "POST" | "PATCH"),
                now: start,
                deadline,
            },
        );
        let retry = expect["retry"].as_bool().unwrap();
        match decision {
            Decision::Retry(delay) => {
                assert!(retry, "{name}: retried, but the table says not");
                let want = expect["delay_ms"].as_f64().unwrap();
                assert!(
                    (millis(delay) - want).abs() < 1e-6,
                    "{name}: waited {delay:?}, not {want} ms"
                );
            }
            Decision::Stop(why) => assert!(
                !retry,
                "{name}: not retried ({why}), but the table says it is"
            ),
        }
    }
}
