//! Storage: a small trait the ledger writes through, and its embedded SQLite implementation
//! (WAL, `synchronous=FULL`). One transaction per batch holds the batch's entries with their
//! leaf hashes, the hash tiles it completed or changed and the checkpoint that covers it, so a
//! store is never half-integrated. The partial level-0 tile is not rewritten on every commit:
//! it is the leaf hashes of the entries after the last full level-0 tile.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::entry::Sealed;
use crate::error::{LedgerError, io_error};

/// One group-committed batch.
#[derive(Debug)]
pub struct BatchWrite<'a> {
    /// Index of the first entry.
    pub first_index: u64,
    /// The entries, in order.
    pub entries: &'a [Vec<u8>],
    /// The disclosures of the batch's v2 entries: (index, salt and private object).
    pub disclosures: &'a [(u64, Sealed)],
    /// Their RFC 6962 leaf hashes, in the same order.
    pub leaf_hashes: &'a [crate::hash::Hash],
    /// Hash tiles written or widened by the batch: (level, index, bytes).
    pub tiles: &'a [(u8, u64, Vec<u8>)],
    /// The new tree size.
    pub checkpoint_size: u64,
    /// The signed checkpoint note at that size.
    pub checkpoint_note: &'a str,
}

/// What reading the log needs from storage: the ledger's reads (proofs, tiles, entries,
/// evidence), index rebuild and replay, and whole-store verification all go through it, so
/// none of them runs SQL. Implementations: [`SqliteStore`] and [`crate::pg::PgStore`].
pub trait LogReader: Send {
    /// A short name of the store for messages (`ledger.db`, `postgres`).
    fn store_name(&self) -> String;
    /// The checkpoint note with the largest size, with that size.
    fn latest_checkpoint(&mut self) -> Result<Option<(u64, Vec<u8>)>, LedgerError>;
    /// The largest checkpoint size stored, without its note: what a follower polls.
    fn latest_checkpoint_size(&mut self) -> Result<Option<u64>, LedgerError> {
        Ok(self.latest_checkpoint()?.map(|(size, _)| size))
    }
    /// True when other processes may append to the same store (PostgreSQL shared by many
    /// nodes): the ledger then follows the store's checkpoints with a thread of its own and
    /// serializes its batches through [`LogStore::begin_batch`]. False (the default) for a
    /// store with one writer (SQLite: one writer per file).
    fn shared(&self) -> bool {
        false
    }
    /// The checkpoint note published at exactly `size`.
    fn checkpoint_at(&mut self, size: u64) -> Result<Option<Vec<u8>>, LedgerError>;
    /// The stored (widest) version of hash tile (`level`, `index`).
    fn tile(&mut self, level: u8, index: u64) -> Result<Option<Vec<u8>>, LedgerError>;
    /// Entries `start..end`, in order; a missing one is tampering.
    fn entries(&mut self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, LedgerError>;
    /// The stored leaf hashes of entries `start..end`, in order.
    fn leaf_hashes(&mut self, start: u64, end: u64) -> Result<Vec<crate::hash::Hash>, LedgerError>;
    /// The largest entry index stored, if any.
    fn last_entry_index(&mut self) -> Result<Option<u64>, LedgerError>;
    /// The stored disclosures of `indexes` (those erased or never made are left out), in the
    /// order asked.
    fn disclosures(&mut self, indexes: &[u64]) -> Result<Vec<(u64, Sealed)>, LedgerError>;
    /// How many disclosures the evidence store holds, and their salt and private bytes.
    fn evidence_size(&mut self) -> Result<(u64, u64), LedgerError>;
    /// The entries before `before` whose bytes contain `needle`, latest first, at most
    /// `limit`. A prefilter: callers parse each row to confirm what they look for.
    fn entries_containing(
        &mut self,
        needle: &[u8],
        before: u64,
        limit: u32,
    ) -> Result<Vec<(u64, Vec<u8>)>, LedgerError>;

    // Whole-store scans, for verification (between begin_snapshot and end_snapshot).

    /// Starts reading one consistent snapshot (until [`LogReader::end_snapshot`]).
    fn begin_snapshot(&mut self) -> Result<(), LedgerError>;
    /// Ends the snapshot.
    fn end_snapshot(&mut self) -> Result<(), LedgerError>;
    /// The store engine's own integrity check: `None` when it finds nothing wrong.
    fn integrity_check(&mut self) -> Result<Option<String>, LedgerError>;
    /// Calls `f(index, leaf hash bytes, entry bytes when with_data)` for every stored entry in
    /// index order, until `f` returns `false`.
    fn scan_entries(
        &mut self,
        with_data: bool,
        f: &mut EntryVisitor<'_>,
    ) -> Result<(), LedgerError>;
    /// Every stored tile as (level, index, bytes), ordered by level then index.
    fn all_tiles(&mut self) -> Result<Vec<(u8, u64, Vec<u8>)>, LedgerError>;
    /// Every stored checkpoint as (size, note bytes), by size.
    fn all_checkpoints(&mut self) -> Result<Vec<(u64, Vec<u8>)>, LedgerError>;
    /// Every stored disclosure as (index, salt bytes, private bytes), by index; the salt is
    /// returned as stored so a wrong length can be reported.
    fn all_disclosures(&mut self) -> Result<Vec<StoredDisclosure>, LedgerError>;
}

/// A stored disclosure as read for verification: (index, salt bytes, private bytes).
pub type StoredDisclosure = (u64, Vec<u8>, Vec<u8>);

/// The visitor of [`LogReader::scan_entries`]: (index, leaf hash bytes, entry bytes) → go on?
pub type EntryVisitor<'a> =
    dyn FnMut(u64, Vec<u8>, Option<Vec<u8>>) -> Result<bool, LedgerError> + 'a;

/// What the ledger needs from storage to write: a durable atomic batch, and erasure of
/// evidence. Every read goes through [`LogReader`].
pub trait LogStore: LogReader {
    /// Writes a batch atomically and durably; returns only after it is durable (committed).
    /// The batch's entries take indexes `first_index..`; a store refuses indexes already
    /// taken, so two writers can never both commit the same index.
    fn commit_batch(&mut self, batch: &BatchWrite<'_>) -> Result<(), LedgerError>;
    /// Starts a batch before its indexes are assigned. A store shared by several writers opens
    /// the batch's transaction, takes its sequencing lock (held until [`LogStore::commit_batch`]
    /// or [`LogStore::abort_batch`]) and returns the next index it will hand out; the writer
    /// then integrates from that index and commits within the same transaction. A store with one
    /// writer returns `None` (the default) and `commit_batch` opens its own transaction.
    fn begin_batch(&mut self) -> Result<Option<u64>, LedgerError> {
        Ok(None)
    }
    /// Rolls back the batch [`LogStore::begin_batch`] opened, if it is still open (nothing is
    /// written, the lock is released). Never fails: a transaction that cannot be rolled back
    /// is one whose connection is gone, and the server aborts it.
    fn abort_batch(&mut self) {}
    /// Deletes the disclosures of `indexes` for good (bytes included, as far as the engine
    /// allows); returns the indexes that had one.
    fn erase_disclosures(&mut self, indexes: &[u64]) -> Result<Vec<u64>, LedgerError>;
}

/// The former name of [`LogStore`].
pub use LogStore as LedgerStore;

fn tile_key(level: u8, index: u64) -> i64 {
    ((i64::from(level)) << 48) | (index as i64 & ((1i64 << 48) - 1))
}

/// Splits a tile row key into (level, index).
pub(crate) fn split_tile_key(key: i64) -> (u8, u64) {
    (
        ((key >> 48) & 0xff) as u8,
        (key & ((1i64 << 48) - 1)) as u64,
    )
}

fn to_i64(n: u64) -> Result<i64, LedgerError> {
    i64::try_from(n).map_err(|_| LedgerError::Tampered(format!("index {n} does not fit SQLite")))
}

/// The embedded SQLite store: one file, `ledger.db`, in the ledger directory.
pub struct SqliteStore {
    conn: Connection,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL, leaf BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tiles (key INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note BLOB NOT NULL);
";

/// The evidence store: the disclosure (salt, canonical private object) of each v2 entry,
/// written in the same transaction as the entry, so no committed entry ever lacks the
/// disclosure it was made with (unless it was erased). Created on every open, so a ledger made
/// before it gains it.
const EVIDENCE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS disclosures (idx INTEGER PRIMARY KEY, salt BLOB NOT NULL, private BLOB NOT NULL);
";

/// The page size of a new store. A commit writes each page it touches to the WAL as one frame
/// (two `pwrite` calls), so 16 KiB pages hold a batch of ~1.5 KB entries in far fewer frames
/// than the 4 KiB default: in `writ bench authorize` at concurrency 64 the writer's CPU per
/// authorization fell by about a tenth. (A store keeps the page size it was created with.)
pub const PAGE_SIZE: u32 = 16_384;

/// The ledger store's schema version (`PRAGMA user_version`, see [`crate::schema_version`]).
/// Version 1 is the first recorded; a store of version 0 (made before versions were recorded)
/// has the same tables and is marked version 1 when opened.
pub const SCHEMA_VERSION: i64 = 1;

impl SqliteStore {
    /// Opens (creating when `create`) the store at `path` with WAL and `synchronous=FULL`.
    pub fn open(path: &Path, create: bool) -> Result<SqliteStore, LedgerError> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        // Mode 0600 before SQLite opens it, so its -wal and -shm files are created 0600 too.
        if create || path.exists() {
            crate::owner_only::prepare_sqlite(path).map_err(|e| io_error(path, e))?;
        }
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        if create {
            // Only takes effect on a file without pages yet, so before WAL mode writes any.
            conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        }
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Deleted or moved content is overwritten, never left in free space: what the evidence
        // store erases must not survive in a page's unused area after a rebalance.
        conn.pragma_update(None, "secure_delete", "ON")?;
        let found = crate::schema_version::refuse_newer(&conn, path, SCHEMA_VERSION)?;
        if create {
            conn.execute_batch(SCHEMA)?;
        }
        conn.execute_batch(EVIDENCE_SCHEMA)?;
        if found < SCHEMA_VERSION {
            crate::schema_version::record(&conn, SCHEMA_VERSION)?;
        }
        Ok(SqliteStore { conn })
    }

