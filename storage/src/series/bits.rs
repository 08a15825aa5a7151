//! A big-endian bit stream: what the chunk codec writes and reads.

pub(crate) struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    /// Bits held in `acc`, always < 8 after a write returns.
    nacc: u32,
}

impl BitWriter {
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        BitWriter {
            out: Vec::with_capacity(bytes),
            acc: 0,
            nacc: 0,
        }
    }

    /// Writes the low `n` bits of `v` (0 ≤ n ≤ 64), most significant first.
    pub(crate) fn write(&mut self, v: u64, n: u32) {
        if n == 0 {
            return;
        }
        if n > 32 {
            self.write(v >> 32, n - 32);
            self.write(v & 0xffff_ffff, 32);
            return;
        }
        let v = v & ((1u64 << n) - 1);
        self.acc = (self.acc << n) | v;
        self.nacc += n;
        while self.nacc >= 8 {
            self.nacc -= 8;
            self.out.push((self.acc >> self.nacc) as u8);
        }
        self.acc &= (1u64 << self.nacc) - 1;
    }

    pub(crate) fn write_bit(&mut self, b: bool) {
        self.write(u64::from(b), 1);
    }

    /// LEB128-style varint in 8-bit groups, for header fields inside the bit stream.
    pub(crate) fn write_uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.write((v & 0x7f) | 0x80, 8);
            v >>= 7;
        }
        self.write(v, 8);
    }

    pub(crate) fn write_varint(&mut self, v: i64) {
        self.write_uvarint(super::varint::zigzag(v));
    }

    pub(crate) fn bit_len(&self) -> usize {
        self.out.len() * 8 + self.nacc as usize
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        if self.nacc > 0 {
            self.out.push((self.acc << (8 - self.nacc)) as u8);
        }
        self.out
    }
}

pub(crate) struct BitReader<'a> {
    buf: &'a [u8],
    /// Next bit to read, counted from the start of `buf`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        BitReader { buf, pos: 0 }
    }

    /// Reads `n` bits (0 ≤ n ≤ 64); `None` past the end.
    pub(crate) fn read(&mut self, n: u32) -> Option<u64> {
        if n == 0 {
            return Some(0);
        }
        if n > 64 || self.pos + n as usize > self.buf.len() * 8 {
            return None;
        }
        let mut v = 0u64;
        let mut left = n;
        while left > 0 {
            let byte = self.buf[self.pos / 8];
            let offset = (self.pos % 8) as u32;
            let avail = 8 - offset;
            let take = avail.min(left);
            let bits = (u64::from(byte) >> (avail - take)) & ((1u64 << take) - 1);
            v = (v << take) | bits;
            left -= take;
            self.pos += take as usize;
        }
        Some(v)
    }

    pub(crate) fn read_bit(&mut self) -> Option<bool> {
        self.read(1).map(|b| b == 1)
    }

    pub(crate) fn read_uvarint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.read(8)?;
            v |= (b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    pub(crate) fn read_varint(&mut self) -> Option<i64> {
        self.read_uvarint().map(super::varint::unzigzag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn bits_roundtrip(items in proptest::collection::vec((any::<u64>(), 0u32..=64), 0..200)) {
            let mut w = BitWriter::with_capacity(0);
            for &(v, n) in &items {
                w.write(v, n);
            }
            let total = w.bit_len();
            let buf = w.finish();
            prop_assert_eq!(buf.len(), total.div_ceil(8));
            let mut r = BitReader::new(&buf);
            for &(v, n) in &items {
                let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
                prop_assert_eq!(r.read(n), Some(v & mask));
            }
        }
    }
}
