//! The promqltest script language: `load`, `clear` and `eval` commands, the series-description
//! value syntax and the expectation lines, parsed as Prometheus' `promql/promqltest/test.go`
//! parses them (see `tests/conformance/promql/FORMAT.md`).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use promql_parser::label::MatchOp;
use promql_parser::parser::Expr;
use regex::Regex;
use storage::{Labels, METRIC_NAME};

static PAT_SPACE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[\t ]+").unwrap());
static PAT_LOAD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^load(?:_(with_nhcb))?\s+(.+?)$").unwrap());
static PAT_EVAL_INSTANT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$").unwrap()
});
static PAT_EVAL_RANGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$",
    )
    .unwrap()
});
static PAT_EXPECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$")
        .unwrap()
});
static PAT_EXPECT_RANGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^expect range vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$").unwrap()
});

const RANGE_VECTOR_PREFIX: &str = "expect range vector";
const EXPECT_STRING_PREFIX: &str = "expect string";

/// One parsed test file.
#[derive(Debug)]
pub(crate) struct Script {
    pub(crate) commands: Vec<Command>,
}

#[derive(Debug)]
pub(crate) enum Command {
    Clear,
    Load(Load),
    Eval(Box<Eval>),
}

/// One value of a series description: a float (stale markers are a NaN with the stale bit
/// pattern) or an omitted point (`_`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum SeqValue {
    Omitted,
    Value(f64),
}

#[derive(Debug)]
pub(crate) struct Load {
    pub(crate) line: usize,
    pub(crate) gap_ms: i64,
    /// `load_with_nhcb`: classic histograms are also loaded as native histograms.
    pub(crate) with_nhcb: bool,
    /// Later lines for the same series replace earlier ones, as in the reference.
    pub(crate) series: BTreeMap<Labels, LoadSeries>,
}

#[derive(Debug)]
pub(crate) struct LoadSeries {
    /// The description holds native-histogram points (`{{…}}`); `values` is then empty.
    pub(crate) histogram: bool,
    pub(crate) values: Vec<SeqValue>,
}

/// The four kinds of `expect` lines that take a message (plus `ordered` and the `no_` forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExpectKind {
    Ordered,
    Fail,
    Warn,
    NoWarn,
    Info,
    NoInfo,
}

/// How an `expect` line matches a message: exactly, or by an (unanchored) regex.
#[derive(Debug, Clone)]
pub(crate) enum ExpectMatch {
    Message(String),
    Regex(Regex),
}

