//! Schema versions of Writ's SQLite stores, kept in each database's `PRAGMA user_version`.
//!
//! Every store (the ledger's `ledger.db`, the control plane's `control.db` and `index.db`, and
//! any store added later) names the version it writes and calls [`refuse_newer`] when it opens
//! a database: a store at an older version is migrated by its owner on start; a store at a
//! newer version was written by a newer release, whose meaning this release cannot know, so it
//! is refused with a message naming both versions and what to do, and nothing is written to it.
//! Version 0 is a store made before versions were recorded.

use std::path::Path;

use rusqlite::Connection;

use crate::error::SchemaError;

/// The schema version recorded in `conn`'s database (0 when none was ever recorded).
pub fn read(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Records `version` in `conn`'s database.
pub fn record(conn: &Connection, version: i64) -> rusqlite::Result<()> {
    conn.pragma_update(None, "user_version", version)
}

/// The version of the store at `path` (open as `conn`), refused when it is newer than
/// `supported`, the version this release writes.
pub fn refuse_newer(conn: &Connection, path: &Path, supported: i64) -> Result<i64, SchemaError> {
    let found = read(conn).map_err(|source| SchemaError::Unreadable {
        path: path.display().to_string(),
        source,
    })?;
    if found > supported {
        return Err(SchemaError::Newer {
            path: path.display().to_string(),
            found,
            supported,
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_newer_store_is_refused_naming_both_versions() {
        let conn = Connection::open_in_memory().unwrap();
        assert_eq!(refuse_newer(&conn, Path::new("x.db"), 1).unwrap(), 0);
        record(&conn, 1).unwrap();
        assert_eq!(refuse_newer(&conn, Path::new("x.db"), 1).unwrap(), 1);
        record(&conn, 7).unwrap();
        let e = refuse_newer(&conn, Path::new("x.db"), 1).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("x.db") && msg.contains("version 7") && msg.contains("version 1"));
        assert_eq!(e.reason_code(), writ_model::ReasonCode::StoreNewerSchema);
    }
}
