//! Files and directories only their owner can read: the one place the data directory's modes
//! are decided (directories 0700, files 0600), for the ledger here and the control plane's
//! stores, keys and logs.
//!
//! SQLite creates a database's `-wal`, `-shm` and `-journal` files with the database file's own
//! mode, so [`prepare_sqlite`] gives the database file mode 0600 *before* SQLite opens it: the
//! files SQLite makes later inherit it, whatever the process umask is. Existing files (from a
//! data directory made by an older release) are narrowed on open.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The mode of every directory Writ keeps state in.
pub const DIR_MODE: u32 = 0o700;
/// The mode of every file Writ keeps state in.
pub const FILE_MODE: u32 = 0o600;

/// The files SQLite keeps beside a database.
pub const SQLITE_SUFFIXES: [&str; 4] = ["", "-wal", "-shm", "-journal"];

/// Creates `dir` (and missing parents, each 0700) or narrows an existing one to 0700.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    restrict(dir, DIR_MODE)
}

/// Sets `path`'s mode to `mode` unless it already has it.
fn restrict(path: &Path, mode: u32) -> io::Result<()> {
    let meta = fs::metadata(path)?;
    if meta.permissions().mode() & 0o7777 != mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Makes the SQLite database at `db` safe to open: an absent database is created empty with
/// mode 0600 (so SQLite's `-wal`, `-shm` and `-journal` files get 0600 too); an existing one
/// and the files beside it are narrowed to 0600.
pub fn prepare_sqlite(db: &Path) -> io::Result<()> {
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(db)
    {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    for suffix in SQLITE_SUFFIXES {
        let path = with_suffix(db, suffix);
        match restrict(&path, FILE_MODE) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn new_and_old_paths_end_owner_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        create_dir(&dir).unwrap();
        assert_eq!(mode(&dir), DIR_MODE);
        assert_eq!(mode(&tmp.path().join("a")), DIR_MODE);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        create_dir(&dir).unwrap();
        assert_eq!(mode(&dir), DIR_MODE);

        let db = dir.join("x.db");
        prepare_sqlite(&db).unwrap();
        assert_eq!(mode(&db), FILE_MODE);
        let wal = with_suffix(&db, "-wal");
        fs::write(&wal, b"").unwrap();
        fs::set_permissions(&wal, fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(&db, fs::Permissions::from_mode(0o644)).unwrap();
        prepare_sqlite(&db).unwrap();
        assert_eq!((mode(&db), mode(&wal)), (FILE_MODE, FILE_MODE));
    }
}