impl ExpectMatch {
    pub(crate) fn matches(&self, s: &str) -> bool {
        match self {
            ExpectMatch::Message(m) => m == s,
            ExpectMatch::Regex(r) => r.is_match(s),
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            ExpectMatch::Message(m) => format!("message {m:?}"),
            ExpectMatch::Regex(r) => format!("pattern {:?}", r.as_str()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EvalKind {
    Instant,
    Range,
}

/// Expected values of one series, with its position among the result lines (for `ordered`).
#[derive(Debug, Clone)]
pub(crate) struct ExpectedSeries {
    pub(crate) pos: usize,
    pub(crate) values: Vec<SeqValue>,
}

#[derive(Debug)]
pub(crate) struct Eval {
    /// 1-based line of the `eval` command.
    pub(crate) line: usize,
    pub(crate) expr: String,
    pub(crate) kind: EvalKind,
    /// Query range. For an instant query `start` is the evaluation time and `end` is
    /// `i64::MIN` (the reference's zero time), unless `expect range vector` sets them.
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) step: i64,
    /// Evaluation time of an instant query.
    pub(crate) eval_time: i64,
    /// Deprecated `eval_fail`, `eval_warn`, `eval_info`, `eval_ordered`.
    pub(crate) legacy_fail: bool,
    pub(crate) legacy_warn: bool,
    pub(crate) legacy_info: bool,
    pub(crate) legacy_ordered: bool,
    /// Deprecated `expected_fail_message` / `expected_fail_regexp` (with `eval_fail`).
    pub(crate) expected_fail_message: Option<String>,
    pub(crate) expected_fail_regexp: Option<Regex>,
    pub(crate) expects: Vec<(ExpectKind, ExpectMatch)>,
    pub(crate) expect_scalar: bool,
    pub(crate) scalar: f64,
    pub(crate) expected: BTreeMap<Labels, ExpectedSeries>,
    /// `expect string`; the reference compares string results against "" when absent.
    pub(crate) expected_string: String,
    /// Instant queries with `expect string` or `expect range vector` are not re-run as
    /// range queries.
    pub(crate) exclude_from_range_query: bool,
    /// An expected line holds a native histogram (`{{…}}`).
    pub(crate) expects_histogram: bool,
}

impl Eval {
    pub(crate) fn expects_of(&self, kind: ExpectKind) -> impl Iterator<Item = &ExpectMatch> {
        self.expects
            .iter()
            .filter(move |(k, _)| *k == kind)
            .map(|(_, m)| m)
    }

    pub(crate) fn has_expect(&self, kind: ExpectKind) -> bool {
        self.expects.iter().any(|(k, _)| *k == kind)
    }

    pub(crate) fn is_ordered(&self) -> bool {
        self.legacy_ordered || self.has_expect(ExpectKind::Ordered)
    }

    pub(crate) fn is_fail(&self) -> bool {
        self.legacy_fail || self.has_expect(ExpectKind::Fail)
    }
}

/// Parses a test file. Errors name the 1-based line.
pub(crate) fn parse(input: &str) -> Result<Script, String> {
    let lines = get_lines(input);
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].as_str();
        if l.is_empty() {
            i += 1;
            continue;
        }
        let c = PAT_SPACE
            .splitn(l, 2)
            .next()
            .unwrap_or_default()
            .to_lowercase();
        if c == "clear" {
            commands.push(Command::Clear);
        } else if c.starts_with("load") {
            let (next, load) = parse_load(&lines, i)?;
            i = next;
            commands.push(Command::Load(load));
        } else if c.starts_with("eval") {
            let (next, eval) = parse_eval(&lines, i)?;
            i = next;
            commands.push(Command::Eval(Box::new(eval)));
        } else {
            return Err(format!("line {}: invalid command {l:?}", i + 1));
        }
        i += 1;
    }
    Ok(Script { commands })
}

/// Trimmed lines, comment lines blanked (a comment therefore ends a command's block).
fn get_lines(input: &str) -> Vec<String> {
    input
        .split('\n')
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                String::new()
            } else {
                l.to_string()
            }
        })
        .collect()
}

fn parse_load(lines: &[String], mut i: usize) -> Result<(usize, Load), String> {
    let line_no = i + 1;
    let caps = PAT_LOAD.captures(&lines[i]).ok_or_else(|| {
        format!("line {line_no}: invalid load command. (load[_with_nhcb] <step:duration>)")
    })?;
    let with_nhcb = caps.get(1).is_some_and(|m| m.as_str() == "with_nhcb");
    let gap_ms = parse_duration(&caps[2]).map_err(|e| {
        format!(
            "line {line_no}: invalid step definition {:?}: {e}",
            &caps[2]
        )
    })?;
    let mut series = BTreeMap::new();
    while i + 1 < lines.len() {
        i += 1;
        let def = lines[i].as_str();
        if def.is_empty() {
            i -= 1;
            break;
        }
        let (desc, values) = split_series_line(def);
        if desc.ends_with("@st") || desc.is_empty() && values.starts_with("@st") {
            return Err(format!(
                "line {}: start-timestamp (@st) lines are not supported by this runner",
                i + 1
            ));
        }
        let labels = parse_series_labels(desc).map_err(|e| format!("line {}: {e}", i + 1))?;
        let entry = if values.contains("{{") {
            LoadSeries {
                histogram: true,
                values: Vec::new(),
            }
        } else {
            LoadSeries {
                histogram: false,
                values: parse_values(values).map_err(|e| format!("line {}: {e}", i + 1))?,
            }
        };
        series.insert(labels, entry);
    }
    Ok((
        i,
        Load {
            line: line_no,
            gap_ms,
            with_nhcb,
            series,
        },
    ))
}

