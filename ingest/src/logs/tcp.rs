//! The logstash json_lines TCP listener: a task per connection splitting lines into batches,
//! each batch normalised and appended on the blocking pool while its connection waits.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use storage::{LogWriter, StorageError, now_ms};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::LogstashConfig;
use super::http::{append, count_reject};
use super::normalize::{LineReject, Normalizer};
use crate::{IngestError, IngestMetrics};

const TRANSPORT: &str = "tcp";
/// Initial read buffer of a connection; it grows up to the line limit only when a line
/// needs it.
const READ_BUFFER: usize = 64 << 10;
/// Bytes of a rejected line quoted in the log.
const LOGGED_HEAD: usize = 200;
/// How often a batch waiting for the store to become writable asks again.
const WRITABLE_POLL: Duration = Duration::from_millis(250);

/// At most one event per interval passes (for logging rejects without flooding the log).
struct Throttle {
    last_ms: AtomicI64,
}

impl Throttle {
    const INTERVAL_MS: i64 = 1000;

    fn new() -> Self {
        Throttle {
            last_ms: AtomicI64::new(i64::MIN),
        }
    }

    fn allow(&self) -> bool {
        let now = now_ms();
        let last = self.last_ms.load(Ordering::Relaxed);
        now.saturating_sub(last) >= Self::INTERVAL_MS
            && self
                .last_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

struct Shared {
    writer: Arc<dyn LogWriter>,
    metrics: IngestMetrics,
    normalizer: Normalizer,
    max_line: usize,
    batch_lines: usize,
    batch_bytes: usize,
    batch_delay: Duration,
    connections: Arc<Semaphore>,
    in_flight: Arc<Semaphore>,
    waiting: prometheus::IntGauge,
    reject_log: Throttle,
    error_log: Throttle,
}

/// Logstash json_lines over TCP: one JSON event per line, written through a [`LogWriter`]
/// in batches (see the module documentation of `logs`).
pub struct LogstashServer {
    listener: TcpListener,
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LogstashServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogstashServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl LogstashServer {
    /// Binds the listener (port 0 picks a free port).
    pub async fn bind(
        addr: SocketAddr,
        config: LogstashConfig,
        writer: Arc<dyn LogWriter>,
        metrics: IngestMetrics,
    ) -> Result<Self, IngestError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| IngestError::bind("logstash tcp", addr, e))?;
        let addr = listener.local_addr()?;
        let waiting = metrics
            .queue_depth
            .with_label_values(&["logs_tcp_batches_waiting"]);
        let shared = Arc::new(Shared {
            writer,
            normalizer: Normalizer::new(&config.ingest),
            max_line: config.ingest.max_line_bytes.max(1),
            batch_lines: config.batch_lines.max(1),
            batch_bytes: config.batch_bytes.max(1),
            batch_delay: config.batch_delay,
            connections: Arc::new(Semaphore::new(config.max_connections.max(1))),
            in_flight: Arc::new(Semaphore::new(config.max_in_flight_batches.max(1))),
            waiting,
            metrics,
            reject_log: Throttle::new(),
            error_log: Throttle::new(),
        });
        Ok(LogstashServer {
            listener,
            addr,
            shared,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves; then stops accepting, lets every connection write
    /// the lines it has received (in-flight batches finish), and returns once all are
    /// closed. Dropping the future stops the server the same way.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), IngestError> {
        let LogstashServer {
            listener,
            addr,
            shared,
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let accept = tokio::spawn(accept_loop(listener, shared, stop_rx));
        tracing::info!(%addr, "logstash json_lines listening on tcp");
        shutdown.await;
        tracing::info!("logstash listener stopping");
        let _ = stop_tx.send(true);
        if let Err(e) = accept.await {
            tracing::error!(error = %e, "logstash listener task failed");
        }
        tracing::info!("logstash listener stopped");
        Ok(())
    }
}

/// Resolves once the stop signal is set (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    let refused_log = Throttle::new();
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match shared.connections.clone().try_acquire_owned() {
                    Ok(permit) => {
                        conns.spawn(connection(stream, peer, shared.clone(), stop.clone(), permit));
                    }
                    Err(_) => {
                        shared.metrics.logs_tcp_connections_refused.inc();
                        if refused_log.allow() {
                            tracing::warn!(%peer, "logstash connection limit reached, connection closed");
                        }
                        drop(stream);
                    }
                },
                Err(e) => {
                    // e.g. out of file descriptors: back off instead of spinning
                    tracing::warn!(error = %e, "logstash tcp accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    // every connection writes what it has received, then closes
    while conns.join_next().await.is_some() {}
}

/// What the line splitter found: `L` is a line of its buffer (`&[u8]`), or a copy.
#[derive(Debug, PartialEq)]
enum Event<L> {
    /// A complete, non-blank line without its terminator.
    Line(L),
    /// A line over the limit (its length so far, and its first bytes); the rest of it, up to
    /// its newline, is skipped.
    TooLong { len: usize, head: Vec<u8> },
}

/// Splits a byte stream into lines of at most `max_line` bytes.
struct LineBuffer {
    buf: Vec<u8>,
    /// Start of the unfinished line.
    start: usize,
    /// End of the bytes read.
    end: usize,
    /// Where the search for the next newline resumes.
    scan: usize,
    /// Inside a line already reported too long: skip to its newline.
    discarding: bool,
    max_line: usize,
}

impl LineBuffer {
    fn new(max_line: usize) -> Self {
        LineBuffer {
            buf: vec![0; READ_BUFFER.min(max_line + 1).max(1024)],
            start: 0,
            end: 0,
            scan: 0,
            discarding: false,
            max_line,
        }
    }

    /// Room to read into (the unfinished line moved to the front, the buffer grown when full).
    fn spare(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.scan -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // the unfinished line is at most max_line long (longer ones are reported and
            // dropped), so the buffer never grows past max_line + 1
            let grown = (self.buf.len() * 2)
                .min(self.max_line + 1)
                .max(self.end + 1);
            self.buf.resize(grown, 0);
        }
        &mut self.buf[self.end..]
    }

    fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    fn head(&self, from: usize, to: usize) -> Vec<u8> {
        self.buf[from..to.min(from + LOGGED_HEAD)].to_vec()
    }

    /// The next event in what was read, `None` when it needs more bytes.
    fn next_event(&mut self) -> Option<Event<&[u8]>> {
        loop {
            match memchr::memchr(b'\n', &self.buf[self.scan..self.end]) {
                Some(i) => {
                    let newline = self.scan + i;
                    let line_start = self.start;
                    self.start = newline + 1;
                    self.scan = self.start;
                    if self.discarding {
                        self.discarding = false;
                        continue;
                    }
                    let mut line = &self.buf[line_start..newline];
                    if let Some(stripped) = line.strip_suffix(b"\r") {
                        line = stripped;
                    }
                    if line.len() > self.max_line {
                        return Some(Event::TooLong {
                            len: line.len(),
                            head: self.head(line_start, newline),
                        });
                    }
                    if line.trim_ascii().is_empty() {
                        continue;
                    }
                    return Some(Event::Line(line));
                }
                None => {
                    self.scan = self.end;
                    let partial = self.end - self.start;
                    if self.discarding {
                        self.start = self.end;
                        self.scan = self.end;
                    } else if partial > self.max_line {
                        let head = self.head(self.start, self.end);
                        self.discarding = true;
                        self.start = self.end;
                        self.scan = self.end;
                        return Some(Event::TooLong { len: partial, head });
                    }
                    return None;
                }
            }
        }
    }

    /// At the end of the stream: a last line without its newline.
    fn finish(&mut self) -> Option<Event<&[u8]>> {
        if self.discarding || self.start >= self.end {
            return None;
        }
        // a final newline makes the rest a complete line
        let (start, end) = (self.start, self.end);
        self.start = end;
        self.scan = end;
        let mut line = &self.buf[start..end];
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        if line.trim_ascii().is_empty() {
            return None;
        }
        if line.len() > self.max_line {
            return Some(Event::TooLong {
                len: line.len(),
                head: line[..line.len().min(LOGGED_HEAD)].to_vec(),
            });
        }
        Some(Event::Line(line))
    }
}

/// Lines of a connection waiting to be written, end to end in one buffer. Each line is
/// copied out of it on the thread that normalises and appends the batch, the thread that
/// also frees the records again (see `storage::LogStore`'s appends): one allocation per
/// batch crosses threads, not one per line.
#[derive(Default)]
struct Batch {
    text: Vec<u8>,
    /// Where each line ends in `text`.
    ends: Vec<usize>,
}

impl Batch {
    fn push(&mut self, line: &[u8]) {
        self.text.extend_from_slice(line);
        self.ends.push(self.text.len());
    }

    fn lines(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, &end)| &self.text[start..end])
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let _gauge = storage::GaugeGuard::enter(&shared.metrics.logs_tcp_connections);
    let lines_total = shared.metrics.logs_lines.with_label_values(&[TRANSPORT]);
    let bytes_total = shared.metrics.logs_bytes.with_label_values(&[TRANSPORT]);
    let mut reader = LineBuffer::new(shared.max_line);
    let mut batch = Batch::default();
    // when the current batch is written even if not full
    let mut deadline: Option<Instant> = None;
    tracing::debug!(%peer, "logstash connection");
    loop {
        let read = tokio::select! {
            biased;
            _ = stopped(&mut stop) => break,
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                deadline = None;
                write_batch(&shared, &mut batch, peer, &mut stop).await;
                continue;
            }
            r = stream.read(reader.spare()) => r,
        };
        let n = match read {
            Ok(0) => {
                if let Some(event) = reader.finish() {
                    handle(&shared, &mut batch, event, peer);
                    lines_total.inc();
                }
                tracing::debug!(%peer, "logstash connection closed");
                break;
            }
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "logstash connection read failed");
                break;
            }
        };
        bytes_total.inc_by(n as u64);
        reader.filled(n);
        while let Some(event) = reader.next_event() {
            lines_total.inc();
            handle(&shared, &mut batch, event, peer);
            if batch.len() >= shared.batch_lines || batch.text.len() >= shared.batch_bytes {
                // reading waits while the batch is written: TCP flow control slows the sender
                deadline = None;
                write_batch(&shared, &mut batch, peer, &mut stop).await;
            }
        }
        if !batch.is_empty() && deadline.is_none() {
            deadline = Some(Instant::now() + shared.batch_delay);
        }
    }
    // what arrived is written before the connection closes
    write_batch(&shared, &mut batch, peer, &mut stop).await;
}

