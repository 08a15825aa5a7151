//! Error fingerprints: the same error from different requests gets the same short hash, so
//! `/api/v1/errors` can group lines by it.
//!
//! A line gets a fingerprint when its level is `ERROR` or `FATAL`, or when it carries an
//! exception: a non-empty stack or exception text in `exc_info`, `exc_text`, `stack_trace`,
//! `stacktrace`, `stack`, `exception`, `error.stack`, `error.stack_trace`, `error.stacktrace`,
//! `exception.stacktrace`, `exception.stack_trace`, `err.stack` (`exc_info: true` counts;
//! Python's `NoneType: None` does not), or an exception type in `error.type`, `error.kind`,
//! `exception.type`, `exception.class`, `exc_type`, `err.type`, `err.name`.
//!
//! The fingerprint is the xxHash64, as 16 hex digits, of
//! 1. the exception type: the type field, or else the one the stack text names (Python's last
//!    `Type: message` line, the first line of a Java, JavaScript, .NET or Go trace);
//! 2. the message: `error.message`, `exception.message`, `err.message`, or else the one from the
//!    stack text, or else the line's own message; its first line only, at most 500 characters,
//!    with quoted values (`'…'`, `"…"`, `` `…` ``), e-mail addresses, UUIDs, hex ids (`0x…`,
//!    or words mixing hex letters and digits) and numbers masked;
//! 3. the top three stack frames (the innermost: Python's last three, the first three
//!    elsewhere), each as function and file name without directories, line or column numbers,
//!    numbers and hex ids in them masked (`lambda$3`, `$$Lambda/0x…`). Frames are recognised
//!    in Python (`File "…", line N, in f`), Java/Kotlin/Scala/.NET/JavaScript (`at …`), Ruby
//!    (`file.rb:N:in 'm'`), Go (`pkg.f(…)` followed by `\t/path/file.go:N`) and PHP (`#0
//!    /path/file.php(N): f()`) traces. When no stack text is given but the message itself
//!    holds a multi-line trace, that trace is used.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::normalize::get_path;

const STACK_FIELDS: &[&str] = &[
    "exc_info",
    "exc_text",
    "stack_trace",
    "stacktrace",
    "stack",
    "exception",
    "error.stack",
    "error.stack_trace",
    "error.stacktrace",
    "exception.stacktrace",
    "exception.stack_trace",
    "err.stack",
];
const TYPE_FIELDS: &[&str] = &[
    "error.type",
    "error.kind",
    "exception.type",
    "exception.class",
    "exc_type",
    "err.type",
    "err.name",
];
const MESSAGE_FIELDS: &[&str] = &["error.message", "exception.message", "err.message"];

/// Frames that make up a fingerprint.
const TOP_FRAMES: usize = 3;
/// Longest masked message hashed, in characters.
const MAX_MESSAGE_CHARS: usize = 500;
/// Longest quoted value masked (a longer "quote" is probably not one).
const MAX_QUOTED_BYTES: usize = 256;

