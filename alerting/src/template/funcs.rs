//! The functions templates can call: Go's builtins, Prometheus' template functions
//! (`template/template.go`: `humanize`, `title`, `reReplaceAll`, …, less those that need a
//! query engine) and Alertmanager's (`join`, `date`, `since`, …); and the methods of times and
//! durations.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::rc::Rc;

use super::fmt::{format_float, sprint, sprintf, sprintln};
use super::time::{GoTime, duration_string};
use super::value::{MapKind, Value};

/// Functions that Prometheus has and Argus cannot offer: they run PromQL from a template.
const NEED_QUERY_ENGINE: [&str; 6] = [
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "sortByLabel",
];

/// Every function name a template may call (`and` and `or` are evaluated lazily by the
/// executor; the others by [`call`]).
const DEFINED: [&str; 47] = [
    // Go's builtins (no `call`: there are no function values).
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "print",
    "printf",
    "println",
    "urlquery",
    "html",
    "js",
    // Prometheus.
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "toUpper",
    "toLower",
    "title",
    "match",
    "reReplaceAll",
    "stripPort",
    "stripDomain",
    "safeHtml",
    "args",
    "graphLink",
    "tableLink",
    "externalURL",
    "pathPrefix",
    "toTime",
    "toDuration",
    "parseDuration",
    // Alertmanager.
    "join",
    "trimSpace",
    "stringSlice",
    "safeUrl",
    "urlUnescape",
    "date",
    "tz",
    "since",
];

pub(crate) enum FuncStatus {
    Defined,
    NeedsQueryEngine,
    Undefined,
}

pub(crate) fn status(name: &str) -> FuncStatus {
    if DEFINED.contains(&name) {
        FuncStatus::Defined
    } else if NEED_QUERY_ENGINE.contains(&name) {
        FuncStatus::NeedsQueryEngine
    } else {
        FuncStatus::Undefined
    }
}

/// Why a call failed: Go reports argument mismatches as they are and wraps what the function
/// itself returns in `error calling NAME: …`.
pub(crate) enum CallError {
    Args(String),
    Failed(String),
}

/// What functions may know about the rendering: Prometheus' external URL.
pub(crate) struct Env<'a> {
    pub(crate) external_url: &'a str,
}

type CallResult = Result<Value, CallError>;

fn arity(name: &str, args: &[Value], want: usize) -> Result<(), CallError> {
    if args.len() == want {
        Ok(())
    } else {
        Err(CallError::Args(format!(
            "wrong number of args for {name}: want {want} got {}",
            args.len()
        )))
    }
}

fn at_least(name: &str, args: &[Value], want: usize) -> Result<(), CallError> {
    if args.len() >= want {
        Ok(())
    } else {
        Err(CallError::Args(format!(
            "wrong number of args for {name}: want at least {want} got {}",
            args.len()
        )))
    }
}

fn string_arg(value: &Value) -> Result<&str, CallError> {
    match value {
        Value::Str(s) => Ok(s),
        Value::Nil => Err(CallError::Args("invalid value; expected string".to_owned())),
        other => Err(CallError::Args(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        ))),
    }
}

fn failed(message: impl Into<String>) -> CallError {
    CallError::Failed(message.into())
}

/// Prometheus' `ConvertToFloat`: numbers, numeric strings and durations (in seconds).
fn to_float(value: &Value) -> Result<f64, CallError> {
    match value {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Uint(u) => Ok(*u as f64),
        Value::Duration(ns) => Ok(*ns as f64 / 1e9),
        Value::Str(s) => parse_go_float(s).ok_or_else(|| {
            failed(format!(
                "strconv.ParseFloat: parsing {}: invalid syntax",
                super::fmt::quote(s)
            ))
        }),
        other => Err(failed(format!(
            "can't convert {} to float",
            other.type_name()
        ))),
    }
}

/// Go's `strconv.ParseFloat`: decimal text, `Inf`/`Infinity`/`NaN` in any case, with a sign.
fn parse_go_float(s: &str) -> Option<f64> {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let special = ["inf", "infinity", "nan"]
        .iter()
        .any(|w| unsigned.eq_ignore_ascii_case(w));
    let numeric = !unsigned.is_empty()
        && unsigned
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if special || numeric {
        s.parse().ok()
    } else {
        None
    }
}

