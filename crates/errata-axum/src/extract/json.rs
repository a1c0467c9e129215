//! [`Json`]: a JSON body whose every rejection is a condition of the catalog.
//!
//! | what went wrong | condition | what it carries |
//! |---|---|---|
//! | `Content-Type` missing or not JSON | `unsupported_content_type` | `content_type` |
//! | body over the limit | `body_too_large` | `limit` (filled by the layer) |
//! | not JSON (syntax, encoding, nesting deeper than 128) | `malformed_body` | `reason`, with line and column |
//! | JSON of the wrong shape (a missing field, a wrong type) | `invalid_fields` | `details` |

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use errata_core::{Condition, Violation};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;

/// A JSON request body (parsed with serde), or a JSON response body.
///
/// ```
/// use errata_axum::{Error, Json};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Deserialize, Serialize)]
/// struct Agent { agent_id: String }
///
/// async fn echo(Json(agent): Json<Agent>) -> Result<Json<Agent>, Error> {
///     Ok(Json(agent))
/// }
/// let app: axum::Router = axum::Router::new().route("/echo", axum::routing::post(echo));
/// ```
///
/// A body of the wrong shape is reported as the catalog's validation code with one entry in
/// `details` (serde stops at the first problem); use [`ValidJson`](crate::ValidJson) to report
/// every problem at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let bytes = json_body(req, state).await?;
        parse(&bytes).map(Json)
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// The body of a request that says it is JSON, read within the body limit.
pub(crate) async fn json_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, Error> {
    check_content_type(req.headers())?;
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::condition(Condition::BodyTooLarge)
        } else {
            tracing::debug!(%rejection, "request body could not be read");
            Error::condition(Condition::MalformedBody)
                .arg("reason", "the body could not be read to its end")
        }
    })
}

/// `application/json` or any `application/*+json`, with or without parameters.
fn check_content_type(headers: &HeaderMap) -> Result<(), Error> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Err(
            Error::condition(Condition::UnsupportedContentType).arg("content_type", "(none)")
        );
    };
    let text = value.to_str().unwrap_or("(not text)");
    let essence = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let is_json = essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"));
    if is_json {
        Ok(())
    } else {
        Err(Error::condition(Condition::UnsupportedContentType).arg("content_type", text))
    }
}

/// Parses JSON text into `T`: syntax problems are `malformed_body`, shape problems
/// `invalid_fields`.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().clone();
        let inner = err.into_inner();
        if inner.is_data() {
            Error::invalid_fields([shape_violation(&path, &message_of(&inner))])
        } else {
            malformed(&inner)
        }
    })?;
    de.end().map_err(|err| malformed(&err))?;
    Ok(value)
}

/// The body is not JSON: the reason says where (`expected value at line 1 column 10`).
pub(crate) fn malformed(err: &serde_json::Error) -> Error {
    Error::condition(Condition::MalformedBody).arg("reason", err.to_string())
}

/// serde_json's message without the position it appends.
fn message_of(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(at) if err.line() > 0 => text[..at].to_owned(),
        _ => text,
    }
}

/// A serde data error as a Zod-style violation.
pub(crate) fn shape_violation(path: &serde_path_to_error::Path, message: &str) -> Violation {
    use serde_path_to_error::Segment;
    let mut segments: Vec<String> = path
        .iter()
        .filter_map(|seg| match seg {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.clone()),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .collect();
    if let Some(field) = between_backticks(message, "missing field `") {
        segments.push(field.to_owned());
        return Violation::new(segments, "Required", "invalid_type");
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (got, want) = rest.split_once(", expected ").unwrap_or((rest, ""));
        return Violation::new(
            segments,
            format!(
                "Expected {}, received {}",
                serde_expected(want),
                serde_received(got)
            ),
            "invalid_type",
        );
    }
    if let Some(field) = between_backticks(message, "unknown field `") {
        return Violation::new(
            segments,
            format!("Unrecognized key(s) in object: '{field}'"),
            "unrecognized_keys",
        );
    }
    if let Some(variant) = between_backticks(message, "unknown variant `") {
        let options = message
            .split_once("expected ")
            .map(|(_, o)| {
                o.replace("one of ", "")
                    .replace('`', "'")
                    .replace(", ", " | ")
            })
            .unwrap_or_default();
        return Violation::new(
            segments,
            format!("Invalid enum value. Expected {options}, received '{variant}'"),
            "invalid_enum_value",
        );
    }
    Violation::new(segments, message, "custom")
}

fn between_backticks<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    message.strip_prefix(prefix)?.split('`').next()
}