/// The fingerprint of an event whose normalised message is `message`, from its remaining
/// `fields`; `None` unless `is_error` or the event carries an exception.
pub(crate) fn fingerprint(
    fields: &Map<String, Value>,
    message: &str,
    is_error: bool,
) -> Option<String> {
    if !is_error && !fields.keys().any(|k| may_hold_exception(k)) {
        return None;
    }
    let mut has_exception = false;
    let mut stack_text = None;
    for name in STACK_FIELDS {
        match get_path(fields, name) {
            Some(Value::String(s)) if is_exception_text(s) => {
                has_exception = true;
                stack_text = Some(s.clone());
                break;
            }
            Some(Value::Array(lines)) if !lines.is_empty() => {
                let text = lines
                    .iter()
                    .map(|l| match l {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                if is_exception_text(&text) {
                    has_exception = true;
                    stack_text = Some(text);
                    break;
                }
            }
            Some(Value::Bool(true)) => has_exception = true,
            _ => {}
        }
    }
    let field_type = first_text(fields, TYPE_FIELDS);
    has_exception |= field_type.is_some();
    if !has_exception && !is_error {
        return None;
    }
    let field_message = first_text(fields, MESSAGE_FIELDS);

    let stack = match &stack_text {
        Some(text) => parse_stack(text),
        // a trace written into the message itself
        None if message.contains('\n') => {
            let parsed = parse_stack(message);
            if parsed.frames.is_empty() {
                Stack::default()
            } else {
                parsed
            }
        }
        None => Stack::default(),
    };
    let ty = field_type.or(stack.ty).unwrap_or_default();
    let text = field_message
        .or(stack.message)
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| message.to_string());
    let first_line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    // masking only ever shortens what it masks: a bounded prefix is enough
    let head: String = first_line.chars().take(4 * MAX_MESSAGE_CHARS).collect();
    let masked: String = mask(&head).chars().take(MAX_MESSAGE_CHARS).collect();

    let mut input = String::with_capacity(ty.len() + masked.len() + 64);
    input.push_str(ty.trim());
    input.push('\n');
    input.push_str(&masked);
    for frame in stack.frames.iter().take(TOP_FRAMES) {
        input.push('\n');
        input.push_str(frame);
    }
    Some(format!(
        "{:016x}",
        xxhash_rust::xxh64::xxh64(input.as_bytes(), 0)
    ))
}

/// Whether a normalised level is an error one (`ERROR`, `FATAL`): such lines always get a
/// fingerprint.
pub(crate) fn is_error_level(level: Option<&str>) -> bool {
    matches!(level, Some("ERROR" | "FATAL"))
}

/// Top-level keys that can hold one of the exception fields above (a name, or the first part
/// of a dotted one): one pass over an event's keys spares most lines two dozen lookups.
static EXCEPTION_KEYS: LazyLock<HashSet<&'static str, foldhash::fast::RandomState>> =
    LazyLock::new(|| exception_keys().collect());

/// The top-level keys [`EXCEPTION_KEYS`] holds.
pub(crate) fn exception_keys() -> impl Iterator<Item = &'static str> {
    [STACK_FIELDS, TYPE_FIELDS, MESSAGE_FIELDS]
        .into_iter()
        .flatten()
        .flat_map(|name| [*name, name.split('.').next().unwrap_or(name)])
}

fn may_hold_exception(key: &str) -> bool {
    EXCEPTION_KEYS.contains(key)
}

/// Text that describes an exception, not a placeholder.
fn is_exception_text(s: &str) -> bool {
    let t = s.trim();
    !t.is_empty() && t != "NoneType: None" && t != "None" && t != "false" && t != "null"
}

fn first_text(fields: &Map<String, Value>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| match get_path(fields, n) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    })
}

/// What a stack text says: the exception type and message, and the frames, innermost first.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Stack {
    pub(crate) ty: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) frames: Vec<String>,
}

const PYTHON_HEADER: &str = "Traceback (most recent call last):";

pub(crate) fn parse_stack(text: &str) -> Stack {
    match text.rfind(PYTHON_HEADER) {
        Some(at) => parse_python(&text[at + PYTHON_HEADER.len()..]),
        None => parse_other(text),
    }
}

/// The last traceback of a Python exception text (the one raised last, when chained).
fn parse_python(text: &str) -> Stack {
    let mut frames = Vec::new();
    let mut last_line = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("File \"") {
            let (path, after) = rest.split_once('"').unwrap_or((rest, ""));
            let func = after.rsplit_once(", in ").map_or("", |(_, f)| f.trim());
            frames.push(frame(func, path));
        } else if !trimmed.is_empty() && !line.starts_with([' ', '\t']) {
            last_line = Some(trimmed);
        }
    }
    // Python prints the innermost frame last
    frames.reverse();
    let (ty, message) = match last_line {
        Some(line) => split_exception_line(line),
        None => (None, None),
    };
    Stack {
        ty,
        message,
        frames,
    }
}

