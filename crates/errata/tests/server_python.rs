//! The generated Python server packages, one per seed catalog, installed with pip into a virtual
//! environment with FastAPI, checked with mypy --strict, and tested with pytest: the shared case
//! table raised from FastAPI apps, real pydantic validation, the router's 404/405,
//! `HTTPException`, request ids, and a Starlette app without FastAPI. Skipped (failing under
//! `CI`) without python3 and its venv.

mod sdk_harness;

use std::process::Command;

use serde_json::json;

use sdk_harness::{must, root, run, temp_dir, venv};

/// The seed catalogs and the import package `errata server python` names for each.
const CATALOGS: &[(&str, &str)] = &[
    ("default.toml", "errata_server"),
    ("klayrai.toml", "klayrai_server"),
    ("klyra.toml", "klyra_server"),
    ("bearer.toml", "bearer_key_api_server"),
    ("kaplaix.toml", "kaplaix_server"),
];

/// Numbers as errata-core's JSON writes them, for the renderer's own to match.
fn floats() -> String {
    json!([
        2.5,
        20.0,
        20,
        -3,
        0.1,
        1e16,
        1.5e16,
        1e15,
        1e-5,
        1.5e-5,
        1e-7,
        -0.0,
        1e21,
        1.5e300,
        5e-324,
        123_456_789_012_345_680.0,
        0.000_123,
        9_007_199_254_740_993_u64,
    ])
    .to_string()
}

#[test]
fn python_server_packages_with_fastapi_and_starlette() {
    let Some(python) = venv(
        "server-python",
        &[
            "fastapi>=0.110,<1",
            "httpx>=0.27,<1",
            "pytest>=7",
            "mypy>=1.8",
            "hatchling>=1.18",
        ],
    ) else {
        return;
    };
    let dir = temp_dir("server-python");
    let mut packages = serde_json::Map::new();
    for (catalog, package) in CATALOGS {
        // Not named after the package: mypy and pytest run in `dir`, where a folder of the
        // package's name would shadow the installed one.
        let out = dir.join(catalog.trim_end_matches(".toml"));
        must(
            sdk_harness::errata()
                .args(["server", "python", "--catalog"])
                .arg(root().join("catalogs").join(catalog))
                .arg("-o")
                .arg(&out),
        );
        assert!(
            out.join("src").join(package).join("__init__.py").exists(),
            "{catalog} is generated as the import package {package}"
        );
        must(
            Command::new(&python)
                .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
                .args(["--no-deps", "--no-build-isolation", "--force-reinstall"])
                .arg(&out),
        );
        packages.insert((*catalog).to_owned(), json!(package));
    }
    // Typed throughout: mypy --strict on an installed package, FastAPI's types included.
    must(
        Command::new(&python)
            .args([
                "-m",
                "mypy",
                "--strict",
                "--no-incremental",
                "--cache-dir=/dev/null",
                "-p",
                "kaplaix_server",
            ])
            .current_dir(&dir),
    );
    let (ok, out) = run(Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(root().join("crates/errata-sdk/tests/server-python"))
        .current_dir(&dir)
        .env(
            "ERRATA_SERVER_PACKAGES",
            serde_json::Value::Object(packages).to_string(),
        )
        .env(
            "ERRATA_SERVER_CASES",
            root().join("crates/errata-sdk/cases/server.json"),
        )
        .env("ERRATA_FLOATS", floats()));
    println!("{out}");
    assert!(ok, "pytest failed:\n{out}");
}
