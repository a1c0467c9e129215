//! Reading a catalog file and linting it: every problem at once, each with its line and the fix.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use crate::catalog::{Catalog, CodeDef, Envelope};
use crate::condition::Condition;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::extends::{Layer, Merged};
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

/// A catalog file as written. `name` and `[envelope]` are required of a catalog that extends
/// none; [`crate::extends`] lays a file over the one it extends.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCatalog {
    pub extends: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    pub description: Option<String>,
    pub doc_url: Option<Spanned<String>>,
    pub version: Option<String>,
    pub envelope: Option<Spanned<RawEnvelope>>,
    pub request_id: Option<Spanned<RawRequestId>>,
    #[serde(default)]
    pub code: Vec<Spanned<RawCode>>,
}

/// Example values for type errors in a catalog file (see [`crate::schema::Examples`]).
pub(crate) const EXAMPLES: crate::schema::Examples<'static> = &[
    ("extends", "\"default\""),
    ("name", "\"Klyra\""),
    ("description", "\"The errors of the Klyra API.\""),
    ("doc_url", "\"https://docs.klyra.dev/errors\""),
    ("version", "\"2024-06\""),
    ("envelope.content_type", "\"application/json\""),
    ("envelope.null_if_absent", "[\"param\"]"),
    ("request_id.header", "\"x-request-id\""),
    ("request_id.prefix", "\"req_\""),
    ("request_id.charset", "\"base62\""),
    ("request_id.length", "24"),
    ("code.code", "\"too_many_campaigns\""),
    ("code.status", "400"),
    ("code.type", "\"invalid_request_error\""),
    ("code.title", "\"Too many campaign IDs\""),
    ("code.message", "\"Maximum of {max} campaign IDs allowed.\""),
    (
        "code.description",
        "\"More than 20 campaign IDs were provided.\"",
    ),
    (
        "code.resolution",
        "\"Split your request into several reports.\"",
    ),
    ("code.retryable", "false"),
    ("code.conditions", "[\"rate_limited\"]"),
    ("code.args", "{ max = 20 }"),
    ("code.fallback", "true"),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEnvelope {
    body: Spanned<String>,
    detail: Option<Spanned<String>>,
    #[serde(default)]
    null_if_absent: Vec<Spanned<String>>,
    content_type: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRequestId {
    header: Option<Spanned<String>>,
    prefix: Option<Spanned<String>>,
    charset: Option<Spanned<String>>,
    length: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCode {
    pub code: Spanned<String>,
    status: Spanned<i64>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    title: Option<String>,
    message: Spanned<String>,
    description: Spanned<String>,
    resolution: Option<String>,
    retryable: Spanned<bool>,
    #[serde(default)]
    pub conditions: Vec<Spanned<String>>,
    #[serde(default)]
    args: IndexMap<Spanned<String>, Spanned<toml::Value>>,
    #[serde(default)]
    pub messages: BTreeMap<Spanned<String>, Spanned<String>>,
    fallback: Option<Spanned<bool>>,
}

/// The lint over the files of a catalog: each problem is placed in the file (layer) of the
/// value it is about.
pub(crate) struct Linter<'a> {
    layers: &'a [Layer],
    /// The layer whose values are being checked.
    cur: usize,
    pub diags: Vec<(usize, Diagnostic)>,
}

impl<'a> Linter<'a> {
    fn src(&self) -> &'a str {
        &self.layers[self.cur].src
    }

    fn pos(&self, offset: usize) -> (usize, usize) {
        let layer = &self.layers[self.cur];
        layer.lines.position(&layer.src, offset)
    }

    /// `line 12`, or `line 12 of base.toml` when that line is in another file than the one
    /// being checked.
    fn line_in(&self, origin: usize, line: usize) -> String {
        match &self.layers[origin].label {
            Some(file) if origin != self.cur => format!("line {line} of {file}"),
            _ => format!("line {line}"),
        }
    }

    fn at<T>(&self, s: &Spanned<T>) -> (usize, usize) {
        self.pos(s.span().start)
    }

    fn error(&mut self, pos: (usize, usize), msg: impl Into<String>, help: impl Into<String>) {
        self.diags
            .push((self.cur, Diagnostic::error(pos, msg).help(help)));
    }

    fn warn(&mut self, pos: (usize, usize), msg: impl Into<String>, help: impl Into<String>) {
        self.diags
            .push((self.cur, Diagnostic::warning(pos, msg).help(help)));
    }

    /// The byte offset where a string value's content starts in the source.
    fn content_start(&self, span: &Range<usize>) -> usize {
        let raw = &self.src()[span.clone()];
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
        let off = self.src()[span.clone()]
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
/// carry warnings) and every problem found. `extends = "default"` lays it over the built-in
/// catalog; a path in `extends` is read relative to the working directory (see [`check_file`]).
pub fn check(src: &str) -> (Option<Catalog>, Diagnostics) {
    crate::extends::check_source(src.to_owned(), None, None)
}

/// Reads, parses and lints a catalog file, and the files it extends (a path in `extends` is
/// relative to the file naming it). Problems of the file itself carry no file name; those of a
/// file it extends carry that file's.
pub fn check_file(path: &std::path::Path) -> (Option<Catalog>, Diagnostics) {
    crate::extends::check_file(path)
}

/// Lints the merged files of a catalog and builds it.
pub(crate) fn lint(
    layers: &[Layer],
    merged: Merged,
) -> (Option<Catalog>, Vec<(usize, Diagnostic)>) {
    let mut l = Linter {
        layers,
        cur: 0,
        diags: Vec::new(),
    };
    let catalog = build(&mut l, merged);
    (catalog, l.diags)
}

fn build(l: &mut Linter<'_>, raw: Merged) -> Option<Catalog> {
    let start_here = if raw.extends {
        ""
    } else {
        ", or start from the built-in catalog with `extends = \"default\"`"
    };
    match &raw.name {
        Some((o, name)) if name.get_ref().trim().is_empty() => {
            l.cur = *o;
            let p = l.at(name);
            l.error(
                p,
                "the catalog's name is empty",
                "name the API, e.g. `name = \"Klyra\"`",
            );
        }
        Some(_) => {}
        None => {
            l.cur = 0;
            l.error(
                (0, 0),
                "the catalog has no `name`",
                format!("name the API, e.g. `name = \"Klyra\"`{start_here}"),
            );
        }
    }
    if let Some((o, url)) = &raw.doc_url {
        l.cur = *o;
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
    let envelope = match raw.envelope {
        Some((o, envelope)) => {
            l.cur = o;
            lint_envelope(l, envelope.into_inner())
        }
        None => {
            l.cur = 0;
            l.error(
                (0, 0),
                "the catalog has no [envelope]",
                format!("add an [envelope] with the JSON `body` of every error (docs/catalog-format.md){start_here}"),
            );
            None
        }
    };
    let request_id = match raw.request_id {
        Some((o, request_id)) => {
            l.cur = o;
            lint_request_id(l, Some(request_id))
        }
        None => lint_request_id(l, None),
    };
    let codes = lint_codes(l, &raw.codes);
    l.cur = 0;

    let (envelope, codes) = (envelope?, codes?);
    let mut index = HashMap::new();
    let mut by_condition = HashMap::new();
    for (i, c) in codes.iter().enumerate() {
        index.entry(c.code.clone()).or_insert(i);
        for cond in &c.conditions {
            by_condition.entry(*cond).or_insert(i);
        }
    }
    let unmapped: Vec<Condition> = Condition::ALL
        .iter()
        .copied()
        .filter(|c| !by_condition.contains_key(c))
        .collect();
    if !unmapped.is_empty() {
        unmapped_error(l, &unmapped, &codes, &raw.dropped, start_here);
    }
    Some(Catalog {
        name: raw.name.map(|(_, n)| n.into_inner())?,
        description: raw.description,
        doc_url: raw.doc_url.map(|(_, u)| u.into_inner()),
        version: raw.version,
        envelope,
        request_id: request_id.unwrap_or_default(),
        codes,
        index,
        by_condition,
    })
}

/// One problem for every condition no code answers, with the way to map them.
fn unmapped_error(
    l: &mut Linter<'_>,
    unmapped: &[Condition],
    codes: &[CodeDef],
    dropped: &[(Condition, String)],
    start_here: &str,
) {
    let message = match unmapped {
        [one] => format!(
            "condition `{}` ({}) is not mapped to any code",
            one.name(),
            one.summary()
        ),
        many => format!(
            "{} conditions are not mapped to any code: {}",
            many.len(),
            many.iter()
                .map(|c| format!("{} ({})", c.name(), c.statuses()[0]))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut help = match unmapped {
        [one] => {
            let mut candidates: Vec<&str> = codes
                .iter()
                .filter(|c| one.statuses().contains(&c.status))
                .map(|c| c.code.as_str())
                .collect();
            candidates.dedup();
            if candidates.is_empty() {
                format!(
                    "add a code with status {} and `conditions = [\"{}\"]`",
                    one.statuses()[0],
                    one.name()
                )
            } else {
                format!(
                    "add \"{}\" to the `conditions` of one of: {}",
                    one.name(),
                    candidates.join(", ")
                )
            }
        }
        _ => "map each to a code whose status it allows, with `conditions = [...]` in that [[code]] (the table in docs/catalog-format.md#conditions)".to_owned(),
    };
    help.push_str(start_here);
    if !start_here.is_empty() && unmapped.len() > 1 {
        help.push_str(", which maps them all");
    }
    // A base code replaced by this file without its conditions.
    let mut replaced: Vec<(&str, Vec<&str>)> = Vec::new();
    for (cond, code) in dropped.iter().filter(|(c, _)| unmapped.contains(c)) {
        match replaced.iter_mut().find(|(c, _)| c == code) {
            Some((_, conds)) => conds.push(cond.name()),
            None => replaced.push((code, vec![cond.name()])),
        }
    }
    for (code, conds) in replaced {
        help.push_str(&format!(
            "; `{code}` answered {} in the catalog this one extends: list {} in the `conditions` of this file's `{code}`",
            conds.join(", "),
            if conds.len() == 1 { "it" } else { "them" }
        ));
    }
    l.diags
        .push((0, Diagnostic::error((0, 0), message).help(help)));
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

fn lint_codes(l: &mut Linter<'_>, raw: &[(usize, Spanned<RawCode>)]) -> Option<Vec<CodeDef>> {
    if raw.is_empty() {
        l.cur = 0;
        l.error(
            (0, 0),
            "the catalog declares no codes",
            "add [[code]] tables, one per error code",
        );
        return None;
    }
    // Where each was first seen: its file (layer) and line.
    let mut seen: HashMap<&str, (usize, usize)> = HashMap::new();
    let mut mapped: HashMap<Condition, (String, (usize, usize))> = HashMap::new();
    let mut fallbacks: HashMap<i64, (String, (usize, usize))> = HashMap::new();
    let mut out = Vec::with_capacity(raw.len());

    for (origin, rc) in raw {
        l.cur = *origin;
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
        if let Some(&(o, line)) = seen.get(code.as_str()) {
            l.error(
                code_pos,
                format!(
                    "duplicate code `{code}` (first declared at {})",
                    l.line_in(o, line)
                ),
                "each code must be declared once; remove or rename this one",
            );
        } else {
            seen.insert(code, (*origin, code_pos.0));
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
                    let help = match crate::suggest::closest(cs.get_ref(), &names) {
                        Some(near) => format!("did you mean `{near}`?"),
                        None => format!("conditions are: {}", names.join(", ")),
                    };
                    l.error(p, format!("unknown condition `{}`", cs.get_ref()), help);
                }
                Ok(cond) => {
                    if let Some((other, (o, line))) = mapped.get(&cond) {
                        let at = l.line_in(*o, *line);
                        l.error(
                            p,
                            format!("condition `{cond}` is mapped twice: to `{other}` ({at}) and to `{code}`"),
                            "a condition answers with exactly one code; remove one of the two",
                        );
                    } else {
                        mapped.insert(cond, (code.clone(), (*origin, p.0)));
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
            if let Some((other, (o, line))) = fallbacks.get(&status) {
                let at = l.line_in(*o, *line);
                l.error(
                    p,
                    format!(
                        "`{code}` and `{other}` ({at}) are both the fallback for status {status}"
                    ),
                    "mark one code per status as `fallback = true`",
                );
            } else {
                fallbacks.insert(status, (code.clone(), (*origin, p.0)));
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
