//! Reading a bundle from a directory and writing its signature: the only I/O in this crate,
//! kept apart from the pure decision path.

use std::path::Path;

use crate::bundle::{BundleSource, SIGNATURE_FILE};
use crate::error::BundleError;
use crate::signature::BundleSignature;

/// Reads the bundle files (`*.cedarschema`, `*.cedar`, `entities.json`, `bundle.sig`) in `dir`
/// (not recursive; other files are ignored).
pub fn read_bundle_dir(dir: &Path) -> Result<BundleSource, BundleError> {
    let io = |e: std::io::Error| BundleError::Io(format!("{}: {e}", dir.display()));
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if !entry.file_type().map_err(io)?.is_file() {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let bytes = std::fs::read(entry.path())
            .map_err(|e| BundleError::Io(format!("{}: {e}", entry.path().display())))?;
        files.push((name, bytes));
    }
    BundleSource::from_files(files)
}

/// Writes `bundle.sig` into `dir`.
pub fn write_signature(dir: &Path, sig: &BundleSignature) -> Result<(), BundleError> {
    let path = dir.join(SIGNATURE_FILE);
    std::fs::write(&path, sig.to_json())
        .map_err(|e| BundleError::Io(format!("{}: {e}", path.display())))
}
