//! Opening a store only to read it never makes one: a SQLite file that is not there is an
//! error and stays not there; one that is there opens with what it holds.

use errata_store::db::{self, NewKey};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("errata-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn sqlite_file_names_the_file_of_a_sqlite_url_only() {
    assert_eq!(
        db::sqlite_file("sqlite:///var/lib/errata/keys.db"),
        Some("/var/lib/errata/keys.db".into())
    );
    assert_eq!(
        db::sqlite_file("sqlite://errata-keys.db"),
        Some("errata-keys.db".into())
    );
    assert_eq!(db::sqlite_file("sqlite::memory:"), None);
    assert_eq!(db::sqlite_file("postgres://postgres@127.0.0.1/test"), None);
}

#[tokio::test]
async fn a_missing_file_is_an_error_and_no_file_is_made() {
    let dir = temp_dir("open-missing");
    let url = format!("sqlite://{}", dir.join("keys.db").display());
    let err = match db::open_existing(&url).await {
        Ok(_) => panic!("a store that does not exist opened"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("unable to open database file"), "{err}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "no file made");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_existing_file_opens_with_its_keys() {
    let dir = temp_dir("open-existing");
    let url = format!("sqlite://{}", dir.join("keys.db").display());
    let made = db::open(&url).await.unwrap();
    let new = NewKey {
        tenant: "acme".into(),
        name: "kept".into(),
        ..NewKey::default()
    };
    let key = made
        .insert(&new, "free", "hash", "st_live_a…", 1)
        .await
        .unwrap();
    drop(made);
    let read = db::open_existing(&url).await.unwrap();
    assert_eq!(read.get(&key.id).await.unwrap(), Some(key));
    // In memory there is nothing to find: a new database, as `open` makes.
    assert!(db::open_existing("sqlite::memory:").await.is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}
