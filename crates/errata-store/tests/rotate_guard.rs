//! A rotation takes only a key that works, and only once: on SQLite (a real file) and
//! PostgreSQL (a real server), a revoked or expired key is not rotated, and of rotations and
//! revocations racing on one key exactly one rotation wins.

#[path = "../../errata/tests/support/services.rs"]
mod services;

use std::sync::Arc;

use errata_store::db::{self, KeyStore, NewKey};
use errata_store::keys::{self, Environment};

async fn key(store: &Arc<dyn KeyStore>, name: &str, expires_at: Option<i64>) -> String {
    let secret = keys::generate("rg", Environment::Live);
    store
        .insert(
            &NewKey {
                tenant: "acme".into(),
                name: name.into(),
                expires_at,
                ..NewKey::default()
            },
            "free",
            &secret.hash,
            &secret.hint,
            1_000,
        )
        .await
        .unwrap()
        .id
}

async fn rotate(store: &Arc<dyn KeyStore>, id: &str, now: i64) -> Option<String> {
    let fresh = keys::generate("rg", Environment::Live);
    store
        .rotate(id, &fresh.hash, &fresh.hint, now)
        .await
        .unwrap()
        .map(|k| k.id)
}

async fn suite(store: Arc<dyn KeyStore>) {
    // Revoked: refused, nothing made, the revocation kept as it was.
    let revoked = key(&store, "revoked", None).await;
    store.revoke(&revoked, 2_000).await.unwrap();
    assert_eq!(rotate(&store, &revoked, 3_000).await, None);
    let k = store.get(&revoked).await.unwrap().unwrap();
    assert_eq!((k.revoked_at, k.replaced_by), (Some(2_000), None));

    // Expired (at `now` included, as the status says): refused and untouched.
    let expired = key(&store, "expired", Some(3_000)).await;
    assert_eq!(rotate(&store, &expired, 3_000).await, None);
    let k = store.get(&expired).await.unwrap().unwrap();
    assert_eq!((k.revoked_at, k.replaced_by), (None, None));
    // The same key a second earlier still works.
    let replacement = rotate(&store, &expired, 2_999).await.unwrap();
    let k = store.get(&expired).await.unwrap().unwrap();
    assert_eq!(
        (k.revoked_at, k.replaced_by.as_deref()),
        (Some(2_999), Some(replacement.as_str()))
    );
    // A rotated key is revoked: it cannot be rotated again.
    assert_eq!(rotate(&store, &expired, 2_999).await, None);
    assert_eq!(store.list(None).await.unwrap().len(), 3);

    // Eight rotations of one key at once: one wins, seven find it revoked.
    let raced = key(&store, "raced", None).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (store, raced) = (Arc::clone(&store), raced.clone());
        tasks.spawn(async move { rotate(&store, &raced, 4_000 + i).await });
    }
    let mut winners = Vec::new();
    while let Some(r) = tasks.join_next().await {
        winners.extend(r.unwrap());
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let k = store.get(&raced).await.unwrap().unwrap();
    assert_eq!(k.replaced_by.as_ref(), Some(&winners[0]));
    assert_eq!(store.list(None).await.unwrap().len(), 5);

    // A rotation and a revocation at once: whichever comes first, the key ends revoked once,
    // and replaced only if the rotation came first.
    for round in 0..5 {
        let id = key(&store, &format!("race {round}"), None).await;
        let before = store.list(None).await.unwrap().len();
        let (rotated, revoked) = tokio::join!(rotate(&store, &id, 5_000), store.revoke(&id, 6_000));
        let k = store.get(&id).await.unwrap().unwrap();
        let revoked = revoked.unwrap().unwrap();
        assert_eq!(k.replaced_by, rotated);
        assert_eq!(revoked.revoked_at, k.revoked_at);
        let expected = if rotated.is_some() { 5_000 } else { 6_000 };
        assert_eq!(k.revoked_at, Some(expected));
        assert_eq!(
            store.list(None).await.unwrap().len(),
            before + usize::from(rotated.is_some())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_rotates_only_a_working_key_once() {
    let dir = std::env::temp_dir().join(format!("errata-rotate-guard-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("keys.db").display());
    suite(db::open(&url).await.unwrap()).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_rotates_only_a_working_key_once() {
    let Some(db) = services::postgres().await else {
        return;
    };
    suite(db::open(&db.url).await.unwrap()).await;
}
