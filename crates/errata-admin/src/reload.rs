//! What `POST /config/reload` (in [`crate::operations`]) asks of the running process and
//! answers: the reload itself belongs to the process (it knows the file and what is running),
//! and the admin API reaches it through [`Reload`].

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;
use utoipa::ToSchema;

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
