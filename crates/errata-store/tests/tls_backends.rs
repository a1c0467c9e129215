//! The key store and the counters over TLS: PostgreSQL with `sslmode` and `sslrootcert`, Redis
//! with `rediss://` and `?ca=`; certificates from the wrong CA are refused with a clear error.

#[path = "../../errata/tests/support/certs.rs"]
mod certs;
#[path = "../../errata/tests/support/services.rs"]
mod services;

use std::time::Duration;

use certs::{TestCa, temp_dir};
use errata_store::counters::{self, Verdict};
use errata_store::db::{self, KeyStore};
use errata_store::plans::Limits;

async fn store_round_trip(store: &dyn KeyStore) {
    assert_eq!(store.list(None).await.unwrap().len(), 0);
    assert!(store.change_marker().await.is_ok());
}

#[tokio::test]
async fn postgres_over_tls_verifies_the_server_and_refuses_a_wrong_ca() {
    let Some(db) = services::postgres().await else {
        return;
    };
    let Some(server_cert) = services::postgres_server_cert().await else {
        return;
    };

    // `require`: encrypted, the certificate unchecked.
    let url = services::postgres_tls_url(&db.url, "sslmode=require");
    store_round_trip(&*db::open(&url).await.unwrap()).await;

    // `verify-full`: the certificate is checked against the CA and must name the host.
    let url = services::postgres_tls_url(
        &db.url,
        &format!("sslmode=verify-full&sslrootcert={}", server_cert.display()),
    );
    store_round_trip(&*db::open(&url).await.unwrap()).await;

    // `verify-ca` against a CA that did not sign the server's certificate.
    let dir = temp_dir("pg");
    let wrong = TestCa::new("not the server's CA").write(&dir, "ca.pem");
    let url = services::postgres_tls_url(
        &db.url,
        &format!("sslmode=verify-ca&sslrootcert={}", wrong.display()),
    );
    let e = db::open(&url).await.err().expect("a wrong CA is refused");
    assert!(
        e.to_string()
            .contains("invalid peer certificate: UnknownIssuer"),
        "{e}"
    );
}

fn limits() -> Limits {
    Limits {
        rate: Some(2),
        per_seconds: 60,
        burst: 0,
        monthly_quota: None,
        concurrency: None,
    }
}

#[tokio::test]
async fn redis_over_tls_counts_with_a_private_ca_and_refuses_others() {
    let dir = temp_dir("redis");
    let ca = TestCa::new("redis CA");
    let (cert, key) = ca.leaf(&["localhost"]).write(&dir, "cert.pem", "key.pem");
    let ca_file = ca.write(&dir, "ca.pem");
    let Some(redis) = services::redis_tls(cert, key, ca_file.clone()) else {
        return;
    };

    let url = format!("{}?ca={}&lease_ttl=30", redis.url, ca_file.display());
    let counters = counters::open(&url).await.unwrap();
    let mut admitted = 0;
    for _ in 0..3 {
        let out = counters.check("k_tls", &limits(), 1_000).await.unwrap();
        if matches!(out.verdict, Verdict::Allowed(_)) {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 2, "the rate limit is counted in the TLS Redis");

    // Without `ca`, the system's roots do not vouch for a private CA.
    let e = tokio::time::timeout(Duration::from_secs(5), counters::open(&redis.url))
        .await
        .unwrap()
        .err()
        .expect("refused");
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");

    // Another CA entirely.
    let wrong = TestCa::new("another CA").write(&dir, "wrong.pem");
    let url = format!("{}?ca={}", redis.url, wrong.display());
    let e = counters::open(&url).await.err().expect("refused");
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");

    // A CA file that is not there names itself.
    let url = format!("{}?ca={}", redis.url, dir.join("missing.pem").display());
    let e = counters::open(&url).await.err().expect("refused");
    assert!(
        e.to_string().contains(&format!(
            "{}: cannot read",
            dir.join("missing.pem").display()
        )),
        "{e}"
    );
}
