//! The Elasticsearch API subset under `/es/` (see the module documentation of `logs` for
//! what is answered and why).

use std::borrow::Cow;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Map, Value, json};
use storage::json::{JsonError, JsonScalar, JsonTape, JsonValue};
use storage::{LogRecord, StorageError, now_ms};

use super::http::{BodyError, LogsState, append, count_reject, decode_body, ndjson_lines};
use super::normalize::{ExtraField, number_text};
use crate::IngestError;
use crate::error::Failure;

const TRANSPORT: &str = "es_bulk";
/// The Elasticsearch version the banner claims.
const ES_VERSION: &str = "8.17.0";
const LUCENE_VERSION: &str = "9.12.0";
const CLUSTER_UUID: &str = "YXJndXMtbG9ncy1zdG9yZQ";
const NODE_ID: &str = "YXJndXMtbm9kZS0wMDAw";
const PRODUCT_HEADER: &str = "x-elastic-product";

pub(crate) fn routes(state: LogsState) -> Router {
    Router::new()
        .route("/es", any(dispatch))
        .route("/es/", any(dispatch))
        .route("/es/{*rest}", any(dispatch))
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .layer(axum::middleware::map_response(product_header))
        .with_state(state)
}

/// Every answer says it comes from Elasticsearch: the official clients refuse one that does
/// not.
async fn product_header(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(PRODUCT_HEADER, HeaderValue::from_static("Elasticsearch"));
    resp
}

/// `%XX` decoded (with `+` as a space when `plus_is_space`); invalid escapes are kept.
fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_param(uri: &Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k, true) == name).then(|| percent_decode(v, true))
    })
}

async fn dispatch(
    State(state): State<LogsState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().strip_prefix("/es").unwrap_or(uri.path());
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s, false))
        .collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let read = method == Method::GET || method == Method::HEAD;
    let write = method == Method::POST || method == Method::PUT;
    let is_index = |s: &str| !s.starts_with('_');
    match seg.as_slice() {
        [] if read => banner(),
        [.., "_bulk"] if write => {
            let index = match seg.as_slice() {
                [index, _, ..] if is_index(index) => Some(index.to_string()),
                _ => None,
            };
            bulk(state, &uri, headers, body, index).await
        }
        [index, "_doc"] if method == Method::POST && is_index(index) => {
            single(state, headers, body, index.to_string(), None).await
        }
        [index, "_doc" | "_create", id] if write && is_index(index) => {
            single(
                state,
                headers,
                body,
                index.to_string(),
                Some(id.to_string()),
            )
            .await
        }
        ["_license"] if read => ok(license()),
        ["_xpack", ..] if read => ok(xpack()),
        ["_cluster", "health", ..] if read => ok(cluster_health()),
        ["_nodes", ..] if read => ok(nodes(&headers)),
        ["_index_template"] if read => ok(json!({"index_templates": []})),
        ["_index_template", name] if read => ok(index_template(name)),
        ["_template", name] if read => ok(legacy_template(name)),
        ["_component_template", name] if read => ok(component_template(name)),
        ["_ilm", "policy", name] if read => ok(ilm_policy(name)),
        ["_ingest", "pipeline", id] if read => {
            ok(json!({ *id: {"description": "", "processors": []} }))
        }
        ["_data_stream", name] if read => ok(data_stream(name)),
        ["_search"] | [_, "_search"] => ok(empty_search()),
        ["_refresh"] | [_, "_refresh"] => {
            ok(json!({"_shards": {"total": 1, "successful": 1, "failed": 0}}))
        }
        ["_alias", ..] | [_, "_alias", ..] if read => ok(json!({})),
        [index] if read && is_index(index) => ok(index_info(index)),
        [index] if method == Method::PUT && is_index(index) => ok(json!({
            "acknowledged": true, "shards_acknowledged": true, "index": index
        })),
        _ if read => {
            tracing::debug!(path = %uri.path(), "unhandled elasticsearch read answered {{}}");
            ok(json!({}))
        }
        _ => {
            tracing::debug!(%method, path = %uri.path(), "unhandled elasticsearch call acknowledged");
            ok(json!({"acknowledged": true}))
        }
    }
}

fn ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// An error in Elasticsearch's shape.
fn es_error(status: StatusCode, kind: &str, reason: &str) -> Response {
    let body = json!({
        "error": {
            "root_cause": [{"type": kind, "reason": reason}],
            "type": kind,
            "reason": reason,
        },
        "status": status.as_u16(),
    });
    crate::http::with_retry_after((status, axum::Json(body)).into_response())
}

fn admission_error(e: IngestError) -> Response {
    match e {
        IngestError::Overloaded(m) => es_error(
            StatusCode::TOO_MANY_REQUESTS,
            "es_rejected_execution_exception",
            &m,
        ),
        IngestError::Storage(e) => storage_error(e),
        other => es_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "exception",
            &other.to_string(),
        ),
    }
}

fn storage_error(e: StorageError) -> Response {
    let reason = e.to_string();
    let failure = IngestError::Storage(e).failure();
    if failure == Failure::Internal {
        tracing::error!(error = %reason, "log append failed");
    } else {
        tracing::warn!(error = %reason, "log append refused; the shipper should retry");
    }
    // Shippers retry 429 and 503 with the same documents; a 500 may be dropped.
    let (status, kind) = match failure {
        Failure::Overloaded => (
            StatusCode::TOO_MANY_REQUESTS,
            "es_rejected_execution_exception",
        ),
        Failure::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable_shards_exception",
        ),
        Failure::Invalid => (StatusCode::BAD_REQUEST, "illegal_argument_exception"),
        Failure::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "exception"),
    };
    es_error(status, kind, &reason)
}