fn parse_eval(lines: &[String], mut i: usize) -> Result<(usize, Eval), String> {
    let line_no = i + 1;
    let header = lines[i].as_str();
    let instant = PAT_EVAL_INSTANT.captures(header);
    let range = PAT_EVAL_RANGE.captures(header);
    let err = |msg: String| format!("line {line_no}: {msg}");

    let mut eval = Eval {
        line: line_no,
        expr: String::new(),
        kind: EvalKind::Instant,
        start: 0,
        end: i64::MIN,
        step: 0,
        eval_time: 0,
        legacy_fail: false,
        legacy_warn: false,
        legacy_info: false,
        legacy_ordered: false,
        expected_fail_message: None,
        expected_fail_regexp: None,
        expects: Vec::new(),
        expect_scalar: false,
        scalar: 0.0,
        expected: BTreeMap::new(),
        expected_string: String::new(),
        exclude_from_range_query: false,
        expects_histogram: false,
    };
    let modifier = if let Some(c) = &instant {
        eval.expr = c[3].to_string();
        let at = c.get(2).map_or("", |m| m.as_str());
        let t = parse_duration(at)
            .map_err(|e| err(format!("invalid timestamp definition {at:?}: {e}")))?;
        eval.start = t;
        eval.eval_time = t;
        c.get(1).map(|m| m.as_str().to_string())
    } else if let Some(c) = &range {
        eval.expr = c[5].to_string();
        eval.kind = EvalKind::Range;
        let (start, end, step) = parse_durations(&c[2], &c[3], &c[4]).map_err(err)?;
        eval.start = start;
        eval.end = end;
        eval.step = step;
        c.get(1).map(|m| m.as_str().to_string())
    } else {
        return Err(err("invalid evaluation command".into()));
    };
    match modifier.as_deref() {
        Some("ordered") => eval.legacy_ordered = true,
        Some("fail") => eval.legacy_fail = true,
        Some("warn") => eval.legacy_warn = true,
        Some("info") => eval.legacy_info = true,
        _ => {}
    }

    let is_instant = eval.kind == EvalKind::Instant;
    let mut expect_range_vector = false;
    let mut j = 1usize;
    while i + 1 < lines.len() {
        i += 1;
        let def = lines[i].as_str();
        let this_line = i + 1;
        let lerr = |msg: String| format!("line {this_line}: {msg}");
        if def.is_empty() {
            i -= 1;
            break;
        }
        if eval.legacy_fail && def.starts_with("expected_fail_message") {
            eval.expected_fail_message =
                Some(def["expected_fail_message".len()..].trim().to_string());
            break;
        }
        if eval.legacy_fail && def.starts_with("expected_fail_regexp") {
            let pattern = def["expected_fail_regexp".len()..].trim();
            eval.expected_fail_regexp = Some(Regex::new(pattern).map_err(|e| {
                lerr(format!(
                    "invalid regexp {pattern:?} for expected_fail_regexp: {e}"
                ))
            })?);
            break;
        }
        if def.starts_with(RANGE_VECTOR_PREFIX) {
            let c = PAT_EXPECT_RANGE
                .captures(def)
                .ok_or_else(|| lerr(format!("invalid range vector definition {def:?}")))?;
            let (start, end, step) = parse_durations(&c[1], &c[2], &c[3]).map_err(lerr)?;
            expect_range_vector = true;
            eval.start = start;
            eval.end = end;
            eval.step = step;
            eval.eval_time = end;
            eval.exclude_from_range_query = true;
            j += 1;
            continue;
        }
        if def.starts_with(EXPECT_STRING_PREFIX) {
            eval.expected_string = parse_as_string_literal(def).map_err(lerr)?;
            eval.exclude_from_range_query = true;
            j += 1;
            continue;
        }
        if def.split(' ').next() == Some("expect") {
            let (kind, m) = parse_expect(def).map_err(lerr)?;
            eval.expects.push((kind, m));
            validate_expects(&eval).map_err(lerr)?;
            continue;
        }
        if let Ok(f) = parse_number(def) {
            eval.expect_scalar = true;
            eval.scalar = f;
            eval.expected.clear();
            break;
        }
        let (desc, values) = split_series_line(def);
        if values.contains("{{") {
            eval.expects_histogram = true;
            j += 1;
            continue;
        }
        let labels = parse_series_labels(desc).map_err(lerr)?;
        let vals = parse_values(values).map_err(lerr)?;
        if vals.len() > 1 && is_instant && !expect_range_vector {
            return Err(lerr(
                "expecting multiple values in instant evaluation not allowed. consider using \
                 'expect range vector' directive to enable a range vector result for an instant \
                 query"
                    .into(),
            ));
        }
        eval.expect_scalar = false;
        eval.expected.insert(
            labels,
            ExpectedSeries {
                pos: j,
                values: vals,
            },
        );
        j += 1;
    }
    Ok((i, eval))
}

