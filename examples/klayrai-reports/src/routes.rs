//! The handlers: each failure is a code of the catalog with its arguments.

use axum::extract::State;
use axum::http::StatusCode;
use errata_axum::{Error, Json, Path, Tenant, ValidJson};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::codes::{MAX_CAMPAIGNS, MAX_DAYS};
use crate::dates::day_number;
use crate::db::{self, Campaign};

/// `POST /v1/reports`. The campaign limit is the application's rule, with its own code, so it
/// is checked by the handler, not by the schema.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewReport {
    #[schemars(length(min = 1))]
    account_id: String,
    #[schemars(length(min = 1))]
    campaign_ids: Vec<String>,
    #[schemars(extend("format" = "date"))]
    from: String,
    #[schemars(extend("format" = "date"))]
    to: String,
}

/// `PUT /v1/campaigns/{id}`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CampaignBody {
    #[schemars(length(min = 1, max = 200))]
    name: String,
    #[serde(default)]
    synced: bool,
}

pub(crate) async fn create_report(
    State(state): State<AppState>,
    tenant: Tenant,
    body: Result<ValidJson<NewReport>, Error>,
) -> Result<(StatusCode, Json<Value>), Error> {
    let ValidJson(report) = body.map_err(|err| state.codes.invalid_body(err))?;
    if report.campaign_ids.len() > MAX_CAMPAIGNS {
        return Err(state.codes.too_many_campaigns(report.campaign_ids.len()));
    }
    let range = day_number(&report.from).zip(day_number(&report.to));
    match range {
        Some((from, to)) if from <= to && to - from <= MAX_DAYS => {}
        _ => return Err(state.codes.invalid_date_range()),
    }
    for id in &report.campaign_ids {
        tenant
            .load("Campaign", id, |t, id| db::find_campaign(&state.db, t, id))
            .await?;
    }
    let id = db::insert_report(
        &state.db,
        tenant.id(),
        &report.account_id,
        &report.campaign_ids,
        &report.from,
        &report.to,
    )
    .await
    .map_err(Error::internal)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"data": {
            "id": id,
            "account_id": report.account_id,
            "campaign_ids": report.campaign_ids,
            "from": report.from,
            "to": report.to,
            "status": "queued",
        }})),
    ))
}

pub(crate) async fn start_diagnostic(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(campaign_id): Path<String>,
) -> Result<(StatusCode, Json<Value>), Error> {
    let campaign = tenant
        .load("Campaign", &campaign_id, |t, id| {
            db::find_campaign(&state.db, t, id)
        })
        .await?;
    if !campaign.synced {
        return Err(state.codes.campaign_not_synced(&campaign.id));
    }
    let Some(id) = db::start_diagnostic(&state.db, tenant.id(), &campaign.id)
        .await
        .map_err(Error::internal)?
    else {
        return Err(state.codes.diagnostic_in_progress(&campaign.id));
    };
    // The diagnostic "runs" for a while, then completes.
    let (db, run_for, diagnostic) = (state.db.clone(), state.diagnostic_duration, id.clone());
    tokio::spawn(async move {
        tokio::time::sleep(run_for).await;
        if let Err(e) = db::finish_diagnostic(&db, &diagnostic).await {
            tracing::error!(error = %e, diagnostic, "could not complete a diagnostic");
        }
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"data": {"id": id, "campaign_id": campaign.id, "status": "running"}})),
    ))
}

pub(crate) async fn put_campaign(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(campaign_id): Path<String>,
    ValidJson(body): ValidJson<CampaignBody>,
) -> Result<Json<Value>, Error> {
    let campaign = Campaign {
        id: campaign_id,
        name: body.name,
        synced: body.synced,
    };
    db::upsert_campaign(&state.db, tenant.id(), &campaign)
        .await
        .map_err(Error::internal)?;
    Ok(Json(json!({"data": campaign_json(&campaign)})))
}

pub(crate) async fn get_campaign(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(campaign_id): Path<String>,
) -> Result<Json<Value>, Error> {
    let campaign = tenant
        .load("Campaign", &campaign_id, |t, id| {
            db::find_campaign(&state.db, t, id)
        })
        .await?;
    Ok(Json(json!({"data": campaign_json(&campaign)})))
}

pub(crate) async fn list_campaigns(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<Value>, Error> {
    let campaigns = db::list_campaigns(&state.db, tenant.id())
        .await
        .map_err(Error::internal)?;
    let data: Vec<Value> = campaigns.iter().map(campaign_json).collect();
    Ok(Json(json!({"data": data})))
}

fn campaign_json(c: &Campaign) -> Value {
    json!({"id": c.id, "name": c.name, "synced": c.synced})
}
