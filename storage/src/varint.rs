//! Byte-level varints (LEB128) and zigzag, for the series table, the log record encoding and
//! the write-ahead log.

pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, zigzag(v));
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Reads a varint and advances `buf`; `None` on truncation or overflow.
pub(crate) fn get_uvarint(buf: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for (i, &b) in buf.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            *buf = &buf[i + 1..];
            return Some(v);
        }
    }
    None
}

pub(crate) fn get_varint(buf: &mut &[u8]) -> Option<i64> {
    get_uvarint(buf).map(unzigzag)
}

pub(crate) fn get_bytes<'a>(buf: &mut &'a [u8]) -> Option<&'a [u8]> {
    let n = usize::try_from(get_uvarint(buf)?).ok()?;
    if buf.len() < n {
        return None;
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Some(head)
}

pub(crate) fn get_u64_le(buf: &mut &[u8]) -> Option<u64> {
    let (head, rest) = buf.split_first_chunk::<8>()?;
    *buf = rest;
    Some(u64::from_le_bytes(*head))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varint_roundtrip(v in any::<i64>(), u in any::<u64>()) {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            put_uvarint(&mut out, u);
            let mut buf = out.as_slice();
            prop_assert_eq!(get_varint(&mut buf), Some(v));
            prop_assert_eq!(get_uvarint(&mut buf), Some(u));
            prop_assert!(buf.is_empty());
        }

        #[test]
        fn truncated_input_is_none_not_panic(bytes in proptest::collection::vec(any::<u8>(), 0..20)) {
            let mut buf = bytes.as_slice();
            let _ = get_bytes(&mut buf);
            let mut buf = bytes.as_slice();
            let _ = get_uvarint(&mut buf);
        }
    }
}