/// Zod's type name for what serde's `invalid type: ...` says it got.
fn serde_received(got: &str) -> &str {
    let kind = got.split(' ').next().unwrap_or(got);
    match kind {
        "integer" | "floating" => "number",
        "string" | "character" => "string",
        "boolean" => "boolean",
        "null" | "unit" => "null",
        "map" => "object",
        "sequence" => "array",
        _ => got,
    }
}

/// Zod's type name for what serde's `expected ...` wants.
fn serde_expected(want: &str) -> &str {
    let want = want.trim();
    match want {
        "a string" | "a borrowed string" | "a character" => "string",
        "a boolean" => "boolean",
        "a sequence" | "a tuple" => "array",
        "a map" => "object",
        w if w.starts_with("struct ") || w.starts_with("a map") => "object",
        w if w.starts_with("tuple") => "array",
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" | "i8" | "i16" | "i32" | "i64" | "i128"
        | "isize" => "integer",
        "f32" | "f64" => "number",
        w => w,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Order {
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Item {
        sku: String,
        qty: u32,
    }

    fn detail(body: &str) -> (Vec<String>, String, String) {
        let err = parse::<Order>(body.as_bytes()).expect_err("body is invalid");
        let v = err.api_error().details[0].clone();
        (v.path, v.message, v.code)
    }

    #[test]
    fn serde_errors_become_zod_style_violations() {
        assert_eq!(
            detail(r#"{"items":[{"sku":"a","qty":1},{"sku":5,"qty":1}]}"#),
            (
                vec!["items".into(), "1".into(), "sku".into()],
                "Expected string, received number".into(),
                "invalid_type".into()
            )
        );
        assert_eq!(
            detail(r#"{"items":[{"qty":1}]}"#),
            (
                vec!["items".into(), "0".into(), "sku".into()],
                "Required".into(),
                "invalid_type".into()
            )
        );
        assert_eq!(detail(r#"{"items":[],"x":1}"#).2, "unrecognized_keys");
    }

    #[test]
    fn syntax_errors_are_malformed_with_line_and_column() {
        let err = parse::<Order>(b"{\n  \"items\": [,]\n}").expect_err("not JSON");
        assert_eq!(
            err.api_error().as_condition(),
            Some(Condition::MalformedBody)
        );
        assert_eq!(
            err.api_error().arg_value("reason").as_deref(),
            Some("expected value at line 2 column 13")
        );
        let err = parse::<Order>(br#"{"items":[]} trailing"#).expect_err("trailing text");
        assert_eq!(
            err.api_error().as_condition(),
            Some(Condition::MalformedBody)
        );
    }

    #[test]
    fn only_json_media_types_are_accepted() {
        let mut headers = HeaderMap::new();
        assert!(check_content_type(&headers).is_err());
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "application/vnd.api+json",
        ] {
            headers.insert(CONTENT_TYPE, ok.parse().expect("valid header"));
            assert!(check_content_type(&headers).is_ok(), "{ok}");
        }
        headers.insert(CONTENT_TYPE, "text/plain".parse().expect("valid header"));
        let err = check_content_type(&headers).expect_err("text is not JSON");
        assert_eq!(
            err.api_error().arg_value("content_type").as_deref(),
            Some("text/plain")
        );
    }
}
