//! One suite for every key store: SQLite (a real file) and PostgreSQL (a real server) behave
//! the same.

#[path = "../../errata/tests/support/services.rs"]
mod services;

use std::sync::Arc;

use errata_store::db::{self, KeyStore, NewKey};
use errata_store::keys::{self, Environment};
use errata_store::plans::Limits;

async fn suite(store: Arc<dyn KeyStore>) {
    let new = NewKey {
        tenant: "acme".into(),
        name: "suite".into(),
        environment: Environment::Test,
        scopes: vec!["a:read".into(), "a:write".into()],
        plan: None,
        ip_allowlist: vec!["10.0.0.0/8".parse().unwrap()],
        limits: Some(Limits {
            rate: Some(5),
            per_seconds: 10,
            burst: 1,
            monthly_quota: Some(9),
            concurrency: None,
        }),
        expires_at: Some(2_000_000_000),
    };
    let secret = keys::generate("st", Environment::Test);
    let marker0 = store.change_marker().await.unwrap();
    let k = store
        .insert(&new, "pro", &secret.hash, &secret.hint, 1_000)
        .await
        .unwrap();
    assert!(k.id.starts_with("key_"));
    assert_eq!(k.key_hash, secret.hash);
    assert_eq!(
        (k.tenant.as_str(), k.name.as_str(), k.plan.as_str()),
        ("acme", "suite", "pro")
    );
    assert_eq!(k.environment, Environment::Test);
    assert_eq!(k.scopes, new.scopes);
    assert_eq!(k.ip_allowlist, new.ip_allowlist);
    assert_eq!(k.limits, new.limits);
    assert_eq!(
        (k.expires_at, k.created_at, k.last_used_at, k.revoked_at),
        (Some(2_000_000_000), 1_000, None, None)
    );

    assert_eq!(
        store.find_by_hash(&secret.hash).await.unwrap().as_ref(),
        Some(&k)
    );
    assert_eq!(store.find_by_hash(&keys::hash("nope")).await.unwrap(), None);
    assert_eq!(store.get(&k.id).await.unwrap().as_ref(), Some(&k));
    assert_eq!(store.get("key_nope").await.unwrap(), None);

    let other = keys::generate("st", Environment::Live);
    let k2 = store
        .insert(
            &NewKey {
                tenant: "globex".into(),
                name: "b".into(),
                ..NewKey::default()
            },
            "free",
            &other.hash,
            &other.hint,
            1_001,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .list(None)
            .await
            .unwrap()
            .iter()
            .map(|k| k.id.clone())
            .collect::<Vec<_>>(),
        vec![k.id.clone(), k2.id.clone()]
    );
    assert_eq!(store.list(Some("globex")).await.unwrap(), vec![k2.clone()]);
    assert!(store.list(Some("initech")).await.unwrap().is_empty());
    // Inserting keys does not invalidate caches; nothing cached can be wrong about a new key.
    assert_eq!(store.change_marker().await.unwrap(), marker0);

    store
        .touch(&[(k.id.clone(), 1_500), (k2.id.clone(), 1_200)])
        .await
        .unwrap();
    store.touch(&[(k.id.clone(), 1_400)]).await.unwrap();
    assert_eq!(
        store.get(&k.id).await.unwrap().unwrap().last_used_at,
        Some(1_500),
        "last use never goes back"
    );
    assert_eq!(
        store.change_marker().await.unwrap(),
        marker0,
        "use is not a change"
    );

    let revoked = store.revoke(&k2.id, 2_000).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(2_000));
    assert_eq!(
        store
            .revoke(&k2.id, 3_000)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(2_000),
        "the first revocation stands"
    );
    assert_eq!(store.revoke("key_nope", 3_000).await.unwrap(), None);
    let marker1 = store.change_marker().await.unwrap();
    assert_ne!(marker1, marker0, "a revocation is a change");

    let fresh = keys::generate("st", Environment::Test);
    let rotated = store
        .rotate(&k.id, &fresh.hash, &fresh.hint, 4_000)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(rotated.id, k.id);
    assert_eq!(
        (
            rotated.scopes.clone(),
            rotated.plan.clone(),
            rotated.limits.clone()
        ),
        (k.scopes.clone(), k.plan.clone(), k.limits.clone())
    );
    assert_eq!(rotated.created_at, 4_000);
    let old = store.get(&k.id).await.unwrap().unwrap();
    assert_eq!(
        (old.revoked_at, old.replaced_by.as_deref()),
        (Some(4_000), Some(rotated.id.as_str()))
    );
    assert_eq!(
        store.find_by_hash(&fresh.hash).await.unwrap().map(|r| r.id),
        Some(rotated.id.clone())
    );
    assert_eq!(
        store
            .rotate("key_nope", &fresh.hash, &fresh.hint, 5_000)
            .await
            .unwrap(),
        None
    );
    assert_ne!(store.change_marker().await.unwrap(), marker1);

    // A hash is unique: inserting it twice fails rather than shadowing a key.
    assert!(
        store
            .insert(&new, "pro", &fresh.hash, &fresh.hint, 6_000)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn sqlite_store() {
    let dir = std::env::temp_dir().join(format!("errata-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("keys.db").display());
    suite(db::open(&url).await.unwrap()).await;
    // Reopening runs the migrations again without harm and keeps the keys.
    let again = db::open(&url).await.unwrap();
    assert_eq!(again.list(None).await.unwrap().len(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Several processes (the gateway, `errata keys create`, ...) opening a file that does not exist
/// yet all get the store, with the schema made once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn openers_racing_on_a_new_sqlite_file_all_get_the_store() {
    let dir = std::env::temp_dir().join(format!("errata-store-race-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for round in 0..10 {
        let url = format!(
            "sqlite://{}",
            dir.join(format!("keys-{round}.db")).display()
        );
        let mut opens = tokio::task::JoinSet::new();
        for _ in 0..6 {
            let url = url.clone();
            opens.spawn(async move { db::open(&url).await.map(|_| ()) });
        }
        while let Some(r) = opens.join_next().await {
            if let Err(e) = r.unwrap() {
                panic!("round {round}: {e}");
            }
        }
        let s = db::open(&url).await.unwrap();
        assert!(s.list(None).await.unwrap().is_empty());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn postgres_store() {
    let Some(db) = services::postgres().await else {
        return;
    };
    suite(db::open(&db.url).await.unwrap()).await;
    let again = db::open(&db.url).await.unwrap();
    assert_eq!(again.list(None).await.unwrap().len(), 3);
}

#[tokio::test]
async fn postgres_notifies_every_change() {
    let Some(db) = services::postgres().await else {
        return;
    };
    let s = db::open(&db.url).await.unwrap();
    let mut changes = s.watch_changes().expect("PostgreSQL pushes changes");
    // The first message says the listener is up.
    tokio::time::timeout(std::time::Duration::from_secs(5), changes.recv())
        .await
        .unwrap()
        .unwrap();
    let secret = keys::generate("st", Environment::Live);
    let k = s
        .insert(
            &NewKey {
                tenant: "t".into(),
                name: "n".into(),
                ..NewKey::default()
            },
            "free",
            &secret.hash,
            &secret.hint,
            1,
        )
        .await
        .unwrap();
    let other = db::open(&db.url).await.unwrap();
    other.revoke(&k.id, 2).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), changes.recv())
        .await
        .expect("a revocation by another connection is notified")
        .unwrap();
}
