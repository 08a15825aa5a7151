//! Linux /proc readers: memory and CPU of a process, UDP drop counters, machine facts.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// Memory figures of a process from `/proc/PID/status`, in bytes.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub(crate) struct Mem {
    /// Resident set size now (`VmRSS`).
    pub(crate) rss: u64,
    /// Peak resident set size since start (`VmHWM`).
    pub(crate) hwm: u64,
}

/// `VmRSS` and `VmHWM` of a process, or `None` when it is gone.
pub(crate) fn mem(pid: u32) -> Option<Mem> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut out = Mem::default();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("VmRSS:") {
            out.rss = parse_kb(v)?;
        } else if let Some(v) = line.strip_prefix("VmHWM:") {
            out.hwm = parse_kb(v)?;
        }
    }
    Some(out)
}

/// Resets the peak RSS (`VmHWM`) of a process we started to its current RSS, by writing `5`
/// to `/proc/PID/clear_refs` (Linux >= 4.0). `false` when that is not possible.
pub(crate) fn reset_peak(pid: u32) -> bool {
    fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

fn parse_kb(v: &str) -> Option<u64> {
    let n: u64 = v.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(n * 1024)
}

/// User plus system CPU time of a process (all threads), in seconds.
pub(crate) fn cpu_seconds(pid: &str) -> Option<f64> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / clk_tck())
}

/// CPU seconds of this benchmark process (every thread).
pub(crate) fn own_cpu_seconds() -> f64 {
    cpu_seconds("self").unwrap_or(0.0)
}

fn clk_tck() -> f64 {
    static TCK: OnceLock<f64> = OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|v| *v > 0.0)
            .unwrap_or(100.0)
    })
}

/// System-wide UDP counters from `/proc/net/snmp` (`InDatagrams`, `InErrors`, `RcvbufErrors`).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub(crate) struct UdpCounters {
    pub(crate) in_datagrams: u64,
    pub(crate) in_errors: u64,
    pub(crate) rcvbuf_errors: u64,
}

pub(crate) fn udp_counters() -> UdpCounters {
    let Ok(text) = fs::read_to_string("/proc/net/snmp") else {
        return UdpCounters::default();
    };
    let udp: Vec<&str> = text.lines().filter(|l| l.starts_with("Udp:")).collect();
    if udp.len() < 2 {
        return UdpCounters::default();
    }
    let names: Vec<&str> = udp[0].split_whitespace().collect();
    let values: Vec<&str> = udp[1].split_whitespace().collect();
    let get = |name: &str| -> u64 {
        names
            .iter()
            .position(|n| *n == name)
            .and_then(|i| values.get(i))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    UdpCounters {
        in_datagrams: get("InDatagrams"),
        in_errors: get("InErrors"),
        rcvbuf_errors: get("RcvbufErrors"),
    }
}

impl UdpCounters {
    pub(crate) fn delta(self, earlier: UdpCounters) -> UdpCounters {
        UdpCounters {
            in_datagrams: self.in_datagrams.saturating_sub(earlier.in_datagrams),
            in_errors: self.in_errors.saturating_sub(earlier.in_errors),
            rcvbuf_errors: self.rcvbuf_errors.saturating_sub(earlier.rcvbuf_errors),
        }
    }
}

/// Facts about the machine the figures were measured on.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Machine {
    pub(crate) cpu_model: String,
    pub(crate) cores: usize,
    pub(crate) mem_total_bytes: u64,
    pub(crate) kernel: String,
    pub(crate) udp_rmem_default: Option<u64>,
    pub(crate) udp_rmem_max: Option<u64>,
}

pub(crate) fn machine() -> Machine {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mem_total_bytes = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:").and_then(parse_kb))
        })
        .unwrap_or(0);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let read_num = |p: &str| -> Option<u64> { fs::read_to_string(p).ok()?.trim().parse().ok() };
    Machine {
        cpu_model,
        cores,
        mem_total_bytes,
        kernel,
        udp_rmem_default: read_num("/proc/sys/net/core/rmem_default"),
        udp_rmem_max: read_num("/proc/sys/net/core/rmem_max"),
    }
}

/// Sizes of the files under a directory, recursively, grouped by kind.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub(crate) struct DirSize {
    /// Every regular file.
    pub(crate) total: u64,
    /// `*.sst` (RocksDB tables).
    pub(crate) sst: u64,
    /// `*.log` and `*.wal` (write-ahead logs).
    pub(crate) wal: u64,
    /// RocksDB's human-readable info logs (`LOG`, `LOG.old.*`).
    pub(crate) info_log: u64,
    /// Everything else (MANIFEST, OPTIONS, own files of the storage crate, ...).
    pub(crate) other: u64,
    pub(crate) files: u64,
}

pub(crate) fn dir_size(path: &Path) -> std::io::Result<DirSize> {
    let mut out = DirSize::default();
    walk(path, &mut out)?;
    Ok(out)
}

fn walk(path: &Path, out: &mut DirSize) -> std::io::Result<()> {
    for entry in fs::read_dir(path)? {
        let entry = entry?;
        let meta = match entry.metadata() {
            Ok(m) => m,
            // A file removed between listing and stat (compaction): skip it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if meta.is_dir() {
            match walk(&entry.path(), out) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                other => other?,
            }
        } else if meta.is_file() {
            let len = meta.len();
            let name = entry.file_name().to_string_lossy().into_owned();
            out.total += len;
            out.files += 1;
            if name.ends_with(".sst") {
                out.sst += len;
            } else if name == "LOG" || name.starts_with("LOG.old") {
                out.info_log += len;
            } else if name.ends_with(".log") || name.ends_with(".wal") {
                out.wal += len;
            } else {
                out.other += len;
            }
        }
    }
    Ok(())
}
