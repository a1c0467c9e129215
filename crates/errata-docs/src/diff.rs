//! What changed between two versions of a catalog, and whether clients can break on it.
//!
//! Breaking: a code removed; a code's status, type or retryability changed; a declared message
//! argument removed; an envelope field removed or moved; a condition answered by another code;
//! the request-id header or the content type changed; a field that was `null` when absent now
//! left out. Additive: a code, an argument or an envelope field added. Everything else that
//! differs (messages, descriptions, resolutions, titles) is listed as a change that breaks no one.

use std::collections::BTreeSet;
use std::fmt;

use errata_core::{Catalog, Condition};
use serde_json::Value;

/// How a change affects clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Impact {
    Breaking,
    Additive,
    /// Different text, same contract.
    Cosmetic,
}

/// One difference between two catalogs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub impact: Impact,
    /// The code concerned, if any.
    pub code: Option<String>,
    pub description: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.impact {
            Impact::Breaking => "breaking",
            Impact::Additive => "additive",
            Impact::Cosmetic => "changed ",
        };
        write!(f, "{label}  {}", self.description)
    }
}

/// Every difference, breaking first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    pub changes: Vec<Change>,
}

impl Diff {
    pub fn is_breaking(&self) -> bool {
        self.changes.iter().any(|c| c.impact == Impact::Breaking)
    }

    pub fn count(&self, impact: Impact) -> usize {
        self.changes.iter().filter(|c| c.impact == impact).count()
    }

    /// A summary line: `2 breaking, 1 additive, 3 other changes`.
    pub fn summary(&self) -> String {
        format!(
            "{} breaking, {} additive, {} other changes",
            self.count(Impact::Breaking),
            self.count(Impact::Additive),
            self.count(Impact::Cosmetic)
        )
    }
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.changes {
            writeln!(f, "{c}")?;
        }
        write!(f, "{}", self.summary())
    }
}

struct Collector(Vec<Change>);

impl Collector {
    fn push(&mut self, impact: Impact, code: Option<&str>, description: String) {
        self.0.push(Change {
            impact,
            code: code.map(str::to_owned),
            description,
        });
    }
}

/// Compares two catalogs.
pub fn diff(old: &Catalog, new: &Catalog) -> Diff {
    let mut out = Collector(Vec::new());
    diff_envelope(old, new, &mut out);
    diff_codes(old, new, &mut out);
    for cond in Condition::ALL {
        let (a, b) = (&old.code_for(*cond).code, &new.code_for(*cond).code);
        if a != b && new.code(a).is_some() {
            out.push(
                Impact::Breaking,
                Some(a),
                format!("condition `{cond}` is now answered by `{b}` instead of `{a}`"),
            );
        }
    }
    let mut changes = out.0;
    changes.sort_by_key(|c| c.impact);
    Diff { changes }
}

fn diff_codes(old: &Catalog, new: &Catalog, out: &mut Collector) {
    for o in old.codes() {
        let code = o.code.as_str();
        let Some(n) = new.code(code) else {
            out.push(
                Impact::Breaking,
                Some(code),
                format!("code `{code}` removed"),
            );
            continue;
        };
        if o.status != n.status {
            out.push(
                Impact::Breaking,
                Some(code),
                format!("`{code}` status changed from {} to {}", o.status, n.status),
            );
        }
        if o.kind != n.kind {
            out.push(
                Impact::Breaking,
                Some(code),
                format!("`{code}` type changed from `{}` to `{}`", o.kind, n.kind),
            );
        }
        if o.retryable != n.retryable {
            out.push(
                Impact::Breaking,
                Some(code),
                format!(
                    "`{code}` retryable changed from {} to {}",
                    o.retryable, n.retryable
                ),
            );
        }
        for (name, _) in &o.args {
            if n.example_arg(name).is_none() {
                out.push(
                    Impact::Breaking,
                    Some(code),
                    format!("`{code}` no longer has the message argument `{name}`"),
                );
            }
        }
        for (name, _) in &n.args {
            if o.example_arg(name).is_none() {
                out.push(
                    Impact::Additive,
                    Some(code),
                    format!("`{code}` has a new message argument `{name}`"),
                );
            }
        }
        let texts = [
            ("message", Some(&o.message), Some(&n.message)),
            ("description", Some(&o.description), Some(&n.description)),
            ("resolution", o.resolution.as_ref(), n.resolution.as_ref()),
            ("title", o.title.as_ref(), n.title.as_ref()),
        ];
        for (what, a, b) in texts {
            if a != b {
                out.push(
                    Impact::Cosmetic,
                    Some(code),
                    format!("`{code}` {what} changed"),
                );
            }
        }
    }
    for n in new.codes() {
        if old.code(&n.code).is_none() {
            out.push(
                Impact::Additive,
                Some(&n.code),
                format!("code `{}` added (status {})", n.code, n.status),
            );
        }
    }
}