fn validate_expects(eval: &Eval) -> Result<(), String> {
    use ExpectKind::*;
    let count = |k| eval.expects.iter().filter(|(kind, _)| *kind == k).count();
    if count(Info) > 0 && count(NoInfo) > 0 {
        return Err("invalid expect lines, info and no_info cannot be used together".into());
    }
    if count(Warn) > 0 && count(NoWarn) > 0 {
        return Err("invalid expect lines, warn and no_warn cannot be used together".into());
    }
    if count(Fail) > 1 {
        return Err("invalid expect lines, multiple expect fail lines are not allowed".into());
    }
    Ok(())
}

fn parse_expect(def: &str) -> Result<(ExpectKind, ExpectMatch), String> {
    let c = PAT_EXPECT.captures(def.trim()).ok_or_else(|| {
        "invalid expect statement, must match `expect <type> <match_type>: <string>` format"
            .to_string()
    })?;
    let kind = match &c[1] {
        "ordered" => ExpectKind::Ordered,
        "fail" => ExpectKind::Fail,
        "warn" => ExpectKind::Warn,
        "no_warn" => ExpectKind::NoWarn,
        "info" => ExpectKind::Info,
        "no_info" => ExpectKind::NoInfo,
        other => return Err(format!("invalid expected error/annotation type {other}")),
    };
    let m = match c.get(2).map(|m| m.as_str()) {
        None => ExpectMatch::Regex(Regex::new(r"^.*$").unwrap()),
        Some("msg") => ExpectMatch::Message(c[3].trim().to_string()),
        Some(_) => {
            let pattern = c[3].trim();
            ExpectMatch::Regex(
                Regex::new(pattern).map_err(|e| format!("invalid regex {pattern}: {e}"))?,
            )
        }
    };
    Ok((kind, m))
}

fn parse_as_string_literal(line: &str) -> Result<String, String> {
    const INVALID: &str = "expected string literal not valid - a quoted string literal is required";
    if line == EXPECT_STRING_PREFIX {
        return Err(INVALID.into());
    }
    let s = line
        .strip_prefix(&format!("{EXPECT_STRING_PREFIX} "))
        .unwrap_or(line);
    if s.is_empty() {
        return Err(INVALID.into());
    }
    go_unquote(s).ok_or_else(|| {
        "expected string literal not valid - check that the string is correctly quoted".into()
    })
}

/// Go's `strconv.Unquote`: a back-quoted raw string, a double-quoted string with Go escapes,
/// or a single-quoted character.
pub(crate) fn go_unquote(s: &str) -> Option<String> {
    let quote = s.chars().next()?;
    if s.len() < 2 || !s.ends_with(quote) {
        return None;
    }
    let inner = &s[1..s.len() - 1];
    match quote {
        '`' => (!inner.contains('`')).then(|| inner.replace('\r', "")),
        '"' | '\'' => {
            let mut out = String::new();
            let mut chars = inner.chars().peekable();
            while let Some(c) = chars.next() {
                if c == quote || c == '\n' {
                    return None;
                }
                if c != '\\' {
                    out.push(c);
                    continue;
                }
                let e = chars.next()?;
                let hex = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize| {
                    let digits: String = (0..n).filter_map(|_| chars.next()).collect();
                    (digits.len() == n)
                        .then(|| u32::from_str_radix(&digits, 16).ok())
                        .flatten()
                };
                match e {
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'v' => out.push('\x0b'),
                    '\\' => out.push('\\'),
                    '"' | '\'' if e == quote => out.push(e),
                    'x' => out.push(char::from_u32(hex(&mut chars, 2)?)?),
                    'u' => out.push(char::from_u32(hex(&mut chars, 4)?)?),
                    'U' => out.push(char::from_u32(hex(&mut chars, 8)?)?),
                    '0'..='7' => {
                        let mut v = e.to_digit(8)?;
                        for _ in 0..2 {
                            v = v * 8 + chars.next()?.to_digit(8)?;
                        }
                        out.push(char::from_u32(v)?);
                    }
                    _ => return None,
                }
            }
            (quote == '"' || out.chars().count() == 1).then_some(out)
        }
        _ => None,
    }
}

