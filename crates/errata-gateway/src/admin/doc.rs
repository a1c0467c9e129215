//! The admin API's operations and types as utoipa reads them from the handlers.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    paths(
        super::keys::list,
        super::keys::create,
        super::keys::show,
        super::keys::update,
        super::keys::revoke,
        super::keys::rotate,
        super::keys::plans,
        super::log::list,
        super::log::show,
        super::log::usage,
        super::log::errors,
        super::session::sign_in,
        super::session::current,
        super::session::sign_out,
        super::portal::create_session,
        super::portal::session,
        super::portal::list_keys,
        super::portal::create_key,
        super::portal::show_key,
        super::portal::update_key,
        super::portal::revoke_key,
        super::portal::rotate_key,
        super::portal::usage,
        super::portal::list_requests,
        super::portal::show_request,
        super::portal::errors,
        super::metrics,
        super::openapi,
    ),
    components(schemas(crate::store::KeyRecord, crate::store::NewKey))
)]
struct AdminApi;

/// The generated document.
pub fn generated() -> utoipa::openapi::OpenApi {
    AdminApi::openapi()
}
