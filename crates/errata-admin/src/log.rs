//! `/requests`, `/usage` and `/errors`: the request log, usage over time with limit state,
//! and the catalog's codes. The `*_for` functions take the tenant the caller is confined to
//! (the portal's), `None` for the admin.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use errata_axum::{Error, Path};
use serde::Serialize;

use crate::auth::AdminCaller;
use crate::params::{Query, bad_param};
use crate::state::{Admin, Shared, store_error};
use errata_store::db::{RequestQuery, StatusFilter, Step, UsageQuery, UsageRow};
use errata_store::reqlog::{LimitState, Record};

/// The largest page of records.
pub const MAX_LIMIT: i64 = 500;
/// The most buckets one usage answer has.
pub const MAX_BUCKETS: i64 = 1440;
/// The latest time accepted (the end of year 9999), Unix seconds.
const MAX_TIME: i64 = 253_402_300_799;

/// A page of request records.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RequestList {
    pub data: Vec<Record>,
    /// Pass it back as `cursor` (with the same filters) for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// Counts by status class.
#[derive(Clone, Default, Serialize, utoipa::ToSchema)]
pub struct StatusCounts {
    #[serde(rename = "1xx")]
    pub s1xx: u64,
    #[serde(rename = "2xx")]
    pub s2xx: u64,
    #[serde(rename = "3xx")]
    pub s3xx: u64,
    #[serde(rename = "4xx")]
    pub s4xx: u64,
    #[serde(rename = "5xx")]
    pub s5xx: u64,
}

impl StatusCounts {
    pub(super) fn add(&mut self, status: i64, n: u64) {
        match status / 100 {
            1 => self.s1xx += n,
            2 => self.s2xx += n,
            3 => self.s3xx += n,
            4 => self.s4xx += n,
            _ => self.s5xx += n,
        }
    }
}

/// One bucket of usage.
#[derive(Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Bucket {
    /// The bucket's start, Unix seconds.
    pub t: i64,
    pub total: u64,
    pub status: StatusCounts,
    /// Counts per catalog code, only those above zero.
    pub codes: BTreeMap<String, u64>,
}

/// Totals over the whole range.
#[derive(Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Totals {
    pub total: u64,
    pub status: StatusCounts,
    pub codes: BTreeMap<String, u64>,
}

/// A code and how often it was answered.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct CodeCount {
    pub code: String,
    pub count: u64,
}

/// Usage over time for a tenant or a key.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Usage {
    pub tenant: Option<String>,
    pub key_id: Option<String>,
    pub step: Step,
    /// Unix seconds, the first bucket's start.
    pub since: i64,
    /// Unix seconds, exclusive.
    pub until: i64,
    /// Every bucket of the range, oldest first, zero-filled.
    pub buckets: Vec<Bucket>,
    pub totals: Totals,
    /// The most frequent codes, at most 10, most frequent first.
    pub top_codes: Vec<CodeCount>,
    /// Each key's limit state as of its last request on this instance.
    pub limits: Vec<LimitState>,
}

/// One code of the catalog.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CatalogCode {
    pub code: String,
    pub status: u16,
    /// The category (`authentication_error`, ...).
    pub kind: String,
    pub title: Option<String>,
    /// The message template, with `{name}` arguments.
    pub message: String,
    pub description: String,
    pub resolution: Option<String>,
    pub retryable: bool,
}

/// The catalog's codes.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CatalogCodes {
    pub data: Vec<CatalogCode>,
}

fn cursor(r: &Record) -> String {
    hex::encode(format!("{}:{}", r.time_ms, r.request_id))
}

fn parse_cursor(s: &str) -> Option<(i64, String)> {
    let raw = String::from_utf8(hex::decode(s).ok()?).ok()?;
    let (t, id) = raw.split_once(':')?;
    Some((t.parse().ok()?, id.to_owned()))
}

