//! One logstash-format JSON event → one [`LogRecord`].
//!
//! Which field feeds which part of the record, first present (and usable) wins; the field that
//! was used is taken out of `fields`, everything else stays there as it came:
//!
//! | record | fields looked at |
//! | --- | --- |
//! | `time_ms` | `@timestamp`, `timestamp`, `time`, `ts`: RFC 3339 with any fraction and offset (also a space instead of `T`, a comma before the fraction, no offset = UTC), or epoch seconds, milliseconds, microseconds or nanoseconds (told apart by size) as a number or a string; a value that does not parse is left in `fields`; none → the time of arrival |
//! | `level` | `level`, `levelname`, `severity`, `log.level` (see [`normalize_level`]) |
//! | `service` | [`LogIngestConfig::service_fields`], default `service`, `app`, `application`, `service.name`, `name` |
//! | `host` | `host` (a string), `host.name`, `host.hostname`, `source_host`, `hostname` |
//! | `message` | `message`, `msg`, `log` (Fluent Bit / Docker; its trailing newline removed) |
//! | `trace_id` | `trace_id`, `traceId`, `trace.id`, `dd.trace_id`, `otelTraceID` |
//! | `span_id` | `span_id`, `spanId`, `span.id`, `dd.span_id`, `otelSpanID` |
//! | `fingerprint` | see [`super::fingerprint`] |
//!
//! A dotted name matches a key spelled that way (`{"service.name": …}`) or the nested objects
//! (`{"service": {"name": …}}`); taking a nested value out removes objects it leaves empty.
//! String values are used as they are (the message untrimmed, the others trimmed, empty ones
//! skipped); numbers and booleans are written out; objects, arrays and nulls are skipped.
//! A key an event repeats at its top level is kept in `fields` as many times as it came, and
//! the first one feeds a part of the record (a `serde_json` map would keep only the last).

use serde_json::{Map, Value};
use storage::json::{JsonScalar, JsonTape, JsonValue};
use storage::{CompactString, LogRecord, days_from_civil, days_in_month};

use super::LogIngestConfig;
use super::fingerprint::{exception_keys, fingerprint, is_error_level};

const TIME_FIELDS: &[&str] = &["@timestamp", "timestamp", "time", "ts"];
const LEVEL_FIELDS: &[&str] = &["level", "levelname", "severity", "log.level"];
const HOST_FIELDS: &[&str] = &[
    "host",
    "host.name",
    "host.hostname",
    "source_host",
    "hostname",
];
const MESSAGE_FIELDS: &[&str] = &["message", "msg", "log"];
const TRACE_FIELDS: &[&str] = &[
    "trace_id",
    "traceId",
    "trace.id",
    "dd.trace_id",
    "otelTraceID",
];
const SPAN_FIELDS: &[&str] = &["span_id", "spanId", "span.id", "dd.span_id", "otelSpanID"];

/// Earliest and latest plausible epoch times (1980-01-01, 2100-01-01), ms: a number outside is
/// not taken for a timestamp (`"time": 0.25` is a duration, not 1970).
const EPOCH_MIN_MS: i64 = 315_532_800_000;
const EPOCH_MAX_MS: i64 = 4_102_444_800_000;

/// Why a line was not turned into a record. [`LineReject::reason`] is the label of the
/// `argus_ingest_logs_rejects_total` counter; `Display` says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineReject {
    /// The bytes are not UTF-8.
    InvalidUtf8,
    /// Not JSON; serde's description of the error.
    InvalidJson(String),
    /// JSON, but not an object (the JSON type found).
    NotAnObject(&'static str),
    /// Longer than the configured maximum line size.
    LineTooLong { len: usize, max: usize },
}

impl LineReject {
    /// Short, stable name of the reason (a metric label).
    pub fn reason(&self) -> &'static str {
        match self {
            LineReject::InvalidUtf8 => "invalid_utf8",
            LineReject::InvalidJson(_) => "invalid_json",
            LineReject::NotAnObject(_) => "not_an_object",
            LineReject::LineTooLong { .. } => "line_too_long",
        }
    }
}

impl std::fmt::Display for LineReject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineReject::InvalidUtf8 => write!(f, "invalid_utf8: the line is not valid UTF-8"),
            LineReject::InvalidJson(e) => write!(f, "invalid_json: {e}"),
            LineReject::NotAnObject(kind) => {
                write!(f, "not_an_object: expected a JSON object, got {kind}")
            }
            LineReject::LineTooLong { len, max } => write!(
                f,
                "line_too_long: {len} bytes, more than the {max} byte limit"
            ),
        }
    }
}

impl std::error::Error for LineReject {}

