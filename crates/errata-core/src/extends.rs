//! Reading a catalog with the files it extends, and laying each over its base.
//!
//! `extends = "default"` starts from the built-in catalog; `extends = "base.toml"` from a file
//! (relative to the one naming it), which may itself extend another. The extending file wins:
//! its `name`, `description`, `doc_url`, `version`, `[envelope]` and `[request_id]` replace the
//! base's where given (each table whole); a `[[code]]` with the code of a base code replaces
//! that definition whole, in the base's place; other codes are added after the base's. A
//! condition that a code of the extending file answers is taken from whichever base code
//! answered it (with the message variant named after it), so that it stays mapped once.

use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::catalog::{Catalog, DEFAULT_CATALOG_TOML};
use crate::condition::Condition;
use crate::diagnostic::{Diagnostic, Diagnostics, LineIndex};
use crate::load::{self, RawCatalog, RawCode, RawEnvelope, RawRequestId};
use crate::schema::{Document, Shape};

/// What `extends` names for the built-in catalog.
pub const DEFAULT: &str = "default";

/// One file of a catalog: the file being read (`label` None) or one it extends.
pub(crate) struct Layer {
    /// The file's name in diagnostics; `None` for the file being read.
    pub label: Option<String>,
    pub src: String,
    pub lines: LineIndex,
}

/// The files of a catalog laid over each other; each value keeps the layer it came from.
pub(crate) struct Merged {
    pub extends: bool,
    pub name: Option<(usize, Spanned<String>)>,
    pub description: Option<String>,
    pub doc_url: Option<(usize, Spanned<String>)>,
    pub version: Option<String>,
    pub envelope: Option<(usize, Spanned<RawEnvelope>)>,
    pub request_id: Option<(usize, Spanned<RawRequestId>)>,
    pub codes: Vec<(usize, Spanned<RawCode>)>,
    /// Conditions that a base code answered before a file replaced it without them, with the
    /// code: an unmapped-condition error says where they went.
    pub dropped: Vec<(Condition, String)>,
}

pub(crate) fn check_file(path: &Path) -> (Option<Catalog>, Diagnostics) {
    match std::fs::read_to_string(path) {
        Ok(src) => check_source(src, path.parent(), Some(path)),
        Err(e) => (
            None,
            Diagnostics(vec![Diagnostic::error((0, 0), format!("cannot read: {e}"))]),
        ),
    }
}

/// Reads `src` and the chain of files it extends (`dir` is the folder relative paths start
/// from, the working directory when `None`; `me` the file itself, to refuse a cycle through
/// it), lays them over each other and lints the result.
pub(crate) fn check_source(
    src: String,
    dir: Option<&Path>,
    me: Option<&Path>,
) -> (Option<Catalog>, Diagnostics) {
    let shape = Shape::of::<RawCatalog>();
    let mut layers: Vec<Layer> = Vec::new();
    let mut raws: Vec<RawCatalog> = Vec::new();
    let mut diags: Vec<(usize, Diagnostic)> = Vec::new();
    // The chain so far: each file's canonical path (or "default") and its name for messages.
    let mut chain: Vec<(Option<PathBuf>, String)> = vec![(
        me.and_then(|p| std::fs::canonicalize(p).ok()),
        me.map_or_else(|| "this catalog".to_owned(), |p| p.display().to_string()),
    )];
    let (mut src, mut dir, mut label) = (src, dir.map(Path::to_path_buf), None::<String>);
    loop {
        let idx = layers.len();
        let raw = read_one(&src, &shape, idx, &mut diags);
        layers.push(Layer {
            label,
            lines: LineIndex::new(&src),
            src,
        });
        let Some(raw) = raw else {
            return finish(&layers, diags, None);
        };
        let extends = raw.extends.clone();
        raws.push(raw);
        let Some(ext) = extends else { break };
        let at = {
            let layer = &layers[idx];
            layer.lines.position(&layer.src, ext.span().start)
        };
        let refuse = |diags: &mut Vec<(usize, Diagnostic)>, message: String, help: &str| {
            diags.push((idx, Diagnostic::error(at, message).help(help)));
        };
        let (key, next_src, next_dir, next_label) = if ext.get_ref() == DEFAULT {
            (
                None,
                DEFAULT_CATALOG_TOML.to_owned(),
                None,
                "the built-in catalog".to_owned(),
            )
        } else {
            let path = match &dir {
                Some(d) => d.join(ext.get_ref()),
                None => PathBuf::from(ext.get_ref()),
            };
            let read = std::fs::canonicalize(&path)
                .and_then(|c| std::fs::read_to_string(&c).map(|s| (c, s)));
            match read {
                Ok((canonical, s)) => (
                    Some(canonical),
                    s,
                    path.parent().map(Path::to_path_buf),
                    path.display().to_string(),
                ),
                Err(e) => {
                    refuse(
                        &mut diags,
                        format!(
                            "cannot read `{}`, which `extends` names: {e}",
                            path.display()
                        ),
                        "give a catalog file's path relative to this file, or \"default\" for the built-in catalog",
                    );
                    return finish(&layers, diags, None);
                }
            }
        };
        let same = |(k, name): &(Option<PathBuf>, String)| match (&key, k) {
            (Some(a), Some(b)) => a == b,
            (None, None) => name == DEFAULT,
            _ => false,
        };
        let name_in_chain = if key.is_none() {
            DEFAULT.to_owned()
        } else {
            next_label.clone()
        };
        if chain.iter().any(same) {
            let mut names: Vec<&str> = chain.iter().map(|(_, n)| n.as_str()).collect();
            names.push(&name_in_chain);
            refuse(
                &mut diags,
                format!("`extends` makes a cycle: {}", names.join(" → ")),
                "a catalog cannot extend itself, directly or through others: remove one of these `extends`",
            );
            return finish(&layers, diags, None);
        }
        chain.push((key, name_in_chain));
        (src, dir, label) = (next_src, next_dir, Some(next_label));
    }
    let merged = merge(raws);
    let (catalog, lint) = load::lint(&layers, merged);
    diags.extend(lint);
    finish(&layers, diags, catalog)
}