    /// Column `column` (`data` or `leaf`) of entries `start..end`, in order; a gap or a
    /// missing row is tampering.
    fn blob_range(
        &mut self,
        column: &str,
        what: &str,
        start: u64,
        end: u64,
    ) -> Result<Vec<Vec<u8>>, LedgerError> {
        let sql =
            format!("SELECT idx, {column} FROM entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([to_i64(start)?, to_i64(end)?], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = Vec::new();
        for (expect, row) in (start..end).zip(rows) {
            let (idx, blob) = row?;
            if idx as u64 != expect {
                return Err(LedgerError::Tampered(format!(
                    "the {what} of entry {expect} is missing"
                )));
            }
            out.push(blob);
        }
        if out.len() as u64 != end.saturating_sub(start) {
            return Err(LedgerError::Tampered(format!(
                "{what}s {start}..{end} are not all stored"
            )));
        }
        Ok(out)
    }

    /// The underlying connection (the CLI's benchmark and tamper demo read through it).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Opens the store at `path` as it is, for verification: no pragma is changed and no
    /// table is created, so a damaged store is read, not repaired.
    pub fn open_as_is(path: &Path) -> Result<SqliteStore, LedgerError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        Ok(SqliteStore { conn })
    }
}

/// `PRAGMA wal_checkpoint(TRUNCATE)`, failing unless every frame was copied back and the WAL
/// emptied.
pub fn checkpoint_truncate(conn: &Connection) -> Result<(), LedgerError> {
    let (busy, log, done): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    if busy != 0 || (log > 0 && done < log) {
        return Err(LedgerError::CommitFailed(format!(
            "the WAL could not be checkpointed ({done} of {log} frames; busy {busy}); retry"
        )));
    }
    Ok(())
}

impl LogStore for SqliteStore {
    fn commit_batch(&mut self, batch: &BatchWrite<'_>) -> Result<(), LedgerError> {
        let tx = self.conn.transaction()?;
        {
            let mut ins =
                tx.prepare_cached("INSERT INTO entries (idx, data, leaf) VALUES (?1, ?2, ?3)")?;
            for (i, (e, leaf)) in batch.entries.iter().zip(batch.leaf_hashes).enumerate() {
                ins.execute(params![
                    to_i64(batch.first_index + i as u64)?,
                    e,
                    leaf.as_slice()
                ])?;
            }
            let mut tile = tx.prepare_cached(
                "INSERT INTO tiles (key, data) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET data = excluded.data",
            )?;
            for (level, index, data) in batch.tiles {
                tile.execute(params![tile_key(*level, *index), data])?;
            }
            let mut disclosure = tx.prepare_cached(
                "INSERT INTO disclosures (idx, salt, private) VALUES (?1, ?2, ?3)",
            )?;
            for (index, sealed) in batch.disclosures {
                disclosure.execute(params![
                    to_i64(*index)?,
                    sealed.salt.as_slice(),
                    sealed.private
                ])?;
            }
            let mut cp =
                tx.prepare_cached("INSERT INTO checkpoints (size, note) VALUES (?1, ?2)")?;
            cp.execute(params![
                to_i64(batch.checkpoint_size)?,
                batch.checkpoint_note.as_bytes()
            ])?;
        }
        tx.commit()?;
        Ok(())
    }
    /// Deletes the disclosures of `indexes` for good: with `secure_delete` on, so their bytes
    /// are overwritten in the database's pages, then a `wal_checkpoint(TRUNCATE)`, so no older
    /// copy of those pages stays in the WAL. Returns the indexes that had one.
    fn erase_disclosures(&mut self, indexes: &[u64]) -> Result<Vec<u64>, LedgerError> {
        self.conn.pragma_update(None, "secure_delete", "ON")?;
        let tx = self.conn.transaction()?;
        let mut erased = Vec::new();
        {
            let mut del = tx.prepare_cached("DELETE FROM disclosures WHERE idx = ?1")?;
            for &index in indexes {
                if del.execute([to_i64(index)?])? > 0 {
                    erased.push(index);
                }
            }
        }
        tx.commit()?;
        checkpoint_truncate(&self.conn)?;
        Ok(erased)
    }
}

impl LogReader for SqliteStore {
    fn store_name(&self) -> String {
        "ledger.db".to_owned()
    }

