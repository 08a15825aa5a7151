//! File-system helpers shared by the stores.

use std::path::Path;

use crate::StorageError;

/// Bytes of every file under `path`, recursively. Files that vanish during the walk (a
/// compaction or merge deleting them) count as zero; a missing `path` is 0 bytes.
pub(crate) fn dir_size(path: &Path) -> Result<u64, StorageError> {
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(StorageError::io(path, e)),
    };
    let mut total = 0;
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io(path, e))?;
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StorageError::io(entry.path(), e)),
        };
        total += if meta.is_dir() {
            dir_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// Makes the directory entries of `dir` (files created, renamed or removed in it) durable.
pub fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::io(dir, e))
}

/// Writes `dir/name` so that a crash leaves the old content or the new, never a mix. Each
/// call writes its own temporary file (two writers of the same file, e.g. a store being
/// reopened while the old handle's last write is in flight, must not rename each other's
/// half-written bytes); a crash between write and rename can leave one `*.tmp` behind.
pub fn write_atomically(dir: &Path, name: &str, content: &[u8]) -> Result<(), StorageError> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let path = dir.join(name);
    let unique = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!("{name}.{}-{unique}.tmp", std::process::id()));
    let written = std::fs::write(&tmp, content)
        .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(StorageError::io(&path, e));
    }
    sync_dir(dir)
}