fn handle(shared: &Shared, batch: &mut Batch, event: Event<&[u8]>, peer: SocketAddr) {
    match event {
        Event::Line(line) => batch.push(line),
        Event::TooLong { len, head } => {
            let reject = LineReject::LineTooLong {
                len,
                max: shared.max_line,
            };
            reject_line(shared, &reject, &head, peer);
        }
    }
}

fn reject_line(shared: &Shared, reject: &LineReject, line: &[u8], peer: SocketAddr) {
    count_reject(&shared.metrics, TRANSPORT, reject.reason());
    if shared.reject_log.allow() {
        let head = String::from_utf8_lossy(&line[..line.len().min(LOGGED_HEAD)]).into_owned();
        tracing::warn!(%peer, %reject, line = %head, "logstash line rejected");
    }
}

/// Normalises and appends the batch on the blocking pool, once the store is writable and a
/// write slot is free.
async fn write_batch(
    shared: &Arc<Shared>,
    batch: &mut Batch,
    peer: SocketAddr,
    stop: &mut watch::Receiver<bool>,
) {
    if batch.is_empty() {
        return;
    }
    wait_until_writable(shared, peer, stop).await;
    // The next batch is sized as this one: its buffer then grows only under a change of pace.
    let next = Batch {
        text: Vec::with_capacity(batch.text.len()),
        ends: Vec::with_capacity(batch.len()),
    };
    let lines = std::mem::replace(batch, next);
    shared.waiting.inc();
    let permit = shared.in_flight.clone().acquire_owned().await;
    shared.waiting.dec();
    let Ok(permit) = permit else {
        return;
    };
    let s = shared.clone();
    let written = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        write_lines(&s, lines, peer);
    })
    .await;
    if let Err(e) = written {
        tracing::error!(error = %e, "logstash batch write task failed");
    }
}

