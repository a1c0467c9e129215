//! The service's own failures, named by code in the catalog it runs with.
//!
//! Conditions (validation, not found, ...) need no table: every catalog maps them. The codes
//! an application raises by name differ between catalogs (Kaplaix says `CONFLICT`, errata's
//! default `resource_already_exists`), so the service picks its names by the catalog's name. A
//! catalog that has none of them renders these failures as its internal error.

use errata_axum::Error;
use errata_core::Catalog;

/// The code names (and resource wording) of the service's own failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Codes {
    conflict: &'static str,
    normalization_failed: &'static str,
    range_too_long: &'static str,
    bad_parameter: &'static str,
    agent: &'static str,
}

impl Codes {
    /// Kaplaix's names for the Kaplaix catalog; errata's default names for any other.
    pub fn for_catalog(catalog: &Catalog) -> Codes {
        match catalog.name() {
            "Kaplaix" => Codes {
                conflict: "CONFLICT",
                normalization_failed: "NORMALIZATION_FAILED",
                range_too_long: "VALIDATION_ERROR",
                bad_parameter: "VALIDATION_ERROR",
                agent: "Agent",
            },
            _ => Codes {
                conflict: "resource_already_exists",
                normalization_failed: "normalization_failed",
                range_too_long: "invalid_date_range",
                bad_parameter: "invalid_parameter",
                agent: "Agent",
            },
        }
    }

    /// The tenant already has an agent with this id.
    pub fn duplicate_agent(&self, agent_id: &str) -> Error {
        Error::code(self.conflict)
            .arg("resource", self.agent)
            .param("agentId")
            .arg("id", agent_id.to_owned())
    }

    /// The event cannot be normalized (unknown category, payload fields missing).
    pub fn normalization_failed(&self, reason: String) -> Error {
        Error::code(self.normalization_failed).arg("reason", reason)
    }

    /// The code of an export range longer than the service allows, by name: the raise form
    /// carries it to the gateway.
    pub fn range_too_long(&self) -> &'static str {
        self.range_too_long
    }

    /// The code of a query parameter the service cannot read, by name.
    pub fn bad_parameter(&self) -> &'static str {
        self.bad_parameter
    }
}