/// The JSON type of a value, for messages.
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Turns events into records with the settings of a [`LogIngestConfig`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Normalizer {
    names: std::sync::Arc<FieldNames>,
    max_line_bytes: usize,
}

/// The bit of [`FieldNames::by_key`] saying that a key may hold one of the fields the
/// fingerprint reads (an exception).
const EXCEPTION_BIT: u64 = 1 << 63;

/// One part of a record: the names it is looked up under, in order, each with its bit in
/// [`FieldNames::present`]'s answer.
type Role = Vec<(u64, String)>;

/// The names each part of a record is looked up under, and which of them each top-level key
/// can hold (the name itself, or the first part of a dotted name). An event has a dozen keys
/// and a record looks at three dozen names: one hash lookup per key decides which names are
/// worth a lookup in the event.
#[derive(Debug)]
struct FieldNames {
    time: Role,
    level: Role,
    service: Role,
    host: Role,
    message: Role,
    trace_id: Role,
    span_id: Role,
    /// foldhash: the keys are short and the lookup is on every event's every key.
    by_key: std::collections::HashMap<String, u64, foldhash::fast::RandomState>,
}

impl FieldNames {
    fn new(service_fields: &[String]) -> FieldNames {
        let mut next = 0u32;
        let mut by_key = std::collections::HashMap::default();
        let mut role = |names: &mut dyn Iterator<Item = &str>| -> Role {
            names
                .map(|name| {
                    // Names past the 63rd share the last of their bits: a false "maybe
                    // present" only costs a lookup.
                    let bit = 1u64 << next.min(62);
                    next += 1;
                    for key in [name, name.split('.').next().unwrap_or(name)] {
                        *by_key.entry(key.to_string()).or_insert(0) |= bit;
                    }
                    (bit, name.to_string())
                })
                .collect()
        };
        let time = role(&mut TIME_FIELDS.iter().copied());
        let level = role(&mut LEVEL_FIELDS.iter().copied());
        let service = role(&mut service_fields.iter().map(String::as_str));
        let host = role(&mut HOST_FIELDS.iter().copied());
        let message = role(&mut MESSAGE_FIELDS.iter().copied());
        let trace_id = role(&mut TRACE_FIELDS.iter().copied());
        let span_id = role(&mut SPAN_FIELDS.iter().copied());
        for key in exception_keys() {
            *by_key.entry(key.to_string()).or_insert(0) |= EXCEPTION_BIT;
        }
        FieldNames {
            time,
            level,
            service,
            host,
            message,
            trace_id,
            span_id,
            by_key,
        }
    }

    /// The bits of the names `map` may hold.
    fn present(&self, map: &Map<String, Value>) -> u64 {
        map.keys()
            .fold(0, |bits, k| bits | self.by_key.get(k).copied().unwrap_or(0))
    }
}

impl Normalizer {
    pub fn new(config: &LogIngestConfig) -> Self {
        Normalizer {
            names: std::sync::Arc::new(FieldNames::new(&config.service_fields)),
            max_line_bytes: config.max_line_bytes.max(1),
        }
    }

    /// One line, without its line terminator, as bytes. `now_ms` is the time given to an event
    /// without a usable timestamp.
    pub fn line(&self, line: Vec<u8>, now_ms: i64) -> Result<LogRecord, LineReject> {
        self.line_or_back(line, now_ms, None)
            .map_err(|(reject, _)| reject)
    }

    /// [`Normalizer::line`] with `extra` set in the record's fields (replacing a field of
    /// its name), as `_bulk` keeps the index a document was sent to.
    pub(crate) fn line_with_field(
        &self,
        line: Vec<u8>,
        now_ms: i64,
        extra: &ExtraField,
    ) -> Result<LogRecord, LineReject> {
        self.line_or_back(line, now_ms, Some(extra))
            .map_err(|(reject, _)| reject)
    }

    /// [`Normalizer::line`], handing the line back with the reason when it is rejected.
    pub(crate) fn line_or_back(
        &self,
        line: Vec<u8>,
        now_ms: i64,
        extra: Option<&ExtraField>,
    ) -> Result<LogRecord, (LineReject, Vec<u8>)> {
        if line.len() > self.max_line_bytes {
            let reject = LineReject::LineTooLong {
                len: line.len(),
                max: self.max_line_bytes,
            };
            return Err((reject, line));
        }
        let raw = String::from_utf8(line).map_err(|e| (LineReject::InvalidUtf8, e.into_bytes()))?;
        self.parse(raw, now_ms, extra)
            .map_err(|(reject, raw)| (reject, raw.into_bytes()))
    }

    /// One event as text: `raw` becomes the record's `raw`, unchanged.
    pub fn event(&self, raw: String, now_ms: i64) -> Result<LogRecord, LineReject> {
        if raw.len() > self.max_line_bytes {
            return Err(LineReject::LineTooLong {
                len: raw.len(),
                max: self.max_line_bytes,
            });
        }
        self.parse(raw, now_ms, None).map_err(|(reject, _)| reject)
    }

    /// One pass over the text ([`JsonTape`]) finds the record's parts and copies the other
    /// members into `fields` as they came. Events that need a part taken out of a nested
    /// object (`{"service":{"name":…}}`), and texts the tape refuses, go through a
    /// `serde_json` tree instead, which also words the error.
    fn parse(
        &self,
        raw: String,
        now_ms: i64,
        extra: Option<&ExtraField>,
    ) -> Result<LogRecord, (LineReject, String)> {
        let read = JsonTape::parse(&raw).map(|tape| {
            let root = tape.root();
            if root.is_object() {
                Ok(self.tape_record(&tape, now_ms, extra))
            } else {
                Err(root.kind_name())
            }
        });
        match read {
            Ok(Ok(Some(record))) => Ok(LogRecord { raw, ..record }),
            Ok(Err(kind)) => Err((LineReject::NotAnObject(kind), raw)),
            Ok(Ok(None)) | Err(_) => self.parse_tree(raw, now_ms, extra),
        }
    }

    /// The record read from the tape of an object, all but its `raw`; `None` when a part
    /// lies in a nested object (taking it out means rewriting that object: the tree path does
    /// it) or the object has more than [`MAX_FAST_MEMBERS`] members.
    fn tape_record(
        &self,
        tape: &JsonTape<'_>,
        now_ms: i64,
        extra: Option<&ExtraField>,
    ) -> Option<LogRecord> {
        let names = &*self.names;
        let root = tape.root();
        // On the stack: no allocation per event.
        let mut slots = [Candidate {
            key: "",
            value: root,
            span: (0, 0),
            bits: 0,
            taken: false,
        }; MAX_FAST_MEMBERS];
        let mut len = 0;
        for member in root.members() {
            *slots.get_mut(len)? = Candidate {
                key: member.key,
                value: member.value,
                span: (member.span.start, member.span.end),
                bits: names.by_key.get(member.key).copied().unwrap_or(0),
                taken: false,
            };
            len += 1;
        }
        let members = &mut slots[..len];
        let present = members.iter().fold(0, |bits, c| bits | c.bits);
        let mut take = |role: &Role, convert: &dyn Fn(JsonScalar<'_>) -> Option<Part>| {
            for (bit, name) in role {
                if present & bit == 0 {
                    continue;
                }
                // Only members whose key is this name or its first part have its bit.
                let exact = members
                    .iter()
                    .position(|c| c.bits & bit != 0 && c.key == name.as_str())
                    .filter(|&i| !members[i].taken);
                if let Some(i) = exact {
                    if let Some(out) = members[i].value.scalar().and_then(convert) {
                        members[i].taken = true;
                        return Ok(Some(out));
                    }
                    continue;
                }
                if nested_scalar(members, *bit, name).is_some_and(|v| convert(v).is_some()) {
                    return Err(());
                }
            }
            Ok(None)
        };
        let time_ms = take(&names.time, &|v| time_of(v).map(Part::Time)).ok()?;
        let short = |f: fn(JsonScalar<'_>) -> Option<CompactString>| {
            move |v: JsonScalar<'_>| f(v).map(Part::Short)
        };
        let level = take(&names.level, &short(level_of)).ok()?;
        let service = take(&names.service, &short(scalar_text)).ok()?;
        let host = take(&names.host, &short(scalar_text)).ok()?;
        let message = take(&names.message, &|v| message_text(v).map(Part::Long)).ok()?;
        let trace_id = take(&names.trace_id, &short(id_text)).ok()?;
        let span_id = take(&names.span_id, &short(id_text)).ok()?;

        let remaining = || members.iter().filter(|c| !c.taken);
        let mut fields = String::with_capacity(tape.text().len() + 64);
        if let Some(extra) = extra {
            fields.push('{');
            fields.push_str(&extra.member);
        }
        let replaced = |c: &&Candidate<'_>| extra.is_some_and(|e| c.key == e.key);
        for c in remaining().filter(|c| !replaced(c)) {
            fields.push(if fields.is_empty() { '{' } else { ',' });
            fields.push_str(&tape.text()[c.span.0..c.span.1]);
        }
        if !fields.is_empty() {
            fields.push('}');
        }
        let level = level.and_then(Part::short);
        let message = message.and_then(Part::long).unwrap_or_default();
        let is_error = is_error_level(level.as_deref());
        // The fingerprint reads only members that may hold an exception: a map of those,
        // read by serde as before, so a number in a stack array hashes as it always did.
        let exception_members: Map<String, Value> = remaining()
            .filter(|c| c.bits & EXCEPTION_BIT != 0)
            .filter_map(|c| {
                let value = serde_json::from_str(c.value.raw()).ok()?;
                Some((c.key.to_string(), value))
            })
            .collect();
        let fingerprint = fingerprint(&exception_members, &message, is_error);
        Some(LogRecord {
            time_ms: time_ms.and_then(Part::time).unwrap_or(now_ms),
            level,
            service: service.and_then(Part::short),
            host: host.and_then(Part::short),
            message,
            trace_id: trace_id.and_then(Part::short),
            span_id: span_id.and_then(Part::short),
            fingerprint: fingerprint.map(CompactString::from),
            fields,
            raw: String::new(),
        })
    }

    /// The `serde_json` path: a tree, parts taken out of it, the rest written back as text.
    fn parse_tree(
        &self,
        raw: String,
        now_ms: i64,
        extra: Option<&ExtraField>,
    ) -> Result<LogRecord, (LineReject, String)> {
        match serde_json::from_str::<Value>(&raw) {
            Ok(Value::Object(map)) => {
                let mut record = self.object(raw, map, now_ms);
                if let Some(extra) = extra {
                    record.insert_field(&extra.key, Value::String(extra.value.clone()));
                }
                Ok(record)
            }
            Ok(other) => Err((LineReject::NotAnObject(json_kind(&other)), raw)),
            Err(e) => Err((LineReject::InvalidJson(e.to_string()), raw)),
        }
    }

    /// An event already parsed into `map`, whose text is `raw`. Never fails.
    fn object(&self, raw: String, mut map: Map<String, Value>, now_ms: i64) -> LogRecord {
        let names = &*self.names;
        let present = names.present(&map);
        let time_ms = take_first(&mut map, &names.time, present, |v| {
            scalar(v).and_then(time_of)
        })
        .unwrap_or(now_ms);
        let level = take_scalar(&mut map, &names.level, present, level_of);
        let service = take_scalar(&mut map, &names.service, present, scalar_text);
        let host = take_scalar(&mut map, &names.host, present, scalar_text);
        let message =
            take_scalar(&mut map, &names.message, present, message_text).unwrap_or_default();
        let trace_id = take_scalar(&mut map, &names.trace_id, present, id_text);
        let span_id = take_scalar(&mut map, &names.span_id, present, id_text);
        let is_error = is_error_level(level.as_deref());
        let fingerprint = fingerprint(&map, &message, is_error);
        LogRecord {
            time_ms,
            level,
            service,
            host,
            message,
            trace_id,
            span_id,
            fingerprint: fingerprint.map(CompactString::from),
            fields: LogRecord::fields_text(&map),
            raw,
        }
    }
}

/// A string field set on every record of a request (`_bulk`'s `_index`), its member text
/// written once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExtraField {
    key: String,
    value: String,
    /// `"key":"value"`, escaped.
    member: String,
}

