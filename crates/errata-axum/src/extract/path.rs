//! [`Path`]: path parameters whose rejection is the catalog's `invalid_parameter`.

use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use errata_core::Condition;
use serde::de::DeserializeOwned;

use crate::Error;

/// The route's path parameters, deserialized.
///
/// ```
/// use errata_axum::{Error, Path};
///
/// async fn show(Path(id): Path<u32>) -> Result<String, Error> {
///     Ok(format!("item {id}"))
/// }
/// let app: axum::Router = axum::Router::new().route("/items/{id}", axum::routing::get(show));
/// ```
///
/// `/items/ten` is refused with the catalog's `invalid_parameter` code, `param` set to `id` and
/// the `reason` argument ``Cannot parse `id` with value `ten` to a `u32` ``; a parameter that
/// is not UTF-8 once percent-decoded (`%FF`) is refused the same way. A `Path` that does not fit
/// its route (a bug of the service) is `internal_error`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(PathRejection::FailedToDeserializePathParams(err))
                if err.status().is_client_error() =>
            {
                let (param, reason) = match err.kind() {
                    ErrorKind::ParseErrorAtKey { key, .. }
                    | ErrorKind::InvalidUtf8InPathParam { key }
                    | ErrorKind::DeserializeError { key, .. } => {
                        (Some(key.clone()), err.kind().to_string())
                    }
                    // One parameter extracted as a single value: name it after the route's.
                    ErrorKind::ParseError {
                        value,
                        expected_type,
                    } => match only_param(parts, state).await {
                        Some(key) => (
                            Some(key.clone()),
                            format!(
                                "Cannot parse `{key}` with value `{value}` to a `{expected_type}`"
                            ),
                        ),
                        None => (None, err.kind().to_string()),
                    },
                    _ => (None, err.kind().to_string()),
                };
                let err = Error::condition(Condition::InvalidParameter).arg("reason", reason);
                Err(match param {
                    Some(p) => err.param(p),
                    None => err,
                })
            }
            Err(rejection) => Err(Error::internal(format_args!(
                "path parameters do not fit the route: {rejection}"
            ))),
        }
    }
}

/// The name of the route's only path parameter, if it has exactly one.
async fn only_param<S: Send + Sync>(parts: &mut Parts, state: &S) -> Option<String> {
    let params = RawPathParams::from_request_parts(parts, state).await.ok()?;
    let mut names = params.iter().map(|(name, _)| name.to_owned());
    match (names.next(), names.next()) {
        (Some(name), None) => Some(name),
        _ => None,
    }
}
