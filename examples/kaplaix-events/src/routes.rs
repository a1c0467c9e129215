//! The handlers: validated bodies in, tenant-scoped storage, catalog errors out.

use axum::extract::State;
use axum::http::StatusCode;
use errata_axum::{Error, Json, Path, Tenant, ValidJson};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::db::{self, Agent, Event};

/// `POST /v1/agents`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewAgent {
    #[schemars(length(min = 1, max = 128))]
    agent_id: String,
    #[schemars(length(min = 1, max = 200))]
    name: String,
}

/// `POST /v1/events`: the fields in the order Zod would check them.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewEvent {
    #[schemars(extend("format" = "uuid"))]
    event_id: String,
    #[schemars(length(min = 1, max = 128))]
    agent_id: String,
    #[schemars(length(min = 1))]
    category: String,
    #[schemars(extend("format" = "date-time"))]
    timestamp: Option<String>,
    #[serde(default)]
    payload: Map<String, Value>,
}

/// The categories the service can normalize, with the payload fields each one needs.
const CATEGORIES: &[(&str, &[&str])] = &[
    ("tool_call", &["tool"]),
    ("llm_call", &["model"]),
    ("error", &["message"]),
    ("log", &["message"]),
];

pub(crate) async fn create_agent(
    State(state): State<AppState>,
    tenant: Tenant,
    ValidJson(new): ValidJson<NewAgent>,
) -> Result<(StatusCode, Json<Value>), Error> {
    let agent = Agent {
        agent_id: new.agent_id,
        name: new.name,
    };
    let created = db::insert_agent(&state.db, tenant.id(), &agent)
        .await
        .map_err(Error::internal)?;
    if !created {
        return Err(state.codes.duplicate_agent(&agent.agent_id));
    }
    Ok((StatusCode::CREATED, Json(agent_json(&agent))))
}

pub(crate) async fn get_agent(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(agent_id): Path<String>,
) -> Result<Json<Value>, Error> {
    let agent = tenant
        .load("Agent", &agent_id, |tenant, id| {
            db::find_agent(&state.db, tenant, id)
        })
        .await?;
    Ok(Json(agent_json(&agent)))
}

pub(crate) async fn ingest_event(
    State(state): State<AppState>,
    tenant: Tenant,
    ValidJson(new): ValidJson<NewEvent>,
) -> Result<(StatusCode, Json<Value>), Error> {
    normalize(&new).map_err(|reason| state.codes.normalization_failed(reason))?;
    let agent = tenant
        .load("Agent", &new.agent_id, |tenant, id| {
            db::find_agent(&state.db, tenant, id)
        })
        .await?;
    let event = Event {
        event_id: new.event_id.to_ascii_lowercase(),
        agent_id: agent.agent_id,
        category: new.category,
        payload: Value::Object(new.payload),
        occurred_at: new.timestamp,
    };
    db::insert_event(&state.db, tenant.id(), &event)
        .await
        .map_err(Error::internal)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"accepted": true, "eventId": event.event_id})),
    ))
}

pub(crate) async fn get_event(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(event_id): Path<String>,
) -> Result<Json<Value>, Error> {
    let event_id = event_id.to_ascii_lowercase();
    let event = tenant
        .load("Event", &event_id, |tenant, id| {
            db::find_event(&state.db, tenant, id)
        })
        .await?;
    Ok(Json(json!({
        "eventId": event.event_id,
        "agentId": event.agent_id,
        "category": event.category,
        "timestamp": event.occurred_at,
        "payload": event.payload,
    })))
}

/// Why an event cannot be normalized, if it cannot.
fn normalize(event: &NewEvent) -> Result<(), String> {
    let Some((_, needs)) = CATEGORIES.iter().find(|(c, _)| *c == event.category) else {
        return Err(format!("unknown category '{}'", event.category));
    };
    match needs.iter().find(|f| !event.payload.contains_key(**f)) {
        Some(missing) => Err(format!(
            "category '{}' requires the payload field '{missing}'",
            event.category
        )),
        None => Ok(()),
    }
}

fn agent_json(agent: &Agent) -> Value {
    json!({"agentId": agent.agent_id, "name": agent.name})
}

/// The longest export the service makes, in days.
const MAX_EXPORT_DAYS: i64 = 90;

/// `GET /v1/exports?from=2026-01-01&to=2026-03-31`: the events between two dates, at most 90
/// days apart.
///
/// This handler speaks no errata API on purpose: it answers a bad range the way a service in
/// any language raises a catalog code by name, with the raise form (`Content-Type:
/// application/vnd.errata+json` and `{"code", "args", "param"}`). The gateway renders that code
/// from the catalog: its status, message, request id and format; the raise body never reaches
/// the client.
pub(crate) async fn export_events(
    State(codes): State<crate::codes::Codes>,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let raise = |body: Value| {
        (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/vnd.errata+json")],
            body.to_string(),
        )
            .into_response()
    };
    let date = |name: &str| {
        let value = query.get(name)?;
        time::Date::parse(
            value,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .ok()
    };
    let (from, to) = match (date("from"), date("to")) {
        (Some(from), Some(to)) => (from, to),
        (None, _) => return raise(json!({"code": codes.bad_parameter(), "param": "from"})),
        (_, None) => return raise(json!({"code": codes.bad_parameter(), "param": "to"})),
    };
    if to < from || (to - from).whole_days() > MAX_EXPORT_DAYS {
        return raise(json!({
            "code": codes.range_too_long(),
            "args": {"max_days": MAX_EXPORT_DAYS},
            "param": "to",
        }));
    }
    let day = |d: time::Date| Value::String(d.to_string());
    axum::Json(json!({"from": day(from), "to": day(to), "events": []})).into_response()
}