fn parse_durations(from: &str, to: &str, step: &str) -> Result<(i64, i64, i64), String> {
    let start = parse_duration(from)
        .map_err(|e| format!("invalid start timestamp definition {from:?}: {e}"))?;
    let end =
        parse_duration(to).map_err(|e| format!("invalid end timestamp definition {to:?}: {e}"))?;
    if end < start {
        return Err(format!(
            "invalid test definition, end timestamp ({to}) is before start timestamp ({from})"
        ));
    }
    let step =
        parse_duration(step).map_err(|e| format!("invalid step definition {step:?}: {e}"))?;
    Ok((start, end, step))
}

/// Prometheus' `model.ParseDuration`, in milliseconds: `0`, or integer amounts of `y w d h m s
/// ms`, biggest unit first, each at most once (`1h30m`, `10s53ms`).
pub(crate) fn parse_duration(s: &str) -> Result<i64, String> {
    match s {
        "0" => return Ok(0),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let invalid = || format!("not a valid duration string: {s:?}");
    let mut rest = s;
    let mut total: i64 = 0;
    let mut last_unit: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let v: i64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
        if unit_len == 0 {
            return Err(invalid());
        }
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let pos = UNITS
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(|| format!("unknown unit {unit:?} in duration {s:?}"))?;
        if last_unit.is_some_and(|l| pos <= l) {
            return Err(invalid());
        }
        last_unit = Some(pos);
        total = v
            .checked_mul(UNITS[pos].1)
            .and_then(|x| total.checked_add(x))
            .ok_or_else(|| format!("duration out of range: {s:?}"))?;
    }
    Ok(total)
}

/// Go's `parseNumber`: `strconv.ParseInt(s, 0, 64)`, else `strconv.ParseFloat(s, 64)`.
pub(crate) fn parse_number(s: &str) -> Result<f64, String> {
    if let Some(i) = parse_go_int(s) {
        return Ok(i as f64);
    }
    s.parse::<f64>()
        .map_err(|_| format!("error parsing number: {s:?}"))
}

