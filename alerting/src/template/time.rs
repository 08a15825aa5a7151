//! Go's `time.Time` (in UTC: Argus has no time-zone database) and `time.Duration` as templates
//! print and format them: `Time.String`, `Time.Format` with Go's reference layout,
//! `Duration.String`.

use storage::{civil_from_days, days_from_civil};

/// An instant in UTC, to the nanosecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct GoTime {
    pub(crate) secs: i64,
    pub(crate) nanos: u32,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// The calendar fields of an instant.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    weekday: usize,
    year_day: u32,
}

impl GoTime {
    /// Seconds since the epoch as Prometheus' `toTime`/`humanizeTimestamp` take them: refused
    /// when the nanoseconds overflow int64, kept to the millisecond (Prometheus goes through
    /// `model.Time`).
    pub(crate) fn from_unix_seconds(v: f64) -> Result<GoTime, String> {
        let nanos = v * 1e9;
        if !(nanos >= i64::MIN as f64 && nanos < i64::MAX as f64) {
            return Err(format!(
                "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
                super::fmt::format_float(v, 'g', -1)
            ));
        }
        let millis = (nanos as i64).div_euclid(1_000_000);
        Ok(GoTime::from_unix_millis(millis))
    }

    pub(crate) fn from_unix_millis(millis: i64) -> GoTime {
        GoTime {
            secs: millis.div_euclid(1000),
            nanos: (millis.rem_euclid(1000) * 1_000_000) as u32,
        }
    }

    pub(crate) fn now() -> GoTime {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        GoTime {
            secs: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
            nanos: since.subsec_nanos(),
        }
    }

