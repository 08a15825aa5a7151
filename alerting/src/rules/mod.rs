//! Prometheus rule files: the model ([`RuleGroup`], [`Rule`]), parsing with serde-saphyr
//! (unknown keys refused) and validation like `promtool check rules`.

mod duration;
mod error;
pub(crate) mod logs_expr;
mod model;
mod parse;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use duration::{format_duration, parse_duration};
pub use error::{ErrorKind, RuleFileError};
pub use model::{AlertingRule, RecordingRule, Rule, RuleFile, RuleGroup};
pub use parse::parse_rule_file;

/// Loads and validates every file, in order, and returns all their groups, or every error
/// found in any of them (one bad file does not hide the errors of the next).
pub fn load_rule_files(paths: &[PathBuf]) -> Result<Vec<RuleGroup>, Vec<RuleFileError>> {
    let mut groups = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let parsed = match std::fs::read(path) {
            Ok(bytes) => parse_rule_bytes(path, &bytes),
            Err(err) => Err(vec![file_error(path, ErrorKind::Read(err.to_string()))]),
        };
        match parsed {
            Ok(file_groups) => groups.extend(file_groups),
            Err(file_errors) => errors.extend(file_errors),
        }
    }
    if errors.is_empty() {
        Ok(groups)
    } else {
        Err(errors)
    }
}

/// [`parse_rule_file`] over raw bytes, refusing text that is not UTF-8.
fn parse_rule_bytes(path: &Path, bytes: &[u8]) -> Result<Vec<RuleGroup>, Vec<RuleFileError>> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_rule_file(path, text),
        Err(_) => Err(vec![file_error(path, ErrorKind::NotUtf8)]),
    }
}

fn file_error(path: &Path, kind: ErrorKind) -> RuleFileError {
    RuleFileError {
        path: path.to_path_buf(),
        line: 0,
        column: 0,
        kind,
    }
}
