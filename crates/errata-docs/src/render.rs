//! Rendering the [`Page`](crate::page::Page) through the minijinja templates embedded from
//! `templates/`: `.html` templates autoescape, `.md` ones use the Markdown filters below.

use minijinja::{AutoEscape, Environment, Error, Output, State, Value};

use crate::page::Page;

/// The embedded templates, by the names that choose their escaping.
const TEMPLATES: &[(&str, &str)] = &[
    ("reference.md", include_str!("../templates/reference.md")),
    (
        "reference.html",
        include_str!("../templates/reference.html"),
    ),
    ("style.css", include_str!("../templates/style.css")),
    ("filter.js", include_str!("../templates/filter.js")),
];

/// Renders one of the embedded templates with the page.
/// The reference page could not be rendered from the embedded templates.
#[derive(Debug)]
pub struct DocsError(minijinja::Error);

impl std::fmt::Display for DocsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot render the error reference: {}", self.0)
    }
}

impl std::error::Error for DocsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

pub(crate) fn render(name: &str, page: &Page) -> Result<String, DocsError> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    env.set_formatter(formatter);
    env.add_filter("md_cell", md_cell);
    env.add_filter("md_text", md_text);
    env.add_filter("fence", fence);
    env.add_filter("code_spans", code_spans);
    for (tpl_name, source) in TEMPLATES {
        env.add_template(tpl_name, source).map_err(DocsError)?;
    }
    env.get_template(name)
        .and_then(|t| t.render(Value::from_serialize(page)))
        .map_err(DocsError)
}

/// Writes a value into the output: strings in `.html` templates through [`html_escape`] (unless
/// marked safe), everything else as minijinja would.
fn formatter(out: &mut Output, state: &State, value: &Value) -> Result<(), Error> {
    match value.as_str() {
        Some(s) if state.auto_escape() == AutoEscape::Html && !value.is_safe() => {
            out.write_str(&html_escape(s)).map_err(Error::from)
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// Escapes the five characters that matter in HTML text and attribute values. (minijinja's own
/// escaping also turns every `/` into `&#x2f;`, which makes URLs and JSON hard to read in the
/// page's source.)
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Splits text into runs outside and inside backtick code spans: `(is_code, text)`, with the
/// backticks kept off the code runs. An unmatched backtick is plain text.
fn spans(text: &str) -> Vec<(bool, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('`') {
        let Some(len) = rest[open + 1..].find('`') else {
            break;
        };
        out.push((false, &rest[..open]));
        out.push((true, &rest[open + 1..open + 1 + len]));
        rest = &rest[open + 2 + len..];
    }
    out.push((false, rest));
    out.retain(|(code, s)| *code || !s.is_empty());
    out
}

/// Markdown paragraph text: code spans kept, `<` and `>` elsewhere escaped so no catalog text
/// becomes raw HTML.
fn md_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (code, s) in spans(text) {
        if code {
            out.push('`');
            out.push_str(s);
            out.push('`');
        } else {
            out.push_str(&s.replace('<', "&lt;").replace('>', "&gt;"));
        }
    }
    out
}

/// Markdown table-cell text: as [`md_text`], on one line, with `|` escaped (also inside code
/// spans, as GitHub-flavoured tables require).
fn md_cell(text: &str) -> String {
    md_text(text).replace(['\r', '\n'], " ").replace('|', "\\|")
}

/// A fenced Markdown code block whose fence is longer than any backtick run in the content.
fn fence(content: &str, lang: Option<&str>) -> String {
    let longest = content.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let ticks = "`".repeat(longest.max(2) + 1);
    let body = content.trim_end_matches('\n');
    format!("{ticks}{}\n{body}\n{ticks}", lang.unwrap_or(""))
}

/// HTML text with backtick code spans as `<code>`; everything else escaped.
fn code_spans(text: &str) -> Value {
    let mut out = String::with_capacity(text.len() + 16);
    for (code, s) in spans(text) {
        let escaped = html_escape(s);
        if code {
            out.push_str("<code>");
            out.push_str(&escaped);
            out.push_str("</code>");
        } else {
            out.push_str(&escaped);
        }
    }
    Value::from_safe_string(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_filters_keep_code_and_escape_the_rest() {
        assert_eq!(md_text("use `a<b>` not <b>"), "use `a<b>` not &lt;b&gt;");
        assert_eq!(md_cell("a | `b|c`\nd"), "a \\| `b\\|c` d");
        assert_eq!(md_text("odd ` tick"), "odd ` tick");
        assert_eq!(fence("x ``` y\n", Some("http")), "````http\nx ``` y\n````");
        assert_eq!(fence("{}", None), "```\n{}\n```");
    }

    #[test]
    fn html_escape_covers_text_and_attributes_but_keeps_slashes() {
        assert_eq!(
            html_escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn html_code_spans_escape_everything() {
        let v = code_spans("send `Authorization: Bearer <key>` & <b>");
        assert_eq!(
            v.to_string(),
            "send <code>Authorization: Bearer &lt;key&gt;</code> &amp; &lt;b&gt;"
        );
    }
}
