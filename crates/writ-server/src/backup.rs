//! Online backup and restore of a data directory (`writ backup`, `writ restore`).
//!
//! A backup is taken by a separate process while `writ serve` keeps running; it never takes
//! the data directory's lock and never writes into the data directory. This is safe because
//! every store is SQLite in WAL mode: a reader in another process holds a snapshot (one read
//! transaction) that the writer's commits never change and never wait for, and SQLite's online
//! backup API copies that snapshot's pages in one step, so each copied store is exactly the
//! store as of one commit. (A backup through an admin API would have the server write where a
//! network caller names, which is a wider power than the file system's own permissions.)
//!
//! What is copied is found, not listed: every file under the data directory except the lock,
//! SQLite's `-wal`/`-shm`/`-journal` side files and temporaries; a file that starts with the
//! SQLite header goes through the backup API, any other file (keys, trust list, the append-only
//! writ log) is copied as it is. A store added later is included by construction.
//!
//! Stores are copied one after another, in an order that keeps references inside the copy:
//! SQLite stores first, then plain files (the writ log after the index that points into it),
//! and the ledger last, so the ledger's copy holds every entry any other copy refers to (the
//! execution index is re-derived from the ledger on start and catches up). Every record
//! acknowledged before the backup began is in the copy; one acknowledged during it may be.
//!
//! The backup directory ends with `writ-backup.json`, a manifest of every file with its size
//! and SHA-256, written last: a backup without one is incomplete and restore refuses it.
//! Restore checks each file against the manifest and builds a new data directory from it
//! (directories 0700, files 0600).

use std::fs;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use writ_ledger::owner_only;

use crate::error::ServerError;
use crate::state::{LEDGER_DIR, WRIT_KEY_FILE};

/// The manifest's file name inside a backup directory.
pub const MANIFEST: &str = "writ-backup.json";
/// The manifest's format tag.
pub const FORMAT: &str = "writ.backup/v1";

/// The first 16 bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// How a file was copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// A SQLite database, copied as one snapshot by the online backup API.
    Sqlite,
    /// Any other file, copied byte for byte.
    File,
}

/// One file of a backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupFile {
    /// Its path relative to the data directory, `/`-separated.
    pub path: String,
    pub kind: FileKind,
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the copied file.
    pub sha256: String,
}

/// `writ-backup.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    /// The release that took the backup.
    pub writ_version: String,
    /// When the backup began (Unix seconds).
    pub started_at: i64,
    /// The files, in the order they were copied.
    pub files: Vec<BackupFile>,
}

fn config(msg: String) -> ServerError {
    ServerError::Config(msg)
}

fn io_at(path: &Path, e: std::io::Error) -> ServerError {
    config(format!("{}: {e}", path.display()))
}

/// True for files the data directory holds but a backup leaves out: the lock, SQLite's side
/// files (their content is in the snapshot) and temporaries of atomic writes.
fn skipped(name: &str) -> bool {
    name == crate::state::LOCK_FILE
        || owner_only::SQLITE_SUFFIXES
            .iter()
            .any(|s| !s.is_empty() && name.ends_with(s))
        || name.ends_with(".tmp")
        || name.starts_with('.')
}

fn is_sqlite(path: &Path) -> Result<bool, ServerError> {
    let mut head = [0u8; 16];
    let mut f = fs::File::open(path).map_err(|e| io_at(path, e))?;
    match f.read_exact(&mut head) {
        Ok(()) => Ok(&head == SQLITE_HEADER),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(io_at(path, e)),
    }
}

