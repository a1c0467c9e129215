//! The shared table of server rendering cases, `crates/errata-sdk/cases/server.json`: one
//! failure in, the exact status, headers and body out, for every seed catalog.
//!
//! errata-core is the reference: this test renders every case and compares it with the table,
//! and checks that every example body of the seeds (`tests/fixtures/seeds/`) is in the table
//! unchanged. errata-axum, the gateway's raise form and the generated Python and TypeScript
//! server packages run the same table.
//!
//! The table is generated from the seed fixtures and the cases listed below. After changing a
//! catalog or this list, rewrite it with
//! `ERRATA_UPDATE_CASES=1 cargo test -p errata-core --test server_cases` and review the diff.

use std::path::PathBuf;

use errata_core::{Catalog, Condition, Format, PROBLEM_JSON};
use serde_json::{Map, Value, json};

const CATALOGS: &[&str] = &[
    "default.toml",
    "klayrai.toml",
    "klyra.toml",
    "bearer.toml",
    "kaplaix.toml",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn table_path() -> PathBuf {
    root().join("crates/errata-sdk/cases/server.json")
}

fn load(file: &str) -> Catalog {
    Catalog::from_file(root().join("catalogs").join(file))
        .unwrap_or_else(|d| panic!("catalogs/{file}: {}", d.render(file)))
}

/// The status, headers and body errata-core renders for a case.
fn render(catalog: &Catalog, case: &Value) -> (u16, Value, Value) {
    let format = match case.get("accept").and_then(Value::as_str) {
        Some(a) => Format::from_accept(Some(a)),
        None => Format::Envelope,
    };
    let body = serde_json::to_vec(&case["raise"]).expect("JSON");
    let err = errata_core::raise::parse(&body)
        .unwrap_or_else(|e| panic!("{}: {e}", case["name"]))
        .request_id(case["request_id"].as_str().expect("request_id"))
        .instance(case["path"].as_str().expect("path"));
    let out = catalog.render(&err, format);
    let headers: Map<String, Value> = out
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), Value::String(v.clone())))
        .collect();
    (out.status, Value::Object(headers), out.body)
}

/// The raise form of a condition as a framework meets it: the catalog's code for it, with the
/// condition's own message variant.
fn condition_raise(catalog: &Catalog, c: Condition, args: Value) -> Value {
    let mut raise = json!({"code": catalog.code_for(c).code, "variant": c.name()});
    if args.as_object().is_some_and(|m| !m.is_empty()) {
        raise["args"] = args;
    }
    raise
}

