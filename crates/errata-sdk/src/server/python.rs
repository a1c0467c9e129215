//! The Python server package's templates, rendered from the [`ServerModel`].
//!
//! Besides the model the templates see what only Python needs: the envelope and detail
//! templates as Python literals in the catalog's member order (minijinja's maps are sorted, and
//! the order of the envelope is the order of the body), and for each code the message
//! arguments of each of its variants, from which the typed constructor's overloads are made.

use minijinja::Error;
use serde::Serialize;
use serde_json::Value;

use super::{ServerCode, ServerModel};
use crate::File;
use crate::render::{Entry, render_all};

const FILES: &[Entry] = &[
    (
        "spy/pyproject.toml",
        "pyproject.toml",
        include_str!("../../templates/server-python/pyproject.toml"),
    ),
    (
        "spy/README.md",
        "README.md",
        include_str!("../../templates/server-python/README.md"),
    ),
    (
        "spy/__init__.py",
        "src/{pkg}/__init__.py",
        include_str!("../../templates/server-python/__init__.py"),
    ),
    ("spy/py.typed", "src/{pkg}/py.typed", ""),
    (
        "spy/_catalog.py",
        "src/{pkg}/_catalog.py",
        include_str!("../../templates/server-python/_catalog.py"),
    ),
    (
        "spy/_render.py",
        "src/{pkg}/_render.py",
        include_str!("../../templates/server-python/_render.py"),
    ),
    (
        "spy/_errors.py",
        "src/{pkg}/_errors.py",
        include_str!("../../templates/server-python/_errors.py"),
    ),
    (
        "spy/_validation.py",
        "src/{pkg}/_validation.py",
        include_str!("../../templates/server-python/_validation.py"),
    ),
    (
        "spy/_asgi.py",
        "src/{pkg}/_asgi.py",
        include_str!("../../templates/server-python/_asgi.py"),
    ),
    (
        "spy/starlette.py",
        "src/{pkg}/starlette.py",
        include_str!("../../templates/server-python/starlette.py"),
    ),
    (
        "spy/fastapi.py",
        "src/{pkg}/fastapi.py",
        include_str!("../../templates/server-python/fastapi.py"),
    ),
];

/// The server model with what the Python templates need beyond it.
#[derive(Serialize)]
struct PythonModel<'a> {
    #[serde(flatten)]
    model: &'a ServerModel,
    /// The envelope's body template as a Python literal, members in catalog order.
    envelope_py: String,
    /// The detail template as a Python literal, members in catalog order.
    detail_py: String,
    /// Per code (in `model.codes` order): its constructor's overloads.
    overloads: Vec<Vec<Overload>>,
}

/// One signature of a code's constructor: the variants it covers (none: the main message) and
/// the message arguments their template needs (required in that signature).
#[derive(Serialize)]
struct Overload {
    variants: Vec<String>,
    required: Vec<String>,
}

/// The overloads of a code's constructor: the main message first, then one per set of
/// variants needing the same arguments. Empty when the code has no variant (one signature).
fn overloads(code: &ServerCode, catalog: &Value) -> Vec<Overload> {
    if code.variants.is_empty() {
        return Vec::new();
    }
    let typed = |names: Vec<&str>| -> Vec<String> {
        code.args
            .iter()
            .filter(|a| a.python_ok && names.contains(&a.name.as_str()))
            .map(|a| a.name.clone())
            .collect()
    };
    let mut out = vec![Overload {
        variants: Vec::new(),
        required: typed(errata_core::template::names(&code.message)),
    }];
    let messages = &catalog["codes"][&code.code]["messages"];
    for variant in &code.variants {
        let template = messages[variant].as_str().unwrap_or_default();
        let required = typed(errata_core::template::names(template));
        match out[1..].iter_mut().find(|o| o.required == required) {
            Some(o) => o.variants.push(variant.clone()),
            None => out.push(Overload {
                variants: vec![variant.clone()],
                required,
            }),
        }
    }
    out
}

/// A JSON value as a Python literal: objects and arrays holding an object over several lines
/// (indented by four spaces a level, with a trailing comma), others on one line.
fn py_literal(v: &Value, indent: usize) -> String {
    let holds_object = |v: &Value| matches!(v, Value::Object(m) if !m.is_empty());
    let pad = " ".repeat(indent + 4);
    let end = " ".repeat(indent);
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => Value::String(s.clone()).to_string(),
        Value::Array(items) if items.iter().any(holds_object) => {
            let inner: Vec<String> = items
                .iter()
                .map(|v| format!("{pad}{},\n", py_literal(v, indent + 4)))
                .collect();
            format!("[\n{}{end}]", inner.concat())
        }
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(|v| py_literal(v, indent)).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) if map.values().any(holds_object) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{pad}{}: {},\n",
                        Value::String(k.clone()),
                        py_literal(v, indent + 4)
                    )
                })
                .collect();
            format!("{{\n{}{end}}}", inner.concat())
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), py_literal(v, indent)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

pub(super) fn render(model: &ServerModel) -> Result<Vec<File>, Error> {
    let ctx = PythonModel {
        model,
        envelope_py: py_literal(&model.catalog["envelope"], 0),
        detail_py: py_literal(&model.catalog["detail"], 0),
        overloads: model
            .codes
            .iter()
            .map(|c| overloads(c, &model.catalog))
            .collect(),
    };
    render_all(FILES, &ctx, &model.package)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_literals_keep_member_order() {
        let v: Value =
            serde_json::from_str(r#"{"z": {"b": "{x}", "a": [1, null, true]}, "y": "q\"uote"}"#)
                .unwrap();
        assert_eq!(
            py_literal(&v, 0),
            "{\n    \"z\": {\"b\": \"{x}\", \"a\": [1, None, True]},\n    \"y\": \"q\\\"uote\",\n}"
        );
    }
}
