//! Functions applied to each sample of an instant vector on its own (`abs`, `round`, `hour`, …).
//!
//! Each follows Prometheus' float implementation, including its corner cases: `clamp` with
//! `min > max` drops every sample, `math.Max`/`math.Min` semantics for NaN and infinities, and
//! the date functions reading a value through Go's `time.Unix(int64(v), 0).UTC()`, whose
//! arithmetic is reproduced here so that even NaN, infinities and out-of-range seconds give the
//! same (odd) dates as Prometheus on amd64.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ElementFunction {
    Abs,
    Ceil,
    Floor,
    Exp,
    Sqrt,
    Ln,
    Log2,
    Log10,
    Sgn,
    Acos,
    Acosh,
    Asin,
    Asinh,
    Atan,
    Atanh,
    Cos,
    Cosh,
    Sin,
    Sinh,
    Tan,
    Tanh,
    Deg,
    Rad,
    Round,
    Clamp,
    ClampMin,
    ClampMax,
    DayOfMonth,
    DayOfWeek,
    DayOfYear,
    DaysInMonth,
    Hour,
    Minute,
    Month,
    Year,
}

impl ElementFunction {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        use ElementFunction::*;
        Some(match name {
            "abs" => Abs,
            "ceil" => Ceil,
            "floor" => Floor,
            "exp" => Exp,
            "sqrt" => Sqrt,
            "ln" => Ln,
            "log2" => Log2,
            "log10" => Log10,
            "sgn" => Sgn,
            "acos" => Acos,
            "acosh" => Acosh,
            "asin" => Asin,
            "asinh" => Asinh,
            "atan" => Atan,
            "atanh" => Atanh,
            "cos" => Cos,
            "cosh" => Cosh,
            "sin" => Sin,
            "sinh" => Sinh,
            "tan" => Tan,
            "tanh" => Tanh,
            "deg" => Deg,
            "rad" => Rad,
            "round" => Round,
            "clamp" => Clamp,
            "clamp_min" => ClampMin,
            "clamp_max" => ClampMax,
            "day_of_month" => DayOfMonth,
            "day_of_week" => DayOfWeek,
            "day_of_year" => DayOfYear,
            "days_in_month" => DaysInMonth,
            "hour" => Hour,
            "minute" => Minute,
            "month" => Month,
            "year" => Year,
            _ => return None,
        })
    }

    /// The function of one value; `params` are the scalar arguments at this step after the
    /// vector (`round`: `[to_nearest]`, `clamp`: `[min, max]`). `None` drops the sample.
    ///
    /// `None` also when a required parameter is missing (an evaluator bug, not a user error);
    /// `round` without a parameter rounds to 1.
    pub(crate) fn apply(self, v: f64, params: &[f64]) -> Option<f64> {
        use ElementFunction::*;
        let value = match self {
            Abs => v.abs(),
            Ceil => v.ceil(),
            Floor => v.floor(),
            Exp => v.exp(),
            Sqrt => v.sqrt(),
            Ln => v.ln(),
            Log2 => v.log2(),
            Log10 => v.log10(),
            // Zeros (keeping their sign) and NaN pass through unchanged.
            Sgn => {
                if v < 0.0 {
                    -1.0
                } else if v > 0.0 {
                    1.0
                } else {
                    v
                }
            }
            Acos => v.acos(),
            Acosh => v.acosh(),
            Asin => v.asin(),
            Asinh => v.asinh(),
            Atan => v.atan(),
            Atanh => v.atanh(),
            Cos => v.cos(),
            Cosh => v.cosh(),
            Sin => v.sin(),
            Sinh => v.sinh(),
            Tan => v.tan(),
            Tanh => v.tanh(),
            // Multiplication first, then the division, as Prometheus writes it.
            Deg => v * 180.0 / std::f64::consts::PI,
            Rad => v * std::f64::consts::PI / 180.0,
            Round => round(v, params.first().copied().unwrap_or(1.0)),
            Clamp => {
                let (min, max) = (*params.first()?, *params.get(1)?);
                // An impossible range empties the whole vector rather than yielding NaN.
                if max < min {
                    return None;
                }
                clamp(v, min, max)
            }
            ClampMin => clamp(v, *params.first()?, f64::INFINITY),
            ClampMax => clamp(v, f64::NEG_INFINITY, *params.first()?),
            DayOfMonth | DayOfWeek | DayOfYear | DaysInMonth | Hour | Minute | Month | Year => {
                return self.apply_to_unix_seconds(go_f64_to_i64(v));
            }
        };
        Some(value)
    }

    /// A date function of a time in whole seconds since the Unix epoch (UTC), for the
    /// argument-less forms such as `hour()` (Prometheus uses the evaluation time in ms divided
    /// by 1000, truncated). `None` for functions that are not date functions.
    pub(crate) fn apply_to_unix_seconds(self, seconds: i64) -> Option<f64> {
        use ElementFunction::*;
        let t = GoTime::from_unix(seconds);
        let value = match self {
            DayOfMonth => t.day(),
            DayOfWeek => t.weekday(),
            DayOfYear => t.year_day(),
            DaysInMonth => t.days_in_month(),
            Hour => t.hour(),
            Minute => t.minute(),
            Month => t.month(),
            Year => t.year(),
            _ => return None,
        };
        Some(value as f64)
    }
}

