//! The PostgreSQL store: the same [`LogStore`] as [`crate::store::SqliteStore`], on one
//! PostgreSQL database (crate `postgres`, the synchronous client: the ledger's writer and
//! readers are plain threads, like the SQLite store's).
//!
//! - Tables live in one schema (`writ_ledger` unless told otherwise), created and migrated on
//!   open under an advisory lock, so concurrent openers never race the DDL; the schema's
//!   version is a row of `schema_version`, and a store newer than this build is refused.
//! - Indexes are handed out by the database: `sequence.next_index` is advanced by a batch's
//!   length in the batch's own transaction, and the batch commits only if the range the
//!   database handed out is the one the integration was computed for. A second writer can never
//!   commit the same indexes (its range would differ, and the primary keys refuse them too).
//! - A batch (entries, disclosures, tiles, checkpoint, sequence) is one transaction; the commit
//!   returns after PostgreSQL made it durable (`synchronous_commit` is forced `on` for the
//!   session), so an acknowledged append is committed in PostgreSQL.
//!
//! # Many writers (nodes) on one database
//!
//! Every node of a fleet opens the same schema with a copy of the same log key, so any node
//! can append, integrate and sign. Writers are serialized through the database, one batch at a
//! time:
//!
//! - **The lease is the sequence row lock, held for one batch transaction.** A writer calls
//!   [`LogStore::begin_batch`] before it assigns indexes: `BEGIN` (read committed), then
//!   `SELECT next_index FROM sequence FOR UPDATE`. Holding that row lock makes it the only
//!   integrator until its transaction ends; every other writer waits on the lock. If the index
//!   the database returns is not the writer's edge, another node appended: the writer reloads
//!   the latest checkpoint and the right-edge tiles inside the same transaction (consistent:
//!   nobody else can commit while it holds the lock), checks the checkpoint's signature and
//!   that the edge gives its root, integrates, signs, and [`LogStore::commit_batch`] continues
//!   the open transaction, so the lock is released only by its commit or rollback.
//! - **Expiry is the idle timeout.** The writer's connection runs with
//!   `idle_in_transaction_session_timeout` = [`LEASE_IDLE_TIMEOUT`]: a holder paused inside its
//!   batch (SIGSTOP, a long GC, a stalled host) has its session ended by PostgreSQL, which aborts
//!   the transaction and releases the lock, so the fleet goes on without it. A holder that dies
//!   (SIGKILL) closes its socket and PostgreSQL aborts at once. A waiter gives up after
//!   [`LOCK_TIMEOUT`] (its batch fails: the server answers 503, never hangs), and any writer
//!   statement after [`WRITER_STATEMENT_TIMEOUT`].
//! - **Fencing: a late commit never lands.** The expired holder's transaction is already
//!   aborted by the server, so its later statements and its `COMMIT` fail on a closed session;
//!   nothing it wrote before the expiry was ever visible. Behind that, two guards in the data:
//!   the `UPDATE sequence … RETURNING` check refuses a batch integrated from any index but the
//!   one the database hands out, and checkpoints are keyed by size (PRIMARY KEY), so two
//!   different checkpoints of the same size can never both be stored, and entries' primary keys
//!   refuse taken indexes.
//!
//! Other nodes' appends reach a ledger's readers through its follower (see
//! [`crate::Ledger::integration`]); PostgreSQL never holds the private key.

use std::time::Duration;

use postgres::{Client, NoTls};

use crate::entry::Sealed;
use crate::error::LedgerError;
use crate::hash::{Hash, hash_from_slice};
use crate::store::{BatchWrite, EntryVisitor, LogReader, LogStore, StoredDisclosure};

/// The schema version this build writes.
pub const SCHEMA_VERSION: i32 = 1;

/// The default schema of the ledger's tables.
pub const DEFAULT_SCHEMA: &str = "writ_ledger";

/// The advisory lock key that serializes schema creation and migration.
const MIGRATION_LOCK: i64 = 0x5752_4954_4c45_4447; // "WRITLEDG"

/// Rows read per query when scanning the whole log.
const SCAN_CHUNK: i64 = 8192;