/// The records matching the query, newest first, one page.
pub(super) async fn list_for(
    a: &Admin,
    tenant: Option<&str>,
    uri: &Uri,
) -> Result<Response, Error> {
    let known: &[&str] = if tenant.is_some() {
        &[
            "key_id", "code", "status", "since", "until", "limit", "cursor",
        ]
    } else {
        &[
            "tenant", "key_id", "code", "status", "since", "until", "limit", "cursor",
        ]
    };
    let q = Query::parse(uri.query(), known)?;
    let status = match q.raw("status") {
        None => None,
        Some(s) => Some(
            StatusFilter::parse(&s)
                .ok_or_else(|| bad_param("status", "a status (429) or a class (4xx)"))?,
        ),
    };
    let before = match q.raw("cursor") {
        None => None,
        Some(c)
            if c.len() % 2 != 0 || !c.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            return Err(bad_param("cursor", "not a cursor"));
        }
        // Hex that no page gave: nothing comes after it.
        Some(c) => Some(parse_cursor(&c).unwrap_or((i64::MIN, String::new()))),
    };
    let limit = q.int("limit", 1, MAX_LIMIT)?.unwrap_or(50);
    let query = RequestQuery {
        tenant: tenant.map(str::to_owned).or_else(|| q.text("tenant")),
        key_id: q.text("key_id"),
        code: q.text("code"),
        status,
        since_ms: q.int("since", 0, MAX_TIME)?.map(|s| s * 1000),
        until_ms: q.int("until", 0, MAX_TIME)?.map(|s| s * 1000),
        before,
        limit: u32::try_from(limit + 1).unwrap_or(51),
    };
    let mut data = a.store.requests(&query).await.map_err(store_error)?;
    let more = data.len() > usize::try_from(limit).unwrap_or(50);
    data.truncate(usize::try_from(limit).unwrap_or(50));
    let next_cursor = if more { data.last().map(cursor) } else { None };
    Ok(Json(RequestList { data, next_cursor }).into_response())
}

/// One record by request id; not found when it is another tenant's.
pub(super) async fn show_for(a: &Admin, tenant: Option<&str>, id: &str) -> Result<Response, Error> {
    match a.store.request(id).await.map_err(store_error)? {
        Some(r) if tenant.is_none_or(|t| r.tenant.as_deref() == Some(t)) => {
            Ok(Json(r).into_response())
        }
        _ => Err(Error::not_found("Request", id)),
    }
}

/// The `step` parameter: minute (the default), hour or day.
pub(super) fn parse_step(q: &Query) -> Result<Step, Error> {
    match q.raw("step") {
        None => Ok(Step::Minute),
        Some(s) => Step::parse(&s).ok_or_else(|| bad_param("step", "minute, hour or day")),
    }
}

/// The buckets a usage answer covers: at most [`MAX_BUCKETS`], the latest of the range asked.
pub(super) struct Range {
    pub step: Step,
    /// The first bucket's start, Unix seconds.
    pub first: i64,
    /// Unix seconds, exclusive.
    pub until: i64,
    /// How many buckets (none for an empty range).
    pub n: i64,
}

impl Range {
    /// The range `since` and `until` ask for (default: the hour, two days or 30 days up to
    /// now, by step).
    pub(super) fn parse(q: &Query, step: Step) -> Result<Range, Error> {
        let now = crate::manage::now_secs();
        let until = q.int("until", 0, MAX_TIME)?.unwrap_or(now);
        let default_span = match step {
            Step::Minute => 3600,
            Step::Hour => 2 * 86_400,
            Step::Day => 30 * 86_400,
        };
        let since = q.int("since", 0, MAX_TIME)?.unwrap_or(until - default_span);
        // At most MAX_BUCKETS buckets: the latest ones of a longer range. An empty range has
        // none.
        let first = step
            .floor(since)
            .max(step.floor(until.saturating_sub(1)) - (MAX_BUCKETS - 1) * step.seconds());
        let n = if since >= until {
            0
        } else {
            (until - first + step.seconds() - 1) / step.seconds()
        };
        Ok(Range {
            step,
            first,
            until,
            n,
        })
    }

