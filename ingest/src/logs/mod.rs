//! Log ingest: logstash-format JSON events over TCP (json_lines), `POST /api/v1/logs`, and the
//! subset of the Elasticsearch API that log shippers use under `/es/`, normalised into
//! [`storage::LogRecord`]s and written through a [`storage::LogWriter`].
//!
//! # Wiring (what the binary does)
//!
//! ```ignore
//! let log_writer: Arc<dyn storage::LogWriter> = log_store.clone();
//! let config = ingest::logs::LogIngestConfig::default(); // service fields, limits
//! // HTTP: merge the routes into the server's router, with the admission HTTP ingest shares
//! app = app.merge(ingest::logs::router(log_writer.clone(), ingest_metrics.clone(),
//!                                      admission.clone(), config.clone()));
//! // TCP json_lines on --logstash (default 0.0.0.0:5000)
//! let logstash = ingest::logs::LogstashServer::bind(addr,
//!     ingest::logs::LogstashConfig { ingest: config, ..Default::default() },
//!     log_writer, ingest_metrics.clone()).await?;
//! let logstash_addr = logstash.local_addr();
//! let task = tokio::spawn(logstash.run(stopped(stop_rx.clone())));
//! // at shutdown: signal stop, then task.await: it returns once in-flight batches are written
//! ```
//!
//! # Normalisation
//!
//! Every event is a JSON object; [`Normalizer`] maps it (the table is in its module:
//! `@timestamp`/`timestamp`/`time`/`ts` → time, `level`/`levelname`/`severity`/`log.level` →
//! level, the configured service fields → service, `host`/`source_host`/`hostname` → host,
//! `message`/`msg`/`log` → message, `trace_id`/`span_id` and their spellings → ids). The field
//! that fed a record field is taken out; every other field stays in `fields` (nested objects
//! kept, the members' text copied as it came), and `raw` is the event's exact text. The event
//! is read once, by `storage::json::JsonTape`; events whose parts sit in nested objects
//! (`{"service":{"name":…}}`) go through a `serde_json` tree instead, to rewrite the object. Error lines (level `ERROR`/`FATAL`) and lines
//! carrying an exception get a `fingerprint` that groups the same error across requests (see
//! `fingerprint.rs`). A line that is not UTF-8, not JSON, not an object or longer than
//! [`LogIngestConfig::max_line_bytes`] is rejected with a [`LineReject`], counted in
//! `argus_ingest_logs_rejects_total{transport,reason}`, and the other lines go on.
//!
//! # TCP json_lines ([`LogstashServer`])
//!
//! One JSON object per `\n`-terminated line (`\r\n` too; a last line without newline counts
//! when the connection closes; blank lines are skipped), as Logstash's `tcp` input with the
//! `json_lines` codec takes it (python-logstash's `TCPLogstashHandler`, logstash-logback-encoder's
//! `LogstashTcpSocketAppender`, Logstash's own `tcp` output). A bad line is counted and skipped;
//! an over-long line is skipped up to its newline; the connection stays open. Lines of a
//! connection are batched (up to [`LogstashConfig::batch_lines`] lines or
//! [`LogstashConfig::batch_bytes`] bytes, or whatever arrived within
//! [`LogstashConfig::batch_delay`] of the batch's first line) and normalised and appended on the
//! blocking pool; the connection is not read while its batch is written, so a slow store
//! slows senders down through TCP flow control. At most
//! [`LogstashConfig::max_in_flight_batches`] batches are written at once across connections;
//! beyond [`LogstashConfig::max_connections`], new connections are closed at once (counted).
//! json_lines has no acknowledgement: lines of a batch the store refuses are counted as
//! `storage_error` and logged. At shutdown the listener stops accepting, and every
//! connection writes the lines it has received and closes.
//!
//! # `POST /api/v1/logs`
//!
//! NDJSON (one event per line) or a JSON array of events, told apart by `Content-Type`
//! (`application/x-ndjson`, `application/json`) or else by the first non-blank byte (`[`); a
//! single pretty-printed object sent as `application/json` is one event. `Content-Encoding:
//! gzip` is accepted. The answer is `{"accepted":N,"rejected":[{"line":L,"reason":"…"}],
//! "rejected_count":R}` with status 200 when anything was accepted and 400 when nothing was
//! (`line` is 1-based: the line in NDJSON, the element in an array; at most 1,000 rejections
//! are listed, `rejected_count` counts them all). Acknowledged lines are durable. A body over
//! [`LogIngestConfig::max_body_bytes`] (as sent or decompressed) is answered 413; when the
//! shared [`WriteAdmission`] is full, 429 with `Retry-After`; when the store fails, 500 (503 with
//! `Retry-After` while it shuts down) and nothing of the request is acknowledged.
//!
//! # Elasticsearch API subset under `/es/`
//!
//! Point a shipper's Elasticsearch output at `http://argus:8080/es` (Fluent Bit: `Host argus`,
//! `Port 8080`, `Path /es`; Vector: `endpoints = ["http://argus:8080/es"]`; Filebeat:
//! `hosts: ["argus:8080"]`, `path: /es`; Logstash: `hosts => ["http://argus:8080/es"]`).
//! Every answer carries `X-Elastic-Product: Elasticsearch` (the official clients check it).
//!
//! - `GET`/`HEAD /es/`: the version banner of an Elasticsearch 8.17.0 node (Vector reads
//!   `version.number` to pick its API version; Filebeat and Logstash read the major version;
//!   Beats up to 8.12 refuse a server older than themselves, so the number is a recent one).
//! - `POST /es/_bulk`, `POST /es/{index}/_bulk` (`PUT` too): NDJSON action/document pairs.
//!   `index` and `create` store the document (with or without `_index`, `_id`, `_type`,
//!   `pipeline`…; the index, from the action or else the path, is kept as the field `_index`;
//!   `_id` is not kept and a document sent twice is stored twice); `delete` and `update` are
//!   answered per item with status 400 `illegal_argument_exception` (the log store is
//!   append-only). The answer has Elasticsearch's shape, `{"took":…,"errors":…,"items":[{
//!   "create":{"_index":…,"_id":…,"_version":1,"result":"created","_shards":…,"_seq_no":…,
//!   "_primary_term":1,"status":201}}]}`, keys in that order (Fluent Bit looks for
//!   `"errors":false,"items":[` when the answer exceeds its buffer), with per-item 400
//!   `mapper_parsing_exception` for a document that is not a JSON object; `filter_path`
//!   (Filebeat and Logstash send `errors,items.*.error,items.*.status`) is honoured. A
//!   malformed action line fails the whole request with 400, as in Elasticsearch. 429 with
//!   `Retry-After` when the admission is full, 413 over the body limit, 500/503 when the store
//!   fails; every shipper retries those. Documents are written to the store in chunks of
//!   1,000 as the request is read (a 4 MiB request in one piece cost a tenth more CPU per
//!   line, in the allocator and page faults); when the store fails part-way, the chunks
//!   before stay written, so a shipper's retry may store them twice: at least once, as
//!   with Elasticsearch.
//! - `POST /es/{index}/_doc`, `PUT|POST /es/{index}/_doc/{id}`, `PUT|POST
//!   /es/{index}/_create/{id}`: one document, answered 201 as Elasticsearch does.
//! - Start-up and housekeeping calls, answered with plausible JSON and no effect:
//!   `GET /_license`, `GET /_xpack` (ILM available), `GET /_cluster/health` (green),
//!   `GET /_nodes…` (this node, at the request's `Host`), `GET|HEAD /_index_template/{name}`,
//!   `/_template/{name}`, `/_component_template/{name}`, `/_ilm/policy/{name}`,
//!   `/_ingest/pipeline/{id}`, `/_data_stream/{name}`, `/_alias/{name}`, `/{index}` (all
//!   "exist": shippers then skip installing them), `PUT`/`POST`/`DELETE` on any of those
//!   (`{"acknowledged":true}`), `/_refresh`, `/_search` (no hits). Anything else: `GET`/`HEAD`
//!   `{}`, other methods `{"acknowledged":true}`.
//!
//! What the common shippers do at start-up, and how it goes here:
//! - Fluent Bit `es` output: nothing before its first `_bulk` (`create` or `index` actions
//!   with `_index`, `_type: _doc` unless `Suppress_Type_Name On`, documents with
//!   `@timestamp`); it retries a chunk unless the HTTP status is 200/201 and every item is
//!   200/201 (or 409).
//! - Vector `elasticsearch` sink: `GET /` (`version.number`, for `api_version: auto`), its
//!   healthcheck `GET /_cluster/health` (must be 200), then `_bulk?timeout=60s` with `index`
//!   (or `create` in data-stream mode) actions and a `timestamp` (data streams: `@timestamp`)
//!   field; it treats any answer containing `"errors":true` as failed.
//! - Filebeat: `GET /` (version check), `GET /_license?human=false`, template and ILM checks
//!   (`GET`/`HEAD /_index_template/…`, `/_ilm/policy/…`; they exist, nothing is installed),
//!   then `_bulk?filter_path=errors,items.*.error,items.*.status` with `create` actions into
//!   its data stream; per-item 4xx are dropped, 429 and 5xx retried.
//! - Logstash `elasticsearch` output: `GET /` (version, product header), `GET /_license`,
//!   `HEAD /_index_template/…` or `/_template/…`, ILM or data-stream checks, then `_bulk` with
//!   `filter_path`.

