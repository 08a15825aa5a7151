//! Go's `fmt` as templates reach it: `%v` printing of values, `print`/`println`, and `printf`
//! with Go's verbs, flags, widths and precisions, byte for byte (`strconv.FormatFloat` for
//! floats, `%!verb(type=value)` for mismatches).

use std::fmt::Write as _;

use super::time::duration_string;
use super::value::Value;

/// Decimal digits of a finite non-negative float and the position of the decimal point
/// (`0.00123` is digits `123`, point `-2`), as Go's `decimalSlice`; zero has no digits.
struct Digits {
    digits: Vec<u8>,
    point: i32,
}

/// `precision`: significant digits, or `None` for the shortest that round-trips.
fn digits(v: f64, precision: Option<usize>) -> Digits {
    if v == 0.0 {
        return Digits {
            digits: Vec::new(),
            point: 0,
        };
    }
    let text = match precision {
        None => format!("{v:e}"),
        Some(p) => format!("{:.*e}", p.saturating_sub(1), v),
    };
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    Digits {
        digits,
        point: exponent.parse::<i32>().unwrap_or(0) + 1,
    }
}

fn push_exponent(out: &mut String, letter: char, exp: i32) {
    out.push(letter);
    out.push(if exp < 0 { '-' } else { '+' });
    let exp = exp.unsigned_abs();
    if exp < 10 {
        out.push('0');
    }
    let _ = write!(out, "{exp}");
}

/// `%e` from digits, with `precision` digits after the point.
fn fmt_e(out: &mut String, d: &Digits, precision: usize, letter: char) {
    out.push(d.digits.first().map_or('0', |&c| char::from(c)));
    if precision > 0 {
        out.push('.');
        for i in 1..=precision {
            out.push(d.digits.get(i).map_or('0', |&c| char::from(c)));
        }
    }
    let exp = if d.digits.is_empty() { 0 } else { d.point - 1 };
    push_exponent(out, letter, exp);
}

/// `%f` from digits, with `precision` digits after the point.
fn fmt_f(out: &mut String, d: &Digits, precision: usize) {
    if d.point > 0 {
        for i in 0..d.point as usize {
            out.push(d.digits.get(i).map_or('0', |&c| char::from(c)));
        }
    } else {
        out.push('0');
    }
    if precision > 0 {
        out.push('.');
        for i in 1..=precision as i32 {
            let j = d.point + i - 1;
            let c = usize::try_from(j)
                .ok()
                .and_then(|j| d.digits.get(j))
                .map_or('0', |&c| char::from(c));
            out.push(c);
        }
    }
}

/// Go's `strconv.FormatFloat(v, fmt, prec, 64)` for `fmt` in `eEfFgG`; `prec < 0` is the
/// shortest representation.
pub(crate) fn format_float(v: f64, fmt: char, prec: i32) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let mut out = String::new();
    if v.is_sign_negative() {
        out.push('-');
    }
    let v = v.abs();
    let shortest = prec < 0;
    match fmt {
        'f' | 'F' if !shortest => {
            let _ = write!(out, "{:.*}", prec as usize, v);
        }
        'f' | 'F' => {
            let d = digits(v, None);
            fmt_f(
                &mut out,
                &d,
                (d.digits.len() as i32 - d.point).max(0) as usize,
            );
        }
        'e' | 'E' => {
            let d = if shortest {
                digits(v, None)
            } else {
                digits_fixed(v, prec as usize + 1)
            };
            let precision = if shortest {
                d.digits.len().saturating_sub(1)
            } else {
                prec as usize
            };
            fmt_e(&mut out, &d, precision, if fmt == 'E' { 'E' } else { 'e' });
        }
        _ => {
            let letter = if fmt == 'G' { 'E' } else { 'e' };
            let d = if shortest {
                digits(v, None)
            } else {
                digits(v, Some(prec.max(1) as usize))
            };
            let nd = d.digits.len() as i32;
            let mut prec = if shortest { nd } else { prec.max(1) };
            let mut eprec = prec;
            if eprec > nd && nd >= d.point {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = d.point - 1;
            if exp < -4 || exp >= eprec {
                if prec > nd {
                    prec = nd;
                }
                fmt_e(&mut out, &d, (prec - 1).max(0) as usize, letter);
            } else {
                if prec > d.point {
                    prec = nd;
                }
                fmt_f(&mut out, &d, (prec - d.point).max(0) as usize);
            }
        }
    }
    out
}