fn body_error(e: BodyError) -> Response {
    match e {
        BodyError::TooLarge(m) => es_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "content_too_long_exception",
            &m,
        ),
        BodyError::Invalid(m) => es_error(StatusCode::BAD_REQUEST, "parse_exception", &m),
    }
}

static NEXT_SEQ: AtomicU64 = AtomicU64::new(0);

/// A fresh document id: 20 hex characters of the time (ms) and a sequence number.
struct GeneratedId {
    now_ms: u64,
    seq: u64,
}

impl std::fmt::Display for GeneratedId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:011x}{:09x}",
            self.now_ms & 0xfff_ffff_ffff,
            self.seq & 0xf_ffff_ffff
        )
    }
}

/// A bulk action line's verb.
#[derive(Clone, Copy, PartialEq)]
enum Action {
    Index,
    Create,
    Update,
    Delete,
}

impl Action {
    fn parse(name: &str) -> Option<Action> {
        match name {
            "index" => Some(Action::Index),
            "create" => Some(Action::Create),
            "update" => Some(Action::Update),
            "delete" => Some(Action::Delete),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Action::Index => "index",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

/// The outcome of one bulk action.
struct Item {
    action: Action,
    /// Shared by the items of a run of actions naming the same index (usually all of them).
    index: Arc<str>,
    id: Option<String>,
    result: Result<(), (u16, &'static str, String)>,
}

/// Appends `s` to `out` as a JSON string.
fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // Serialising a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

impl Item {
    /// Appends the item's answer in Elasticsearch's field order. An item without an `_id`
    /// gets a fresh 20-character one (time and sequence, in hex).
    fn write_json(&self, out: &mut Vec<u8>, now_ms: u64) {
        let seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
        out.push(b'{');
        write_json_str(out, self.action.name());
        out.extend_from_slice(b":{\"_index\":");
        write_json_str(out, &self.index);
        out.extend_from_slice(b",\"_id\":");
        // Writes into a Vec cannot fail.
        let _ = match &self.id {
            Some(id) => {
                write_json_str(out, id);
                Ok(())
            }
            None => write!(out, "\"{}\"", GeneratedId { now_ms, seq }),
        };
        let _ = match &self.result {
            Ok(()) => write!(
                out,
                ",\"_version\":1,\"result\":\"created\",\"_shards\":{{\"total\":1,\"successful\":1,\"failed\":0}},\"_seq_no\":{seq},\"_primary_term\":1,\"status\":201}}}}"
            ),
            Err((status, kind, reason)) => {
                let _ = write!(out, ",\"status\":{status},\"error\":{{\"type\":");
                write_json_str(out, kind);
                out.extend_from_slice(b",\"reason\":");
                write_json_str(out, reason);
                out.extend_from_slice(b"}}}");
                Ok(())
            }
        };
    }
}

/// Elasticsearch's bulk answer, written straight into bytes: a 4 MiB request has about
/// 10,000 items, and a JSON tree per item cost as much as indexing their documents.
fn bulk_answer(took_ms: u64, items: &[Item]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + items.len() * 200);
    let errors = items.iter().any(|i| i.result.is_err());
    let _ = write!(out, "{{\"took\":{took_ms},\"errors\":{errors},\"items\":[");
    let now = now_ms().max(0) as u64;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item.write_json(&mut out, now);
    }
    out.extend_from_slice(b"]}");
    out
}

enum BulkError {
    Body(BodyError),
    /// A malformed action line fails the whole request, as in Elasticsearch.
    Malformed(String),
    Storage(StorageError),
}

async fn bulk(
    state: LogsState,
    uri: &Uri,
    headers: HeaderMap,
    body: Bytes,
    path_index: Option<String>,
) -> Response {
    let started = Instant::now();
    let admitted = state.clone();
    let result = state
        .admission
        .run(move || bulk_items(&admitted, &headers, body, path_index))
        .await;
    let items = match result {
        Err(e) => return admission_error(e),
        Ok(Err(BulkError::Body(e))) => return body_error(e),
        Ok(Err(BulkError::Malformed(m))) => {
            return es_error(StatusCode::BAD_REQUEST, "illegal_argument_exception", &m);
        }
        Ok(Err(BulkError::Storage(e))) => return storage_error(e),
        Ok(Ok(items)) => items,
    };
    let answer = bulk_answer(started.elapsed().as_millis() as u64, &items);
    match query_param(uri, "filter_path") {
        Some(filter) if !filter.trim().is_empty() => {
            let value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
            ok(filter_path(&value, &filter).unwrap_or_else(|| json!({})))
        }
        _ => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            answer,
        )
            .into_response(),
    }
}

fn string_or_number<'a>(v: Option<JsonValue<'a>>) -> Option<Cow<'a, str>> {
    match v?.scalar()? {
        JsonScalar::Str(s) => Some(Cow::Borrowed(s)),
        JsonScalar::Bool(_) => None,
        number => number_text(number).map(Cow::Owned),
    }
}

/// Why an action line is not JSON, in serde's words (as the rest of the answers word it).
fn action_json_error(line: &[u8], tape_error: Option<JsonError>) -> String {
    match serde_json::from_slice::<serde::de::IgnoredAny>(line) {
        Err(e) => e.to_string(),
        Ok(_) => tape_error.map_or_else(|| "invalid UTF-8".to_string(), |e| e.to_string()),
    }
}

