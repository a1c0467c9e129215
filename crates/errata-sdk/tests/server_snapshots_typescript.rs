//! The generated TypeScript server packages, snapshotted small: for every seed catalog each
//! file's path, size and digest, so any change to a template or a catalog shows up in review;
//! and, for Kaplaix, the manifest and one code's declarations in full.

use errata_core::Catalog;
use errata_sdk::{File, ServerOptions, server_typescript};

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

fn files(name: &str) -> Vec<File> {
    server_typescript(&catalog(name), &ServerOptions::default()).unwrap()
}

fn file<'a>(files: &'a [File], path: &str) -> &'a str {
    &files.iter().find(|f| f.path == path).unwrap().contents
}

#[test]
fn every_catalog_tree() {
    let mut out = String::new();
    for name in ["default", "klayrai", "klyra", "bearer", "kaplaix"] {
        out.push_str(&format!("## {name}\n"));
        for f in files(name) {
            out.push_str(&format!(
                "{}  ({} lines, fnv {})\n",
                f.path,
                f.contents.lines().count(),
                digest(&f.contents)
            ));
        }
    }
    insta::assert_snapshot!(out);
}

#[test]
fn kaplaix_manifest_and_one_class() {
    let files = files("kaplaix");
    let decls = file(&files, "errors.d.ts");
    let start = decls
        .find("/** The message arguments of `NOT_FOUND`. */")
        .unwrap();
    let end = start + decls[start..].find("\n}\n").unwrap() + 3;
    let end = end + decls[end..].find("\n}\n").unwrap() + 3;
    insta::assert_snapshot!(format!(
        "===== package.json =====\n{}\n===== errors.d.ts (NOT_FOUND) =====\n{}",
        file(&files, "package.json"),
        &decls[start..end]
    ));
}

#[test]
fn generation_is_deterministic_and_names_the_package() {
    let a = files("klyra");
    let b = files("klyra");
    assert_eq!(a, b);
    assert!(file(&a, "package.json").contains("\"name\": \"@klyra/server\""));
    let named = server_typescript(
        &catalog("klyra"),
        &ServerOptions {
            package: Some("@acme/errors".into()),
        },
    )
    .unwrap();
    assert!(file(&named, "package.json").contains("\"name\": \"@acme/errors\""));
    assert!(file(&named, "errors.js").contains("Symbol.for(\"@acme/errors:error\")"));
}
