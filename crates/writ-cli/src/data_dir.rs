//! One owner per data directory: `writ serve` (and `writ demo --dir`) holds an exclusive
//! `flock` on `DATA_DIR/writ.lock` for as long as it runs, so a second control plane on the
//! same directory refuses at once, naming the holder's pid, instead of diverging from the
//! first (two writers of one ledger). The kernel drops the lock when the holder exits, however
//! it exits, so a crash never leaves a stale lock behind.
//!
//! `serve --init` is atomic: the directory is built under a temporary sibling name and renamed
//! into place only once complete, so a failed init leaves nothing and a retry starts afresh.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use nix::fcntl::{Flock, FlockArg};

use crate::cli_output::invalid_input;

/// The lock file in the data directory.
pub use writ_server::state::LOCK_FILE;

/// The held lock; dropping it releases the directory.
#[derive(Debug)]
pub struct DataDirLock {
    _file: Flock<File>,
}

/// Takes the data directory `dir` for this process, or refuses (exit code 3) when another
/// process holds it, naming that process's pid.
pub fn lock(dir: &Path) -> anyhow::Result<DataDirLock> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut held) => {
            // The pid is for the message of whoever comes next; the lock itself is the flock.
            held.set_len(0)
                .and_then(|()| held.rewind())
                .and_then(|()| writeln!(held, "{}", std::process::id()))
                .and_then(|()| held.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(DataDirLock { _file: held })
        }
        Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let holder = match text.trim().parse::<u32>() {
                Ok(pid) => format!("process {pid}"),
                Err(_) => "another process".to_owned(),
            };
            Err(invalid_input(format!(
                "the data directory {} is in use by {holder} (it holds {}): stop that `writ serve` first, or pass another --data-dir",
                dir.display(),
                path.display()
            )))
        }
        Err((_, e)) => Err(anyhow::anyhow!(
            "cannot lock {}: {e}; the data directory must be on a filesystem that supports flock",
            path.display()
        )),
    }
}

/// Where a new data directory for `dir` is built before it is renamed into place.
fn staging_path(dir: &Path) -> anyhow::Result<PathBuf> {
    let name = dir
        .file_name()
        .ok_or_else(|| invalid_input(format!("{} names no directory", dir.display())))?;
    let mut staged = std::ffi::OsString::from(".");
    staged.push(name);
    staged.push(format!(".init-{}", std::process::id()));
    Ok(dir.with_file_name(staged))
}

/// Runs `init` on a temporary sibling of `dir`, then renames it to `dir`. On any failure the
/// sibling is removed and `dir` is left as it was. `dir` must not exist, or be an empty
/// directory.
pub fn init_atomically<T>(
    dir: &Path,
    init: impl FnOnce(&Path) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    if let Ok(mut entries) = std::fs::read_dir(dir) {
        if entries.next().is_some() {
            return Err(invalid_input(format!(
                "{} exists and is not an initialized Writ data directory: remove it or pass another --data-dir",
                dir.display()
            )));
        }
        std::fs::remove_dir(dir)
            .with_context(|| format!("cannot replace the empty directory {}", dir.display()))?;
    }
    let staged = staging_path(dir)?;
    if let Some(parent) = staged.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    // A leftover of a crashed init by a process with this pid: it was never renamed, so it
    // is not anyone's data directory.
    let _ = std::fs::remove_dir_all(&staged);
    let made = init(&staged).and_then(|v| {
        std::fs::rename(&staged, dir).with_context(|| {
            format!(
                "cannot move the new data directory into place at {} (did another `writ serve --init` create it meanwhile?)",
                dir.display()
            )
        })?;
        Ok(v)
    });
    match made {
        Ok(v) => {
            // The rename is durable once the parent directory is synced.
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty())
                && let Ok(d) = File::open(parent)
            {
                let _ = d.sync_all();
            }
            Ok(v)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staged);
            Err(e)
        }
    }
}
