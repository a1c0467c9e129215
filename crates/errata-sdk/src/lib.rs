//! errata-sdk: Python and TypeScript SDKs generated from an errata catalog, so that their error
//! classes, retry rules and body reading cannot drift from the server.
//!
//! ```
//! let catalog = errata_core::Catalog::from_toml(include_str!("../../../catalogs/kaplaix.toml"))?;
//! let files = errata_sdk::python(&catalog, &errata_sdk::Options::default())?;
//! let init = files.iter().find(|f| f.path == "src/kaplaix/__init__.py").unwrap();
//! assert!(init.contents.contains("KaplaixNetworkError"));
//! let ts = errata_sdk::typescript(&catalog, &errata_sdk::Options::default())?;
//! assert!(ts.iter().any(|f| f.path == "package.json" && f.contents.contains("\"@kaplaix/sdk-ts\"")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Generation is deterministic: the same catalog and options give the same bytes. The retry
//! and classification rules every SDK follows (errata-client's too) are checked by one table,
//! [`CASES_JSON`], that each SDK's test suite runs.

mod model;
pub mod names;
mod render;

use std::path::Path;

use errata_core::Catalog;

pub use model::{OptionError, Options};

/// The shared table of classification and retry cases (status, headers, body → error class,
/// code, retry or not, delay), run by the Rust, Python and TypeScript test suites alike.
pub const CASES_JSON: &str = include_str!("../cases/retry.json");

/// One generated file: a `/`-separated path relative to the output folder, and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    pub path: String,
    pub contents: String,
}

/// Why an SDK could not be generated.
#[derive(Debug)]
pub enum SdkError {
    /// An option (`--package`, `--class`) is not usable.
    Option(OptionError),
    /// The embedded templates failed to render (a bug of errata's, never of the catalog).
    Template(minijinja::Error),
}

impl std::fmt::Display for SdkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SdkError::Option(e) => write!(f, "{e}"),
            SdkError::Template(e) => write!(f, "cannot render the SDK: {e:#}"),
        }
    }
}

impl std::error::Error for SdkError {}

impl From<OptionError> for SdkError {
    fn from(e: OptionError) -> Self {
        SdkError::Option(e)
    }
}

/// The Python project: `pyproject.toml`, `README.md` and `src/<package>/` (typed, `py.typed`),
/// installable with `pip install DIR`; httpx is its one runtime dependency.
///
/// # Errors
///
/// [`SdkError::Option`] when `--package` is not a Python identifier or `--class` not a class name.
pub fn python(catalog: &Catalog, options: &Options) -> Result<Vec<File>, SdkError> {
    let package = match &options.package {
        Some(p) if names::is_python_identifier(p) => p.clone(),
        Some(p) => {
            return Err(OptionError(format!(
                "--package `{p}` is not a Python package name: use letters, digits and `_`, starting with a letter (e.g. `kaplaix`)"
            ))
            .into());
        }
        None => names::python_package(catalog.name()),
    };
    let model = model::build(catalog, package, options.class.as_deref())?;
    render::python(&model).map_err(SdkError::Template)
}

/// The npm package: ESM JavaScript with `.d.ts` declarations, no runtime dependency (the
/// platform's `fetch`), usable in Node 18+ and browsers without a build step.
///
/// # Errors
///
/// [`SdkError::Option`] when `--package` is not an npm package name or `--class` not a class name.
pub fn typescript(catalog: &Catalog, options: &Options) -> Result<Vec<File>, SdkError> {
    let package = match &options.package {
        Some(p) if names::is_npm_name(p) => p.clone(),
        Some(p) => {
            return Err(OptionError(format!(
                "--package `{p}` is not an npm package name: lower case, optionally scoped (e.g. `@kaplaix/sdk-ts`)"
            ))
            .into());
        }
        None => names::npm_package(catalog.name()),
    };
    let model = model::build(catalog, package, options.class.as_deref())?;
    render::typescript(&model).map_err(SdkError::Template)
}

/// Writes generated files under `dir`, creating folders as needed.
///
/// # Errors
///
/// The first file or folder that could not be written, with its path.
pub fn write(dir: &Path, files: &[File]) -> Result<(), String> {
    for f in files {
        let path = dir.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, &f.contents)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The names the generated SDKs use for a catalog with default options: what docs show in
/// their examples.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SdkNames {
    /// The client class (`Kaplaix`).
    pub class: String,
    /// The API error's class (`KaplaixError`).
    pub error: String,
    pub network_error: String,
    pub timeout_error: String,
    /// The Python import package (`kaplaix`).
    pub python_package: String,
    /// The npm package (`@kaplaix/sdk-ts`).
    pub npm_package: String,
    /// Each code with its class, in catalog order.
    pub codes: Vec<(String, String)>,
}

/// The names [`python`] and [`typescript`] give a catalog's classes and packages by default.
///
/// ```
/// let catalog = errata_core::Catalog::from_toml(include_str!("../../../catalogs/kaplaix.toml"))?;
/// let names = errata_sdk::sdk_names(&catalog);
/// assert_eq!(names.error, "KaplaixError");
/// assert!(names.codes.contains(&("RATE_LIMITED".into(), "RateLimitedError".into())));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn sdk_names(catalog: &Catalog) -> SdkNames {
    let class = names::class_name(catalog.name());
    let python_package = names::python_package(catalog.name());
    // Derived names are always valid, so building the model cannot fail.
    let codes = match model::build(catalog, python_package.clone(), None) {
        Ok(m) => m.codes.into_iter().map(|c| (c.code, c.class)).collect(),
        Err(_) => Vec::new(),
    };
    SdkNames {
        error: format!("{class}Error"),
        network_error: format!("{class}NetworkError"),
        timeout_error: format!("{class}TimeoutError"),
        npm_package: names::npm_package(catalog.name()),
        python_package,
        codes,
        class,
    }
}
