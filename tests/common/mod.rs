//! Starts the real `argus` binary on ephemeral ports and talks to it as a client would.
#![allow(dead_code, unreachable_pub)]

pub mod webhook;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct Argus {
    child: Option<Child>,
    pub http: String,
    pub statsd: SocketAddr,
    pub logstash: SocketAddr,
    pub otlp_grpc: SocketAddr,
    /// `http://host:port` of the OTLP HTTP receiver.
    pub otlp_http: String,
    pub data_dir: PathBuf,
    pub stderr_path: PathBuf,
    client: reqwest::Client,
    extra_stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Argus {
    /// Starts a server on a data directory, with extra flags; waits for its ready line.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Argus {
        let stderr_path = data_dir.with_extension(format!("stderr-{}.log", std::process::id()));
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr_path)
            .expect("stderr log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_argus"))
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--http", "127.0.0.1:0", "--statsd", "127.0.0.1:0"])
            .args(["--logstash", "127.0.0.1:0"])
            .args(["--otlp-grpc", "127.0.0.1:0", "--otlp-http", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("argus starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let extra_stdout = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let extra = extra_stdout.clone();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Anything more on stdout breaks the one-line contract; `terminate` checks.
            extra
                .lock()
                .expect("not poisoned")
                .extend(lines.map_while(Result::ok));
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                panic!("no ready line within 60 s; stderr:\n{log}")
            });
        let ready: serde_json::Value = serde_json::from_str(&line).expect("ready line is JSON");
        Argus {
            child: Some(child),
            http: format!("http://{}", ready["http"].as_str().expect("http address")),
            statsd: ready["statsd"]
                .as_str()
                .expect("statsd address")
                .parse()
                .expect("statsd address parses"),
            logstash: ready["logstash"]
                .as_str()
                .expect("logstash address")
                .parse()
                .expect("logstash address parses"),
            otlp_grpc: ready["otlp_grpc"]
                .as_str()
                .expect("otlp_grpc address")
                .parse()
                .expect("otlp_grpc address parses"),
            otlp_http: format!(
                "http://{}",
                ready["otlp_http"].as_str().expect("otlp_http address")
            ),
            data_dir: data_dir.to_path_buf(),
            stderr_path,
            client: reqwest::Client::new(),
            extra_stdout,
        }
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.http, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// `kill -9`: no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("kill -9");
            c.wait().expect("reaped");
        }
    }

    /// SIGTERM, then waits for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("running");
        let ok = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = c.try_wait().expect("wait") {
                std::thread::sleep(Duration::from_millis(50));
                let extra = self.extra_stdout.lock().expect("not poisoned");
                assert!(
                    extra.is_empty(),
                    "stdout must hold only the ready line, also had: {extra:?}"
                );
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "argus did not exit within 60 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `POST /api/v1/import/prometheus` with a text body.
    pub async fn import(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/import/prometheus"))
            .body(body)
            .send()
            .await
            .expect("import")
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let resp = self.client.get(self.url(path)).send().await.expect("GET");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        assert!(status.is_success(), "GET {path}: {status}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {text}"))
    }

    /// A GET with query parameters, whatever its status: the status and the body as text.
    pub async fn get_text(&self, path: &str, query: &[(&str, &str)]) -> (u16, String) {
        let resp = self
            .client
            .get(self.url(path))
            .query(query)
            .send()
            .await
            .expect("GET");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("body"))
    }

    /// A POST with an `application/x-www-form-urlencoded` body, as Grafana sends its queries,
    /// whatever its status: the status and the body as text.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let resp = self
            .client
            .post(self.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form_body(form))
            .send()
            .await
            .expect("POST");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("body"))
    }

    /// `/api/v1/export` lines, parsed.
    pub async fn export(&self, selector: &str) -> Vec<serde_json::Value> {
        let resp = self
            .client
            .get(self.url("/api/v1/export"))
            .query(&[("match[]", selector)])
            .send()
            .await
            .expect("export");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        assert!(status.is_success(), "export {selector}: {status}: {text}");
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("export line is JSON"))
            .collect()
    }

    /// The value of one of Argus' own metrics (sum over series whose line starts with `prefix`).
    pub async fn own_metric(&self, prefix: &str) -> f64 {
        let text = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("body");
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .sum()
    }
}

impl Drop for Argus {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // The server's log is kept where a failing test can be read from it, and only there
        // (it lies beside the data directory, which the test's tempdir removes).
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.stderr_path);
        }
    }
}

/// Polls `check` until it returns `Some`, for at most `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last value of the one series an export returned, with its labels.
pub fn last_value(lines: &[serde_json::Value]) -> Option<f64> {
    lines.first()?["values"].as_array()?.last()?.as_f64()
}

/// Pairs encoded as an `application/x-www-form-urlencoded` body (`+` for spaces, `%2B` for
/// plus signs), with the URL parser's form serializer.
pub fn form_body(form: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://form.invalid/").expect("static URL");
    url.query_pairs_mut().extend_pairs(form);
    url.query().unwrap_or_default().to_string()
}

/// A body that must be JSON, parsed (the text in the panic message otherwise).
pub fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}
