//! The raise form: how a service in any language raises a catalog code by name, without a
//! dependency. It answers its gateway with `Content-Type: application/vnd.errata+json` and
//!
//! ```json
//! {"code": "too_many_campaigns", "args": {"max": 20, "provided": 25}}
//! ```
//!
//! optionally with `variant` (one of the code's message variants: a key of its `messages` or
//! the name of one of its conditions), `param`, `details` (`[{"path": [...], "message": "...",
//! "code": "..."}]`) and `retry_after` (seconds). The gateway renders that code from the catalog:
//! the raise body itself never reaches a client.
//!
//! [`parse`] reads the body into an [`ApiError`]; [`Catalog::check_raise`] checks it against a
//! catalog (the code exists, the variant is the code's, every argument the message needs is
//! given); [`Catalog::read_raise`] does both.
//!
//! ```
//! use errata_core::{Catalog, Format};
//!
//! let catalog = Catalog::builtin();
//! let err = catalog
//!     .read_raise(br#"{"code": "rate_limit_exceeded", "retry_after": 12}"#)
//!     .unwrap();
//! let out = catalog.render(&err, Format::Envelope);
//! assert_eq!(out.status, 429);
//! assert_eq!(out.header("retry-after"), Some("12"));
//! ```

use std::fmt;

use serde_json::{Map, Value};

use crate::catalog::Catalog;
use crate::error::{ApiError, ErrorKind, Violation};
use crate::template;

/// The media type of a raise-form body.
pub const RAISE_JSON: &str = "application/vnd.errata+json";

/// The members a raise-form body may have.
pub const RAISE_MEMBERS: [&str; 6] = ["code", "variant", "args", "param", "details", "retry_after"];

/// The `code` a detail gets when the raise does not give one.
pub const DEFAULT_DETAIL_CODE: &str = "custom";

/// Whether a `Content-Type` names the raise form (parameters such as `charset` are allowed).
pub fn is_raise_content_type(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(RAISE_JSON))
}

/// What is wrong with a raise-form body. The `Display` says it in words, for a log line; it
/// names members and the code, never an argument's value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RaiseError {
    /// The body is larger than the reader accepts.
    TooLarge { limit: usize },
    /// The body could not be read whole (a timeout, a broken connection).
    Unread(String),
    /// The body is not JSON.
    NotJson(String),
    /// The body is JSON but not an object.
    NotAnObject,
    /// No `code` member.
    MissingCode,
    /// A member the raise form does not have.
    UnknownMember(String),
    /// A member of the wrong type; `expected` says what it must be.
    WrongType {
        member: String,
        expected: &'static str,
    },
    /// The catalog has no such code.
    UnknownCode(String),
    /// The code has no such message variant.
    UnknownVariant { code: String, variant: String },
    /// The chosen message needs an argument the raise does not give.
    MissingArg { code: String, arg: String },
}

impl fmt::Display for RaiseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RaiseError::TooLarge { limit } => {
                write!(f, "the raise body is larger than {limit} bytes")
            }
            RaiseError::Unread(e) => write!(f, "the raise body could not be read: {e}"),
            RaiseError::NotJson(e) => write!(f, "the raise body is not JSON: {e}"),
            RaiseError::NotAnObject => write!(f, "the raise body is not a JSON object"),
            RaiseError::MissingCode => write!(f, "the raise body has no `code`"),
            RaiseError::UnknownMember(m) => write!(
                f,
                "the raise body has a member `{m}` the raise form does not have (it has {})",
                RAISE_MEMBERS.join(", ")
            ),
            RaiseError::WrongType { member, expected } => {
                write!(f, "`{member}` must be {expected}")
            }
            RaiseError::UnknownCode(c) => write!(f, "the catalog has no code `{c}`"),
            RaiseError::UnknownVariant { code, variant } => {
                write!(f, "code `{code}` has no message variant `{variant}`")
            }
            RaiseError::MissingArg { code, arg } => {
                write!(
                    f,
                    "the message of `{code}` needs `{arg}`, which `args` lacks"
                )
            }
        }
    }
}

impl std::error::Error for RaiseError {}

fn wrong(member: impl Into<String>, expected: &'static str) -> RaiseError {
    RaiseError::WrongType {
        member: member.into(),
        expected,
    }
}

