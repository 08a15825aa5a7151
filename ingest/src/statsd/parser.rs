//! The StatsD line parser: the Etsy protocol plus the DogStatsD and statsd_exporter
//! extensions, on borrowed text and without allocating.
//!
//! A line is `name:value|type[|@rate][|#tags][|c:container][|T timestamp]`. Splitting follows
//! statsd_exporter's `pkg/line`:
//! - `name:1:2:3|h` (a `:` inside the value) is a DogStatsD multi-value packet, allowed for
//!   `ms`, `h` and `d` only; every value shares the type and the fields after it;
//! - a line with DogStatsD tags (`|#`) holds exactly one sample (tag values may contain `:`);
//! - otherwise `name:1|c:2|g` carries several Etsy samples under one name.
//!
//! Every sample is handed to a callback as `Ok(Sample)` or `Err(Reject)`, so a bad sample never
//! hides the good ones next to it. Tags are only located here (they are read again on the slow
//! path when a series is first seen), so the hot path never allocates.

use std::borrow::Cow;

/// The StatsD metric types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum StatType {
    Counter,
    Gauge,
    Timer,
    Histogram,
    Distribution,
    Set,
}

impl StatType {
    fn parse(s: &str) -> Option<StatType> {
        Some(match s {
            "c" => StatType::Counter,
            "g" => StatType::Gauge,
            "ms" => StatType::Timer,
            "h" => StatType::Histogram,
            "d" => StatType::Distribution,
            "s" => StatType::Set,
            _ => return None,
        })
    }

    /// The mapping class statsd_exporter matches `match_metric_type` against. Sets, which
    /// statsd_exporter does not support, are written as gauges and match `gauge`.
    pub(crate) fn class(self) -> MetricClass {
        match self {
            StatType::Counter => MetricClass::Counter,
            StatType::Gauge | StatType::Set => MetricClass::Gauge,
            StatType::Timer | StatType::Histogram | StatType::Distribution => MetricClass::Observer,
        }
    }

    /// One byte that tells the types apart in the aggregator's raw keys.
    pub(crate) fn code(self) -> u8 {
        match self {
            StatType::Counter => b'c',
            StatType::Gauge => b'g',
            StatType::Timer => b'm',
            StatType::Histogram => b'h',
            StatType::Distribution => b'd',
            StatType::Set => b's',
        }
    }

    #[cfg(test)]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StatType::Counter => "c",
            StatType::Gauge => "g",
            StatType::Timer => "ms",
            StatType::Histogram => "h",
            StatType::Distribution => "d",
            StatType::Set => "s",
        }
    }
}

/// statsd_exporter's `match_metric_type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum MetricClass {
    Counter,
    Gauge,
    Observer,
}

impl MetricClass {
    pub(crate) fn index(self) -> usize {
        match self {
            MetricClass::Counter => 0,
            MetricClass::Gauge => 1,
            MetricClass::Observer => 2,
        }
    }
}

/// Why a line (or one sample of it) was skipped: the `reason` label of
/// `argus_ingest_statsd_rejects_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Reject {
    /// No `:`, empty name, no `|type`, an empty or unknown `|` field.
    MalformedLine,
    /// The value is not a finite number (or is empty).
    InvalidValue,
    /// Unknown type, or a multi-value packet of a type other than `ms`/`h`/`d`.
    InvalidType,
    /// `@rate` not a number in (0, 1].
    InvalidSampleRate,
    /// Longer than the TCP line limit.
    LineTooLong,
    /// Not UTF-8.
    InvalidUtf8,
    /// Name-embedded tags (InfluxDB, Librato, SignalFx) together with DogStatsD tags.
    MixedTaggingStyles,
    /// A counter increment below zero.
    NegativeCounter,
    /// A label name Prometheus reserves (`__*`, `le` on histograms, `quantile` on summaries).
    InvalidLabel,
    /// The mapping produced an empty metric name.
    EmptyMetricName,
    /// The metric name is already used by another type (counter vs gauge, ...).
    TypeConflict,
    /// A new series beyond `max_series` or `max_new_series_per_flush`.
    CardinalityLimit,
}