fn to_time(value: &Value) -> Result<GoTime, CallError> {
    match value {
        Value::Time(t) => Ok(*t),
        Value::Str(s) => match GoTime::parse_rfc3339(s) {
            Some(t) => Ok(t),
            None => GoTime::from_unix_seconds(to_float(value)?).map_err(failed),
        },
        other => GoTime::from_unix_seconds(to_float(other)?).map_err(failed),
    }
}

/// `%.4g` with an SI prefix, as Prometheus' `humanize`.
fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format_float(v, 'g', 4);
    }
    let mut v = v;
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", format_float(v, 'g', 4))
}

fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return format_float(v, 'g', 4);
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", format_float(v, 'g', 4))
}

/// Prometheus' `humanizeDuration`: `1d 2h 3m 4s`, `1.5s`, `500ms`.
pub(crate) fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return format_float(v, 'g', 4);
    }
    if v == 0.0 {
        return format!("{}s", format_float(v, 'g', 4));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let v = v.abs();
        let total = v as i64;
        let (seconds, minutes, hours, days) = (
            total % 60,
            total / 60 % 60,
            total / 3600 % 24,
            total / 86_400,
        );
        return if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            format!("{sign}{}s", format_float(v, 'g', 4))
        };
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", format_float(v, 'g', 4))
}

