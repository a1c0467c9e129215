//! The seed catalogs reproduce their seed documents exactly.
//!
//! Each file of `tests/fixtures/seeds/` is data copied from one seed document: every row of its
//! code tables (code, status, description, resolution, retryability), its status table where it
//! has one, the fields of its body, and every example error body it shows. One helper,
//! [`run_fixture`], checks a fixture against its catalog in `catalogs/` and returns every
//! mismatch, each naming the file and entry, with a diff for bodies.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use errata_core::{ApiError, Catalog, Condition, Format, Severity, Violation, check};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The catalogs written from the seeds; every one must be covered by a fixture.
const SEED_CATALOGS: &[&str] = &["klayrai.toml", "klyra.toml", "bearer.toml", "kaplaix.toml"];

/// One seed document, as data.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    /// The seed document it was copied from (`/work/shared/seeds/...`), for the record.
    seed: String,
    /// The catalog file in `catalogs/`.
    catalog: String,
    /// Where rows come from and what was interpreted; not checked.
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
    /// The keys of the `error` object of a body, in order, when the seed lists them.
    #[serde(default)]
    envelope_fields: Option<Vec<String>>,
    /// The keys of one `details` entry, in order, when the seed lists them.
    #[serde(default)]
    detail_fields: Option<Vec<String>>,
    /// Every row of every code table.
    #[serde(default)]
    codes: Vec<CodeRow>,
    /// Every row of a table of HTTP statuses.
    #[serde(default)]
    statuses: Vec<StatusRow>,
    /// Every example error body.
    #[serde(default)]
    examples: Vec<Example>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeRow {
    code: String,
    status: u16,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    resolution: Option<String>,
    #[serde(default)]
    retryable: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusRow {
    status: u16,
    meaning: String,
    /// `None` for a status that is not an error (the seed's "—").
    retryable: Option<bool>,
    /// The seed's cell, for the record.
    #[allow(dead_code)]
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Example {
    name: String,
    error: ErrorSpec,
    status: u16,
    /// Headers the response must carry (lower-case names); others are not checked.
    #[serde(default)]
    headers: Map<String, Value>,
    body: Value,
}

/// How to build the [`ApiError`] of an example.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorSpec {
    code: String,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    args: Map<String, Value>,
    #[serde(default)]
    param: Option<String>,
    #[serde(default)]
    retry_after: Option<u64>,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    details: Vec<Violation>,
}

impl ErrorSpec {
    fn build(&self) -> ApiError {
        let mut err = ApiError::code(self.code.clone());
        if let Some(v) = &self.variant {
            err = err.variant(v.clone());
        }
        for (name, value) in &self.args {
            err = err.arg(name.clone(), value.clone());
        }
        if let Some(p) = &self.param {
            err = err.param(p.clone());
        }
        if let Some(s) = self.retry_after {
            err = err.retry_after(s);
        }
        if let Some(id) = &self.request_id {
            err = err.request_id(id.clone());
        }
        err.details(self.details.iter().cloned())
    }
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn catalog_path(file: &str) -> PathBuf {
    manifest_dir().join("../../catalogs").join(file)
}

fn fixture_paths() -> Vec<PathBuf> {
    let dir = manifest_dir().join("tests/fixtures/seeds");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn read_fixture(path: &Path) -> Fixture {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not a valid seed fixture: {e}", file_name(path)))
}

/// Loads a catalog, failing with every diagnostic when the lint finds errors; prints warnings.
fn load_catalog(file: &str) -> Catalog {
    let path = catalog_path(file);
    let src = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let shown = format!("catalogs/{file}");
    let (catalog, diags) = check(&src);
    assert!(
        !diags.has_errors(),
        "{shown} does not pass the lint:\n{}",
        diags.render(&shown)
    );
    let warnings: Vec<String> = diags
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(|d| d.display(&shown).to_string())
        .collect();
    if !warnings.is_empty() {
        eprintln!(
            "{shown}: {} warning(s):\n{}",
            warnings.len(),
            warnings.join("\n")
        );
    }
    catalog.unwrap_or_else(|| panic!("{shown} has no errors but did not build"))
}

/// A line diff of two pretty-printed JSON values: `-` expected, `+` actual.
fn diff(expected: &Value, actual: &Value) -> String {
    let pretty = |v: &Value| serde_json::to_string_pretty(v).expect("JSON serializes");
    let (e, a) = (pretty(expected), pretty(actual));
    let (e, a): (Vec<&str>, Vec<&str>) = (e.lines().collect(), a.lines().collect());
    // Longest common subsequence, so that one inserted key shows as one line.
    let mut lcs = vec![vec![0usize; a.len() + 1]; e.len() + 1];
    for i in (0..e.len()).rev() {
        for j in (0..a.len()).rev() {
            lcs[i][j] = if e[i] == a[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < e.len() || j < a.len() {
        if i < e.len() && j < a.len() && e[i] == a[j] {
            let _ = writeln!(out, "    {}", e[i]);
            i += 1;
            j += 1;
        } else if j < a.len() && (i == e.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            let _ = writeln!(out, "  + {}", a[j]);
            j += 1;
        } else {
            let _ = writeln!(out, "  - {}", e[i]);
            i += 1;
        }
    }
    out
}

/// The keys of the object under `error` of a JSON template or body, in order.
fn error_keys(body: &Value) -> Option<Vec<String>> {
    body.get("error")?
        .as_object()
        .map(|m| m.keys().cloned().collect())
}

/// Checks one fixture against its catalog; returns every mismatch, each naming file and entry.
fn run_fixture(path: &Path) -> Vec<String> {
    let file = file_name(path);
    let fx = read_fixture(path);
    let catalog = load_catalog(&fx.catalog);
    let mut fails = Vec::new();
    let mut fail = |entry: &str, msg: String| fails.push(format!("{file} [{entry}]: {msg}"));

    if !fx.seed.ends_with(".txt") {
        fail(
            "seed",
            format!("`{}` does not name a seed document", fx.seed),
        );
    }
    if fx.codes.is_empty() && fx.examples.is_empty() {
        fail("fixture", "has neither code rows nor examples".into());
    }

    if let Some(want) = &fx.envelope_fields {
        let got = error_keys(&catalog.envelope().body);
        if got.as_ref() != Some(want) {
            fail(
                "envelope_fields",
                format!("the envelope's error object has keys {got:?}, the seed {want:?}"),
            );
        }
    }
    if let Some(want) = &fx.detail_fields {
        let got: Option<Vec<String>> = catalog
            .envelope()
            .detail
            .as_object()
            .map(|m| m.keys().cloned().collect());
        if got.as_ref() != Some(want) {
            fail(
                "detail_fields",
                format!("a detail entry has keys {got:?}, the seed {want:?}"),
            );
        }
    }

    for row in &fx.codes {
        let entry = format!("codes.{}", row.code);
        let Some(def) = catalog.code(&row.code) else {
            fail(&entry, format!("no such code in catalogs/{}", fx.catalog));
            continue;
        };
        if def.status != row.status {
            fail(
                &entry,
                format!("status {} but the seed says {}", def.status, row.status),
            );
        }
        if let Some(kind) = row.kind.as_ref().filter(|k| **k != def.kind) {
            fail(
                &entry,
                format!("type `{}` but the seed says `{kind}`", def.kind),
            );
        }
        if let Some(d) = row.description.as_ref().filter(|d| **d != def.description) {
            fail(
                &entry,
                format!(
                    "description differs from the seed:\n  seed:    {d:?}\n  catalog: {:?}",
                    def.description
                ),
            );
        }
        if let Some(r) = row
            .resolution
            .as_ref()
            .filter(|r| def.resolution.as_deref() != Some(r.as_str()))
        {
            fail(
                &entry,
                format!(
                    "resolution differs from the seed:\n  seed:    {r:?}\n  catalog: {:?}",
                    def.resolution
                ),
            );
        }
        if let Some(r) = row.retryable.filter(|r| *r != def.retryable) {
            fail(
                &entry,
                format!("retryable = {} but the seed says {r}", def.retryable),
            );
        }
    }

    for row in &fx.statuses {
        let entry = format!("statuses.{} {}", row.status, row.meaning);
        let with_status: Vec<_> = catalog
            .codes()
            .iter()
            .filter(|c| c.status == row.status)
            .collect();
        match row.retryable {
            None => {
                if let Some(c) = with_status.first() {
                    fail(
                        &entry,
                        format!("not an error status, yet `{}` has it", c.code),
                    );
                }
            }
            Some(retryable) => {
                if with_status.is_empty() {
                    fail(
                        &entry,
                        "the seed lists this error status but no code has it".into(),
                    );
                }
                for c in with_status.iter().filter(|c| c.retryable != retryable) {
                    fail(
                        &entry,
                        format!(
                            "`{}` has retryable = {}, the seed says {retryable}",
                            c.code, c.retryable
                        ),
                    );
                }
            }
        }
    }

    for ex in &fx.examples {
        let entry = format!("examples.{}", ex.name);
        if catalog.code(&ex.error.code).is_none() {
            fail(
                &entry,
                format!("no code `{}` in catalogs/{}", ex.error.code, fx.catalog),
            );
            continue;
        }
        let out = catalog.render(&ex.error.build(), Format::Envelope);
        if out.status != ex.status {
            fail(
                &entry,
                format!("status {} but the seed shows {}", out.status, ex.status),
            );
        }
        if catalog.code(&ex.error.code).map(|d| d.status) != Some(ex.status) {
            fail(
                &entry,
                "the code's declared status is not the example's".into(),
            );
        }
        let expected_str = serde_json::to_string(&ex.body).expect("JSON serializes");
        let actual_str = serde_json::to_string(&out.body).expect("JSON serializes");
        if out.body != ex.body || actual_str != expected_str {
            fail(
                &entry,
                format!(
                    "body differs (- seed, + rendered):\n{}  seed:     {expected_str}\n  rendered: {actual_str}",
                    diff(&ex.body, &out.body)
                ),
            );
        }
        for (name, want) in &ex.headers {
            let want = want
                .as_str()
                .map_or_else(|| want.to_string(), str::to_owned);
            if out.header(name) != Some(want.as_str()) {
                fail(
                    &entry,
                    format!(
                        "header {name}: {:?}, the seed's example needs {want:?}",
                        out.header(name)
                    ),
                );
            }
        }
        if let Some(id) = ex
            .error
            .request_id
            .as_ref()
            .filter(|id| !catalog.request_id().matches(id))
        {
            fail(
                &entry,
                format!(
                    "request id {id} is not in the catalog's format {:?}",
                    catalog.request_id()
                ),
            );
        }
    }
    fails
}

#[test]
fn every_seed_fixture_renders_exactly() {
    let paths = fixture_paths();
    assert!(!paths.is_empty(), "no fixtures in tests/fixtures/seeds");
    let mut covered = BTreeSet::new();
    let mut fails = Vec::new();
    let mut examples = 0;
    let mut rows = 0;
    for path in &paths {
        let fx = read_fixture(path);
        covered.insert(fx.catalog.clone());
        examples += fx.examples.len();
        rows += fx.codes.len() + fx.statuses.len();
        fails.extend(run_fixture(path));
    }
    for c in SEED_CATALOGS {
        if !covered.contains(*c) {
            fails.push(format!(
                "catalogs/{c} has no fixture in tests/fixtures/seeds"
            ));
        }
    }
    assert!(
        fails.is_empty(),
        "{} mismatch(es) between the seeds and their catalogs:\n\n{}",
        fails.len(),
        fails.join("\n\n")
    );
    // 13 KlayrAI + 1 Klyra + 1 Kaplaix example bodies.
    assert_eq!(examples, 15, "every example body of the seeds is a fixture");
    eprintln!(
        "{} fixtures: {rows} table rows, {examples} example bodies",
        paths.len()
    );
}

#[test]
fn seed_catalogs_pass_the_lint() {
    for file in SEED_CATALOGS {
        let catalog = load_catalog(file);
        for cond in Condition::ALL {
            let def = catalog.code_for(*cond);
            assert!(
                cond.statuses().contains(&def.status),
                "catalogs/{file}: {cond} answered by {} with status {}",
                def.code,
                def.status
            );
        }
    }
}

/// Whether a rendered text still holds a `{placeholder}` nobody filled.
fn unfilled(text: &str) -> bool {
    text.contains('{') || text.contains('}')
}

#[test]
fn every_condition_renders_a_complete_message() {
    for file in SEED_CATALOGS {
        let catalog = load_catalog(file);
        for cond in Condition::ALL {
            let mut err = ApiError::condition(*cond).param("field");
            for (name, example) in cond.provided_args() {
                if *name == "retry_after" {
                    err = err.retry_after(example.parse().expect("a number of seconds"));
                } else {
                    err = err.arg(*name, *example);
                }
            }
            let message = catalog.message(&err);
            assert!(
                !unfilled(&message),
                "catalogs/{file}: condition {cond} renders {message:?}"
            );
            let out = catalog.render(&err, Format::Envelope);
            assert_eq!(out.status, catalog.code_for(*cond).status);
        }
    }
}

#[test]
fn every_code_renders_a_complete_message_with_its_example_args() {
    for file in SEED_CATALOGS {
        let catalog = load_catalog(file);
        for def in catalog.codes() {
            let variants = std::iter::once(None).chain(
                def.messages
                    .keys()
                    .filter(|v| v.parse::<Condition>().is_err())
                    .map(|v| Some(v.as_str())),
            );
            for variant in variants {
                let mut err = ApiError::code(def.code.clone()).param("field");
                if let Some(v) = variant {
                    err = err.variant(v);
                }
                for (name, value) in &def.args {
                    err = err.arg(name.clone(), value.clone());
                }
                let out = catalog.render(&err, Format::Envelope);
                let message = catalog.message(&err);
                assert_eq!(out.code, def.code, "catalogs/{file}");
                assert_eq!(out.status, def.status, "catalogs/{file}: {}", def.code);
                assert!(
                    !unfilled(&message),
                    "catalogs/{file}: {} (variant {variant:?}) renders {message:?}",
                    def.code
                );
            }
        }
    }
}