    fn latest_checkpoint(&mut self) -> Result<Option<(u64, Vec<u8>)>, LedgerError> {
        let row = self
            .conn
            .prepare_cached("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1")?
            .query_row([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
            .optional()?;
        Ok(row.map(|(s, n)| (s as u64, n)))
    }

    fn checkpoint_at(&mut self, size: u64) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self
            .conn
            .prepare_cached("SELECT note FROM checkpoints WHERE size = ?1")?
            .query_row([to_i64(size)?], |r| r.get::<_, Vec<u8>>(0))
            .optional()?)
    }

    fn tile(&mut self, level: u8, index: u64) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self
            .conn
            .prepare_cached("SELECT data FROM tiles WHERE key = ?1")?
            .query_row([tile_key(level, index)], |r| r.get::<_, Vec<u8>>(0))
            .optional()?)
    }

    fn entries(&mut self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, LedgerError> {
        self.blob_range("data", "entry", start, end)
    }

    fn leaf_hashes(&mut self, start: u64, end: u64) -> Result<Vec<crate::hash::Hash>, LedgerError> {
        let blobs = self.blob_range("leaf", "leaf hash", start, end)?;
        (start..)
            .zip(blobs)
            .map(|(i, leaf)| {
                crate::hash::hash_from_slice(&leaf).ok_or_else(|| {
                    LedgerError::Tampered(format!("the leaf hash of entry {i} is malformed"))
                })
            })
            .collect()
    }

    fn last_entry_index(&mut self) -> Result<Option<u64>, LedgerError> {
        let v: Option<i64> = self
            .conn
            .prepare_cached("SELECT max(idx) FROM entries")?
            .query_row([], |r| r.get(0))?;
        Ok(v.map(|v| v as u64))
    }

    /// The stored disclosures of `indexes` (those erased or never made are left out), in the
    /// order asked.
    fn disclosures(&mut self, indexes: &[u64]) -> Result<Vec<(u64, Sealed)>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT salt, private FROM disclosures WHERE idx = ?1")?;
        let mut out = Vec::new();
        for &index in indexes {
            let row = stmt
                .query_row([to_i64(index)?], |r| {
                    Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
                })
                .optional()?;
            if let Some((salt, private)) = row {
                let salt = salt.try_into().map_err(|_| {
                    LedgerError::Tampered(format!("the salt of disclosure {index} is not 32 bytes"))
                })?;
                out.push((index, Sealed { salt, private }));
            }
        }
        Ok(out)
    }

