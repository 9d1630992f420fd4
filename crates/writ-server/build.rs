//! Embeds the web console (`ui/` at the repository root) in the binary: every asset with its
//! gzip form and the shell page, under a build id that is the SHA-256 of all of them, so asset
//! URLs change whenever any asset does and can be cached for good. No Node.js, no network.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Files served from `ui/`: the console's own code. Tests, notes and test packages stay out.
const SERVED: &[&str] = &["html", "js", "css", "svg"];
const SKIPPED_DIRS: &[&str] = &["tests", "test", "node_modules"];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let ui = manifest.join("../../ui");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    println!("cargo:rerun-if-changed={}", ui.display());
    let mut files = Vec::new();
    collect(&ui, &ui, &mut files);
    files.sort();
    let mut build = Sha256::new();
    for (rel, path) in &files {
        let bytes = std::fs::read(path).unwrap_or_default();
        build.update((rel.len() as u64).to_be_bytes());
        build.update(rel.as_bytes());
        build.update((bytes.len() as u64).to_be_bytes());
        build.update(&bytes);
    }
    let build_id: String = build
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let gz_dir = out.join("ui-gz");
    let _ = std::fs::create_dir_all(&gz_dir);
    let mut code = String::new();
    let _ = writeln!(code, "pub const BUILD: &str = {build_id:?};");
    let _ = writeln!(code, "pub static ASSETS: &[Asset] = &[");
    let mut shell = None;
    for (n, (rel, path)) in files.iter().enumerate() {
        let mut bytes = std::fs::read(path).unwrap_or_default();
        if rel == "index.html" {
            // The shell names the assets under this build's prefix.
            let text = String::from_utf8_lossy(&bytes)
                .replace("%ASSETS%", &format!("/ui/assets/{build_id}"));
            bytes = text.into_bytes();
        }
        let raw = gz_dir.join(format!("{n}.raw"));
        let gz = gz_dir.join(format!("{n}.gz"));
        let _ = std::fs::write(&raw, &bytes);
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let _ = enc.write_all(&bytes);
        let _ = std::fs::write(&gz, enc.finish().unwrap_or_default());
        let entry = format!(
            "    Asset {{ path: {rel:?}, mime: {:?}, body: include_bytes!({:?}), gzip: include_bytes!({:?}) }},",
            mime(rel),
            raw.display().to_string(),
            gz.display().to_string()
        );
        if rel == "index.html" {
            shell = Some(entry.replace("    Asset", "Asset"));
        } else {
            let _ = writeln!(code, "{entry}");
        }
    }
    let _ = writeln!(code, "];");
    let _ = writeln!(
        code,
        "pub static SHELL: Option<Asset> = {};",
        shell.map_or_else(
            || "None".to_owned(),
            |s| format!("Some({})", s.trim_end_matches(','))
        )
    );
    let _ = std::fs::write(out.join("ui_assets.rs"), code);
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.filter_map(Result::ok) {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            if !SKIPPED_DIRS.contains(&name.as_str()) {
                collect(root, &path, out);
            }
            continue;
        }
        let ext = path.extension().and_then(|x| x.to_str()).unwrap_or("");
        if !SERVED.contains(&ext) {
            continue;
        }
        if let Ok(rel) = path.strip_prefix(root) {
            out.push((rel.to_string_lossy().replace('\\', "/"), path));
        }
    }
}

fn mime(rel: &str) -> &'static str {
    match rel.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}