/// Every field of a JSON template as `a.b.c`, with the placeholder it holds if it holds one.
fn fields(v: &Value, prefix: &str, out: &mut Vec<(String, Option<String>)>) {
    if let Value::Object(map) = v {
        for (k, child) in map {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            let placeholder = child.as_str().and_then(|s| {
                let names = errata_core::template::names(s);
                (names.len() == 1 && s.len() == names[0].len() + 2).then(|| names[0].to_owned())
            });
            out.push((path.clone(), placeholder));
            fields(child, &path, out);
        }
    }
}

fn diff_envelope(old: &Catalog, new: &Catalog, out: &mut Collector) {
    let (oe, ne) = (old.envelope(), new.envelope());
    for (what, a, b) in [
        ("envelope field", &oe.body, &ne.body),
        ("details entry field", &oe.detail, &ne.detail),
    ] {
        let (mut fa, mut fb) = (Vec::new(), Vec::new());
        fields(a, "", &mut fa);
        fields(b, "", &mut fb);
        for (path, ph) in &fa {
            match fb.iter().find(|(p, _)| p == path) {
                None => out.push(Impact::Breaking, None, format!("{what} `{path}` removed")),
                Some((_, ph2)) if ph != ph2 => out.push(
                    Impact::Breaking,
                    None,
                    format!(
                        "{what} `{path}` now holds {} instead of {}",
                        show(ph2.as_deref()),
                        show(ph.as_deref())
                    ),
                ),
                Some(_) => {}
            }
        }
        for (path, _) in &fb {
            if !fa.iter().any(|(p, _)| p == path) {
                out.push(Impact::Additive, None, format!("{what} `{path}` added"));
            }
        }
    }
    let (na, nb): (BTreeSet<_>, BTreeSet<_>) = (
        oe.null_if_absent.iter().collect(),
        ne.null_if_absent.iter().collect(),
    );
    for f in na.difference(&nb) {
        out.push(
            Impact::Breaking,
            None,
            format!("`{f}` is now left out when absent instead of sent as null"),
        );
    }
    for f in nb.difference(&na) {
        out.push(
            Impact::Additive,
            None,
            format!("`{f}` is now sent as null when absent instead of left out"),
        );
    }
    if oe.content_type != ne.content_type {
        out.push(
            Impact::Breaking,
            None,
            format!(
                "error content type changed from `{}` to `{}`",
                oe.content_type, ne.content_type
            ),
        );
    }
    let (oh, nh) = (&old.request_id().header, &new.request_id().header);
    if oh != nh {
        out.push(
            Impact::Breaking,
            None,
            format!("request-id header changed from `{oh}` to `{nh}`"),
        );
    }
    if old.doc_url() != new.doc_url() {
        out.push(Impact::Cosmetic, None, "doc_url changed".to_owned());
    }
}

fn show(placeholder: Option<&str>) -> String {
    placeholder.map_or("fixed text".to_owned(), |p| format!("`{{{p}}}`"))
}
