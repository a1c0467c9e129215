//! `errata requests`: look up answered requests in the configured store's request log.

use std::process::ExitCode;

use clap::Subcommand;
use errata_store::db;

use crate::gateway_cli::{StoreArgs, open_store_for, runtime};

#[derive(Subcommand, Debug)]
pub enum RequestsCommand {
    /// Show the record of one request, by the request id its answer carried.
    Show {
        /// The request id (`req_…`), as the client saw it in the response header or body.
        id: String,
        #[command(flatten)]
        at: StoreArgs,
    },
    /// List request records, newest first.
    List {
        /// Only this tenant's requests.
        #[arg(long)]
        tenant: Option<String>,
        /// Only this key's requests.
        #[arg(long = "key-id")]
        key_id: Option<String>,
        /// Only answers with this catalog code, as their bodies carry it (e.g.
        /// `rate_limit_exceeded`, the built-in catalog's code for a rate limit).
        #[arg(long)]
        code: Option<String>,
        /// A status (`429`) or a class (`4xx`).
        #[arg(long)]
        status: Option<String>,
        /// Only requests at or after this time: Unix seconds or RFC 3339.
        #[arg(long)]
        since: Option<String>,
        /// Only requests before this time: Unix seconds or RFC 3339.
        #[arg(long)]
        until: Option<String>,
        /// The most records to print.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: StoreArgs,
    },
}

fn parse_time(flag: &str, v: &str) -> Result<i64, String> {
    if let Ok(n) = v.parse::<i64>() {
        return Ok(n);
    }
    time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| {
            format!(
                "--{flag} `{v}`: give Unix seconds or an RFC 3339 time such as 2026-11-15T00:00:00Z"
            )
        })
}

fn print_request(r: &errata_store::reqlog::Record) {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(r.time_ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| r.time_ms.to_string());
    println!(
        "{}  {t}  {} {}  {}  {}  key={}  tenant={}  {:.1}ms",
        r.request_id,
        r.method,
        r.path,
        r.status,
        r.code.as_deref().unwrap_or("-"),
        r.key_id.as_deref().unwrap_or("-"),
        r.tenant.as_deref().unwrap_or("-"),
        r.latency_us as f64 / 1000.0
    );
}

pub fn requests(cmd: RequestsCommand) -> Result<ExitCode, String> {
    let rt = runtime()?;
    rt.block_on(async move {
        let (RequestsCommand::Show { at, .. } | RequestsCommand::List { at, .. }) = &cmd;
        let (_, store) = open_store_for(at, false).await?;
        match cmd {
            RequestsCommand::Show { id, .. } => {
                let r = store
                    .request(&id)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or(format!(
                        "no record of `{id}` (unknown, older than the retention, or not yet written: records are written about once a second)"
                    ))?;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?
                );
            }
            RequestsCommand::List {
                tenant,
                key_id,
                code,
                status,
                since,
                until,
                limit,
                json,
                ..
            } => {
                let status = match status {
                    None => None,
                    Some(s) => Some(db::StatusFilter::parse(&s).ok_or(format!(
                        "--status `{s}`: give a status such as 429 or a class such as 4xx"
                    ))?),
                };
                let q = db::RequestQuery {
                    tenant,
                    key_id,
                    code,
                    status,
                    since_ms: since.map(|v| parse_time("since", &v)).transpose()?.map(|s| s * 1000),
                    until_ms: until.map(|v| parse_time("until", &v)).transpose()?.map(|s| s * 1000),
                    before: None,
                    limit: limit.clamp(1, 10_000),
                };
                let records = store.requests(&q).await.map_err(|e| e.to_string())?;
                if records.is_empty() && !json {
                    println!("no records");
                }
                for r in &records {
                    if json {
                        println!("{}", serde_json::to_string(r).map_err(|e| e.to_string())?);
                    } else {
                        print_request(r);
                    }
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
