//! SQLite storage. Every query that reads a tenant's data filters by `tenant_id`, and a
//! campaign's id is unique only within its tenant.

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};

pub(crate) async fn open(url: &str) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(url)?.create_if_missing(true);
    let db = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options)
        .await?;
    for statement in [
        "CREATE TABLE IF NOT EXISTS campaigns (
            tenant_id TEXT NOT NULL,
            id        TEXT NOT NULL,
            name      TEXT NOT NULL,
            synced    INTEGER NOT NULL,
            PRIMARY KEY (tenant_id, id)
        )",
        "CREATE TABLE IF NOT EXISTS reports (
            tenant_id    TEXT NOT NULL,
            id           TEXT NOT NULL PRIMARY KEY,
            account_id   TEXT NOT NULL,
            campaign_ids TEXT NOT NULL,
            date_from    TEXT NOT NULL,
            date_to      TEXT NOT NULL
        )",
        "CREATE TABLE IF NOT EXISTS diagnostics (
            tenant_id   TEXT NOT NULL,
            id          TEXT NOT NULL PRIMARY KEY,
            campaign_id TEXT NOT NULL,
            status      TEXT NOT NULL
        )",
        // One running diagnostic per campaign: the database says no to a second one.
        "CREATE UNIQUE INDEX IF NOT EXISTS one_running_diagnostic
            ON diagnostics (tenant_id, campaign_id) WHERE status = 'running'",
    ] {
        sqlx::query(statement).execute(&db).await?;
    }
    Ok(db)
}

/// A campaign as stored.
pub(crate) struct Campaign {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) synced: bool,
}

fn campaign(row: &sqlx::sqlite::SqliteRow) -> Result<Campaign, sqlx::Error> {
    Ok(Campaign {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        synced: row.try_get("synced")?,
    })
}

pub(crate) async fn upsert_campaign(
    db: &SqlitePool,
    tenant: &str,
    c: &Campaign,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO campaigns (tenant_id, id, name, synced) VALUES (?, ?, ?, ?)
         ON CONFLICT (tenant_id, id) DO UPDATE SET name = excluded.name, synced = excluded.synced",
    )
    .bind(tenant)
    .bind(&c.id)
    .bind(&c.name)
    .bind(c.synced)
    .execute(db)
    .await?;
    Ok(())
}

pub(crate) async fn find_campaign(
    db: &SqlitePool,
    tenant: &str,
    id: &str,
) -> Result<Option<Campaign>, sqlx::Error> {
    sqlx::query("SELECT id, name, synced FROM campaigns WHERE tenant_id = ? AND id = ?")
        .bind(tenant)
        .bind(id)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(campaign)
        .transpose()
}

pub(crate) async fn list_campaigns(
    db: &SqlitePool,
    tenant: &str,
) -> Result<Vec<Campaign>, sqlx::Error> {
    sqlx::query("SELECT id, name, synced FROM campaigns WHERE tenant_id = ? ORDER BY id")
        .bind(tenant)
        .fetch_all(db)
        .await?
        .iter()
        .map(campaign)
        .collect()
}

/// Stores a queued report; its new id.
pub(crate) async fn insert_report(
    db: &SqlitePool,
    tenant: &str,
    account_id: &str,
    campaign_ids: &[String],
    from: &str,
    to: &str,
) -> Result<String, sqlx::Error> {
    let ids = serde_json::Value::from(campaign_ids.to_vec()).to_string();
    sqlx::query(
        "INSERT INTO reports (tenant_id, id, account_id, campaign_ids, date_from, date_to)
         VALUES (?, 'rep_' || lower(hex(randomblob(8))), ?, ?, ?, ?) RETURNING id",
    )
    .bind(tenant)
    .bind(account_id)
    .bind(ids)
    .bind(from)
    .bind(to)
    .fetch_one(db)
    .await?
    .try_get("id")
}

/// Starts a diagnostic; `Ok(None)` when one is already running for the campaign.
pub(crate) async fn start_diagnostic(
    db: &SqlitePool,
    tenant: &str,
    campaign_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO diagnostics (tenant_id, id, campaign_id, status)
         VALUES (?, 'diag_' || lower(hex(randomblob(8))), ?, 'running') RETURNING id",
    )
    .bind(tenant)
    .bind(campaign_id)
    .fetch_one(db)
    .await;
    match inserted {
        Ok(row) => Ok(Some(row.try_get("id")?)),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
        Err(e) => Err(e),
    }
}

pub(crate) async fn finish_diagnostic(db: &SqlitePool, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE diagnostics SET status = 'done' WHERE id = ?")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}
