//! The stages of the request path, one module each, in the order a request meets them. Each
//! returns its result or the `ApiError` the client gets.

pub mod authenticate;
pub mod authorize;
pub mod body;
pub mod forward;
pub mod limit;
pub mod log;
pub mod respond;
pub mod route;
