//! Server packages generated from a catalog: a Python package for FastAPI/Starlette and an npm
//! package for Express and Hono, which raise the catalog's codes and render them exactly as
//! errata-core does (the envelope or problem+json, by the client's `Accept`).
//!
//! Both embed the same data, [`ServerModel::catalog`]: the envelope and detail templates, the
//! request-id format, every code with its message and variants, the code of each condition
//! and the code for each status. Their renderers are small ports of errata-core's, held to it
//! by the shared case table [`crate::SERVER_CASES_JSON`].

mod python;
mod typescript;

use errata_core::{Catalog, Condition, reason_phrase};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::model::OptionError;
use crate::{File, SdkError, names};

/// Choices for a server package; `None` derives them from the catalog's name.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// The Python import package (`kaplaix_server`) or the npm package (`@kaplaix/server`).
    pub package: Option<String>,
}

/// What the server templates see.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ServerModel {
    pub api_name: String,
    pub description: Option<String>,
    pub catalog_version: Option<String>,
    /// The package's own version.
    pub version: &'static str,
    pub errata_version: &'static str,
    /// The Python import package or the npm package name.
    pub package: String,
    /// The pip distribution name (`kaplaix-server`); the npm name again for TypeScript.
    pub distribution: String,
    /// The base class of every code's class (`KaplaixError`).
    pub error: String,
    /// Every code with its class and typed arguments, in catalog order.
    pub codes: Vec<ServerCode>,
    /// The data the runtime renderer reads; see [`catalog_data`].
    pub catalog: Value,
    /// [`Self::catalog`] as compact JSON text with its members in order (templates see maps
    /// sorted by key; the envelope's member order is the body's).
    pub catalog_json: String,
    /// The code answering request validation failures, and its class.
    pub validation_code: String,
    pub internal_code: String,
}

/// One code of the catalog as a class.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ServerCode {
    pub code: String,
    pub class: String,
    pub status: u16,
    pub kind: String,
    pub title: String,
    pub description: String,
    pub retryable: bool,
    /// The main message template.
    pub message: String,
    /// The message arguments, the main message's first (required), then those only named
    /// variants use (optional). `param` and `retry_after` are not among them: every class
    /// takes those as its own arguments.
    pub args: Vec<ServerArg>,
    /// The names of the code's message variants.
    pub variants: Vec<String>,
}

/// One message argument of a code.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ServerArg {
    pub name: String,
    /// Required: the main message uses it.
    pub required: bool,
    /// `int`, `float`, `str`, `bool`, from the catalog's example value; `any` without one.
    pub kind: &'static str,
    /// Usable as a Python keyword argument (an identifier, not a keyword).
    pub python_ok: bool,
    /// Usable as a JavaScript property name without quotes.
    pub js_ok: bool,
}

const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// Constructor arguments every class has besides the message arguments.
const RESERVED_ARGS: &[&str] = &[
    "param",
    "retry_after",
    "details",
    "variant",
    "args",
    "headers",
    "self",
    "cause",
];

fn is_ident(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn arg_kind(example: Option<&Value>) -> &'static str {
    match example {
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => "int",
        Some(Value::Number(_)) => "float",
        Some(Value::String(_)) => "str",
        Some(Value::Bool(_)) => "bool",
        _ => "any",
    }
}

/// The statuses a framework can hand a server package without a code (an `HTTPException`):
/// every status the catalog uses and every error status with a reason phrase.
fn fallback_statuses(catalog: &Catalog) -> Vec<u16> {
    let mut out: Vec<u16> = catalog.codes().iter().map(|c| c.status).collect();
    out.extend((400..=599).filter(|s| {
        let phrase = reason_phrase(*s);
        phrase != "Client Error" && phrase != "Server Error"
    }));
    out.sort_unstable();
    out.dedup();
    out
}

/// The catalog as the runtime renderers read it:
///
/// ```json
/// {"name", "doc_url", "content_type", "envelope", "detail", "null_if_absent",
///  "request_id": {"header", "prefix", "charset", "length"},
///  "codes": {"<code>": {"status", "type", "title", "message", "messages", "description", "retryable"}},
///  "conditions": {"<condition>": "<code>"},
///  "statuses": {"<status>": "<code>"}}
/// ```
///
/// `title` is already resolved (the declared one or the code in words), as errata-core's
/// `CodeDef::title` gives it. `statuses` maps a status to the code errata-core's
/// `Catalog::code_for_status` picks for it.
pub(crate) fn catalog_data(catalog: &Catalog) -> Value {
    let env = catalog.envelope();
    let rid = catalog.request_id();
    let codes: Map<String, Value> = catalog
        .codes()
        .iter()
        .map(|d| {
            (
                d.code.clone(),
                json!({
                    "status": d.status,
                    "type": d.kind,
                    "title": d.title(),
                    "message": d.message,
                    "messages": d.messages,
                    "description": d.description,
                    "retryable": d.retryable,
                }),
            )
        })
        .collect();
    let conditions: Map<String, Value> = Condition::ALL
        .iter()
        .map(|c| {
            (
                c.name().to_owned(),
                Value::String(catalog.code_for(*c).code.clone()),
            )
        })
        .collect();
    let statuses: Map<String, Value> = fallback_statuses(catalog)
        .into_iter()
        .map(|s| {
            (
                s.to_string(),
                Value::String(catalog.code_for_status(s).code.clone()),
            )
        })
        .collect();
    json!({
        "name": catalog.name(),
        "doc_url": catalog.doc_url(),
        "content_type": env.content_type,
        "envelope": env.body,
        "detail": env.detail,
        "null_if_absent": env.null_if_absent,
        "request_id": {
            "header": rid.header,
            "prefix": rid.prefix,
            "charset": rid.charset.name(),
            "length": rid.length,
        },
        "codes": codes,
        "conditions": conditions,
        "statuses": statuses,
    })
}