impl ExtraField {
    pub(crate) fn new(key: &str, value: &str) -> ExtraField {
        let member = format!("{}:{}", Value::from(key), Value::from(value));
        ExtraField {
            key: key.to_string(),
            value: value.to_string(),
            member,
        }
    }

    pub(crate) fn value(&self) -> &str {
        &self.value
    }
}

/// A converted value of one part.
enum Part {
    Time(i64),
    Short(CompactString),
    Long(String),
}

impl Part {
    fn time(self) -> Option<i64> {
        match self {
            Part::Time(t) => Some(t),
            _ => None,
        }
    }

    fn short(self) -> Option<CompactString> {
        match self {
            Part::Short(t) => Some(t),
            _ => None,
        }
    }

    fn long(self) -> Option<String> {
        match self {
            Part::Long(t) => Some(t),
            _ => None,
        }
    }
}

/// Events with more top-level members than this take the tree path.
const MAX_FAST_MEMBERS: usize = 64;

/// A top-level member of an event, with the bits of the names it may hold.
#[derive(Clone, Copy)]
struct Candidate<'t> {
    key: &'t str,
    value: JsonValue<'t>,
    /// Byte span of `"key": value` in the event.
    span: (usize, usize),
    bits: u64,
    taken: bool,
}

/// The scalar at a dotted `name` (whose bit is `bit`) inside the top-level members not yet
/// taken (`a.b.c` in `{"a":{"b":{"c":…}}}`), as [`get_path`] finds it in a tree.
fn nested_scalar<'a>(members: &[Candidate<'a>], bit: u64, name: &str) -> Option<JsonScalar<'a>> {
    let mut parts = name.split('.');
    let first = parts.next()?;
    let start = members
        .iter()
        .find(|c| !c.taken && c.bits & bit != 0 && c.key == first)?;
    let mut current = start.value;
    let mut nested = false;
    for part in parts {
        current = current.get(part)?;
        nested = true;
    }
    if nested { current.scalar() } else { None }
}

