//! Template errors: where in the template text (line and column, as Go reports them) and what.

use std::fmt;

/// A template that does not parse, or a render that failed. Displays as Go does:
/// `template: NAME:LINE:COL: message`, the column being the byte offset within the line
/// (0-based, as in Go's `ErrorContext`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct TemplateError {
    /// The template's name (Prometheus names alert templates `__alert_<alertname>`).
    pub name: String,
    /// 1-based line in the template text.
    pub line: usize,
    /// Byte offset of the problem within its line.
    pub column: usize,
    /// What went wrong; for a render failure it starts with `executing "NAME" at <…>:`.
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "template: {}:{}:{}: {}",
            self.name, self.line, self.column, self.message
        )
    }
}

/// An error before the template's name and text are at hand: a byte offset and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fail {
    pub(crate) pos: usize,
    pub(crate) message: String,
}

impl Fail {
    pub(crate) fn new(pos: usize, message: impl Into<String>) -> Fail {
        Fail {
            pos,
            message: message.into(),
        }
    }

    /// Places the failure in `text`, counting lines and the byte column as Go does.
    pub(crate) fn locate(self, name: &str, text: &str) -> TemplateError {
        let pos = self.pos.min(text.len());
        let before = text.get(..pos).unwrap_or(text);
        let line = 1 + before.matches('\n').count();
        let column = before.rfind('\n').map_or(pos, |nl| pos - nl - 1);
        TemplateError {
            name: name.to_owned(),
            line,
            column,
            message: self.message,
        }
    }
}
