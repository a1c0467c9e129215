//! The console's and the tenant portal's pages: one HTML shell and its assets, embedded in the
//! binary so that the console works offline (no CDN, nothing fetched at run time).
//!
//! ```ignore
//! let admin = Router::new().merge(errata_admin::console::router());
//! ```
//!
//! The routes are GET-only and check no credentials: the shell is public, and every piece of
//! data the pages show comes from the admin API or the portal API, which do. The shell decides
//! from its path whether it is the console (`/`, `/console/...`) or a tenant's portal
//! (`/portal`). Assets are served under `/assets/`; an unknown asset is the catalog's
//! `route_not_found`, like any other path the admin listener does not serve.

use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The shell every page starts from.
const INDEX: &str = include_str!("../console/index.html");

/// Embedded assets: path under `/assets/`, media type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../console/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../console/app.css"),
    ),
    (
        "vendor/chart.umd.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../console/vendor/chart.umd.min.js"),
    ),
    (
        "vendor/chart.js.LICENSE.md",
        "text/markdown; charset=utf-8",
        include_bytes!("../console/vendor/chart.js.LICENSE.md"),
    ),
];

/// Assets change only with the binary; an hour keeps a browser from asking on every page while
/// an upgrade shows within the hour.
const ASSET_CACHE: &str = "public, max-age=3600";

/// The console and portal pages and their assets, for the admin router to merge.
pub fn router() -> Router {
    Router::new()
        .route("/", get(shell))
        .route("/console", get(shell))
        .route("/console/{*rest}", get(shell))
        .route("/portal", get(shell))
        .route("/assets/{*path}", get(asset))
}

async fn shell() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // The shell names the current assets; never let a stale copy outlive an upgrade.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX,
    )
        .into_response()
}

async fn asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == path) {
        Some((_, media_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *media_type),
                (header::CACHE_CONTROL, ASSET_CACHE),
            ],
            *bytes,
        )
            .into_response(),
        // The same answer as any other path the admin listener does not serve.
        None => errata_axum::Error::from(errata_core::Condition::RouteNotFound).into_response(),
    }
}
