//! RocksDB key layouts. Integers are big-endian; signed ones have their sign bit flipped so
//! that byte order equals numeric order (times before 1970 sort first).

use super::SeriesId;

pub(crate) const CF_SERIES: &str = "series";
pub(crate) const CF_CHUNKS: &str = "chunks";
pub(crate) const CF_META: &str = "meta";
pub(crate) const META_WAL_CHECKPOINT: &[u8] = b"wal_checkpoint";
pub(crate) const META_FORMAT: &[u8] = b"format_version";
pub(crate) const META_CHUNK_SEQ_FLOOR: &[u8] = b"chunk_seq_floor";
pub(crate) const FORMAT_VERSION: &[u8] = b"1";

pub(crate) fn flip(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

pub(crate) fn unflip(b: &[u8]) -> Option<i64> {
    let arr: [u8; 8] = b.get(..8)?.try_into().ok()?;
    Some((u64::from_be_bytes(arr) ^ (1 << 63)) as i64)
}

pub(crate) fn series_key(id: SeriesId) -> [u8; 8] {
    id.to_be_bytes()
}

pub(crate) fn series_id_of(key: &[u8]) -> Option<SeriesId> {
    Some(u64::from_be_bytes(key.get(..8)?.try_into().ok()?))
}

/// `[partition start][series id][chunk min time][chunk sequence]`: a partition's chunks are
/// contiguous (retention deletes a key range), a series' chunks are contiguous inside it, and
/// the sequence keeps two chunks starting at the same millisecond apart.
pub(crate) fn chunk_key(partition: i64, id: SeriesId, min_t: i64, seq: u64) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..8].copy_from_slice(&flip(partition));
    k[8..16].copy_from_slice(&id.to_be_bytes());
    k[16..24].copy_from_slice(&flip(min_t));
    k[24..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub(crate) fn chunk_prefix(partition: i64, id: SeriesId) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&flip(partition));
    k[8..16].copy_from_slice(&id.to_be_bytes());
    k
}

pub(crate) struct ChunkKey {
    pub(crate) series: SeriesId,
    pub(crate) min_t: i64,
}

pub(crate) fn parse_chunk_key(k: &[u8]) -> Option<ChunkKey> {
    if k.len() != 32 {
        return None;
    }
    Some(ChunkKey {
        series: series_id_of(&k[8..16])?,
        min_t: unflip(&k[16..24])?,
    })
}