/// While the store refuses appends until it recovers, the batch waits, and its connection
/// with it (TCP flow control holds the sender back): a json_lines sender has no
/// acknowledgement to retry on, so a batch handed over now would be lost. Gives up at stop.
async fn wait_until_writable(shared: &Shared, peer: SocketAddr, stop: &mut watch::Receiver<bool>) {
    let mut logged = false;
    while let Err(e @ StorageError::Unavailable(_)) = shared.writer.writable() {
        if !logged && shared.error_log.allow() {
            tracing::warn!(%peer, error = %e, "logstash connection waits for the log store");
            logged = true;
        }
        tokio::select! {
            _ = stopped(stop) => return,
            _ = tokio::time::sleep(WRITABLE_POLL) => {}
        }
    }
}

fn write_lines(shared: &Shared, lines: Batch, peer: SocketAddr) {
    let now = now_ms();
    let mut records = Vec::with_capacity(lines.len());
    for line in lines.lines() {
        match shared.normalizer.line_or_back(line.to_vec(), now, None) {
            Ok(record) => records.push(record),
            Err((reject, line)) => reject_line(shared, &reject, &line, peer),
        }
    }
    let count = records.len();
    match append(&*shared.writer, &shared.metrics, TRANSPORT, records) {
        Ok(outcome) if !outcome.rejected.is_empty() => {
            if shared.reject_log.allow() {
                tracing::warn!(
                    %peer,
                    rejected = outcome.rejected.len(),
                    first = %outcome.rejected[0].1,
                    "storage rejected logstash lines"
                );
            }
        }
        Ok(_) => {}
        Err(e) => {
            if shared.error_log.allow() {
                tracing::error!(%peer, error = %e, lines = count, "logstash lines lost: log append failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::atomic::AtomicBool;

    use parking_lot::Mutex;
    use storage::{LogAppendOutcome, LogRecord, StorageError};

    use super::*;
    use crate::logs::LogIngestConfig;
    use crate::logs::http::tests::RecordingWriter;

    fn events(max_line: usize, chunks: &[&[u8]]) -> Vec<Event<Vec<u8>>> {
        let mut reader = LineBuffer::new(max_line);
        let mut out = Vec::new();
        for chunk in chunks {
            let mut rest = *chunk;
            while !rest.is_empty() {
                let spare = reader.spare();
                let n = spare.len().min(rest.len());
                spare[..n].copy_from_slice(&rest[..n]);
                reader.filled(n);
                rest = &rest[n..];
                while let Some(e) = reader.next_event() {
                    out.push(owned(e));
                }
            }
        }
        out.extend(reader.finish().map(owned));
        out
    }

    fn owned(e: Event<&[u8]>) -> Event<Vec<u8>> {
        match e {
            Event::Line(line) => Event::Line(line.to_vec()),
            Event::TooLong { len, head } => Event::TooLong { len, head },
        }
    }

    fn line(s: &str) -> Event<Vec<u8>> {
        Event::Line(s.as_bytes().to_vec())
    }

    #[test]
    fn line_splitting() {
        assert_eq!(
            events(10, &[b"a\nbb\r\n\n  \ncc", b"c\nlast"]),
            [line("a"), line("bb"), line("ccc"), line("last")]
        );
        // a line over the limit, complete in one read, and one over several reads
        let got = events(4, &[b"ok\n123456\nfine\n12345", b"6789", b"0\nafter\n"]);
        assert_eq!(got.len(), 5, "{got:?}");
        assert_eq!(got[0], line("ok"));
        assert!(matches!(&got[1], Event::TooLong { len: 6, .. }));
        assert_eq!(got[2], line("fine"));
        assert!(
            matches!(&got[3], Event::TooLong { len: 5, .. }),
            "{:?}",
            got[3]
        );
        // "after" is 5 bytes: too long as well, the splitter is back in step
        assert!(matches!(&got[4], Event::TooLong { len: 5, .. }));
        let got = events(4, &[b"12345678901234567890\nab\n"]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], line("ab"));
        // a long line over many small reads is reported once
        let long = vec![b'x'; 5000];
        let mut chunks: Vec<&[u8]> = long.chunks(7).collect();
        chunks.push(b"\nok\n");
        let got = events(100, &chunks);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], line("ok"));
        // a buffer that must grow for a long (allowed) line
        let big = format!("{}\n", "y".repeat(300_000));
        let got = events(1 << 20, &[big.as_bytes()]);
        assert_eq!(got, [line(&"y".repeat(300_000))]);
    }

    fn config() -> LogstashConfig {
        LogstashConfig {
            ingest: LogIngestConfig {
                max_line_bytes: 256,
                ..LogIngestConfig::default()
            },
            batch_delay: Duration::from_millis(5),
            ..LogstashConfig::default()
        }
    }

    async fn start(
        config: LogstashConfig,
        writer: Arc<dyn LogWriter>,
    ) -> (
        SocketAddr,
        IngestMetrics,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<Result<(), IngestError>>,
    ) {
        let metrics = IngestMetrics::new(&prometheus::Registry::new());
        let server = LogstashServer::bind(
            "127.0.0.1:0".parse().expect("literal address"),
            config,
            writer,
            metrics.clone(),
        )
        .await
        .expect("bind");
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        (addr, metrics, tx, handle)
    }

    async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lines_bad_lines_and_concurrent_connections() {
        let writer = Arc::new(RecordingWriter::default());
        let (addr, metrics, stop, handle) = start(config(), writer.clone()).await;
        let mut first = std::net::TcpStream::connect(addr).expect("connect");
        let mut second = std::net::TcpStream::connect(addr).expect("connect");
        let mut bad = format!(
            "{{\"message\":\"one\",\"levelname\":\"INFO\",\"name\":\"app\"}}\nnot json\n{{\"message\":\"{}\"}}\r\n[1]\n",
            "z".repeat(300)
        )
        .into_bytes();
        bad.extend_from_slice(b"\xff\n");
        first.write_all(&bad).expect("write");
        second
            .write_all(b"{\"message\":\"from second\"}\n")
            .expect("write");
        // the bad lines did not close the connection
        wait_until("the first lines", || writer.records().len() == 2).await;
        first
            .write_all(b"{\"message\":\"two\",\"@timestamp\":\"2024-05-01T12:00:00Z\"}\r\n{\"message\":\"last, no newline\"}")
            .expect("write after bad lines");
        drop(first);
        drop(second);
        wait_until("every line", || writer.records().len() == 4).await;
        let _ = stop.send(());
        handle.await.expect("join").expect("run");

        let mut messages: Vec<String> = writer.records().into_iter().map(|r| r.message).collect();
        messages.sort();
        assert_eq!(messages, ["from second", "last, no newline", "one", "two"]);
        let records = writer.records();
        let one = records.iter().find(|r| r.message == "one").expect("one");
        assert_eq!(
            one.raw,
            "{\"message\":\"one\",\"levelname\":\"INFO\",\"name\":\"app\"}"
        );
        assert_eq!(one.service.as_deref(), Some("app"));
        let two = records.iter().find(|r| r.message == "two").expect("two");
        assert_eq!(two.time_ms, 1_714_564_800_000);
        let rejects = |reason: &str| {
            metrics
                .logs_rejects
                .with_label_values(&["tcp", reason])
                .get()
        };
        assert_eq!(rejects("invalid_json"), 1);
        assert_eq!(rejects("line_too_long"), 1);
        assert_eq!(rejects("not_an_object"), 1);
        assert_eq!(rejects("invalid_utf8"), 1);
        assert_eq!(metrics.logs_lines.with_label_values(&["tcp"]).get(), 8);
        assert_eq!(metrics.logs_written.with_label_values(&["tcp"]).get(), 4);
        assert_eq!(metrics.logs_tcp_connections.get(), 0);
        assert!(metrics.logs_bytes.with_label_values(&["tcp"]).get() > 400);
    }

    /// Blocks appends while `blocked` is set; records everything.
    #[derive(Default)]
    struct GateWriter {
        blocked: AtomicBool,
        inner: RecordingWriter,
        lines: std::sync::atomic::AtomicUsize,
    }

    impl LogWriter for GateWriter {
        fn append_logs(&self, records: Vec<LogRecord>) -> Result<LogAppendOutcome, StorageError> {
            while self.blocked.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            self.lines.fetch_add(records.len(), Ordering::SeqCst);
            self.inner.append_logs(records)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reading_stops_while_the_store_is_behind() {
        let writer = Arc::new(GateWriter::default());
        writer.blocked.store(true, Ordering::SeqCst);
        let config = LogstashConfig {
            ingest: LogIngestConfig::default(),
            max_in_flight_batches: 1,
            ..LogstashConfig::default()
        };
        let (addr, metrics, stop, handle) = start(config, writer.clone()).await;
        // 48 MiB in 100 KiB lines: far more than a batch and the socket buffers hold
        let lines = 480;
        let payload = format!("{{\"message\":\"{}\"}}\n", "p".repeat(100 * 1024));
        let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let client = std::thread::spawn({
            let sent = sent.clone();
            move || {
                let mut tcp = std::net::TcpStream::connect(addr).expect("connect");
                for _ in 0..lines {
                    tcp.write_all(payload.as_bytes()).expect("write");
                    sent.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let stalled_at = sent.load(Ordering::SeqCst);
        assert!(
            stalled_at < lines / 2,
            "the sender was not slowed down: {stalled_at} of {lines} lines sent"
        );
        assert_eq!(writer.lines.load(Ordering::SeqCst), 0);
        writer.blocked.store(false, Ordering::SeqCst);
        tokio::task::spawn_blocking(move || client.join().expect("client"))
            .await
            .expect("join");
        wait_until("every line written", || {
            writer.lines.load(Ordering::SeqCst) == lines
        })
        .await;
        let _ = stop.send(());
        handle.await.expect("join").expect("run");
        assert_eq!(
            metrics.logs_written.with_label_values(&["tcp"]).get(),
            lines as u64
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connection_limit() {
        let writer = Arc::new(RecordingWriter::default());
        let config = LogstashConfig {
            max_connections: 1,
            ..config()
        };
        let (addr, metrics, stop, handle) = start(config, writer.clone()).await;
        let mut first = std::net::TcpStream::connect(addr).expect("connect");
        first.write_all(b"{\"message\":\"a\"}\n").expect("write");
        wait_until("the first connection", || writer.records().len() == 1).await;
        let mut second = std::net::TcpStream::connect(addr).expect("connect");
        second
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut buf = [0u8; 8];
        let n = std::io::Read::read(&mut second, &mut buf).unwrap_or(0);
        assert_eq!(n, 0, "the connection over the limit is closed");
        assert_eq!(metrics.logs_tcp_connections_refused.get(), 1);
        // the first one still works
        first.write_all(b"{\"message\":\"b\"}\n").expect("write");
        wait_until("the second line", || writer.records().len() == 2).await;
        drop(first);
        let _ = stop.send(());
        handle.await.expect("join").expect("run");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_writes_what_was_received() {
        let writer = Arc::new(RecordingWriter::default());
        let config = LogstashConfig {
            batch_delay: Duration::from_secs(3600),
            ..config()
        };
        let (addr, metrics, stop, handle) = start(config, writer.clone()).await;
        let mut tcp = std::net::TcpStream::connect(addr).expect("connect");
        tcp.write_all(b"{\"message\":\"a\"}\n{\"message\":\"b\"}\n{\"message\":\"c\"}\n")
            .expect("write");
        wait_until("the lines read", || {
            metrics.logs_lines.with_label_values(&["tcp"]).get() == 3
        })
        .await;
        assert!(writer.records().is_empty(), "the batch waits for its delay");
        let _ = stop.send(());
        handle.await.expect("join").expect("run");
        assert_eq!(writer.records().len(), 3);
        // the listener is closed
        assert!(std::net::TcpStream::connect(addr).is_err());
        drop(tcp);
    }

    struct FailingWriter {
        calls: Mutex<usize>,
    }

    impl LogWriter for FailingWriter {
        fn append_logs(&self, _: Vec<LogRecord>) -> Result<LogAppendOutcome, StorageError> {
            *self.calls.lock() += 1;
            Err(StorageError::ShuttingDown)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn storage_errors_are_counted() {
        let writer = Arc::new(FailingWriter {
            calls: Mutex::new(0),
        });
        let (addr, metrics, stop, handle) = start(config(), writer.clone()).await;
        let mut tcp = std::net::TcpStream::connect(addr).expect("connect");
        tcp.write_all(b"{\"message\":\"a\"}\n{\"message\":\"b\"}\n")
            .expect("write");
        wait_until("the failed append", || *writer.calls.lock() >= 1).await;
        drop(tcp);
        let _ = stop.send(());
        handle.await.expect("join").expect("run");
        assert_eq!(
            metrics
                .logs_rejects
                .with_label_values(&["tcp", "storage_error"])
                .get(),
            2
        );
    }
}