fn build(catalog: &Catalog, package: String, distribution: String) -> ServerModel {
    let class = names::class_name(catalog.name());
    let error = format!("{class}Error");
    let reserved = [
        error.clone(),
        format!("{class}Exception"),
        "ErrataError".to_owned(),
    ];
    let defs = catalog.codes();
    let classes = names::code_classes(defs.iter().map(|d| d.code.as_str()), &reserved);
    let codes = defs
        .iter()
        .zip(classes)
        .map(|(d, class)| {
            let mut args: Vec<ServerArg> = Vec::new();
            let mut add = |name: &str, required: bool| {
                if RESERVED_ARGS.contains(&name) || args.iter().any(|a| a.name == name) {
                    return;
                }
                args.push(ServerArg {
                    name: name.to_owned(),
                    required,
                    kind: arg_kind(d.example_arg(name)),
                    python_ok: is_ident(name) && !PYTHON_KEYWORDS.contains(&name),
                    js_ok: is_ident(name),
                });
            };
            for name in errata_core::template::names(&d.message) {
                add(name, true);
            }
            for template in d.messages.values() {
                for name in errata_core::template::names(template) {
                    add(name, false);
                }
            }
            ServerCode {
                code: d.code.clone(),
                class,
                status: d.status,
                kind: d.kind.clone(),
                title: d.title(),
                description: d.description.clone(),
                retryable: d.retryable,
                message: d.message.clone(),
                args,
                variants: d.messages.keys().cloned().collect(),
            }
        })
        .collect();
    let data = catalog_data(catalog);
    ServerModel {
        api_name: catalog.name().to_owned(),
        description: catalog.description().map(str::to_owned),
        catalog_version: catalog.version().map(str::to_owned),
        version: "0.1.0",
        errata_version: env!("CARGO_PKG_VERSION"),
        package,
        distribution,
        error,
        codes,
        catalog_json: data.to_string(),
        catalog: data,
        validation_code: catalog.code_for(Condition::InvalidFields).code.clone(),
        internal_code: catalog.code_for(Condition::InternalError).code.clone(),
    }
}

/// The Python server package: `pyproject.toml`, `README.md` and `src/<package>/` (typed,
/// `py.typed`), installable with `pip install DIR`, with no runtime dependency; its FastAPI /
/// Starlette adapter imports the framework the application already has.
///
/// # Errors
///
/// [`SdkError::Option`] when `--package` is not a Python identifier.
pub fn server_python(catalog: &Catalog, options: &ServerOptions) -> Result<Vec<File>, SdkError> {
    let package = match &options.package {
        Some(p) if names::is_python_identifier(p) => p.clone(),
        Some(p) => {
            return Err(OptionError(format!(
                "--package `{p}` is not a Python package name: use letters, digits and `_`, starting with a letter (e.g. `kaplaix_server`)"
            ))
            .into());
        }
        None => format!("{}_server", names::python_package(catalog.name())),
    };
    let distribution = package.replace('_', "-");
    let model = build(catalog, package, distribution);
    python::render(&model).map_err(SdkError::Template)
}

/// The npm server package: ESM JavaScript with `.d.ts` declarations and no runtime dependency;
/// its Express and Hono adapters use the framework the application already has.
///
/// # Errors
///
/// [`SdkError::Option`] when `--package` is not an npm package name.
pub fn server_typescript(
    catalog: &Catalog,
    options: &ServerOptions,
) -> Result<Vec<File>, SdkError> {
    let package = match &options.package {
        Some(p) if names::is_npm_name(p) => p.clone(),
        Some(p) => {
            return Err(OptionError(format!(
                "--package `{p}` is not an npm package name: lower case, optionally scoped (e.g. `@kaplaix/server`)"
            ))
            .into());
        }
        None => names::npm_package(catalog.name()).replace("/sdk-ts", "/server"),
    };
    let model = build(catalog, package.clone(), package);
    typescript::render(&model).map_err(SdkError::Template)
}