    /// The store query for these buckets, of a tenant, a key, or (neither) everyone.
    pub(super) fn query(&self, tenant: Option<String>, key_id: Option<String>) -> UsageQuery {
        UsageQuery {
            tenant,
            key_id,
            step: self.step,
            since: self.first,
            until: self.until,
        }
    }

    /// Every bucket, zero-filled, with the rows added, and the totals.
    pub(super) fn tally(&self, rows: Vec<UsageRow>) -> (Vec<Bucket>, Totals) {
        let secs = self.step.seconds();
        let mut buckets: Vec<Bucket> = (0..self.n)
            .map(|i| Bucket {
                t: self.first + i * secs,
                ..Bucket::default()
            })
            .collect();
        let mut totals = Totals::default();
        for r in rows {
            let count = u64::try_from(r.count).unwrap_or(0);
            let Some(b) = usize::try_from((r.bucket - self.first) / secs)
                .ok()
                .and_then(|i| buckets.get_mut(i))
            else {
                continue;
            };
            b.total += count;
            b.status.add(r.status, count);
            totals.total += count;
            totals.status.add(r.status, count);
            if !r.code.is_empty() {
                *b.codes.entry(r.code.clone()).or_insert(0) += count;
                *totals.codes.entry(r.code).or_insert(0) += count;
            }
        }
        (buckets, totals)
    }
}

/// The most frequent codes of the totals, at most 10, most frequent first.
pub(super) fn top_codes(totals: &Totals) -> Vec<CodeCount> {
    let mut top: Vec<CodeCount> = totals
        .codes
        .iter()
        .map(|(c, n)| CodeCount {
            code: c.clone(),
            count: *n,
        })
        .collect();
    top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.code.cmp(&b.code)));
    top.truncate(10);
    top
}

/// Usage of a tenant or a key.
pub(super) async fn usage_for(
    a: &Admin,
    tenant: Option<&str>,
    uri: &Uri,
) -> Result<Response, Error> {
    let known: &[&str] = if tenant.is_some() {
        &["key_id", "since", "until", "step"]
    } else {
        &["tenant", "key_id", "since", "until", "step"]
    };
    let q = Query::parse(uri.query(), known)?;
    let step = parse_step(&q)?;
    let key_id = q.text("key_id");
    // The portal's own tenant, or the admin's choice (neither: every tenant).
    let tenant = tenant.map(str::to_owned).or_else(|| q.text("tenant"));
    // A key of another tenant than the caller's is not found.
    let mut keys = Vec::new();
    if let Some(k) = &key_id {
        match a.store.get(k).await.map_err(store_error)? {
            Some(rec) if tenant.as_deref().is_none_or(|t| t == rec.tenant) => keys.push(rec.id),
            _ => return Err(Error::not_found("API key", k.clone())),
        }
    } else if let Some(t) = &tenant {
        keys = a
            .store
            .list(Some(t))
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|k| k.id)
            .collect();
    }
    let range = Range::parse(&q, step)?;
    let rows = if range.n == 0 {
        Vec::new()
    } else {
        a.store
            .usage(&range.query(
                if key_id.is_some() {
                    None
                } else {
                    tenant.clone()
                },
                key_id.clone(),
            ))
            .await
            .map_err(store_error)?
    };
    let (buckets, totals) = range.tally(rows);
    let top_codes = top_codes(&totals);
    let limits = keys
        .iter()
        .filter_map(|k| a.recorder.limit_state(k))
        .collect();
    Ok(Json(Usage {
        tenant: if key_id.is_some() { None } else { tenant },
        key_id,
        step,
        since: range.first,
        until: range.until,
        buckets,
        totals,
        top_codes,
        limits,
    })
    .into_response())
}