    pub(crate) fn unix_nanos(self) -> i128 {
        i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos)
    }

    fn civil(self) -> Civil {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month: month as u32,
            day: day as u32,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
            weekday: (days + 4).rem_euclid(7) as usize,
            year_day: (days - days_from_civil(year, 1, 1) + 1) as u32,
        }
    }

    /// Go's `Time.String` for a UTC time: `2015-06-23 13:19:44.128 +0000 UTC`.
    pub(crate) fn go_string(self) -> String {
        self.format("2006-01-02 15:04:05.999999999 -0700 MST")
    }

    /// RFC 3339 text (`2024-01-02T03:04:05.5Z`, or with a numeric offset) to a time.
    pub(crate) fn parse_rfc3339(text: &str) -> Option<GoTime> {
        let b = text.as_bytes();
        let num = |range: std::ops::Range<usize>| -> Option<i64> {
            let s = text.get(range)?;
            s.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| s.parse().ok())?
        };
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return None;
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month)
            || !(1..=31).contains(&day)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return None;
        }
        let mut i = 19;
        let mut nanos = 0u32;
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            i = start;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            let digits = text.get(start..i.min(start + 9))?;
            if digits.is_empty() {
                return None;
            }
            nanos = digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32);
        }
        let offset = match text.get(i..)? {
            "Z" | "z" => 0,
            zone if zone.len() == 6 && matches!(b[i], b'+' | b'-') && b[i + 3] == b':' => {
                let minutes = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
                if b[i] == b'-' { -minutes } else { minutes }
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day);
        Some(GoTime {
            secs: days * 86_400 + hour * 3600 + minute * 60 + second - offset * 60,
            nanos,
        })
    }

    /// Go's `Time.Format` with the reference layout `Mon Jan 2 15:04:05 MST 2006`; zones are
    /// always UTC.
    pub(crate) fn format(self, layout: &str) -> String {
        let c = self.civil();
        let mut out = String::with_capacity(layout.len() + 10);
        let mut rest = layout;
        while let Some(ch) = rest.chars().next() {
            let (piece, len) = self.chunk(&c, rest);
            match piece {
                Some(text) => {
                    out.push_str(&text);
                    rest = &rest[len..];
                }
                None => {
                    out.push(ch);
                    rest = &rest[ch.len_utf8()..];
                }
            }
        }
        out
    }

    /// The layout element at the start of `rest`, formatted, and its length in the layout.
    fn chunk(self, c: &Civil, rest: &str) -> (Option<String>, usize) {
        let lower_follows = |n: usize| {
            rest.get(n..)
                .is_some_and(|r| r.starts_with(|ch: char| ch.is_ascii_lowercase()))
        };
        let hour12 = if c.hour.is_multiple_of(12) {
            12
        } else {
            c.hour % 12
        };
        let table: [(&str, Option<String>); 34] = [
            ("January", Some(MONTHS[c.month as usize - 1].to_owned())),
            (
                "Jan",
                (!lower_follows(3)).then(|| MONTHS[c.month as usize - 1][..3].to_owned()),
            ),
            ("Monday", Some(DAYS[c.weekday].to_owned())),
            (
                "Mon",
                (!lower_follows(3)).then(|| DAYS[c.weekday][..3].to_owned()),
            ),
            ("MST", Some("UTC".to_owned())),
            ("2006", Some(format!("{:04}", c.year))),
            ("2", None),
            ("_2006", Some(format!("_{:04}", c.year))),
            ("__2", Some(format!("{:>3}", c.year_day))),
            ("_2", Some(format!("{:>2}", c.day))),
            ("15", Some(format!("{:02}", c.hour))),
            ("1", None),
            ("002", Some(format!("{:03}", c.year_day))),
            ("01", Some(format!("{:02}", c.month))),
            ("02", Some(format!("{:02}", c.day))),
            ("03", Some(format!("{hour12:02}"))),
            ("04", Some(format!("{:02}", c.minute))),
            ("05", Some(format!("{:02}", c.second))),
            ("06", Some(format!("{:02}", c.year.rem_euclid(100)))),
            ("3", Some(hour12.to_string())),
            ("4", Some(c.minute.to_string())),
            ("5", Some(c.second.to_string())),
            (
                "PM",
                Some(if c.hour >= 12 { "PM" } else { "AM" }.to_owned()),
            ),
            (
                "pm",
                Some(if c.hour >= 12 { "pm" } else { "am" }.to_owned()),
            ),
            ("-07:00:00", Some("+00:00:00".to_owned())),
            ("-070000", Some("+000000".to_owned())),
            ("-07:00", Some("+00:00".to_owned())),
            ("-0700", Some("+0000".to_owned())),
            ("-07", Some("+00".to_owned())),
            ("Z07:00:00", Some("Z".to_owned())),
            ("Z070000", Some("Z".to_owned())),
            ("Z07:00", Some("Z".to_owned())),
            ("Z0700", Some("Z".to_owned())),
            ("Z07", Some("Z".to_owned())),
        ];
        for (token, value) in table {
            if !rest.starts_with(token) {
                continue;
            }
            return match (token, value) {
                ("2", None) => (Some(c.day.to_string()), 1),
                ("1", None) => (Some(c.month.to_string()), 1),
                (_, None) => (None, 0),
                (_, Some(text)) => (Some(text), token.len()),
            };
        }
        // Fractional seconds: `.000` (fixed digits) or `.999` (trailing zeros dropped).
        if let Some(sep @ ('.' | ',')) = rest.chars().next()
            && let Some(digit @ ('0' | '9')) = rest[1..].chars().next()
        {
            let n = rest[1..].chars().take_while(|&d| d == digit).count();
            if !rest[1 + n..].starts_with(|d: char| d.is_ascii_digit()) {
                let digits = format!("{:09}", self.nanos);
                let mut frac = &digits[..n.min(9)];
                if digit == '9' {
                    frac = frac.trim_end_matches('0');
                    if frac.is_empty() {
                        return (Some(String::new()), 1 + n);
                    }
                }
                return (Some(format!("{sep}{frac}")), 1 + n);
            }
        }
        (None, 0)
    }
}

/// Go's `Duration.String`: `1h2m0.5s`, `1m0s`, `1.5ms`, `0s`.
pub(crate) fn duration_string(ns: i64) -> String {
    if ns == 0 {
        return "0s".to_owned();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    let fraction = |value: u64, digits: usize| -> String {
        let scale = 10u64.pow(digits as u32);
        let frac = format!("{:0digits$}", value % scale);
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            (value / scale).to_string()
        } else {
            format!("{}.{frac}", value / scale)
        }
    };
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    if u < 1_000_000 {
        return format!("{sign}{}µs", fraction(u, 3));
    }
    if u < 1_000_000_000 {
        return format!("{sign}{}ms", fraction(u, 6));
    }
    let secs = fraction(u % 60_000_000_000, 9);
    let minutes = u / 60_000_000_000;
    if minutes == 0 {
        return format!("{sign}{secs}s");
    }
    if minutes < 60 {
        return format!("{sign}{minutes}m{secs}s");
    }
    format!("{sign}{}h{}m{secs}s", minutes / 60, minutes % 60)
}
