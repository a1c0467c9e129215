//! Generated Python server packages, snapshotted: for each seed catalog every file's path, size
//! and digest, and Kaplaix's `_errors.py` in full (its classes, typed constructors and
//! overloads). A change to a template or a catalog shows up in review.

use errata_core::Catalog;
use errata_sdk::{ServerOptions, server_python};

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

#[test]
fn python_server_file_lists() {
    let mut out = String::new();
    for name in ["default", "klayrai", "klyra", "bearer", "kaplaix"] {
        let files = server_python(&catalog(name), &ServerOptions::default()).unwrap();
        out.push_str(&format!("# {name}\n"));
        for f in &files {
            out.push_str(&format!(
                "{}  ({} bytes, fnv {})\n",
                f.path,
                f.contents.len(),
                digest(&f.contents)
            ));
        }
        out.push('\n');
    }
    insta::assert_snapshot!("python_server_files", out);
}

#[test]
fn kaplaix_python_server_errors() {
    let files = server_python(&catalog("kaplaix"), &ServerOptions::default()).unwrap();
    let errors = files
        .iter()
        .find(|f| f.path == "src/kaplaix_server/_errors.py")
        .expect("the package has _errors.py");
    insta::assert_snapshot!("kaplaix_python_server_errors", errors.contents);
}

#[test]
fn the_package_option_names_the_import_package() {
    let options = ServerOptions {
        package: Some("acme_errors".into()),
    };
    let files = server_python(&catalog("kaplaix"), &options).unwrap();
    assert!(
        files
            .iter()
            .any(|f| f.path == "src/acme_errors/__init__.py")
    );
    let pyproject = files.iter().find(|f| f.path == "pyproject.toml").unwrap();
    assert!(pyproject.contents.contains("name = \"acme-errors\""));
    assert!(
        pyproject
            .contents
            .contains("packages = [\"src/acme_errors\"]")
    );
    let bad = ServerOptions {
        package: Some("acme-errors".into()),
    };
    assert!(server_python(&catalog("kaplaix"), &bad).is_err());
}
