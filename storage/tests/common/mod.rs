//! Helpers the store tests share: the size of a directory, the registry's metrics by name,
//! and a child test process killed with `kill -9` while it appends.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

pub(crate) fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(path).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        total += if m.is_dir() {
            dir_size(&e.path())
        } else {
            m.len()
        };
    }
    total
}

/// Plain samples and histogram counts, by name.
pub(crate) fn metric_values(registry: &prometheus::Registry) -> BTreeMap<String, f64> {
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.split_once(' ')?;
            let name = name.strip_suffix("_count").unwrap_or(name);
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Runs this test binary's `kill_minus_9_child` test in a child process, with `dir` and
/// `start` in the environment variables named `<env>_DIR` and `<env>_START`. The child
/// prints `acked <n>` for each acknowledged append; once `enough` says so for one, the
/// child gets SIGKILL. Returns every number it acknowledged, in the order printed.
pub(crate) fn kill_child(
    env: &str,
    dir: &Path,
    start: u64,
    mut enough: impl FnMut(u64) -> bool,
) -> Vec<u64> {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kill_minus_9_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(format!("{env}_DIR"), dir)
        .env(format!("{env}_START"), start.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut acked = Vec::new();
    loop {
        let line = lines.next().expect("child ended").unwrap();
        if let Some(n) = line.strip_prefix("acked ") {
            let n = n.parse().unwrap();
            acked.push(n);
            if enough(n) {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Whatever it printed before dying was acknowledged.
    for line in lines.map_while(Result::ok) {
        if let Some(n) = line.strip_prefix("acked ") {
            acked.push(n.parse().unwrap());
        }
    }
    acked
}