fn bulk_items(
    state: &LogsState,
    headers: &HeaderMap,
    body: Bytes,
    path_index: Option<String>,
) -> Result<Vec<Item>, BulkError> {
    let body = decode_body(headers, body, state.max_body_bytes).map_err(BulkError::Body)?;
    state
        .metrics
        .logs_bytes
        .with_label_values(&[TRANSPORT])
        .inc_by(body.len() as u64);
    let mut lines = ndjson_lines(&body);
    let now = now_ms();
    // Shippers' documents are a few hundred bytes, with an action line each.
    let mut items = Vec::with_capacity(body.len() / 512);
    let mut records = Vec::with_capacity(APPEND_CHUNK);
    // item of each record
    let mut origin = Vec::with_capacity(APPEND_CHUNK);
    let lines_counter = state.metrics.logs_lines.with_label_values(&[TRANSPORT]);
    let path_index = path_index.unwrap_or_default();
    let mut last_index: Arc<str> = path_index.as_str().into();
    // The `_index` field of the documents, written once while the index stays the same.
    let mut extra: Option<ExtraField> = None;
    while let Some((n, line)) = lines.next() {
        let tape = match std::str::from_utf8(line).map(JsonTape::parse) {
            Ok(Ok(tape)) => tape,
            failed => {
                let e = action_json_error(line, failed.ok().and_then(Result::err));
                return Err(BulkError::Malformed(format!(
                    "Malformed action/metadata line [{n}], expected a JSON object: {e}"
                )));
            }
        };
        let action = tape.root();
        if !action.is_object() {
            return Err(BulkError::Malformed(format!(
                "Malformed action/metadata line [{n}], expected START_OBJECT but found {}",
                action.kind_name()
            )));
        }
        let mut entries = action.members();
        let (Some(entry), None) = (entries.next(), entries.next()) else {
            return Err(BulkError::Malformed(format!(
                "Malformed action/metadata line [{n}], expected exactly one action"
            )));
        };
        let Some(action) = Action::parse(entry.key) else {
            return Err(BulkError::Malformed(format!(
                "Malformed action/metadata line [{n}], expected one of [create, delete, index, update] but found [{}]",
                entry.key
            )));
        };
        let own_index = string_or_number(entry.value.get("_index"));
        let index = own_index.as_deref().unwrap_or(&path_index);
        if *last_index != *index {
            last_index = index.into();
        }
        let id = string_or_number(entry.value.get("_id")).map(Cow::into_owned);
        // Done with the action line: its tape gives its node buffer back for the document's.
        drop(tape);
        lines_counter.inc();
        let mut item = Item {
            action,
            index: Arc::clone(&last_index),
            id,
            result: Ok(()),
        };
        match action {
            Action::Index | Action::Create => match lines.next() {
                None => {
                    count_reject(&state.metrics, TRANSPORT, "missing_document");
                    item.result = Err((
                        400,
                        "action_request_validation_exception",
                        "Validation Failed: 1: source is missing;".into(),
                    ));
                }
                Some((_, doc)) => {
                    let normalized = if item.index.is_empty() {
                        state.normalizer.line(doc.to_vec(), now)
                    } else {
                        if extra.as_ref().is_some_and(|e| e.value() != &*item.index) {
                            extra = None;
                        }
                        let extra =
                            extra.get_or_insert_with(|| ExtraField::new("_index", &item.index));
                        state.normalizer.line_with_field(doc.to_vec(), now, extra)
                    };
                    match normalized {
                        Ok(record) => {
                            records.push(record);
                            origin.push(items.len());
                        }
                        Err(reject) => {
                            count_reject(&state.metrics, TRANSPORT, reject.reason());
                            item.result = Err((
                                400,
                                "mapper_parsing_exception",
                                format!("failed to parse: {reject}"),
                            ));
                        }
                    }
                }
            },
            Action::Update | Action::Delete => {
                if action == Action::Update {
                    // its partial document or script
                    let _ = lines.next();
                }
                count_reject(&state.metrics, TRANSPORT, "unsupported_action");
                item.result = Err((
                    400,
                    "illegal_argument_exception",
                    format!(
                        "the {} action is not supported: Argus stores logs append-only",
                        action.name()
                    ),
                ));
            }
        }
        items.push(item);
        if records.len() >= APPEND_CHUNK {
            append_chunk(state, &mut records, &mut origin, &mut items)?;
        }
    }
    if items.is_empty() {
        return Err(BulkError::Malformed(
            "Validation Failed: 1: no requests added;".into(),
        ));
    }
    append_chunk(state, &mut records, &mut origin, &mut items)?;
    Ok(items)
}

/// Documents of a `_bulk` request written to the store at once (see the module documentation).
const APPEND_CHUNK: usize = 1000;

/// Writes the records read so far and marks the items the store refused.
fn append_chunk(
    state: &LogsState,
    records: &mut Vec<LogRecord>,
    origin: &mut Vec<usize>,
    items: &mut [Item],
) -> Result<(), BulkError> {
    let outcome = append(
        &*state.writer,
        &state.metrics,
        TRANSPORT,
        std::mem::replace(records, Vec::with_capacity(APPEND_CHUNK)),
    )
    .map_err(BulkError::Storage)?;
    for (i, reason) in outcome.rejected {
        if let Some(item) = origin.get(i).and_then(|&at| items.get_mut(at)) {
            item.result = Err((400, "illegal_argument_exception", reason));
        }
    }
    origin.clear();
    Ok(())
}

