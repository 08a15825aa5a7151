//! The chunk codec: a run of samples of one series, sorted by time, into a few bytes each.
//!
//! Timestamps and values are encoded independently, each with whichever of its encodings is
//! smallest for this chunk (the encoder tries them all; chunks are small):
//! - timestamps: frame-of-reference bit-packing of the deltas (regular intervals with jitter
//!   cost `log2(jitter)` bits, perfectly regular ones zero bits), or Gorilla-style buckets of
//!   delta-of-deltas (better when intervals drift);
//! - values: when every value is a decimal with at most [`MAX_DECIMALS`] digits after the
//!   point (integers, counters, gauges read off instruments), the scaled integers are
//!   delta-encoded with frame-of-reference bit-packing or delta-of-delta buckets; values that
//!   do not fit (NaN, staleness markers, infinities, -0.0, long fractions) are stored raw as
//!   exceptions at their position. Otherwise Gorilla XOR of the IEEE bits.
//!
//! Every value comes back bit-exact (staleness markers included). The byte layout is
//! documented in `storage/docs/format.md`.

use super::bits::{BitReader, BitWriter};
use crate::Sample;

const VERSION: u8 = 1;
const MAX_DECIMALS: u32 = 9;
const POW10: [f64; MAX_DECIMALS as usize + 1] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
/// Integers beyond this lose precision as f64 and cannot round-trip through the int path.
const MAX_EXACT_INT: f64 = 9_007_199_254_740_992.0;
/// Decoding refuses chunks claiming more samples than this (corrupt headers).
const MAX_CHUNK_SAMPLES: u64 = 1 << 24;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TsEncoding {
    ForDelta = 0,
    DodBuckets = 1,
    ForDeltaBlocked = 2,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ValueEncoding {
    Xor = 0,
    IntForDelta = 1,
    IntDodBuckets = 2,
    IntForDeltaBlocked = 3,
    /// The integers themselves, not their deltas, blocked: for gauges that hover around a
    /// level (deltas of independent noise have twice its variance).
    IntForValuesBlocked = 4,
}

/// Deltas per frame in the blocked frame-of-reference encoding: small enough that one outlier
/// widens only its own block, large enough that the per-block header stays under a bit a value.
const FOR_BLOCK: usize = 64;

/// Encodes samples sorted by strictly increasing time. Empty input gives an empty chunk.
pub(crate) fn encode(samples: &[Sample]) -> Vec<u8> {
    let n = samples.len();
    if n == 0 {
        return Vec::new();
    }
    let ts: Vec<i64> = samples.iter().map(|s| s.t).collect();
    let ts_enc = [
        TsEncoding::ForDelta,
        TsEncoding::DodBuckets,
        TsEncoding::ForDeltaBlocked,
    ]
    .into_iter()
    .min_by_key(|&e| {
        let mut w = BitWriter::with_capacity(0);
        write_timestamps(&mut w, &ts, e);
        w.bit_len()
    })
    .unwrap_or(TsEncoding::ForDelta);

    let ints = IntValues::analyse(samples);
    let mut candidates = vec![ValueEncoding::Xor];
    if ints.is_some() {
        candidates.extend([
            ValueEncoding::IntForDelta,
            ValueEncoding::IntDodBuckets,
            ValueEncoding::IntForDeltaBlocked,
            ValueEncoding::IntForValuesBlocked,
        ]);
    }
    let val_enc = candidates
        .into_iter()
        .min_by_key(|&e| {
            let mut w = BitWriter::with_capacity(0);
            write_values(&mut w, samples, ints.as_ref(), e);
            w.bit_len()
        })
        .unwrap_or(ValueEncoding::Xor);

    let mut w = BitWriter::with_capacity(n * 2 + 16);
    w.write(
        u64::from(VERSION << 5 | (val_enc as u8) << 2 | ts_enc as u8),
        8,
    );
    w.write_uvarint(n as u64);
    write_timestamps(&mut w, &ts, ts_enc);
    write_values(&mut w, samples, ints.as_ref(), val_enc);
    w.finish()
}

/// Decodes a chunk, appending its samples to `out`. `None` if the bytes are not a valid chunk.
pub(crate) fn decode(buf: &[u8], out: &mut Vec<Sample>) -> Option<()> {
    if buf.is_empty() {
        return Some(());
    }
    let mut r = BitReader::new(buf);
    let header = r.read(8)? as u8;
    if header >> 5 != VERSION {
        return None;
    }
    let ts_enc = match header & 0b11 {
        0 => TsEncoding::ForDelta,
        1 => TsEncoding::DodBuckets,
        2 => TsEncoding::ForDeltaBlocked,
        _ => return None,
    };
    let val_enc = match (header >> 2) & 0b111 {
        0 => ValueEncoding::Xor,
        1 => ValueEncoding::IntForDelta,
        2 => ValueEncoding::IntDodBuckets,
        3 => ValueEncoding::IntForDeltaBlocked,
        4 => ValueEncoding::IntForValuesBlocked,
        _ => return None,
    };
    let n = r.read_uvarint()?;
    if n == 0 || n > MAX_CHUNK_SAMPLES {
        return None;
    }
    let n = n as usize;
    let start = out.len();
    read_timestamps(&mut r, n, ts_enc, out)?;
    read_values(&mut r, &mut out[start..], val_enc)?;
    Some(())
}

/// The first (smallest) timestamp of an encoded chunk, read from its header alone.
pub(crate) fn first_time(buf: &[u8]) -> Option<i64> {
    let mut r = BitReader::new(buf);
    r.read(8)?;
    r.read_uvarint()?;
    r.read_varint()
}

// ---------------------------------------------------------------- integer sequences

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn width_of(max: u64) -> u32 {
    64 - max.leading_zeros()
}

/// Writes `seq[1..]` as deltas from their predecessor, frame-of-reference bit-packed: the
/// smallest delta, the greatest common divisor of the offsets from it (page-sized memory
/// gauges, byte counters in blocks, timestamps on a whole-second grid), then each offset
/// divided by it in the fewest bits that hold them all — in one frame, or with `blocked`, in
/// frames of [`FOR_BLOCK`] with a width of their own.
fn write_for_deltas(w: &mut BitWriter, seq: &[i64], blocked: bool) {
    if seq.len() < 2 {
        return;
    }
    let deltas: Vec<i64> = seq.windows(2).map(|p| p[1].wrapping_sub(p[0])).collect();
    let min = deltas.iter().copied().min().unwrap_or(0);
    let offsets: Vec<u64> = deltas.iter().map(|d| d.wrapping_sub(min) as u64).collect();
    let divisor = offsets.iter().fold(0, |g, &x| gcd(g, x)).max(1);
    w.write_varint(min);
    w.write_uvarint(divisor);
    let frame = if blocked { FOR_BLOCK } else { offsets.len() };
    for block in offsets.chunks(frame) {
        let base = if blocked {
            block.iter().map(|x| x / divisor).min().unwrap_or(0)
        } else {
            0
        };
        let width = width_of(block.iter().map(|x| x / divisor - base).max().unwrap_or(0));
        if blocked {
            w.write_uvarint(base);
        }
        w.write(u64::from(width), 7);
        for x in block {
            w.write(x / divisor - base, width);
        }
    }
}

fn read_for_deltas(
    r: &mut BitReader<'_>,
    first: i64,
    n: usize,
    blocked: bool,
    mut emit: impl FnMut(i64),
) -> Option<()> {
    emit(first);
    if n < 2 {
        return Some(());
    }
    let min = r.read_varint()?;
    let divisor = r.read_uvarint()?;
    let frame = if blocked { FOR_BLOCK } else { n - 1 };
    let mut prev = first;
    let mut left = n - 1;
    while left > 0 {
        let base = if blocked { r.read_uvarint()? } else { 0 };
        let width = r.read(7)? as u32;
        if width > 64 {
            return None;
        }
        for _ in 0..frame.min(left) {
            let offset = base.wrapping_add(r.read(width)?).wrapping_mul(divisor);
            prev = prev.wrapping_add(min.wrapping_add(offset as i64));
            emit(prev);
        }
        left -= frame.min(left);
    }
    Some(())
}

/// Writes values as they are (no deltas): frames over the "deltas" of their prefix sums,
/// which are the values, so the frame machinery of [`write_for_deltas`] serves both.
fn write_for_values(w: &mut BitWriter, values: &[i64]) {
    let mut seq = Vec::with_capacity(values.len() + 1);
    let mut acc = 0i64;
    seq.push(acc);
    for &v in values {
        acc = acc.wrapping_add(v);
        seq.push(acc);
    }
    write_for_deltas(w, &seq, true);
}

/// Reads what [`write_for_values`] wrote, after the first value `first` (stored apart).
fn read_for_values(
    r: &mut BitReader<'_>,
    first: i64,
    n: usize,
    mut emit: impl FnMut(i64),
) -> Option<()> {
    emit(first);
    let mut prev: Option<i64> = None;
    read_for_deltas(r, 0, n, true, |sum| {
        if let Some(p) = prev {
            emit(sum.wrapping_sub(p));
        }
        prev = Some(sum);
    })
}

/// Gorilla-style variable-length codes for a zigzagged delta-of-delta.
fn write_bucket(w: &mut BitWriter, dod: i64) {
    let z = super::varint::zigzag(dod);
    if z == 0 {
        w.write(0, 1);
    } else if z < 1 << 6 {
        w.write(0b10, 2);
        w.write(z, 6);
    } else if z < 1 << 13 {
        w.write(0b110, 3);
        w.write(z, 13);
    } else if z < 1 << 20 {
        w.write(0b1110, 4);
        w.write(z, 20);
    } else {
        w.write(0b1111, 4);
        w.write(z, 64);
    }
}

fn read_bucket(r: &mut BitReader<'_>) -> Option<i64> {
    let mut ones = 0;
    while ones < 4 && r.read_bit()? {
        ones += 1;
    }
    let z = match ones {
        0 => 0,
        1 => r.read(6)?,
        2 => r.read(13)?,
        3 => r.read(20)?,
        _ => r.read(64)?,
    };
    Some(super::varint::unzigzag(z))
}

fn write_dod_buckets(w: &mut BitWriter, seq: &[i64]) {
    if seq.len() < 2 {
        return;
    }
    let mut prev_delta = seq[1].wrapping_sub(seq[0]);
    w.write_varint(prev_delta);
    for p in seq[1..].windows(2) {
        let delta = p[1].wrapping_sub(p[0]);
        write_bucket(w, delta.wrapping_sub(prev_delta));
        prev_delta = delta;
    }
}

fn read_dod_buckets(
    r: &mut BitReader<'_>,
    first: i64,
    n: usize,
    mut emit: impl FnMut(i64),
) -> Option<()> {
    emit(first);
    if n < 2 {
        return Some(());
    }
    let mut delta = r.read_varint()?;
    let mut prev = first.wrapping_add(delta);
    emit(prev);
    for _ in 2..n {
        delta = delta.wrapping_add(read_bucket(r)?);
        prev = prev.wrapping_add(delta);
        emit(prev);
    }
    Some(())
}

// ---------------------------------------------------------------- timestamps

fn write_timestamps(w: &mut BitWriter, ts: &[i64], enc: TsEncoding) {
    w.write_varint(ts[0]);
    match enc {
        TsEncoding::ForDelta => write_for_deltas(w, ts, false),
        TsEncoding::ForDeltaBlocked => write_for_deltas(w, ts, true),
        TsEncoding::DodBuckets => write_dod_buckets(w, ts),
    }
}

fn read_timestamps(
    r: &mut BitReader<'_>,
    n: usize,
    enc: TsEncoding,
    out: &mut Vec<Sample>,
) -> Option<()> {
    let first = r.read_varint()?;
    out.reserve(n.min(4096));
    let emit = |t| out.push(Sample { t, v: 0.0 });
    match enc {
        TsEncoding::ForDelta => read_for_deltas(r, first, n, false, emit),
        TsEncoding::ForDeltaBlocked => read_for_deltas(r, first, n, true, emit),
        TsEncoding::DodBuckets => read_dod_buckets(r, first, n, emit),
    }
}

// ---------------------------------------------------------------- values

/// Values seen as decimals: `value = int / 10^decimals`, bit-exact, except at `exceptions`.
struct IntValues {
    decimals: u32,
    ints: Vec<i64>,
    exceptions: Vec<(usize, u64)>,
}

impl IntValues {
    fn decimals_of(v: f64) -> Option<u32> {
        if !v.is_finite() || (v == 0.0 && v.is_sign_negative()) {
            return None;
        }
        (0..=MAX_DECIMALS).find(|&k| {
            let scaled = (v * POW10[k as usize]).round();
            scaled.abs() < MAX_EXACT_INT && (scaled / POW10[k as usize]).to_bits() == v.to_bits()
        })
    }

    fn analyse(samples: &[Sample]) -> Option<IntValues> {
        let per_value: Vec<Option<u32>> = samples.iter().map(|s| Self::decimals_of(s.v)).collect();
        let decimals = per_value.iter().flatten().copied().max().unwrap_or(0);
        let scale = POW10[decimals as usize];
        let mut ints = Vec::with_capacity(samples.len());
        let mut exceptions = Vec::new();
        let mut prev = 0i64;
        for (i, (s, k)) in samples.iter().zip(&per_value).enumerate() {
            let scaled = (s.v * scale).round();
            let exact = k.is_some()
                && scaled.abs() < MAX_EXACT_INT
                && (scaled / scale).to_bits() == s.v.to_bits();
            if exact {
                prev = scaled as i64;
            } else {
                exceptions.push((i, s.v.to_bits()));
            }
            ints.push(prev);
        }
        // Mostly exceptions: the XOR path will be smaller anyway; skip the work.
        if exceptions.len() * 2 > samples.len() {
            return None;
        }
        Some(IntValues {
            decimals,
            ints,
            exceptions,
        })
    }
}

fn write_values(
    w: &mut BitWriter,
    samples: &[Sample],
    ints: Option<&IntValues>,
    enc: ValueEncoding,
) {
    let ints = match (enc, ints) {
        (ValueEncoding::Xor, _) | (_, None) => return write_xor(w, samples),
        (_, Some(ints)) => ints,
    };
    w.write(u64::from(ints.decimals), 4);
    w.write_uvarint(ints.exceptions.len() as u64);
    let mut prev_pos = 0usize;
    for &(pos, bits) in &ints.exceptions {
        w.write_uvarint((pos - prev_pos) as u64);
        w.write(bits, 64);
        prev_pos = pos;
    }
    w.write_varint(ints.ints[0]);
    match enc {
        ValueEncoding::IntForValuesBlocked => write_for_values(w, &ints.ints[1..]),
        ValueEncoding::IntForDelta => write_for_deltas(w, &ints.ints, false),
        ValueEncoding::IntForDeltaBlocked => write_for_deltas(w, &ints.ints, true),
        _ => write_dod_buckets(w, &ints.ints),
    }
}

fn read_values(r: &mut BitReader<'_>, out: &mut [Sample], enc: ValueEncoding) -> Option<()> {
    if enc == ValueEncoding::Xor {
        return read_xor(r, out);
    }
    let decimals = r.read(4)? as usize;
    let scale = *POW10.get(decimals)?;
    let n_exc = r.read_uvarint()?;
    if n_exc > out.len() as u64 {
        return None;
    }
    let mut exceptions = Vec::with_capacity(n_exc as usize);
    let mut pos = 0usize;
    for _ in 0..n_exc {
        pos = pos.checked_add(usize::try_from(r.read_uvarint()?).ok()?)?;
        exceptions.push((pos, r.read(64)?));
    }
    let first = r.read_varint()?;
    let n = out.len();
    let mut i = 0usize;
    let emit = |int: i64| {
        if let Some(s) = out.get_mut(i) {
            s.v = int as f64 / scale;
        }
        i += 1;
    };
    match enc {
        ValueEncoding::IntForValuesBlocked => read_for_values(r, first, n, emit)?,
        ValueEncoding::IntForDelta => read_for_deltas(r, first, n, false, emit)?,
        ValueEncoding::IntForDeltaBlocked => read_for_deltas(r, first, n, true, emit)?,
        _ => read_dod_buckets(r, first, n, emit)?,
    }
    for (pos, bits) in exceptions {
        out.get_mut(pos)?.v = f64::from_bits(bits);
    }
    Some(())
}

/// Gorilla XOR (Pelkonen et al., VLDB 2015), with the leading/trailing window reused when
/// the new XOR fits inside the previous one.
fn write_xor(w: &mut BitWriter, samples: &[Sample]) {
    let mut prev = samples[0].v.to_bits();
    w.write(prev, 64);
    let (mut lead, mut trail) = (u32::MAX, 0u32);
    for s in &samples[1..] {
        let bits = s.v.to_bits();
        let xor = bits ^ prev;
        prev = bits;
        if xor == 0 {
            w.write_bit(false);
            continue;
        }
        w.write_bit(true);
        let l = xor.leading_zeros().min(31);
        let t = xor.trailing_zeros();
        if lead != u32::MAX && l >= lead && t >= trail {
            w.write_bit(false);
            w.write(xor >> trail, 64 - lead - trail);
        } else {
            lead = l;
            trail = t;
            let sig = 64 - l - t;
            w.write_bit(true);
            w.write(u64::from(l), 5);
            // 64 significant bits are written as 0: a 6-bit field cannot hold 64, and 0 cannot occur.
            w.write(u64::from(sig & 63), 6);
            w.write(xor >> t, sig);
        }
    }
}

fn read_xor(r: &mut BitReader<'_>, out: &mut [Sample]) -> Option<()> {
    let (first, rest) = out.split_first_mut()?;
    let mut prev = r.read(64)?;
    first.v = f64::from_bits(prev);
    let (mut lead, mut trail) = (0u32, 0u32);
    for s in rest {
        if r.read_bit()? {
            if r.read_bit()? {
                lead = r.read(5)? as u32;
                let mut sig = r.read(6)? as u32;
                if sig == 0 {
                    sig = 64;
                }
                if lead + sig > 64 {
                    return None;
                }
                trail = 64 - lead - sig;
            }
            let sig = 64 - lead - trail;
            prev ^= r.read(sig)? << trail;
        }
        s.v = f64::from_bits(prev);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(samples: &[Sample]) -> Vec<u8> {
        let buf = encode(samples);
        let mut out = Vec::new();
        decode(&buf, &mut out).expect("decodes");
        assert_eq!(out.len(), samples.len());
        for (a, b) in out.iter().zip(samples) {
            assert_eq!(a.t, b.t);
            assert_eq!(a.v.to_bits(), b.v.to_bits(), "value at t={}", a.t);
        }
        buf
    }

    fn regular(n: usize, mut f: impl FnMut(usize) -> f64) -> Vec<Sample> {
        (0..n)
            .map(|i| Sample {
                t: 1_700_000_000_000 + i as i64 * 10_000,
                v: f(i),
            })
            .collect()
    }

    #[test]
    fn constant_regular_series_costs_almost_nothing() {
        let buf = roundtrip(&regular(120, |_| 42.0));
        assert!(buf.len() < 20, "{} bytes", buf.len());
    }

    #[test]
    fn counters_with_small_increments_fit_in_about_a_byte() {
        let mut total = 0.0;
        let samples = regular(1000, |i| {
            total += ((i * 7919) % 97) as f64;
            total
        });
        let buf = roundtrip(&samples);
        assert!(buf.len() < 1000, "{} bytes for 1000 samples", buf.len());
    }

    #[test]
    fn special_values_are_bit_exact() {
        let samples = regular(8, |i| match i {
            1 => crate::stale_nan(),
            2 => f64::NAN,
            3 => f64::INFINITY,
            4 => -0.0,
            5 => f64::NEG_INFINITY,
            6 => 0.1 + 0.2,
            _ => i as f64 * 0.25,
        });
        roundtrip(&samples);
        roundtrip(&regular(3, |_| crate::stale_nan()));
        roundtrip(&regular(1, |_| 5.5));
    }

    #[test]
    fn corrupt_chunks_do_not_panic() {
        let buf = encode(&regular(100, |i| (i as f64).sin()));
        for cut in 0..buf.len() {
            let mut out = Vec::new();
            let _ = decode(&buf[..cut], &mut out);
        }
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x5a;
            let mut out = Vec::new();
            let _ = decode(&bad, &mut out);
        }
    }

    /// Gorilla as Prometheus' XOR chunks do it: delta-of-delta timestamps and XOR values,
    /// with no choice of encoding. The baseline our codec must beat.
    fn gorilla_bytes(samples: &[Sample]) -> usize {
        let ts: Vec<i64> = samples.iter().map(|s| s.t).collect();
        let mut w = BitWriter::with_capacity(0);
        w.write(0, 8);
        w.write_uvarint(samples.len() as u64);
        write_timestamps(&mut w, &ts, TsEncoding::DodBuckets);
        write_xor(&mut w, samples);
        w.finish().len()
    }

    /// Realistic series shapes, 8,640 samples each (24 h at 10 s), in 1,024-sample chunks as
    /// compaction writes them. Run with `cargo test -p storage --release codec_comparison --
    /// --ignored --nocapture`; the figures are quoted in storage/docs/format.md.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn codec_comparison() {
        let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut shapes: Vec<(&str, Vec<f64>)> = Vec::new();
        let n = 8640;
        let walk = |next: &mut dyn FnMut() -> f64, f: &dyn Fn(f64, f64) -> f64| {
            let mut x = 0.0;
            (0..n)
                .map(|_| {
                    x = f(x, next());
                    x
                })
                .collect::<Vec<f64>>()
        };
        shapes.push((
            "requests counter (+0..200)",
            walk(&mut next, &|x, r| x + (r * 200.0).floor()),
        ));
        shapes.push((
            "bytes counter (+1e5..1e6)",
            walk(&mut next, &|x, r| x + (1e5 + r * 9e5).floor()),
        ));
        shapes.push((
            "cpu seconds counter, 2 decimals",
            walk(&mut next, &|x, r| ((x + r * 5.0) * 100.0).round() / 100.0),
        ));
        shapes.push((
            "cpu % gauge, random walk, 1 decimal",
            walk(&mut next, &|x, r| {
                ((x + (r - 0.5) * 4.0).clamp(0.0, 100.0) * 10.0).round() / 10.0
            }),
        ));
        shapes.push((
            "memory bytes gauge, pages",
            walk(&mut next, &|x, r| {
                (x / 4096.0 + ((r - 0.5) * 200.0).round()).max(1000.0) * 4096.0
            }),
        ));
        shapes.push((
            "latency seconds, ns resolution",
            walk(&mut next, &|_, r| (0.002 + r * r * 0.3 * 1e9).round() / 1e9),
        ));
        shapes.push((
            "float gauge, full precision",
            walk(&mut next, &|x, r| x * 0.9 + r),
        ));
        shapes.push(("constant (up = 1)", vec![1.0; n]));
        println!("| series | ours B/sample | Gorilla B/sample |");
        println!("| --- | ---: | ---: |");
        let (mut ours_total, mut gorilla_total) = (0usize, 0usize);
        for (name, values) in &shapes {
            let samples: Vec<Sample> = values
                .iter()
                .enumerate()
                .map(|(i, &v)| Sample {
                    t: 1_700_000_000_000 + i as i64 * 10_000,
                    v,
                })
                .collect();
            let (mut ours, mut gorilla) = (0, 0);
            for chunk in samples.chunks(1024) {
                ours += encode(chunk).len();
                gorilla += gorilla_bytes(chunk);
            }
            ours_total += ours;
            gorilla_total += gorilla;
            println!(
                "| {name} | {:.3} | {:.3} |",
                ours as f64 / n as f64,
                gorilla as f64 / n as f64
            );
        }
        let all = (n * shapes.len()) as f64;
        println!(
            "| all | {:.3} | {:.3} |",
            ours_total as f64 / all,
            gorilla_total as f64 / all
        );
    }

    proptest! {
        #[test]
        fn arbitrary_samples_roundtrip(
            start in -(1i64 << 61)..(1i64 << 61),
            steps in proptest::collection::vec(1i64..1_000_000_000, 0..300),
            values in proptest::collection::vec(any::<f64>(), 300),
        ) {
            let mut t = start;
            let mut samples = vec![Sample { t, v: values[0] }];
            for (i, step) in steps.iter().enumerate() {
                t += step;
                samples.push(Sample { t, v: values[(i + 1) % values.len()] });
            }
            roundtrip(&samples);
        }

        #[test]
        fn decimal_values_roundtrip(
            ints in proptest::collection::vec(-1_000_000_000i64..1_000_000_000, 1..300),
            decimals in 0u32..=9,
        ) {
            let samples: Vec<Sample> = ints.iter().enumerate()
                .map(|(i, &x)| Sample { t: i as i64 * 15_000, v: x as f64 / POW10[decimals as usize] })
                .collect();
            roundtrip(&samples);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut out = Vec::new();
            let _ = decode(&bytes, &mut out);
        }
    }
}
