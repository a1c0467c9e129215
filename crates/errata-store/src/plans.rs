//! Plans and their limits: what a key may do, as the configuration and the key store hold it,
//! and the `[plans.NAME]` sections of the configuration, checked here.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::{At, Report};

/// Where a limit is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LimitScope {
    /// Per API key (the default).
    #[default]
    Key,
    /// Per tenant: all keys of a tenant share the counters.
    Tenant,
}

/// Rate, quota and concurrency limits. Any field left out means "no limit" of that kind.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Requests allowed per `per_seconds` (sustained rate).
    #[schema(minimum = 1)]
    pub rate: Option<u32>,
    #[serde(default = "default_window")]
    #[schema(minimum = 1, default = 60)]
    pub per_seconds: u32,
    /// Extra requests allowed at once above the steady rate.
    #[serde(default)]
    pub burst: u32,
    /// Requests per calendar month (UTC).
    pub monthly_quota: Option<u64>,
    /// Requests in flight at once.
    #[schema(minimum = 1)]
    pub concurrency: Option<u32>,
}

fn default_window() -> u32 {
    60
}

/// No limit of any kind, with the window a rate would have (as a section that leaves
/// `per_seconds` out), so every `Limits` answered has a window of at least one second.
impl Default for Limits {
    fn default() -> Self {
        Limits::from_fields(None, None, None, None, None)
    }
}

impl Limits {
    /// `other`'s fields where set, else ours.
    pub fn overlay(&self, other: &Limits) -> Limits {
        Limits {
            rate: other.rate.or(self.rate),
            per_seconds: if other.rate.is_some() {
                other.per_seconds
            } else {
                self.per_seconds
            },
            burst: if other.rate.is_some() {
                other.burst
            } else {
                self.burst
            },
            monthly_quota: other.monthly_quota.or(self.monthly_quota),
            concurrency: other.concurrency.or(self.concurrency),
        }
    }
}

/// A plan: its limits and the features it includes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub limits: Limits,
    pub features: Vec<String>,
}

/// One `[plans.NAME]` section as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlan {
    #[serde(default)]
    pub features: Vec<String>,
    pub rate: Option<u32>,
    pub per_seconds: Option<u32>,
    pub burst: Option<u32>,
    pub monthly_quota: Option<u64>,
    pub concurrency: Option<u32>,
}

impl Limits {
    /// Limits from a section's fields: the window defaults to 60 seconds, the burst to 0.
    pub fn from_fields(
        rate: Option<u32>,
        per_seconds: Option<u32>,
        burst: Option<u32>,
        monthly_quota: Option<u64>,
        concurrency: Option<u32>,
    ) -> Limits {
        Limits {
            rate,
            per_seconds: per_seconds.unwrap_or(60),
            burst: burst.unwrap_or(0),
            monthly_quota,
            concurrency,
        }
    }
}

impl RawPlan {
    fn limits(&self) -> Limits {
        Limits::from_fields(
            self.rate,
            self.per_seconds,
            self.burst,
            self.monthly_quota,
            self.concurrency,
        )
    }
}

/// The configured plans and the name of the default one (`[limits] default_plan`, or a plan
/// `default` without limits made for it). A default plan that is not defined, or a plan with a
/// zero rate or window, is reported at its line.
pub fn plans_from_raw(
    raw: &BTreeMap<String, Spanned<RawPlan>>,
    default_plan: &Option<Spanned<String>>,
    at: At<'_>,
    err: Report<'_>,
) -> (BTreeMap<String, Plan>, String) {
    let mut plans: BTreeMap<String, Plan> = raw
        .iter()
        .map(|(name, p)| {
            let p = p.get_ref();
            (
                name.clone(),
                Plan {
                    limits: p.limits(),
                    features: p.features.clone(),
                },
            )
        })
        .collect();
    let default_plan = match default_plan {
        Some(p) => {
            if !plans.contains_key(p.get_ref()) {
                err(
                    at(p.span().start),
                    format!("default_plan `{}` is not defined", p.get_ref()),
                    "define it under [plans.NAME] or name an existing plan",
                );
            }
            p.get_ref().clone()
        }
        None => {
            plans.entry("default".to_owned()).or_default();
            "default".to_owned()
        }
    };
    for (name, p) in raw {
        let l = p.get_ref().limits();
        if l.per_seconds == 0 || l.rate == Some(0) {
            err(
                at(p.span().start),
                format!("plan `{name}` has a zero rate or window"),
                "rate and per_seconds must be at least 1",
            );
        }
    }
    (plans, default_plan)
}
