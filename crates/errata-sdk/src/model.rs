//! What the templates see: the catalog reduced to names, codes and the envelope's field paths,
//! the same for every language.

use errata_core::Catalog;
use serde::Serialize;

use crate::names;

/// The fields an SDK reads from an error body, in this order.
const FIELDS: &[&str] = &[
    "code",
    "type",
    "message",
    "param",
    "details",
    "request_id",
    "doc_url",
];

/// Choices the generator's user can make; `None` derives them from the catalog's name.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The package: the Python import package, or the npm package name.
    pub package: Option<String>,
    /// The client class; error classes are named after it (`{class}Error`).
    pub class: Option<String>,
}

/// Everything an SDK template uses.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Model {
    pub api_name: String,
    pub description: Option<String>,
    pub catalog_version: Option<String>,
    /// The SDK's own version.
    pub version: &'static str,
    pub errata_version: &'static str,
    pub class: String,
    pub error: String,
    pub network_error: String,
    pub timeout_error: String,
    /// The root of all three.
    pub exception: String,
    pub package: String,
    /// Environment variables read by the client: `{env}_API_KEY`, `{env}_BASE_URL`.
    pub env: String,
    pub request_id: RequestId,
    pub doc_url: Option<String>,
    pub content_type: String,
    pub fields: Vec<Field>,
    pub codes: Vec<Code>,
    /// The class of an error known only by its status, for each status the catalog uses.
    pub statuses: Vec<StatusClass>,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct RequestId {
    pub header: String,
    pub prefix: String,
    /// `hex`, `base62` or `uuid`.
    pub charset: &'static str,
    pub length: usize,
}

/// One field of the envelope and where it sits.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Field {
    pub name: &'static str,
    /// Object keys from the body's root; `None` when the envelope does not carry it.
    pub path: Option<Vec<String>>,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Code {
    pub code: String,
    pub class: String,
    pub status: u16,
    pub kind: String,
    pub title: String,
    pub description: String,
    pub retryable: bool,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct StatusClass {
    pub status: u16,
    pub code: String,
    pub class: String,
}

/// A generator option that cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError(pub String);

impl std::fmt::Display for OptionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OptionError {}

pub(crate) fn build(
    catalog: &Catalog,
    package: String,
    class: Option<&str>,
) -> Result<Model, OptionError> {
    let class = match class {
        Some(c) if names::is_class_identifier(c) => c.to_owned(),
        Some(c) => {
            return Err(OptionError(format!(
                "--class `{c}` is not a class name: use ASCII letters and digits, starting with a letter (e.g. `Kaplaix`)"
            )));
        }
        None => names::class_name(catalog.name()),
    };
    let error = format!("{class}Error");
    let network_error = format!("{class}NetworkError");
    let timeout_error = format!("{class}TimeoutError");
    let exception = format!("{class}Exception");
    let reserved = [
        class.clone(),
        format!("Async{class}"),
        error.clone(),
        network_error.clone(),
        timeout_error.clone(),
        exception.clone(),
    ];
    let defs = catalog.codes();
    let classes = names::code_classes(defs.iter().map(|d| d.code.as_str()), &reserved);
    let codes: Vec<Code> = defs
        .iter()
        .zip(classes)
        .map(|(d, class)| Code {
            code: d.code.clone(),
            class,
            status: d.status,
            kind: d.kind.clone(),
            title: d.title(),
            description: d.description.clone(),
            retryable: d.retryable,
        })
        .collect();
    let mut statuses: Vec<u16> = codes.iter().map(|c| c.status).collect();
    statuses.sort_unstable();
    statuses.dedup();
    let statuses = statuses
        .into_iter()
        .filter_map(|status| {
            let pick = defs
                .iter()
                .position(|d| d.fallback && d.status == status)
                .or_else(|| defs.iter().position(|d| d.status == status))?;
            Some(StatusClass {
                status,
                code: codes[pick].code.clone(),
                class: codes[pick].class.clone(),
            })
        })
        .collect();
    let rid = catalog.request_id();
    Ok(Model {
        api_name: catalog.name().to_owned(),
        description: catalog.description().map(str::to_owned),
        catalog_version: catalog.version().map(str::to_owned),
        version: "0.1.0",
        errata_version: env!("CARGO_PKG_VERSION"),
        env: names::python_package(catalog.name()).to_ascii_uppercase(),
        class,
        error,
        network_error,
        timeout_error,
        exception,
        package,
        request_id: RequestId {
            header: rid.header.clone(),
            prefix: rid.prefix.clone(),
            charset: rid.charset.name(),
            length: rid.length,
        },
        doc_url: catalog.doc_url().map(str::to_owned),
        content_type: catalog.envelope().content_type.clone(),
        fields: FIELDS
            .iter()
            .map(|&name| Field {
                name,
                path: catalog.field_path(name),
            })
            .collect(),
        codes,
        statuses,
    })
}
