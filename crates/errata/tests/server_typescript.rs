//! The generated TypeScript server packages, one per seed catalog, installed under their own
//! names (`@kaplaix/server`, `@errata/server`, ...) in a scratch npm project with Express, Hono
//! and Zod, and tested with node's test runner: the shared case table on Express and on Hono,
//! a real Zod schema, body-parser's and http-errors' errors, request ids. Their declarations
//! are checked by `tsc --noEmit --strict` on a consumer file using Express's and Hono's own
//! types. Skipped (failing under `CI`) without node >= 18 and npm.

mod sdk_harness;

use std::path::Path;
use std::process::Command;

use serde_json::json;

use sdk_harness::{must, npm_project, root, run};

/// The seed catalogs and the npm package each generates by default.
const CATALOGS: &[(&str, &str)] = &[
    ("default.toml", "@errata/server"),
    ("klayrai.toml", "@klayrai/server"),
    ("klyra.toml", "@klyra/server"),
    ("bearer.toml", "@bearer-key-api/server"),
    ("kaplaix.toml", "@kaplaix/server"),
];

/// Writes the package of `catalog` into the project's node_modules, where npm would put it.
fn generate(project: &Path, catalog: &str, package: &str) {
    let out = project.join("node_modules").join(package);
    let _ = std::fs::remove_dir_all(&out);
    let path = root().join("catalogs").join(catalog);
    must(
        sdk_harness::errata()
            .args(["server", "typescript", "--catalog"])
            .arg(&path)
            .arg("-o")
            .arg(&out),
    );
    let manifest = std::fs::read_to_string(out.join("package.json")).unwrap();
    assert!(
        manifest.contains(&format!("\"name\": \"{package}\"")),
        "{catalog} generates {package} by default:\n{manifest}"
    );
}

#[test]
fn typescript_server_packages_on_express_and_hono() {
    let Some(project) = npm_project(
        "server-typescript",
        json!({
            "typescript": "~5.6.3",
            "express": "^5",
            "@types/express": "^5",
            "http-errors": "^2",
            "hono": "^4",
            "zod": "^3",
        }),
    ) else {
        return;
    };
    for (catalog, package) in CATALOGS {
        generate(&project, catalog, package);
    }
    let tests = project.join("tests");
    let _ = std::fs::remove_dir_all(&tests);
    std::fs::create_dir_all(&tests).unwrap();
    let src = root().join("crates/errata-sdk/tests/server-typescript");
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, tests.join(path.file_name().unwrap())).unwrap();
    }
    // The public types, strictly, as a user's file sees them beside Express's and Hono's.
    must(
        Command::new("node")
            .arg(project.join("node_modules/typescript/bin/tsc"))
            .args([
                "--noEmit",
                "--strict",
                "--esModuleInterop",
                "--skipLibCheck",
                "--module",
                "nodenext",
                "--moduleResolution",
                "nodenext",
            ])
            .args(["--target", "es2022", "--lib", "es2022,dom"])
            .arg(tests.join("consumer.ts"))
            .current_dir(&project),
    );
    // The generated declarations themselves, with no framework's types around them (no
    // @types package: `types` is empty).
    let files: Vec<String> = CATALOGS
        .iter()
        .flat_map(|(_, p)| {
            ["index.d.ts", "express.d.ts", "hono.d.ts"].map(|f| format!("node_modules/{p}/{f}"))
        })
        .collect();
    let tsconfig = serde_json::json!({
        "compilerOptions": {
            "strict": true, "noEmit": true, "types": [],
            "module": "nodenext", "moduleResolution": "nodenext",
            "target": "es2022", "lib": ["es2022", "dom"],
        },
        "files": files,
    });
    std::fs::write(project.join("tsconfig.decl.json"), tsconfig.to_string()).unwrap();
    must(
        Command::new("node")
            .arg(project.join("node_modules/typescript/bin/tsc"))
            .args(["-p", "tsconfig.decl.json"])
            .current_dir(&project),
    );
    let packages: serde_json::Map<String, serde_json::Value> = CATALOGS
        .iter()
        .map(|(c, p)| ((*c).to_owned(), serde_json::Value::from(*p)))
        .collect();
    let (ok, out) = run(Command::new("node")
        .args(["--test", "--test-reporter=spec"])
        .arg(tests.join("cases.test.mjs"))
        .arg(tests.join("behavior.test.mjs"))
        .current_dir(&project)
        .env(
            "ERRATA_SERVER_CASES",
            root().join("crates/errata-sdk/cases/server.json"),
        )
        .env(
            "ERRATA_SERVER_PACKAGES",
            serde_json::Value::Object(packages).to_string(),
        ));
    println!("{out}");
    assert!(ok, "node --test failed:\n{out}");
}
