//! Problems found in a catalog, each with its place in the file and the fix.

use std::fmt;

/// How bad a problem is. Errors fail `errata catalog check`; warnings are printed only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in a catalog file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// 1-based line and column; `0` when the problem concerns the whole file.
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
    /// The file the problem is in when it is not the one being read (a catalog it extends, a
    /// catalog a config names); `None` for that file itself.
    pub file: Option<String>,
}

impl Diagnostic {
    pub fn error(pos: (usize, usize), message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            line: pos.0,
            column: pos.1,
            message: message.into(),
            help: None,
            file: None,
        }
    }

    pub fn warning(pos: (usize, usize), message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(pos, message)
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Places the problem in another file than the one being read.
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    /// Renders the problem as `file:line:column: error: message` plus a `help:` line; `file`
    /// names the file being read, for problems without a file of their own.
    pub fn display<'a>(&'a self, file: &'a str) -> impl fmt::Display + 'a {
        DisplayIn { d: self, file }
    }
}

struct DisplayIn<'a> {
    d: &'a Diagnostic,
    file: &'a str,
}

impl fmt::Display for DisplayIn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let file = self.d.file.as_deref().unwrap_or(self.file);
        if self.d.line == 0 {
            write!(f, "{file}: {kind}: {}", self.d.message)?;
        } else {
            write!(
                f,
                "{file}:{}:{}: {kind}: {}",
                self.d.line, self.d.column, self.d.message
            )?;
        }
        if let Some(help) = &self.d.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// Maps byte offsets of a source text to 1-based line and column numbers (for any TOML file
/// errata reads, not only catalogs).
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(src: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    pub fn position(&self, src: &str, offset: usize) -> (usize, usize) {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let column = src
            .get(start..offset.min(src.len()))
            .map_or(1, |s| s.chars().count() + 1);
        (line, column)
    }
}

/// Every problem of one file (and of the files it names), in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    /// All problems, one per paragraph, as `errata catalog check` prints them.
    pub fn render(&self, file: &str) -> String {
        self.0
            .iter()
            .map(|d| d.display(file).to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Puts the problems of the file itself in file order, those of the whole file (line 0)
    /// after those with a place; problems of other files follow in the order they came.
    pub fn sort(&mut self) {
        self.0.sort_by_key(|d| match d.file {
            None => (false, d.line == 0, d.line, d.column),
            Some(_) => (true, false, 0, 0),
        });
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render("catalog"))
    }
}

impl std::error::Error for Diagnostics {}
