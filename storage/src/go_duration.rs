//! Go's duration syntax (`time.ParseDuration`), which the ecosystem's formats use: statsd_exporter
//! mapping files (`ttl`), the Jaeger query API (`lookback`, `minDuration`).

/// Go's `time.ParseDuration` in nanoseconds: an optional sign, then one or more decimal
/// numbers (with an optional fraction) each followed by a unit, `ns`, `us` (`µs`, `μs`),
/// `ms`, `s`, `m`, `h`; `0` alone needs no unit. With `days`, also `d` and `w`, which the
/// Jaeger UI's `lookback` uses (`2d`, `7d`). `None` when it does not parse or overflows.
pub fn go_duration_ns(s: &str, days: bool) -> Option<i64> {
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, after) = rest.split_at(int_len);
        let (frac_digits, after) = match after.strip_prefix('.') {
            Some(tail) => {
                let frac_len = tail.bytes().take_while(u8::is_ascii_digit).count();
                tail.split_at(frac_len)
            }
            None => ("", after),
        };
        if int_digits.is_empty() && frac_digits.is_empty() {
            return None;
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, tail) = after.split_at(unit_len);
        let unit_ns: u64 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3600 * 1_000_000_000,
            "d" if days => 86_400 * 1_000_000_000,
            "w" if days => 7 * 86_400 * 1_000_000_000,
            _ => return None,
        };
        let int: u64 = if int_digits.is_empty() {
            0
        } else {
            int_digits.parse().ok()?
        };
        let mut ns = int.checked_mul(unit_ns)?;
        // The fraction, digit by digit as Go does, so `1.5h` is exact; digits beyond
        // nanosecond precision add nothing.
        let mut scale = unit_ns;
        for d in frac_digits.bytes() {
            scale /= 10;
            if scale == 0 {
                break;
            }
            ns = ns.checked_add(u64::from(d - b'0') * scale)?;
        }
        total = total.checked_add(ns)?;
        rest = tail;
    }
    let total = i64::try_from(total).ok()?;
    Some(if negative { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS_PER_SEC: i64 = 1_000_000_000;
    const MS: i64 = 1_000_000;

    #[test]
    fn go_durations() {
        let ok = |s: &str| go_duration_ns(s, false).unwrap_or_else(|| panic!("{s}"));
        assert_eq!(ok("0"), 0);
        assert_eq!(ok("1.2s"), 1200 * MS);
        assert_eq!(ok("100ms"), 100 * MS);
        assert_eq!(ok("500us"), 500_000);
        assert_eq!(ok("500µs"), 500_000);
        assert_eq!(ok("500μs"), 500_000);
        assert_eq!(ok("7ns"), 7);
        assert_eq!(ok("1h30m"), 5400 * 1000 * MS);
        assert_eq!(ok("1.5h"), 5400 * 1000 * MS);
        assert_eq!(ok(".5s"), 500 * MS);
        assert_eq!(ok("1.s"), 1000 * MS);
        assert_eq!(ok("+2m"), 120 * 1000 * MS);
        assert_eq!(ok("-2m"), -120 * 1000 * MS);
        assert_eq!(ok("1.0000000009s"), NS_PER_SEC);
        assert_eq!(ok("2562047h"), 2_562_047 * 3600 * NS_PER_SEC);
        for bad in [
            "",
            "abc",
            "1",
            "1x",
            "s",
            ".s",
            "1..2s",
            "1d",
            "1w",
            "-",
            "1s ",
            " 1s",
            "3000000h",
            "99999999999999999999ns",
        ] {
            assert_eq!(go_duration_ns(bad, false), None, "{bad:?}");
        }
        assert_eq!(go_duration_ns("2d", true), Some(2 * 86_400 * NS_PER_SEC));
        assert_eq!(go_duration_ns("1w1d", true), Some(8 * 86_400 * NS_PER_SEC));
    }
}
