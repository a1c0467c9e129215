//! Reading request bodies and query strings strictly: every problem is a catalog error naming
//! the field or parameter.

use std::collections::HashMap;

use errata_axum::Error;
use errata_core::{ApiError, Condition, Violation};
use serde::de::DeserializeOwned;

/// A JSON body: a syntax error is `malformed_body`, a wrong field `invalid_fields`.
pub(super) fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| -> Error {
        let path: Vec<String> = e
            .path()
            .iter()
            .filter_map(|s| match s {
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                _ => None,
            })
            .collect();
        let inner = e.into_inner();
        if inner.is_data() {
            Error::invalid_fields([Violation::new(path, inner.to_string(), "invalid_type")])
        } else {
            ApiError::condition(Condition::MalformedBody)
                .arg("reason", inner.to_string())
                .into()
        }
    })
}

/// A query string's parameters; any parameter not in `known`, or given twice, is refused.
pub(super) struct Query(HashMap<String, String>);

pub(super) fn bad_param(name: &str, reason: impl Into<String>) -> Error {
    Error::condition(Condition::InvalidParameter)
        .arg("reason", reason.into())
        .param(name.to_owned())
}

impl Query {
    pub(super) fn parse(raw: Option<&str>, known: &[&str]) -> Result<Query, Error> {
        let mut map = HashMap::new();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if !known.contains(&k.as_ref()) {
                return Err(bad_param(
                    &k,
                    format!("unknown parameter; expected one of {}", known.join(", ")),
                ));
            }
            if map.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(bad_param(&k, "given more than once"));
            }
        }
        Ok(Query(map))
    }

    /// A text parameter; empty counts as absent.
    pub(super) fn text(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|v| !v.is_empty()).cloned()
    }

    /// An integer parameter within `min..=max`.
    pub(super) fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, Error> {
        let Some(v) = self.text(name) else {
            return Ok(None);
        };
        match v.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            Ok(_) => Err(bad_param(name, format!("must be between {min} and {max}"))),
            Err(e) => Err(bad_param(name, e.to_string())),
        }
    }
}