/// How long a writer may sit idle inside its batch transaction (holding the sequence lock, the
/// integration lease) before PostgreSQL ends its session and aborts the transaction: the
/// lease's expiry. A batch's work between statements (assigning indexes, integrating, signing
/// one checkpoint) takes milliseconds.
pub const LEASE_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a writer waits for the sequence lock before its batch fails (503, not a hang).
/// Longer than [`LEASE_IDLE_TIMEOUT`], so a waiter outlives a paused holder's lease.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest any statement of the writer's connection may run.
pub const WRITER_STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The session settings of a writer's connection (see the module documentation).
fn writer_settings() -> String {
    format!(
        "SET idle_in_transaction_session_timeout = {}; SET lock_timeout = {}; SET statement_timeout = {}",
        LEASE_IDLE_TIMEOUT.as_millis(),
        LOCK_TIMEOUT.as_millis(),
        WRITER_STATEMENT_TIMEOUT.as_millis()
    )
}

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS entries (idx BIGINT PRIMARY KEY, data BYTEA NOT NULL, leaf BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS tiles (level SMALLINT NOT NULL, idx BIGINT NOT NULL, data BYTEA NOT NULL,
    PRIMARY KEY (level, idx));
CREATE TABLE IF NOT EXISTS checkpoints (size BIGINT PRIMARY KEY, note BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS disclosures (idx BIGINT PRIMARY KEY, salt BYTEA NOT NULL, private BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS sequence (one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    next_index BIGINT NOT NULL);
INSERT INTO sequence (one, next_index) VALUES (TRUE, 0) ON CONFLICT DO NOTHING;
";

/// A database error with what the server said (`lock timeout`, `idle-in-transaction
/// timeout`), or the I/O failure under a lost connection: never the connection string.
fn db(e: postgres::Error) -> LedgerError {
    let detail = if let Some(d) = e.as_db_error() {
        format!("{e}: {} (SQLSTATE {})", d.message(), d.code().code())
    } else if let Some(io) =
        std::error::Error::source(&e).and_then(|s| s.downcast_ref::<std::io::Error>())
    {
        format!("{e}: {io}")
    } else {
        e.to_string()
    };
    LedgerError::Database(detail)
}

/// Column `i` of `row`; a column of an unexpected type is a damaged store, never a panic.
fn col<'a, T: postgres::types::FromSql<'a>>(
    row: &'a postgres::Row,
    i: usize,
) -> Result<T, LedgerError> {
    row.try_get(i)
        .map_err(|e| LedgerError::Tampered(format!("a stored column is malformed: {e}")))
}

fn to_i64(n: u64) -> Result<i64, LedgerError> {
    i64::try_from(n).map_err(|_| LedgerError::Tampered(format!("index {n} does not fit BIGINT")))
}

fn to_u64(n: i64, what: &str) -> Result<u64, LedgerError> {
    u64::try_from(n).map_err(|_| LedgerError::Tampered(format!("a stored {what} is negative")))
}

/// True for a schema name made of lowercase ASCII letters, digits and `_` (starting with a
/// letter), at most 63 bytes: it is spliced into SQL, so nothing else is accepted.
pub fn valid_schema_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A ledger store in PostgreSQL.
pub struct PgStore {
    client: Client,
    schema: String,
    /// Kept to reconnect after the server closed the connection (never printed).
    url: String,
    /// Inside begin_snapshot..end_snapshot: a lost connection is then an error, not a
    /// silent reconnect outside the snapshot.
    in_snapshot: bool,
    /// Inside begin_batch..commit_batch/abort_batch (a transaction holding the sequence lock):
    /// a lost connection is then an error too.
    in_batch: bool,
    /// The connection is a writer's (it began a batch): it runs with [`writer_settings`],
    /// re-applied on reconnect.
    writer: bool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to `url` (a `postgres://` URL or key=value string; its password, if any, is
    /// never logged) and opens the store in `schema`. With `create` the schema and its tables
    /// are created or migrated; without, a missing schema is [`LedgerError::NotInitialized`].
    pub fn open(url: &str, schema: &str, create: bool) -> Result<PgStore, LedgerError> {
        if !valid_schema_name(schema) {
            return Err(LedgerError::Database(format!(
                "schema name {schema:?} is not lowercase letters, digits and _"
            )));
        }
        let mut client = Client::connect(url, NoTls).map_err(db)?;
        client
            .batch_execute("SET synchronous_commit = on")
            .map_err(db)?;
        let mut store = PgStore {
            client,
            schema: schema.to_owned(),
            url: url.to_owned(),
            in_snapshot: false,
            in_batch: false,
            writer: false,
        };
        store.migrate(create)?;
        store
            .client
            .batch_execute(&format!("SET search_path TO {schema}"))
            .map_err(db)?;
        Ok(store)
    }

    /// The connection, made anew when the server closed the old one (a restart, a terminated
    /// backend): the call that met the closed connection failed (and so denied), the next one
    /// reconnects. Never inside a snapshot, which a new connection would not continue.
    fn conn(&mut self) -> Result<&mut Client, LedgerError> {
        if self.client.is_closed() {
            if self.in_snapshot {
                return Err(LedgerError::Database(
                    "the connection was lost inside a read snapshot".to_owned(),
                ));
            }
            if self.in_batch {
                return Err(LedgerError::CommitFailed(
                    "the connection was lost inside the batch's transaction (its sequence lock expired or the server went away); nothing of the batch was committed".to_owned(),
                ));
            }
            self.reconnect()?;
        }
        Ok(&mut self.client)
    }

    /// Replaces the connection with a new one (session settings included).
    fn reconnect(&mut self) -> Result<(), LedgerError> {
        let mut client = Client::connect(&self.url, NoTls).map_err(db)?;
        client
            .batch_execute(&format!(
                "SET synchronous_commit = on; SET search_path TO {}",
                self.schema
            ))
            .map_err(db)?;
        if self.writer {
            client.batch_execute(&writer_settings()).map_err(db)?;
        }
        self.client = client;
        Ok(())
    }

    /// Creates or migrates the schema (with `create`), or checks it exists and is not newer.
    fn migrate(&mut self, create: bool) -> Result<(), LedgerError> {
        let schema = self.schema.clone();
        let mut tx = self.client.transaction().map_err(db)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(db)?;
        let exists = tx
            .query_opt(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'schema_version'",
                &[&schema],
            )
            .map_err(db)?
            .is_some();
        let found: i32 = if exists {
            match tx
                .query_opt(&format!("SELECT version FROM {schema}.schema_version"), &[])
                .map_err(db)?
            {
                Some(r) => col(&r, 0)?,
                None => 0,
            }
        } else {
            0
        };
        if found > SCHEMA_VERSION {
            return Err(LedgerError::Database(format!(
                "the ledger schema {schema} has version {found}, newer than this build's {SCHEMA_VERSION}; upgrade writ"
            )));
        }
        if found == 0 && !create {
            return Err(LedgerError::NotInitialized(format!(
                "postgres schema {schema}"
            )));
        }
        if found < SCHEMA_VERSION {
            tx.batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}; SET LOCAL search_path TO {schema};
                 CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
                 {SCHEMA_V1}
                 DELETE FROM schema_version; INSERT INTO schema_version VALUES ({SCHEMA_VERSION});"
            ))
            .map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    /// Drops the store's schema and everything in it (tests use a schema each).
    pub fn drop_schema(url: &str, schema: &str) -> Result<(), LedgerError> {
        if !valid_schema_name(schema) {
            return Err(LedgerError::Database(format!("bad schema name {schema:?}")));
        }
        let mut client = Client::connect(url, NoTls).map_err(db)?;
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .map_err(db)
    }

    /// Runs `sql` (the store's tables are on the search path): for tests that tamper with the
    /// store the way someone with database access would.
    pub fn execute_raw(&mut self, sql: &str) -> Result<(), LedgerError> {
        self.conn()?.batch_execute(sql).map_err(db)
    }

    /// Column `column` of entries `start..end`, in order; a gap is tampering.
    fn blob_range(
        &mut self,
        column: &str,
        what: &str,
        start: u64,
        end: u64,
    ) -> Result<Vec<Vec<u8>>, LedgerError> {
        let rows = self
            .conn()?
            .query(
                &format!(
                    "SELECT idx, {column} FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx"
                ),
                &[&to_i64(start)?, &to_i64(end)?],
            )
            .map_err(db)?;
        let mut out = Vec::with_capacity(rows.len());
        for (expect, row) in (start..end).zip(&rows) {
            let idx: i64 = col(row, 0)?;
            if to_u64(idx, "index")? != expect {
                return Err(LedgerError::Tampered(format!(
                    "the {what} of entry {expect} is missing"
                )));
            }
            out.push(col::<Vec<u8>>(row, 1)?);
        }
        if out.len() as u64 != end.saturating_sub(start) {
            return Err(LedgerError::Tampered(format!(
                "{what}s {start}..{end} are not all stored"
            )));
        }
        Ok(out)
    }
}

impl PgStore {
    /// Opens a batch's transaction (read committed, so each statement after the lock sees what
    /// the lock's previous holder committed).
    fn begin_tx(&mut self) -> Result<(), LedgerError> {
        self.conn()?
            .batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            .map_err(db)?;
        self.in_batch = true;
        Ok(())
    }

    /// The statements of a batch and its `COMMIT`, inside the open transaction. On an error the
    /// caller rolls back: no statement runs after a failed one, so the `COMMIT` here is never
    /// the one PostgreSQL turns into a rollback of an aborted transaction.
    fn write_batch(&mut self, batch: &BatchWrite<'_>) -> Result<(), LedgerError> {
        let n = to_i64(batch.entries.len() as u64)?;
        let first = to_i64(batch.first_index)?;
        let tx = self.conn()?;
        // Sequencing: the database hands out the batch's index range (a second guard behind
        // the lock of begin_batch: the range must be the one the batch was integrated for).
        let row = tx
            .query_one(
                "UPDATE sequence SET next_index = next_index + $1 RETURNING next_index - $1",
                &[&n],
            )
            .map_err(db)?;
        let given: i64 = col(&row, 0)?;
        if given != first {
            return Err(LedgerError::CommitFailed(format!(
                "the database handed out indexes from {given}, the batch was integrated from {first}: another writer appended"
            )));
        }
        if !batch.entries.is_empty() {
            let idx: Vec<i64> = (first..first + n).collect();
            let data: Vec<&[u8]> = batch.entries.iter().map(Vec::as_slice).collect();
            let leaf: Vec<&[u8]> = batch.leaf_hashes.iter().map(|h| h.as_slice()).collect();
            tx.execute(
                "INSERT INTO entries (idx, data, leaf) SELECT * FROM unnest($1::int8[], $2::bytea[], $3::bytea[])",
                &[&idx, &data, &leaf],
            )
            .map_err(db)?;
        }
        if !batch.disclosures.is_empty() {
            let mut idx = Vec::with_capacity(batch.disclosures.len());
            let mut salt = Vec::with_capacity(batch.disclosures.len());
            let mut private = Vec::with_capacity(batch.disclosures.len());
            for (i, sealed) in batch.disclosures {
                idx.push(to_i64(*i)?);
                salt.push(sealed.salt.as_slice());
                private.push(sealed.private.as_slice());
            }
            tx.execute(
                "INSERT INTO disclosures (idx, salt, private) SELECT * FROM unnest($1::int8[], $2::bytea[], $3::bytea[])",
                &[&idx, &salt, &private],
            )
            .map_err(db)?;
        }
        if !batch.tiles.is_empty() {
            let mut level = Vec::with_capacity(batch.tiles.len());
            let mut idx = Vec::with_capacity(batch.tiles.len());
            let mut data = Vec::with_capacity(batch.tiles.len());
            for (l, i, d) in batch.tiles {
                level.push(i16::from(*l));
                idx.push(to_i64(*i)?);
                data.push(d.as_slice());
            }
            tx.execute(
                "INSERT INTO tiles (level, idx, data) SELECT * FROM unnest($1::int2[], $2::int8[], $3::bytea[])
                 ON CONFLICT (level, idx) DO UPDATE SET data = excluded.data",
                &[&level, &idx, &data],
            )
            .map_err(db)?;
        }
        tx.execute(
            "INSERT INTO checkpoints (size, note) VALUES ($1, $2)",
            &[
                &to_i64(batch.checkpoint_size)?,
                &batch.checkpoint_note.as_bytes(),
            ],
        )
        .map_err(db)?;
        tx.batch_execute("COMMIT").map_err(db)
    }
}

impl LogStore for PgStore {
    fn commit_batch(&mut self, batch: &BatchWrite<'_>) -> Result<(), LedgerError> {
        if !self.in_batch {
            self.begin_tx()?;
        }
        let result = self.write_batch(batch);
        if result.is_err() {
            self.abort_batch();
        }
        self.in_batch = false;
        result
    }

    fn begin_batch(&mut self) -> Result<Option<u64>, LedgerError> {
        // A batch left open (a caller that neither committed nor aborted) is rolled back first.
        self.abort_batch();
        if !self.writer {
            self.conn()?.batch_execute(&writer_settings()).map_err(db)?;
            self.writer = true;
        }
        if self.begin_tx().is_err() {
            // The server may have closed the session since the last batch (its lease expired
            // while idle, a restart) before the client noticed: nothing is assigned yet, so
            // one new connection is tried (`BEGIN` fails on a live session only when it is
            // unusable anyway).
            self.reconnect()?;
            self.begin_tx()?;
        }
        let next = self
            .client
            .query_one("SELECT next_index FROM sequence FOR UPDATE", &[])
            .map_err(db)
            .and_then(|row| to_u64(col(&row, 0)?, "next index"));
        if next.is_err() {
            self.abort_batch();
        }
        next.map(Some)
    }

    fn abort_batch(&mut self) {
        if self.in_batch {
            self.in_batch = false;
            if !self.client.is_closed() {
                // A failure here means the session is gone, and the server aborted it.
                let _ = self.client.batch_execute("ROLLBACK");
            }
        }
    }

    fn erase_disclosures(&mut self, indexes: &[u64]) -> Result<Vec<u64>, LedgerError> {
        let idx: Vec<i64> = indexes
            .iter()
            .map(|i| to_i64(*i))
            .collect::<Result<_, _>>()?;
        let rows = self
            .conn()?
            .query(
                "DELETE FROM disclosures WHERE idx = ANY($1) RETURNING idx",
                &[&idx],
            )
            .map_err(db)?;
        let mut erased = rows
            .iter()
            .map(|r| to_u64(col(r, 0)?, "index"))
            .collect::<Result<Vec<_>, _>>()?;
        erased.sort_unstable();
        // Prune the deleted rows now rather than at the next autovacuum (see ARCHITECTURE.md
        // for what PostgreSQL still keeps: WAL segments until recycled).
        self.conn()?
            .batch_execute("VACUUM disclosures")
            .map_err(db)?;
        Ok(erased)
    }
}

impl LogReader for PgStore {
    fn store_name(&self) -> String {
        format!("postgres schema {}", self.schema)
    }

    fn shared(&self) -> bool {
        true
    }

    fn latest_checkpoint_size(&mut self) -> Result<Option<u64>, LedgerError> {
        let row = self
            .conn()?
            .query_one("SELECT max(size) FROM checkpoints", &[])
            .map_err(db)?;
        let size: Option<i64> = col(&row, 0)?;
        size.map(|s| to_u64(s, "checkpoint size")).transpose()
    }

    fn latest_checkpoint(&mut self) -> Result<Option<(u64, Vec<u8>)>, LedgerError> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
                &[],
            )
            .map_err(db)?;
        row.map(|r| Ok((to_u64(col(&r, 0)?, "checkpoint size")?, col(&r, 1)?)))
            .transpose()
    }

    fn checkpoint_at(&mut self, size: u64) -> Result<Option<Vec<u8>>, LedgerError> {
        self.conn()?
            .query_opt(
                "SELECT note FROM checkpoints WHERE size = $1",
                &[&to_i64(size)?],
            )
            .map_err(db)?
            .map(|r| col(&r, 0))
            .transpose()
    }

    fn tile(&mut self, level: u8, index: u64) -> Result<Option<Vec<u8>>, LedgerError> {
        self.conn()?
            .query_opt(
                "SELECT data FROM tiles WHERE level = $1 AND idx = $2",
                &[&i16::from(level), &to_i64(index)?],
            )
            .map_err(db)?
            .map(|r| col(&r, 0))
            .transpose()
    }

    fn entries(&mut self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, LedgerError> {
        self.blob_range("data", "entry", start, end)
    }

    fn leaf_hashes(&mut self, start: u64, end: u64) -> Result<Vec<Hash>, LedgerError> {
        let blobs = self.blob_range("leaf", "leaf hash", start, end)?;
        (start..)
            .zip(blobs)
            .map(|(i, leaf)| {
                hash_from_slice(&leaf).ok_or_else(|| {
                    LedgerError::Tampered(format!("the leaf hash of entry {i} is malformed"))
                })
            })
            .collect()
    }

    fn last_entry_index(&mut self) -> Result<Option<u64>, LedgerError> {
        let row = self
            .conn()?
            .query_one("SELECT max(idx) FROM entries", &[])
            .map_err(db)?;
        let v: Option<i64> = col(&row, 0)?;
        v.map(|v| to_u64(v, "index")).transpose()
    }

    fn disclosures(&mut self, indexes: &[u64]) -> Result<Vec<(u64, Sealed)>, LedgerError> {
        let mut out = Vec::new();
        for &index in indexes {
            let row = self
                .conn()?
                .query_opt(
                    "SELECT salt, private FROM disclosures WHERE idx = $1",
                    &[&to_i64(index)?],
                )
                .map_err(db)?;
            if let Some(r) = row {
                let salt: Vec<u8> = col(&r, 0)?;
                let salt = salt.try_into().map_err(|_| {
                    LedgerError::Tampered(format!("the salt of disclosure {index} is not 32 bytes"))
                })?;
                out.push((
                    index,
                    Sealed {
                        salt,
                        private: col(&r, 1)?,
                    },
                ));
            }
        }
        Ok(out)
    }

    fn evidence_size(&mut self) -> Result<(u64, u64), LedgerError> {
        let r = self.conn()?
            .query_one(
                "SELECT count(*)::int8, coalesce(sum(length(salt) + length(private)), 0)::int8 FROM disclosures",
                &[],
            )
            .map_err(db)?;
        let (n, bytes): (i64, i64) = (col(&r, 0)?, col(&r, 1)?);
        Ok((
            u64::try_from(n).unwrap_or(0),
            u64::try_from(bytes).unwrap_or(0),
        ))
    }

    fn entries_containing(
        &mut self,
        needle: &[u8],
        before: u64,
        limit: u32,
    ) -> Result<Vec<(u64, Vec<u8>)>, LedgerError> {
        let rows = self
            .conn()?
            .query(
                "SELECT idx, data FROM entries WHERE idx < $1 AND position($2::bytea IN data) > 0 \
                 ORDER BY idx DESC LIMIT $3",
                &[&to_i64(before)?, &needle, &i64::from(limit)],
            )
            .map_err(db)?;
        rows.iter()
            .map(|r| Ok((to_u64(col(r, 0)?, "index")?, col(r, 1)?)))
            .collect()
    }

    fn begin_snapshot(&mut self) -> Result<(), LedgerError> {
        self.conn()?
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .map_err(db)?;
        self.in_snapshot = true;
        Ok(())
    }

    fn end_snapshot(&mut self) -> Result<(), LedgerError> {
        self.in_snapshot = false;
        self.client.batch_execute("COMMIT").map_err(db)
    }

    /// PostgreSQL checks its pages as it reads them (and data checksums when the cluster has
    /// them); there is no cheap whole-database check short of the `amcheck` extension, which a
    /// ledger's role may not be allowed to install, so nothing more is checked here.
    fn integrity_check(&mut self) -> Result<Option<String>, LedgerError> {
        Ok(None)
    }

    fn scan_entries(
        &mut self,
        with_data: bool,
        f: &mut EntryVisitor<'_>,
    ) -> Result<(), LedgerError> {
        let sql = if with_data {
            "SELECT idx, leaf, data FROM entries WHERE idx >= $1 ORDER BY idx LIMIT $2"
        } else {
            "SELECT idx, leaf FROM entries WHERE idx >= $1 ORDER BY idx LIMIT $2"
        };
        let mut from: i64 = i64::MIN;
        loop {
            let rows = self.conn()?.query(sql, &[&from, &SCAN_CHUNK]).map_err(db)?;
            let Some(last) = rows.last() else {
                return Ok(());
            };
            let last_idx: i64 = col(last, 0)?;
            for r in &rows {
                let idx = to_u64(col(r, 0)?, "index")?;
                let data = if with_data { Some(col(r, 2)?) } else { None };
                if !f(idx, col(r, 1)?, data)? {
                    return Ok(());
                }
            }
            if (rows.len() as i64) < SCAN_CHUNK {
                return Ok(());
            }
            from = last_idx.saturating_add(1);
        }
    }

    fn all_tiles(&mut self) -> Result<Vec<(u8, u64, Vec<u8>)>, LedgerError> {
        let rows = self
            .conn()?
            .query(
                "SELECT level, idx, data FROM tiles ORDER BY level, idx",
                &[],
            )
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                let level: i16 = col(r, 0)?;
                let level = u8::try_from(level)
                    .map_err(|_| LedgerError::Tampered(format!("a tile has level {level}")))?;
                Ok((level, to_u64(col(r, 1)?, "tile index")?, col(r, 2)?))
            })
            .collect()
    }

    fn all_checkpoints(&mut self) -> Result<Vec<(u64, Vec<u8>)>, LedgerError> {
        let rows = self
            .conn()?
            .query("SELECT size, note FROM checkpoints ORDER BY size", &[])
            .map_err(db)?;
        rows.iter()
            .map(|r| Ok((to_u64(col(r, 0)?, "checkpoint size")?, col(r, 1)?)))
            .collect()
    }

    fn all_disclosures(&mut self) -> Result<Vec<StoredDisclosure>, LedgerError> {
        let rows = self
            .conn()?
            .query(
                "SELECT idx, salt, private FROM disclosures ORDER BY idx",
                &[],
            )
            .map_err(db)?;
        rows.iter()
            .map(|r| Ok((to_u64(col(r, 0)?, "index")?, col(r, 1)?, col(r, 2)?)))
            .collect()
    }
}

