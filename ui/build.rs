//! Embeds the web app's build (`web/dist`, made by `scripts/build-ui`) into the crate: writes
//! `$OUT_DIR/assets.rs`, a table of every file with its content type, its bytes
//! (`include_bytes!`) and, for text, a gzip copy made here so the server never compresses
//! per request. Without `web/dist` the table is empty and the router answers 503, so
//! `cargo check` works on a fresh clone that has no Node toolchain run yet.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let dist = manifest.join("web").join("dist");
    // Cargo watches a directory's files recursively; a missing path makes it rerun every
    // build, which is what a later `scripts/build-ui` needs to be picked up.
    println!("cargo:rerun-if-changed={}", dist.display());

    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        collect(&dist, &mut files);
    }
    files.sort();

    let gz_dir = out.join("gz");
    let _ = std::fs::create_dir_all(&gz_dir);
    let mut table = String::from("pub(crate) static ASSETS: &[Asset] = &[\n");
    for (i, file) in files.iter().enumerate() {
        let Ok(relative) = file.strip_prefix(&dist) else {
            continue;
        };
        let url = format!(
            "/{}",
            relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        );
        let content_type = content_type(file);
        let gzip = if content_type.starts_with("text/")
            || content_type.starts_with("application/javascript")
            || content_type.starts_with("application/json")
            || content_type.starts_with("image/svg")
        {
            gzip_copy(file, &gz_dir.join(format!("{i}.gz")))
        } else {
            None
        };
        let gzip = match gzip {
            Some(path) => format!("Some(include_bytes!({:?}))", path.display().to_string()),
            None => "None".to_string(),
        };
        let _ = writeln!(
            table,
            "    Asset {{ path: {url:?}, content_type: {content_type:?}, body: include_bytes!({:?}), gzip: {gzip} }},",
            file.display().to_string()
        );
    }
    table.push_str("];\n");
    if let Err(e) = std::fs::write(out.join("assets.rs"), table) {
        panic!("cannot write the asset table: {e}");
    }
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.is_file() {
            files.push(path);
        }
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "application/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Writes a gzip copy when it saves at least a tenth; small or incompressible files are
/// served as they are.
fn gzip_copy(source: &Path, target: &Path) -> Option<PathBuf> {
    let body = std::fs::read(source).ok()?;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&body).ok()?;
    let compressed = encoder.finish().ok()?;
    if compressed.len() * 10 > body.len() * 9 {
        return None;
    }
    std::fs::write(target, compressed).ok()?;
    Some(target.to_path_buf())
}
