//! `argus check-rules` and `argus rules expand`: rule files checked and printed without a
//! server, in `promtool check rules`' manner (its output lines, exit status 1 on any error).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Checks each file; prints `Checking FILE` and `  SUCCESS: N rules found` on stdout, or
/// `  FAILED:` and every error as `FILE:LINE:COL: message` on stderr.
pub(crate) fn check_rules(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for (i, file) in files.iter().enumerate() {
        if i > 0 {
            println!();
        }
        println!("Checking {}", file.display());
        match alerting::load_rule_files(std::slice::from_ref(file)) {
            Ok(groups) => {
                let rules: usize = groups.iter().map(|group| group.rules.len()).sum();
                println!("  SUCCESS: {rules} rules found");
            }
            Err(errors) => {
                failed = true;
                eprintln!("  FAILED:");
                for error in errors {
                    eprintln!("{error}");
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints the file's groups, golden_signals expanded, as a Prometheus rule file.
pub(crate) fn expand(file: &Path) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("{}: cannot read rule file: {err}", file.display());
            return ExitCode::FAILURE;
        }
    };
    match alerting::expand_golden_signals(file, &text) {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for error in errors {
                eprintln!("{error}");
            }
            ExitCode::FAILURE
        }
    }
}