/// Creates a ledger whose log key is written to `dir` (mode 0600) and whose store is schema
/// `schema` of the database at `url`.
pub fn init_ledger(
    dir: &std::path::Path,
    origin: &str,
    url: &str,
    schema: &str,
) -> Result<crate::Ledger, LedgerError> {
    crate::Ledger::init_with(dir, origin, &|create| {
        Ok(Box::new(PgStore::open(url, schema, create)?) as Box<dyn LogStore>)
    })
}

/// Opens the ledger whose log key is in `dir` and whose store is schema `schema` at `url`.
pub fn open_ledger(
    dir: &std::path::Path,
    url: &str,
    schema: &str,
) -> Result<crate::Ledger, LedgerError> {
    crate::Ledger::open_with(dir, &|create| {
        Ok(Box::new(PgStore::open(url, schema, create)?) as Box<dyn LogStore>)
    })
}

/// Verifies the PostgreSQL ledger at `url` / `schema` against the log key in `dir`, without
/// opening it for writing.
pub fn verify_ledger(
    dir: &std::path::Path,
    url: &str,
    schema: &str,
    full: bool,
) -> Result<crate::VerifyReport, LedgerError> {
    let verifier = crate::ledger::read_verifier(dir)?;
    let mut store = PgStore::open(url, schema, false)?;
    crate::verify::verify_reader(&mut store, &verifier, full)
}

