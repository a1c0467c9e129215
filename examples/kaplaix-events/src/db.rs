//! SQLite storage. Every query that reads a tenant's data filters by `tenant_id`: another
//! tenant's row is never loaded, so it cannot be told apart from a missing one.

use std::str::FromStr;

use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};

/// Opens (and migrates) the database. An in-memory database lives in one connection, kept open.
pub(crate) async fn open(url: &str) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(url)?.create_if_missing(true);
    let db = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options)
        .await?;
    migrate(&db).await?;
    Ok(db)
}

pub(crate) async fn migrate(db: &SqlitePool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS agents (
            tenant_id TEXT NOT NULL,
            agent_id  TEXT NOT NULL,
            name      TEXT NOT NULL,
            PRIMARY KEY (tenant_id, agent_id)
        )",
    )
    .execute(db)
    .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS events (
            tenant_id   TEXT NOT NULL,
            event_id    TEXT NOT NULL,
            agent_id    TEXT NOT NULL,
            category    TEXT NOT NULL,
            payload     TEXT NOT NULL,
            occurred_at TEXT,
            PRIMARY KEY (tenant_id, event_id)
        )",
    )
    .execute(db)
    .await?;
    Ok(())
}

/// An agent as stored.
pub(crate) struct Agent {
    pub(crate) agent_id: String,
    pub(crate) name: String,
}

/// An event as stored.
pub(crate) struct Event {
    pub(crate) event_id: String,
    pub(crate) agent_id: String,
    pub(crate) category: String,
    pub(crate) payload: Value,
    pub(crate) occurred_at: Option<String>,
}

/// Inserts an agent; `Ok(false)` when the tenant already has one with this id.
pub(crate) async fn insert_agent(
    db: &SqlitePool,
    tenant: &str,
    agent: &Agent,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query("INSERT INTO agents (tenant_id, agent_id, name) VALUES (?, ?, ?)")
        .bind(tenant)
        .bind(&agent.agent_id)
        .bind(&agent.name)
        .execute(db)
        .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e),
    }
}

pub(crate) async fn find_agent(
    db: &SqlitePool,
    tenant: &str,
    agent_id: &str,
) -> Result<Option<Agent>, sqlx::Error> {
    let row = sqlx::query("SELECT agent_id, name FROM agents WHERE tenant_id = ? AND agent_id = ?")
        .bind(tenant)
        .bind(agent_id)
        .fetch_optional(db)
        .await?;
    row.map(|r| {
        Ok(Agent {
            agent_id: r.try_get("agent_id")?,
            name: r.try_get("name")?,
        })
    })
    .transpose()
}

/// Stores an event once: the same `eventId` sent again is accepted and not stored twice.
pub(crate) async fn insert_event(
    db: &SqlitePool,
    tenant: &str,
    event: &Event,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT OR IGNORE INTO events
            (tenant_id, event_id, agent_id, category, payload, occurred_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(tenant)
    .bind(&event.event_id)
    .bind(&event.agent_id)
    .bind(&event.category)
    .bind(event.payload.to_string())
    .bind(&event.occurred_at)
    .execute(db)
    .await?;
    Ok(())
}

pub(crate) async fn find_event(
    db: &SqlitePool,
    tenant: &str,
    event_id: &str,
) -> Result<Option<Event>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT event_id, agent_id, category, payload, occurred_at
         FROM events WHERE tenant_id = ? AND event_id = ?",
    )
    .bind(tenant)
    .bind(event_id)
    .fetch_optional(db)
    .await?;
    row.map(|r| {
        let payload: String = r.try_get("payload")?;
        Ok(Event {
            event_id: r.try_get("event_id")?,
            agent_id: r.try_get("agent_id")?,
            category: r.try_get("category")?,
            payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
            occurred_at: r.try_get("occurred_at")?,
        })
    })
    .transpose()
}
