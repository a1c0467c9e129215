//! Reading request bodies and query strings strictly: every problem is a catalog error naming
//! the field or parameter.

use std::collections::HashMap;

use errata_axum::Error;
use errata_core::{ApiError, Condition, Violation};
use serde::de::DeserializeOwned;

/// A JSON body: a syntax error is `malformed_body`, a wrong field `invalid_fields`.
/// Numbers written with a fraction of zero (`139.0`) are the integers JSON Schema says they
/// are.
pub(super) fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let mut value: serde_json::Value = serde_json::from_slice(body).map_err(|e| -> Error {
        ApiError::condition(Condition::MalformedBody)
            .arg("reason", e.to_string())
            .into()
    })?;
    integral(&mut value);
    serde_path_to_error::deserialize(&value).map_err(|e| -> Error {
        let path: Vec<String> = e
            .path()
            .iter()
            .filter_map(|s| match s {
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                _ => None,
            })
            .collect();
        let inner = e.into_inner().to_string();
        // A string the field's type refuses (a bad CIDR, say): the message quotes it.
        let pointer: String = path.iter().map(|p| format!("/{p}")).collect();
        let message = match value.pointer(&pointer) {
            Some(serde_json::Value::String(got)) if !path.is_empty() => {
                format!("{inner}: '{got}'")
            }
            _ => inner,
        };
        Error::invalid_fields([Violation::new(path, message, "invalid_type")])
    })
}

fn integral(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64()
                && !n.is_i64()
                && !n.is_u64()
                && f.fract() == 0.0
            {
                if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
                    *v = serde_json::Value::from(f as u64);
                } else if (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
                    *v = serde_json::Value::from(f as i64);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(integral),
        serde_json::Value::Object(o) => o.values_mut().for_each(integral),
        _ => {}
    }
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

    /// A parameter as given, empty included (for those whose every value has a shape).
    pub(super) fn raw(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    /// An integer parameter within `min..=max`.
    pub(super) fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, Error> {
        let Some(v) = self.raw(name) else {
            return Ok(None);
        };
        match v.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            Ok(_) => Err(bad_param(name, format!("must be between {min} and {max}"))),
            Err(e) => Err(bad_param(name, e.to_string())),
        }
    }
}