/// One file: its problems of syntax, keys and types, and what could be read of it.
fn read_one(
    src: &str,
    shape: &Shape,
    idx: usize,
    diags: &mut Vec<(usize, Diagnostic)>,
) -> Option<RawCatalog> {
    let mut doc = match Document::parse(src) {
        Ok(doc) => doc,
        Err(d) => {
            diags.push((idx, d));
            return None;
        }
    };
    diags.extend(
        doc.check(shape, load::EXAMPLES)
            .into_iter()
            .map(|d| (idx, d)),
    );
    match doc.deserialize::<RawCatalog>() {
        Ok(raw) => Some(raw),
        Err(ds) => {
            diags.extend(ds.into_iter().map(|d| (idx, d)));
            None
        }
    }
}

/// The problems in order, file by file (the file read first), each named after its file; the
/// catalog only when no error remains.
fn finish(
    layers: &[Layer],
    mut diags: Vec<(usize, Diagnostic)>,
    catalog: Option<Catalog>,
) -> (Option<Catalog>, Diagnostics) {
    diags.sort_by_key(|(o, d)| (*o, d.line == 0, d.line, d.column));
    let diags = Diagnostics(
        diags
            .into_iter()
            .map(|(o, d)| match &layers[o].label {
                Some(file) => d.in_file(file.clone()),
                None => d,
            })
            .collect(),
    );
    let ok = !diags.has_errors();
    (catalog.filter(|_| ok), diags)
}

/// Lays the files over each other: `raws[0]` is the file read, each next one the base of the
/// one before.
fn merge(mut raws: Vec<RawCatalog>) -> Merged {
    let extends = raws.len() > 1;
    let bottom = raws.len() - 1;
    let base = raws.pop().map(|r| (bottom, r));
    let mut m = Merged {
        extends,
        name: None,
        description: None,
        doc_url: None,
        version: None,
        envelope: None,
        request_id: None,
        codes: Vec::new(),
        dropped: Vec::new(),
    };
    for (o, raw) in base.into_iter().chain(raws.into_iter().enumerate().rev()) {
        overlay(&mut m, o, raw);
    }
    m
}

fn overlay(m: &mut Merged, o: usize, raw: RawCatalog) {
    if let Some(v) = raw.name {
        m.name = Some((o, v));
    }
    if let Some(v) = raw.description {
        m.description = Some(v);
    }
    if let Some(v) = raw.doc_url {
        m.doc_url = Some((o, v));
    }
    if let Some(v) = raw.version {
        m.version = Some(v);
    }
    if let Some(v) = raw.envelope {
        m.envelope = Some((o, v));
    }
    if let Some(v) = raw.request_id {
        m.request_id = Some((o, v));
    }
    // Conditions this file maps are no longer the base's to answer.
    let taken: Vec<Condition> = raw
        .code
        .iter()
        .flat_map(|c| c.get_ref().conditions.iter())
        .filter_map(|c| c.get_ref().parse().ok())
        .collect();
    let base_len = m.codes.len();
    for (_, code) in &mut m.codes {
        let code = code.get_mut();
        code.conditions
            .retain(|c| c.get_ref().parse().map_or(true, |c| !taken.contains(&c)));
        code.messages.retain(|variant, _| {
            variant
                .get_ref()
                .parse()
                .map_or(true, |c: Condition| !taken.contains(&c))
        });
    }
    for code in raw.code {
        let name = code.get_ref().code.get_ref().clone();
        let replaces = m.codes[..base_len]
            .iter()
            .position(|(origin, c)| *origin != o && *c.get_ref().code.get_ref() == name);
        match replaces {
            Some(i) => {
                let answered: Vec<&str> = code
                    .get_ref()
                    .conditions
                    .iter()
                    .map(|c| c.get_ref().as_str())
                    .collect();
                for cond in &m.codes[i].1.get_ref().conditions {
                    if let Ok(c) = cond.get_ref().parse::<Condition>()
                        && !answered.contains(&cond.get_ref().as_str())
                    {
                        m.dropped.push((c, name.clone()));
                    }
                }
                m.codes[i] = (o, code);
            }
            None => m.codes.push((o, code)),
        }
    }
}