/// Exactly `n` significant digits, trailing zeros kept (for `%e` with a precision).
fn digits_fixed(v: f64, n: usize) -> Digits {
    let mut d = digits(v, Some(n));
    if !d.digits.is_empty() {
        d.digits.resize(n, b'0');
    }
    d
}

/// Go's `fmt.Sprint` of one value (`%v`).
pub(crate) fn write_value(out: &mut String, value: &Value) {
    format_value(out, value, &Spec::default(), 'v');
}

pub(crate) fn value_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

/// `fmt.Sprint`: a space between operands when neither side is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, arg) in args.iter().enumerate() {
        let is_string = matches!(arg, Value::Str(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        write_value(&mut out, arg);
        prev_string = is_string;
    }
    out
}

/// `fmt.Sprintln`: spaces between all operands and a newline.
pub(crate) fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_value(&mut out, arg);
    }
    out.push('\n');
    out
}

/// Go's `strconv.Quote`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() || c == '\u{ad}' || c.is_whitespace() && c != ' ' => {
                let code = c as u32;
                if code < 0x10000 {
                    let _ = write!(out, "\\u{code:04x}");
                } else {
                    let _ = write!(out, "\\U{code:08x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Flags, width and precision of one `printf` directive.
#[derive(Debug, Default, Clone)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

impl Spec {
    /// Pads to the width with spaces, or zeros when asked (left side only).
    fn pad(&self, out: &mut String, text: &str) {
        let len = text.chars().count();
        let fill = self.width.unwrap_or(0).saturating_sub(len);
        if fill == 0 {
            out.push_str(text);
        } else if self.minus {
            out.push_str(text);
            out.extend(std::iter::repeat_n(' ', fill));
        } else {
            let c = if self.zero { '0' } else { ' ' };
            out.extend(std::iter::repeat_n(c, fill));
            out.push_str(text);
        }
    }
}

/// Go's `fmt.Sprintf`.
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::with_capacity(format.len() + 16);
    let mut next_arg = 0usize;
    let mut reordered = false;
    let mut chars = format.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&(_, f)) = chars.peek() {
            match f {
                '-' => {
                    spec.minus = true;
                    spec.zero = false;
                }
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = !spec.minus,
                _ => break,
            }
            chars.next();
        }
        let mut bad_index = false;
        // An explicit argument index: `%[2]d`.
        let mut arg_index = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
                             next_arg: &mut usize,
                             bad_index: &mut bool| {
            if chars.peek().map(|&(_, c)| c) != Some('[') {
                return;
            }
            chars.next();
            let mut n = String::new();
            while let Some(&(_, d)) = chars.peek() {
                chars.next();
                if d == ']' {
                    match n.parse::<usize>() {
                        Ok(i) if i >= 1 && i <= args.len() => *next_arg = i - 1,
                        _ => *bad_index = true,
                    }
                    reordered = true;
                    return;
                }
                n.push(d);
            }
            *bad_index = true;
        };
        arg_index(&mut chars, &mut next_arg, &mut bad_index);
        // Width: digits or `*`.
        if chars.peek().map(|&(_, c)| c) == Some('*') {
            chars.next();
            match args.get(next_arg) {
                Some(Value::Int(w)) => {
                    if *w < 0 {
                        spec.minus = true;
                        spec.zero = false;
                    }
                    spec.width = Some(w.unsigned_abs().min(1 << 20) as usize);
                }
                _ => out.push_str("%!(BADWIDTH)"),
            }
            next_arg += 1;
        } else {
            spec.width = read_number(&mut chars);
        }
        if chars.peek().map(|&(_, c)| c) == Some('.') {
            chars.next();
            arg_index(&mut chars, &mut next_arg, &mut bad_index);
            if chars.peek().map(|&(_, c)| c) == Some('*') {
                chars.next();
                match args.get(next_arg) {
                    Some(Value::Int(p)) if *p >= 0 => {
                        spec.precision = Some((*p).min(1 << 20) as usize);
                    }
                    _ => out.push_str("%!(BADPREC)"),
                }
                next_arg += 1;
            } else {
                spec.precision = Some(read_number(&mut chars).unwrap_or(0));
            }
        }
        arg_index(&mut chars, &mut next_arg, &mut bad_index);
        let Some((_, verb)) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        if bad_index {
            let _ = write!(out, "%!{verb}(BADINDEX)");
            continue;
        }
        let Some(arg) = args.get(next_arg) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        next_arg += 1;
        format_value(&mut out, arg, &spec, verb);
    }
    if !reordered && next_arg < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, arg) in args[next_arg..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            match arg {
                Value::Nil => out.push_str("<nil>"),
                arg => {
                    out.push_str(arg.type_name());
                    out.push('=');
                    write_value(&mut out, arg);
                }
            }
        }
        out.push(')');
    }
    out
}

