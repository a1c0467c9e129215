//! `errata keys` as a user runs it: the real binary against a SQLite store in a temporary
//! directory; exact output and exit codes. Keys the CLI cannot make as needed (revoked or used
//! at a known time, already expired) are written with the store itself first.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;

use errata_store::db::{self, KeyRecord, KeyStore, NewKey};
use errata_store::keys::{self, Environment};
use errata_store::plans::Limits;
use serde_json::{Value, json};

/// 2025-11-15T00:00:00Z: in the past, so a key that expires then is expired.
const T0: i64 = 1_763_164_800;
/// One day.
const DAY: i64 = 86_400;

/// A SQLite store in a fresh temporary directory, removed on drop.
struct Store {
    dir: PathBuf,
    url: String,
    db: Arc<dyn KeyStore>,
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn store(name: &str) -> Store {
    let dir = std::env::temp_dir().join(format!("errata-keys-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("keys.db").display());
    let db = db::open(&url).await.unwrap();
    Store { dir, url, db }
}

impl Store {
    /// `errata keys ARGS --store URL`.
    fn keys(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_errata"))
            .arg("keys")
            .args(args)
            .args(["--store", &self.url])
            .output()
            .unwrap()
    }

    /// A key written straight to the store, created at `created`.
    async fn insert(&self, new: NewKey, created: i64) -> KeyRecord {
        let secret = keys::generate("errata", new.environment);
        self.db
            .insert(&new, "default", &secret.hash, &secret.hint, created)
            .await
            .unwrap()
    }

    async fn get(&self, id: &str) -> KeyRecord {
        self.db.get(id).await.unwrap().unwrap()
    }
}

fn new_key(tenant: &str, name: &str) -> NewKey {
    NewKey {
        tenant: tenant.into(),
        name: name.into(),
        ..NewKey::default()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Unix seconds in RFC 3339, as a reader checks them by hand.
fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn rotate_refuses_a_revoked_key_and_says_what_to_do_instead() {
    let s = store("rotate-revoked").await;
    let o = s.keys(&[
        "create",
        "--tenant",
        "acme",
        "--name",
        "ci server",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let issued: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let id = issued["key"]["id"].as_str().unwrap().to_owned();
    s.db.revoke(&id, T0).await.unwrap();

    let o = s.keys(&["rotate", &id]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        format!(
            "error: {id} was revoked at 2025-11-15T00:00:00Z and cannot be rotated; create a new \
             key instead: errata keys create --tenant acme --name 'ci server' --store {}\n",
            s.url
        )
    );
    // Nothing was made or changed.
    assert_eq!(s.db.list(None).await.unwrap().len(), 1);
    let old = s.get(&id).await;
    assert_eq!((old.revoked_at, old.replaced_by), (Some(T0), None));
}

#[tokio::test]
async fn rotate_refuses_a_key_a_rotation_already_replaced() {
    let s = store("rotate-twice").await;
    let k = s.insert(new_key("acme", "ci"), T0 - DAY).await;
    let fresh = keys::generate("errata", Environment::Live);
    let new =
        s.db.rotate(&k.id, &fresh.hash, &fresh.hint, T0)
            .await
            .unwrap()
            .unwrap();

    let o = s.keys(&["rotate", &k.id]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "error: {} was revoked at 2025-11-15T00:00:00Z (replaced by {}) and cannot be \
             rotated; create a new key instead: errata keys create --tenant acme --name ci \
             --store {}\n",
            k.id, new.id, s.url
        )
    );
    assert_eq!(s.db.list(None).await.unwrap().len(), 2);
}

#[tokio::test]
async fn rotate_refuses_an_expired_key() {
    let s = store("rotate-expired").await;
    let k = s
        .insert(
            NewKey {
                expires_at: Some(T0),
                ..new_key("acme", "nightly")
            },
            T0 - 30 * DAY,
        )
        .await;

    let o = s.keys(&["rotate", &k.id]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        format!(
            "error: {} expired at 2025-11-15T00:00:00Z and cannot be rotated; create a new key \
             instead: errata keys create --tenant acme --name nightly --store {}\n",
            k.id, s.url
        )
    );
    let old = s.get(&k.id).await;
    assert_eq!((old.revoked_at, old.replaced_by), (None, None));
    assert_eq!(s.db.list(None).await.unwrap().len(), 1);
}

#[tokio::test]
async fn rotate_replaces_a_working_key() {
    let s = store("rotate-active").await;
    let k = s.insert(new_key("acme", "ci"), T0).await;

    let o = s.keys(&["rotate", &k.id, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let issued: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let new_id = issued["key"]["id"].as_str().unwrap();
    assert!(
        issued["secret"]
            .as_str()
            .unwrap()
            .starts_with("errata_live_")
    );
    let old = s.get(&k.id).await;
    assert_eq!(old.replaced_by.as_deref(), Some(new_id));
    assert!(old.revoked_at.is_some());
}

#[tokio::test]
async fn a_second_revoke_says_when_the_key_was_revoked() {
    let s = store("revoke-twice").await;
    let k = s.insert(new_key("acme", "ci"), T0).await;

    let o = s.keys(&["revoke", &k.id]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let revoked_at = s.get(&k.id).await.revoked_at.unwrap();
    assert_eq!(
        stdout(&o),
        format!("{} revoked at {}\n", k.id, rfc3339(revoked_at))
    );

    let o = s.keys(&["revoke", &k.id]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!("{} was already revoked at {}\n", k.id, rfc3339(revoked_at))
    );
    assert_eq!(stderr(&o), "");
    assert_eq!(
        s.get(&k.id).await.revoked_at,
        Some(revoked_at),
        "the first time stands"
    );

    // A key revoked at a known time: the exact words.
    let other = s.insert(new_key("acme", "old"), T0 - DAY).await;
    s.db.revoke(&other.id, T0).await.unwrap();
    let o = s.keys(&["revoke", &other.id]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o),
        format!("{} was already revoked at 2025-11-15T00:00:00Z\n", other.id)
    );

    let o = s.keys(&["revoke", "key_nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o), "error: no key `key_nope`\n");
}

#[tokio::test]
async fn list_prints_a_header_and_aligned_columns() {
    let s = store("list").await;
    let used = s
        .insert(
            NewKey {
                scopes: vec!["a:read".into(), "b:write".into()],
                ..new_key("acme", "ci server")
            },
            T0 - 2 * DAY,
        )
        .await;
    s.db.touch(&[(used.id.clone(), T0)]).await.unwrap();
    let revoked = s
        .insert(
            NewKey {
                environment: Environment::Test,
                ..new_key("globex", "x")
            },
            T0 - DAY,
        )
        .await;
    s.db.revoke(&revoked.id, T0).await.unwrap();
    let expired = s
        .insert(
            NewKey {
                expires_at: Some(T0),
                ..new_key("acme", "nightly")
            },
            T0 - DAY + 1,
        )
        .await;

    let o = s.keys(&["list"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Ids are `key_` and 16 characters; hints `errata_live_` or `errata_test_`, 4 more and `…`.
    assert_eq!(
        stdout(&o),
        format!(
            "ID                    PREFIX             TENANT  NAME       ENV   PLAN     STATUS   LAST USED             SCOPES\n\
             {}  {}  acme    ci server  live  default  active   2025-11-15T00:00:00Z  a:read,b:write\n\
             {}  {}  globex  x          test  default  revoked  never                 -\n\
             {}  {}  acme    nightly    live  default  expired  never                 -\n",
            used.id, used.hint, revoked.id, revoked.hint, expired.id, expired.hint
        )
    );

    let o = s.keys(&["list", "--tenant", "globex"]);
    assert_eq!(
        stdout(&o),
        format!(
            "ID                    PREFIX             TENANT  NAME  ENV   PLAN     STATUS   LAST USED  SCOPES\n\
             {}  {}  globex  x     test  default  revoked  never      -\n",
            revoked.id, revoked.hint
        )
    );
    let o = s.keys(&["list", "--tenant", "initech"]);
    assert_eq!(stdout(&o), "no keys of tenant initech\n");

    // JSON lines: each key as the admin API shows it, with its status.
    let o = s.keys(&["list", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[1],
        json!({
            "id": revoked.id, "hint": revoked.hint, "tenant": "globex", "name": "x",
            "environment": "test", "scopes": [], "plan": "default", "ip_allowlist": [],
            "limits": null, "expires_at": null, "created_at": T0 - DAY, "last_used_at": null,
            "revoked_at": T0, "replaced_by": null, "status": "revoked"
        })
    );
    let statuses: Vec<&str> = lines
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["active", "revoked", "expired"]);
}

#[tokio::test]
async fn show_prints_times_in_rfc3339_and_the_status() {
    let s = store("show").await;
    let k = s
        .insert(
            NewKey {
                scopes: vec!["events:write".into()],
                ip_allowlist: vec!["10.0.0.0/8".parse().unwrap()],
                limits: Some(Limits {
                    rate: Some(100),
                    per_seconds: 60,
                    burst: 5,
                    monthly_quota: Some(10_000),
                    concurrency: None,
                }),
                expires_at: Some(T0 + 30 * DAY),
                ..new_key("acme", "ci")
            },
            T0 - DAY,
        )
        .await;
    s.db.touch(&[(k.id.clone(), T0 - 3_600)]).await.unwrap();
    s.db.revoke(&k.id, T0).await.unwrap();

    let o = s.keys(&["show", &k.id]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!(
            "id:           {}\n\
             prefix:       {}\n\
             tenant:       acme\n\
             name:         ci\n\
             environment:  live\n\
             plan:         default\n\
             status:       revoked\n\
             scopes:       events:write\n\
             ip allowlist: 10.0.0.0/8\n\
             limits:       100 requests per 60 s (burst 5), 10000 requests a month\n\
             created:      2025-11-14T00:00:00Z\n\
             expires:      2025-12-15T00:00:00Z\n\
             revoked:      2025-11-15T00:00:00Z\n\
             last used:    2025-11-14T23:00:00Z\n",
            k.id, k.hint
        )
    );

    let fresh = s.insert(new_key("acme", "new"), T0).await;
    let o = s.keys(&["show", &fresh.id]);
    assert_eq!(
        stdout(&o),
        format!(
            "id:           {}\n\
             prefix:       {}\n\
             tenant:       acme\n\
             name:         new\n\
             environment:  live\n\
             plan:         default\n\
             status:       active\n\
             scopes:       none\n\
             ip allowlist: any\n\
             limits:       the plan's\n\
             created:      2025-11-15T00:00:00Z\n\
             expires:      never\n\
             last used:    never\n",
            fresh.id, fresh.hint
        )
    );

    // For scripts: the admin API's view, times in Unix seconds.
    let o = s.keys(&["show", &k.id, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (
            &v["status"],
            &v["created_at"],
            &v["revoked_at"],
            &v["last_used_at"]
        ),
        (
            &json!("revoked"),
            &json!(T0 - DAY),
            &json!(T0),
            &json!(T0 - 3_600)
        )
    );

    let o = s.keys(&["show", "key_nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o), "error: no key `key_nope`\n");
}