/// `round(v, to_nearest)`: ties go up (towards +Inf). Prometheus multiplies by the inverse
/// instead of dividing by `to_nearest`, which it found to produce fewer representation errors
/// (e.g. for 0.1).
fn round(v: f64, to_nearest: f64) -> f64 {
    let inverse = 1.0 / to_nearest;
    (v * inverse + 0.5).floor() / inverse
}

/// `math.Max(min, math.Min(max, v))` with Go's special cases, which differ from Rust's
/// `f64::max`/`f64::min` (those ignore a NaN operand).
fn clamp(v: f64, min: f64, max: f64) -> f64 {
    go_max(min, go_min(max, v))
}

/// Go's `math.Max`: +Inf wins over everything (even NaN), then NaN wins, and +0 beats -0.
fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        f64::INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && y == 0.0 {
        if x.is_sign_negative() { y } else { x }
    } else if x > y {
        x
    } else {
        y
    }
}

/// Go's `math.Min`: -Inf wins over everything (even NaN), then NaN wins, and -0 beats +0.
fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && y == 0.0 {
        if x.is_sign_negative() { x } else { y }
    } else if x < y {
        x
    } else {
        y
    }
}

/// Go's `int64(v)` as compiled for amd64 (`CVTTSD2SQ`): truncation towards zero, and the
/// "integer indefinite" value `i64::MIN` for NaN, ±Inf and anything outside the i64 range.
/// (Rust's `as` saturates instead. arm64 builds of Prometheus saturate as well, so for NaN and
/// out-of-range values the two Prometheus builds disagree; amd64 is the reference here.)
fn go_f64_to_i64(v: f64) -> i64 {
    // 2^63 is exactly representable; every finite value in [-2^63, 2^63) converts.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if v.is_nan() || !(-LIMIT..LIMIT).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

const SECONDS_PER_MINUTE: u64 = 60;
const SECONDS_PER_HOUR: u64 = 60 * SECONDS_PER_MINUTE;
const SECONDS_PER_DAY: u64 = 24 * SECONDS_PER_HOUR;
/// Days from March 1 through the end of the year: Go's absolute calendar starts years in March
/// so that leap days fall at the end of a year.
const MARCH_THRU_DECEMBER: u64 = 31 + 30 + 31 + 30 + 31 + 31 + 30 + 31 + 30 + 31;
/// Years between Go's absolute zero instant and year 0; a multiple of 400 so the leap-year
/// cycle lines up.
const ABSOLUTE_YEARS: u64 = 292_277_022_400;
/// Seconds from January 1, year 1 to the Unix epoch.
const UNIX_TO_INTERNAL: i64 = (1969 * 365 + 1969 / 4 - 1969 / 100 + 1969 / 400) * 86_400;
/// Seconds from the absolute zero instant to January 1, year 1 (365.2425 days a year is exact
/// over 400-year multiples).
const INTERNAL_TO_ABSOLUTE: i64 =
    ((ABSOLUTE_YEARS / 400 * 146_097 + MARCH_THRU_DECEMBER) * SECONDS_PER_DAY) as i64;
const UNIX_TO_ABSOLUTE: i64 = UNIX_TO_INTERNAL + INTERNAL_TO_ABSOLUTE;

/// A UTC instant as Go's `time.Time` presents it, with Go's calendar arithmetic (Go 1.23+,
/// Neri–Schneider).
///
/// Go counts from an "absolute zero" instant, March 1 of year -292277022400, in unsigned 64-bit
/// seconds, so instants beyond about ±292 billion years wrap around. Reproducing the exact
/// integer operations, wrapping included, gives Prometheus' answer for every int64 second, e.g.
/// year 292277026596 for `int64(NaN)`; for ordinary times it is the proleptic Gregorian
/// calendar.
#[derive(Debug, Clone, Copy)]
struct GoTime {
    abs: u64,
}

/// A day split the way Go splits it: centuries since the absolute zero, year within the
/// century, and day within the (March-based) year.
struct SplitDay {
    century: u64,
    cyear: u32,
    ayday: u32,
}

impl GoTime {
    fn from_unix(seconds: i64) -> Self {
        Self {
            abs: seconds.wrapping_add(UNIX_TO_ABSOLUTE) as u64,
        }
    }

    fn days(self) -> u64 {
        self.abs / SECONDS_PER_DAY
    }

    fn split(days: u64) -> SplitDay {
        let d = 4 * days + 3;
        let century = d / 146_097;
        let cd = ((d % 146_097) as u32) | 3;
        // (4·cday + 3) / 1461 and its remainder via one 32×32→64 multiplication.
        let product = 2_939_745u64 * u64::from(cd);
        SplitDay {
            century,
            cyear: (product >> 32) as u32,
            ayday: (product as u32) / 2_939_745 / 4,
        }
    }

    /// (month counted from March = 3, 1-based day of month) for a March-based day of year.
    fn split_ayday(ayday: u32) -> (i64, i64) {
        let d = 2141u32.wrapping_mul(ayday).wrapping_add(197_913);
        (i64::from(d >> 16), 1 + i64::from((d & 0xFFFF) / 2141))
    }

    fn jan_feb(ayday: u32) -> i64 {
        i64::from(u64::from(ayday) >= MARCH_THRU_DECEMBER)
    }

    fn year_of(split: &SplitDay) -> i64 {
        (split.century.wrapping_mul(100).wrapping_sub(ABSOLUTE_YEARS) as i64)
            .wrapping_add(i64::from(split.cyear))
            .wrapping_add(Self::jan_feb(split.ayday))
    }

    fn year(self) -> i64 {
        Self::year_of(&Self::split(self.days()))
    }

    fn month_of(days: u64) -> i64 {
        let ayday = Self::split(days).ayday;
        let (amonth, _) = Self::split_ayday(ayday);
        amonth - 12 * Self::jan_feb(ayday)
    }

    fn month(self) -> i64 {
        Self::month_of(self.days())
    }

    fn day_of(days: u64) -> i64 {
        Self::split_ayday(Self::split(days).ayday).1
    }

    fn day(self) -> i64 {
        Self::day_of(self.days())
    }

    /// 0 = Sunday. The absolute zero instant was a Wednesday.
    fn weekday(self) -> i64 {
        (self.days().wrapping_add(3) % 7) as i64
    }

    fn year_day(self) -> i64 {
        let s = Self::split(self.days());
        let jan_feb = Self::jan_feb(s.ayday);
        let leap =
            i64::from(s.cyear.is_multiple_of(4) && (s.cyear != 0 || s.century.is_multiple_of(4)));
        i64::from(s.ayday) + (1 + 31 + 28) + (leap & !jan_feb) - 365 * jan_feb
    }

    fn hour(self) -> i64 {
        ((self.abs % SECONDS_PER_DAY) / SECONDS_PER_HOUR) as i64
    }

    fn minute(self) -> i64 {
        ((self.abs % SECONDS_PER_HOUR) / SECONDS_PER_MINUTE) as i64
    }

    /// Prometheus computes this as `32 - time.Date(year, month, 32, …).Day()`: day 32 of a
    /// month normalises into the next month, and how far tells the month's length.
    fn days_in_month(self) -> i64 {
        let days = self.days();
        let year = Self::year_of(&Self::split(days));
        let month = Self::month_of(days);
        // time.Date → absolute seconds → Day(); the Unix offsets added and removed on the way
        // cancel (modulo 2^64), leaving the day count times 86400.
        let day32 = Self::date_to_abs_days(year, month, 32);
        let abs = day32.wrapping_mul(SECONDS_PER_DAY);
        32 - Self::day_of(abs / SECONDS_PER_DAY)
    }

    /// Go's `dateToAbsDays` for a month in 1..=12 (what `time.Date` passes after normalising).
    fn date_to_abs_days(year: i64, month: i64, day: i64) -> u64 {
        let mut amonth = month as u32;
        let jan_feb = u32::from(amonth < 3);
        amonth += 12 * jan_feb;
        let y = (year as u64)
            .wrapping_sub(u64::from(jan_feb))
            .wrapping_add(ABSOLUTE_YEARS);
        let ayday = 979u32.wrapping_mul(amonth).wrapping_sub(2919) >> 5;
        let century = y / 100;
        let cyear = (y % 100) as u32;
        let cday = 1461 * cyear / 4;
        let century_days = 146_097u64.wrapping_mul(century) / 4;
        century_days.wrapping_add(
            (i64::from(cday.wrapping_add(ayday)))
                .wrapping_add(day)
                .wrapping_sub(1) as u64,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ElementFunction as F;
    use proptest::prelude::*;

    fn apply(f: F, v: f64, params: &[f64]) -> Option<f64> {
        f.apply(v, params)
    }

    #[test]
    fn names_round_trip() {
        for name in [
            "abs",
            "ceil",
            "floor",
            "exp",
            "sqrt",
            "ln",
            "log2",
            "log10",
            "sgn",
            "acos",
            "acosh",
            "asin",
            "asinh",
            "atan",
            "atanh",
            "cos",
            "cosh",
            "sin",
            "sinh",
            "tan",
            "tanh",
            "deg",
            "rad",
            "round",
            "clamp",
            "clamp_min",
            "clamp_max",
            "day_of_month",
            "day_of_week",
            "day_of_year",
            "days_in_month",
            "hour",
            "minute",
            "month",
            "year",
        ] {
            assert!(F::from_name(name).is_some(), "{name}");
        }
        assert_eq!(F::from_name("rate"), None);
        assert_eq!(F::from_name("histogram_quantile"), None);
    }

    // functions.test, "Test for abs, ceil(), floor(), round()".
    #[test]
    fn rounding_functions() {
        let inputs = [
            2.5,
            2.0,
            -2.5,
            -2.0,
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let ceil = [
            3.0,
            2.0,
            -2.0,
            -2.0,
            0.0,
            0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let floor = [
            2.0,
            2.0,
            -3.0,
            -2.0,
            0.0,
            0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let round = [
            3.0,
            2.0,
            -2.0,
            -2.0,
            0.0,
            0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for (i, v) in inputs.into_iter().enumerate() {
            assert_eq!(apply(F::Ceil, v, &[]), Some(ceil[i]));
            assert_eq!(apply(F::Floor, v, &[]), Some(floor[i]));
            assert_eq!(apply(F::Round, v, &[1.0]), Some(round[i]));
            assert_eq!(apply(F::Round, v, &[]), Some(round[i]));
            assert_eq!(apply(F::Abs, v, &[]), Some(v.abs()));
        }
        for f in [F::Ceil, F::Floor, F::Round, F::Abs] {
            assert!(apply(f, f64::NAN, &[]).is_some_and(f64::is_nan));
        }
        assert_eq!(apply(F::Round, 1.234, &[0.1]), Some(1.2));
        assert_eq!(apply(F::Round, 1.25, &[0.1]), Some(1.3));
        assert_eq!(apply(F::Round, 17.0, &[5.0]), Some(15.0));
        assert_eq!(apply(F::Round, 17.5, &[5.0]), Some(20.0));
    }

    // functions.test, "Tests for clamp_max, clamp_min(), and clamp()".
    #[test]
    fn clamping() {
        let values = [-50.0, 0.0, 100.0];
        let cases: [(F, &[f64], [f64; 3]); 3] = [
            (F::ClampMax, &[75.0], [-50.0, 0.0, 75.0]),
            (F::ClampMin, &[-25.0], [-25.0, 0.0, 100.0]),
            (F::Clamp, &[-25.0, 75.0], [-25.0, 0.0, 75.0]),
        ];
        for (f, params, want) in cases {
            for (v, w) in values.iter().zip(want) {
                assert_eq!(apply(f, *v, params), Some(w), "{f:?}({v}, {params:?})");
            }
        }
        for v in values {
            assert!(apply(F::Clamp, v, &[0.0, f64::NAN]).is_some_and(f64::is_nan));
            assert!(apply(F::Clamp, v, &[f64::NAN, 0.0]).is_some_and(f64::is_nan));
            assert_eq!(apply(F::Clamp, v, &[5.0, -5.0]), None);
        }
        // Go's math.Max/Min: the infinities beat NaN.
        assert_eq!(
            apply(F::ClampMin, f64::NAN, &[f64::INFINITY]),
            Some(f64::INFINITY)
        );
        assert_eq!(
            apply(F::ClampMax, f64::NAN, &[f64::NEG_INFINITY]),
            Some(f64::NEG_INFINITY)
        );
        assert!(apply(F::ClampMin, f64::NAN, &[0.0]).is_some_and(f64::is_nan));
        assert_eq!(apply(F::Clamp, 1.0, &[]), None);
        assert_eq!(apply(F::ClampMin, 1.0, &[]), None);
    }

    // functions.test, "Test cases for sgn".
    #[test]
    fn sign() {
        assert_eq!(apply(F::Sgn, f64::NEG_INFINITY, &[]), Some(-1.0));
        assert_eq!(apply(F::Sgn, f64::INFINITY, &[]), Some(1.0));
        assert!(apply(F::Sgn, f64::NAN, &[]).is_some_and(f64::is_nan));
        assert_eq!(apply(F::Sgn, -50.0, &[]), Some(-1.0));
        assert_eq!(apply(F::Sgn, 0.0, &[]), Some(0.0));
        assert_eq!(apply(F::Sgn, 100.0, &[]), Some(1.0));
    }

    // trig_functions.test, for `trig{l="x"} 10` (and 10 - 10.1 for the inverse functions).
    #[test]
    fn trigonometry() {
        let close = |f: F, v: f64, want: f64| {
            let got = apply(f, v, &[]).unwrap_or(f64::NAN);
            // promqltest's tolerance; the expected sinh(10) there is in fact cosh(10), 4e-9 off.
            assert!(
                ((got - want) / want).abs() < 1e-6,
                "{f:?}({v}) = {got}, want {want}"
            );
        };
        close(F::Sin, 10.0, -0.5440211108893699);
        close(F::Cos, 10.0, -0.8390715290764524);
        close(F::Tan, 10.0, 0.6483608274590867);
        close(F::Asin, 10.0 - 10.1, -0.10016742116155944);
        close(F::Acos, 10.0 - 10.1, 1.670963747956456);
        close(F::Atan, 10.0, 1.4711276743037345);
        close(F::Sinh, 10.0, 11013.232920103324);
        close(F::Cosh, 10.0, 11013.232920103324);
        close(F::Tanh, 10.0, 0.9999999958776927);
        close(F::Asinh, 10.0, 2.99822295029797);
        close(F::Acosh, 10.0, 2.993222846126381);
        close(F::Atanh, 10.0 - 10.1, -0.10033534773107522);
        close(F::Rad, 10.0, 0.17453292519943295);
        close(F::Deg, 10.0, 572.9577951308232);
        close(F::Deg, 20.0, 1145.9155902616465);
        assert!(apply(F::Asin, 20.0 - 10.1, &[]).is_some_and(f64::is_nan));
        assert_eq!(apply(F::Rad, 0.0, &[]), Some(0.0));
        assert_eq!(apply(F::Exp, 0.0, &[]), Some(1.0));
        assert_eq!(apply(F::Log2, 8.0, &[]), Some(3.0));
        assert_eq!(apply(F::Log10, 1000.0, &[]), Some(3.0));
        assert_eq!(apply(F::Ln, 1.0, &[]), Some(0.0));
        assert_eq!(apply(F::Sqrt, 16.0, &[]), Some(4.0));
        assert_eq!(apply(F::Ln, 0.0, &[]), Some(f64::NEG_INFINITY));
    }

    // functions.test, "Test time-related functions".
    #[test]
    fn dates_match_functions_test() {
        let date = |f: F, v: f64| apply(f, v, &[]);
        // 2006-01-02 22:04:05 UTC, a Monday.
        let t = 1136239445.0;
        assert_eq!(date(F::Year, t), Some(2006.0));
        assert_eq!(date(F::Month, t), Some(1.0));
        assert_eq!(date(F::DayOfMonth, t), Some(2.0));
        assert_eq!(date(F::DayOfYear, t), Some(2.0));
        assert_eq!(date(F::DayOfWeek, t), Some(1.0));
        assert_eq!(date(F::Hour, t), Some(22.0));
        assert_eq!(date(F::Minute, t), Some(4.0));
        // The epoch: Thursday, January 1, 1970.
        assert_eq!(date(F::Year, 0.0), Some(1970.0));
        assert_eq!(date(F::Month, 0.0), Some(1.0));
        assert_eq!(date(F::DayOfMonth, 0.0), Some(1.0));
        assert_eq!(date(F::DayOfYear, 0.0), Some(1.0));
        assert_eq!(date(F::DayOfWeek, 0.0), Some(4.0));
        assert_eq!(date(F::Hour, 0.0), Some(0.0));
        assert_eq!(date(F::Minute, 0.0), Some(0.0));
        assert_eq!(date(F::Year, 1230767999.0), Some(2008.0));
        assert_eq!(date(F::Year, 1230768000.0), Some(2009.0));
        assert_eq!(date(F::Month, 1456790399.0), Some(2.0));
        assert_eq!(date(F::DayOfMonth, 1456790399.0), Some(29.0));
        assert_eq!(date(F::Month, 1456790400.0), Some(3.0));
        assert_eq!(date(F::DayOfMonth, 1456790400.0), Some(1.0));
        assert_eq!(date(F::DayOfYear, 1483191420.0), Some(366.0));
        assert_eq!(date(F::DayOfYear, 1672493820.0), Some(365.0));
        assert_eq!(date(F::DaysInMonth, 1454284800.0), Some(29.0));
        assert_eq!(date(F::DaysInMonth, 1485907200.0), Some(28.0));
        // Fractions truncate towards zero, as Go's int64 conversion does.
        assert_eq!(date(F::Hour, 3599.9), Some(0.0));
        assert_eq!(date(F::Hour, -0.5), Some(0.0));
        assert_eq!(date(F::Hour, -1.0), Some(23.0));
        assert_eq!(date(F::Year, -1.0), Some(1969.0));
        assert_eq!(F::Abs.apply_to_unix_seconds(0), None);
        assert_eq!(F::Year.apply_to_unix_seconds(0), Some(1970.0));
    }

    #[test]
    fn dates_of_values_go_cannot_convert() {
        // NaN, ±Inf and out-of-range values become i64::MIN on amd64, which Go's calendar
        // (wrapping around its absolute epoch) places in year 292277026596; i64::MAX lands
        // there too. Values checked with Go's algorithm, not a calendar library.
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -1e300] {
            assert_eq!(apply(F::Year, v, &[]), Some(292_277_026_596.0), "{v}");
        }
        assert_eq!(
            F::Year.apply_to_unix_seconds(i64::MAX),
            Some(292_277_026_596.0)
        );
        for f in [
            F::Month,
            F::DayOfMonth,
            F::DayOfYear,
            F::DaysInMonth,
            F::DayOfWeek,
            F::Hour,
            F::Minute,
        ] {
            let v = apply(f, f64::NAN, &[]).unwrap_or(f64::NAN);
            assert!(v.is_finite() && v >= 0.0, "{f:?} {v}");
        }
    }

    /// Howard Hinnant's `civil_from_days`, an independent reference for ordinary dates.
    fn civil_from_days(z: i64) -> (i64, i64, i64) {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        (yoe + era * 400 + i64::from(m <= 2), m, d)
    }

    fn is_leap(y: i64) -> bool {
        y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
    }

    proptest! {
        #[test]
        fn dates_agree_with_the_civil_calendar(secs in -200_000_000_000i64..200_000_000_000) {
            let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
            let t = GoTime::from_unix(secs);
            prop_assert_eq!((t.year(), t.month(), t.day()), (y, m, d));
            let lengths = [31, if is_leap(y) { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
            prop_assert_eq!(t.days_in_month(), lengths[(m - 1) as usize]);
            let yday: i64 = lengths[..(m - 1) as usize].iter().sum::<i64>() + d;
            prop_assert_eq!(t.year_day(), yday);
            prop_assert_eq!(t.weekday(), (secs.div_euclid(86_400) + 4).rem_euclid(7));
            prop_assert_eq!(t.hour(), secs.rem_euclid(86_400) / 3600);
            prop_assert_eq!(t.minute(), secs.rem_euclid(3600) / 60);
        }

        #[test]
        fn clamp_stays_within_bounds(v in -1e300f64..1e300, a in -1e300f64..1e300, b in -1e300f64..1e300) {
            let (min, max) = if a <= b { (a, b) } else { (b, a) };
            let got = apply(F::Clamp, v, &[min, max]).unwrap_or(f64::NAN);
            prop_assert!(got >= min && got <= max);
            prop_assert_eq!(apply(F::ClampMin, v, &[min]), Some(v.max(min)));
            prop_assert_eq!(apply(F::ClampMax, v, &[max]), Some(v.min(max)));
        }

        #[test]
        fn round_is_idempotent(v in -1e12f64..1e12, to in prop::sample::select(vec![1.0, 0.5, 0.25, 2.0, 5.0, 10.0, 100.0])) {
            let once = apply(F::Round, v, &[to]).unwrap_or(f64::NAN);
            prop_assert_eq!(apply(F::Round, once, &[to]), Some(once));
            prop_assert!((once - v).abs() <= to / 2.0);
        }

        #[test]
        fn never_panics(v in prop::num::f64::ANY, p in prop::collection::vec(prop::num::f64::ANY, 0..3)) {
            for name in ["abs", "round", "clamp", "clamp_min", "clamp_max", "year", "month",
                         "day_of_month", "day_of_year", "day_of_week", "days_in_month", "hour",
                         "minute", "sgn", "deg", "rad", "ln", "acosh"] {
                if let Some(f) = F::from_name(name) {
                    let _ = f.apply(v, &p);
                }
            }
        }

        #[test]
        fn dates_never_panic(secs in prop::num::i64::ANY) {
            for f in [F::Year, F::Month, F::DayOfMonth, F::DayOfYear, F::DayOfWeek, F::DaysInMonth, F::Hour, F::Minute] {
                let _ = f.apply_to_unix_seconds(secs);
            }
        }
    }
}