/// Go's `strings.Title`: the first letter of each word in title case.
fn title(s: &str) -> String {
    let is_separator = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            c.is_whitespace()
        }
    };
    let mut out = String::with_capacity(s.len());
    let mut prev = ' ';
    for c in s.chars() {
        if is_separator(prev) {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

/// Go's `net.SplitHostPort`.
fn split_host_port(hostport: &str) -> Option<(&str, &str)> {
    let i = hostport.rfind(':')?;
    let (host, j, k) = if hostport.starts_with('[') {
        let end = hostport.find(']')?;
        if end + 1 != i {
            return None;
        }
        (&hostport[1..end], 1, end + 1)
    } else {
        let host = &hostport[..i];
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if hostport[j..].contains('[') || hostport[k..].contains(']') {
        return None;
    }
    Some((host, &hostport[i + 1..]))
}

fn strip_domain(hostport: &str) -> String {
    let (host, port) = split_host_port(hostport).unwrap_or((hostport, ""));
    if host.parse::<IpAddr>().is_ok() {
        return hostport.to_owned();
    }
    let host = host.split('.').next().unwrap_or(host);
    if port.is_empty() {
        host.to_owned()
    } else if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Go's `url.QueryUnescape`.
fn query_unescape(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
                let Some(hex) = hex else {
                    let bad: String = s[i..].chars().take(3).collect();
                    return Err(format!("invalid URL escape {}", super::fmt::quote(&bad)));
                };
                out.push(u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Go's `template.HTMLEscapeString`.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u00{:02X}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The text the escaping builtins work on: a lone string as is, anything else `fmt.Sprint`ed.
fn escaper_input(args: &[Value]) -> String {
    match args {
        [Value::Str(s)] => s.to_string(),
        args => sprint(args),
    }
}

fn regex(pattern: &str) -> Result<regex::Regex, CallError> {
    regex::Regex::new(pattern).map_err(|e| {
        // The regex crate draws the pattern over several lines; its last line says what.
        let text = e.to_string();
        let what = text
            .lines()
            .last()
            .unwrap_or("")
            .trim_start_matches("error: ");
        failed(format!("error parsing regexp: {what}: `{pattern}`"))
    })
}

fn int_arg(value: &Value) -> Result<i64, CallError> {
    match value {
        Value::Int(i) => Ok(*i),
        Value::Uint(u) => i64::try_from(*u).map_err(|_| failed(format!("index out of range: {u}"))),
        other => Err(failed(format!(
            "cannot index slice/array with type {}",
            other.type_name()
        ))),
    }
}

fn index(args: &[Value]) -> CallResult {
    let (item, indexes) = args.split_first().ok_or_else(|| {
        CallError::Args("wrong number of args for index: want at least 1 got 0".to_owned())
    })?;
    let mut item = item.clone();
    for key in indexes {
        item = match (&item, key) {
            (Value::List(items), key) => {
                let i = int_arg(key)?;
                usize::try_from(i)
                    .ok()
                    .and_then(|i| items.get(i))
                    .cloned()
                    .ok_or_else(|| failed(format!("index out of range: {i}")))?
            }
            (Value::Str(s), key) => {
                let i = int_arg(key)?;
                usize::try_from(i)
                    .ok()
                    .and_then(|i| s.as_bytes().get(i))
                    .map(|b| Value::Int(i64::from(*b)))
                    .ok_or_else(|| failed(format!("index out of range: {i}")))?
            }
            (Value::Map(map, kind), Value::Str(k)) => match map.get(&**k) {
                Some(v) => v.clone(),
                None if *kind == MapKind::Strings => Value::str(""),
                None => Value::Nil,
            },
            (Value::Map(..), other) => {
                return Err(failed(format!(
                    "value has type {}; should be string",
                    other.type_name()
                )));
            }
            (Value::Nil, _) => return Err(failed("index of untyped nil")),
            (other, _) => {
                return Err(failed(format!(
                    "can't index item of type {}",
                    other.type_name()
                )));
            }
        };
    }
    Ok(item)
}

fn slice(args: &[Value]) -> CallResult {
    let (item, indexes) = args.split_first().ok_or_else(|| {
        CallError::Args("wrong number of args for slice: want at least 1 got 0".to_owned())
    })?;
    let len = match item {
        Value::Str(s) => s.len(),
        Value::List(items) => items.len(),
        Value::Nil => return Err(failed("slice of untyped nil")),
        other => {
            return Err(failed(format!(
                "can't slice item of type {}",
                other.type_name()
            )));
        }
    };
    if indexes.len() > 3 || (indexes.len() == 3 && matches!(item, Value::Str(_))) {
        return Err(failed(if indexes.len() > 3 {
            format!("too many slice indexes: {}", indexes.len())
        } else {
            "cannot 3-index slice a string".to_owned()
        }));
    }
    let mut bounds = [0usize, len, len];
    for (i, index) in indexes.iter().enumerate() {
        let n = int_arg(index)?;
        bounds[i] = usize::try_from(n)
            .ok()
            .filter(|&n| n <= len)
            .ok_or_else(|| failed(format!("index out of range: {n}")))?;
    }
    if bounds[0] > bounds[1] {
        return Err(failed(format!(
            "invalid slice index: {} > {}",
            bounds[0], bounds[1]
        )));
    }
    Ok(match item {
        Value::Str(s) => match s.get(bounds[0]..bounds[1]) {
            Some(part) => Value::str(part),
            None => Value::string(
                String::from_utf8_lossy(&s.as_bytes()[bounds[0]..bounds[1]]).into_owned(),
            ),
        },
        Value::List(items) => Value::List(Rc::new(items[bounds[0]..bounds[1]].to_vec())),
        _ => Value::Nil,
    })
}

/// Go's basic kinds for comparison.
#[derive(PartialEq)]
enum Kind {
    Bool,
    Int,
    Uint,
    Float,
    Str,
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::Duration(_) => Kind::Int,
        Value::Uint(_) => Kind::Uint,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::Str,
        _ => Kind::Other,
    }
}

fn as_i128(v: &Value) -> i128 {
    match v {
        Value::Int(i) | Value::Duration(i) => i128::from(*i),
        Value::Uint(u) => i128::from(*u),
        _ => 0,
    }
}

const BAD_COMPARISON: &str = "incompatible types for comparison";

fn equal(a: &Value, b: &Value) -> Result<bool, CallError> {
    let (ka, kb) = (kind(a), kind(b));
    match (a, b) {
        (Value::Nil, Value::Nil) => return Ok(true),
        (Value::Nil, _) | (_, Value::Nil) => return Ok(false),
        _ => {}
    }
    if ka != kb {
        return match (ka, kb) {
            (Kind::Int | Kind::Uint, Kind::Int | Kind::Uint) => Ok(as_i128(a) == as_i128(b)),
            _ => Err(failed(BAD_COMPARISON)),
        };
    }
    Ok(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Time(x), Value::Time(y)) => x == y,
        (x, y) if ka == Kind::Int || ka == Kind::Uint => as_i128(x) == as_i128(y),
        (x, y) => {
            return Err(failed(format!(
                "non-comparable types {}: {}",
                x.type_name(),
                y.type_name()
            )));
        }
    })
}

fn less(a: &Value, b: &Value) -> Result<bool, CallError> {
    let (ka, kb) = (kind(a), kind(b));
    if matches!(ka, Kind::Bool | Kind::Other) || matches!(kb, Kind::Bool | Kind::Other) {
        return Err(failed("invalid type for comparison"));
    }
    if ka != kb {
        return match (ka, kb) {
            (Kind::Int | Kind::Uint, Kind::Int | Kind::Uint) => Ok(as_i128(a) < as_i128(b)),
            _ => Err(failed(BAD_COMPARISON)),
        };
    }
    Ok(match (a, b) {
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::Str(x), Value::Str(y)) => x < y,
        (x, y) => as_i128(x) < as_i128(y),
    })
}

fn external_path(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    path.split(['?', '#']).next().unwrap_or("")
}

/// Calls function `name` (known to be defined, not `and`/`or`).
pub(crate) fn call(name: &str, args: &[Value], env: &Env<'_>) -> CallResult {
    let one = |args: &[Value]| -> Result<Value, CallError> {
        arity(name, args, 1)?;
        Ok(args[0].clone())
    };
    let text = |args: &[Value]| -> Result<String, CallError> {
        arity(name, args, 1)?;
        string_arg(&args[0]).map(str::to_owned)
    };
    Ok(match name {
        "not" => Value::Bool(!one(args)?.is_true()),
        "len" => match one(args)? {
            Value::Str(s) => Value::Int(s.len() as i64),
            Value::List(items) => Value::Int(items.len() as i64),
            Value::Map(map, _) => Value::Int(map.len() as i64),
            Value::Nil => return Err(failed("len of nil pointer")),
            other => return Err(failed(format!("len of type {}", other.type_name()))),
        },
        "index" => index(args)?,
        "slice" => slice(args)?,
        "eq" => {
            at_least(name, args, 1)?;
            if args.len() < 2 {
                return Err(failed("missing argument for comparison"));
            }
            let mut truth = false;
            for other in &args[1..] {
                if equal(&args[0], other)? {
                    truth = true;
                    break;
                }
            }
            Value::Bool(truth)
        }
        "ne" => {
            arity(name, args, 2)?;
            Value::Bool(!equal(&args[0], &args[1])?)
        }
        "lt" | "le" | "gt" | "ge" => {
            arity(name, args, 2)?;
            let (a, b) = (&args[0], &args[1]);
            Value::Bool(match name {
                "lt" => less(a, b)?,
                "le" => less(a, b)? || equal(a, b)?,
                "gt" => !less(a, b)? && !equal(a, b)?,
                _ => !less(a, b)?,
            })
        }
        "print" => Value::string(sprint(args)),
        "println" => Value::string(sprintln(args)),
        "printf" => {
            at_least(name, args, 1)?;
            Value::string(sprintf(string_arg(&args[0])?, &args[1..]))
        }
        "urlquery" => Value::string(query_escape(&escaper_input(args))),
        "html" => Value::string(html_escape(&escaper_input(args))),
        "js" => Value::string(js_escape(&escaper_input(args))),

        "humanize" => Value::string(humanize(to_float(&one(args)?)?)),
        "humanize1024" => Value::string(humanize1024(to_float(&one(args)?)?)),
        "humanizeDuration" => Value::string(humanize_duration(to_float(&one(args)?)?)),
        "humanizePercentage" => Value::string(format!(
            "{}%",
            format_float(to_float(&one(args)?)? * 100.0, 'g', 4)
        )),
        "humanizeTimestamp" => {
            let v = to_float(&one(args)?)?;
            if !v.is_finite() {
                Value::string(format_float(v, 'g', 4))
            } else {
                Value::string(GoTime::from_unix_seconds(v).map_err(failed)?.go_string())
            }
        }
        "toUpper" => Value::string(text(args)?.to_uppercase()),
        "toLower" => Value::string(text(args)?.to_lowercase()),
        "title" => Value::string(title(&text(args)?)),
        "trimSpace" => Value::str(text(args)?.trim()),
        "match" => {
            arity(name, args, 2)?;
            Value::Bool(regex(string_arg(&args[0])?)?.is_match(string_arg(&args[1])?))
        }
        "reReplaceAll" => {
            arity(name, args, 3)?;
            let re = regex(string_arg(&args[0])?)?;
            let replacement = string_arg(&args[1])?;
            Value::string(
                re.replace_all(string_arg(&args[2])?, replacement)
                    .into_owned(),
            )
        }
        "stripPort" => {
            let s = text(args)?;
            Value::str(split_host_port(&s).map_or(s.as_str(), |(host, _)| host))
        }
        "stripDomain" => Value::string(strip_domain(&text(args)?)),
        "safeHtml" | "safeUrl" => Value::string(text(args)?),
        "urlUnescape" => Value::string(query_unescape(&text(args)?).map_err(failed)?),
        "args" => {
            let map: BTreeMap<String, Value> = args
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("arg{i}"), v.clone()))
                .collect();
            Value::Map(Rc::new(map), MapKind::Any)
        }
        "graphLink" => Value::string(format!(
            "/graph?g0.expr={}&g0.tab=0",
            query_escape(&text(args)?)
        )),
        "tableLink" => Value::string(format!(
            "/graph?g0.expr={}&g0.tab=1",
            query_escape(&text(args)?)
        )),
        "externalURL" => {
            arity(name, args, 0)?;
            Value::str(env.external_url)
        }
        "pathPrefix" => {
            arity(name, args, 0)?;
            Value::str(external_path(env.external_url))
        }
        "toTime" => Value::Time(to_time(&one(args)?)?),
        "toDuration" => {
            let v = to_float(&one(args)?)?;
            let ns = v * 1e9;
            if !(ns >= i64::MIN as f64 && ns < i64::MAX as f64) {
                return Err(failed(format!(
                    "{} cannot be represented as a nanoseconds duration since it overflows int64",
                    format_float(v, 'g', -1)
                )));
            }
            Value::Duration(ns as i64)
        }
        "parseDuration" => {
            let d = crate::parse_duration(&text(args)?).map_err(failed)?;
            Value::Float(d.as_secs_f64())
        }
        "join" => {
            arity(name, args, 2)?;
            let sep = string_arg(&args[0])?;
            let Value::List(items) = &args[1] else {
                return Err(CallError::Args(format!(
                    "wrong type for value; expected []string; got {}",
                    args[1].type_name()
                )));
            };
            let parts = items
                .iter()
                .map(|v| string_arg(v).map(str::to_owned))
                .collect::<Result<Vec<_>, _>>()?;
            Value::string(parts.join(sep))
        }
        "stringSlice" => {
            for arg in args {
                string_arg(arg)?;
            }
            Value::List(Rc::new(args.to_vec()))
        }
        "date" => {
            arity(name, args, 2)?;
            Value::string(to_time(&args[1])?.format(string_arg(&args[0])?))
        }
        "tz" => {
            arity(name, args, 2)?;
            let zone = string_arg(&args[0])?;
            if !matches!(zone, "UTC" | "") {
                return Err(failed(format!(
                    "unknown time zone {zone} (Argus templates know only UTC)"
                )));
            }
            Value::Time(to_time(&args[1])?)
        }
        "since" => {
            let t = to_time(&one(args)?)?;
            let ns = GoTime::now().unix_nanos() - t.unix_nanos();
            Value::Duration(i64::try_from(ns).unwrap_or(i64::MAX))
        }
        other => return Err(failed(format!("function {other:?} not defined"))),
    })
}

