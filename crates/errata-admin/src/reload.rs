//! `POST /config/reload`: the running process reads its config file again. The reload itself
//! belongs to the process (it knows the file and what is running); the admin API reaches it
//! through [`Reload`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use errata_axum::Error;
use errata_core::{ApiError, Condition, Violation};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AdminCaller;
use crate::state::Admin;

/// What a reload did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Reloaded {
    /// `reloaded`, or `unchanged` when the file says what is already running.
    pub status: String,
    /// The file read.
    pub file: String,
    /// The settings that changed and took effect for the requests that arrive from now on
    /// (`upstream`, `plans.pro`, `routes`, `catalog`, ...).
    pub changed: Vec<String>,
    /// The settings that changed but take a restart (`listen`, `workers`, `store`, ...);
    /// their running values stay.
    pub restart_required: Vec<String>,
}

/// Why a reload was refused; the running config stays in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReloadError {
    /// The process runs on its embedded defaults: there is no file to read.
    NoFile,
    /// The file has problems; every one, rendered `file:line:column: error: ...`.
    Invalid { file: String, problems: Vec<String> },
    /// The new config is valid but could not be put in force (an upstream client, the
    /// errors page).
    Failed(String),
}

impl std::fmt::Display for ReloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReloadError::NoFile => f.write_str(
                "this process has no config file to read again: it runs on the embedded defaults or as the demo",
            ),
            ReloadError::Invalid { problems, .. } => f.write_str(&problems.join("\n")),
            ReloadError::Failed(e) => f.write_str(e),
        }
    }
}

/// The process's reload, as the admin API calls it.
pub trait Reload: Send + Sync {
    fn reload(&self) -> Pin<Box<dyn Future<Output = Result<Reloaded, ReloadError>> + Send + '_>>;
}

/// Reads the config file again and puts it in force for new requests; the answer names what
/// changed and what takes a restart. A file with problems is refused whole (409, every
/// problem in `details`) and the running config keeps serving.
#[utoipa::path(post, path = "/config/reload", tag = "operations",
    responses(
        (status = 200, description = "The config was read and is in force for new requests", body = Reloaded),
        (status = 401, description = "No or wrong admin token"),
        (status = 409, description = "The config file has problems (each in `details`), or there is no file; the running config stays"),
        (status = 503, description = "The process is shutting down"),
    ))]
pub async fn reload(_: AdminCaller, State(a): State<Arc<Admin>>) -> Result<Json<Reloaded>, Error> {
    let Some(reloader) = a.reload.get().and_then(std::sync::Weak::upgrade) else {
        return Err(ApiError::condition(Condition::ServiceUnavailable)
            .arg("retry_after", 1)
            .retry_after(1)
            .into());
    };
    match reloader.reload().await {
        Ok(r) => Ok(Json(r)),
        Err(e) => Err(refused(&e)),
    }
}

/// A refused reload: the catalog's code for 409, each problem a detail at the file position
/// it names.
fn refused(e: &ReloadError) -> Error {
    let details: Vec<Violation> = match e {
        ReloadError::NoFile => vec![Violation::new(["config"], e.to_string(), "no_config_file")],
        ReloadError::Invalid { file, problems } => problems
            .iter()
            .map(|p| Violation::new([location(p, file)], p.clone(), "invalid_config"))
            .collect(),
        ReloadError::Failed(m) => vec![Violation::new(["config"], m.clone(), "not_applied")],
    };
    Error::from(ApiError::status(409)).details(details)
}

/// `file:line:column` of a rendered problem, or the file alone.
fn location(problem: &str, file: &str) -> String {
    problem
        .split_once(": error: ")
        .map_or_else(|| file.to_owned(), |(at, _)| at.to_owned())
}