/// Every file to copy under `dir`, relative, in copy order.
fn files_to_copy(dir: &Path) -> Result<Vec<(PathBuf, FileKind)>, ServerError> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let abs = dir.join(&rel);
        let mut entries = fs::read_dir(&abs)
            .map_err(|e| io_at(&abs, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| io_at(&abs, e))?;
        entries.sort_by_key(fs::DirEntry::file_name);
        for entry in entries {
            let name = entry.file_name();
            let Some(name_str) = name.to_str() else {
                return Err(config(format!(
                    "{} has a name that is not UTF-8; move it out of the data directory",
                    entry.path().display()
                )));
            };
            let ty = entry.file_type().map_err(|e| io_at(&entry.path(), e))?;
            if ty.is_dir() {
                pending.push(rel.join(&name));
            } else if ty.is_file() && !skipped(name_str) {
                let kind = if is_sqlite(&entry.path())? {
                    FileKind::Sqlite
                } else {
                    FileKind::File
                };
                found.push((rel.join(&name), kind));
            }
        }
    }
    let ledger = Path::new(LEDGER_DIR).join(writ_ledger::ledger::STORE_FILE);
    // SQLite stores, then plain files, then the ledger (see the module docs).
    found.sort_by_key(|(p, kind)| (*p == ledger, *kind == FileKind::File, p.clone()));
    Ok(found)
}

/// Copies the snapshot of the SQLite database `src` to the new file `dst` (0600).
fn copy_sqlite(src: &Path, dst: &Path) -> Result<(), ServerError> {
    let from = Connection::open_with_flags(
        src,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    from.busy_timeout(Duration::from_secs(10))?;
    owner_only::prepare_sqlite(dst).map_err(|e| io_at(dst, e))?;
    let mut to = Connection::open(dst)?;
    {
        let backup = Backup::new(&from, &mut to)?;
        // All pages in one step: one read transaction, so one snapshot however busy the
        // writer is (a step-wise copy restarts whenever another process writes).
        let mut tries = 0u32;
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                StepResult::More | StepResult::Busy | StepResult::Locked if tries < 1000 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => {
                    return Err(config(format!(
                        "{} stayed locked; try the backup again",
                        src.display()
                    )));
                }
            }
        }
    }
    let check: String = to.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(config(format!(
            "the copy of {} does not pass SQLite's quick_check ({check}); the store may be damaged",
            src.display()
        )));
    }
    // A self-contained file: no -wal beside it.
    to.pragma_update(None, "journal_mode", "DELETE")?;
    drop(to);
    Ok(())
}

/// Copies `src` to the new file `dst` (0600) byte for byte.
fn copy_file(src: &Path, dst: &Path) -> Result<(), ServerError> {
    let mut from = fs::File::open(src).map_err(|e| io_at(src, e))?;
    let mut to = create_private(dst)?;
    std::io::copy(&mut from, &mut to).map_err(|e| io_at(dst, e))?;
    to.sync_all().map_err(|e| io_at(dst, e))
}

fn create_private(path: &Path) -> Result<fs::File, ServerError> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(owner_only::FILE_MODE)
        .open(path)
        .map_err(|e| io_at(path, e))
}

/// Size and SHA-256 of `path`, read in chunks (a ledger can be large).
fn digest_file(path: &Path) -> Result<(u64, String), ServerError> {
    let mut f = fs::File::open(path).map_err(|e| io_at(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| io_at(path, e))?;
        let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
            break;
        };
        hasher.update(chunk);
        total += n as u64;
    }
    Ok((total, hex::encode(hasher.finalize())))
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn relative_str(rel: &Path) -> Result<String, ServerError> {
    let parts: Vec<&str> = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => s.to_str(),
            _ => None,
        })
        .collect::<Option<_>>()
        .ok_or_else(|| config(format!("{} is not a plain relative path", rel.display())))?;
    Ok(parts.join("/"))
}