/// Reads a raise-form body into an error, checking its shape only (not against a catalog).
///
/// When `retry_after` is absent but `args.retry_after` is a non-negative integer, that value
/// is the error's `Retry-After` too.
pub fn parse(body: &[u8]) -> Result<ApiError, RaiseError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| RaiseError::NotJson(e.to_string()))?;
    let Value::Object(obj) = value else {
        return Err(RaiseError::NotAnObject);
    };
    if let Some(m) = obj.keys().find(|k| !RAISE_MEMBERS.contains(&k.as_str())) {
        return Err(RaiseError::UnknownMember(m.clone()));
    }
    let code = match obj.get("code") {
        None => return Err(RaiseError::MissingCode),
        Some(Value::String(c)) if !c.is_empty() => c.clone(),
        Some(_) => return Err(wrong("code", "a non-empty string")),
    };
    let mut err = ApiError::code(code);
    match obj.get("variant") {
        None | Some(Value::Null) => {}
        Some(Value::String(v)) => err = err.variant(v.clone()),
        Some(_) => return Err(wrong("variant", "a string")),
    }
    match obj.get("args") {
        None | Some(Value::Null) => {}
        Some(Value::Object(args)) => {
            for (name, v) in args {
                match v {
                    Value::String(_) | Value::Number(_) | Value::Bool(_) => {
                        err = err.arg(name.clone(), v.clone());
                    }
                    _ => return Err(wrong(format!("args.{name}"), "a string, number or boolean")),
                }
            }
        }
        Some(_) => return Err(wrong("args", "an object")),
    }
    match obj.get("param") {
        None | Some(Value::Null) => {}
        Some(Value::String(p)) => err = err.param(p.clone()),
        Some(_) => return Err(wrong("param", "a string")),
    }
    match obj.get("details") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            let details = items
                .iter()
                .enumerate()
                .map(|(i, d)| detail(i, d))
                .collect::<Result<Vec<_>, _>>()?;
            err = err.details(details);
        }
        Some(_) => return Err(wrong("details", "a list")),
    }
    match obj.get("retry_after") {
        None | Some(Value::Null) => {
            if let Some(secs) = err
                .args
                .iter()
                .find(|(n, _)| n == "retry_after")
                .and_then(|(_, v)| v.as_u64())
            {
                err = err.retry_after(secs);
            }
        }
        Some(v) => match v.as_u64() {
            Some(secs) => err = err.retry_after(secs),
            None => return Err(wrong("retry_after", "a non-negative integer (seconds)")),
        },
    }
    Ok(err)
}

