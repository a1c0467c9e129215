//! Authorize: the key's IP allowlist, environment, scopes, plan and feature against the route.

use std::net::IpAddr;

use errata_core::{ApiError, Condition};

use crate::config::{Config, EnvironmentRule, Route};
use errata_store::db::KeyRecord;
use errata_store::keys::Environment;

/// Whether the key may use the route from `ip`.
pub fn authorize(cfg: &Config, route: &Route, rec: &KeyRecord, ip: IpAddr) -> Result<(), ApiError> {
    if !rec.ip_allowlist.is_empty() && !rec.ip_allowlist.iter().any(|n| n.contains(&ip)) {
        return Err(ApiError::condition(Condition::IpNotAllowed).arg("ip", ip.to_string()));
    }
    let env_ok = match route.environment {
        EnvironmentRule::Any => true,
        EnvironmentRule::Live => rec.environment == Environment::Live,
        EnvironmentRule::Test => rec.environment == Environment::Test,
    };
    if !env_ok {
        return Err(ApiError::condition(Condition::EnvironmentNotAllowed)
            .arg("environment", rec.environment.as_str()));
    }
    if let Some(missing) = route.scopes.iter().find(|s| !rec.scopes.contains(s)) {
        return Err(ApiError::condition(Condition::InsufficientScope).arg("scope", missing.clone()));
    }
    if !route.plans.is_empty() && !route.plans.contains(&rec.plan) {
        return Err(
            ApiError::condition(Condition::PlanInsufficient).arg("plan", route.plans[0].clone())
        );
    }
    if let Some(feature) = &route.feature {
        let has = cfg
            .plans
            .get(&rec.plan)
            .is_some_and(|p| p.features.contains(feature));
        if !has {
            let plan = cfg
                .plans
                .iter()
                .find(|(_, p)| p.features.contains(feature))
                .map_or("", |(n, _)| n.as_str());
            return Err(ApiError::condition(Condition::FeatureNotAvailable)
                .arg("feature", feature.clone())
                .arg("plan", plan));
        }
    }
    Ok(())
}