mod es;
mod fingerprint;
pub(crate) mod http;
mod normalize;
mod tcp;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use storage::LogWriter;

pub use normalize::{LineReject, Normalizer};
pub use tcp::LogstashServer;

// Shared with OTLP log ingest (`crate::otlp`), which maps its records with the same rules.
pub(crate) use fingerprint::{fingerprint, is_error_level};
pub(crate) use http::{BodyError, decode_body};
pub(crate) use normalize::normalize_level;

use crate::{IngestMetrics, WriteAdmission};

/// Settings of log normalisation and of the HTTP log endpoints.
#[derive(Debug, Clone)]
pub struct LogIngestConfig {
    /// Fields the service name is taken from, the first present one wins; a dotted name
    /// matches a key spelled so or nested objects. Default `service`, `app`, `application`,
    /// `service.name`, `name` (a Python logger's name, as a last resort).
    pub service_fields: Vec<String>,
    /// Longest event (one line), in bytes (default 1 MiB); longer ones are rejected
    /// (`line_too_long`).
    pub max_line_bytes: usize,
    /// Largest HTTP request body, as sent and after decompression, in bytes (default 64 MiB);
    /// larger ones are answered 413.
    pub max_body_bytes: usize,
}

impl Default for LogIngestConfig {
    fn default() -> Self {
        LogIngestConfig {
            service_fields: ["service", "app", "application", "service.name", "name"]
                .into_iter()
                .map(String::from)
                .collect(),
            max_line_bytes: 1 << 20,
            max_body_bytes: 64 << 20,
        }
    }
}

