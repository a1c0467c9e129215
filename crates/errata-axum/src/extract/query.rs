//! [`Query`]: a query string whose rejection is the catalog's `invalid_parameter`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use errata_core::Condition;
use serde::de::DeserializeOwned;

use crate::Error;

/// The request's query string, deserialized.
///
/// ```
/// use errata_axum::{Error, Query};
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct Page { limit: Option<u32> }
///
/// async fn list(Query(page): Query<Page>) -> Result<String, Error> {
///     Ok(format!("{} items", page.limit.unwrap_or(20)))
/// }
/// let app: axum::Router = axum::Router::new().route("/items", axum::routing::get(list));
/// ```
///
/// `?limit=ten` is refused with the catalog's `invalid_parameter` code, `param` set to `limit`
/// and the `reason` argument `limit: invalid digit found in string`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Error> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|err| {
                let at = err.path().to_string();
                let message = err.into_inner().to_string();
                let named = ["missing field `", "unknown field `"]
                    .iter()
                    .find_map(|p| message.strip_prefix(p)?.split('`').next());
                let (param, reason) = match named {
                    Some(field) => (field.to_owned(), message.clone()),
                    None if at != "." => (at.clone(), format!("{at}: {message}")),
                    None => (String::new(), message.clone()),
                };
                let err = Error::condition(Condition::InvalidParameter).arg("reason", reason);
                if param.is_empty() {
                    err
                } else {
                    err.param(param)
                }
            })
    }
}
