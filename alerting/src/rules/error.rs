//! Errors found while loading rule files: each carries the file, the position and what is wrong.

use std::fmt;
use std::path::PathBuf;

/// One problem in one rule file. Displays as `path:line:column: message`, like a compiler,
/// leaving out the position when the problem has none (an unreadable file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RuleFileError {
    /// The file as it was given to the loader.
    pub path: PathBuf,
    /// 1-based line; 0 when unknown.
    pub line: u64,
    /// 1-based column; 0 when unknown.
    pub column: u64,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl fmt::Display for RuleFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if self.column > 0 {
                write!(f, ":{}", self.column)?;
            }
        }
        write!(f, ": {}", self.kind)
    }
}

/// The kinds of mistakes, worded after `promtool check rules` where it has a message for them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    #[error("cannot read rule file: {0}")]
    Read(String),
    #[error("rule file is not valid UTF-8")]
    NotUtf8,
    /// Not YAML, or YAML that does not fit the rule-file schema (unknown key, wrong type, …).
    #[error("{0}")]
    Yaml(String),
    #[error("group name must not be empty")]
    EmptyGroupName,
    #[error(
        "group name {name:?} is repeated in the same file (first defined at line {first_line})"
    )]
    DuplicateGroup { name: String, first_line: u64 },
    #[error("one of 'record' or 'alert' must be set")]
    NoAlertOrRecord,
    #[error("only one of 'record' and 'alert' must be set")]
    BothAlertAndRecord,
    #[error("field 'expr' must be set in rule")]
    MissingExpr,
    #[error("could not parse expression: {0}")]
    InvalidExpr(String),
    #[error("invalid field '{0}' in recording rule")]
    FieldInRecordingRule(&'static str),
    #[error("invalid recording rule name: {0:?} (must match [a-zA-Z_:][a-zA-Z0-9_:]*)")]
    InvalidRecordName(String),
    #[error("invalid label name: {0:?} (must match [a-zA-Z_][a-zA-Z0-9_]* and not be __name__)")]
    InvalidLabelName(String),
    #[error("invalid annotation name: {0:?} (must match [a-zA-Z_][a-zA-Z0-9_]*)")]
    InvalidAnnotationName(String),
    #[error("invalid duration in '{field}': {message}")]
    InvalidDuration {
        field: &'static str,
        message: String,
    },
    #[error("invalid template in {field}: {message}")]
    InvalidTemplate { field: String, message: String },
    /// A `golden_signals` entry that cannot be expanded (missing service, bad threshold, …).
    #[error("golden_signals: {0}")]
    GoldenSignal(String),
    #[error("cannot write the rule file as YAML: {0}")]
    Serialize(String),
}
