//! Generated SDKs, snapshotted: the whole Python and TypeScript trees for Kaplaix (the SDKs the
//! suites run), and for the default catalog and the other seed catalogs each file's path, size
//! and digest plus, in full, the files that carry the catalog's data and class names. Any change
//! to a template or a catalog shows up in review.

use errata_core::Catalog;
use errata_sdk::{File, Options, python, typescript};

fn catalog(name: &str) -> Catalog {
    if name == "default" {
        return Catalog::builtin().clone();
    }
    let path = format!("{}/../../catalogs/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    Catalog::from_file(&path).unwrap()
}

/// FNV-1a, 64 bits: a digest that needs no crate and never changes between platforms.
fn digest(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn tree(files: &[File], full: impl Fn(&str) -> bool) -> String {
    let mut out = String::new();
    for f in files {
        out.push_str(&format!(
            "{}  ({} lines, fnv {})\n",
            f.path,
            f.contents.lines().count(),
            digest(&f.contents)
        ));
    }
    for f in files.iter().filter(|f| full(&f.path)) {
        out.push_str(&format!("\n===== {} =====\n{}", f.path, f.contents));
    }
    out
}

fn data_file(path: &str) -> bool {
    [
        "_catalog.py",
        "__init__.py",
        "catalog.js",
        "catalog.d.ts",
        "index.js",
        "package.json",
    ]
    .iter()
    .any(|name| path.ends_with(name))
}

#[test]
fn kaplaix_in_full() {
    let c = catalog("kaplaix");
    let opts = Options::default();
    insta::assert_snapshot!(
        "kaplaix_python",
        tree(&python(&c, &opts).unwrap(), |_| true)
    );
    insta::assert_snapshot!(
        "kaplaix_typescript",
        tree(&typescript(&c, &opts).unwrap(), |_| true)
    );
}

#[test]
fn every_catalog() {
    for name in ["default", "klayrai", "klyra", "bearer"] {
        let c = catalog(name);
        let opts = Options::default();
        insta::assert_snapshot!(
            format!("{name}_python"),
            tree(&python(&c, &opts).unwrap(), data_file)
        );
        insta::assert_snapshot!(
            format!("{name}_typescript"),
            tree(&typescript(&c, &opts).unwrap(), data_file)
        );
    }
}

#[test]
fn generation_is_deterministic() {
    for name in ["default", "kaplaix", "klayrai", "klyra", "bearer"] {
        let c = catalog(name);
        let opts = Options::default();
        assert_eq!(
            python(&c, &opts).unwrap(),
            python(&c, &opts).unwrap(),
            "{name}"
        );
        assert_eq!(
            typescript(&c, &opts).unwrap(),
            typescript(&c, &opts).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn names_derive_from_the_catalog_and_can_be_overridden() {
    let c = catalog("kaplaix");
    let files = python(&c, &Options::default()).unwrap();
    let init = files
        .iter()
        .find(|f| f.path == "src/kaplaix/__init__.py")
        .unwrap();
    for name in [
        "Kaplaix,",
        "AsyncKaplaix",
        "KaplaixError,",
        "KaplaixNetworkError,",
        "KaplaixTimeoutError,",
        "RateLimitedError,",
    ] {
        assert!(init.contents.contains(name), "{name}");
    }
    let custom = Options {
        package: Some("kaplaix_events".into()),
        class: Some("Events".into()),
    };
    let files = python(&c, &custom).unwrap();
    let init = files
        .iter()
        .find(|f| f.path == "src/kaplaix_events/__init__.py")
        .unwrap();
    assert!(
        init.contents
            .contains("from ._client import Events, AsyncEvents")
    );
    assert!(init.contents.contains("    EventsTimeoutError,"));
    let ts = typescript(
        &c,
        &Options {
            package: Some("@acme/events".into()),
            class: Some("Events".into()),
        },
    )
    .unwrap();
    let pkg = ts.iter().find(|f| f.path == "package.json").unwrap();
    assert!(pkg.contents.contains(r#""name": "@acme/events""#));
    let index = ts.iter().find(|f| f.path == "index.d.ts").unwrap();
    assert!(index.contents.contains("isEventsError"));
}

#[test]
fn unusable_names_are_refused_with_the_fix() {
    let c = catalog("kaplaix");
    let bad_py = Options {
        package: Some("kaplaix-sdk".into()),
        class: None,
    };
    let e = python(&c, &bad_py).unwrap_err().to_string();
    assert!(
        e.contains("--package `kaplaix-sdk` is not a Python package name"),
        "{e}"
    );
    let bad_npm = Options {
        package: Some("@Kaplaix/SDK".into()),
        class: None,
    };
    let e = typescript(&c, &bad_npm).unwrap_err().to_string();
    assert!(e.contains("not an npm package name"), "{e}");
    let bad_class = Options {
        package: None,
        class: Some("2fast".into()),
    };
    let e = typescript(&c, &bad_class).unwrap_err().to_string();
    assert!(e.contains("--class `2fast` is not a class name"), "{e}");
}

#[test]
fn the_shared_table_parses() {
    let table: serde_json::Value = serde_json::from_str(errata_sdk::CASES_JSON).unwrap();
    let cases = table["cases"].as_array().unwrap();
    assert!(cases.len() >= 30);
    for c in cases {
        assert!(c["expect"]["retry"].is_boolean(), "{}", c["name"]);
    }
}