impl Reject {
    pub(crate) const ALL: [Reject; 12] = [
        Reject::MalformedLine,
        Reject::InvalidValue,
        Reject::InvalidType,
        Reject::InvalidSampleRate,
        Reject::LineTooLong,
        Reject::InvalidUtf8,
        Reject::MixedTaggingStyles,
        Reject::NegativeCounter,
        Reject::InvalidLabel,
        Reject::EmptyMetricName,
        Reject::TypeConflict,
        Reject::CardinalityLimit,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reject::MalformedLine => "malformed_line",
            Reject::InvalidValue => "invalid_value",
            Reject::InvalidType => "invalid_type",
            Reject::InvalidSampleRate => "invalid_sample_rate",
            Reject::LineTooLong => "line_too_long",
            Reject::InvalidUtf8 => "invalid_utf8",
            Reject::MixedTaggingStyles => "mixed_tagging_styles",
            Reject::NegativeCounter => "negative_counter",
            Reject::InvalidLabel => "invalid_label",
            Reject::EmptyMetricName => "empty_metric_name",
            Reject::TypeConflict => "type_conflict",
            Reject::CardinalityLimit => "cardinality_limit",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Reject::MalformedLine => 0,
            Reject::InvalidValue => 1,
            Reject::InvalidType => 2,
            Reject::InvalidSampleRate => 3,
            Reject::LineTooLong => 4,
            Reject::InvalidUtf8 => 5,
            Reject::MixedTaggingStyles => 6,
            Reject::NegativeCounter => 7,
            Reject::InvalidLabel => 8,
            Reject::EmptyMetricName => 9,
            Reject::TypeConflict => 10,
            Reject::CardinalityLimit => 11,
        }
    }
}

/// One parsed sample, borrowing the line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample<'a> {
    pub(crate) ty: StatType,
    /// The number as sent (0 for sets); timers are still in milliseconds here.
    pub(crate) value: f64,
    /// The value text: the member of a set.
    pub(crate) raw_value: &'a str,
    /// A gauge value with an explicit sign is a delta (Etsy statsd, statsd_exporter).
    pub(crate) relative: bool,
    /// The `@rate` field, 1 when absent.
    pub(crate) rate: f64,
    /// The `|`-separated fields after the type, without the leading `|` (may be empty).
    pub(crate) extras: &'a str,
}

impl<'a> Sample<'a> {
    /// The DogStatsD tag sections of this sample (`|#a:b,c:d` gives `a:b,c:d`).
    pub(crate) fn tag_sections(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        let extras = self.extras;
        extras.split('|').filter_map(|c| c.strip_prefix('#'))
    }

    pub(crate) fn has_tags(&self) -> bool {
        self.tag_sections().next().is_some()
    }
}

/// At most this many `|` fields per sample, as statsd_exporter.
const MAX_FIELDS: usize = 8;

/// Parses one line (without its `\n`; a trailing `\r` is ignored) and calls `sink` with the
/// metric name part (name-embedded tags still attached) and each sample or its reject reason.
/// An empty line yields nothing.
pub(crate) fn parse_line<'a>(
    line: &'a str,
    sink: &mut impl FnMut(&'a str, Result<Sample<'a>, Reject>),
) {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.is_empty() {
        return;
    }
    let Some(colon) = line.find(':') else {
        sink("", Err(Reject::MalformedLine));
        return;
    };
    if colon == 0 {
        sink("", Err(Reject::MalformedLine));
        return;
    }
    let name = &line[..colon];
    let rest = &line[colon + 1..];
    let Some(bar) = rest.find('|') else {
        sink(name, Err(Reject::MalformedLine));
        return;
    };
    let values = &rest[..bar];
    let suffix = &rest[bar + 1..];
    if values.contains(':') {
        // DogStatsD multi-value packet: `name:1:2:3|h|...`
        let ty = suffix.split('|').next().and_then(StatType::parse);
        match ty {
            Some(StatType::Timer | StatType::Histogram | StatType::Distribution) => {
                for value in values.split(':') {
                    sink(name, parse_sample(value, suffix));
                }
            }
            _ => sink(name, Err(Reject::InvalidType)),
        }
    } else if rest.contains("|#") {
        sink(name, parse_sample(values, suffix));
    } else {
        for chunk in SampleChunks::new(rest) {
            match chunk.find('|') {
                Some(b) => sink(name, parse_sample(&chunk[..b], &chunk[b + 1..])),
                None => sink(name, Err(Reject::MalformedLine)),
            }
        }
    }
}

