//! The report: one summary row per scenario variant, details per scenario, markdown and JSON.

use serde::Serialize;

use crate::procfs::Machine;

/// The outcome of one scenario variant.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ScenarioReport {
    pub(crate) scenario: String,
    pub(crate) variant: String,
    /// Human-readable headline, e.g. "1,234,567 samples/s".
    pub(crate) result: String,
    /// The headline number (lines/s, samples/s, bytes/sample or bytes/series).
    pub(crate) value: Option<f64>,
    pub(crate) p50_ms: Option<f64>,
    pub(crate) p99_ms: Option<f64>,
    /// Data directory size after the scenario, bytes.
    pub(crate) disk_bytes: Option<u64>,
    /// Peak server RSS (VmHWM), bytes.
    pub(crate) rss_peak: Option<u64>,
    /// Server CPU while loaded, in cores (1.0 = one core busy).
    pub(crate) server_cpu: Option<f64>,
    pub(crate) target: Option<String>,
    pub(crate) met: Option<bool>,
    pub(crate) notes: Vec<String>,
    #[serde(skip)]
    pub(crate) details_md: String,
    pub(crate) details: serde_json::Value,
    pub(crate) error: Option<String>,
}

impl ScenarioReport {
    pub(crate) fn new(scenario: &str, variant: &str) -> ScenarioReport {
        ScenarioReport {
            scenario: scenario.into(),
            variant: variant.into(),
            result: String::new(),
            value: None,
            p50_ms: None,
            p99_ms: None,
            disk_bytes: None,
            rss_peak: None,
            server_cpu: None,
            target: None,
            met: None,
            notes: Vec::new(),
            details_md: String::new(),
            details: serde_json::Value::Null,
            error: None,
        }
    }

    pub(crate) fn failed(scenario: &str, variant: &str, error: String) -> ScenarioReport {
        let mut r = ScenarioReport::new(scenario, variant);
        r.error = Some(error);
        r
    }
}

/// Everything a run measured, with the facts needed to compare runs.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) started_utc: String,
    pub(crate) argus_binary: String,
    pub(crate) argus_binary_modified_utc: Option<String>,
    pub(crate) git_revision: Option<String>,
    pub(crate) machine: Machine,
    pub(crate) command: String,
    /// `--quick`: a smoke test of the benchmark, not a measurement.
    pub(crate) quick: bool,
    pub(crate) scenarios: Vec<ScenarioReport>,
}

impl Report {
    pub(crate) fn markdown(&self) -> String {
        let mut md = String::new();
        md.push_str("# Argus benchmark report\n\n");
        md.push_str(&format!(
            "- started: {} UTC\n- machine: {} ({} cores, {} RAM, Linux {}, UDP rmem default/max {}/{})\n- argus: `{}` (built {}){}\n- command: `{}`\n\n",
            self.started_utc,
            self.machine.cpu_model,
            self.machine.cores,
            fmt_bytes(self.machine.mem_total_bytes),
            self.machine.kernel,
            self.machine
                .udp_rmem_default
                .map(fmt_bytes)
                .unwrap_or_else(|| "?".into()),
            self.machine
                .udp_rmem_max
                .map(fmt_bytes)
                .unwrap_or_else(|| "?".into()),
            self.argus_binary,
            self.argus_binary_modified_utc.as_deref().unwrap_or("?"),
            self.git_revision
                .as_deref()
                .map(|r| format!(", git {r}"))
                .unwrap_or_default(),
            self.command,
        ));
        if self.quick {
            md.push_str(
                "**QUICK MODE (`--quick`): a smoke test of the benchmark with tiny sizes; these \
                 figures are not measurements.**\n\n",
            );
        }
        md.push_str("## Summary\n\n");
        md.push_str(
            "| scenario | variant | result | p50 | p99 | on disk | server RSS peak | server CPU | target | met |\n\
             |---|---|---|---:|---:|---:|---:|---:|---|:-:|\n",
        );
        for s in &self.scenarios {
            let result = match &s.error {
                Some(e) => format!("ERROR: {}", one_line(e, 120)),
                None => s.result.clone(),
            };
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                s.scenario,
                s.variant,
                result,
                opt(s.p50_ms.map(fmt_ms)),
                opt(s.p99_ms.map(fmt_ms)),
                opt(s.disk_bytes.map(fmt_bytes)),
                opt(s.rss_peak.map(fmt_bytes)),
                opt(s.server_cpu.map(|c| format!("{c:.2} cores"))),
                s.target.as_deref().unwrap_or(""),
                match s.met {
                    Some(true) => "yes",
                    Some(false) => "NO",
                    None => "",
                },
            ));
        }
        md.push('\n');
        for s in &self.scenarios {
            md.push_str(&format!("## {} — {}\n\n", s.scenario, s.variant));
            if let Some(e) = &s.error {
                md.push_str(&format!("**Error:**\n\n```\n{e}\n```\n\n"));
            }
            if !s.details_md.is_empty() {
                md.push_str(&s.details_md);
                if !s.details_md.ends_with('\n') {
                    md.push('\n');
                }
                md.push('\n');
            }
            for n in &s.notes {
                md.push_str(&format!("- {n}\n"));
            }
            if !s.notes.is_empty() {
                md.push('\n');
            }
        }
        md
    }
}

fn one_line(s: &str, max: usize) -> String {
    let first = s.lines().next().unwrap_or("").replace('|', "/");
    crate::http::truncate(&first, max)
}

fn opt(s: Option<String>) -> String {
    s.unwrap_or_else(|| "—".into())
}

/// 1234567.8 -> "1,234,568".
pub(crate) fn fmt_int(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let neg = v < 0.0;
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if neg { format!("-{out}") } else { out }
}

pub(crate) fn fmt_bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

pub(crate) fn fmt_ms(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// A fraction as a percentage with enough digits to compare against 0.1 %.
pub(crate) fn fmt_pct(f: f64) -> String {
    format!("{:.3} %", f * 100.0)
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC), without a date crate.
pub(crate) fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(fmt_int(1_234_567.8), "1,234,568");
        assert_eq!(fmt_int(999.0), "999");
        assert_eq!(fmt_int(-1000.0), "-1,000");
        assert_eq!(fmt_bytes(2048), "2.0 KiB");
        assert_eq!(fmt_pct(0.001), "0.100 %");
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20");
    }
}
