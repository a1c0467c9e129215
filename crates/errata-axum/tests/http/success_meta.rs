//! Success metadata: `meta.remaining_requests` from rate-limit headers, on successes only.

use std::sync::Arc;

use serde_json::json;

use crate::common::{Reply, Setup, app, catalog, client, serve};

#[tokio::test]
async fn rate_limit_state_reaches_successful_json_bodies_only() {
    let klayrai = catalog("klayrai");
    let setup = Setup {
        meta: true,
        ..Setup::default()
    };
    let base = serve(app(klayrai.clone(), &setup, Arc::default())).await;

    // The gateway in front forwards the state on the request; the handler adds a limit header.
    let ok = Reply::from(
        client()
            .get(format!("{base}/data"))
            .header("x-ratelimit-remaining", "42")
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.json(),
        json!({"data": [1, 2], "meta": {"rate_limit": 100}}),
        "the response's own headers win over the request's"
    );

    let from_gateway = Reply::from(
        client()
            .get(format!("{base}/items?limit=5"))
            .header("ratelimit", "limit=100, remaining=42, reset=30")
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(
        from_gateway.json(),
        json!({"limit": 5, "meta": {"remaining_requests": 42, "rate_limit": 100, "rate_limit_reset": 30}})
    );
    assert_eq!(
        from_gateway.header("content-length"),
        Some(from_gateway.raw.len().to_string().as_str())
    );

    let failed = Reply::from(
        client()
            .get(format!("{base}/nowhere"))
            .header("x-ratelimit-remaining", "42")
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(failed.status, 404);
    assert!(
        failed.json()["meta"].is_null(),
        "error bodies are the catalog's"
    );
}