/// Java, Kotlin, Scala, .NET, JavaScript, Ruby, Go and PHP traces: the first line names the
/// exception, frames follow innermost first.
fn parse_other(text: &str) -> Stack {
    let lines: Vec<&str> = text.lines().collect();
    let mut stack = Stack::default();
    if let Some(first) = lines.iter().map(|l| l.trim()).find(|l| !l.is_empty())
        && !first.starts_with("at ")
    {
        let (ty, message) = split_exception_line(first);
        stack.ty = ty;
        stack.message = message;
    }
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        let parsed = if let Some(rest) = trimmed.strip_prefix("at ") {
            Some(at_frame(rest))
        } else if let Some(f) = ruby_frame(trimmed) {
            Some(f)
        } else if let Some(f) = php_frame(trimmed) {
            Some(f)
        } else {
            go_frame(trimmed, i.checked_sub(1).and_then(|p| lines.get(p)))
        };
        if let Some(f) = parsed {
            stack.frames.push(f);
            if stack.frames.len() >= TOP_FRAMES {
                break;
            }
        }
    }
    stack
}

/// `Type: message` when the part before `: ` looks like a type name; else the whole line is
/// the message (or, without `: `, a bare type name when it looks like one).
fn split_exception_line(line: &str) -> (Option<String>, Option<String>) {
    let line = line.strip_prefix("Caused by: ").unwrap_or(line);
    if let Some((ty, msg)) = line.split_once(": ")
        && is_type_name(ty)
    {
        return (Some(ty.to_string()), Some(msg.trim().to_string()));
    }
    let bare = line.strip_suffix(':').unwrap_or(line);
    if is_type_name(bare) {
        return (Some(bare.to_string()), None);
    }
    (None, Some(line.to_string()))
}

fn is_type_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s.chars().all(|c| {
            c.is_alphanumeric()
                || matches!(
                    c,
                    '.' | '_' | '$' | '*' | '/' | '<' | '>' | '[' | ']' | '`' | '+'
                )
        })
}

/// After `at `: `pkg.Class.method(File.java:42)`, `func (/path/file.js:10:5)`,
/// `/path/file.js:10:5`, `async func (…)`, `Ns.C.M(String a) in C:\src\f.cs:line 42`.
fn at_frame(rest: &str) -> String {
    let rest = rest.trim().strip_prefix("async ").unwrap_or(rest.trim());
    if let Some((call, file)) = rest.split_once(") in ") {
        let func = call.split('(').next().unwrap_or(call);
        let file = file.rsplit_once(":line ").map_or(file, |(f, _)| f);
        return frame(func, file);
    }
    if let Some(open) = rest.find('(')
        && rest.ends_with(')')
    {
        let func = rest[..open].trim();
        let loc = &rest[open + 1..rest.len() - 1];
        // JavaScript puts the location in parentheses after the function name; Java puts
        // the file there (`Native Method`, `Unknown Source` included)
        return frame(func, loc);
    }
    frame("", rest)
}

/// `/app/models/user.rb:10:in 'find'`, `from /app/x.rb:5:in `block in foo'`.
fn ruby_frame(line: &str) -> Option<String> {
    let line = line.strip_prefix("from ").unwrap_or(line);
    let (loc, func) = line.split_once(":in ")?;
    let func = func.trim_matches(|c| matches!(c, '`' | '\'' | '"' | '‘' | '’'));
    Some(frame(func, loc))
}

/// `#0 /var/www/src/Foo.php(12): App\Foo->bar()`.
fn php_frame(line: &str) -> Option<String> {
    let rest = line.strip_prefix('#')?;
    let (num, rest) = rest.split_once(' ')?;
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (loc, func) = rest.split_once("): ")?;
    let file = loc.split('(').next().unwrap_or(loc);
    Some(frame(func.split('(').next().unwrap_or(func), file))
}

/// Go: a `\t/path/file.go:12 +0x1d` line, whose function is on the line before.
fn go_frame(line: &str, previous: Option<&&str>) -> Option<String> {
    let loc = line.split(" +0x").next().unwrap_or(line);
    let (file, number) = loc.rsplit_once(':')?;
    if !file.ends_with(".go") || number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let func = previous.map_or("", |p| {
        let p = p.trim();
        match p.rfind('(') {
            Some(i) if p.ends_with(')') && i > 0 => &p[..i],
            _ => p,
        }
    });
    Some(frame(func, file))
}