fn read_number(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(&(_, d)) = chars.peek() {
        let Some(digit) = d.to_digit(10) else { break };
        chars.next();
        n = Some((n.unwrap_or(0) * 10 + digit as usize).min(1 << 20));
    }
    n
}

fn bad_verb(out: &mut String, value: &Value, verb: char) {
    match value {
        Value::Nil => {
            let _ = write!(out, "%!{verb}(<nil>)");
        }
        value => {
            let _ = write!(out, "%!{verb}({}=", value.type_name());
            write_value(out, value);
            out.push(')');
        }
    }
}

/// One value under one verb, as Go's `printArg`.
fn format_value(out: &mut String, value: &Value, spec: &Spec, verb: char) {
    match value {
        Value::Nil => match verb {
            'v' => spec.pad(out, "<nil>"),
            _ => bad_verb(out, value, verb),
        },
        Value::Bool(b) => match verb {
            't' | 'v' => spec.pad(out, if *b { "true" } else { "false" }),
            _ => bad_verb(out, value, verb),
        },
        Value::Int(i) => format_integer(out, value, i128::from(*i), spec, verb),
        Value::Uint(u) => format_integer(out, value, i128::from(*u), spec, verb),
        Value::Float(f) => match verb {
            'v' => format_float_spec(out, *f, spec, 'g', -1),
            'e' | 'E' | 'f' | 'F' => format_float_spec(out, *f, spec, verb, 6),
            'g' | 'G' => format_float_spec(out, *f, spec, verb, -1),
            _ => bad_verb(out, value, verb),
        },
        Value::Str(s) => format_string(out, value, s, spec, verb),
        Value::Time(t) => stringer(out, value, &t.go_string(), spec, verb),
        Value::Duration(ns) => match verb {
            'd' => format_integer(out, value, i128::from(*ns), spec, verb),
            _ => stringer(out, value, &duration_string(*ns), spec, verb),
        },
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                format_value(out, item, spec, verb);
            }
            out.push(']');
        }
        Value::Map(map, _) => {
            out.push_str("map[");
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                format_value(out, &Value::str(k), spec, verb);
                out.push(':');
                format_value(out, v, spec, verb);
            }
            out.push(']');
        }
    }
}

/// Types with a `String` method print it under the string verbs.
fn stringer(out: &mut String, value: &Value, text: &str, spec: &Spec, verb: char) {
    match verb {
        'v' | 's' | 'q' | 'x' | 'X' => format_string(out, value, text, spec, verb),
        _ => bad_verb(out, value, verb),
    }
}