/// Takes an online backup of the data directory `data_dir` into `out` (absent or empty;
/// created 0700). Returns the manifest, also written as `out/writ-backup.json`.
pub fn backup(data_dir: &Path, out: &Path, now: i64) -> Result<Manifest, ServerError> {
    if !data_dir.join(LEDGER_DIR).is_dir() || !data_dir.join(WRIT_KEY_FILE).is_file() {
        return Err(config(format!(
            "{} is not a Writ data directory (no {LEDGER_DIR}/ or {WRIT_KEY_FILE}); pass the --data-dir the server runs with",
            data_dir.display()
        )));
    }
    if fs::read_dir(out).is_ok_and(|mut d| d.next().is_some()) {
        return Err(config(format!(
            "{} is not empty; back up into a new directory",
            out.display()
        )));
    }
    owner_only::create_dir(out).map_err(|e| io_at(out, e))?;
    let mut files = Vec::new();
    for (rel, kind) in files_to_copy(data_dir)? {
        let src = data_dir.join(&rel);
        let dst = out.join(&rel);
        if let Some(parent) = dst.parent() {
            owner_only::create_dir(parent).map_err(|e| io_at(parent, e))?;
        }
        match kind {
            FileKind::Sqlite => copy_sqlite(&src, &dst)?,
            FileKind::File => copy_file(&src, &dst)?,
        }
        let (bytes, sha256) = digest_file(&dst)?;
        files.push(BackupFile {
            path: relative_str(&rel)?,
            kind,
            bytes,
            sha256,
        });
    }
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        writ_version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: now,
        files,
    };
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| config(format!("cannot encode the manifest: {e}")))?;
    let path = out.join(MANIFEST);
    let mut f = create_private(&path)?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all())
        .map_err(|e| io_at(&path, e))?;
    sync_dir(out);
    Ok(manifest)
}

/// Reads and checks the manifest of the backup in `from`.
pub fn read_manifest(from: &Path) -> Result<Manifest, ServerError> {
    let path = from.join(MANIFEST);
    let text = fs::read_to_string(&path).map_err(|e| {
        config(format!(
            "{}: {e}; a backup without its manifest is incomplete: take it again",
            path.display()
        ))
    })?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
        config(format!(
            "{} is not a Writ backup manifest: {e}",
            path.display()
        ))
    })?;
    if manifest.format != FORMAT {
        return Err(config(format!(
            "{} has format {:?}; this release restores {FORMAT:?}",
            path.display(),
            manifest.format
        )));
    }
    Ok(manifest)
}

/// Restores the backup in `from` into `into`, which must be empty (the caller builds it
/// aside and renames it into place). Every file is checked against the manifest's size and
/// SHA-256; any mismatch, unsafe path or missing file refuses the whole restore.
pub fn restore_into(from: &Path, into: &Path) -> Result<Manifest, ServerError> {
    let manifest = read_manifest(from)?;
    owner_only::create_dir(into).map_err(|e| io_at(into, e))?;
    for file in &manifest.files {
        let rel = Path::new(&file.path);
        // The manifest is input: only plain relative names stay inside the new directory.
        let plain = rel.components().all(|c| matches!(c, Component::Normal(_)));
        if !plain || file.path.is_empty() || file.path.contains('\\') {
            return Err(config(format!(
                "the manifest names {:?}, which is not a plain relative path; the backup is not genuine",
                file.path
            )));
        }
        let src = from.join(rel);
        let dst = into.join(rel);
        if let Some(parent) = dst.parent() {
            owner_only::create_dir(parent).map_err(|e| io_at(parent, e))?;
        }
        copy_file(&src, &dst)?;
        let (bytes, sha256) = digest_file(&dst)?;
        if bytes != file.bytes || sha256 != file.sha256 {
            return Err(config(format!(
                "{} does not match the manifest (size {bytes}, sha256 {sha256}; the manifest says {} and {}); the backup is damaged",
                src.display(),
                file.bytes,
                file.sha256
            )));
        }
    }
    if !into.join(LEDGER_DIR).is_dir() {
        return Err(config(format!(
            "the backup in {} holds no ledger; it is not a Writ data directory's backup",
            from.display()
        )));
    }
    sync_dir(into);
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_files_locks_and_temporaries_are_left_out() {
        for name in [
            "writ.lock",
            "control.db-wal",
            "index.db-shm",
            "x.db-journal",
            "bundle-trust.txt.tmp",
            ".data.init-7",
        ] {
            assert!(skipped(name), "{name}");
        }
        for name in ["control.db", "writs.log", "writ-signing.key", "evidence.db"] {
            assert!(!skipped(name), "{name}");
        }
    }
}
