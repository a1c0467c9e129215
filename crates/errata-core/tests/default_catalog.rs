use errata_core::{ApiError, Catalog, Condition, DEFAULT_CATALOG_TOML, Format, check};
use serde_json::json;

#[test]
fn default_catalog_is_clean() {
    let (catalog, diags) = check(DEFAULT_CATALOG_TOML);
    assert!(catalog.is_some());
    assert_eq!(diags.render("catalogs/default.toml"), "");
}

#[test]
fn rate_limited_renders_with_retry_after() {
    let err = ApiError::condition(Condition::RateLimited)
        .retry_after(12)
        .request_id("req_abc");
    let out = Catalog::builtin().render(&err, Format::Envelope);
    assert_eq!(out.status, 429);
    assert_eq!(
        out.headers,
        vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("x-request-id".to_owned(), "req_abc".to_owned()),
            ("retry-after".to_owned(), "12".to_owned()),
        ]
    );
    assert_eq!(
        out.body,
        json!({"error": {
            "code": "rate_limit_exceeded",
            "type": "rate_limit_error",
            "message": "Rate limit exceeded. Please retry after 12 seconds.",
            "param": null,
            "request_id": "req_abc",
            "doc_url": "/errors#rate_limit_exceeded"
        }})
    );
}