    /// How many disclosures the evidence store holds, and their salt and private bytes.
    fn evidence_size(&mut self) -> Result<(u64, u64), LedgerError> {
        let (n, bytes): (i64, i64) = self.conn.query_row(
            "SELECT count(*), coalesce(sum(length(salt) + length(private)), 0) FROM disclosures",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((
            u64::try_from(n).unwrap_or(0),
            u64::try_from(bytes).unwrap_or(0),
        ))
    }

    /// The entries before `before` whose bytes contain `needle`, latest first, at most `limit`.
    /// A prefilter: callers parse each row to confirm what they look for.
    fn entries_containing(
        &mut self,
        needle: &[u8],
        before: u64,
        limit: u32,
    ) -> Result<Vec<(u64, Vec<u8>)>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT idx, data FROM entries WHERE idx < ?1 AND instr(data, ?2) > 0 \
             ORDER BY idx DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(rusqlite::params![to_i64(before)?, needle, limit], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (idx, data) = row?;
            out.push((u64::try_from(idx).unwrap_or(0), data));
        }
        Ok(out)
    }

    fn begin_snapshot(&mut self) -> Result<(), LedgerError> {
        self.conn.execute_batch("BEGIN")?;
        Ok(())
    }

    fn end_snapshot(&mut self) -> Result<(), LedgerError> {
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    fn integrity_check(&mut self) -> Result<Option<String>, LedgerError> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        Ok(if rows == ["ok"] {
            None
        } else {
            Some(rows.join("; "))
        })
    }