/// The scalar a tree value holds, as the tape gives it.
fn scalar(v: &Value) -> Option<JsonScalar<'_>> {
    Some(match v {
        Value::String(s) => JsonScalar::Str(s),
        Value::Bool(b) => JsonScalar::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => JsonScalar::I64(i),
            (None, Some(u)) => JsonScalar::U64(u),
            (None, None) => JsonScalar::F64(n.as_f64()?),
        },
        Value::Null | Value::Array(_) | Value::Object(_) => return None,
    })
}

/// A number as `serde_json` writes it.
pub(crate) fn number_text(v: JsonScalar<'_>) -> Option<String> {
    match v {
        JsonScalar::I64(i) => Some(i.to_string()),
        JsonScalar::U64(u) => Some(u.to_string()),
        JsonScalar::F64(f) => serde_json::Number::from_f64(f).map(|n| n.to_string()),
        JsonScalar::Str(_) | JsonScalar::Bool(_) => None,
    }
}

/// The value at a field name: the key spelled exactly so, or else, for a dotted name, the
/// nested objects.
pub(crate) fn get_path<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(v) = map.get(name) {
        return Some(v);
    }
    if !name.contains('.') {
        return None;
    }
    let mut parts = name.split('.');
    let mut current = map.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

/// Removes the value [`get_path`] finds, and the objects that removal leaves empty.
fn remove_path(map: &mut Map<String, Value>, name: &str) {
    if map.remove(name).is_some() || !name.contains('.') {
        return;
    }
    let parts: Vec<&str> = name.split('.').collect();
    remove_nested(map, &parts);
}

/// Returns whether `map` is empty after the removal.
fn remove_nested(map: &mut Map<String, Value>, parts: &[&str]) -> bool {
    match parts {
        [] => false,
        [last] => {
            map.remove(*last);
            map.is_empty()
        }
        [first, rest @ ..] => {
            let emptied = match map.get_mut(*first) {
                Some(Value::Object(inner)) => remove_nested(inner, rest),
                _ => false,
            };
            if emptied {
                map.remove(*first);
            }
            map.is_empty()
        }
    }
}

/// The first of `names` whose value `convert` accepts, taken out of `map`; names whose bit
/// is not in `present` are not looked for.
fn take_first<T>(
    map: &mut Map<String, Value>,
    names: &Role,
    present: u64,
    convert: impl Fn(&Value) -> Option<T>,
) -> Option<T> {
    for (bit, name) in names {
        if present & bit == 0 {
            continue;
        }
        if let Some(out) = get_path(map, name).and_then(&convert) {
            remove_path(map, name);
            return Some(out);
        }
    }
    None
}

/// [`take_first`] of the first scalar that `convert` takes.
fn take_scalar<T>(
    map: &mut Map<String, Value>,
    names: &Role,
    present: u64,
    convert: fn(JsonScalar<'_>) -> Option<T>,
) -> Option<T> {
    take_first(map, names, present, |v| scalar(v).and_then(convert))
}

/// A string (trimmed, not empty), number or boolean as text.
fn scalar_text(v: JsonScalar<'_>) -> Option<CompactString> {
    match v {
        JsonScalar::Str(s) => {
            let s = s.trim();
            (!s.is_empty()).then(|| s.into())
        }
        JsonScalar::Bool(b) => Some(CompactString::const_new(if b { "true" } else { "false" })),
        JsonScalar::I64(_) | JsonScalar::U64(_) | JsonScalar::F64(_) => {
            number_text(v).map(CompactString::from)
        }
    }
}

/// A message: a string with its trailing line break removed (Docker's `log` ends with one),
/// or a number or boolean as text.
fn message_text(v: JsonScalar<'_>) -> Option<String> {
    match v {
        JsonScalar::Str(s) => Some(
            s.strip_suffix('\n')
                .unwrap_or(s)
                .trim_end_matches('\r')
                .to_string(),
        ),
        _ => scalar_text(v).map(String::from),
    }
}

/// A trace or span id; all zeros (no trace, as OpenTelemetry writes it) counts as none.
fn id_text(v: JsonScalar<'_>) -> Option<CompactString> {
    scalar_text(v).filter(|s| !s.bytes().all(|b| b == b'0'))
}

/// A timestamp field's value as ms since the epoch.
#[cfg(test)]
fn parse_time(v: &Value) -> Option<i64> {
    scalar(v).and_then(time_of)
}

/// [`parse_time`] of a scalar.
fn time_of(v: JsonScalar<'_>) -> Option<i64> {
    match v {
        JsonScalar::Str(s) => {
            let s = s.trim();
            if looks_numeric(s) {
                s.parse::<f64>().ok().and_then(epoch_ms)
            } else {
                parse_rfc3339(s)
            }
        }
        JsonScalar::I64(i) => epoch_ms_int(i),
        JsonScalar::U64(_) | JsonScalar::F64(_) => v.as_f64().and_then(epoch_ms),
        JsonScalar::Bool(_) => None,
    }
}

fn looks_numeric(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|b| *b == b'.').count() <= 1
        && digits.bytes().any(|b| b.is_ascii_digit())
}

/// Epoch seconds, ms, µs or ns (by magnitude) as ms, when plausible.
fn epoch_ms(x: f64) -> Option<i64> {
    if !x.is_finite() {
        return None;
    }
    let a = x.abs();
    let ms = if a < 1e11 {
        x * 1e3
    } else if a < 1e14 {
        x
    } else if a < 1e17 {
        x / 1e3
    } else {
        x / 1e6
    };
    let ms = ms.floor();
    ((EPOCH_MIN_MS as f64)..(EPOCH_MAX_MS as f64))
        .contains(&ms)
        .then_some(ms as i64)
}

/// [`epoch_ms`] in integers, exact for large ns values.
fn epoch_ms_int(i: i64) -> Option<i64> {
    let a = i.unsigned_abs();
    let ms = if a < 100_000_000_000 {
        i.checked_mul(1000)?
    } else if a < 100_000_000_000_000 {
        i
    } else if a < 100_000_000_000_000_000 {
        i.div_euclid(1000)
    } else {
        i.div_euclid(1_000_000)
    };
    (EPOCH_MIN_MS..EPOCH_MAX_MS).contains(&ms).then_some(ms)
}