/// Splits `1|c:2|g` into Etsy samples at `:`, except the `:` of a DogStatsD `|c:container`
/// field (the third field or later of a sample).
struct SampleChunks<'a> {
    s: &'a str,
    pos: usize,
    done: bool,
}

impl<'a> SampleChunks<'a> {
    fn new(s: &'a str) -> Self {
        SampleChunks {
            s,
            pos: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for SampleChunks<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.done {
            return None;
        }
        let bytes = self.s.as_bytes();
        let start = self.pos;
        let mut bars = 0usize;
        let mut field_start = start;
        let mut i = start;
        while i < bytes.len() {
            match bytes[i] {
                b'|' => {
                    bars += 1;
                    field_start = i + 1;
                }
                b':' if !(bars >= 2 && &bytes[field_start..i] == b"c") => {
                    self.pos = i + 1;
                    return self.s.get(start..i);
                }
                _ => {}
            }
            i += 1;
        }
        self.done = true;
        self.s.get(start..)
    }
}

/// Parses `value` and `type[|field...]`.
fn parse_sample<'a>(value: &'a str, suffix: &'a str) -> Result<Sample<'a>, Reject> {
    let (ty_str, extras, has_extras) = match suffix.find('|') {
        Some(i) => (&suffix[..i], &suffix[i + 1..], true),
        None => (suffix, "", false),
    };
    let mut rate = 1.0;
    if has_extras {
        let mut fields = 2usize;
        for field in extras.split('|') {
            fields += 1;
            if fields > MAX_FIELDS {
                return Err(Reject::MalformedLine);
            }
            match field.as_bytes().first() {
                None => return Err(Reject::MalformedLine),
                Some(b'@') => rate = parse_rate(&field[1..])?,
                Some(b'#') => {}
                Some(b'c') => {
                    // DogStatsD 1.2 container id, ignored
                    if !(field.len() > 2 && field.starts_with("c:")) {
                        return Err(Reject::MalformedLine);
                    }
                }
                Some(b'T') => {
                    // DogStatsD 1.3 timestamp, validated and ignored (as statsd_exporter)
                    if field[1..].parse::<i64>().is_err() {
                        return Err(Reject::MalformedLine);
                    }
                }
                Some(_) => return Err(Reject::MalformedLine),
            }
        }
    }
    let ty = StatType::parse(ty_str).ok_or(Reject::InvalidType)?;
    if value.is_empty() {
        return Err(Reject::InvalidValue);
    }
    let (number, relative) = if ty == StatType::Set {
        (0.0, false)
    } else {
        let v: f64 = value.parse().map_err(|_| Reject::InvalidValue)?;
        if !v.is_finite() {
            return Err(Reject::InvalidValue);
        }
        (v, matches!(value.as_bytes()[0], b'+' | b'-'))
    };
    Ok(Sample {
        ty,
        value: number,
        raw_value: value,
        relative,
        rate,
        extras,
    })
}

fn parse_rate(s: &str) -> Result<f64, Reject> {
    let r: f64 = s.parse().map_err(|_| Reject::InvalidSampleRate)?;
    if r.is_nan() || r <= 0.0 || r > 1.0 {
        return Err(Reject::InvalidSampleRate);
    }
    Ok(r)
}

/// A name with its name-embedded tags taken out.
#[derive(Debug, PartialEq)]
pub(crate) struct NameAndTags<'a> {
    pub(crate) name: Cow<'a, str>,
    /// `k=v,k=v` text of SignalFx (`name[k=v]`), Librato (`name#k=v`) or InfluxDB
    /// (`name,k=v`) tags, if any.
    pub(crate) tags: Option<&'a str>,
    /// Tag errors met while splitting (an unmatched SignalFx bracket).
    pub(crate) errors: u32,
}

/// Separates name-embedded tags like statsd_exporter's `parseNameAndTags` (all three styles
/// enabled, its default): SignalFx brackets first, then the first `#` or `,`.
pub(crate) fn split_name_tags(name: &str) -> NameAndTags<'_> {
    let open = name.find('[');
    let close = name.find(']');
    match (open, close) {
        (Some(o), Some(c)) if o < c => {
            let mut plain = String::with_capacity(name.len());
            plain.push_str(&name[..o]);
            plain.push_str(&name[c + 1..]);
            return NameAndTags {
                name: Cow::Owned(plain),
                tags: Some(&name[o + 1..c]),
                errors: 0,
            };
        }
        (None, None) => {}
        _ => {
            return NameAndTags {
                name: Cow::Borrowed(name),
                tags: None,
                errors: 1,
            };
        }
    }
    match name.find(['#', ',']) {
        Some(i) => NameAndTags {
            name: Cow::Borrowed(&name[..i]),
            tags: Some(&name[i + 1..]),
            errors: 0,
        },
        None => NameAndTags {
            name: Cow::Borrowed(name),
            tags: None,
            errors: 0,
        },
    }
}

