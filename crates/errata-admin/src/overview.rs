//! `/usage/overview`: every tenant's requests over a range at once: totals, errors, the top
//! codes and the top tenants, for the console's overview page.
//!
//! Built from the same usage counts as `/usage` (one query per bucket, status and code, one
//! per tenant and status), so the two always agree: a tenant's line here is its `/usage`
//! totals. Answers that named no known key (a missing, malformed or unknown key, a path no
//! route matched) are in the totals and counted apart in `no_tenant`.

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use errata_axum::Error;
use serde::Serialize;

use crate::auth::AdminCaller;
use crate::log::{Bucket, CodeCount, Range, StatusCounts, Totals, parse_step, top_codes};
use crate::params::Query;
use crate::state::{Admin, Shared, store_error};
use errata_store::db::{Step, TenantUsageRow};

/// The most tenants `top_tenants` lists.
pub const TOP_TENANTS: usize = 10;

/// Requests and their outcomes.
#[derive(Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Outcomes {
    pub total: u64,
    /// Answers with a 4xx or 5xx status.
    pub errors: u64,
    pub status: StatusCounts,
}

impl Outcomes {
    fn add(&mut self, status: i64, n: u64) {
        self.total += n;
        if status >= 400 {
            self.errors += n;
        }
        self.status.add(status, n);
    }
}

/// One tenant's requests over the range.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct TenantCount {
    pub tenant: String,
    pub total: u64,
    /// Answers with a 4xx or 5xx status (refusals of its revoked or expired keys included).
    pub errors: u64,
    pub status: StatusCounts,
}

/// Every tenant's usage over a range.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Overview {
    pub step: Step,
    /// Unix seconds, the first bucket's start.
    pub since: i64,
    /// Unix seconds, exclusive.
    pub until: i64,
    /// Every bucket of the range, oldest first, zero-filled: all requests, any tenant or none.
    pub buckets: Vec<Bucket>,
    pub totals: Totals,
    /// Answers with a 4xx or 5xx status.
    pub errors: u64,
    /// The most frequent codes, at most 10, most frequent first.
    pub top_codes: Vec<CodeCount>,
    /// How many tenants made requests in the range.
    pub tenants: u64,
    /// The tenants with the most requests, at most 10, most first (then by name).
    pub top_tenants: Vec<TenantCount>,
    /// Answers to requests that named no known key: a missing, malformed or unknown key, or
    /// a path no route matched.
    pub no_tenant: Outcomes,
}

/// Requests of every tenant over a range: totals, errors (4xx and 5xx), the top codes and the
/// top tenants.
#[utoipa::path(get, path = "/usage/overview", tag = "usage",
    params(
        ("since" = Option<i64>, Query, description = "Unix seconds; default one hour, two days or 30 days before until", minimum = 0, maximum = 253402300799_i64),
        ("until" = Option<i64>, Query, description = "Unix seconds, exclusive; default now", minimum = 0, maximum = 253402300799_i64),
        ("step" = Option<Step>, Query, description = "Bucket size (default minute); at most the latest 1440 buckets of the range"),
    ),
    responses(
        (status = 200, description = "Every tenant's usage", body = Overview),
        (status = 400, description = "A bad query parameter"),
        (status = 401, description = "No or a wrong admin token"),
    ))]
pub(super) async fn overview(
    State(a): Shared,
    _c: AdminCaller,
    uri: Uri,
) -> Result<Response, Error> {
    Ok(Json(overview_of(&a, &uri).await?).into_response())
}

async fn overview_of(a: &Admin, uri: &Uri) -> Result<Overview, Error> {
    let q = Query::parse(uri.query(), &["since", "until", "step"])?;
    let step = parse_step(&q)?;
    let range = Range::parse(&q, step)?;
    let (rows, tenant_rows) = if range.n == 0 {
        (Vec::new(), Vec::new())
    } else {
        let query = range.query(None, None);
        let rows = a.store.usage(&query).await.map_err(store_error)?;
        let tenant_rows = a.store.usage_by_tenant(&query).await.map_err(store_error)?;
        (rows, tenant_rows)
    };
    let (buckets, totals) = range.tally(rows);
    let (tenants, top_tenants, no_tenant) = by_tenant(tenant_rows);
    Ok(Overview {
        step,
        since: range.first,
        until: range.until,
        errors: totals.status.s4xx + totals.status.s5xx,
        top_codes: top_codes(&totals),
        buckets,
        totals,
        tenants,
        top_tenants,
        no_tenant,
    })
}

/// The number of tenants, the top ones, and the answers of no tenant.
fn by_tenant(rows: Vec<TenantUsageRow>) -> (u64, Vec<TenantCount>, Outcomes) {
    let mut no_tenant = Outcomes::default();
    let mut all: Vec<(String, Outcomes)> = Vec::new();
    // Rows come ordered by tenant: one entry per run.
    for r in rows {
        let n = u64::try_from(r.count).unwrap_or(0);
        if r.tenant.is_empty() {
            no_tenant.add(r.status, n);
            continue;
        }
        match all.last_mut() {
            Some((t, o)) if *t == r.tenant => o.add(r.status, n),
            _ => {
                let mut o = Outcomes::default();
                o.add(r.status, n);
                all.push((r.tenant, o));
            }
        }
    }
    let tenants = u64::try_from(all.len()).unwrap_or(u64::MAX);
    all.sort_by(|a, b| b.1.total.cmp(&a.1.total).then_with(|| a.0.cmp(&b.0)));
    all.truncate(TOP_TENANTS);
    let top = all
        .into_iter()
        .map(|(tenant, o)| TenantCount {
            tenant,
            total: o.total,
            errors: o.errors,
            status: o.status,
        })
        .collect();
    (tenants, top, no_tenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(tenant: &str, status: i64, count: i64) -> TenantUsageRow {
        TenantUsageRow {
            tenant: tenant.into(),
            status,
            count,
        }
    }

    #[test]
    fn tenants_are_ranked_by_requests_then_name_and_no_tenant_is_apart() {
        let mut rows = vec![row("", 401, 4), row("", 404, 1)];
        for i in 0..12 {
            // t00 .. t11: t11 has the most; t00 and t01 tie at 1.
            let t = format!("t{i:02}");
            rows.push(row(&t, 200, i.max(1)));
            if i == 3 {
                rows.push(row(&t, 401, 2));
                rows.push(row(&t, 503, 1));
            }
        }
        rows.sort_by(|a, b| a.tenant.cmp(&b.tenant).then(a.status.cmp(&b.status)));
        let (n, top, none) = by_tenant(rows);
        assert_eq!(n, 12);
        let names: Vec<(&str, u64, u64)> = top
            .iter()
            .map(|t| (t.tenant.as_str(), t.total, t.errors))
            .collect();
        assert_eq!(
            names,
            [
                ("t11", 11, 0),
                ("t10", 10, 0),
                ("t09", 9, 0),
                ("t08", 8, 0),
                ("t07", 7, 0),
                ("t03", 6, 3),
                ("t06", 6, 0),
                ("t05", 5, 0),
                ("t04", 4, 0),
                ("t02", 2, 0),
            ]
        );
        assert_eq!((none.total, none.errors, none.status.s4xx), (5, 5, 5));
    }
}