/// RFC 3339 (`2024-05-01T12:00:00.123456+02:00`) and its common relaxations: `t` or a space
/// for `T`, a comma before the fraction (Python's `asctime`), any number of fraction digits,
/// `Z`/`z`, `±HH:MM`, `±HHMM` or `±HH` as offset, none meaning UTC. Years before 1970 are
/// refused, and so are fields out of their range (a leap second `60` reads as `59`).
pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19
        || !s.is_ascii()
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let number = |from: usize, len: usize| -> Option<i64> {
        b[from..from + len].iter().try_fold(0i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let (year, month, day) = (number(0, 4)?, number(5, 2)?, number(8, 2)?);
    let (hour, minute, second) = (number(11, 2)?, number(14, 2)?, number(17, 2)?);
    if year < 1970
        || !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut end = 19;
    let mut ms = 0;
    if matches!(b.get(19), Some(b'.' | b',')) {
        let digits = b[20..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        // Milliseconds: the first three digits, the rest cut off.
        ms = (0..3).fold(0, |ms, i| {
            ms * 10
                + b.get(20 + i)
                    .filter(|_| i < digits)
                    .map_or(0, |c| i64::from(c - b'0'))
        });
        end = 20 + digits;
    }
    let offset_s = parse_offset(&s[end..])?;
    let seconds =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second.min(59);
    (seconds * 1000 + ms).checked_sub(offset_s.checked_mul(1000)?)
}

/// The first version of [`parse_rfc3339`], through `humantime`: the reference the tests
/// hold it to.
#[cfg(test)]
fn parse_rfc3339_with_humantime(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || !s.is_ascii() {
        return None;
    }
    let mut base_end = 19;
    if matches!(b.get(19), Some(b'.' | b',')) {
        let digits = b[20..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        base_end = 20 + digits;
    }
    let offset_s = parse_offset(&s[base_end..])?;
    let mut base = s[..base_end].to_string();
    // ASCII was checked: byte offsets are char boundaries
    base.replace_range(10..11, "T");
    if base_end > 19 {
        base.replace_range(19..20, ".");
    }
    let t = humantime::parse_rfc3339_weak(&base).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    let ms = i64::try_from(d.as_millis()).ok()?;
    ms.checked_sub(offset_s.checked_mul(1000)?)
}

/// Seconds east of UTC of an RFC 3339 offset suffix (empty = UTC).
fn parse_offset(s: &str) -> Option<i64> {
    match s {
        "" | "Z" | "z" => return Some(0),
        _ => {}
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|c| c.is_ascii_digit()) || rest.matches(':').count() > 1 {
        return None;
    }
    let (h, m) = match digits.len() {
        2 => (digits.parse::<i64>().ok()?, 0),
        4 => (
            digits[..2].parse::<i64>().ok()?,
            digits[2..].parse::<i64>().ok()?,
        ),
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// A level value as one of `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`, or else the
/// word upper-cased.
///
/// Words: `warning` → `WARN`; `err` → `ERROR`; `critical`, `crit`, `emerg`, `emergency`,
/// `alert`, `panic` → `FATAL`; `notice`, `information`, `informational` → `INFO`; `dpanic`
/// (zap) → `ERROR`; `trc`/`dbg`/`inf`/`wrn`/`eror`/`ftl` short forms as expected. Numbers
/// (or strings of digits): 0–7 are syslog severities (0–2 `FATAL`, 3 `ERROR`, 4 `WARN`, 5–6
/// `INFO`, 7 `DEBUG`); from 8 on Python's levels, by range (≥ 50 `FATAL`, ≥ 40 `ERROR`, ≥ 30
/// `WARN`, ≥ 20 `INFO`, ≥ 10 `DEBUG`, else `TRACE`). Other numbers are kept as written.
pub(crate) fn normalize_level(v: &Value) -> Option<CompactString> {
    scalar(v).and_then(level_of)
}

/// [`normalize_level`] of a scalar.
fn level_of(v: JsonScalar<'_>) -> Option<CompactString> {
    if let Some(f) = v.as_f64() {
        return if f.fract() == 0.0 && (0.0..=1e9).contains(&f) {
            Some(numeric_level(f as u64))
        } else {
            number_text(v).map(CompactString::from)
        };
    }
    match v {
        JsonScalar::Str(s) => {
            let s = s.trim();
            if s.is_empty() {
                return None;
            }
            if s.bytes().all(|b| b.is_ascii_digit()) && s.len() <= 9 {
                return s.parse::<u64>().ok().map(numeric_level);
            }
            let word = LEVEL_WORDS
                .iter()
                .find(|(word, _)| word.eq_ignore_ascii_case(s))
                .map(|&(_, level)| CompactString::const_new(level));
            Some(word.unwrap_or_else(|| s.to_uppercase().into()))
        }
        _ => None,
    }
}

/// Level words (any case) and their level, the common ones first.
const LEVEL_WORDS: &[(&str, &str)] = &[
    ("info", "INFO"),
    ("warning", "WARN"),
    ("warn", "WARN"),
    ("error", "ERROR"),
    ("debug", "DEBUG"),
    ("trace", "TRACE"),
    ("fatal", "FATAL"),
    ("critical", "FATAL"),
    ("trc", "TRACE"),
    ("finest", "TRACE"),
    ("dbg", "DEBUG"),
    ("dbug", "DEBUG"),
    ("inf", "INFO"),
    ("information", "INFO"),
    ("informational", "INFO"),
    ("notice", "INFO"),
    ("wrn", "WARN"),
    ("err", "ERROR"),
    ("eror", "ERROR"),
    ("dpanic", "ERROR"),
    ("ftl", "FATAL"),
    ("crit", "FATAL"),
    ("emerg", "FATAL"),
    ("emergency", "FATAL"),
    ("alert", "FATAL"),
    ("panic", "FATAL"),
];

fn numeric_level(n: u64) -> CompactString {
    let word = match n {
        0..=2 => "FATAL",
        3 => "ERROR",
        4 => "WARN",
        5 | 6 => "INFO",
        7 => "DEBUG",
        50.. => "FATAL",
        40.. => "ERROR",
        30.. => "WARN",
        20.. => "INFO",
        10.. => "DEBUG",
        _ => "TRACE",
    };
    CompactString::const_new(word)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn normalizer() -> Normalizer {
        Normalizer::new(&LogIngestConfig::default())
    }

    fn record(v: Value) -> LogRecord {
        let raw = v.to_string();
        normalizer().event(raw, NOW).expect("an object normalizes")
    }

    #[test]
    fn logstash_v1_event_from_python() {
        let line = r#"{"@timestamp": "2024-05-01T12:00:00.123Z", "@version": "1", "message": "user 42 logged in", "host": "web-1", "path": "/app/views.py", "tags": [], "type": "logstash", "levelname": "INFO", "logger_name": "app.views", "name": "checkout", "funcName": "login", "lineno": 17, "uuid": "9b2d"}"#;
        let r = normalizer()
            .line(line.as_bytes().to_vec(), NOW)
            .expect("valid");
        assert_eq!(r.time_ms, 1_714_564_800_123);
        assert_eq!(r.level.as_deref(), Some("INFO"));
        assert_eq!(r.service.as_deref(), Some("checkout"));
        assert_eq!(r.host.as_deref(), Some("web-1"));
        assert_eq!(r.message, "user 42 logged in");
        assert_eq!(r.fingerprint, None);
        assert_eq!(r.raw, line);
        let fields = r.fields_map();
        let keys: Vec<&str> = fields.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "@version",
                "funcName",
                "lineno",
                "logger_name",
                "path",
                "tags",
                "type",
                "uuid"
            ]
        );
        assert_eq!(r.fields_map()["lineno"], json!(17));
    }

    #[test]
    fn timestamps_in_every_accepted_form() {
        let cases: &[(Value, i64)] = &[
            (json!("2024-05-01T12:00:00Z"), 1_714_564_800_000),
            (json!("2024-05-01T12:00:00.5Z"), 1_714_564_800_500),
            (json!("2024-05-01T12:00:00.123456789Z"), 1_714_564_800_123),
            (json!("2024-05-01T14:00:00.123+02:00"), 1_714_564_800_123),
            (json!("2024-05-01T07:30:00-0430"), 1_714_564_800_000),
            (json!("2024-05-01T13:00:00+01"), 1_714_564_800_000),
            (json!("2024-05-01 12:00:00,250"), 1_714_564_800_250),
            (json!("2024-05-01t12:00:00z"), 1_714_564_800_000),
            (json!(1_714_564_800), 1_714_564_800_000),
            (json!(1_714_564_800.25), 1_714_564_800_250),
            (json!(1_714_564_800_123i64), 1_714_564_800_123),
            (json!(1_714_564_800_123_456i64), 1_714_564_800_123),
            (json!(1_714_564_800_123_456_789i64), 1_714_564_800_123),
            (json!("1714564800"), 1_714_564_800_000),
            (json!("1714564800123"), 1_714_564_800_123),
            (json!("1714564800.5"), 1_714_564_800_500),
        ];
        for (v, want) in cases {
            assert_eq!(parse_time(v), Some(*want), "{v}");
        }
        for bad in [
            json!("yesterday"),
            json!("2024-13-01T00:00:00Z"),
            json!("2024-05-01T12:00:00+25:00"),
            json!("2024-05-01T12:00:00."),
            json!("1960-01-01T00:00:00Z"),
            json!(0.25),
            json!(-5),
            json!(null),
            json!({"a": 1}),
            json!("2024-05-01T12:00:00Zjunk"),
            json!("２０２４-05-01T12:00:00Z"),
        ] {
            assert_eq!(parse_time(&bad), None, "{bad}");
        }
    }

    #[test]
    fn time_field_order_and_fallback() {
        let r = record(json!({"timestamp": "2024-05-01T12:00:00Z", "message": "vector"}));
        assert_eq!(r.time_ms, 1_714_564_800_000);
        assert!(r.fields.is_empty());
        // an unparseable @timestamp stays in fields, the next candidate is used
        let r = record(json!({"@timestamp": "soon", "time": "2024-05-01T12:00:00Z"}));
        assert_eq!(r.time_ms, 1_714_564_800_000);
        assert_eq!(r.fields_map()["@timestamp"], json!("soon"));
        // nothing usable: the time of arrival
        let r = record(json!({"message": "no time", "time": 0.003}));
        assert_eq!(r.time_ms, NOW);
        assert_eq!(r.fields_map()["time"], json!(0.003));
    }

    #[test]
    fn levels() {
        let cases: &[(Value, &str)] = &[
            (json!("info"), "INFO"),
            (json!("INFO"), "INFO"),
            (json!(" Warning "), "WARN"),
            (json!("warn"), "WARN"),
            (json!("err"), "ERROR"),
            (json!("error"), "ERROR"),
            (json!("CRITICAL"), "FATAL"),
            (json!("crit"), "FATAL"),
            (json!("emerg"), "FATAL"),
            (json!("alert"), "FATAL"),
            (json!("panic"), "FATAL"),
            (json!("fatal"), "FATAL"),
            (json!("debug"), "DEBUG"),
            (json!("trace"), "TRACE"),
            (json!("notice"), "INFO"),
            (json!("verbose"), "VERBOSE"),
            (json!("audit"), "AUDIT"),
            (json!(0), "FATAL"),
            (json!(2), "FATAL"),
            (json!(3), "ERROR"),
            (json!(4), "WARN"),
            (json!(5), "INFO"),
            (json!(6), "INFO"),
            (json!(7), "DEBUG"),
            (json!("3"), "ERROR"),
            (json!(10), "DEBUG"),
            (json!(20), "INFO"),
            (json!(30), "WARN"),
            (json!(40), "ERROR"),
            (json!(50), "FATAL"),
            (json!(35), "WARN"),
            (json!(9), "TRACE"),
            (json!(-1), "-1"),
            (json!(2.5), "2.5"),
        ];
        for (v, want) in cases {
            assert_eq!(normalize_level(v).as_deref(), Some(*want), "{v}");
        }
        assert_eq!(normalize_level(&json!("")), None);
        assert_eq!(normalize_level(&json!(null)), None);
        assert_eq!(normalize_level(&json!({"name": "x"})), None);
        // the first level field wins, ECS's nested log.level is found too
        let r = record(json!({"log": {"level": "warning", "logger": "db"}, "message": "m"}));
        assert_eq!(r.level.as_deref(), Some("WARN"));
        assert_eq!(r.fields_map()["log"], json!({"logger": "db"}));
        let r = record(json!({"severity": "ERROR", "level": "info"}));
        assert_eq!(r.level.as_deref(), Some("INFO"));
        assert_eq!(r.fields_map()["severity"], json!("ERROR"));
    }

    #[test]
    fn service_from_the_configured_fields() {
        let cases: &[(Value, &str)] = &[
            (json!({"service": "a", "app": "b", "name": "n"}), "a"),
            (json!({"app": "b", "application": "c"}), "b"),
            (json!({"application": "c", "name": "n"}), "c"),
            (json!({"service.name": "d", "name": "n"}), "d"),
            (json!({"service": {"name": "e", "version": "1"}}), "e"),
            (json!({"name": "logger.x"}), "logger.x"),
            (json!({"service": "  ", "app": "f"}), "f"),
        ];
        for (v, want) in cases {
            assert_eq!(record(v.clone()).service.as_deref(), Some(*want), "{v}");
        }
        let r = record(json!({"service": {"name": "e", "version": "1"}}));
        assert_eq!(r.fields_map()["service"], json!({"version": "1"}));
        let r = record(json!({"service": {"name": "e"}, "x": 1}));
        assert_eq!(
            r.fields_map().get("service"),
            None,
            "emptied object removed"
        );
        assert_eq!(record(json!({"message": "m"})).service, None);

        let custom = Normalizer::new(&LogIngestConfig {
            service_fields: vec!["kubernetes.container_name".into(), "app".into()],
            ..LogIngestConfig::default()
        });
        let raw = json!({"kubernetes": {"container_name": "api", "pod": "p"}, "service": "s"})
            .to_string();
        let r = custom.event(raw, NOW).expect("object");
        assert_eq!(r.service.as_deref(), Some("api"));
        assert_eq!(r.fields_map()["service"], json!("s"));
    }

    #[test]
    fn host_message_and_ids() {
        let r = record(
            json!({"host": {"name": "h1", "ip": ["10.0.0.1"]}, "log": "line\n", "stream": "stdout"}),
        );
        assert_eq!(r.host.as_deref(), Some("h1"));
        assert_eq!(r.message, "line");
        assert_eq!(r.fields_map()["host"], json!({"ip": ["10.0.0.1"]}));
        let r = record(json!({"host": {"hostname": "h2"}, "msg": "m"}));
        assert_eq!(r.host.as_deref(), Some("h2"));
        assert_eq!(r.message, "m");
        let r = record(json!({"source_host": "h3", "hostname": "h4", "message": 42}));
        assert_eq!(r.host.as_deref(), Some("h3"));
        assert_eq!(r.message, "42");
        assert_eq!(r.fields_map()["hostname"], json!("h4"));
        let r = record(json!({"message": {"nested": true}, "msg": "fallback"}));
        assert_eq!(r.message, "fallback");
        assert_eq!(r.fields_map()["message"], json!({"nested": true}));

        for (v, trace, span) in [
            (json!({"trace_id": "abc", "span_id": "def"}), "abc", "def"),
            (json!({"traceId": "abc", "spanId": "def"}), "abc", "def"),
            (
                json!({"trace": {"id": "abc"}, "span": {"id": "def"}}),
                "abc",
                "def",
            ),
            (json!({"trace.id": "abc", "span.id": "def"}), "abc", "def"),
            (
                json!({"dd": {"trace_id": 1234567890123u64, "span_id": "987"}}),
                "1234567890123",
                "987",
            ),
            (
                json!({"otelTraceID": "abc", "otelSpanID": "def"}),
                "abc",
                "def",
            ),
        ] {
            let r = record(v.clone());
            assert_eq!(r.trace_id.as_deref(), Some(trace), "{v}");
            assert_eq!(r.span_id.as_deref(), Some(span), "{v}");
            assert!(r.fields.is_empty(), "{v}: {:?}", r.fields);
        }
        let r = record(json!({"otelTraceID": "0", "otelSpanID": "0000000000000000"}));
        assert_eq!((r.trace_id, r.span_id), (None, None));
    }

    #[test]
    fn bad_lines_are_typed() {
        let n = Normalizer::new(&LogIngestConfig {
            max_line_bytes: 32,
            ..LogIngestConfig::default()
        });
        assert_eq!(
            n.line(b"\xff\xfe{}".to_vec(), NOW),
            Err(LineReject::InvalidUtf8)
        );
        assert!(matches!(
            n.line(b"{\"a\":".to_vec(), NOW),
            Err(LineReject::InvalidJson(_))
        ));
        assert!(matches!(
            n.line(b"not json".to_vec(), NOW),
            Err(LineReject::InvalidJson(_))
        ));
        assert_eq!(
            n.line(b"[1,2]".to_vec(), NOW),
            Err(LineReject::NotAnObject("an array"))
        );
        assert_eq!(
            n.line(b"\"text\"".to_vec(), NOW),
            Err(LineReject::NotAnObject("a string"))
        );
        let long = format!("{{\"message\":\"{}\"}}", "x".repeat(40));
        let err = n.line(long.into_bytes(), NOW).expect_err("too long");
        assert_eq!(err.reason(), "line_too_long");
        assert_eq!(
            err.to_string(),
            "line_too_long: 54 bytes, more than the 32 byte limit"
        );
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(
            n.line(deep.into_bytes(), NOW).map_err(|e| e.reason()),
            Err("line_too_long")
        );
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let unlimited = normalizer();
        assert_eq!(
            unlimited
                .line(deep.into_bytes(), NOW)
                .map_err(|e| e.reason()),
            Err("invalid_json")
        );
    }

    /// Any JSON, keys drawn from the names the normalizer looks at and a few others.
    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,40}".prop_map(Value::String),
            "[0-9]{1,20}(\\.[0-9]{0,9})?".prop_map(Value::String),
            "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}([.,][0-9]{0,12})?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?"
                .prop_map(Value::String),
            "(Traceback \\(most recent call last\\):\n  File \"/a/b.py\", line [0-9]+, in f\n)?[A-Za-z.]{0,20}: .{0,30}(\n\tat [a-z.]+\\([A-Za-z]+\\.java:[0-9]+\\)){0,4}"
                .prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "@timestamp",
                "timestamp",
                "time",
                "ts",
                "level",
                "levelname",
                "severity",
                "log",
                "log.level",
                "service",
                "service.name",
                "name",
                "app",
                "application",
                "host",
                "hostname",
                "source_host",
                "message",
                "msg",
                "trace_id",
                "traceId",
                "trace",
                "id",
                "span",
                "span_id",
                "dd",
                "exc_info",
                "exc_text",
                "stack_trace",
                "stacktrace",
                "exception",
                "error",
                "error.message",
                "error.type",
                "error.stack",
                "type",
                "stack",
                "err",
                "_index",
            ])
            .prop_map(str::to_string),
            ".{0,12}",
        ]
    }

    /// An event with more members than the one-pass path holds takes the tree path.
    #[test]
    fn many_members() -> Result<(), LineReject> {
        let mut map: Map<String, Value> = (0..100).map(|i| (format!("k{i}"), json!(i))).collect();
        map.insert("level".into(), json!("error"));
        let raw = Value::Object(map).to_string();
        let r = normalizer().event(raw.clone(), NOW)?;
        assert_eq!(r.level.as_deref(), Some("ERROR"));
        assert_eq!(r.fields_map().len(), 100);
        assert_eq!(r.fields_map()["k99"], json!(99));
        Ok(())
    }

    /// Every float of `v` as a multiple of 1/8 below a million, which any parser reads exactly.
    fn short_floats(v: Value) -> Value {
        match v {
            Value::Number(n) if n.is_f64() => {
                let f = n.as_f64().unwrap_or_default();
                Value::from(((f % 1e6) * 8.0).round() / 8.0)
            }
            Value::Array(items) => Value::Array(items.into_iter().map(short_floats).collect()),
            Value::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (k, short_floats(v))).collect())
            }
            other => other,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_object_normalizes(
            entries in prop::collection::vec((key(), arb_json()), 0..12),
        ) {
            let map: Map<String, Value> = entries.into_iter().collect();
            let raw = Value::Object(map).to_string();
            let r = normalizer().event(raw.clone(), NOW);
            let r = r.expect("every object normalizes");
            prop_assert_eq!(&r.raw, &raw);
            prop_assert!(r.time_ms == NOW || (EPOCH_MIN_MS - 86_400_000..EPOCH_MAX_MS + 86_400_000).contains(&r.time_ms));
            if let Some(fp) = &r.fingerprint {
                prop_assert_eq!(fp.len(), 16);
            }
            if let Some(level) = &r.level {
                prop_assert!(!level.is_empty());
            }
        }

        /// The calendar arithmetic agrees with `humantime`'s on dates in and out of range.
        #[test]
        fn rfc3339_agrees_with_humantime(
            (y, mo, d) in (1965i64..2110, 0i64..14, 0i64..33),
            (h, mi, s) in (0i64..26, 0i64..62, 0i64..62),
            sep in prop::sample::select(vec!["T", "t", " "]),
            fraction in "([.,][0-9]{0,12})?",
            offset in "(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)?",
        ) {
            let text = format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}{fraction}{offset}");
            prop_assert_eq!(parse_rfc3339(&text), parse_rfc3339_with_humantime(&text), "{}", text);
        }

        /// The one-pass path and the tree path make the same record from any event. Floats
        /// are made short: serde's default float parser is not always correctly rounded, the
        /// tape's is, so the tree path's text of a long float may differ in its last digit.
        #[test]
        fn tape_and_tree_agree(
            entries in prop::collection::vec((key(), arb_json()), 0..12),
            pretty in any::<bool>(),
            index in proptest::option::of("[a-z\"\\\\-]{0,8}"),
        ) {
            let map: Map<String, Value> = entries.into_iter().collect();
            let value = short_floats(Value::Object(map));
            let raw = if pretty { format!("{value:#}") } else { value.to_string() };
            let n = normalizer();
            let extra = index.map(|i| ExtraField::new("_index", &i));
            let fast = match &extra {
                Some(extra) => n.line_with_field(raw.clone().into_bytes(), NOW, extra),
                None => n.event(raw.clone(), NOW),
            }
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let tree = n
                .parse_tree(raw, NOW, extra.as_ref())
                .map_err(|(e, _)| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(fast.fields_map(), tree.fields_map());
            prop_assert_eq!(fast.fields.is_empty(), tree.fields.is_empty());
            prop_assert_eq!(
                LogRecord { fields: String::new(), ..fast },
                LogRecord { fields: String::new(), ..tree }
            );
        }

        #[test]
        fn any_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = normalizer().line(bytes, NOW);
        }

        #[test]
        fn any_text_never_panics(s in ".{0,200}") {
            let _ = normalizer().event(s.clone(), NOW);
            let _ = parse_rfc3339(&s);
            let _ = parse_time(&Value::String(s));
        }
    }
}

