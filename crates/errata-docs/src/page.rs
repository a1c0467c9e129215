//! The reference page as data: everything the Markdown and HTML templates show, gathered from
//! the catalog once so both formats say the same thing.

use errata_core::{Catalog, CodeDef, Format, reason_phrase};
use serde::Serialize;

use crate::example;
use crate::fields::{self, FieldRow, Scope};
use crate::retry::{self, RetryGuide};
use crate::status::{self, StatusRow};

/// The whole reference.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Page {
    pub name: String,
    pub description: Option<String>,
    pub version: Option<String>,
    pub content_type: String,
    pub request_id_header: String,
    /// The envelope's fields, depth first.
    pub fields: Vec<FieldRow>,
    /// The fields of one `details` entry; empty when the envelope has no details.
    pub detail_fields: Vec<FieldRow>,
    /// The code whose response illustrates the envelope, and that response.
    pub envelope_code: String,
    pub envelope_example: String,
    /// The same error as problem+json.
    pub problem_example: String,
    pub kinds: Vec<KindSection>,
    pub retry: RetryGuide,
    /// "Handling errors" with the generated SDKs' class names.
    pub sdk: SdkSection,
    pub statuses: Vec<StatusRow>,
}

/// The codes of one type.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct KindSection {
    pub kind: String,
    /// The statuses its codes use, ascending.
    pub statuses: Vec<u16>,
    pub codes: Vec<CodeEntry>,
}

/// One code, with its example response.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct CodeEntry {
    pub code: String,
    pub title: String,
    pub status: u16,
    pub reason: &'static str,
    pub kind: String,
    pub message: String,
    pub description: String,
    pub resolution: Option<String>,
    pub retryable: bool,
    /// Whether clients should wait for `Retry-After` before retrying.
    pub retry_after: bool,
    /// The failures errata detects itself that it answers with this code.
    pub conditions: Vec<ConditionNote>,
    /// The example response, as `curl -i` shows it.
    pub example: String,
    /// Lower-case text the filter box matches: code, type, status, title, description.
    pub search: String,
}

/// A condition a code answers.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ConditionNote {
    pub name: &'static str,
    pub summary: &'static str,
}

/// Gathers the page from a catalog.
pub(crate) fn build(catalog: &Catalog) -> Page {
    let envelope = catalog.envelope();
    let shown = example::envelope_code(catalog);
    let detail_fields = if fields::has_details(&envelope.body) {
        fields::rows(catalog, Scope::Detail, &envelope.detail)
    } else {
        Vec::new()
    };
    Page {
        name: catalog.name().to_owned(),
        description: catalog.description().map(str::to_owned),
        version: catalog.version().map(str::to_owned),
        content_type: envelope.content_type.clone(),
        request_id_header: catalog.request_id().header.clone(),
        fields: fields::rows(catalog, Scope::Envelope, &envelope.body),
        detail_fields,
        envelope_code: shown.code.clone(),
        envelope_example: example::http(catalog, shown, Format::Envelope),
        problem_example: example::http(catalog, shown, Format::Problem),
        kinds: catalog
            .kinds()
            .into_iter()
            .map(|kind| kind_section(catalog, kind))
            .collect(),
        retry: retry::guide(catalog),
        sdk: sdk_section(catalog),
        statuses: status::rows(catalog),
    }
}

fn kind_section(catalog: &Catalog, kind: &str) -> KindSection {
    let defs: Vec<&CodeDef> = catalog.codes().iter().filter(|d| d.kind == kind).collect();
    let mut statuses: Vec<u16> = defs.iter().map(|d| d.status).collect();
    statuses.sort_unstable();
    statuses.dedup();
    KindSection {
        kind: kind.to_owned(),
        statuses,
        codes: defs.into_iter().map(|d| code_entry(catalog, d)).collect(),
    }
}

fn code_entry(catalog: &Catalog, def: &CodeDef) -> CodeEntry {
    let title = def.title();
    let search = format!(
        "{} {} {} {} {}",
        def.code, def.kind, def.status, title, def.description
    )
    .to_lowercase();
    CodeEntry {
        code: def.code.clone(),
        title,
        status: def.status,
        reason: reason_phrase(def.status),
        kind: def.kind.clone(),
        message: def.message.clone(),
        description: def.description.clone(),
        resolution: def.resolution.clone(),
        retryable: def.retryable,
        retry_after: example::honours_retry_after(def),
        conditions: def
            .conditions
            .iter()
            .map(|c| ConditionNote {
                name: c.name(),
                summary: c.summary(),
            })
            .collect(),
        example: example::http(catalog, def, Format::Envelope),
        search,
    }
}

/// The generated SDKs' names, and the code the "Handling errors" examples catch by class: the
/// one that answers a rate limit.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct SdkSection {
    pub names: errata_sdk::SdkNames,
    pub example_code: String,
    pub example_class: String,
}

fn sdk_section(catalog: &Catalog) -> SdkSection {
    let names = errata_sdk::sdk_names(catalog);
    let code = catalog
        .code_for(errata_core::Condition::RateLimited)
        .code
        .clone();
    let class = names
        .codes
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, class)| class.clone())
        .unwrap_or_else(|| names.error.clone());
    SdkSection {
        names,
        example_code: code,
        example_class: class,
    }
}
