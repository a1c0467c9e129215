//! The generated Python SDK (Kaplaix), installed with pip into a virtual environment and
//! tested with pytest against a real `errata serve` in front of a fault-injecting upstream, plus
//! the shared table of retry cases. Skipped (failing under `CI`) without python3 and its venv.

mod sdk_harness;

use std::process::Command;

use sdk_harness::{gateway, must, root, run, suite_env, temp_dir, upstream, venv};

#[test]
fn python_sdk_against_a_real_gateway() {
    let Some(python) = venv(
        "sdk-python",
        &[
            "pytest>=7",
            "httpx>=0.23,<1",
            "hatchling>=1.18",
            "mypy>=1.5",
        ],
    ) else {
        return;
    };
    let dir = temp_dir("sdk-python");
    let sdk = dir.join("kaplaix-sdk");
    must(
        sdk_harness::errata()
            .args(["sdk", "python", "--catalog"])
            .arg(root().join("catalogs/kaplaix.toml"))
            .arg("-o")
            .arg(&sdk),
    );
    must(
        Command::new(&python)
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
            .args(["--no-deps", "--no-build-isolation", "--force-reinstall"])
            .arg(&sdk),
    );
    // Typed throughout: mypy --strict on the installed package.
    must(
        Command::new(&python)
            .args([
                "-m",
                "mypy",
                "--strict",
                "--no-incremental",
                "--cache-dir=/dev/null",
            ])
            .arg(sdk.join("src/kaplaix")),
    );
    let up = upstream();
    let gw = gateway(&dir, &up.url);
    let mut pytest = Command::new(&python);
    pytest
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(root().join("crates/errata-sdk/tests/python"))
        .current_dir(&dir);
    suite_env(&mut pytest, &gw, &up, &sdk);
    let (ok, out) = run(&mut pytest);
    println!("{out}");
    assert!(ok, "pytest failed:\n{out}");
}
