//! Where the console's and the portal's pages (HTML shells and embedded assets) join the admin
//! router: `/`, `/console/…`, `/portal`, `/assets/…`, GET only. Their data comes from the APIs
//! of this module's siblings, which check who calls.

/// The pages' routes, merged into the admin router.
pub(super) fn routes() -> axum::Router {
    crate::console_ui::router()
}