/// The catalog's codes, for the error reference.
pub(super) fn catalog_codes(a: &Admin) -> Json<CatalogCodes> {
    let data = a
        .catalog
        .codes()
        .iter()
        .map(|c| CatalogCode {
            code: c.code.clone(),
            status: c.status,
            kind: c.kind.clone(),
            title: c.title.clone(),
            message: c.message.clone(),
            description: c.description.clone(),
            resolution: c.resolution.clone(),
            retryable: c.retryable,
        })
        .collect();
    Json(CatalogCodes { data })
}

/// List request records, newest first, a page at a time.
#[utoipa::path(get, path = "/requests", tag = "requests",
    params(
        ("tenant" = Option<String>, Query, description = "Only this tenant's requests"),
        ("key_id" = Option<String>, Query, description = "Only this key's requests"),
        ("code" = Option<String>, Query, description = "Only answers with this catalog code"),
        ("status" = Option<String>, Query, description = "A status (`429`) or a class (`4xx`)", pattern = "^([1-5]xx|[1-5][0-9][0-9])$"),
        ("since" = Option<i64>, Query, description = "Unix seconds, inclusive", minimum = 0, maximum = 253402300799_i64),
        ("until" = Option<i64>, Query, description = "Unix seconds, exclusive", minimum = 0, maximum = 253402300799_i64),
        ("limit" = Option<i64>, Query, description = "Records per page (default 50)", minimum = 1, maximum = 500),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page", pattern = "^([0-9a-f]{2})*$"),
    ),
    responses(
        (status = 200, description = "A page of records", body = RequestList),
        (status = 400, description = "A bad query parameter"),
        (status = 401, description = "No or a wrong admin token"),
    ))]
pub(super) async fn list(State(a): Shared, _c: AdminCaller, uri: Uri) -> Result<Response, Error> {
    list_for(&a, None, &uri).await
}

/// Look up a request by its id. Records are written in batches: one made under a second ago
/// may not be there yet.
#[utoipa::path(get, path = "/requests/{request_id}", tag = "requests",
    params(("request_id" = String, Path, description = "The request id the answer carried")),
    responses(
        (status = 200, description = "The record", body = Record),
        (status = 401, description = "No or a wrong admin token"),
        (status = 404, description = "No record with this id"),
    ))]
pub(super) async fn show(
    State(a): Shared,
    _c: AdminCaller,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    show_for(&a, None, &id).await
}

/// Requests over time by status class and by code, for a tenant or a key, with its limit
/// state.
#[utoipa::path(get, path = "/usage", tag = "usage",
    params(
        ("tenant" = Option<String>, Query, description = "One tenant; with neither tenant nor key_id, all"),
        ("key_id" = Option<String>, Query, description = "One key (of the tenant, when both are given)"),
        ("since" = Option<i64>, Query, description = "Unix seconds; default one hour, two days or 30 days before until", minimum = 0, maximum = 253402300799_i64),
        ("until" = Option<i64>, Query, description = "Unix seconds, exclusive; default now", minimum = 0, maximum = 253402300799_i64),
        ("step" = Option<Step>, Query, description = "Bucket size (default minute); at most the latest 1440 buckets of the range"),
    ),
    responses(
        (status = 200, description = "Usage", body = Usage),
        (status = 400, description = "A bad query parameter"),
        (status = 401, description = "No or a wrong admin token"),
        (status = 404, description = "No such key"),
    ))]
pub(super) async fn usage(State(a): Shared, _c: AdminCaller, uri: Uri) -> Result<Response, Error> {
    usage_for(&a, None, &uri).await
}

/// The catalog's codes, for the console's error reference.
#[utoipa::path(get, path = "/errors", tag = "console",
    responses(
        (status = 200, description = "The codes", body = CatalogCodes),
        (status = 401, description = "No or a wrong admin token"),
    ))]
pub(super) async fn errors(State(a): Shared, _c: AdminCaller) -> Json<CatalogCodes> {
    catalog_codes(&a)
}
