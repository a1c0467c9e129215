//! Example errors for the reference: each code raised with its declared example arguments and a
//! fixed request id, then rendered by errata-core itself, so the pages show real bodies and stay
//! byte-for-byte the same from one run to the next.

use errata_core::request_id::Charset;
use errata_core::{ApiError, Catalog, CodeDef, Condition, Format, RequestIdFormat, Violation};

/// Conditions whose code sends `Retry-After`, and whose clients should wait that long.
pub(crate) const RETRY_AFTER_CONDITIONS: &[Condition] = &[
    Condition::RateLimited,
    Condition::ConcurrencyExceeded,
    Condition::Overloaded,
    Condition::ServiceUnavailable,
];

/// The parameter named in examples whose message uses `{param}` (unless the code declares a
/// `param` example argument).
const EXAMPLE_PARAM: &str = "name";

/// A request id in the catalog's format that never changes: the prefix, then a fixed run of
/// characters of the catalog's charset and length (a fixed UUID for `uuid`).
pub(crate) fn request_id(format: &RequestIdFormat) -> String {
    const HEX: &[u8] = b"0123456789abcdef";
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let alphabet = match format.charset {
        Charset::Uuid => return format!("{}3f2b8c1e-7d4a-4e6b-9a5c-1d2e3f4a5b6c", format.prefix),
        Charset::Hex => HEX,
        Charset::Base62 => BASE62,
    };
    // A fixed linear congruential sequence: looks random, is the same every time.
    let mut state: u32 = 0x2545_f491;
    let random: String = (0..format.length)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            alphabet[(state >> 24) as usize % alphabet.len()] as char
        })
        .collect();
    format!("{}{random}", format.prefix)
}

/// The one field problem shown in the details of a validation error.
pub(crate) fn violation() -> Violation {
    Violation::new(
        ["items", "0", "quantity"],
        "Expected number, received string",
        "invalid_type",
    )
}

/// The `Retry-After` seconds an example of this code carries: its declared `retry_after`
/// argument, else, for a code answering a condition that sends `Retry-After`, the condition's
/// example value.
pub(crate) fn retry_after(def: &CodeDef) -> Option<u64> {
    if let Some(v) = def.example_arg("retry_after") {
        return v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
    }
    def.conditions
        .iter()
        .filter(|c| RETRY_AFTER_CONDITIONS.contains(c))
        .flat_map(|c| c.provided_args())
        .find(|(name, _)| *name == "retry_after")
        .and_then(|(_, v)| v.parse().ok())
}

/// Whether clients should wait for `Retry-After` before retrying this code.
pub(crate) fn honours_retry_after(def: &CodeDef) -> bool {
    def.retryable
        && def
            .conditions
            .iter()
            .any(|c| RETRY_AFTER_CONDITIONS.contains(c))
}

/// The example error of a code: its example arguments, `Retry-After` where it has one, a param
/// where its message names one, a field problem where it answers `invalid_fields`.
pub(crate) fn error(catalog: &Catalog, def: &CodeDef) -> ApiError {
    let mut err = ApiError::code(def.code.clone());
    for (name, value) in &def.args {
        err = err.arg(name.clone(), value.clone());
    }
    if let Some(secs) = retry_after(def) {
        err = err.retry_after(secs);
    }
    if errata_core::template::names(&def.message).contains(&"param") {
        let param = match def.example_arg("param") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => EXAMPLE_PARAM.to_owned(),
        };
        err = err.param(param);
    }
    if def.conditions.contains(&Condition::InvalidFields) {
        err = err.details([violation()]);
    }
    err.request_id(request_id(catalog.request_id()))
}

/// A code's example response as `curl -i` shows it: status line, headers, pretty body.
pub(crate) fn http(catalog: &Catalog, def: &CodeDef, format: Format) -> String {
    catalog
        .render(&error(catalog, def), format)
        .to_http_string()
}

/// A code's example body alone, as JSON.
pub(crate) fn body(catalog: &Catalog, def: &CodeDef, format: Format) -> serde_json::Value {
    catalog.render(&error(catalog, def), format).body
}

/// The code whose example shows the envelope best: the one answering `invalid_fields`, whose
/// example carries details.
pub(crate) fn envelope_code(catalog: &Catalog) -> &CodeDef {
    catalog.code_for(Condition::InvalidFields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_request_ids_match_their_format() {
        for charset in [Charset::Hex, Charset::Base62, Charset::Uuid] {
            for length in [8, 24, 64] {
                let format = RequestIdFormat {
                    charset,
                    length,
                    ..RequestIdFormat::default()
                };
                let id = request_id(&format);
                assert!(
                    format.matches(&id),
                    "{id} should match {charset:?}/{length}"
                );
                assert_eq!(id, request_id(&format));
            }
        }
    }

    #[test]
    fn examples_carry_retry_after_param_and_details() {
        let catalog = Catalog::builtin();
        let def = |c: &str| catalog.code(c).expect("builtin code");
        assert_eq!(retry_after(def("rate_limit_exceeded")), Some(12));
        assert_eq!(retry_after(def("concurrent_requests_exceeded")), Some(1));
        assert_eq!(retry_after(def("quota_exceeded")), None);
        let out = catalog.render(
            &error(catalog, def("missing_required_field")),
            Format::Envelope,
        );
        assert_eq!(out.body["error"]["param"], "name");
        let out = catalog.render(&error(catalog, def("validation_error")), Format::Envelope);
        assert_eq!(out.body["error"]["details"][0]["code"], "invalid_type");
    }
}