/// Calls a method of a time or a duration; `None` when the value has no methods.
pub(crate) fn method(receiver: &Value, name: &str, args: &[Value]) -> Option<CallResult> {
    let no_args = || arity(name, args, 0);
    let result = match receiver {
        Value::Time(t) => match name {
            "Format" => arity(name, args, 1)
                .and_then(|()| string_arg(&args[0]).map(|layout| Value::string(t.format(layout)))),
            "Unix" => no_args().map(|()| Value::Int(t.secs)),
            "UnixMilli" => no_args().map(|()| Value::Int((t.unix_nanos() / 1_000_000) as i64)),
            "UnixNano" => no_args().map(|()| Value::Int(t.unix_nanos() as i64)),
            "UTC" | "Local" => no_args().map(|()| Value::Time(*t)),
            "String" => no_args().map(|()| Value::string(t.go_string())),
            _ => return None,
        },
        Value::Duration(ns) => {
            let secs = *ns as f64 / 1e9;
            match name {
                "Seconds" => no_args().map(|()| Value::Float(secs)),
                "Minutes" => no_args().map(|()| Value::Float(secs / 60.0)),
                "Hours" => no_args().map(|()| Value::Float(secs / 3600.0)),
                "Milliseconds" => no_args().map(|()| Value::Int(ns / 1_000_000)),
                "String" => no_args().map(|()| Value::string(duration_string(*ns))),
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(result)
}