    fn scan_entries(
        &mut self,
        with_data: bool,
        f: &mut EntryVisitor<'_>,
    ) -> Result<(), LedgerError> {
        let sql = if with_data {
            "SELECT idx, leaf, data FROM entries ORDER BY idx"
        } else {
            "SELECT idx, leaf FROM entries ORDER BY idx"
        };
        let mut stmt = self.conn.prepare(sql)?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let idx = u64::try_from(row.get::<_, i64>(0)?)
                .map_err(|_| LedgerError::Tampered("an entry has a negative index".to_owned()))?;
            let leaf: Vec<u8> = row.get(1)?;
            let data: Option<Vec<u8>> = if with_data { Some(row.get(2)?) } else { None };
            if !f(idx, leaf, data)? {
                break;
            }
        }
        Ok(())
    }

    fn all_tiles(&mut self) -> Result<Vec<(u8, u64, Vec<u8>)>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, data FROM tiles ORDER BY key")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (key, data) = row?;
            let (level, index) = split_tile_key(key);
            out.push((level, index, data));
        }
        Ok(out)
    }

    fn all_checkpoints(&mut self) -> Result<Vec<(u64, Vec<u8>)>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT size, note FROM checkpoints ORDER BY size")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (size, note) = row?;
            out.push((size as u64, note));
        }
        Ok(out)
    }

    fn all_disclosures(&mut self) -> Result<Vec<StoredDisclosure>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT idx, salt, private FROM disclosures ORDER BY idx")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (idx, salt, private) = row?;
            out.push((idx as u64, salt, private));
        }
        Ok(out)
    }
}

/// The benchmark baseline: plain batched inserts of `entries` into a fresh SQLite table with
/// the same durability settings (WAL, `synchronous=FULL`), `batch` rows per transaction, one
/// thread. Returns the elapsed time.
pub fn baseline_sqlite_insert(
    path: &Path,
    entries: &[Vec<u8>],
    batch: usize,
) -> Result<Duration, LedgerError> {
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS t (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)",
    )?;
    let start = std::time::Instant::now();
    let mut idx: i64 = 0;
    for chunk in entries.chunks(batch.max(1)) {
        let tx = conn.transaction()?;
        {
            let mut ins = tx.prepare_cached("INSERT INTO t (idx, data) VALUES (?1, ?2)")?;
            for e in chunk {
                ins.execute(params![idx, e])?;
                idx += 1;
            }
        }
        tx.commit()?;
    }
    Ok(start.elapsed())
}