/// One document through the index API.
async fn single(
    state: LogsState,
    headers: HeaderMap,
    body: Bytes,
    index: String,
    id: Option<String>,
) -> Response {
    let admitted = state.clone();
    let stored_index = index.clone();
    let result = state
        .admission
        .run(
            move || -> Result<Result<(), (&'static str, String)>, BulkError> {
                let metrics = &admitted.metrics;
                let body = decode_body(&headers, body, admitted.max_body_bytes)
                    .map_err(BulkError::Body)?;
                metrics
                    .logs_bytes
                    .with_label_values(&[TRANSPORT])
                    .inc_by(body.len() as u64);
                metrics.logs_lines.with_label_values(&[TRANSPORT]).inc();
                let mut record = match admitted
                    .normalizer
                    .line(body.trim_ascii().to_vec(), now_ms())
                {
                    Ok(record) => record,
                    Err(reject) => {
                        count_reject(metrics, TRANSPORT, reject.reason());
                        return Ok(Err((
                            "mapper_parsing_exception",
                            format!("failed to parse: {reject}"),
                        )));
                    }
                };
                record.insert_field("_index", Value::String(stored_index));
                let outcome = append(&*admitted.writer, metrics, TRANSPORT, vec![record])
                    .map_err(BulkError::Storage)?;
                Ok(match outcome.rejected.into_iter().next() {
                    Some((_, reason)) => Err(("illegal_argument_exception", reason)),
                    None => Ok(()),
                })
            },
        )
        .await;
    match result {
        Err(e) => admission_error(e),
        Ok(Err(BulkError::Body(e))) => body_error(e),
        Ok(Err(BulkError::Malformed(m))) => {
            es_error(StatusCode::BAD_REQUEST, "illegal_argument_exception", &m)
        }
        Ok(Err(BulkError::Storage(e))) => storage_error(e),
        Ok(Ok(Err((kind, reason)))) => es_error(StatusCode::BAD_REQUEST, kind, &reason),
        Ok(Ok(Ok(()))) => {
            let seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
            let generated = GeneratedId {
                now_ms: now_ms().max(0) as u64,
                seq,
            };
            let body = json!({
                "_index": index,
                "_id": id.unwrap_or_else(|| generated.to_string()),
                "_version": 1,
                "result": "created",
                "_shards": {"total": 1, "successful": 1, "failed": 0},
                "_seq_no": seq,
                "_primary_term": 1,
            });
            (StatusCode::CREATED, axum::Json(body)).into_response()
        }
    }
}

/// Elasticsearch's `filter_path`: comma-separated dotted paths, `*` matching any one key
/// (and `prefix*` keys starting so), arrays looked through; exclusions (`-…`) are ignored.
fn filter_path(value: &Value, filter: &str) -> Option<Value> {
    let patterns: Vec<Vec<&str>> = filter
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.starts_with('-'))
        .map(|p| p.split('.').collect())
        .collect();
    if patterns.is_empty() {
        return Some(value.clone());
    }
    let refs: Vec<&[&str]> = patterns.iter().map(Vec::as_slice).collect();
    filter_value(value, &refs)
}

fn key_matches(pattern: &str, key: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => pattern == key,
    }
}

