//! Rendering the [`Model`] through the minijinja templates embedded from `templates/`, with
//! filters that write catalog text as string literals and comments of each language.

use minijinja::{Environment, Error, Value};

use crate::File;
use crate::model::Model;

/// A template and the path of the file it renders (`{pkg}` is the Python package's folder).
pub(crate) type Entry = (&'static str, &'static str, &'static str);

const PYTHON: &[Entry] = &[
    (
        "py/pyproject.toml",
        "pyproject.toml",
        include_str!("../templates/python/pyproject.toml"),
    ),
    (
        "py/README.md",
        "README.md",
        include_str!("../templates/python/README.md"),
    ),
    (
        "py/__init__.py",
        "src/{pkg}/__init__.py",
        include_str!("../templates/python/__init__.py"),
    ),
    ("py/py.typed", "src/{pkg}/py.typed", ""),
    (
        "py/_catalog.py",
        "src/{pkg}/_catalog.py",
        include_str!("../templates/python/_catalog.py"),
    ),
    (
        "py/_errors.py",
        "src/{pkg}/_errors.py",
        include_str!("../templates/python/_errors.py"),
    ),
    (
        "py/_retry.py",
        "src/{pkg}/_retry.py",
        include_str!("../templates/python/_retry.py"),
    ),
    (
        "py/_client.py",
        "src/{pkg}/_client.py",
        include_str!("../templates/python/_client.py"),
    ),
];

const TYPESCRIPT: &[Entry] = &[
    (
        "ts/package.json",
        "package.json",
        include_str!("../templates/typescript/package.json"),
    ),
    (
        "ts/README.md",
        "README.md",
        include_str!("../templates/typescript/README.md"),
    ),
    (
        "ts/index.js",
        "index.js",
        include_str!("../templates/typescript/index.js"),
    ),
    (
        "ts/index.d.ts",
        "index.d.ts",
        include_str!("../templates/typescript/index.d.ts"),
    ),
    (
        "ts/catalog.js",
        "catalog.js",
        include_str!("../templates/typescript/catalog.js"),
    ),
    (
        "ts/catalog.d.ts",
        "catalog.d.ts",
        include_str!("../templates/typescript/catalog.d.ts"),
    ),
    (
        "ts/errors.js",
        "errors.js",
        include_str!("../templates/typescript/errors.js"),
    ),
    (
        "ts/errors.d.ts",
        "errors.d.ts",
        include_str!("../templates/typescript/errors.d.ts"),
    ),
    (
        "ts/retry.js",
        "retry.js",
        include_str!("../templates/typescript/retry.js"),
    ),
    (
        "ts/retry.d.ts",
        "retry.d.ts",
        include_str!("../templates/typescript/retry.d.ts"),
    ),
    (
        "ts/client.js",
        "client.js",
        include_str!("../templates/typescript/client.js"),
    ),
    (
        "ts/client.d.ts",
        "client.d.ts",
        include_str!("../templates/typescript/client.d.ts"),
    ),
];

pub(crate) fn python(model: &Model) -> Result<Vec<File>, Error> {
    render_all(PYTHON, model, &model.package)
}

pub(crate) fn typescript(model: &Model) -> Result<Vec<File>, Error> {
    render_all(TYPESCRIPT, model, "")
}

/// Renders every entry with `model` as the context; `{pkg}` in a path becomes `pkg`.
pub(crate) fn render_all<M: serde::Serialize>(
    entries: &[Entry],
    model: &M,
    pkg: &str,
) -> Result<Vec<File>, Error> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    env.add_filter("str", string_literal);
    env.add_filter("py", python_literal);
    env.add_filter("js", js_literal);
    env.add_filter("doc", doc_text);
    for (name, _, source) in entries {
        env.add_template(name, source)?;
    }
    let ctx = Value::from_serialize(model);
    entries
        .iter()
        .map(|(name, path, _)| {
            Ok(File {
                path: path.replace("{pkg}", pkg),
                contents: env.get_template(name)?.render(&ctx)?,
            })
        })
        .collect()
}

/// A JSON string literal, which both Python and JavaScript read as the same string.
fn string_literal(value: Value) -> Result<String, Error> {
    let s = value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned);
    json(&serde_json::Value::String(s))
}

/// Any value as a Python literal (JSON, with `None`/`True`/`False`, tuples for paths).
fn python_literal(value: Value) -> Result<String, Error> {
    let v: serde_json::Value = serde_json::to_value(&value)
        .map_err(|e| Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string()))?;
    Ok(py(&v))
}

fn py(v: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match v {
        J::Null => "None".into(),
        J::Bool(true) => "True".into(),
        J::Bool(false) => "False".into(),
        J::Array(items) => {
            let inner: Vec<String> = items.iter().map(py).collect();
            if inner.len() == 1 {
                format!("({},)", inner[0])
            } else {
                format!("({})", inner.join(", "))
            }
        }
        J::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", py(&J::String(k.clone())), py(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        other => other.to_string(),
    }
}

/// Any value as a JavaScript literal (JSON is one).
fn js_literal(value: Value) -> Result<String, Error> {
    let v: serde_json::Value = serde_json::to_value(&value)
        .map_err(|e| Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string()))?;
    json(&v)
}

fn json(v: &serde_json::Value) -> Result<String, Error> {
    serde_json::to_string(v)
        .map_err(|e| Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string()))
}

/// Catalog text made safe inside a docstring or a block comment: one line, no closing
/// delimiter, no backslash.
fn doc_text(value: Value) -> String {
    let s = value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned);
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('\\', "/")
        .replace("\"\"\"", "\"")
        .replace("*/", "* /")
}
