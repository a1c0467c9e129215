//! Message templates: text with `{name}` placeholders; `{{` and `}}` stand for literal braces.

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Literal text (with `{{`/`}}` already unescaped when rendered).
    Text(&'a str),
    /// A placeholder, with its byte offset in the template (at the `{`).
    Arg { name: &'a str, offset: usize },
}

/// A template that could not be parsed, with the byte offset of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

/// Splits a template into text and placeholders.
pub fn parse(template: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let bytes = template.as_bytes();
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => {
                pieces.push(Piece::Text(&template[start..=i]));
                i += 2;
                start = i;
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                pieces.push(Piece::Text(&template[start..=i]));
                i += 2;
                start = i;
            }
            b'{' => {
                let Some(len) = template[i + 1..].find('}') else {
                    return Err(TemplateError {
                        offset: i,
                        message: "`{` opens a placeholder that is never closed".into(),
                    });
                };
                let name = &template[i + 1..i + 1 + len];
                if name.is_empty()
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
                {
                    return Err(TemplateError {
                        offset: i,
                        message: format!(
                            "`{{{name}}}` is not a placeholder name (letters, digits and `_` only); write `{{{{` for a literal brace"
                        ),
                    });
                }
                pieces.push(Piece::Text(&template[start..i]));
                pieces.push(Piece::Arg { name, offset: i });
                i += len + 2;
                start = i;
            }
            b'}' => {
                return Err(TemplateError {
                    offset: i,
                    message: "`}` without a matching `{`; write `}}` for a literal brace".into(),
                });
            }
            _ => i += 1,
        }
    }
    pieces.push(Piece::Text(&template[start..]));
    pieces.retain(|p| !matches!(p, Piece::Text("")));
    Ok(pieces)
}

/// The placeholder names of a template, in order of appearance (empty if it does not parse).
pub fn names(template: &str) -> Vec<&str> {
    parse(template)
        .map(|pieces| {
            pieces
                .into_iter()
                .filter_map(|p| match p {
                    Piece::Arg { name, .. } => Some(name),
                    Piece::Text(_) => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Fills a template. A placeholder `lookup` does not know is kept as written, so a missing
/// argument is visible rather than silently empty. A template that does not parse is returned
/// as it is.
pub fn fill(template: &str, mut lookup: impl FnMut(&str) -> Option<String>) -> String {
    let Ok(pieces) = parse(template) else {
        return template.to_owned();
    };
    let mut out = String::with_capacity(template.len() + 16);
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Arg { name, .. } => match lookup(name) {
                Some(v) => out.push_str(&v),
                None => {
                    out.push('{');
                    out.push_str(name);
                    out.push('}');
                }
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_named_arguments_and_escapes() {
        let t = "Maximum of {max} campaign IDs allowed per report. You provided {provided}.";
        let out = fill(t, |n| match n {
            "max" => Some("20".into()),
            "provided" => Some("25".into()),
            _ => None,
        });
        assert_eq!(
            out,
            "Maximum of 20 campaign IDs allowed per report. You provided 25."
        );
        assert_eq!(fill("{{literal}} {x}", |_| None), "{literal} {x}");
        assert_eq!(names("a {b} {{c}} {d}"), vec!["b", "d"]);
    }

    #[test]
    fn reports_bad_templates_with_offsets() {
        assert_eq!(parse("abc {x").unwrap_err().offset, 4);
        assert_eq!(parse("abc } x").unwrap_err().offset, 4);
        assert_eq!(parse("a {b c}").unwrap_err().offset, 2);
    }
}