fn filter_value(value: &Value, patterns: &[&[&str]]) -> Option<Value> {
    if patterns.iter().any(|p| p.is_empty()) {
        return Some(value.clone());
    }
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, child) in map {
                let rest: Vec<&[&str]> = patterns
                    .iter()
                    .filter(|p| key_matches(p[0], key))
                    .map(|p| &p[1..])
                    .collect();
                if rest.is_empty() {
                    continue;
                }
                if let Some(kept) = filter_value(child, &rest) {
                    out.insert(key.clone(), kept);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(items) => {
            let kept: Vec<Value> = items
                .iter()
                .filter_map(|v| filter_value(v, patterns))
                .collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        _ => None,
    }
}

fn banner() -> Response {
    ok(json!({
        "name": "argus",
        "cluster_name": "argus",
        "cluster_uuid": CLUSTER_UUID,
        "version": {
            "number": ES_VERSION,
            "build_flavor": "default",
            "build_type": "tar",
            "build_hash": "0000000000000000000000000000000000000000",
            "build_date": "2024-12-11T12:08:05.663969764Z",
            "build_snapshot": false,
            "lucene_version": LUCENE_VERSION,
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0",
        },
        "tagline": "You Know, for Search",
        "argus_version": env!("CARGO_PKG_VERSION"),
    }))
}

fn license() -> Value {
    json!({"license": {
        "status": "active",
        "uid": "00000000-0000-4000-8000-000000000000",
        "type": "basic",
        "issue_date": "2024-01-01T00:00:00.000Z",
        "issue_date_in_millis": 1_704_067_200_000i64,
        "max_nodes": 1000,
        "max_resource_units": null,
        "issued_to": "argus",
        "issuer": "elasticsearch",
        "start_date_in_millis": -1,
    }})
}

fn xpack() -> Value {
    let feature = |enabled: bool| json!({"available": true, "enabled": enabled});
    json!({
        "build": {"hash": "0000000000000000000000000000000000000000", "date": "2024-12-11T12:08:05.663969764Z"},
        "license": {"uid": "00000000-0000-4000-8000-000000000000", "type": "basic", "mode": "basic", "status": "active"},
        "features": {
            "ilm": feature(true),
            "data_streams": feature(true),
            "security": feature(false),
            "monitoring": feature(false),
            "watcher": feature(false),
            "ml": feature(false),
        },
        "tagline": "You know, for X",
    })
}

fn cluster_health() -> Value {
    json!({
        "cluster_name": "argus",
        "status": "green",
        "timed_out": false,
        "number_of_nodes": 1,
        "number_of_data_nodes": 1,
        "active_primary_shards": 1,
        "active_shards": 1,
        "relocating_shards": 0,
        "initializing_shards": 0,
        "unassigned_shards": 0,
        "delayed_unassigned_shards": 0,
        "number_of_pending_tasks": 0,
        "number_of_in_flight_fetch": 0,
        "task_max_waiting_in_queue_millis": 0,
        "active_shards_percent_as_number": 100.0,
    })
}

/// This node, published at the address the client used.
fn nodes(headers: &HeaderMap) -> Value {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1:8080");
    json!({
        "_nodes": {"total": 1, "successful": 1, "failed": 0},
        "cluster_name": "argus",
        "nodes": {
            NODE_ID: {
                "name": "argus",
                "host": host.split(':').next().unwrap_or(host),
                "version": ES_VERSION,
                "roles": ["data", "ingest", "master"],
                "http": {"publish_address": host, "bound_address": [host]},
            }
        }
    })
}

fn index_template(name: &str) -> Value {
    json!({"index_templates": [{
        "name": name,
        "index_template": {
            "index_patterns": [format!("{name}*")],
            "composed_of": [],
            "template": {"settings": {}, "mappings": {}},
            "data_stream": {"hidden": false, "allow_custom_routing": false},
        }
    }]})
}

fn legacy_template(name: &str) -> Value {
    json!({ name: {
        "order": 0,
        "index_patterns": [format!("{name}*")],
        "settings": {},
        "mappings": {},
        "aliases": {},
    }})
}

fn component_template(name: &str) -> Value {
    json!({"component_templates": [{
        "name": name,
        "component_template": {"template": {"settings": {}, "mappings": {}}},
    }]})
}

fn ilm_policy(name: &str) -> Value {
    json!({ name: {
        "version": 1,
        "modified_date": "2024-01-01T00:00:00.000Z",
        "policy": {"phases": {"hot": {"min_age": "0ms", "actions": {}}}},
    }})
}

fn data_stream(name: &str) -> Value {
    json!({"data_streams": [{
        "name": name,
        "timestamp_field": {"name": "@timestamp"},
        "indices": [],
        "generation": 1,
        "status": "GREEN",
        "template": name,
        "hidden": false,
        "system": false,
    }]})
}

fn index_info(index: &str) -> Value {
    json!({ index: {
        "aliases": {},
        "mappings": {},
        "settings": {"index": {
            "number_of_shards": "1",
            "number_of_replicas": "0",
            "provided_name": index,
        }},
    }})
}

fn empty_search() -> Value {
    json!({
        "took": 0,
        "timed_out": false,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {"total": {"value": 0, "relation": "eq"}, "max_score": null, "hits": []},
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use storage::LogRecord;

    use super::*;
    use crate::logs::LogIngestConfig;
    use crate::logs::http::tests::{RecordingWriter, app, call, gzip};

    const FLUENT_BIT: &str = include_str!("../../tests/fixtures/fluent-bit-bulk.ndjson");
    const FLUENT_BIT_LOGSTASH: &str =
        include_str!("../../tests/fixtures/fluent-bit-logstash-format-bulk.ndjson");
    const VECTOR: &str = include_str!("../../tests/fixtures/vector-bulk.ndjson");
    const VECTOR_DATA_STREAM: &str =
        include_str!("../../tests/fixtures/vector-data-stream-bulk.ndjson");
    const FILEBEAT: &str = include_str!("../../tests/fixtures/filebeat-bulk.ndjson");

    fn json_body(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).expect("JSON answer")
    }

    /// Posts a bulk body and checks Elasticsearch's success shape; returns the records.
    async fn post_bulk(
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
        documents: usize,
        action: &str,
    ) -> Vec<LogRecord> {
        let writer = Arc::new(RecordingWriter::default());
        let (app, _) = app(writer.clone(), LogIngestConfig::default());
        let (status, resp_headers, resp) =
            call(&app, Method::POST, path, headers, body.as_bytes().to_vec()).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&resp));
        assert_eq!(
            resp_headers.get(PRODUCT_HEADER).map(|v| v.as_bytes()),
            Some(&b"Elasticsearch"[..])
        );
        let text = String::from_utf8_lossy(&resp).into_owned();
        // Fluent Bit and Vector look for these exact substrings
        assert!(text.starts_with("{\"took\":"), "{text}");
        assert!(text.contains("\"errors\":false,\"items\":["), "{text}");
        let resp = json_body(&resp);
        let items = resp["items"].as_array().expect("items");
        assert_eq!(items.len(), documents);
        for item in items {
            let inner = &item[action];
            assert_eq!(inner["status"], 201, "{item}");
            assert_eq!(inner["result"], "created");
            assert!(inner["_id"].as_str().is_some_and(|id| !id.is_empty()));
        }
        let records = writer.records();
        assert_eq!(records.len(), documents);
        records
    }

    #[tokio::test]
    async fn fluent_bit_bulk_bodies() {
        let records = post_bulk(
            "/es/_bulk",
            FLUENT_BIT,
            &[("content-type", "application/x-ndjson")],
            4,
            "create",
        )
        .await;
        // tail + kubernetes filter: the Docker line is in `log`
        let r = &records[0];
        assert_eq!(r.time_ms, 1_714_564_800_123);
        assert_eq!(r.message, "GET /api/orders/17 200 12ms");
        assert_eq!(r.fields_map()["_index"], "fluent-bit");
        assert_eq!(r.fields_map()["stream"], "stdout");
        assert_eq!(
            r.fields_map()["kubernetes"]["pod_name"],
            "api-7d9f8b6c4-x2x7p"
        );
        assert_eq!(r.fields_map()["time"], "2024-05-01T12:00:00.123456789Z");
        assert_eq!(r.level, None);
        // Merge_Log: the application's JSON fields at the top level
        let r = &records[1];
        assert_eq!(r.level.as_deref(), Some("ERROR"));
        assert_eq!(r.message, "payment declined for order 17");
        assert_eq!(r.service.as_deref(), Some("checkout"));
        assert_eq!(
            r.trace_id.as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert!(r.fingerprint.is_some());
        // Generate_ID: _id in the action; the raw document as sent
        assert_eq!(records[2].host.as_deref(), Some("node-2"));
        assert_eq!(records[2].time_ms, 1_714_564_801_000);
        let doc_lines: Vec<&str> = FLUENT_BIT.lines().skip(1).step_by(2).collect();
        for (r, doc) in records.iter().zip(&doc_lines) {
            assert_eq!(&r.raw, doc);
        }
        // Suppress_Type_Name, nanosecond timestamps
        assert_eq!(records[3].time_ms, 1_714_564_802_999);
        assert_eq!(records[3].message, "worker started");

        let records = post_bulk(
            "/es/_bulk",
            FLUENT_BIT_LOGSTASH,
            &[("content-type", "application/x-ndjson")],
            2,
            "index",
        )
        .await;
        assert_eq!(records[0].fields_map()["_index"], "logstash-2024.05.01");
        assert_eq!(records[0].level.as_deref(), Some("WARN"));
        assert_eq!(records[1].fields_map()["_index"], "logstash-2024.05.01");
        assert!(
            records[1].fingerprint.is_some(),
            "a Python traceback in exc_info"
        );
    }

    #[tokio::test]
    async fn fluent_bit_gzip() {
        let writer = Arc::new(RecordingWriter::default());
        let (app, _) = app(writer.clone(), LogIngestConfig::default());
        let (status, _, resp) = call(
            &app,
            Method::POST,
            "/es/_bulk",
            &[
                ("content-encoding", "gzip"),
                ("content-type", "application/x-ndjson"),
            ],
            gzip(FLUENT_BIT.as_bytes()),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json_body(&resp)["errors"], false);
        assert_eq!(writer.records().len(), 4);
    }

    #[tokio::test]
    async fn vector_bulk_bodies() {
        let records = post_bulk(
            "/es/_bulk?timeout=60s",
            VECTOR,
            &[("content-type", "application/x-ndjson")],
            3,
            "index",
        )
        .await;
        let r = &records[0];
        assert_eq!(r.time_ms, 1_714_564_800_123);
        assert_eq!(r.host.as_deref(), Some("web-1"));
        assert_eq!(r.message, "GET /health 200");
        assert_eq!(r.fields_map()["_index"], "vector-2024.05.01");
        assert_eq!(r.fields_map()["source_type"], "file");
        assert_eq!(r.fields_map()["file"], "/var/log/app/access.log");
        // docker_logs source: the container's line, not parsed
        let r = &records[1];
        assert_eq!(r.fields_map()["container_name"], "checkout");
        assert_eq!(r.time_ms, 1_714_564_800_456);
        assert!(r.message.starts_with("{\"level\":\"error\""));
        // _type for an API version 6 target, id_key
        assert_eq!(records[2].level.as_deref(), Some("DEBUG"));

        let records = post_bulk(
            "/es/_bulk?timeout=60s",
            VECTOR_DATA_STREAM,
            &[("content-type", "application/x-ndjson")],
            2,
            "create",
        )
        .await;
        assert_eq!(records[0].fields_map()["_index"], "logs-generic-default");
        assert_eq!(records[0].time_ms, 1_714_564_801_500);
        assert_eq!(
            records[0].fields_map()["data_stream"],
            json!({"dataset": "generic", "namespace": "default", "type": "logs"})
        );
        assert_eq!(records[1].service.as_deref(), Some("billing"));
    }

    #[tokio::test]
    async fn filebeat_bulk_with_filter_path() {
        let writer = Arc::new(RecordingWriter::default());
        let (app, _) = app(writer.clone(), LogIngestConfig::default());
        let (status, _, resp) = call(
            &app,
            Method::POST,
            "/es/_bulk?filter_path=errors,items.*.error,items.*.status",
            &[("content-type", "application/json; charset=UTF-8")],
            FILEBEAT.into(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            json_body(&resp),
            json!({"errors": false, "items": [{"create": {"status": 201}}, {"create": {"status": 201}}]})
        );
        let records = writer.records();
        assert_eq!(records[0].host.as_deref(), Some("web-1"));
        assert_eq!(records[0].fields_map()["_index"], "filebeat-8.17.0");
        assert_eq!(records[0].message, "connection reset by peer");
        assert_eq!(
            records[0].fields_map()["log"]["file"]["path"],
            "/var/log/app/app.log"
        );
        assert_eq!(records[1].level.as_deref(), Some("ERROR"));
    }

    #[tokio::test]
    async fn per_item_errors_and_path_index() {
        let writer = Arc::new(RecordingWriter::default());
        let (app, metrics) = app(writer.clone(), LogIngestConfig::default());
        let body = concat!(
            "{\"index\":{}}\n",
            "{\"message\":\"ok\"}\n",
            "{\"create\":{\"_index\":\"other\",\"_id\":\"given\"}}\n",
            "{\"message\": broken\n",
            "{\"delete\":{\"_index\":\"x\",\"_id\":\"1\"}}\n",
            "{\"update\":{\"_index\":\"x\",\"_id\":\"1\"}}\n",
            "{\"doc\":{\"a\":1}}\n",
            "{\"index\":{\"_index\":\"y\"}}\n",
            "[1,2]\n",
            "{\"index\":{}}\n",
            "{\"message\":\"refuse me\"}\n",
        );
        let (status, _, resp) =
            call(&app, Method::POST, "/es/app-logs/_bulk", &[], body.into()).await;
        assert_eq!(status, StatusCode::OK);
        let text = String::from_utf8_lossy(&resp).into_owned();
        assert!(text.contains("\"errors\":true"), "{text}");
        let resp = json_body(&resp);
        let items = resp["items"].as_array().expect("items");
        let summary: Vec<(String, u64, String)> = items
            .iter()
            .map(|i| {
                let (action, inner) = i
                    .as_object()
                    .and_then(|o| o.iter().next())
                    .expect("one key");
                (
                    action.clone(),
                    inner["status"].as_u64().unwrap_or(0),
                    inner["error"]["type"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let expected = [
            ("index", 201, ""),
            ("create", 400, "mapper_parsing_exception"),
            ("delete", 400, "illegal_argument_exception"),
            ("update", 400, "illegal_argument_exception"),
            ("index", 400, "mapper_parsing_exception"),
            ("index", 400, "illegal_argument_exception"),
        ];
        let expected: Vec<(String, u64, String)> = expected
            .iter()
            .map(|(a, s, t)| (a.to_string(), *s, t.to_string()))
            .collect();
        assert_eq!(summary, expected);
        assert_eq!(items[0]["index"]["_index"], "app-logs");
        assert_eq!(items[1]["create"]["_id"], "given");
        assert_eq!(items[1]["create"]["_index"], "other");
        let records = writer.records();
        assert_eq!(records[0].fields_map()["_index"], "app-logs");
        assert_eq!(metrics.logs_lines.with_label_values(&["es_bulk"]).get(), 6);
        assert_eq!(
            metrics.logs_written.with_label_values(&["es_bulk"]).get(),
            1
        );
        assert_eq!(
            metrics
                .logs_rejects
                .with_label_values(&["es_bulk", "unsupported_action"])
                .get(),
            2
        );
    }

    /// A request longer than a chunk is written in chunks, and each item's answer is its own.
    #[tokio::test]
    async fn long_requests_are_written_in_chunks() -> Result<(), Box<dyn std::error::Error>> {
        let writer = Arc::new(RecordingWriter::default());
        let (app, _) = app(writer.clone(), LogIngestConfig::default());
        let (refused, broken) = (1500, 2100);
        let mut body = String::new();
        for i in 0..2500 {
            body.push_str("{\"create\":{}}\n");
            body.push_str(&match i {
                _ if i == refused => "{\"message\":\"refuse me\"}\n".to_string(),
                _ if i == broken => "{\"message\": broken\n".to_string(),
                _ => format!("{{\"message\":\"line {i}\"}}\n"),
            });
        }
        let (status, _, resp) =
            call(&app, Method::POST, "/es/chunks/_bulk", &[], body.into()).await;
        assert_eq!(status, StatusCode::OK);
        let resp: Value = serde_json::from_slice(&resp)?;
        let statuses: Vec<u64> = resp["items"]
            .as_array()
            .ok_or("no items")?
            .iter()
            .map(|i| i["create"]["status"].as_u64().unwrap_or(0))
            .collect();
        assert_eq!(statuses.len(), 2500);
        for (i, status) in statuses.iter().enumerate() {
            let want = if i == refused || i == broken {
                400
            } else {
                201
            };
            assert_eq!(*status, want, "item {i}");
        }
        let batches: Vec<usize> = writer.batches.lock().iter().map(Vec::len).collect();
        assert_eq!(batches, [APPEND_CHUNK, APPEND_CHUNK, 499]);
        let records = writer.records();
        assert_eq!(
            records[2100].message, "line 2101",
            "the broken line is not a record"
        );
        assert_eq!(records[2100].fields_map()["_index"], "chunks");
        Ok(())
    }

    #[tokio::test]
    async fn malformed_requests_fail_whole() {
        let writer = Arc::new(RecordingWriter::default());
        let (app, _) = app(writer.clone(), LogIngestConfig::default());
        for body in [
            "not json\n{}\n",
            "{\"explode\":{}}\n{}\n",
            "{\"index\":{},\"create\":{}}\n{}\n",
            "[]\n",
            "",
        ] {
            let (status, headers, resp) =
                call(&app, Method::POST, "/es/_bulk", &[], body.into()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert!(headers.contains_key(PRODUCT_HEADER));
            let resp = json_body(&resp);
            assert_eq!(resp["status"], 400);
            assert_eq!(resp["error"]["type"], "illegal_argument_exception");
        }
        assert!(writer.records().is_empty());
        // storage failing: the whole request, retryable
        writer.fail.store(true, Ordering::SeqCst);
        let (status, headers, resp) = call(
            &app,
            Method::POST,
            "/es/_bulk",
            &[],
            b"{\"index\":{\"_index\":\"a\"}}\n{\"message\":\"m\"}\n".to_vec(),
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(headers.contains_key("retry-after"));
        assert_eq!(
            json_body(&resp)["error"]["type"],
            "unavailable_shards_exception"
        );
    }

    #[tokio::test]
    async fn single_document_api() {
        let writer = Arc::new(RecordingWriter::default());
        let (app, _) = app(writer.clone(), LogIngestConfig::default());
        let (status, _, resp) = call(
            &app,
            Method::POST,
            "/es/my-logs/_doc",
            &[],
            b"{\n  \"message\": \"hello\",\n  \"level\": \"info\"\n}".to_vec(),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&resp)
        );
        let resp = json_body(&resp);
        assert_eq!(resp["result"], "created");
        assert_eq!(resp["_index"], "my-logs");
        let (status, _, resp) = call(
            &app,
            Method::PUT,
            "/es/my-logs/_create/abc",
            &[],
            b"{\"message\":\"x\"}".to_vec(),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(json_body(&resp)["_id"], "abc");
        let (status, _, resp) =
            call(&app, Method::POST, "/es/my-logs/_doc", &[], b"[1]".to_vec()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            json_body(&resp)["error"]["type"],
            "mapper_parsing_exception"
        );
        let records = writer.records();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].message, "hello");
        assert_eq!(records[0].fields_map()["_index"], "my-logs");
    }

    #[tokio::test]
    async fn start_up_calls_of_the_shippers() {
        let writer = Arc::new(RecordingWriter::default());
        let (app, _) = app(writer.clone(), LogIngestConfig::default());
        let get = |path: &'static str| {
            let app = app.clone();
            async move {
                let (status, headers, body) = call(
                    &app,
                    Method::GET,
                    path,
                    &[("host", "argus:8080")],
                    Vec::new(),
                )
                .await;
                assert_eq!(status, StatusCode::OK, "{path}");
                assert!(headers.contains_key(PRODUCT_HEADER), "{path}");
                json_body(&body)
            }
        };
        // the banner, at /es and /es/
        for path in ["/es", "/es/"] {
            let banner = get(path).await;
            assert_eq!(banner["version"]["number"], ES_VERSION);
            assert_eq!(banner["tagline"], "You Know, for Search");
        }
        let (status, _, _) = call(&app, Method::HEAD, "/es/", &[], Vec::new()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            get("/es/_license?human=false").await["license"]["status"],
            "active"
        );
        assert_eq!(
            get("/es/_xpack").await["features"]["ilm"]["available"],
            true
        );
        assert_eq!(get("/es/_cluster/health").await["status"], "green");
        let nodes = get("/es/_nodes/http").await;
        assert_eq!(
            nodes["nodes"][NODE_ID]["http"]["publish_address"],
            "argus:8080"
        );
        assert_eq!(
            get("/es/_index_template/filebeat-8.17.0").await["index_templates"][0]["name"],
            "filebeat-8.17.0"
        );
        assert!(
            get("/es/_template/logstash")
                .await
                .get("logstash")
                .is_some()
        );
        assert!(
            get("/es/_ilm/policy/filebeat")
                .await
                .get("filebeat")
                .is_some()
        );
        assert_eq!(
            get("/es/_data_stream/logs-generic-default").await["data_streams"][0]["name"],
            "logs-generic-default"
        );
        assert!(
            get("/es/vector-2024.05.01")
                .await
                .get("vector-2024.05.01")
                .is_some()
        );
        assert_eq!(get("/es/_search").await["hits"]["total"]["value"], 0);
        assert_eq!(get("/es/_cat/indices").await, json!({}));
        for (method, path) in [
            (Method::HEAD, "/es/_index_template/logstash"),
            (Method::HEAD, "/es/_template/logstash"),
            (Method::HEAD, "/es/_alias/filebeat-7.17.0"),
            (Method::HEAD, "/es/fluent-bit"),
            (Method::PUT, "/es/_index_template/filebeat-8.17.0"),
            (Method::PUT, "/es/_ilm/policy/filebeat"),
            (Method::PUT, "/es/_data_stream/logs-x-default"),
            (
                Method::PUT,
                "/es/%3Cfilebeat-7.17.0-%7Bnow%2Fd%7D-000001%3E",
            ),
            (Method::DELETE, "/es/old-index"),
            (Method::POST, "/es/_aliases"),
        ] {
            let (status, headers, _) = call(&app, method.clone(), path, &[], b"{}".to_vec()).await;
            assert_eq!(status, StatusCode::OK, "{method} {path}");
            assert!(headers.contains_key(PRODUCT_HEADER));
        }
        let (_, _, resp) = call(
            &app,
            Method::PUT,
            "/es/_ilm/policy/filebeat",
            &[],
            b"{}".to_vec(),
        )
        .await;
        assert_eq!(json_body(&resp), json!({"acknowledged": true}));
        let (_, _, resp) = call(&app, Method::PUT, "/es/app-logs", &[], b"{}".to_vec()).await;
        assert_eq!(json_body(&resp)["index"], "app-logs");
        assert!(writer.records().is_empty());
    }

    #[test]
    fn filter_paths() {
        let v = json!({"took": 3, "errors": true, "items": [
            {"index": {"_id": "a", "status": 201}},
            {"create": {"_id": "b", "status": 400, "error": {"type": "t", "reason": "r"}}},
        ]});
        assert_eq!(
            filter_path(&v, "errors,items.*.error,items.*.status"),
            Some(json!({"errors": true, "items": [
                {"index": {"status": 201}},
                {"create": {"status": 400, "error": {"type": "t", "reason": "r"}}},
            ]}))
        );
        assert_eq!(filter_path(&v, "took"), Some(json!({"took": 3})));
        assert_eq!(
            filter_path(&v, "items.*._i*"),
            Some(json!({"items": [{"index": {"_id": "a"}}, {"create": {"_id": "b"}}]}))
        );
        assert_eq!(filter_path(&v, "nothing"), None);
        assert_eq!(filter_path(&v, "-took"), Some(v.clone()));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("%3Cfilebeat-%7Bnow%2Fd%7D%3E", false),
            "<filebeat-{now/d}>"
        );
        assert_eq!(percent_decode("a+b%2", true), "a b%2");
        assert_eq!(percent_decode("%zz%", false), "%zz%");
    }
}
