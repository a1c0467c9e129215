//! Tenant isolation: another tenant's resource is answered exactly like a missing one.

use std::sync::Arc;

use serde_json::json;

use crate::common::{Reply, Setup, app, catalogs, client, serve};

async fn get(base: &str, path: &str, tenant: &str) -> Reply {
    Reply::from(
        client()
            .get(format!("{base}{path}"))
            .header("x-errata-tenant", tenant)
            .send()
            .await
            .expect("request"),
    )
    .await
}

#[tokio::test]
async fn another_tenants_resource_is_reported_exactly_like_a_missing_one() {
    for (name, catalog) in catalogs() {
        let base = serve(app(catalog.clone(), &Setup::default(), Arc::default())).await;

        let own = get(&base, "/items/1", "acme").await;
        assert_eq!(own.status, 200, "{name}");
        assert_eq!(own.json(), json!({"id": 1, "name": "Spring sale"}));

        // Item 1 exists for acme only. Globex asks for it; then globex asks a service where
        // item 1 exists for no one.
        let foreign = get(&base, "/items/1", "globex").await.view(&catalog);
        let empty = Setup {
            no_items: true,
            ..Setup::default()
        };
        let base = serve(app(catalog.clone(), &empty, Arc::default())).await;
        let missing = get(&base, "/items/1", "globex").await.view(&catalog);
        assert_eq!(
            foreign, missing,
            "{name}: another tenant's item looks missing"
        );
        assert_eq!(foreign["status"], 404, "{name}: never 403");
    }
}

#[tokio::test]
async fn the_default_catalog_says_which_resource_is_missing() {
    let (_, catalog) = catalogs().remove(0);
    let base = serve(app(catalog.clone(), &Setup::default(), Arc::default())).await;
    let reply = get(&base, "/items/1", "globex").await.view(&catalog);
    assert_eq!(
        reply["body"],
        json!({"error": {
            "code": "resource_not_found",
            "type": "not_found_error",
            "message": "Item '1' not found.",
            "param": null,
            "request_id": "[request_id]",
            "doc_url": "/errors#resource_not_found"
        }})
    );
}
