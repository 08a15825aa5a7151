//! Finding (or building) the release `argus` binary and running it as a child process.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::procfs;

/// The workspace root: this crate lives in `<root>/benches`.
pub(crate) fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Where the `argus` binary is, building it first unless told not to.
///
/// Order: `--argus PATH` as given (never built); otherwise `scripts/build-rocksdb` and
/// `cargo build --release --locked --bin argus` in the workspace (no-ops when up to date; they
/// inherit this environment, so `CARGO_TARGET_DIR` applies) and the executable cargo reports;
/// with `--no-build`: `$CARGO_TARGET_DIR/release/argus`, `<workspace>/target/release/argus`,
/// then the directory of this benchmark's own executable.
pub(crate) fn locate_argus(explicit: Option<&Path>, build: bool) -> Result<PathBuf> {
    if let Some(p) = explicit {
        if !p.is_file() {
            bail!("--argus {}: no such file", p.display());
        }
        return Ok(p.to_path_buf());
    }
    if build {
        return build_release();
    }
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(dir).join("release").join("argus"));
    }
    candidates.push(
        workspace_root()
            .join("target")
            .join("release")
            .join("argus"),
    );
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        candidates.push(dir.join("argus"));
    }
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            anyhow!(
                "no release argus binary found (looked at {}); build it with \
                 `cargo build --release --bin argus`, drop --no-build, or pass --argus PATH",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

fn build_release() -> Result<PathBuf> {
    // The workspace links a prebuilt static RocksDB (.cargo/config.toml); this script makes it
    // available (compiled once per machine, a no-op afterwards).
    let script = workspace_root().join("scripts").join("build-rocksdb");
    if script.is_file() {
        eprintln!("argus-bench: scripts/build-rocksdb ...");
        let status = Command::new(&script)
            .current_dir(workspace_root())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .status()
            .with_context(|| format!("running {}", script.display()))?;
        if !status.success() {
            bail!("{} failed ({status})", script.display());
        }
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!(
        "argus-bench: cargo build --release --locked --bin argus (no-op when up to date) ..."
    );
    let mut child = Command::new(cargo)
        .current_dir(workspace_root())
        .args([
            "build",
            "--release",
            "--locked",
            "--bin",
            "argus",
            "--message-format=json-render-diagnostics",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("running cargo build --release --bin argus")?;
    let stdout = child.stdout.take().context("cargo stdout")?;
    let mut exe = None;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if v["reason"] == "compiler-artifact"
            && v["target"]["name"] == "argus"
            && let Some(e) = v["executable"].as_str()
        {
            exe = Some(PathBuf::from(e));
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("cargo build --release --bin argus failed ({status})");
    }
    exe.ok_or_else(|| anyhow!("cargo build did not report the argus executable"))
}

/// Options for one server start.
#[derive(Debug, Clone)]
pub(crate) struct ServerOpts {
    pub(crate) flush_interval: Duration,
    pub(crate) extra_args: Vec<String>,
}

impl Default for ServerOpts {
    fn default() -> Self {
        ServerOpts {
            flush_interval: Duration::from_secs(10),
            extra_args: Vec::new(),
        }
    }
}

/// A running `argus serve` child. Dropping it stops the server (SIGTERM, then SIGKILL).
pub(crate) struct Server {
    child: Child,
    pub(crate) http: SocketAddr,
    pub(crate) statsd: Option<SocketAddr>,
    /// The logstash json_lines listener (`--logstash 127.0.0.1:0`).
    pub(crate) logstash: Option<SocketAddr>,
    /// The OTLP receivers (`--otlp-grpc`, `--otlp-http 127.0.0.1:0`).
    pub(crate) otlp_grpc: Option<SocketAddr>,
    #[allow(
        dead_code,
        reason = "no scenario sends OTLP/HTTP yet; traces-otlp measures gRPC"
    )]
    pub(crate) otlp_http: Option<SocketAddr>,
    log_path: PathBuf,
}

impl Server {
    /// Starts `argus serve` on port 0 and waits for its ready line.
    pub(crate) fn start(
        binary: &Path,
        data_dir: &Path,
        log_path: &Path,
        opts: &ServerOpts,
    ) -> Result<Server> {
        std::fs::create_dir_all(data_dir)?;
        let log = File::options()
            .create(true)
            .append(true)
            .open(log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let flush = humantime::format_duration(opts.flush_interval).to_string();
        let mut cmd = Command::new(binary);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--http", "127.0.0.1:0", "--statsd", "127.0.0.1:0"])
            .args(["--logstash", "127.0.0.1:0"])
            .args(["--otlp-grpc", "127.0.0.1:0", "--otlp-http", "127.0.0.1:0"])
            .args(["--statsd-flush-interval", &flush])
            .args(["--retention", "0"])
            .args(&opts.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("child stdout")?;
        // One thread reads the ready line and then drains stdout so the child never blocks.
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            if reader.read_line(&mut first).unwrap_or(0) > 0 {
                let _ = tx.send(first);
            }
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let line = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => break line,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(status) = child.try_wait()? {
                        bail!(
                            "argus exited before its ready line ({status}); log tail:\n{}",
                            log_tail(log_path)
                        );
                    }
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        let _ = child.wait();
                        bail!("argus printed no ready line within 120 s");
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait()?;
                    bail!(
                        "argus closed stdout without a ready line ({status}); log tail:\n{}",
                        log_tail(log_path)
                    );
                }
            }
        };
        let ready: serde_json::Value = serde_json::from_str(line.trim())
            .with_context(|| format!("ready line is not JSON: {line:?}"))?;
        let addr = |key: &str| -> Option<SocketAddr> { ready[key].as_str()?.parse().ok() };
        let http = addr("http").ok_or_else(|| anyhow!("ready line lacks \"http\": {line}"))?;
        Ok(Server {
            child,
            http,
            statsd: addr("statsd"),
            logstash: addr("logstash"),
            otlp_grpc: addr("otlp_grpc"),
            otlp_http: addr("otlp_http"),
            log_path: log_path.to_path_buf(),
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.http)
    }

    pub(crate) fn mem(&self) -> procfs::Mem {
        procfs::mem(self.pid()).unwrap_or_default()
    }

    pub(crate) fn cpu_seconds(&self) -> f64 {
        procfs::cpu_seconds(&self.pid().to_string()).unwrap_or(0.0)
    }

    /// Sends SIGTERM and waits for the exit; returns how long shutdown took.
    /// Fails when the server does not exit within `timeout` (it is then killed) or exits non-zero.
    pub(crate) fn terminate(mut self, timeout: Duration) -> Result<Duration> {
        let t = Instant::now();
        sigterm(self.child.id())?;
        loop {
            if let Some(status) = self.child.try_wait()? {
                let took = t.elapsed();
                if !status.success() {
                    bail!(
                        "argus exited with {status} after SIGTERM; log tail:\n{}",
                        log_tail(&self.log_path)
                    );
                }
                return Ok(took);
            }
            if t.elapsed() > timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!("argus did not exit within {timeout:?} of SIGTERM (killed)");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = sigterm(self.child.id());
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(30) {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// SIGTERM to one process we started, by its id (no libc, no unsafe: the `kill` utility).
fn sigterm(pid: u32) -> Result<()> {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .context("running kill -TERM")?;
    if !status.success() {
        bail!("kill -TERM {pid} failed ({status})");
    }
    Ok(())
}

/// The last lines of a server log, for error messages.
pub(crate) fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(20);
    lines[from..].join("\n")
}
