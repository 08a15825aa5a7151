//! The StatsD server: one UDP socket read by a dedicated thread, a TCP listener with a task per
//! connection, and the flush loop, all feeding one [`Aggregator`] behind a short lock.

use std::future::Future;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use socket2::{Domain, Protocol, Socket, Type};
use storage::{AppendOutcome, SeriesWriter};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::StatsdConfig;
use super::aggregate::{Aggregator, Limits, build_batch};
use super::parser::Reject;
use crate::{IngestError, IngestMetrics};
use storage::now_ms;

/// Requested receive buffer of the UDP socket (the kernel caps it at `net.core.rmem_max`).
const UDP_RECV_BUFFER: usize = 16 << 20;
/// Largest UDP payload.
const UDP_DATAGRAM: usize = 64 << 10;
/// How often the UDP thread looks at the stop flag when no datagram arrives.
const UDP_POLL: Duration = Duration::from_millis(100);
/// Attempts at finding a port free for both UDP and TCP when port 0 is asked for.
const BIND_ATTEMPTS: usize = 16;

struct Shared {
    agg: Mutex<Aggregator>,
    writer: Arc<dyn SeriesWriter>,
    metrics: IngestMetrics,
    flush_interval: Duration,
    tcp_max_line: usize,
    /// Time of the last flush: flush times strictly increase even if the clock steps back or
    /// the final flush follows a periodic one within the same millisecond.
    last_flush_ms: AtomicI64,
}