/// One entry of `details`: `{"path": [...], "message": "...", "code": "..."}`.
fn detail(i: usize, d: &Value) -> Result<Violation, RaiseError> {
    let Value::Object(m) = d else {
        return Err(wrong(format!("details[{i}]"), "an object"));
    };
    if let Some(k) = m
        .keys()
        .find(|k| !["path", "message", "code"].contains(&k.as_str()))
    {
        return Err(RaiseError::UnknownMember(format!("details[{i}].{k}")));
    }
    let path = match m.get("path") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(segs)) => segs
            .iter()
            .map(|s| match s {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
                _ => Err(wrong(
                    format!("details[{i}].path"),
                    "a list of strings and integers",
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(wrong(
                format!("details[{i}].path"),
                "a list of strings and integers",
            ));
        }
    };
    let text = |k: &str, required: bool| -> Result<Option<String>, RaiseError> {
        match m.get(k) {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            None | Some(Value::Null) if !required => Ok(None),
            _ => Err(wrong(format!("details[{i}].{k}"), "a string")),
        }
    };
    let message = text("message", true)?.unwrap_or_default();
    let code = text("code", false)?.unwrap_or_else(|| DEFAULT_DETAIL_CODE.to_owned());
    Ok(Violation {
        path,
        message,
        code,
    })
}

impl Catalog {
    /// Checks a raised error against this catalog: its code exists, its variant (if any) is a
    /// key of the code's `messages` or the name of one of the code's conditions, and every
    /// argument the chosen message needs is given (`param` and `retry_after` count as given
    /// when the error carries them).
    pub fn check_raise(&self, err: &ApiError) -> Result<(), RaiseError> {
        let ErrorKind::Code(code) = &err.kind else {
            return Ok(());
        };
        let def = self
            .code(code)
            .ok_or_else(|| RaiseError::UnknownCode(code.to_string()))?;
        if let Some(v) = &err.variant
            && !def.messages.contains_key(v)
            && !def.conditions.iter().any(|c| c.name() == v)
        {
            return Err(RaiseError::UnknownVariant {
                code: def.code.clone(),
                variant: v.clone(),
            });
        }
        let template = def.template_for(None, err.variant.as_deref());
        if let Some(arg) = template::names(template)
            .into_iter()
            .find(|n| err.arg_value(n).is_none())
        {
            return Err(RaiseError::MissingArg {
                code: def.code.clone(),
                arg: arg.to_owned(),
            });
        }
        Ok(())
    }

    /// Reads a raise-form body and checks it against this catalog ([`parse`], then
    /// [`Catalog::check_raise`]).
    pub fn read_raise(&self, body: &[u8]) -> Result<ApiError, RaiseError> {
        let err = parse(body)?;
        self.check_raise(&err)?;
        Ok(err)
    }
}

/// The raise-form body of an error (the inverse of [`parse`] for a code): what a service
/// sends to raise it. Conditions and status-only errors have no raise form.
pub fn to_body(err: &ApiError) -> Option<Value> {
    let ErrorKind::Code(code) = &err.kind else {
        return None;
    };
    let mut m = Map::new();
    m.insert("code".into(), Value::String(code.to_string()));
    if let Some(v) = &err.variant {
        m.insert("variant".into(), Value::String(v.clone()));
    }
    if !err.args.is_empty() {
        m.insert(
            "args".into(),
            Value::Object(err.args.iter().cloned().collect()),
        );
    }
    if let Some(p) = &err.param {
        m.insert("param".into(), Value::String(p.clone()));
    }
    if !err.details.is_empty() {
        m.insert(
            "details".into(),
            Value::Array(
                err.details
                    .iter()
                    .map(|d| serde_json::json!({"path": d.path, "message": d.message, "code": d.code}))
                    .collect(),
            ),
        );
    }
    if let Some(s) = err.retry_after {
        m.insert("retry_after".into(), Value::from(s));
    }
    Some(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Format;
    use serde_json::json;

    fn klayrai() -> Catalog {
        Catalog::from_file(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../catalogs/klayrai.toml"
        ))
        .unwrap()
    }

    #[test]
    fn the_media_type_allows_parameters_and_any_case() {
        assert!(is_raise_content_type("application/vnd.errata+json"));
        assert!(is_raise_content_type(
            "Application/VND.errata+JSON ; charset=utf-8"
        ));
        assert!(!is_raise_content_type("application/json"));
        assert!(!is_raise_content_type("application/vnd.errata+jsonx"));
    }

    #[test]
    fn a_full_raise_reads_into_the_error() {
        let err = parse(
            br#"{"code": "invalid_request", "variant": "field_required", "param": "account_id",
                "args": {"max": 20, "ok": true, "s": "x"},
                "details": [{"path": ["items", 3, "sku"], "message": "Required", "code": "invalid_type"},
                            {"path": [], "message": "Bad"}],
                "retry_after": 7}"#,
        )
        .unwrap();
        assert_eq!(err.kind, ErrorKind::Code("invalid_request".into()));
        assert_eq!(err.variant.as_deref(), Some("field_required"));
        assert_eq!(err.param.as_deref(), Some("account_id"));
        assert_eq!(err.arg_value("max").as_deref(), Some("20"));
        assert_eq!(err.arg_value("ok").as_deref(), Some("true"));
        assert_eq!(err.retry_after, Some(7));
        assert_eq!(
            err.details,
            vec![
                Violation::new(["items", "3", "sku"], "Required", "invalid_type"),
                Violation::new(Vec::<String>::new(), "Bad", "custom"),
            ]
        );
        assert_eq!(
            to_body(&err).unwrap()["details"][0],
            json!({"path": ["items", "3", "sku"], "message": "Required", "code": "invalid_type"})
        );
    }

    #[test]
    fn args_retry_after_is_the_header_when_retry_after_is_absent() {
        let err = parse(br#"{"code": "rate_limit_error", "args": {"retry_after": 30}}"#).unwrap();
        assert_eq!(err.retry_after, Some(30));
        let err =
            parse(br#"{"code": "x", "args": {"retry_after": 30}, "retry_after": 5}"#).unwrap();
        assert_eq!(err.retry_after, Some(5));
        let err = parse(br#"{"code": "x", "args": {"retry_after": -3}}"#).unwrap();
        assert_eq!(err.retry_after, None);
        let err = parse(br#"{"code": "x", "args": {"retry_after": "soon"}}"#).unwrap();
        assert_eq!(err.retry_after, None);
    }

    #[test]
    fn malformed_bodies_say_what_is_wrong() {
        let cases: &[(&[u8], RaiseError)] = &[
            (b"<html>", RaiseError::NotJson(String::new())),
            (b"[1]", RaiseError::NotAnObject),
            (br#"{"args": {}}"#, RaiseError::MissingCode),
            (br#"{"code": ""}"#, wrong("code", "a non-empty string")),
            (br#"{"code": 5}"#, wrong("code", "a non-empty string")),
            (
                br#"{"code": "x", "message": "hi"}"#,
                RaiseError::UnknownMember("message".into()),
            ),
            (
                br#"{"code": "x", "variant": 1}"#,
                wrong("variant", "a string"),
            ),
            (br#"{"code": "x", "args": [1]}"#, wrong("args", "an object")),
            (
                br#"{"code": "x", "args": {"a": {"b": 1}}}"#,
                wrong("args.a", "a string, number or boolean"),
            ),
            (br#"{"code": "x", "param": 1}"#, wrong("param", "a string")),
            (
                br#"{"code": "x", "details": {}}"#,
                wrong("details", "a list"),
            ),
            (
                br#"{"code": "x", "details": [{"path": [1.5], "message": "m"}]}"#,
                wrong("details[0].path", "a list of strings and integers"),
            ),
            (
                br#"{"code": "x", "details": [{"path": [], "message": 1}]}"#,
                wrong("details[0].message", "a string"),
            ),
            (
                br#"{"code": "x", "details": [{"path": []}]}"#,
                wrong("details[0].message", "a string"),
            ),
            (
                br#"{"code": "x", "details": [{"message": "m", "hint": "h"}]}"#,
                RaiseError::UnknownMember("details[0].hint".into()),
            ),
            (
                br#"{"code": "x", "retry_after": -1}"#,
                wrong("retry_after", "a non-negative integer (seconds)"),
            ),
            (
                br#"{"code": "x", "retry_after": "12"}"#,
                wrong("retry_after", "a non-negative integer (seconds)"),
            ),
        ];
        for (body, want) in cases {
            let got = parse(body).unwrap_err();
            match (&got, want) {
                (RaiseError::NotJson(_), RaiseError::NotJson(_)) => {}
                _ => assert_eq!(&got, want, "{}", String::from_utf8_lossy(body)),
            }
            // Counted as an invalid raise, not as an unknown code.
            assert!(!matches!(got, RaiseError::UnknownCode(_)));
            assert!(!got.to_string().is_empty());
        }
        assert_eq!(
            wrong("retry_after", "a non-negative integer (seconds)").to_string(),
            "`retry_after` must be a non-negative integer (seconds)"
        );
    }

    #[test]
    fn the_check_against_a_catalog() {
        let c = klayrai();
        let ok = c
            .read_raise(br#"{"code": "too_many_campaigns", "args": {"max": 20, "provided": 25}}"#)
            .unwrap();
        assert_eq!(
            c.render(&ok, Format::Envelope).body["error"]["message"],
            "Maximum of 20 campaign IDs allowed per report. You provided 25."
        );
        let unknown = c.read_raise(br#"{"code": "no_such_code"}"#).unwrap_err();
        assert_eq!(unknown, RaiseError::UnknownCode("no_such_code".into()));
        assert_eq!(
            c.read_raise(br#"{"code": "too_many_campaigns", "args": {"max": 20}}"#)
                .unwrap_err(),
            RaiseError::MissingArg {
                code: "too_many_campaigns".into(),
                arg: "provided".into()
            }
        );
        assert_eq!(
            c.read_raise(br#"{"code": "too_many_campaigns", "variant": "nope", "args": {"max": 20, "provided": 25}}"#)
                .unwrap_err(),
            RaiseError::UnknownVariant {
                code: "too_many_campaigns".into(),
                variant: "nope".into()
            }
        );
        // A variant of `messages`, with the argument it needs given as `param`.
        assert!(
            c.read_raise(
                br#"{"code": "invalid_request", "variant": "field_required", "param": "account_id"}"#
            )
            .is_ok()
        );
        assert!(
            c.read_raise(br#"{"code": "invalid_request", "variant": "field_required"}"#)
                .is_err()
        );
        // `retry_after` given at the top fills the message's `{retry_after}`.
        assert!(
            c.read_raise(br#"{"code": "rate_limit_error", "retry_after": 12}"#)
                .is_ok()
        );
    }

    #[test]
    fn a_condition_name_is_a_variant_and_falls_back_to_the_main_message() {
        let c = Catalog::builtin();
        let def = c.code_for(crate::Condition::InternalError);
        let body = json!({"code": def.code, "variant": "internal_error"}).to_string();
        let err = c.read_raise(body.as_bytes()).unwrap();
        let want = c.render(
            &ApiError::condition(crate::Condition::InternalError),
            Format::Envelope,
        );
        assert_eq!(c.render(&err, Format::Envelope).body, want.body);
        // A condition that is not the code's is not one of its variants.
        let body = json!({"code": def.code, "variant": "rate_limited"}).to_string();
        assert!(matches!(
            c.read_raise(body.as_bytes()),
            Err(RaiseError::UnknownVariant { .. })
        ));
    }
}
