//! Diagnostics: where (file, line, column), how bad, what kind, and what was expected.

use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// The origin of a token: file (after include resolution), 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Span {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl Span {
    pub fn new(file: Arc<str>, line: u32, col: u32) -> Span {
        Span { file, line, col }
    }
    /// A span for things that do not come from a file (defaults, tests).
    pub fn builtin() -> Span {
        Span {
            file: Arc::from("<builtin>"),
            line: 0,
            col: 0,
        }
    }
}

impl Default for Span {
    fn default() -> Self {
        Span::builtin()
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Accepted, with a note on how rampart treats it (e.g. a keepalived tuning knob that is a
    /// no-op in rampart's one-process design). Not counted as a warning.
    Info,
    Warning,
    Error,
}

/// What kind of problem; tests assert on this rather than on message wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiagClass {
    /// Lexical/structural: unbalanced braces, unterminated quote, missing block.
    Syntax,
    /// A keyword rampart does not know at all (typo).
    UnknownKeyword,
    /// A keyword keepalived knows that rampart does not implement yet.
    Unsupported,
    /// A deprecated spelling that still works (nb_get_retry).
    Deprecated,
    /// A value of the wrong form (address, number, enum, range).
    BadValue,
    /// A required value or block is missing.
    Missing,
    /// A keyword given twice where only one is meaningful.
    Duplicate,
    /// Cross-reference and consistency problems (unknown script, VRID reuse, mixed families).
    Semantic,
    /// include problems: no match, cycle, unreadable file.
    Include,
    /// `$DEFINITION`, `@conditional`, `~SEQ`/`~LST` problems.
    Preprocess,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub class: DiagClass,
    pub span: Option<Span>,
    pub message: String,
    /// A hint: the expected form, a "did you mean", the fix.
    pub help: Option<String>,
    /// The source line the span points into, for caret rendering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_line: Option<String>,
}

impl Diagnostic {
    pub fn error(class: DiagClass, span: Option<Span>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            class,
            span,
            message: message.into(),
            help: None,
            source_line: None,
        }
    }
    pub fn warning(class: DiagClass, span: Option<Span>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(class, span, message)
        }
    }
    pub fn info(class: DiagClass, span: Option<Span>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Info,
            ..Diagnostic::error(class, span, message)
        }
    }
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Compiler-style rendering: `FILE:LINE:COL: error: message`, the source line, a caret.
    pub fn render(&self) -> String {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        let mut out = match &self.span {
            Some(s) => format!("{s}: {sev}: {}\n", self.message),
            None => format!("{sev}: {}\n", self.message),
        };
        if let (Some(line), Some(span)) = (&self.source_line, &self.span) {
            let line = line.trim_end_matches(['\n', '\r']);
            out.push_str(&format!("    {line}\n"));
            // Tabs are kept so the caret lines up under the token in a terminal.
            let pad: String = line
                .chars()
                .take(span.col.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            out.push_str(&format!("    {pad}^\n"));
        }
        if let Some(h) = &self.help {
            out.push_str(&format!("    = help: {h}\n"));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.render().trim_end())
    }
}

/// All diagnostics of one load, in source order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Warning)
    }
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d)
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            f.write_str(&d.render())?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