/// Settings of the logstash json_lines TCP listener.
#[derive(Debug, Clone)]
pub struct LogstashConfig {
    /// Normalisation and the line limit (its `max_body_bytes` does not apply to TCP).
    pub ingest: LogIngestConfig,
    /// Most connections open at once (default 1,024); more are closed at once.
    pub max_connections: usize,
    /// Most lines in one batch of a connection (default 1,000).
    pub batch_lines: usize,
    /// Most bytes of lines in one batch of a connection (default 4 MiB).
    pub batch_bytes: usize,
    /// How long a batch waits for more lines after its first one (default 5 ms).
    pub batch_delay: Duration,
    /// Most batches being normalised and written at once, over all connections (default 8);
    /// further connections wait without reading.
    pub max_in_flight_batches: usize,
}

impl Default for LogstashConfig {
    fn default() -> Self {
        LogstashConfig {
            ingest: LogIngestConfig::default(),
            max_connections: 1024,
            batch_lines: 1000,
            batch_bytes: 4 << 20,
            batch_delay: Duration::from_millis(5),
            max_in_flight_batches: 8,
        }
    }
}

/// The HTTP routes of log ingest, to be merged into the server's router: `POST /api/v1/logs`
/// and everything under `/es` (see the module documentation). Writes go through `admission`
/// (share the one the other HTTP ingest paths use, or give logs their own).
pub fn router(
    writer: Arc<dyn LogWriter>,
    metrics: IngestMetrics,
    admission: WriteAdmission,
    config: LogIngestConfig,
) -> Router {
    let state = http::LogsState {
        writer,
        metrics,
        admission,
        normalizer: Normalizer::new(&config),
        max_body_bytes: config.max_body_bytes.max(1),
    };
    http::routes(state.clone()).merge(es::routes(state))
}
