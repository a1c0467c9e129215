//! Reading a catalog file and linting it: every problem at once, each with its line and the fix.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use crate::catalog::{Catalog, CodeDef, Envelope};
use crate::condition::Condition;
use crate::diagnostic::{Diagnostic, Diagnostics, LineIndex};
use crate::request_id::{Charset, RequestIdFormat};
use crate::template;

/// Placeholders an envelope body may use.
pub const ENVELOPE_PLACEHOLDERS: &[&str] = &[
    "code",
    "type",
    "message",
    "param",
    "details",
    "request_id",
    "doc_url",
    "status",
    "title",
];

/// Envelope placeholders that may have no value for a given error.
pub const OPTIONAL_PLACEHOLDERS: &[&str] = &["param", "details", "request_id", "doc_url"];

/// Placeholders one entry of `details` may use.
pub const DETAIL_PLACEHOLDERS: &[&str] = &["path", "pointer", "field", "message", "code"];

/// Placeholders that only make sense as a whole JSON value, not inside a longer string.
const WHOLE_VALUE_ONLY: &[&str] = &["details", "path"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    name: Spanned<String>,
    description: Option<String>,
    doc_url: Option<Spanned<String>>,
    version: Option<String>,
    envelope: Spanned<RawEnvelope>,
    request_id: Option<Spanned<RawRequestId>>,
    #[serde(default)]
    code: Vec<Spanned<RawCode>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvelope {
    body: Spanned<String>,
    detail: Option<Spanned<String>>,
    #[serde(default)]
    null_if_absent: Vec<Spanned<String>>,
    content_type: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequestId {
    header: Option<Spanned<String>>,
    prefix: Option<Spanned<String>>,
    charset: Option<Spanned<String>>,
    length: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCode {
    code: Spanned<String>,
    status: Spanned<i64>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    title: Option<String>,
    message: Spanned<String>,
    description: Spanned<String>,
    resolution: Option<String>,
    retryable: Spanned<bool>,
    #[serde(default)]
    conditions: Vec<Spanned<String>>,
    #[serde(default)]
    args: IndexMap<Spanned<String>, Spanned<toml::Value>>,
    #[serde(default)]
    messages: BTreeMap<Spanned<String>, Spanned<String>>,
    fallback: Option<Spanned<bool>>,
}

struct Linter<'a> {
    src: &'a str,
    lines: LineIndex,
    diags: Vec<Diagnostic>,
}

impl<'a> Linter<'a> {
    fn pos(&self, offset: usize) -> (usize, usize) {
        self.lines.position(self.src, offset)
    }

    fn at<T>(&self, s: &Spanned<T>) -> (usize, usize) {
        self.pos(s.span().start)
    }

    fn error(&mut self, pos: (usize, usize), msg: impl Into<String>, help: impl Into<String>) {
        self.diags.push(Diagnostic::error(pos, msg).help(help));
    }

    fn warn(&mut self, pos: (usize, usize), msg: impl Into<String>, help: impl Into<String>) {
        self.diags.push(Diagnostic::warning(pos, msg).help(help));
    }

    /// The byte offset where a string value's content starts in the source.
    fn content_start(&self, span: &Range<usize>) -> usize {
        let raw = &self.src[span.clone()];
        for delim in ["'''", "\"\"\""] {
            if let Some(rest) = raw.strip_prefix(delim) {
                let skip = if rest.starts_with("\r\n") {
                    2
                } else if rest.starts_with('\n') {
                    1
                } else {
                    0
                };
                return span.start + delim.len() + skip;
            }
        }
        span.start + usize::from(raw.starts_with(['\'', '"']))
    }

    /// Where `needle` first appears inside a string value's source, or the value's start.
    fn find_in(&self, span: &Range<usize>, needle: &str) -> (usize, usize) {
        let off = self.src[span.clone()]
            .find(needle)
            .map_or(span.start, |i| span.start + i);
        self.pos(off)
    }

    /// Where byte `offset` of a string's content is, for literal strings (exact) and basic
    /// strings without escapes before it (exact) alike.
    fn in_string(&self, span: &Range<usize>, offset: usize) -> (usize, usize) {
        self.pos((self.content_start(span) + offset).min(span.end))
    }
}

/// Parses and lints catalog source. Returns the catalog when it could be built (it may still
/// carry warnings) and every problem found.
pub fn check(src: &str) -> (Option<Catalog>, Diagnostics) {
    let mut l = Linter {
        src,
        lines: LineIndex::new(src),
        diags: Vec::new(),
    };
    let raw: RawCatalog = match toml::from_str(src) {
        Ok(raw) => raw,
        Err(e) => {
            let pos = e.span().map_or((0, 0), |s| l.pos(s.start));
            let msg = e.message().trim().to_owned();
            let help = toml_help(&msg);
            l.error(pos, msg, help);
            return (None, Diagnostics(l.diags));
        }
    };
    let catalog = build(&mut l, raw);
    let mut diags = Diagnostics(l.diags);
    diags.sort();
    let ok = !diags.has_errors();
    (catalog.filter(|_| ok), diags)
}

fn toml_help(msg: &str) -> String {
    if msg.starts_with("unknown field") {
        "remove the key or fix its spelling; the catalog format is described in docs/catalog-format.md".into()
    } else if msg.starts_with("missing field") {
        "add the key; every code needs code, status, type, message, description and retryable"
            .into()
    } else if msg.starts_with("invalid type") {
        "give the key a value of the expected type".into()
    } else if msg.contains("duplicate key") {
        "each key may appear once per table; remove or rename one".into()
    } else {
        "fix the TOML syntax at this position".into()
    }
}

fn build(l: &mut Linter<'_>, raw: RawCatalog) -> Option<Catalog> {
    if raw.name.get_ref().trim().is_empty() {
        let p = l.at(&raw.name);
        l.error(
            p,
            "the catalog's name is empty",
            "name the API, e.g. `name = \"Klyra\"`",
        );
    }
    if let Some(url) = &raw.doc_url {
        let u = url.get_ref();
        if !(u.starts_with("https://") || u.starts_with("http://") || u.starts_with('/'))
            || u.contains('#')
        {
            let p = l.at(url);
            l.error(
                p,
                format!("doc_url `{u}` is not an absolute http(s) URL or a path"),
                "give the reference page's URL without a fragment; each code links to `{doc_url}#{code}`",
            );
        }
    }
    let envelope = lint_envelope(l, raw.envelope.into_inner());
    let request_id = lint_request_id(l, raw.request_id);
    let codes = lint_codes(l, &raw.code);

    let (envelope, codes) = (envelope?, codes?);
    let mut index = HashMap::new();
    let mut by_condition = HashMap::new();
    for (i, c) in codes.iter().enumerate() {
        index.entry(c.code.clone()).or_insert(i);
        for cond in &c.conditions {
            by_condition.entry(*cond).or_insert(i);
        }
    }
    for cond in Condition::ALL {
        if !by_condition.contains_key(cond) {
            let wanted = cond.statuses()[0];
            let mut candidates: Vec<&str> = codes
                .iter()
                .filter(|c| cond.statuses().contains(&c.status))
                .map(|c| c.code.as_str())
                .collect();
            candidates.dedup();
            let help = if candidates.is_empty() {
                format!(
                    "add a code with status {} and `conditions = [\"{}\"]`",
                    wanted,
                    cond.name()
                )
            } else {
                format!(
                    "add \"{}\" to the `conditions` of one of: {}",
                    cond.name(),
                    candidates.join(", ")
                )
            };
            l.diags.push(
                Diagnostic::error(
                    (0, 0),
                    format!(
                        "condition `{}` ({}) is not mapped to any code",
                        cond.name(),
                        cond.summary()
                    ),
                )
                .help(help),
            );
        }
    }
    Some(Catalog {
        name: raw.name.into_inner(),
        description: raw.description,
        doc_url: raw.doc_url.map(Spanned::into_inner),
        version: raw.version,
        envelope,
        request_id: request_id.unwrap_or_default(),
        codes,
        index,
        by_condition,
    })
}

/// Parses a JSON template held in a TOML string, reporting syntax errors at their real line.
fn parse_json_template(l: &mut Linter<'_>, s: &Spanned<String>, what: &str) -> Option<Value> {
    match serde_json::from_str::<Value>(s.get_ref()) {
        Ok(v @ Value::Object(_)) => Some(v),
        Ok(_) => {
            let p = l.at(s);
            l.error(
                p,
                format!("the {what} template is not a JSON object"),
                "write the body as a JSON object, e.g. {\"error\": {\"code\": \"{code}\", \"message\": \"{message}\"}}",
            );
            None
        }
        Err(e) => {
            let text = s.get_ref();
            let line_start: usize = text
                .split_inclusive('\n')
                .take(e.line().saturating_sub(1))
                .map(str::len)
                .sum();
            let off = (line_start + e.column().saturating_sub(1)).min(text.len());
            let p = l.in_string(&s.span(), off);
            l.error(
                p,
                format!("the {what} template is not valid JSON: {e}"),
                "fix the JSON; placeholders go inside strings, e.g. \"status\": \"{status}\"",
            );
            None
        }
    }
}

/// Checks every string of a JSON template for placeholders; returns the names used.
fn lint_json_placeholders(
    l: &mut Linter<'_>,
    span: &Range<usize>,
    value: &Value,
    allowed: &[&str],
    what: &str,
    used: &mut Vec<String>,
) {
    match value {
        Value::String(s) => match template::parse(s) {
            Err(e) => {
                let p = l.find_in(span, s);
                l.error(
                    p,
                    format!("in the {what} template: {e}"),
                    "fix the placeholder",
                );
            }
            Ok(pieces) => {
                let whole = pieces.len() == 1;
                for piece in pieces {
                    let template::Piece::Arg { name, .. } = piece else {
                        continue;
                    };
                    let p = l.find_in(span, &format!("{{{name}}}"));
                    if !allowed.contains(&name) {
                        l.error(
                            p,
                            format!("unknown placeholder `{{{name}}}` in the {what} template"),
                            format!("use one of: {}", allowed.join(", ")),
                        );
                    } else if !whole && WHOLE_VALUE_ONLY.contains(&name) {
                        l.error(
                            p,
                            format!("`{{{name}}}` is a JSON array and must be a whole value"),
                            format!("write \"{{{name}}}\" alone as the value of its key"),
                        );
                    }
                    used.push(name.to_owned());
                }
            }
        },
        Value::Array(items) => {
            for v in items {
                lint_json_placeholders(l, span, v, allowed, what, used);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                if k.contains('{') {
                    let p = l.find_in(span, k);
                    l.error(
                        p,
                        format!("placeholder in the key `{k}` of the {what} template"),
                        "placeholders may appear in values only",
                    );
                }
                lint_json_placeholders(l, span, v, allowed, what, used);
            }
        }
        _ => {}
    }
}

fn lint_envelope(l: &mut Linter<'_>, raw: RawEnvelope) -> Option<Envelope> {
    let body = parse_json_template(l, &raw.body, "envelope body");
    let mut used = Vec::new();
    if let Some(b) = &body {
        lint_json_placeholders(
            l,
            &raw.body.span(),
            b,
            ENVELOPE_PLACEHOLDERS,
            "envelope body",
            &mut used,
        );
        for needed in ["code", "message"] {
            if !used.iter().any(|u| u == needed) {
                let p = l.at(&raw.body);
                l.error(
                    p,
                    format!("the envelope body has no `{{{needed}}}`"),
                    format!(
                        "clients need the {} of every error; add \"{{{needed}}}\" as the value of a key (KlayrAI puts the code under \"type\")",
                        if needed == "code" { "machine-readable code" } else { "message" }
                    ),
                );
            }
        }
    }
    let detail = match &raw.detail {
        Some(d) => {
            let v = parse_json_template(l, d, "detail");
            if let Some(v) = &v {
                let mut used_d = Vec::new();
                lint_json_placeholders(l, &d.span(), v, DETAIL_PLACEHOLDERS, "detail", &mut used_d);
                if body.is_some() && !used.iter().any(|u| u == "details") {
                    let p = l.at(d);
                    l.warn(
                        p,
                        "a detail template is given but the envelope body has no `{details}`",
                        "add \"details\": \"{details}\" to the body, or remove `detail`",
                    );
                }
            }
            v
        }
        None => {
            Some(serde_json::json!({"path": "{path}", "message": "{message}", "code": "{code}"}))
        }
    };
    let mut null_if_absent = Vec::new();
    for n in &raw.null_if_absent {
        let name = n.get_ref();
        if !OPTIONAL_PLACEHOLDERS.contains(&name.as_str()) {
            let p = l.at(n);
            l.error(
                p,
                format!("`{name}` in null_if_absent is not a placeholder that can be absent"),
                format!("use one of: {}", OPTIONAL_PLACEHOLDERS.join(", ")),
            );
        } else if body.is_some() && !used.iter().any(|u| u == name) {
            let p = l.at(n);
            l.warn(
                p,
                format!("`{name}` is in null_if_absent but the envelope body does not use it"),
                format!("remove it, or add \"{{{name}}}\" to the body"),
            );
        }
        null_if_absent.push(name.clone());
    }
    let content_type = match raw.content_type {
        Some(ct) if !ct.get_ref().contains('/') => {
            let p = l.at(&ct);
            l.error(
                p,
                format!("content_type `{}` is not a media type", ct.get_ref()),
                "use e.g. \"application/json\"",
            );
            ct.into_inner()
        }
        Some(ct) => ct.into_inner(),
        None => "application/json".into(),
    };
    Some(Envelope {
        body: body?,
        detail: detail?,
        null_if_absent,
        content_type,
    })
}

fn lint_request_id(
    l: &mut Linter<'_>,
    raw: Option<Spanned<RawRequestId>>,
) -> Option<RequestIdFormat> {
    let mut f = RequestIdFormat::default();
    let Some(raw) = raw else {
        return Some(f);
    };
    let raw = raw.into_inner();
    let mut ok = true;
    if let Some(h) = raw.header {
        let name = h.get_ref();
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        if !valid {
            let p = l.at(&h);
            l.error(
                p,
                format!("`{name}` is not an HTTP header name"),
                "use e.g. \"x-request-id\"",
            );
            ok = false;
        }
        f.header = name.to_ascii_lowercase();
    }
    if let Some(prefix) = raw.prefix {
        if !crate::request_id::is_safe_token(&format!("{}x", prefix.get_ref())) {
            let p = l.at(&prefix);
            l.error(
                p,
                format!(
                    "request-id prefix `{}` has characters unsafe in headers",
                    prefix.get_ref()
                ),
                "use letters, digits, `-`, `_`, `.` or `:`",
            );
            ok = false;
        }
        f.prefix = prefix.into_inner();
    }
    if let Some(cs) = raw.charset {
        match Charset::parse(cs.get_ref()) {
            Some(c) => f.charset = c,
            None => {
                let p = l.at(&cs);
                l.error(
                    p,
                    format!("unknown request-id charset `{}`", cs.get_ref()),
                    "use \"hex\", \"base62\" or \"uuid\"",
                );
                ok = false;
            }
        }
    }
    if let Some(len) = raw.length {
        let n = *len.get_ref();
        if !(8..=64).contains(&n) {
            let p = l.at(&len);
            l.error(
                p,
                format!("request-id length {n} is out of range"),
                "use 8 to 64 random characters (12 hex characters carry 48 bits)",
            );
            ok = false;
        } else {
            f.length = n as usize;
        }
    }
    ok.then_some(f)
}

fn toml_to_json(v: &toml::Value) -> Option<Value> {
    match v {
        toml::Value::String(s) => Some(Value::String(s.clone())),
        toml::Value::Integer(i) => Some(Value::from(*i)),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number),
        toml::Value::Boolean(b) => Some(Value::Bool(*b)),
        _ => None,
    }
}

fn lint_codes(l: &mut Linter<'_>, raw: &[Spanned<RawCode>]) -> Option<Vec<CodeDef>> {
    if raw.is_empty() {
        l.error(
            (0, 0),
            "the catalog declares no codes",
            "add [[code]] tables, one per error code",
        );
        return None;
    }
    let mut seen: HashMap<&str, (usize, usize)> = HashMap::new();
    let mut mapped: HashMap<Condition, (String, (usize, usize))> = HashMap::new();
    let mut fallbacks: HashMap<i64, (String, (usize, usize))> = HashMap::new();
    let mut out = Vec::with_capacity(raw.len());

    for rc in raw {
        let rc = rc.get_ref();
        let code = rc.code.get_ref();
        let code_pos = l.at(&rc.code);
        if code.is_empty()
            || !code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            l.error(
                code_pos,
                format!("code `{code}` is not a token"),
                "use letters, digits, `_`, `-` and `.` only (it is an anchor and a JSON value)",
            );
        }
        if let Some(first) = seen.get(code.as_str()) {
            l.error(
                code_pos,
                format!(
                    "duplicate code `{code}` (first declared at line {})",
                    first.0
                ),
                "each code must be declared once; remove or rename this one",
            );
        } else {
            seen.insert(code, code_pos);
        }

        let status = *rc.status.get_ref();
        if !(400..=599).contains(&status) {
            let p = l.at(&rc.status);
            l.error(
                p,
                format!("invalid status {status} for `{code}`"),
                "an error needs a client (400-499) or server (500-599) status",
            );
        }
        if rc.kind.get_ref().trim().is_empty() {
            let p = l.at(&rc.kind);
            l.error(
                p,
                format!("`{code}` has an empty type"),
                "give the category, e.g. \"invalid_request_error\"",
            );
        }
        if rc.description.get_ref().trim().is_empty() {
            let p = l.at(&rc.description);
            l.error(
                p,
                format!("`{code}` has an empty description"),
                "say in one sentence what causes it",
            );
        }

        // Arguments and their examples.
        let mut args = Vec::new();
        for (name, example) in &rc.args {
            match toml_to_json(example.get_ref()) {
                Some(v) => args.push((name.get_ref().clone(), v)),
                None => {
                    let p = l.at(example);
                    l.error(
                        p,
                        format!("the example of argument `{}` of `{code}` is not a string, number or boolean", name.get_ref()),
                        "give a scalar example value, e.g. `max = 20`",
                    );
                }
            }
            if name.get_ref() == "param" {
                let p = l.at(name);
                l.error(
                    p,
                    "`param` is built in and cannot be declared as an argument",
                    "remove it from `args`; `{param}` takes the error's param",
                );
            }
        }
        let declared: Vec<&str> = rc.args.keys().map(|k| k.get_ref().as_str()).collect();

        // Conditions.
        let mut conditions = Vec::new();
        for cs in &rc.conditions {
            let p = l.at(cs);
            match cs.get_ref().parse::<Condition>() {
                Err(_) => {
                    let names: Vec<&str> = Condition::ALL.iter().map(|c| c.name()).collect();
                    let help = match closest(cs.get_ref(), &names) {
                        Some(near) => format!("did you mean `{near}`?"),
                        None => format!("conditions are: {}", names.join(", ")),
                    };
                    l.error(p, format!("unknown condition `{}`", cs.get_ref()), help);
                }
                Ok(cond) => {
                    if let Some((other, at)) = mapped.get(&cond) {
                        l.error(
                            p,
                            format!("condition `{cond}` is mapped twice: to `{other}` (line {}) and to `{code}`", at.0),
                            "a condition answers with exactly one code; remove one of the two",
                        );
                    } else {
                        mapped.insert(cond, (code.clone(), p));
                    }
                    if (400..=599).contains(&status) && !cond.statuses().contains(&(status as u16))
                    {
                        let allowed: Vec<String> =
                            cond.statuses().iter().map(u16::to_string).collect();
                        l.error(
                            p,
                            format!(
                                "condition `{cond}` ({}) cannot be answered by `{code}` with status {status}",
                                cond.summary()
                            ),
                            format!(
                                "map it to a code with status {}, or change this code's status",
                                allowed.join(" or ")
                            ),
                        );
                    }
                    if matches!(
                        cond,
                        Condition::RateLimited
                            | Condition::ConcurrencyExceeded
                            | Condition::Overloaded
                            | Condition::UpstreamUnreachable
                            | Condition::UpstreamTimeout
                            | Condition::ServiceUnavailable
                    ) && !*rc.retryable.get_ref()
                    {
                        l.warn(
                            p,
                            format!(
                                "condition `{cond}` is transient but `{code}` is not retryable"
                            ),
                            "set `retryable = true` so clients retry it",
                        );
                    }
                    conditions.push(cond);
                }
            }
        }

        // Message templates.
        let mut used: Vec<String> = Vec::new();
        let check_template = |l: &mut Linter<'_>,
                              t: &Spanned<String>,
                              which: &str,
                              available: &[&str],
                              from: &str,
                              used: &mut Vec<String>| {
            match template::parse(t.get_ref()) {
                Err(e) => {
                    let p = l.in_string(&t.span(), e.offset);
                    l.error(p, format!("{which} of `{code}`: {e}"), "fix the template");
                }
                Ok(pieces) => {
                    for piece in pieces {
                        if let template::Piece::Arg { name, offset } = piece {
                            used.push(name.to_owned());
                            if name != "param" && !available.contains(&name) {
                                let p = l.in_string(&t.span(), offset);
                                l.error(
                                    p,
                                    format!("template argument `{{{name}}}` in {which} of `{code}` is not {from}"),
                                    if from == "declared" {
                                        format!("declare it with an example: `args = {{ {name} = ... }}`")
                                    } else {
                                        format!("give this code a message variant for that condition without `{{{name}}}`: `messages.<condition> = \"...\"`")
                                    },
                                );
                            }
                        }
                    }
                }
            }
        };
        check_template(
            l,
            &rc.message,
            "the message",
            &declared,
            "declared",
            &mut used,
        );
        for (variant, t) in &rc.messages {
            let vname = variant.get_ref();
            match vname.parse::<Condition>() {
                Ok(cond) if conditions.contains(&cond) => {
                    let provided: Vec<&str> = cond.provided_args().iter().map(|a| a.0).collect();
                    let which = format!("message `{vname}`");
                    check_template(
                        l,
                        t,
                        &which,
                        &provided,
                        &format!("supplied by condition `{cond}`"),
                        &mut Vec::new(),
                    );
                }
                Ok(cond) => {
                    let p = l.at(variant);
                    l.error(
                        p,
                        format!("message variant `{vname}` names condition `{cond}`, which `{code}` does not answer"),
                        format!("add \"{vname}\" to `conditions`, or rename the variant"),
                    );
                }
                Err(_) => {
                    let which = format!("message `{vname}`");
                    check_template(l, t, &which, &declared, "declared", &mut used);
                }
            }
        }
        // A condition answered with the main message must supply all its arguments.
        for (cs, cond) in rc
            .conditions
            .iter()
            .filter_map(|cs| cs.get_ref().parse::<Condition>().ok().map(|c| (cs, c)))
        {
            if rc.messages.contains_key(cond.name()) {
                continue;
            }
            let provided: Vec<&str> = cond.provided_args().iter().map(|a| a.0).collect();
            for name in template::names(rc.message.get_ref()) {
                if name != "param" && !provided.contains(&name) {
                    let p = l.at(cs);
                    l.error(
                        p,
                        format!("condition `{cond}` does not supply `{{{name}}}`, which the message of `{code}` uses"),
                        format!(
                            "add `messages.{cond} = \"...\"` to `{code}` using only {}",
                            if provided.is_empty() { "fixed text".to_string() } else { provided.iter().map(|a| format!("{{{a}}}")).collect::<Vec<_>>().join(", ") }
                        ),
                    );
                }
            }
        }
        for key in rc.args.keys() {
            let name = key.get_ref();
            if !used.iter().any(|u| u == name) {
                let p = l.at(key);
                l.warn(
                    p,
                    format!("argument `{name}` of `{code}` is declared but no message uses it"),
                    "remove it from `args`, or use it in the message",
                );
            }
        }

        if let Some(fb) = rc.fallback.as_ref().filter(|f| *f.get_ref()) {
            let p = l.at(fb);
            if let Some((other, at)) = fallbacks.get(&status) {
                l.error(
                    p,
                    format!("`{code}` and `{other}` (line {}) are both the fallback for status {status}", at.0),
                    "mark one code per status as `fallback = true`",
                );
            } else {
                fallbacks.insert(status, (code.clone(), p));
            }
        }

        out.push(CodeDef {
            code: code.clone(),
            status: u16::try_from(status).unwrap_or(500),
            kind: rc.kind.get_ref().clone(),
            title: rc.title.clone(),
            message: rc.message.get_ref().clone(),
            description: rc.description.get_ref().clone(),
            resolution: rc.resolution.clone(),
            retryable: *rc.retryable.get_ref(),
            conditions,
            args,
            messages: rc
                .messages
                .iter()
                .map(|(k, v)| (k.get_ref().clone(), v.get_ref().clone()))
                .collect(),
            fallback: rc.fallback.as_ref().is_some_and(|f| *f.get_ref()),
        });
    }
    Some(out)
}

/// The candidate within edit distance 2 of `word`, if any.
fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance over bytes (names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