/// Normalisation throughput on realistic ~400-byte logstash events. Run optimised:
/// `cargo test --release -p ingest logs::normalize::bench -- --ignored --nocapture`.
#[cfg(test)]
mod bench {
    use std::time::Instant;

    use super::*;

    #[test]
    #[ignore = "benchmark: run optimised with --ignored --nocapture"]
    fn normalize_lines_per_second() {
        let n = 200_000;
        let lines: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                let level = ["INFO", "DEBUG", "WARNING", "ERROR"][i % 4];
                format!(
                    r#"{{"@timestamp":"2024-05-01T12:{:02}:{:02}.{:03}Z","@version":"1","message":"GET /api/orders/{i} returned 200 in {}ms for user {}","host":"web-{}","path":"/srv/app/views.py","tags":[],"type":"logstash","levelname":"{level}","logger_name":"shop.views","name":"checkout","funcName":"get_order","lineno":{},"uuid":"{:08x}-9b2d-4c1e-8f00-{:012x}","request":{{"method":"GET","status":200}}}}"#,
                    (i / 60) % 60,
                    i % 60,
                    i % 1000,
                    i % 900,
                    i % 5000,
                    i % 8,
                    40 + i % 30,
                    i,
                    i * 7
                )
                .into_bytes()
            })
            .collect();
        let bytes: usize = lines.iter().map(Vec::len).sum();
        let normalizer = Normalizer::new(&LogIngestConfig::default());
        let started = Instant::now();
        let mut fingerprints = 0;
        for line in lines {
            let r = normalizer.line(line, 0).expect("valid line");
            fingerprints += usize::from(r.fingerprint.is_some());
        }
        let took = started.elapsed().as_secs_f64();
        println!(
            "normalize: {n} lines of {} bytes on average in {took:.2} s: {:.0} lines/s, {:.1} MB/s ({fingerprints} fingerprinted)",
            bytes / n,
            n as f64 / took,
            bytes as f64 / took / 1e6
        );
    }
}