/// StatsD over UDP and newline-delimited TCP on one address, aggregated per flush interval
/// and written through a [`SeriesWriter`].
pub struct StatsdServer {
    udp: UdpSocket,
    tcp: TcpListener,
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for StatsdServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsdServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl StatsdServer {
    /// Binds UDP and TCP on the same address. With port 0, UDP picks a port and TCP binds the
    /// same one (retrying with another port if TCP finds it taken).
    pub async fn bind(
        addr: SocketAddr,
        config: StatsdConfig,
        writer: Arc<dyn SeriesWriter>,
        metrics: IngestMetrics,
    ) -> Result<Self, IngestError> {
        let attempts = if addr.port() == 0 { BIND_ATTEMPTS } else { 1 };
        let mut last_err = None;
        for _ in 0..attempts {
            let udp = bind_udp(addr)?;
            let bound = udp.local_addr().map_err(|e| bind_error("udp", addr, e))?;
            match TcpListener::bind(bound).await {
                Ok(tcp) => {
                    let limits = Limits {
                        max_series: config.max_series,
                        max_new_series_per_flush: config.max_new_series_per_flush,
                    };
                    let agg = Aggregator::new(config.mapping.map(Arc::new), limits, &metrics);
                    let shared = Arc::new(Shared {
                        agg: Mutex::new(agg),
                        writer,
                        metrics,
                        flush_interval: config.flush_interval.max(Duration::from_millis(1)),
                        tcp_max_line: config.tcp_max_line.max(1),
                        last_flush_ms: AtomicI64::new(i64::MIN),
                    });
                    return Ok(StatsdServer {
                        udp,
                        tcp,
                        addr: bound,
                        shared,
                    });
                }
                Err(source) if attempts > 1 && source.kind() == ErrorKind::AddrInUse => {
                    tracing::debug!(port = bound.port(), "statsd tcp port taken, trying another");
                    last_err = Some(source);
                }
                Err(source) => return Err(bind_error("tcp", bound, source)),
            }
        }
        let source = last_err.unwrap_or_else(|| std::io::Error::from(ErrorKind::AddrInUse));
        Err(bind_error("tcp", addr, source))
    }

    /// The bound address (UDP and TCP share it).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves, then stops listening, writes the current interval's
    /// aggregates one last time and returns (the error of that last write, if it failed).
    /// Periodic flush failures are logged and retried at the next flush: counters, gauges and
    /// histograms are cumulative, so the next successful write carries them.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), IngestError> {
        let StatsdServer {
            udp,
            tcp,
            addr,
            shared,
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let stop = StopGuard {
            flag: Arc::new(AtomicBool::new(false)),
            tx: stop_tx,
        };

        let udp_thread = std::thread::Builder::new()
            .name("statsd-udp".to_string())
            .spawn({
                let shared = shared.clone();
                let flag = stop.flag.clone();
                move || udp_loop(&udp, &shared, &flag)
            })?;
        let tcp_task = tokio::spawn(accept_loop(tcp, shared.clone(), stop_rx.clone()));
        let flush_task = tokio::spawn(flush_loop(shared.clone(), stop_rx));
        tracing::info!(%addr, flush_interval = ?shared.flush_interval, "statsd listening on udp and tcp");

        shutdown.await;
        tracing::info!("statsd stopping");
        stop.stop();
        if let Err(e) = tcp_task.await {
            tracing::error!(error = %e, "statsd tcp listener task failed");
        }
        if let Err(e) = flush_task.await {
            tracing::error!(error = %e, "statsd flush task failed");
        }
        match tokio::task::spawn_blocking(move || udp_thread.join()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => tracing::error!("statsd udp thread panicked"),
            Err(e) => tracing::error!(error = %e, "statsd udp thread join failed"),
        }
        let last = flush(&shared).await;
        tracing::info!(flushed = last.is_ok(), "statsd stopped");
        last
    }
}

/// Sets the stop signals when `run` ends or its future is dropped.
struct StopGuard {
    flag: Arc<AtomicBool>,
    tx: watch::Sender<bool>,
}

impl StopGuard {
    fn stop(&self) {
        self.flag.store(true, Ordering::Relaxed);
        let _ = self.tx.send(true);
    }
}

impl Drop for StopGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

fn bind_error(transport: &str, addr: SocketAddr, e: std::io::Error) -> IngestError {
    IngestError::bind(&format!("statsd {transport}"), addr, e)
}

fn bind_udp(addr: SocketAddr) -> Result<UdpSocket, IngestError> {
    let err = |e| bind_error("udp", addr, e);
    let socket =
        Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(err)?;
    if let Err(e) = socket.set_recv_buffer_size(UDP_RECV_BUFFER) {
        tracing::warn!(error = %e, requested = UDP_RECV_BUFFER, "cannot set statsd udp receive buffer");
    }
    // Linux reports twice the size asked for (the kernel's bookkeeping share)
    let expected = if cfg!(target_os = "linux") {
        2 * UDP_RECV_BUFFER
    } else {
        UDP_RECV_BUFFER
    };
    match socket.recv_buffer_size() {
        Ok(actual) if actual < expected => tracing::warn!(
            requested = UDP_RECV_BUFFER,
            actual,
            "statsd udp receive buffer capped by the kernel: raise net.core.rmem_max to absorb bursts"
        ),
        Ok(actual) => tracing::debug!(actual, "statsd udp receive buffer"),
        Err(_) => {}
    }
    socket.bind(&addr.into()).map_err(err)?;
    let udp: UdpSocket = socket.into();
    udp.set_read_timeout(Some(UDP_POLL)).map_err(err)?;
    Ok(udp)
}

fn udp_loop(socket: &UdpSocket, shared: &Shared, stop: &AtomicBool) {
    let mut buf = vec![0u8; UDP_DATAGRAM];
    let lines = shared.metrics.statsd_lines.with_label_values(&["udp"]);
    let packets = shared.metrics.statsd_packets.clone();
    let mut last_error: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        match socket.recv(&mut buf) {
            Ok(n) => {
                packets.inc();
                let Some(packet) = buf.get(..n) else { continue };
                let t = now_ms();
                let count = shared.agg.lock().ingest(packet, None, t);
                lines.inc_by(count);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                if last_error.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    tracing::warn!(error = %e, "statsd udp receive failed");
                    last_error = Some(Instant::now());
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// Resolves once the stop signal is set (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    let conn_stop = stop.clone();
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    conns.spawn(tcp_connection(stream, peer, shared.clone(), conn_stop.clone()));
                }
                Err(e) => {
                    // e.g. out of file descriptors: back off instead of spinning
                    tracing::warn!(error = %e, "statsd tcp accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    conns.shutdown().await;
}

async fn tcp_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let _gauge = storage::GaugeGuard::enter(&shared.metrics.statsd_tcp_connections);
    let lines = shared.metrics.statsd_lines.with_label_values(&["tcp"]);
    let max_line = shared.tcp_max_line;
    // grows up to the line limit only when a line needs it
    let max_buf = (max_line + 1).max(UDP_DATAGRAM);
    let mut buf = vec![0u8; UDP_DATAGRAM];
    // bytes [0, len) hold the start of an unfinished line
    let mut len = 0usize;
    // inside a line already rejected as too long: skip up to its newline
    let mut discarding = false;
    tracing::debug!(%peer, "statsd tcp connection");
    loop {
        if len == buf.len() && buf.len() < max_buf {
            buf.resize((buf.len() * 2).min(max_buf), 0);
        }
        let Some(free) = buf.get_mut(len..) else {
            return;
        };
        let read = tokio::select! {
            _ = stopped(&mut stop) => return,
            r = stream.read(free) => r,
        };
        let n = match read {
            Ok(0) => {
                // end of stream: a last line without its newline still counts
                if !discarding && len > 0 {
                    let count = shared
                        .agg
                        .lock()
                        .ingest(&buf[..len], Some(max_line), now_ms());
                    lines.inc_by(count);
                }
                tracing::debug!(%peer, "statsd tcp connection closed");
                return;
            }
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "statsd tcp read failed");
                return;
            }
        };
        let fresh = len;
        len += n;
        let mut start = 0;
        if discarding {
            match buf[fresh..len].iter().position(|b| *b == b'\n') {
                Some(i) => {
                    start = fresh + i + 1;
                    discarding = false;
                }
                None => {
                    len = 0;
                    continue;
                }
            }
        }
        if let Some(last) = buf[start..len].iter().rposition(|b| *b == b'\n') {
            let end = start + last + 1;
            let count = shared
                .agg
                .lock()
                .ingest(&buf[start..end], Some(max_line), now_ms());
            lines.inc_by(count);
            start = end;
        }
        buf.copy_within(start..len, 0);
        len -= start;
        if len > max_line {
            // the unfinished line is already too long: reject it, keep the connection
            lines.inc();
            let head = String::from_utf8_lossy(&buf[..len.min(200)]).into_owned();
            shared.agg.lock().reject(Reject::LineTooLong, &head);
            discarding = true;
            len = 0;
        }
    }
}

async fn flush_loop(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let period = shared.flush_interval;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = ticker.tick() => {
                if let Err(e) = flush(&shared).await {
                    tracing::error!(error = %e, "statsd flush failed");
                }
            }
        }
    }
}