/// `function (file)`, the file without directories, line and column numbers, with numbers
/// and ids masked.
fn frame(func: &str, location: &str) -> String {
    let file = strip_line_col(location.trim());
    let file = file
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(file)
        .split(':')
        .next_back()
        .unwrap_or("");
    mask_tokens(&format!("{} ({file})", func.trim()))
}

/// `path:12:5` → `path`, `File.java:42` → `File.java`.
fn strip_line_col(s: &str) -> &str {
    let mut s = s;
    for _ in 0..2 {
        match s.rsplit_once(':') {
            Some((head, tail)) if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) => {
                s = head
            }
            _ => break,
        }
    }
    s
}

/// Masks what varies between occurrences of one error: quoted values, then e-mails, UUIDs,
/// hex ids and numbers.
pub(crate) fn mask(s: &str) -> String {
    mask_tokens(&mask_quotes(s))
}

/// `'…'`, `"…"` and `` `…` `` become `'?'`, `"?"`, `` `?` ``. A quote opens only where a
/// word does not go on (so apostrophes in "can't" are left alone) and closes before a
/// non-word character, within [`MAX_QUOTED_BYTES`].
fn mask_quotes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev: Option<char> = None;
    let mut i = 0;
    while let Some(c) = s[i..].chars().next() {
        let opens = matches!(c, '\'' | '"' | '`') && !prev.is_some_and(char::is_alphanumeric);
        if opens && let Some(len) = closing_quote(&s[i + 1..], c) {
            out.push(c);
            out.push('?');
            out.push(c);
            i += 1 + len + 1;
            prev = Some(c);
            continue;
        }
        out.push(c);
        prev = Some(c);
        i += c.len_utf8();
    }
    out
}

/// Length of the quoted text before the closing `quote` in `rest`, if it closes in time.
fn closing_quote(rest: &str, quote: char) -> Option<usize> {
    let mut chars = rest.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if at > MAX_QUOTED_BYTES {
            return None;
        }
        if c == quote && !chars.peek().is_some_and(|(_, next)| next.is_alphanumeric()) {
            return Some(at);
        }
    }
    None
}

/// `None` only if the pattern did not compile, which `tokens_pattern_compiles` rules out; masking
/// then leaves the text as it is rather than failing the line.
static TOKENS: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        (?P<email>[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)
      | (?P<uuid>(?i:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}))
      | (?P<hex>0[xX][0-9a-fA-F]+
          | (?-u:\b)[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*[0-9][0-9a-fA-F]*(?-u:\b)
          | (?-u:\b)[0-9a-fA-F]*[0-9][0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*(?-u:\b))
      | (?P<num>[0-9]+(?:\.[0-9]+)*)
        ",
    )
    .ok()
});

fn mask_tokens(s: &str) -> String {
    let Some(tokens) = TOKENS.as_ref() else {
        return s.to_string();
    };
    tokens
        .replace_all(s, |c: &regex::Captures<'_>| {
            if c.name("email").is_some() {
                "<email>"
            } else if c.name("uuid").is_some() {
                "<uuid>"
            } else if c.name("hex").is_some() {
                "<hex>"
            } else {
                "<n>"
            }
        })
        .into_owned()
}

#[cfg(test)]
mod tests {

    #[test]
    fn tokens_pattern_compiles() {
        assert!(TOKENS.is_some());
    }

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn fp(v: Value, message: &str, is_error: bool) -> Option<String> {
        match v {
            Value::Object(m) => fingerprint(&m, message, is_error),
            _ => panic!("object expected"),
        }
    }

