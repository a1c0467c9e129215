//! The admin API's operations and types as utoipa reads them from the handlers.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    paths(
        crate::keys::list,
        crate::keys::create,
        crate::keys::show,
        crate::keys::update,
        crate::keys::revoke,
        crate::keys::rotate,
        crate::keys::plans,
        crate::log::list,
        crate::log::show,
        crate::log::usage,
        crate::overview::overview,
        crate::log::errors,
        crate::session::sign_in,
        crate::session::current,
        crate::session::sign_out,
        crate::portal::create_session,
        crate::portal::session,
        crate::portal::list_keys,
        crate::portal::create_key,
        crate::portal::show_key,
        crate::portal::update_key,
        crate::portal::revoke_key,
        crate::portal::rotate_key,
        crate::portal::usage,
        crate::portal::list_requests,
        crate::portal::show_request,
        crate::portal::errors,
        crate::operations::metrics,
        crate::operations::openapi,
        crate::health::healthz,
        crate::health::readyz,
        crate::operations::reload,
    ),
    components(schemas(
        errata_store::db::KeyRecord,
        errata_store::db::NewKey,
        crate::reload::Reloaded
    ))
)]
struct AdminApi;

/// The generated document.
pub fn generated() -> utoipa::openapi::OpenApi {
    AdminApi::openapi()
}