/// `strconv.ParseInt(s, 0, 64)`: an optional sign, then decimal, `0x` hex, `0o`/`0` octal or
/// `0b` binary digits, optionally separated by underscores.
fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.starts_with('_') || body.ends_with('_') {
        return None;
    }
    let lower = body.to_ascii_lowercase().replace('_', "");
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i64::from_str_radix(digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

/// Splits `metric{a="b"} 1 2 3` into the series descriptor and the value text. Braces and
/// quotes inside the descriptor are respected.
pub(crate) fn split_series_line(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'{' {
        i += 1;
    }
    if i < bytes.len() && bytes[i] == b'{' {
        let mut quote: Option<u8> = None;
        while i < bytes.len() {
            let b = bytes[i];
            match quote {
                Some(q) => {
                    if b == b'\\' && q != b'`' {
                        i += 1;
                    } else if b == q {
                        quote = None;
                    }
                }
                None => {
                    if matches!(b, b'"' | b'\'' | b'`') {
                        quote = Some(b);
                    } else if b == b'}' {
                        i += 1;
                        break;
                    }
                }
            }
            i += 1;
        }
    }
    let i = i.min(line.len());
    (&line[..i], line[i..].trim())
}

/// The label set of a series descriptor (`metric{a="b"}`, `{__name__="x"}`, `{"utf8.name"}`,
/// `{}`), parsed by promql-parser as a vector selector. Selectors the parser refuses because
/// every matcher matches the empty string (`{}`) get a placeholder matcher added and removed.
pub(crate) fn parse_series_labels(desc: &str) -> Result<Labels, String> {
    const PLACEHOLDER: &str = "__argus_conformance_placeholder__";
    let (expr, placeholder) = match promql_parser::parser::parse(desc) {
        Ok(e) => (e, false),
        Err(first) => {
            let Some(open) = desc.strip_suffix('}') else {
                return Err(format!("invalid series descriptor {desc:?}: {first}"));
            };
            let inner = open.trim_end();
            let sep = if inner.ends_with('{') || inner.ends_with(',') {
                ""
            } else {
                ", "
            };
            let patched = format!("{inner}{sep}{PLACEHOLDER}=\"1\"}}");
            let e = promql_parser::parser::parse(&patched)
                .map_err(|_| format!("invalid series descriptor {desc:?}: {first}"))?;
            (e, true)
        }
    };
    let Expr::VectorSelector(vs) = expr else {
        return Err(format!(
            "series descriptor {desc:?} is not a plain vector selector"
        ));
    };
    if vs.at.is_some() || vs.offset.is_some() || !vs.matchers.or_matchers.is_empty() {
        return Err(format!(
            "series descriptor {desc:?} has modifiers or `or` matchers"
        ));
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let Some(name) = vs.name {
        pairs.push((METRIC_NAME.to_string(), name));
    }
    for m in vs.matchers.matchers {
        if placeholder && m.name == PLACEHOLDER {
            continue;
        }
        if m.op != MatchOp::Equal {
            return Err(format!(
                "series descriptor {desc:?} has a non-equality matcher on {:?}",
                m.name
            ));
        }
        pairs.push((m.name, m.value));
    }
    Ok(Labels::from_pairs(pairs))
}

/// The value text of a series description, Prometheus' expanding syntax: `1 2 3`, `_`, `_x3`
/// (three omitted), `stale`, `1x3` (four 1s), `1+2x3` (1 3 5 7), `1-1x3`, `-1x5`, `Inf`, `NaN`.
pub(crate) fn parse_values(text: &str) -> Result<Vec<SeqValue>, String> {
    let mut out = Vec::new();
    for item in text.split_ascii_whitespace() {
        parse_item(item, &mut out).map_err(|e| format!("invalid series value {item:?}: {e}"))?;
    }
    Ok(out)
}

fn parse_item(item: &str, out: &mut Vec<SeqValue>) -> Result<(), String> {
    if item == "_" {
        out.push(SeqValue::Omitted);
        return Ok(());
    }
    if let Some(n) = item.strip_prefix("_x") {
        let n = parse_uint(n)?;
        out.extend((0..n).map(|_| SeqValue::Omitted));
        return Ok(());
    }
    if item == "stale" {
        out.push(SeqValue::Value(storage::stale_nan()));
        return Ok(());
    }
    let (first, rest) = scan_signed_number(item)?;
    if rest.is_empty() {
        out.push(SeqValue::Value(first));
        return Ok(());
    }
    if let Some(n) = rest.strip_prefix('x') {
        // The reference adds one value for time 0: `1x3` is four values.
        let n = parse_uint(n)?;
        out.extend((0..=n).map(|_| SeqValue::Value(first)));
        return Ok(());
    }
    if rest.starts_with(['+', '-']) {
        let (delta, rest) = scan_signed_number(rest)?;
        let n = rest
            .strip_prefix('x')
            .ok_or_else(|| "expected `x<count>` after the increment".to_string())?;
        let n = parse_uint(n)?;
        let mut v = first;
        for _ in 0..=n {
            out.push(SeqValue::Value(v));
            v += delta;
        }
        return Ok(());
    }
    Err(format!("unexpected {rest:?}"))
}

fn parse_uint(s: &str) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid repetition count {s:?}"));
    }
    s.parse()
        .map_err(|e| format!("invalid repetition count {s:?}: {e}"))
}

/// An optionally signed number (`1`, `-2.5`, `1e3`, `.5`, `Inf`, `+Inf`, `NaN`) at the start of
/// `s`, and the text after it.
fn scan_signed_number(s: &str) -> Result<(f64, &str), String> {
    let (sign, body) = match s.as_bytes().first() {
        Some(b'-') => (-1.0, &s[1..]),
        Some(b'+') => (1.0, &s[1..]),
        _ => (1.0, s),
    };
    let lower = body.to_ascii_lowercase();
    for (word, v) in [("inf", f64::INFINITY), ("nan", f64::NAN)] {
        if lower.starts_with(word)
            && !lower[word.len()..].starts_with(|c: char| c.is_alphanumeric() && c != 'x')
        {
            return Ok((sign * v, &body[word.len()..]));
        }
    }
    let b = body.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    let mut n = digits(&mut i);
    if i < b.len() && b[i] == b'.' {
        i += 1;
        n += digits(&mut i);
    }
    if n == 0 {
        return Err(format!("expected a number at {s:?}"));
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let exp_start = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > exp_start {
            i = j;
        }
    }
    let v: f64 = body[..i]
        .parse()
        .map_err(|e| format!("invalid number {:?}: {e}", &body[..i]))?;
    Ok((sign * v, &body[i..]))
}
