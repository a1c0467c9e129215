//! [`ValidJson`]: a JSON body checked against its type's JSON Schema, every problem reported
//! at once as Zod-style `details`.
//!
//! The schema comes from the type (`#[derive(JsonSchema)]`, with schemars' validation attributes:
//! `length`, `range`, `regex`, `email`, `url`, `extend("format" = "uuid")`); the `jsonschema`
//! crate checks the body against it, so a missing field and a malformed one are reported
//! together, which a validator running after serde (garde, validator) cannot do.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

use axum::extract::{FromRequest, Request};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::json::{json_body, malformed, shape_violation};
use super::zod;
use crate::Error;

/// A JSON request body that satisfies `T`'s JSON Schema.
///
/// ```
/// use errata_axum::{Error, ValidJson};
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// #[derive(Deserialize, JsonSchema)]
/// #[serde(rename_all = "camelCase")]
/// struct Event {
///     #[schemars(extend("format" = "uuid"))]
///     event_id: String,
///     #[schemars(length(min = 1))]
///     category: String,
/// }
///
/// async fn ingest(ValidJson(event): ValidJson<Event>) -> Result<String, Error> {
///     Ok(event.event_id)
/// }
/// let app: axum::Router = axum::Router::new().route("/v1/events", axum::routing::post(ingest));
/// ```
///
/// `{"eventId": "nope"}` is refused with the catalog's validation code and two `details`:
/// `["eventId"]` "Invalid uuid" (`invalid_string`) and `["category"]` "Required"
/// (`invalid_type`). A body that is not JSON at all is `malformed_body`, as with
/// [`Json`](crate::Json).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ValidJson<T>(pub T);

impl<T, S> FromRequest<S> for ValidJson<T>
where
    T: DeserializeOwned + JsonSchema + 'static,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let bytes = json_body(req, state).await?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|err| malformed(&err))?;
        validate::<T>(&value)?;
        serde_path_to_error::deserialize(value)
            .map(ValidJson)
            .map_err(|err| {
                let path = err.path().clone();
                Error::invalid_fields([shape_violation(&path, &err.into_inner().to_string())])
            })
    }
}

/// A compiled schema: the schema itself (for the order of fields) and its validator.
struct Compiled {
    schema: Value,
    validator: jsonschema::Validator,
}

/// One compiled schema per type, made on first use.
static SCHEMAS: LazyLock<RwLock<HashMap<TypeId, Arc<Compiled>>>> =
    LazyLock::new(|| RwLock::new(HashMap::new()));

fn compiled<T: JsonSchema + 'static>() -> Result<Arc<Compiled>, Error> {
    let key = TypeId::of::<T>();
    if let Some(found) = SCHEMAS.read().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(found);
    }
    let schema = schemars::schema_for!(T).to_value();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|err| {
            Error::internal(format_args!(
                "the JSON Schema of {} does not compile: {err}",
                std::any::type_name::<T>()
            ))
        })?;
    let compiled = Arc::new(Compiled { schema, validator });
    if let Ok(mut map) = SCHEMAS.write() {
        map.insert(key, compiled.clone());
    }
    Ok(compiled)
}

/// Checks a JSON value against `T`'s schema: every violation at once, in the order `T`
/// declares its fields, as the catalog's validation code with `details`. A schema that does not
/// compile (a bug of the service) is an internal error.
///
/// ```
/// #[derive(schemars::JsonSchema)]
/// struct Report { #[schemars(length(max = 20))] campaign_ids: Vec<String> }
///
/// let err = errata_axum::validate::<Report>(&serde_json::json!({"campaign_ids": "c1"}))
///     .expect_err("a string is not a list");
/// assert_eq!(err.api_error().details[0].message, "Expected array, received string");
/// ```
pub fn validate<T: JsonSchema + 'static>(value: &Value) -> Result<(), Error> {
    let compiled = compiled::<T>()?;
    if compiled.validator.is_valid(value) {
        return Ok(());
    }
    let found = zod::violations(&compiled.schema, &compiled.validator, value);
    if found.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid_fields(found))
    }
}
