//! The service's own failures, named by code. KlayrAI's catalog and errata's default one use
//! the same names for them; a catalog without these codes renders them as its internal error.
//! A missing field is the one place the catalogs differ: KlayrAI words it with a variant of
//! `invalid_request`, the others list it in their validation code's `details`.

use errata_axum::Error;
use errata_core::Catalog;

/// How the service names its failures in the catalog it runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Codes {
    /// `(code, variant)` for a single missing field, when the catalog has one.
    field_required: Option<(&'static str, &'static str)>,
}

/// At most this many campaigns per report.
pub const MAX_CAMPAIGNS: usize = 20;

/// At most this many days between `from` and `to`.
pub const MAX_DAYS: i64 = 90;

impl Codes {
    pub fn for_catalog(catalog: &Catalog) -> Codes {
        match catalog.name() {
            "KlayrAI" => Codes {
                field_required: Some(("invalid_request", "field_required")),
            },
            _ => Codes {
                field_required: None,
            },
        }
    }

    /// A body that failed validation: KlayrAI names the first missing field; other catalogs
    /// get every violation.
    pub fn invalid_body(&self, err: Error) -> Error {
        let Some((code, variant)) = self.field_required else {
            return err;
        };
        let missing = err
            .api_error()
            .details
            .iter()
            .find(|v| v.message == "Required")
            .map(|v| v.path.join("."));
        match missing {
            Some(field) => Error::code(code).variant(variant).param(field),
            None => err,
        }
    }

    pub fn too_many_campaigns(&self, provided: usize) -> Error {
        Error::code("too_many_campaigns")
            .arg("max", MAX_CAMPAIGNS)
            .arg("provided", provided)
            .param("campaign_ids")
    }

    pub fn invalid_date_range(&self) -> Error {
        Error::code("invalid_date_range").arg("max_days", MAX_DAYS)
    }

    pub fn diagnostic_in_progress(&self, campaign_id: &str) -> Error {
        Error::code("diagnostic_in_progress").arg("campaign_id", campaign_id.to_owned())
    }

    pub fn campaign_not_synced(&self, campaign_id: &str) -> Error {
        Error::code("campaign_not_synced").arg("campaign_id", campaign_id.to_owned())
    }
}