    #[test]
    fn masking() {
        let cases = [
            ("user 12345 not found", "user <n> not found"),
            ("took 12.5ms", "took <n>ms"),
            ("order-987 failed", "order-<n> failed"),
            (
                "request 550e8400-e29b-41d4-a716-446655440000 timed out",
                "request <uuid> timed out",
            ),
            (
                "REQUEST 550E8400-E29B-41D4-A716-446655440000",
                "REQUEST <uuid>",
            ),
            (
                "mail to bob.smith+x@example.co.uk bounced",
                "mail to <email> bounced",
            ),
            (
                "object 5f1a9c2e7b3d4e0012ab34cd missing",
                "object <hex> missing",
            ),
            ("at address 0x7ffee4b2a9c0", "at address <hex>"),
            ("KeyError: 'user_id'", "KeyError: '?'"),
            (r#"no such table "orders_2024""#, r#"no such table "?""#),
            ("can't find `main` isn't here", "can't find `?` isn't here"),
            ("ip 10.0.0.12:5432 refused", "ip <n>:<n> refused"),
            ("deadbeef stays, cafe too", "deadbeef stays, cafe too"),
            ("", ""),
            // an unclosed quote is left alone
            ("unclosed 'quote here", "unclosed 'quote here"),
        ];
        for (input, want) in cases {
            assert_eq!(mask(input), want, "{input}");
        }
    }

    const PY_A: &str = "Traceback (most recent call last):\n  File \"/srv/app/views.py\", line 42, in get_order\n    order = repo.load(order_id)\n  File \"/srv/app/repo.py\", line 17, in load\n    return self.rows[key]\n  File \"/usr/lib/python3.12/site-packages/store/db.py\", line 301, in fetch\n    raise KeyError(key)\nKeyError: 'order-1234'";
    const PY_B: &str = "Traceback (most recent call last):\n  File \"/opt/venv/app/views.py\", line 44, in get_order\n    order = repo.load(order_id)\n  File \"/opt/venv/app/repo.py\", line 19, in load\n    return self.rows[key]\n  File \"/opt/venv/lib/python3.11/site-packages/store/db.py\", line 298, in fetch\n    raise KeyError(key)\nKeyError: 'order-98'";

    #[test]
    fn python_tracebacks_group_across_requests_and_deployments() {
        let a = fp(json!({"exc_info": PY_A}), "lookup failed for 1234", true);
        let b = fp(json!({"exc_info": PY_B}), "lookup failed for 98", true);
        assert!(a.is_some());
        assert_eq!(a, b);
        // the same exception at INFO level still carries an exception
        assert_eq!(fp(json!({"exc_info": PY_A}), "other text", false), a);
        // another exception type is another group
        let c = fp(
            json!({"exc_info": PY_A.replace("KeyError: 'order-1234'", "ValueError: 'order-1234'")}),
            "",
            true,
        );
        assert_ne!(a, c);
        // another innermost frame is another group
        let d = fp(
            json!({"exc_info": PY_A.replace("in fetch", "in fetch_many")}),
            "",
            true,
        );
        assert_ne!(a, d);
        // exc_text (logging's cached text) works the same
        assert_eq!(fp(json!({"exc_text": PY_B}), "", false), a);
    }

    #[test]
    fn python_frames_and_chained_exceptions() {
        let s = parse_stack(PY_A);
        assert_eq!(s.ty.as_deref(), Some("KeyError"));
        assert_eq!(s.message.as_deref(), Some("'order-1234'"));
        assert_eq!(
            s.frames,
            ["fetch (db.py)", "load (repo.py)", "get_order (views.py)"]
        );
        let chained = format!(
            "{PY_A}\n\nDuring handling of the above exception, another exception occurred:\n\nTraceback (most recent call last):\n  File \"/srv/app/api.py\", line 9, in handler\n    raise NotFound(str(e))\napp.errors.NotFound: order 1234 not found"
        );
        let s = parse_stack(&chained);
        assert_eq!(s.ty.as_deref(), Some("app.errors.NotFound"));
        assert_eq!(s.message.as_deref(), Some("order 1234 not found"));
        assert_eq!(s.frames, ["handler (api.py)"]);
    }

    const JAVA_A: &str = "java.lang.IllegalStateException: Order 1234 for user alice@example.com is locked\n\tat com.shop.orders.OrderService.lock(OrderService.java:88)\n\tat com.shop.orders.OrderService.pay(OrderService.java:61)\n\tat com.shop.api.OrderController$$EnhancerBySpringCGLIB$$5a3f9b1c.pay(<generated>)\n\tat com.shop.api.OrderController.handle(OrderController.java:30)\n\tat java.base/java.lang.Thread.run(Thread.java:833)\nCaused by: java.sql.SQLException: lock timeout\n\tat org.db.Driver.exec(Driver.java:10)";

    #[test]
    fn java_stack_traces_group_across_requests() {
        let b_text = JAVA_A
            .replace(
                "Order 1234 for user alice@example.com",
                "Order 77 for user bob@example.org",
            )
            .replace("5a3f9b1c", "77ee01d2")
            .replace(":88)", ":90)")
            .replace(":61)", ":63)");
        let a = fp(
            json!({"stack_trace": JAVA_A, "level": "ERROR"}),
            "payment failed",
            true,
        );
        let b = fp(json!({"stack_trace": b_text}), "payment failed", true);
        assert_eq!(a, b);
        let s = parse_stack(JAVA_A);
        assert_eq!(s.ty.as_deref(), Some("java.lang.IllegalStateException"));
        assert_eq!(
            s.frames,
            [
                "com.shop.orders.OrderService.lock (OrderService.java)",
                "com.shop.orders.OrderService.pay (OrderService.java)",
                "com.shop.api.OrderController$$EnhancerBySpringCGLIB$$<hex>.pay (<generated>)",
            ]
        );
        // a change below the top three frames does not matter
        let deeper = JAVA_A.replace("OrderController.handle", "OrderController.other");
        assert_eq!(fp(json!({"stack_trace": deeper}), "", true), a);
        // a different message (beyond masked values) does
        let other = JAVA_A.replace("is locked", "is gone");
        assert_ne!(fp(json!({"stack_trace": other}), "", true), a);
    }

    #[test]
    fn structured_error_fields() {
        // ECS
        let a = fp(
            json!({"error": {"type": "TimeoutError", "message": "upstream 10.0.0.7 timed out after 3000ms", "stack_trace": "TimeoutError: upstream timed out\n    at fetchUser (/app/src/users.js:10:15)\n    at async handler (/app/src/server.js:20:3)\n    at /app/src/router.js:5:1"}}),
            "request failed",
            false,
        );
        let b = fp(
            json!({"error": {"type": "TimeoutError", "message": "upstream 10.0.0.9 timed out after 2500ms", "stack_trace": "TimeoutError: upstream timed out\n    at fetchUser (/srv/b/src/users.js:12:1)\n    at async handler (/srv/b/src/server.js:22:9)\n    at /srv/b/src/router.js:6:2"}}),
            "request failed",
            false,
        );
        assert!(a.is_some());
        assert_eq!(a, b);
        let s = parse_stack(
            "TypeError: x is undefined\n    at fetchUser (/app/src/users.js:10:15)\n    at async handler (/app/src/server.js:20:3)\n    at /app/src/router.js:5:1",
        );
        assert_eq!(
            s.frames,
            [
                "fetchUser (users.js)",
                "handler (server.js)",
                " (router.js)"
            ]
        );
        // a type alone is an exception
        assert!(fp(json!({"error.type": "Boom"}), "x", false).is_some());
        // pino's err object
        let p1 = fp(
            json!({"err": {"type": "Error", "message": "bad id 12", "stack": "Error: bad id 12\n    at f (/a/x.js:1:1)"}}),
            "",
            false,
        );
        let p2 = fp(
            json!({"err": {"type": "Error", "message": "bad id 13", "stack": "Error: bad id 13\n    at f (/a/x.js:2:2)"}}),
            "",
            false,
        );
        assert!(p1.is_some());
        assert_eq!(p1, p2);
        // exc_info as a list of lines
        let lines: Vec<&str> = PY_A.lines().collect();
        assert_eq!(
            fp(json!({"exc_info": lines}), "", true),
            fp(json!({"exc_info": PY_A}), "", true)
        );
        // exc_info: true counts, without details
        assert!(fp(json!({"exc_info": true}), "m", false).is_some());
    }

    #[test]
    fn plain_error_lines_group_by_masked_message() {
        let a = fp(
            json!({}),
            "Payment 123 failed for bob@x.com: card '4242'",
            true,
        );
        let b = fp(
            json!({}),
            "Payment 98765 failed for alice@y.org: card '0005'",
            true,
        );
        assert_eq!(a, b);
        assert_ne!(
            a,
            fp(
                json!({}),
                "Refund 123 failed for bob@x.com: card '4242'",
                true
            )
        );
        assert_eq!(a.as_deref().map(str::len), Some(16));
        // no exception, not an error: no fingerprint
        assert_eq!(fp(json!({}), "all good", false), None);
        assert_eq!(fp(json!({"exc_info": "NoneType: None"}), "x", false), None);
        assert_eq!(fp(json!({"exc_info": ""}), "x", false), None);
        assert_eq!(fp(json!({"exc_info": null}), "x", false), None);
        assert_eq!(fp(json!({"error": "just a string"}), "x", false), None);
        // a trace inside the message is used
        let in_message = fp(json!({}), JAVA_A, true);
        assert_eq!(in_message, fp(json!({"stack_trace": JAVA_A}), "", true));
    }

    #[test]
    fn other_languages() {
        let go = "panic: runtime error: index out of range [5] with length 3\n\ngoroutine 1 [running]:\nmain.handler(0xc000010000, 0x5)\n\t/app/main.go:12 +0x1d\nmain.(*Server).serve(...)\n\t/app/server.go:40\nmain.main()\n\t/app/main.go:20 +0x25\nexit status 2";
        let s = parse_stack(go);
        assert_eq!(s.ty.as_deref(), Some("panic"));
        assert_eq!(
            s.message.as_deref(),
            Some("runtime error: index out of range [5] with length 3")
        );
        assert_eq!(
            s.frames,
            [
                "main.handler (main.go)",
                "main.(*Server).serve (server.go)",
                "main.main (main.go)"
            ]
        );
        let ruby = "NoMethodError: undefined method `name' for nil\n/app/models/user.rb:10:in `display_name'\n/app/controllers/users_controller.rb:5:in `show'";
        let s = parse_stack(ruby);
        assert_eq!(s.ty.as_deref(), Some("NoMethodError"));
        assert_eq!(
            s.frames,
            ["display_name (user.rb)", "show (users_controller.rb)"]
        );
        let dotnet = "System.InvalidOperationException: Sequence contains no elements\n   at System.Linq.Enumerable.First[TSource](IEnumerable`1 source)\n   at Shop.Orders.Service.Load(Int32 id) in C:\\src\\Shop\\Orders\\Service.cs:line 42";
        let s = parse_stack(dotnet);
        assert_eq!(s.ty.as_deref(), Some("System.InvalidOperationException"));
        assert_eq!(
            s.frames,
            [
                "System.Linq.Enumerable.First[TSource] (IEnumerable`<n> source)",
                "Shop.Orders.Service.Load (Service.cs)",
            ]
        );
        let php = "PDOException: SQLSTATE[HY000] [2002] Connection refused\n#0 /var/www/src/Db.php(12): PDO->__construct()\n#1 /var/www/src/Repo.php(30): App\\Db->connect()";
        let s = parse_stack(php);
        assert_eq!(
            s.frames,
            ["PDO->__construct (Db.php)", "App\\Db->connect (Repo.php)"]
        );
    }

    proptest! {
        #[test]
        fn mask_leaves_no_digit(s in "\\PC{0,120}") {
            let masked = mask(&s);
            prop_assert!(!masked.bytes().any(|b| b.is_ascii_digit()), "{masked}");
        }

        #[test]
        fn stack_parsing_never_panics(s in "(\\PC|\n|\t){0,300}") {
            let _ = parse_stack(&s);
            let map = Map::from_iter([("stack_trace".to_string(), Value::String(s.clone()))]);
            let f = fingerprint(&map, &s, true);
            prop_assert!(f.is_some());
        }

        #[test]
        fn masked_values_do_not_change_the_fingerprint(
            n in 0u64..1_000_000_000,
            m in 0u64..1_000_000_000,
            id in "[a-z]{3,8}",
        ) {
            let a = fp(json!({}), &format!("job {n} failed for '{id}'"), true);
            let b = fp(json!({}), &format!("job {m} failed for 'x{id}'"), true);
            prop_assert_eq!(a, b);
        }
    }
}