/// Writes every live series at the current time, off the async runtime.
async fn flush(shared: &Arc<Shared>) -> Result<(), IngestError> {
    let started = Instant::now();
    let result = write_snapshot(shared, started).await;
    shared
        .metrics
        .statsd_flush_seconds
        .observe(started.elapsed().as_secs_f64());
    result
}

async fn write_snapshot(shared: &Arc<Shared>, started: Instant) -> Result<(), IngestError> {
    let now = now_ms();
    let previous = shared.last_flush_ms.fetch_max(now, Ordering::Relaxed);
    let t = if previous >= now {
        let next = previous.saturating_add(1);
        shared.last_flush_ms.store(next, Ordering::Relaxed);
        next
    } else {
        now
    };
    let (snapshot, metadata) = {
        let mut agg = shared.agg.lock();
        (agg.snapshot(t), agg.take_metadata())
    };
    let series = snapshot.len();
    if series == 0 && metadata.is_empty() {
        return Ok(());
    }
    let writer = shared.writer.clone();
    let (samples, written, recorded, metadata) = tokio::task::spawn_blocking(move || {
        let batch = build_batch(snapshot, t);
        let samples: usize = batch.iter().map(|s| s.samples.len()).sum();
        let written = if batch.is_empty() {
            Ok(AppendOutcome::default())
        } else {
            writer.append(batch)
        };
        // A family's metadata is recorded once its first samples are stored.
        let recorded = match &written {
            Ok(_) if !metadata.is_empty() => writer.record_metadata(&metadata),
            _ => Ok(()),
        };
        (samples, written, recorded, metadata)
    })
    .await
    .map_err(|e| IngestError::Io(std::io::Error::other(format!("statsd flush task: {e}"))))?;
    if written.is_err() || recorded.is_err() {
        // What storage did not take is offered again at the next flush.
        shared.agg.lock().requeue_metadata(metadata);
    }
    let outcome = written?;
    recorded?;
    shared
        .metrics
        .samples_written
        .with_label_values(&["statsd"])
        .inc_by(outcome.samples_appended);
    if outcome.rejected_total() > 0 {
        tracing::warn!(
            rejected = outcome.rejected_total(),
            first = outcome.first_rejection.as_deref().unwrap_or(""),
            "storage rejected statsd samples"
        );
    }
    tracing::debug!(series, samples, elapsed = ?started.elapsed(), "statsd flushed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use storage::{AppendOutcome, SeriesSamples, StorageError};

    use super::*;

    /// Collects every batch and every metadata call, as a store would receive them; with
    /// `fail_metadata`, refuses metadata that many times first.
    #[derive(Default)]
    struct MemoryWriter {
        batches: Mutex<Vec<Vec<SeriesSamples>>>,
        metadata: Mutex<Vec<Vec<storage::MetricMetadata>>>,
        fail_metadata: std::sync::atomic::AtomicUsize,
    }

    impl SeriesWriter for MemoryWriter {
        fn append(&self, batch: Vec<SeriesSamples>) -> Result<AppendOutcome, StorageError> {
            let n = batch.iter().map(|s| s.samples.len() as u64).sum();
            self.batches.lock().push(batch);
            Ok(AppendOutcome {
                samples_appended: n,
                ..AppendOutcome::default()
            })
        }

        fn record_metadata(
            &self,
            metadata: &[storage::MetricMetadata],
        ) -> Result<(), StorageError> {
            let failing = self.fail_metadata.load(Ordering::SeqCst);
            if failing > 0 {
                self.fail_metadata.store(failing - 1, Ordering::SeqCst);
                return Err(StorageError::ShuttingDown);
            }
            self.metadata.lock().push(metadata.to_vec());
            Ok(())
        }
    }

    impl MemoryWriter {
        /// `family type` of every metadata entry recorded, sorted.
        fn families(&self) -> Vec<String> {
            let mut out: Vec<String> = self
                .metadata
                .lock()
                .iter()
                .flatten()
                .map(|m| format!("{} {}", m.metric_family, m.kind))
                .collect();
            out.sort();
            out
        }
    }

    impl MemoryWriter {
        fn values(&self) -> Vec<String> {
            let mut out: Vec<String> = self
                .batches
                .lock()
                .iter()
                .flatten()
                .flat_map(|s| {
                    s.samples
                        .iter()
                        .map(move |x| format!("{} {}", s.labels, x.v))
                })
                .collect();
            out.sort();
            out
        }
    }

    fn config(flush: Duration) -> StatsdConfig {
        StatsdConfig {
            flush_interval: flush,
            tcp_max_line: 64,
            ..StatsdConfig::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn udp_and_tcp_on_one_port_and_final_flush() {
        let writer = Arc::new(MemoryWriter::default());
        let metrics = IngestMetrics::new(&prometheus::Registry::new());
        let server = match StatsdServer::bind(
            "127.0.0.1:0".parse().expect("literal address"),
            config(Duration::from_secs(3600)),
            writer.clone(),
            metrics.clone(),
        )
        .await
        {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));

        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("client socket");
        udp.send_to(b"udp.hits:1|c\nudp.hits:2|c\nbad line\n", addr)
            .expect("send");
        let mut tcp = std::net::TcpStream::connect(addr).expect("tcp connect");
        let long = format!("long:1|c|#{}:x\n", "a".repeat(100));
        tcp.write_all(format!("tcp.temp:5|g\n{long}tcp.temp:+1|g\ntcp.rt:250|ms").as_bytes())
            .expect("write");
        drop(tcp);

        // wait until both transports delivered their lines
        let deadline = Instant::now() + Duration::from_secs(10);
        while metrics.statsd_lines.with_label_values(&["udp"]).get() < 3
            || metrics.statsd_lines.with_label_values(&["tcp"]).get() < 4
        {
            assert!(Instant::now() < deadline, "lines not received");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = tx.send(());
        match handle.await {
            Ok(Ok(())) => {}
            other => panic!("{other:?}"),
        }
        let values = writer.values();
        assert!(values.contains(&"udp_hits{} 3".to_string()), "{values:?}");
        assert!(values.contains(&"tcp_temp{} 6".to_string()), "{values:?}");
        assert!(
            values.contains(&"tcp_rt_bucket{le=\"0.25\"} 1".to_string()),
            "{values:?}"
        );
        assert_eq!(
            metrics
                .statsd_rejects
                .with_label_values(&["malformed_line"])
                .get(),
            1
        );
        assert_eq!(
            metrics
                .statsd_rejects
                .with_label_values(&["line_too_long"])
                .get(),
            1
        );
        assert_eq!(metrics.statsd_packets.get(), 1);
        assert_eq!(metrics.statsd_tcp_connections.get(), 0);
        assert!(metrics.samples_written.with_label_values(&["statsd"]).get() >= 16);
        assert_eq!(
            writer.families(),
            ["tcp_rt histogram", "tcp_temp gauge", "udp_hits counter"]
        );
    }

    struct FailingWriter;

    impl SeriesWriter for FailingWriter {
        fn append(&self, _: Vec<SeriesSamples>) -> Result<AppendOutcome, StorageError> {
            Err(StorageError::ShuttingDown)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_final_write_is_returned() {
        let metrics = IngestMetrics::new(&prometheus::Registry::new());
        let server = StatsdServer::bind(
            "127.0.0.1:0".parse().expect("literal address"),
            config(Duration::from_secs(3600)),
            Arc::new(FailingWriter),
            metrics.clone(),
        )
        .await
        .expect("bind");
        let addr = server.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("client socket");
        udp.send_to(b"c:1|c", addr).expect("send");
        let deadline = Instant::now() + Duration::from_secs(10);
        while metrics.statsd_lines.with_label_values(&["udp"]).get() < 1 {
            assert!(Instant::now() < deadline, "line not received");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = tx.send(());
        assert!(matches!(
            handle.await,
            Ok(Err(IngestError::Storage(StorageError::ShuttingDown)))
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn periodic_flushes_write_cumulative_counters() {
        let writer = Arc::new(MemoryWriter::default());
        let metrics = IngestMetrics::new(&prometheus::Registry::new());
        let server = match StatsdServer::bind(
            "127.0.0.1:0".parse().expect("literal address"),
            config(Duration::from_millis(200)),
            writer.clone(),
            metrics.clone(),
        )
        .await
        {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let addr = server.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("client socket");
        udp.send_to(b"c:1|c", addr).expect("send");
        tokio::time::sleep(Duration::from_millis(500)).await;
        udp.send_to(b"c:1|c", addr).expect("send");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = tx.send(());
        let _ = handle.await;
        let batches = writer.batches.lock();
        assert!(batches.len() >= 3, "{}", batches.len());
        let series: Vec<f64> = batches.iter().flatten().map(|s| s.samples[0].v).collect();
        assert!(series.windows(2).all(|w| w[0] <= w[1]), "{series:?}");
        assert_eq!(series.last().copied(), Some(2.0));
        let times: Vec<i64> = batches.iter().flatten().map(|s| s.samples[0].t).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
        // recorded once, with the first flush, though every flush writes the family
        assert_eq!(writer.families(), ["c counter"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn metadata_storage_refused_is_offered_again() {
        let writer = Arc::new(MemoryWriter::default());
        writer.fail_metadata.store(2, Ordering::SeqCst);
        let metrics = IngestMetrics::new(&prometheus::Registry::new());
        let server = StatsdServer::bind(
            "127.0.0.1:0".parse().expect("literal address"),
            config(Duration::from_millis(100)),
            writer.clone(),
            metrics.clone(),
        )
        .await
        .expect("bind");
        let addr = server.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("client socket");
        udp.send_to(b"g:1|g", addr).expect("send");
        let deadline = Instant::now() + Duration::from_secs(10);
        while writer.families().is_empty() {
            assert!(Instant::now() < deadline, "metadata never recorded");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = tx.send(());
        let _ = handle.await;
        assert_eq!(writer.families(), ["g gauge"]);
        assert_eq!(writer.fail_metadata.load(Ordering::SeqCst), 0);
    }
}

/// End-to-end UDP throughput and loss on loopback. Run optimised (see `aggregate::bench`):
/// `... statsd::listener::bench -- --ignored --nocapture`; `ARGUS_BENCH_LPS` sets the offered
/// lines per second (default 1,000,000), `ARGUS_BENCH_SECS` the duration (default 5),
/// `ARGUS_BENCH_LINES_PER_PACKET` the packet size (default 10).
#[cfg(test)]
mod bench {
    use storage::{AppendOutcome, SeriesSamples, StorageError};

    use super::*;

    struct NullWriter;

    impl SeriesWriter for NullWriter {
        fn append(&self, batch: Vec<SeriesSamples>) -> Result<AppendOutcome, StorageError> {
            Ok(AppendOutcome {
                samples_appended: batch.len() as u64,
                ..AppendOutcome::default()
            })
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    #[ignore = "benchmark: run optimised with --ignored --nocapture"]
    async fn udp_lines_per_second_and_loss() {
        let lps: u64 = std::env::var("ARGUS_BENCH_LPS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        let secs: u64 = std::env::var("ARGUS_BENCH_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5);
        let metrics = IngestMetrics::new(&prometheus::Registry::new());
        let config = StatsdConfig {
            flush_interval: Duration::from_secs(1),
            ..StatsdConfig::default()
        };
        let server = StatsdServer::bind(
            "127.0.0.1:0".parse().expect("literal address"),
            config,
            Arc::new(NullWriter),
            metrics.clone(),
        )
        .await
        .expect("bind");
        let addr = server.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));

        let per_packet: u64 = std::env::var("ARGUS_BENCH_LINES_PER_PACKET")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10)
            .max(1);
        let packets = super::super::aggregate::bench_packets(10_000, per_packet as usize);
        let sender = std::thread::spawn(move || {
            let socket = UdpSocket::bind("127.0.0.1:0").expect("client");
            socket.connect(addr).expect("connect");
            let pps = lps / per_packet;
            let total = pps * secs;
            let started = Instant::now();
            let mut sent = 0u64;
            while sent < total {
                // pace in slices of 1 ms
                let due = (started.elapsed().as_secs_f64() * pps as f64) as u64;
                if sent >= due.min(total) {
                    std::thread::yield_now();
                    continue;
                }
                while sent < due.min(total) {
                    let p = &packets[(sent as usize) % packets.len()];
                    if socket.send(p).is_ok() {
                        sent += 1;
                    }
                }
            }
            (sent * per_packet, started.elapsed())
        });
        let (sent_lines, took) =
            tokio::task::spawn_blocking(move || sender.join().expect("sender"))
                .await
                .expect("join");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let received = metrics.statsd_lines.with_label_values(&["udp"]).get();
        let _ = tx.send(());
        let _ = handle.await;
        let loss = 1.0 - received as f64 / sent_lines as f64;
        println!(
            "statsd udp: offered {sent_lines} lines in {took:?} ({:.0} lines/s), received {received}, loss {:.4}%",
            sent_lines as f64 / took.as_secs_f64(),
            loss * 100.0
        );
    }
}