impl PgStore {
    /// Bytes the store's tables take in the database (with indexes and TOAST).
    pub fn bytes(&mut self) -> Result<u64, LedgerError> {
        let schema = self.schema.clone();
        let row = self
            .conn()?
            .query_one(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::int8 FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
                &[&schema],
            )
            .map_err(db)?;
        Ok(u64::try_from(col::<i64>(&row, 0)?).unwrap_or(0))
    }
}

/// The benchmark baseline on PostgreSQL: plain batched inserts of `entries` into a fresh table
/// of schema `schema` (created, then dropped), `batch` rows per transaction with
/// `synchronous_commit = on`, one connection. Returns the elapsed time of the inserts.
pub fn baseline_pg_insert(
    url: &str,
    schema: &str,
    entries: &[Vec<u8>],
    batch: usize,
) -> Result<std::time::Duration, LedgerError> {
    if !valid_schema_name(schema) {
        return Err(LedgerError::Database(format!("bad schema name {schema:?}")));
    }
    let mut client = Client::connect(url, NoTls).map_err(db)?;
    client
        .batch_execute(&format!(
            "SET synchronous_commit = on; DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
             CREATE TABLE {schema}.t (idx BIGINT PRIMARY KEY, data BYTEA NOT NULL)"
        ))
        .map_err(db)?;
    let sql =
        format!("INSERT INTO {schema}.t (idx, data) SELECT * FROM unnest($1::int8[], $2::bytea[])");
    let start = std::time::Instant::now();
    let mut idx: i64 = 0;
    for chunk in entries.chunks(batch.max(1)) {
        let ids: Vec<i64> = (idx..idx + chunk.len() as i64).collect();
        idx += chunk.len() as i64;
        let data: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
        let mut tx = client.transaction().map_err(db)?;
        tx.execute(&sql, &[&ids, &data]).map_err(db)?;
        tx.commit().map_err(db)?;
    }
    let elapsed = start.elapsed();
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .map_err(db)?;
    Ok(elapsed)
}
