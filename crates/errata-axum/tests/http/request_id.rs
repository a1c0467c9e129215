//! The request id: generated in the catalog's format, taken from a trusted header only when it
//! is a safe token, and the same in the response header, the error body and the handler.

use std::sync::Arc;

use crate::common::{Reply, Setup, app, catalog, client, serve};

async fn get(base: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = client().get(format!("{base}{path}"));
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    Reply::from(req.send().await.expect("request")).await
}

#[tokio::test]
async fn a_fresh_id_in_the_catalogs_format_reaches_handler_header_and_body() {
    // Klyra's ids are req_ and 12 hex characters.
    let klyra = catalog("klyra");
    let base = serve(app(klyra.clone(), &Setup::default(), Arc::default())).await;

    let ok = get(&base, "/whoami", &[]).await;
    let id = ok.header("x-request-id").expect("id header").to_owned();
    assert!(klyra.request_id().matches(&id), "{id}");
    assert_eq!(
        String::from_utf8_lossy(&ok.raw),
        id,
        "the handler saw the same id"
    );

    let failed = get(&base, "/nowhere", &[]).await;
    let id = failed.header("x-request-id").expect("id header");
    assert!(klyra.request_id().matches(id));
    assert_eq!(failed.json()["error"]["request_id"], id);

    let other = get(&base, "/whoami", &[]).await;
    assert_ne!(other.header("x-request-id"), ok.header("x-request-id"));
}

#[tokio::test]
async fn an_inbound_id_is_kept_only_from_the_trusted_header_and_only_when_safe() {
    let klyra = catalog("klyra");
    let trusting = Setup {
        trusted_request_id: Some("x-request-id"),
        ..Setup::default()
    };
    let base = serve(app(klyra.clone(), &trusting, Arc::default())).await;

    let kept = get(
        &base,
        "/nowhere",
        &[("x-request-id", "req_from.gateway:42")],
    )
    .await;
    assert_eq!(kept.header("x-request-id"), Some("req_from.gateway:42"));
    assert_eq!(kept.json()["error"]["request_id"], "req_from.gateway:42");

    for unsafe_id in ["has spaces", "quote\"s", &"x".repeat(129)] {
        let replaced = get(&base, "/whoami", &[("x-request-id", unsafe_id)]).await;
        let id = replaced.header("x-request-id").expect("id header");
        assert!(
            klyra.request_id().matches(id),
            "{unsafe_id:?} was not replaced: {id}"
        );
    }

    // Without a trusted header, a client cannot choose its id.
    let base = serve(app(klyra.clone(), &Setup::default(), Arc::default())).await;
    let ignored = get(
        &base,
        "/whoami",
        &[("x-request-id", "req_chosen_by_client")],
    )
    .await;
    let id = ignored.header("x-request-id").expect("id header");
    assert!(klyra.request_id().matches(id));
}