/// One body that fails validation three ways, as pydantic v2 (through FastAPI) and Zod 3 report
/// it, and the details every server sends for it.
fn validation_inputs() -> (Value, Value, Value) {
    let pydantic = json!([
        {"type": "string_too_short", "loc": ["body", "name"], "msg": "String should have at least 3 characters", "input": "ab", "ctx": {"min_length": 3}},
        {"type": "int_parsing", "loc": ["body", "budget"], "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "lots"},
        {"type": "missing", "loc": ["body", "title"], "msg": "Field required", "input": {"name": "ab", "budget": "lots"}}
    ]);
    let zod = json!([
        {"code": "too_small", "minimum": 3, "type": "string", "inclusive": true, "exact": false, "message": "String must contain at least 3 character(s)", "path": ["name"]},
        {"code": "invalid_type", "expected": "number", "received": "string", "path": ["budget"], "message": "Expected number, received string"},
        {"code": "invalid_type", "expected": "string", "received": "undefined", "path": ["title"], "message": "Required"}
    ]);
    let details = json!([
        {"path": ["name"], "message": "String must contain at least 3 character(s)", "code": "too_small"},
        {"path": ["budget"], "message": "Expected number, received string", "code": "invalid_type"},
        {"path": ["title"], "message": "Required", "code": "invalid_type"}
    ]);
    (pydantic, zod, details)
}

/// Every case of the table, without its expected outputs, in table order.
fn inputs() -> Vec<Value> {
    let mut cases = Vec::new();
    let mut push = |catalog: &str, mut case: Value| {
        let n = cases.len() + 1;
        let stem = catalog.trim_end_matches(".toml");
        case["catalog"] = Value::String(catalog.to_owned());
        case["path"] = Value::String(format!("/v1/cases/{n}"));
        if case.get("request_id").is_none() {
            let prefix = load(catalog).request_id().prefix.clone();
            case["request_id"] = Value::String(format!("{prefix}case{stem}{n:03}"));
        }
        let name = format!("{stem}: {}", case["name"].as_str().unwrap_or_default());
        case["name"] = Value::String(name);
        cases.push(case);
    };

    // Every example of the seeds, in the envelope (the seed's own body) and as problem+json.
    let dir = root().join("crates/errata-core/tests/fixtures/seeds");
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("seed fixtures")
        .map(|e| e.expect("entry").path())
        .collect();
    fixtures.sort();
    for path in fixtures {
        let fx: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json");
        let catalog = fx["catalog"].as_str().expect("catalog").to_owned();
        for ex in fx["examples"].as_array().into_iter().flatten() {
            let mut raise = ex["error"].clone();
            let request_id = raise.as_object_mut().and_then(|m| m.remove("request_id"));
            for accept in [None, Some(PROBLEM_JSON)] {
                let mut case = json!({
                    "name": format!("seed example {}", ex["name"].as_str().unwrap_or_default()),
                    "raise": raise,
                });
                if let Some(id) = &request_id {
                    case["request_id"] = id.clone();
                }
                if let Some(a) = accept {
                    case["accept"] = Value::String(a.to_owned());
                    case["name"] = Value::String(format!(
                        "{} as problem+json",
                        case["name"].as_str().unwrap_or_default()
                    ));
                } else {
                    case["seed"] = ex["body"].clone();
                }
                push(&catalog, case);
            }
        }
    }

    // What every catalog's servers meet from their frameworks.
    let (pydantic, zod, details) = validation_inputs();
    for &file in CATALOGS {
        let catalog = load(file);
        for accept in [None, Some(PROBLEM_JSON)] {
            let mut raise = condition_raise(&catalog, Condition::InvalidFields, json!({}));
            raise["details"] = details.clone();
            let mut case = json!({
                "name": "a request body that fails validation",
                "condition": "invalid_fields",
                "pydantic": pydantic,
                "zod": zod,
                "raise": raise,
            });
            if let Some(a) = accept {
                case["accept"] = Value::String(a.to_owned());
                case["name"] = Value::String(
                    "a request body that fails validation, as problem+json".to_owned(),
                );
            }
            push(file, case);
        }
        push(
            file,
            json!({
                "name": "no route matches the request",
                "condition": "route_not_found",
                "raise": Value::Null,
            }),
        );
        push(
            file,
            json!({
                "name": "an unexpected exception",
                "condition": "internal_error",
                "raise": condition_raise(&catalog, Condition::InternalError, json!({})),
            }),
        );
        let limited = catalog.code_for(Condition::RateLimited);
        let mut raise = json!({"code": limited.code, "retry_after": 12});
        let args: Map<String, Value> = errata_core::template::names(&limited.message)
            .into_iter()
            .filter(|n| *n != "param" && *n != "retry_after")
            .map(|n| {
                let v = limited
                    .example_arg(n)
                    .cloned()
                    .unwrap_or_else(|| Value::from(100));
                (n.to_owned(), v)
            })
            .collect();
        if !args.is_empty() {
            raise["args"] = Value::Object(args);
        }
        push(
            file,
            json!({
                "name": "a raised code with Retry-After, as problem+json",
                "accept": PROBLEM_JSON,
                "raise": raise,
            }),
        );
    }

    // The route-not-found cases raise the request's own method and path.
    for case in &mut cases {
        if case["condition"] == "route_not_found" {
            let catalog = load(case["catalog"].as_str().expect("catalog"));
            let path = case["path"].clone();
            case["raise"] = condition_raise(
                &catalog,
                Condition::RouteNotFound,
                json!({"method": "GET", "path": path}),
            );
        }
    }
    cases
}

/// The whole table: the inputs with what errata-core renders for each.
fn generate() -> Value {
    let mut cases = inputs();
    for case in &mut cases {
        let catalog = load(case["catalog"].as_str().expect("catalog"));
        let (status, headers, body) = render(&catalog, case);
        case["status"] = Value::from(status);
        case["headers"] = headers;
        case["body"] = body;
    }
    json!({
        "about": "One truth for every errata server: a failure in, the exact answer out. Each case names a catalog in catalogs/, the request's path and request id (sent in the catalog's request-id header, which the server trusts), and optionally its Accept header. `raise` is the failure as a raise-form body (application/vnd.errata+json: code, variant, args, param, details, retry_after): raise that code with those arguments. `condition` says how a framework meets the failure instead: `invalid_fields` is a request validation failure, reported by pydantic as `pydantic` and by Zod as `zod`; `route_not_found` is a GET of `path` that no route matches; `internal_error` is an unexpected exception. `status`, `headers` (every header the error rendering sets, lower-case names) and `body` (compared as JSON, member order included) are the answer. `seed` is the seed document's example body where the case is one: `body` equals it. problem+json bodies carry `instance`, the request's path. Generated by crates/errata-core/tests/server_cases.rs; do not edit by hand.",
        "cases": cases,
    })
}

#[test]
fn the_server_case_table_is_what_errata_core_renders() {
    let want = generate();
    let text = serde_json::to_string_pretty(&want).expect("serializes") + "\n";
    let path = table_path();
    if std::env::var_os("ERRATA_UPDATE_CASES").is_some() {
        std::fs::write(&path, &text).expect("write the table");
        return;
    }
    let have = std::fs::read_to_string(&path).expect("read crates/errata-sdk/cases/server.json");
    let have: Value = serde_json::from_str(&have).expect("the table is JSON");
    let (have_cases, want_cases) = (
        have["cases"].as_array().expect("cases"),
        want["cases"].as_array().expect("cases"),
    );
    let mut fails = Vec::new();
    for (i, want) in want_cases.iter().enumerate() {
        match have_cases.get(i) {
            Some(have) if have == want => {}
            Some(have) => fails.push(format!(
                "case {} `{}`:\n  table:    {have}\n  rendered: {want}",
                i + 1,
                want["name"].as_str().unwrap_or_default()
            )),
            None => fails.push(format!("case {} missing from the table", i + 1)),
        }
    }
    if have_cases.len() > want_cases.len() {
        fails.push(format!(
            "the table has {} cases, errata-core renders {}",
            have_cases.len(),
            want_cases.len()
        ));
    }
    assert!(
        fails.is_empty(),
        "{} case(s) differ; rewrite with ERRATA_UPDATE_CASES=1 and review:\n{}",
        fails.len(),
        fails.join("\n")
    );
}

#[test]
fn every_seed_example_is_in_the_table_with_its_exact_body() {
    let table = generate();
    let seeds: Vec<&Value> = table["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter(|c| c.get("seed").is_some())
        .collect();
    assert_eq!(seeds.len(), 15, "the seeds show 15 example bodies");
    for case in seeds {
        let (want, got) = (
            serde_json::to_string(&case["seed"]).expect("json"),
            serde_json::to_string(&case["body"]).expect("json"),
        );
        assert_eq!(got, want, "{}", case["name"]);
    }
}