fn format_string(out: &mut String, value: &Value, s: &str, spec: &Spec, verb: char) {
    let truncated: String;
    let s = match spec.precision {
        Some(p) if matches!(verb, 'v' | 's' | 'q') => {
            truncated = s.chars().take(p).collect();
            &truncated
        }
        _ => s,
    };
    match verb {
        'v' | 's' => spec.pad(out, s),
        'q' => spec.pad(out, &quote(s)),
        'x' | 'X' => {
            let mut hex = String::new();
            let bytes = match spec.precision {
                Some(p) => &s.as_bytes()[..p.min(s.len())],
                None => s.as_bytes(),
            };
            for (i, b) in bytes.iter().enumerate() {
                if i > 0 && spec.space {
                    hex.push(' ');
                }
                if spec.sharp && (i == 0 || spec.space) {
                    hex.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                if verb == 'x' {
                    let _ = write!(hex, "{b:02x}");
                } else {
                    let _ = write!(hex, "{b:02X}");
                }
            }
            spec.pad(out, &hex);
        }
        _ => bad_verb(out, value, verb),
    }
}

fn format_integer(out: &mut String, value: &Value, n: i128, spec: &Spec, verb: char) {
    let magnitude = n.unsigned_abs();
    let (mut digits, prefix) = match verb {
        'v' | 'd' => (magnitude.to_string(), ""),
        'b' => (format!("{magnitude:b}"), if spec.sharp { "0b" } else { "" }),
        'o' => (format!("{magnitude:o}"), if spec.sharp { "0" } else { "" }),
        'O' => (format!("{magnitude:o}"), "0o"),
        'x' => (format!("{magnitude:x}"), if spec.sharp { "0x" } else { "" }),
        'X' => (format!("{magnitude:X}"), if spec.sharp { "0X" } else { "" }),
        'c' => {
            let c = u32::try_from(n)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            spec.pad(out, &c.to_string());
            return;
        }
        'q' => {
            let c = u32::try_from(n)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            let quoted = quote(&c.to_string());
            let inner = &quoted[1..quoted.len() - 1];
            let inner = if inner == "\\\"" {
                "\""
            } else if inner == "'" {
                "\\'"
            } else {
                inner
            };
            spec.pad(out, &format!("'{inner}'"));
            return;
        }
        'U' => {
            let text = format!("U+{magnitude:04X}");
            spec.pad(out, &text);
            return;
        }
        _ => {
            bad_verb(out, value, verb);
            return;
        }
    };
    let sign = if n < 0 {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    let mut min_digits = spec.precision;
    if min_digits.is_none()
        && spec.zero
        && !spec.minus
        && let Some(width) = spec.width
    {
        min_digits = Some(width.saturating_sub(sign.len() + prefix.len()));
    }
    if let Some(min) = min_digits {
        if min == 0 && magnitude == 0 && spec.precision.is_some() {
            digits.clear();
        }
        if digits.len() < min {
            digits.insert_str(0, &"0".repeat(min - digits.len()));
        }
    }
    let text = format!("{sign}{prefix}{digits}");
    let unpadded = Spec {
        zero: false,
        ..spec.clone()
    };
    unpadded.pad(out, &text);
}

fn format_float_spec(out: &mut String, v: f64, spec: &Spec, verb: char, default_prec: i32) {
    let prec = spec
        .precision
        .map_or(default_prec, |p| p.min(1 << 16) as i32);
    let fmt = if verb == 'v' { 'g' } else { verb };
    let mut num = format_float(v, fmt, prec);
    if !num.starts_with(['-', '+']) {
        num.insert(0, '+');
    }
    if spec.space && num.starts_with('+') && !spec.plus {
        num.replace_range(0..1, " ");
    }
    if num[1..].starts_with(['I', 'N']) {
        if num[1..].starts_with('N') && !spec.space && !spec.plus {
            num.remove(0);
        }
        let no_zero = Spec {
            zero: false,
            ..spec.clone()
        };
        no_zero.pad(out, &num);
        return;
    }
    if spec.plus || !num.starts_with('+') {
        let width = spec.width.unwrap_or(0);
        if spec.zero && !spec.minus && width > num.len() {
            out.push_str(&num[..1]);
            out.extend(std::iter::repeat_n('0', width - num.len()));
            out.push_str(&num[1..]);
            return;
        }
        spec.pad(out, &num);
        return;
    }
    spec.pad(out, &num[1..]);
}