/// Parses `k=v,k=v` name-embedded tags into `out` (keys escaped); returns the number of
/// malformed tags skipped.
pub(crate) fn parse_name_tags(tags: &str, out: &mut Vec<(String, String)>) -> u32 {
    let mut errors = 0;
    for tag in tags.split(',') {
        errors += parse_tag(tag, '=', out);
    }
    // a trailing comma leaves an empty last element that statsd_exporter does not visit
    if tags.ends_with(',') {
        errors -= 1;
    }
    errors
}

/// Parses one DogStatsD tag section (`a:b,#c:d`) into `out`; returns the number of malformed
/// tags skipped (valueless tags such as `flag` are skipped, as statsd_exporter does).
pub(crate) fn parse_dog_tags(section: &str, out: &mut Vec<(String, String)>) -> u32 {
    let mut errors = 0;
    for tag in section.split(',') {
        errors += parse_tag(tag.strip_prefix('#').unwrap_or(tag), ':', out);
    }
    if section.ends_with(',') {
        errors -= 1;
    }
    errors
}

fn parse_tag(tag: &str, sep: char, out: &mut Vec<(String, String)>) -> u32 {
    match tag.split_once(sep) {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => {
            let key = super::mapping::escape_metric_name(k).into_owned();
            match out.iter_mut().find(|(n, _)| *n == key) {
                Some(existing) => existing.1 = v.to_string(),
                None => out.push((key, v.to_string())),
            }
            0
        }
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(line: &str) -> Vec<(String, Result<Sample<'_>, Reject>)> {
        let mut out = Vec::new();
        parse_line(line, &mut |name, r| out.push((name.to_string(), r)));
        out
    }

    fn one(line: &str) -> Sample<'_> {
        let mut v = parse(line);
        assert_eq!(v.len(), 1, "{line:?}");
        match v.remove(0).1 {
            Ok(s) => s,
            Err(r) => panic!("{line:?} rejected: {r:?}"),
        }
    }

    fn rejected(line: &str) -> Reject {
        let v = parse(line);
        assert_eq!(v.len(), 1, "{line:?}: {v:?}");
        match &v[0].1 {
            Ok(s) => panic!("{line:?} accepted: {s:?}"),
            Err(r) => *r,
        }
    }

    #[test]
    fn every_type() {
        let s = one("hits:3|c");
        assert_eq!(
            (s.ty, s.value, s.rate, s.relative),
            (StatType::Counter, 3.0, 1.0, false)
        );
        let s = one("temp:-4.5|g");
        assert_eq!((s.ty, s.value, s.relative), (StatType::Gauge, -4.5, true));
        let s = one("temp:+4|g");
        assert_eq!((s.ty, s.value, s.relative), (StatType::Gauge, 4.0, true));
        let s = one("temp:4|g");
        assert!(!s.relative);
        assert_eq!(one("rt:320|ms").ty, StatType::Timer);
        assert_eq!(one("size:12.5|h").ty, StatType::Histogram);
        assert_eq!(one("size:12.5|d").ty, StatType::Distribution);
        let s = one("users:alice|s");
        assert_eq!((s.ty, s.raw_value), (StatType::Set, "alice"));
        assert_eq!(one("e:1e3|c").value, 1000.0);
        assert_eq!(one("e:.5|c").value, 0.5);
    }

    #[test]
    fn sample_rate_and_tags() {
        let s = one("hits:1|c|@0.1");
        assert_eq!(s.rate, 0.1);
        let s = one("hits:1|c|@0.5|#env:prod,region:eu");
        assert_eq!(s.rate, 0.5);
        assert_eq!(
            s.tag_sections().collect::<Vec<_>>(),
            vec!["env:prod,region:eu"]
        );
        let s = one("hits:1|c|#url:http://x:80/a|@0.25");
        assert_eq!(s.rate, 0.25);
        assert_eq!(
            s.tag_sections().collect::<Vec<_>>(),
            vec!["url:http://x:80/a"]
        );
        let mut tags = Vec::new();
        assert_eq!(
            parse_dog_tags("url:http://x:80/a,flag,#b:2,:x,y:", &mut tags),
            3
        );
        assert_eq!(
            tags,
            vec![
                ("url".to_string(), "http://x:80/a".to_string()),
                ("b".to_string(), "2".to_string())
            ]
        );
        tags.clear();
        assert_eq!(parse_dog_tags("my.tag-name:v,9lives:x", &mut tags), 0);
        assert_eq!(tags[0].0, "my_tag_name");
        assert_eq!(tags[1].0, "_9lives");
    }

    #[test]
    fn dogstatsd_container_and_timestamp_are_ignored() {
        let s = one("hits:1|c|#a:b|c:83c8f5b2|T1656581400");
        assert_eq!((s.ty, s.value), (StatType::Counter, 1.0));
        let s = one("hits:1|c|c:83c8f5b2");
        assert_eq!(s.value, 1.0);
        assert_eq!(rejected("hits:1|c|T12x"), Reject::MalformedLine);
        assert_eq!(rejected("hits:1|c|c"), Reject::MalformedLine);
    }

    #[test]
    fn multi_value_and_multi_sample() {
        let v = parse("lat:1:2:3|ms|#a:b");
        assert_eq!(v.len(), 3);
        let values: Vec<f64> = v
            .iter()
            .map(|(_, r)| r.as_ref().map(|s| s.value).unwrap_or(f64::NAN))
            .collect();
        assert_eq!(values, vec![1.0, 2.0, 3.0]);
        assert!(
            v.iter()
                .all(|(n, r)| n == "lat" && r.as_ref().is_ok_and(|s| s.has_tags()))
        );
        assert_eq!(rejected("hits:1:2|c"), Reject::InvalidType);
        let v = parse("m:1|c:2|g:x|c");
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].1.as_ref().map(|s| s.ty), Ok(StatType::Counter));
        assert_eq!(v[1].1.as_ref().map(|s| s.ty), Ok(StatType::Gauge));
        assert_eq!(v[2].1, Err(Reject::InvalidValue));
        // `|c:` container ids do not split samples
        let v = parse("m:1|c|c:abc:2|c");
        assert_eq!(v.len(), 2);
        assert!(v.iter().all(|(_, r)| r.is_ok()));
    }

    #[test]
    fn bad_lines() {
        assert_eq!(rejected("novalue"), Reject::MalformedLine);
        assert_eq!(rejected(":1|c"), Reject::MalformedLine);
        assert_eq!(rejected("a:1"), Reject::MalformedLine);
        assert_eq!(rejected("a:1|"), Reject::InvalidType);
        assert_eq!(rejected("a:1|x"), Reject::InvalidType);
        assert_eq!(rejected("a:1|c|"), Reject::MalformedLine);
        assert_eq!(rejected("a:1|c|x"), Reject::MalformedLine);
        assert_eq!(rejected("a:abc|c"), Reject::InvalidValue);
        assert_eq!(rejected("a:|c"), Reject::InvalidValue);
        assert_eq!(rejected("a:nan|g"), Reject::InvalidValue);
        assert_eq!(rejected("a:inf|g"), Reject::InvalidValue);
        assert_eq!(rejected("a:1|c|@x"), Reject::InvalidSampleRate);
        assert_eq!(rejected("a:1|c|@0"), Reject::InvalidSampleRate);
        assert_eq!(rejected("a:1|c|@2"), Reject::InvalidSampleRate);
        assert_eq!(rejected("a:1|c|@-1"), Reject::InvalidSampleRate);
        assert_eq!(
            rejected("a:1|c|@1|@1|@1|@1|@1|@1|@1"),
            Reject::MalformedLine
        );
        assert!(parse("").is_empty());
        assert!(parse("\r").is_empty());
        assert_eq!(one("a:1|c\r").value, 1.0);
    }

    #[test]
    fn name_embedded_tags() {
        let t = split_name_tags("metric.name[tagName=val,tag2Name=val2].count");
        assert_eq!(t.name, "metric.name.count");
        assert_eq!(t.tags, Some("tagName=val,tag2Name=val2"));
        let t = split_name_tags("metric.name#tagName=val,tag2Name=val2");
        assert_eq!(
            (t.name.as_ref(), t.tags),
            ("metric.name", Some("tagName=val,tag2Name=val2"))
        );
        let t = split_name_tags("metric.name,tagName=val");
        assert_eq!(
            (t.name.as_ref(), t.tags),
            ("metric.name", Some("tagName=val"))
        );
        let t = split_name_tags("metric.name[broken");
        assert_eq!(
            (t.name.as_ref(), t.tags, t.errors),
            ("metric.name[broken", None, 1)
        );
        let t = split_name_tags("plain.name");
        assert_eq!((t.name.as_ref(), t.tags), ("plain.name", None));
        let mut tags = Vec::new();
        assert_eq!(parse_name_tags("a=1,b,c=", &mut tags), 2);
        assert_eq!(tags, vec![("a".to_string(), "1".to_string())]);
    }

    fn arb_name() -> impl Strategy<Value = String> {
        "[a-zA-Z_][a-zA-Z0-9_.-]{0,20}"
    }

    fn arb_tag() -> impl Strategy<Value = (String, String)> {
        ("[a-z][a-z0-9_]{0,8}", "[a-zA-Z0-9_./:-]{1,12}")
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let text = String::from_utf8_lossy(&bytes);
            for line in text.split('\n') {
                parse_line(line, &mut |name, r| {
                    if let Ok(s) = r {
                        let _ = (name.len(), s.tag_sections().count());
                        let mut out = Vec::new();
                        let nt = split_name_tags(name);
                        if let Some(t) = nt.tags { parse_name_tags(t, &mut out); }
                        for sec in s.tag_sections() { parse_dog_tags(sec, &mut out); }
                    }
                });
            }
        }

        #[test]
        fn statsd_like_garbage_never_panics(line in "[a-z.:|@#,=\\[\\]cgmshdT0-9+\\-eE.]{0,60}") {
            parse_line(&line, &mut |_, _| {});
        }

        #[test]
        fn well_formed_lines_round_trip(
            name in arb_name(),
            ty in prop_oneof![Just(StatType::Counter), Just(StatType::Gauge), Just(StatType::Timer),
                              Just(StatType::Histogram), Just(StatType::Distribution), Just(StatType::Set)],
            int_part in 0u32..1_000_000,
            frac in 0u32..1000,
            negative in any::<bool>(),
            rate in proptest::option::of(1u32..=100),
            tags in proptest::collection::vec(arb_tag(), 0..4),
        ) {
            let value = if ty == StatType::Set {
                format!("member{int_part}")
            } else {
                let sign = if negative { "-" } else { "" };
                format!("{sign}{int_part}.{frac:03}")
            };
            let mut line = format!("{name}:{value}|{}", ty.as_str());
            if let Some(r) = rate {
                line.push_str(&format!("|@{}", f64::from(r) / 100.0));
            }
            if !tags.is_empty() {
                let t: Vec<String> = tags.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                line.push_str(&format!("|#{}", t.join(",")));
            }
            let got = parse(&line);
            prop_assert_eq!(got.len(), 1);
            let (n, s) = (&got[0].0, got[0].1.as_ref().map_err(|r| *r));
            prop_assert_eq!(n, &name);
            let s = match s { Ok(s) => s, Err(r) => return Err(TestCaseError::fail(format!("{line:?}: {r:?}"))) };
            prop_assert_eq!(s.ty, ty);
            if ty == StatType::Set {
                prop_assert_eq!(s.raw_value, value.as_str());
            } else {
                let expect: f64 = value.parse().unwrap_or(f64::NAN);
                prop_assert_eq!(s.value, expect);
                prop_assert_eq!(s.relative, negative);
            }
            prop_assert_eq!(s.rate, rate.map(|r| f64::from(r) / 100.0).unwrap_or(1.0));
            let mut parsed = Vec::new();
            for sec in s.tag_sections() { parse_dog_tags(sec, &mut parsed); }
            let mut expect: Vec<(String, String)> = Vec::new();
            for (k, v) in &tags {
                match expect.iter_mut().find(|(n, _)| n == k) {
                    Some(e) => e.1 = v.clone(),
                    None => expect.push((k.clone(), v.clone())),
                }
            }
            prop_assert_eq!(parsed, expect);
        }
    }
}
