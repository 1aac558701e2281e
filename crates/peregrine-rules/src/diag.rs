//! Diagnostics with a file, line and column, rendered like a compiler's.

use std::fmt;
use std::sync::Arc;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Loading continues; Falco warns in the same situations.
    Warning,
    /// Nothing from the load is used.
    Error,
}

/// A position in a source file (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, 1-based.
    pub line: usize,
    /// Column, 1-based, in characters.
    pub col: usize,
    /// Character index in the file.
    pub index: usize,
}

/// A loaded source file.
#[derive(Debug)]
pub struct Source {
    /// Name shown in messages.
    pub name: String,
    /// Whole text.
    pub text: String,
}

impl Source {
    /// The text of a 1-based line.
    pub fn line(&self, line: usize) -> &str {
        self.text.lines().nth(line.saturating_sub(1)).unwrap_or("")
    }

    /// Find `needle` in the file at or after character index `from` and
    /// return its position (used to place errors inside folded scalars).
    pub fn find_from(&self, from: usize, needle: &str) -> Option<Pos> {
        if needle.is_empty() {
            return None;
        }
        let byte_from = self.text.char_indices().nth(from).map(|(b, _)| b)?;
        let at = self.text[byte_from..].find(needle)? + byte_from;
        let before = &self.text[..at];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = self.text[line_start..at].chars().count() + 1;
        Some(Pos {
            line,
            col,
            index: before.chars().count(),
        })
    }
}

/// One problem found while loading or compiling rules.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// Severity.
    pub severity: Severity,
    /// The file.
    pub source: Option<Arc<Source>>,
    /// Where in the file.
    pub pos: Pos,
    /// What is wrong.
    pub message: String,
    /// The rule, macro or list it belongs to.
    pub item: Option<String>,
}

impl Diagnostic {
    /// An error at a position.
    pub fn error(source: &Arc<Source>, pos: Pos, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            source: Some(source.clone()),
            pos,
            message: message.into(),
            item: None,
        }
    }

    /// A warning at a position.
    pub fn warning(source: &Arc<Source>, pos: Pos, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(source, pos, message)
        }
    }

    /// Attach the item name.
    pub fn in_item(mut self, item: &str) -> Diagnostic {
        self.item = Some(item.to_string());
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let name = self
            .source
            .as_ref()
            .map(|s| s.name.as_str())
            .unwrap_or("<rules>");
        write!(
            f,
            "{name}:{}:{}: {sev}: {}",
            self.pos.line, self.pos.col, self.message
        )?;
        if let Some(item) = &self.item {
            write!(f, " (in {item})")?;
        }
        if let Some(src) = &self.source {
            if self.pos.line > 0 {
                let text = src.line(self.pos.line);
                let caret: String = text
                    .chars()
                    .take(self.pos.col.saturating_sub(1))
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                write!(f, "\n  {text}\n  {caret}^")?;
            }
        }
        Ok(())
    }
}

/// Every diagnostic of a failed load.
#[derive(Debug, Clone, thiserror::Error)]
pub struct LoadError {
    /// Errors and warnings, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.diagnostics.iter().filter(|d| d.is_error()).count();
        writeln!(f, "{n} error(s) loading rules:")?;
        for d in &self.diagnostics {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Keep the first [`MAX_DIAGNOSTICS`](crate::limits::MAX_DIAGNOSTICS)
/// errors and as many warnings, in order; what is dropped (and
/// `suppressed` errors never made) is counted in one last diagnostic.
pub fn cap(diags: &mut Vec<Diagnostic>, suppressed: usize) {
    use crate::limits::MAX_DIAGNOSTICS;
    let (mut errors, mut warnings) = (0usize, 0usize);
    diags.retain(|d| {
        let n = if d.is_error() {
            &mut errors
        } else {
            &mut warnings
        };
        *n += 1;
        *n <= MAX_DIAGNOSTICS
    });
    let more_errors = errors.saturating_sub(MAX_DIAGNOSTICS) + suppressed;
    let more_warnings = warnings.saturating_sub(MAX_DIAGNOSTICS);
    if more_errors + more_warnings == 0 {
        return;
    }
    diags.push(Diagnostic {
        severity: if more_errors > 0 {
            Severity::Error
        } else {
            Severity::Warning
        },
        source: None,
        pos: Pos::default(),
        message: format!(
            "{more_errors} more error(s) and {more_warnings} more warning(s) not shown \
             (at most {MAX_DIAGNOSTICS} of each are reported)"
        ),
        item: None,
    });
}
