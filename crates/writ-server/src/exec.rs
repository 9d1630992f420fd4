//! The execution index: execution → lineage, principal and every ledger entry about it (for
//! proofs, lineage and lease renewal), and the writ issued for it (for proof bundles).
//!
//! Derived from the ledger, never ahead of it and never in the authorize path: a follower
//! thread reads the ledger in order as it grows and indexes each entry. An execution's first
//! decision (or refusal) creates its row; later decisions about it (lease renewals), receipts
//! and lease ends link to it. The number of ledger entries indexed is committed in the same
//! SQLite transaction as the rows, so after a crash the follower resumes exactly where it
//! stopped: every acknowledged ledger entry ends up indexed, and [`ExecIndex::caught_up`]
//! waits until everything the ledger held when it was called is.
//!
//! Writs are not in the ledger (a writ names its decision's ledger index, so it is signed
//! once that index is fixed, and answered once the decision is durable). The authorize path hands each allowed execution over
//! without waiting ([`ExecIndex::note`]); until the follower has indexed its decision and
//! committed its writ, both are served from memory, so a gate's receipt or lease renewal
//! right after the answer finds the execution at once. A writ handed over but not yet
//! committed when the process dies is missing from later proof bundles; the evidence, the
//! decision record it was issued for, is in the ledger either way.
//!
//! The follower commits at most every [`COMMIT_INTERVAL`] (or every [`CHUNK`] entries):
//! small transactions would cost a few pages of WAL each.
//!
//! The index uses `synchronous=NORMAL`: an OS crash may lose its last transactions, which the
//! follower then indexes again from the ledger.
//!
//! It also keeps each execution's lease state (allowed, decided at, last renewal, writ `exp`,
//! first receipt, lease end) for the lease sweep (`lease.rs`), and the closing locks under
//! which receipts, renewals and lease ends are decided and recorded ([`ExecIndex::lock_closing`]).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Deserialize;
use writ_ledger::Ledger;
use writ_model::{ExecutionId, Lineage};

use crate::error::ServerError;

/// The reason code of a lease end recorded by the sweep (`lease.rs`): the runner was gone.
pub const LEASE_EXPIRED: writ_model::ReasonCode = writ_model::ReasonCode::LeaseExpired;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS executions (
    execution TEXT PRIMARY KEY,
    parent TEXT,
    root TEXT NOT NULL,
    traceparent TEXT NOT NULL,
    principal TEXT NOT NULL,
    decision_index INTEGER NOT NULL,
    gate TEXT,
    allowed INTEGER NOT NULL DEFAULT 0,
    decided_at INTEGER,
    renewed_at INTEGER,
    receipt_index INTEGER,
    ended_index INTEGER,
    expired_index INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS executions_parent ON executions(parent) WHERE parent IS NOT NULL;
CREATE INDEX IF NOT EXISTS executions_open ON executions(decided_at)
    WHERE allowed = 1 AND receipt_index IS NULL AND ended_index IS NULL;
CREATE TABLE IF NOT EXISTS execution_entries (
    execution TEXT NOT NULL,
    ledger_index INTEGER NOT NULL,
    PRIMARY KEY (execution, ledger_index)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS writs (
    execution TEXT PRIMARY KEY,
    offset INTEGER NOT NULL,
    len INTEGER NOT NULL,
    exp INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS follower (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    indexed INTEGER NOT NULL,
    writs_len INTEGER NOT NULL
);
INSERT OR IGNORE INTO follower (id, indexed, writs_len) VALUES (0, 0, 0);
";

/// The index's schema version (`PRAGMA user_version`). An index of an older version is rebuilt
/// from the ledger on open: its executions and their links are dropped and the follower starts
/// again from entry 0 (the writ log and its places are kept). Version 2 added what lease expiry
/// needs (allowed, decided_at, renewed_at, receipt_index, ended_index, expired_index, and each
/// writ's exp).
pub const SCHEMA_VERSION: i64 = 2;

/// How many stripes the closing locks have (see [`ExecIndex::lock_closing`]).
const CLOSING_STRIPES: usize = 64;

/// The writ log's file name, beside the index.
pub const WRIT_LOG: &str = "writs.log";

/// Most executions held in memory waiting for the follower (about 2.5 KB each).
pub const MAX_PENDING: usize = 20_000;

/// Most ledger entries indexed in one transaction.
const CHUNK: u64 = 4096;
/// How long the follower sleeps when the ledger does not grow.
const IDLE_WAIT: Duration = Duration::from_millis(20);
/// The shortest time between two follower commits while fewer than [`CHUNK`] entries wait.
const COMMIT_INTERVAL: Duration = Duration::from_millis(20);
/// How long a reader waits for the follower to catch up before giving up.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(10);

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// One indexed execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRow {
    pub lineage: Lineage,
    pub principal: String,
    pub decision_index: u64,
    /// The gate it was authorized for (`None` in rows indexed before gates were: read it from
    /// the decision's ledger entry).
    pub gate: Option<String>,
}

/// An execution's first record (or, for a known execution, a lease renewal's decision).
struct Recorded {
    lineage: Lineage,
    principal: String,
    gate: Option<String>,
    /// A `decision` whose answer is allow.
    allowed: bool,
    /// The record's time.
    now: Option<i64>,
}

/// What an entry contributes: a new execution (or a renewal of one), or a link to one.
enum Indexed {
    Execution(Recorded),
    Receipt(ExecutionId),
    /// A lease end, and whether the sweep recorded it (`lease_expired`).
    LeaseEnded(ExecutionId, bool),
    Nothing,
}

fn refs_of(entry: &[u8]) -> Indexed {
    use writ_model::entries::ExecutionRefs;
    match ExecutionRefs::of(entry) {
        ExecutionRefs::Decided(d) => Indexed::Execution(Recorded {
            lineage: d.lineage,
            principal: d.principal,
            gate: d.gate,
            allowed: d.allowed,
            now: d.now,
        }),
        ExecutionRefs::Receipt(e) => Indexed::Receipt(e),
        ExecutionRefs::LeaseEnded(e, code) => {
            Indexed::LeaseEnded(e, code == LEASE_EXPIRED.as_str())
        }
        ExecutionRefs::Erased(_) | ExecutionRefs::Other => Indexed::Nothing,
    }
}

/// The writs kept for proof bundles: an append-only file (mode 0600) of records
/// `execution id (36 bytes) ‖ token length (u32, little endian) ‖ token`, pointed into by the
/// `writs` table. Only the part a committed transaction covers counts: a tail written before a
/// crash is cut off on open. (Tokens in SQLite cost every byte twice, WAL and database.)
struct WritLog {
    file: std::fs::File,
    /// The file's length.
    len: u64,
}

const WRIT_HEADER: usize = 36 + 4;

impl WritLog {
    fn open(path: &Path, committed: u64) -> std::io::Result<WritLog> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        use writ_ledger::owner_only::FILE_MODE;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(path)?;
        // One made by an older release may be wider.
        file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
        let mut len = file.metadata()?.len();
        if len > committed {
            file.set_len(committed)?;
            len = committed;
        }
        Ok(WritLog { file, len })
    }

    /// Appends the writs; returns (offset, token length) of each and the file's new length.
    fn append(
        &mut self,
        writs: &[(ExecutionId, String)],
    ) -> std::io::Result<(Vec<(u64, u64)>, u64)> {
        use std::io::{Seek, SeekFrom, Write};
        if writs.is_empty() {
            return Ok((Vec::new(), self.len));
        }
        let start = self.file.seek(SeekFrom::End(0))?;
        let mut buf = Vec::new();
        let mut at = Vec::with_capacity(writs.len());
        for (execution, token) in writs {
            let len = u32::try_from(token.len()).map_err(std::io::Error::other)?;
            at.push((start + buf.len() as u64, u64::from(len)));
            buf.extend_from_slice(execution.to_string().as_bytes());
            buf.extend_from_slice(&len.to_le_bytes());
            buf.extend_from_slice(token.as_bytes());
        }
        self.file.write_all(&buf)?;
        self.len = start + buf.len() as u64;
        Ok((at, self.len))
    }

    /// The token at `offset`, if the record there is `execution`'s and whole.
    fn read(file: &std::fs::File, execution: ExecutionId, offset: u64, len: u64) -> Option<String> {
        use std::os::unix::fs::FileExt;
        let len = usize::try_from(len).ok()?;
        let mut buf = vec![0u8; WRIT_HEADER + len];
        file.read_exact_at(&mut buf, offset).ok()?;
        let (header, token) = buf.split_at(WRIT_HEADER);
        let (id, stored_len) = header.split_at(36);
        let stored_len = u32::from_le_bytes(stored_len.try_into().ok()?);
        if id != execution.to_string().as_bytes() || usize::try_from(stored_len).ok()? != len {
            return None;
        }
        String::from_utf8(token.to_vec()).ok()
    }
}

/// The `exp` claim of a writ this control plane issued (`None` if the token does not parse; the
/// lease sweep then assumes the longest lifetime a writ may have).
fn writ_exp(token: &str) -> Option<i64> {
    use base64::Engine;
    #[derive(Deserialize)]
    struct Exp {
        exp: i64,
    }
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<Exp>(&bytes).ok().map(|e| e.exp)
}

/// Indexes entries `first..` and the writs' places in the writ log, and records the new
/// follower position, in `tx`.
fn index_batch(
    tx: &Transaction<'_>,
    first: u64,
    entries: &[Vec<u8>],
    writs: &[(ExecutionId, String)],
    placed: &[(u64, u64)],
    writs_len: u64,
) -> rusqlite::Result<()> {
    let mut row_stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO executions (execution, parent, root, traceparent, principal, decision_index, gate, allowed, decided_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut link_stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO execution_entries (execution, ledger_index) VALUES (?1, ?2)",
    )?;
    let mut renewed_stmt = tx.prepare_cached(
        "UPDATE executions SET renewed_at = max(coalesce(renewed_at, ?2), ?2) WHERE execution = ?1",
    )?;
    let mut receipt_stmt = tx.prepare_cached(
        "UPDATE executions SET receipt_index = ?2 WHERE execution = ?1 AND receipt_index IS NULL",
    )?;
    let mut ended_stmt = tx.prepare_cached(
        "UPDATE executions SET ended_index = ?2 WHERE execution = ?1 AND ended_index IS NULL",
    )?;
    let mut expired_stmt = tx.prepare_cached(
        "UPDATE executions SET expired_index = ?2 WHERE execution = ?1 AND expired_index IS NULL",
    )?;
    for (index, entry) in (first..).zip(entries) {
        crate::exec_search::index_entry(tx, index, entry)?;
        match refs_of(entry) {
            Indexed::Execution(r) => {
                let execution = r.lineage.execution.to_string();
                let inserted = row_stmt.execute(params![
                    execution,
                    r.lineage.parent.map(|p| p.to_string()),
                    r.lineage.root.to_string(),
                    r.lineage.traceparent,
                    r.principal,
                    to_i64(index),
                    r.gate,
                    r.allowed,
                    r.now
                ])?;
                // A later decision about a known execution is a lease renewal; an allowed one
                // extends its lease from its time.
                if inserted == 0 {
                    link_stmt.execute(params![execution, to_i64(index)])?;
                    if let (true, Some(now)) = (r.allowed, r.now) {
                        renewed_stmt.execute(params![execution, now])?;
                    }
                }
            }
            Indexed::Receipt(execution) => {
                let execution = execution.to_string();
                link_stmt.execute(params![execution, to_i64(index)])?;
                receipt_stmt.execute(params![execution, to_i64(index)])?;
            }
            Indexed::LeaseEnded(execution, expired) => {
                let execution = execution.to_string();
                link_stmt.execute(params![execution, to_i64(index)])?;
                ended_stmt.execute(params![execution, to_i64(index)])?;
                if expired {
                    expired_stmt.execute(params![execution, to_i64(index)])?;
                }
            }
            Indexed::Nothing => {}
        }
    }
    let mut writ_stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO writs (execution, offset, len, exp) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for ((execution, token), (offset, len)) in writs.iter().zip(placed) {
        writ_stmt.execute(params![
            execution.to_string(),
            to_i64(*offset),
            to_i64(*len),
            writ_exp(token)
        ])?;
    }
    tx.prepare_cached("UPDATE follower SET indexed = ?1, writs_len = ?2 WHERE id = 0")?
        .execute(params![
            to_i64(first + entries.len() as u64),
            to_i64(writs_len)
        ])?;
    Ok(())
}

/// Fills the search tables of an index made before they existed, from the `indexed` ledger
/// entries the index already covers (the follower goes on from there as usual).
fn backfill_search(
    conn: &mut Connection,
    ledger: &Ledger,
    indexed: u64,
) -> Result<(), ServerError> {
    let mut at = 0;
    while at < indexed {
        let end = indexed.min(at + CHUNK);
        let entries = ledger.entries(at, end).map_err(index_err)?;
        let tx = conn.transaction()?;
        for (index, entry) in (at..).zip(&entries) {
            crate::exec_search::index_entry(&tx, index, entry)?;
        }
        tx.commit()?;
        at = end;
    }
    Ok(())
}

/// An execution handed over by the authorize path, and its writ.
type Note = (ExecRow, String);

/// State shared by the follower thread and readers.
struct Shared {
    /// Executions handed over whose decision is not indexed or whose writ is not committed.
    pending: Mutex<HashMap<ExecutionId, Note>>,
    /// Ledger entries indexed so far; readers wait on it.
    indexed: tokio::sync::watch::Sender<u64>,
    /// The last failure of the follower, cleared by its next success.
    failure: Mutex<Option<String>>,
    /// Receipts, lease ends and renewals recorded by this process that the follower may not
    /// have indexed yet (dropped once it has): what a closing decides on besides the index.
    recent: Mutex<HashMap<ExecutionId, Recent>>,
    stop: AtomicBool,
}

/// What this process recorded about an execution since the follower's position.
#[derive(Debug, Clone, Copy, Default)]
struct Recent {
    receipt_index: Option<u64>,
    ended_index: Option<u64>,
    expired_index: Option<u64>,
    renewed_at: Option<i64>,
    /// The highest ledger index among them.
    last: u64,
}

fn follower_loop(
    mut conn: Connection,
    mut log: WritLog,
    ledger: Arc<Ledger>,
    notes: mpsc::Receiver<ExecutionId>,
    shared: Arc<Shared>,
) {
    let mut indexed = *shared.indexed.borrow();
    let mut backoff = Duration::from_millis(10);
    let mut last_commit = std::time::Instant::now();
    // Executions whose writ is to be committed (their notes stay in `pending` until then),
    // and where the first `placed.len()` of them are in the writ log already (so a retry after
    // a failed transaction does not write them again).
    let mut carried: Vec<(ExecutionId, String)> = Vec::new();
    let mut placed: Vec<(u64, u64)> = Vec::new();
    loop {
        // On shutdown, index what is left (writs handed over included), then stop.
        let stopping = shared.stop.load(Ordering::Relaxed);
        let wait = if stopping { Duration::ZERO } else { IDLE_WAIT };
        let mut size = ledger.wait_for_growth(indexed, wait);
        if !stopping
            && size.saturating_sub(indexed) < CHUNK
            && let Some(rest) = COMMIT_INTERVAL.checked_sub(last_commit.elapsed())
        {
            std::thread::sleep(rest);
            size = ledger.size();
        }
        {
            let pending = shared.pending.lock().unwrap_or_else(|p| p.into_inner());
            for execution in notes.try_iter() {
                if let Some((_, writ)) = pending.get(&execution) {
                    carried.push((execution, writ.clone()));
                }
            }
        }
        if size <= indexed && carried.is_empty() {
            if stopping {
                return;
            }
            continue;
        }
        let end = size.min(indexed + CHUNK);
        let result = ledger
            .entries(indexed, end)
            .map_err(|e| e.to_string())
            .and_then(|entries| {
                // The writs first: the transaction then points at bytes already written.
                let (at, log_len) = log
                    .append(carried.get(placed.len()..).unwrap_or_default())
                    .map_err(|e| format!("cannot write the writ log: {e}"))?;
                placed.extend(at);
                let tx = conn.transaction().map_err(|e| e.to_string())?;
                index_batch(&tx, indexed, &entries, &carried, &placed, log_len)
                    .map_err(|e| e.to_string())?;
                tx.commit().map_err(|e| e.to_string())
            });
        last_commit = std::time::Instant::now();
        match result {
            Ok(()) => {
                indexed = end;
                {
                    // Served from the index from now on, once the decision is indexed too.
                    let mut pending = shared.pending.lock().unwrap_or_else(|p| p.into_inner());
                    let kept: Vec<_> = carried
                        .drain(..)
                        .zip(placed.drain(..))
                        .filter(|((execution, _), _)| {
                            let done = pending
                                .get(execution)
                                .is_none_or(|(row, _)| row.decision_index < indexed);
                            if done {
                                pending.remove(execution);
                            }
                            !done
                        })
                        .collect();
                    (carried, placed) = kept.into_iter().unzip();
                }
                shared
                    .recent
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .retain(|_, r| r.last >= indexed);
                // The failure goes first: whoever wakes on the new position (a reader waiting
                // to catch up) must not find the failure that has just ended.
                shared
                    .failure
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take();
                shared.indexed.send_replace(indexed);
                backoff = Duration::from_millis(10);
            }
            Err(e) => {
                tracing::error!(error = %e, "the execution index cannot follow the ledger; retrying");
                *shared.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                if stopping {
                    return; // rebuilt from the ledger on the next start
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

pub struct ExecIndex {
    /// Reads only; the follower thread writes.
    conn: Mutex<Connection>,
    /// The writ log, for reads (positioned reads, no shared cursor).
    writ_file: std::fs::File,
    /// The writ log's path, opened for writing only to erase a writ ([`ExecIndex::erase_writs`]).
    writ_path: std::path::PathBuf,
    ledger: Arc<Ledger>,
    notes: Mutex<mpsc::Sender<ExecutionId>>,
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The ledger's size when the index opened: closings wait until the index holds what an
    /// earlier process recorded.
    opened_at: u64,
    /// Serialize everything that closes or extends an execution (see [`ExecIndex::lock_closing`]).
    closing: Vec<tokio::sync::Mutex<()>>,
}

/// What the index knows about an execution's lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseState {
    /// The first decision allowed it (a writ was issued).
    pub allowed: bool,
    /// The time of that decision.
    pub decided_at: Option<i64>,
    /// The time of the last allowed renewal.
    pub renewed_at: Option<i64>,
    /// The writ's `exp`, when its copy is kept.
    pub exp: Option<i64>,
    /// The ledger index of its first receipt.
    pub receipt_index: Option<u64>,
    /// The ledger index of its (first) lease end.
    pub ended_index: Option<u64>,
    /// The ledger index of its lease end by the sweep (`lease_expired`): its gate was taken for
    /// gone, and no receipt is taken after it. (A lease end for withdrawn trust is followed by
    /// the gate's receipt of the termination.)
    pub expired_index: Option<u64>,
}

impl LeaseState {
    /// When the lease runs out: the writ's `exp` (or, without it, the longest a writ decided
    /// then may live) or the last renewal plus a writ's lifetime, whichever is later.
    pub fn lease_until(&self, lifetime_secs: i64, max_lifetime_secs: i64) -> i64 {
        let first = self.exp.unwrap_or_else(|| {
            self.decided_at
                .unwrap_or(0)
                .saturating_add(max_lifetime_secs)
        });
        self.renewed_at
            .map_or(first, |r| first.max(r.saturating_add(lifetime_secs)))
    }

    /// It got a receipt or its lease ended.
    pub fn closed(&self) -> bool {
        self.receipt_index.is_some() || self.ended_index.is_some()
    }
}

/// What is being recorded about an execution under its closing lock.
#[derive(Debug, Clone, Copy)]
pub enum Closing {
    /// A gate's receipt at this ledger index.
    Receipt(u64),
    /// A lease end at this ledger index; `true` when the sweep recorded it (`lease_expired`).
    LeaseEnded(u64, bool),
    /// An allowed renewal at this ledger index, decided at this time.
    Renewed(u64, i64),
}

/// Held while an execution's lease is read and a closing (or renewal) is recorded; see
/// [`ExecIndex::lock_closing`].
pub struct ClosingGuard<'a> {
    index: &'a ExecIndex,
    execution: ExecutionId,
    _held: tokio::sync::MutexGuard<'a, ()>,
}

impl ClosingGuard<'_> {
    /// The execution's lease as recorded so far (indexed, and recorded by this process since),
    /// or `None` for an execution not indexed.
    pub fn state(&self) -> Result<Option<LeaseState>, ServerError> {
        let recent = self
            .index
            .shared
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&self.execution)
            .copied();
        let Some(mut st) = self.index.lease_state(self.execution)? else {
            return Ok(None);
        };
        if let Some(r) = recent {
            st.receipt_index = st.receipt_index.or(r.receipt_index);
            st.ended_index = st.ended_index.or(r.ended_index);
            st.expired_index = st.expired_index.or(r.expired_index);
            st.renewed_at = match (st.renewed_at, r.renewed_at) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(Some(st))
    }

    /// Notes what was just recorded (durably) about the execution, so that whoever takes the
    /// lock next sees it before the follower has indexed it.
    pub fn recorded(&self, what: Closing) {
        let mut recent = self
            .index
            .shared
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let r = recent.entry(self.execution).or_default();
        let at = match what {
            Closing::Receipt(i) => {
                r.receipt_index = r.receipt_index.or(Some(i));
                i
            }
            Closing::LeaseEnded(i, expired) => {
                r.ended_index = r.ended_index.or(Some(i));
                if expired {
                    r.expired_index = r.expired_index.or(Some(i));
                }
                i
            }
            Closing::Renewed(i, now) => {
                r.renewed_at = Some(r.renewed_at.map_or(now, |t| t.max(now)));
                i
            }
        };
        r.last = r.last.max(at);
    }
}

impl Drop for ExecIndex {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
    }
}

/// What [`ExecIndex::lease_state`] reads.
const LEASE_STATE_SQL: &str = "SELECT e.allowed, e.decided_at, e.renewed_at, w.exp, e.receipt_index, e.ended_index, e.expired_index
     FROM executions e LEFT JOIN writs w ON w.execution = e.execution
     WHERE e.execution = ?1";

/// What [`ExecIndex::expired_leases`] reads.
const EXPIRED_LEASES_SQL: &str =
    "SELECT e.execution FROM executions e LEFT JOIN writs w ON w.execution = e.execution
     WHERE e.allowed = 1 AND e.receipt_index IS NULL AND e.ended_index IS NULL
       AND max(coalesce(w.exp, coalesce(e.decided_at, 0) + ?2),
               coalesce(e.renewed_at + ?3, -9223372036854775807)) < ?1
     ORDER BY e.decided_at LIMIT ?4";

fn open_conn(path: &Path) -> Result<Connection, ServerError> {
    // Writ positions and lineage are nobody else's business (0600 before SQLite opens it).
    writ_ledger::owner_only::prepare_sqlite(path)?;
    let mut conn = Connection::open(path)?;
    // Two connections write this file (the follower's batches, erasures): every transaction
    // takes the write lock when it begins, waiting out the other under the busy timeout. A
    // deferred one that read first fails at once with "database is locked" when the other
    // committed in between (its WAL snapshot is stale; the busy timeout does not apply).
    conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // What evidence erasure deletes leaves no copy in free space.
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // One plan per statement, whatever is bound to it. Otherwise SQLite prepares every lookup
    // by execution id anew on each new value (the partial indexes might apply to some values):
    // a full parse and plan on every receipt, lease check and renewal.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(conn)
}

fn index_err(e: impl std::fmt::Display) -> ServerError {
    ServerError::Config(format!("execution index: {e}"))
}

/// Brings an index of an older schema to [`SCHEMA_VERSION`]: its executions and links are
/// dropped and indexed again from the ledger; the writ log and its places stay (each writ's
/// `exp` is read back from the log).
fn migrate(conn: &Connection, path: &Path) -> Result<(), ServerError> {
    let version = writ_ledger::schema_version::refuse_newer(conn, path, SCHEMA_VERSION)?;
    if version == SCHEMA_VERSION {
        return conn.execute_batch(SCHEMA).map_err(Into::into);
    }
    let has_follower = conn
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'follower'")?
        .exists([])?;
    if has_follower {
        tracing::info!(index = %path.display(), "the execution index has an older schema; rebuilding it from the ledger");
    }
    conn.execute_batch(
        "BEGIN;
         DROP TABLE IF EXISTS executions;
         DROP TABLE IF EXISTS execution_entries;",
    )?;
    let has_writs = conn
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'writs'")?
        .exists([])?;
    let writs_have_exp = conn
        .prepare("SELECT 1 FROM pragma_table_info('writs') WHERE name = 'exp'")?
        .exists([])?;
    if has_writs && !writs_have_exp {
        conn.execute_batch("ALTER TABLE writs ADD COLUMN exp INTEGER")?;
    }
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch("UPDATE follower SET indexed = 0 WHERE id = 0")?;
    // Each kept writ's exp, from the committed part of the writ log.
    let log_path = path.with_file_name(WRIT_LOG);
    if let Ok(file) = std::fs::File::open(&log_path) {
        let rows: Vec<(String, i64, i64)> = conn
            .prepare("SELECT execution, offset, len FROM writs WHERE exp IS NULL")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        let mut update = conn.prepare("UPDATE writs SET exp = ?2 WHERE execution = ?1")?;
        for (execution, offset, len) in rows {
            let (Ok(id), Ok(offset), Ok(len)) = (
                execution.parse::<ExecutionId>(),
                u64::try_from(offset),
                u64::try_from(len),
            ) else {
                continue;
            };
            if let Some(exp) = WritLog::read(&file, id, offset, len).and_then(|t| writ_exp(&t)) {
                update.execute(params![execution, exp])?;
            }
        }
    }
    writ_ledger::schema_version::record(conn, SCHEMA_VERSION)?;
    conn.execute_batch("COMMIT")?;
    Ok(())
}

impl ExecIndex {
    /// Opens (or creates) the index at `path` and starts following `ledger` from where the
    /// index stopped. A position beyond the ledger (an index from another ledger) is refused.
    pub fn open(path: &Path, ledger: Arc<Ledger>) -> Result<Self, ServerError> {
        let mut write_conn = open_conn(path)?;
        let search_existed = crate::exec_search::exists(&write_conn)?;
        // An index of an older schema is rebuilt from the ledger (its search rows come back
        // with it, indexed by the same follower).
        migrate(&write_conn, path)?;
        write_conn.execute_batch(crate::exec_search::SCHEMA)?;
        let (indexed, writs_len): (i64, i64) = write_conn.query_row(
            "SELECT indexed, writs_len FROM follower WHERE id = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let indexed = u64::try_from(indexed).unwrap_or(u64::MAX);
        let log_path = path.with_file_name(WRIT_LOG);
        let log = WritLog::open(&log_path, u64::try_from(writs_len).unwrap_or(0))
            .map_err(|e| index_err(format!("{}: {e}", log_path.display())))?;
        let writ_file = std::fs::File::open(&log_path)
            .map_err(|e| index_err(format!("{}: {e}", log_path.display())))?;
        if indexed > ledger.size() {
            return Err(ServerError::Config(format!(
                "the execution index {} has indexed {indexed} ledger entries but the ledger holds {}: it belongs to another ledger; move it away and restart (it is rebuilt from the ledger)",
                path.display(),
                ledger.size()
            )));
        }
        if !search_existed {
            backfill_search(&mut write_conn, &ledger, indexed)?;
        }
        let conn = open_conn(path)?;
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            pending: Mutex::new(HashMap::new()),
            indexed: tokio::sync::watch::Sender::new(indexed),
            failure: Mutex::new(None),
            recent: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
        });
        let opened_at = ledger.size();
        let thread = {
            let (ledger, shared) = (Arc::clone(&ledger), Arc::clone(&shared));
            std::thread::Builder::new()
                .name("writ-exec-index".into())
                .spawn(move || follower_loop(write_conn, log, ledger, rx, shared))?
        };
        Ok(Self {
            conn: Mutex::new(conn),
            writ_file,
            writ_path: log_path,
            ledger,
            notes: Mutex::new(tx),
            shared,
            thread: Mutex::new(Some(thread)),
            opened_at,
            closing: (0..CLOSING_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        })
    }

    /// Takes the closing lock of `execution`: receipts, lease renewals and lease ends of one
    /// execution are decided and recorded one at a time under it, so an execution whose lease
    /// ended takes no receipt and no renewal, and one with a receipt is never swept. Waits
    /// first until the index holds everything recorded before this process started (what this
    /// process records is seen through [`ClosingGuard::recorded`] until it is indexed).
    pub async fn lock_closing(
        &self,
        execution: ExecutionId,
    ) -> Result<ClosingGuard<'_>, ServerError> {
        self.caught_up_to(self.opened_at).await?;
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        execution.hash(&mut h);
        let stripe = usize::try_from(h.finish() % CLOSING_STRIPES as u64).unwrap_or(0);
        let lock = self
            .closing
            .get(stripe)
            .ok_or_else(|| index_err("closing lock missing"))?;
        Ok(ClosingGuard {
            index: self,
            execution,
            _held: lock.lock().await,
        })
    }

    /// The execution's lease as indexed (`None` if it is not).
    pub fn lease_state(&self, execution: ExecutionId) -> Result<Option<LeaseState>, ServerError> {
        let conn = self.conn();
        let row = conn
            .prepare_cached(LEASE_STATE_SQL)?
            .query_row(params![execution.to_string()], |r| {
                Ok(LeaseState {
                    allowed: r.get(0)?,
                    decided_at: r.get(1)?,
                    renewed_at: r.get(2)?,
                    exp: r.get(3)?,
                    receipt_index: r
                        .get::<_, Option<i64>>(4)?
                        .and_then(|i| u64::try_from(i).ok()),
                    ended_index: r
                        .get::<_, Option<i64>>(5)?
                        .and_then(|i| u64::try_from(i).ok()),
                    expired_index: r
                        .get::<_, Option<i64>>(6)?
                        .and_then(|i| u64::try_from(i).ok()),
                })
            })
            .optional()?;
        Ok(row)
    }

    /// Allowed executions with neither receipt nor lease end whose lease ran out before
    /// `before` (see [`LeaseState::lease_until`]), oldest first, at most `limit`.
    pub fn expired_leases(
        &self,
        before: i64,
        lifetime_secs: i64,
        max_lifetime_secs: i64,
        limit: usize,
    ) -> Result<Vec<ExecutionId>, ServerError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(EXPIRED_LEASES_SQL)?;
        let rows = stmt.query_map(
            params![
                before,
                max_lifetime_secs,
                lifetime_secs,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| r.get::<_, String>(0),
        )?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r?.parse().map_err(index_err)?);
        }
        Ok(out)
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands over an allowed execution and its writ, after its decision is in the ledger;
    /// never waits.
    ///
    /// Bounded: while the follower is stalled (its disk full, say) with [`MAX_PENDING`]
    /// executions waiting, further writ copies are dropped (logged) rather than held in memory;
    /// those executions are still indexed from the ledger once the follower moves again.
    pub fn note(&self, row: ExecRow, writ: String) {
        let execution = row.lineage.execution;
        {
            let mut pending = self
                .shared
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if pending.len() >= MAX_PENDING {
                tracing::warn!(
                    %execution,
                    "the execution index is {MAX_PENDING} executions behind; this writ's copy is not kept"
                );
                return;
            }
            pending.insert(execution, (row, writ));
        }
        let _ = self
            .notes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(execution);
    }

    fn pending(&self, execution: ExecutionId) -> Option<Note> {
        self.shared
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&execution)
            .cloned()
    }

    /// Why the follower's last attempt failed, while it has not succeeded since.
    pub fn failure(&self) -> Option<String> {
        self.shared
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Ledger entries indexed so far.
    pub fn indexed(&self) -> u64 {
        *self.shared.indexed.borrow()
    }

    /// Waits until every entry the ledger held when called is indexed. Fails (instead of
    /// answering from a stale index) when the follower cannot catch up in time.
    pub async fn caught_up(&self) -> Result<(), ServerError> {
        self.caught_up_to(self.ledger.size()).await
    }

    /// Waits until the first `target` ledger entries are indexed (see [`ExecIndex::caught_up`]).
    async fn caught_up_to(&self, target: u64) -> Result<(), ServerError> {
        if self.indexed() >= target {
            return Ok(());
        }
        let mut rx = self.shared.indexed.subscribe();
        match tokio::time::timeout(CATCH_UP_TIMEOUT, rx.wait_for(|n| *n >= target)).await {
            Ok(Ok(_)) => Ok(()),
            _ => {
                let why = self
                    .shared
                    .failure
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
                    .unwrap_or_else(|| "it is still catching up with the ledger".into());
                Err(index_err(format!(
                    "not caught up ({} of {target} entries): {why}",
                    self.indexed()
                )))
            }
        }
    }

    /// The execution's row; if it is not indexed yet, waits for the follower first, so any
    /// execution whose decision is in the ledger is found.
    pub async fn find(&self, execution: ExecutionId) -> Result<Option<ExecRow>, ServerError> {
        if let Some(row) = self.get(execution)? {
            return Ok(Some(row));
        }
        self.caught_up().await?;
        self.get(execution)
    }

    /// The execution's row as known now (handed over or indexed).
    pub fn get(&self, execution: ExecutionId) -> Result<Option<ExecRow>, ServerError> {
        if let Some((row, _)) = self.pending(execution) {
            return Ok(Some(row));
        }
        let conn = self.conn();
        let row = conn
            .prepare_cached(
                "SELECT parent, root, traceparent, principal, decision_index, gate FROM executions WHERE execution = ?1",
            )?
            .query_row(params![execution.to_string()], |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            })
            .optional()?;
        let Some((parent, root, traceparent, principal, index, gate)) = row else {
            return Ok(None);
        };
        let parse = |s: &str| s.parse::<ExecutionId>().map_err(index_err);
        Ok(Some(ExecRow {
            lineage: Lineage {
                execution,
                parent: parent.as_deref().map(parse).transpose()?,
                root: parse(&root)?,
                traceparent,
            },
            principal,
            decision_index: u64::try_from(index).unwrap_or(0),
            gate,
        }))
    }

    /// The writ issued for the execution, if any.
    pub fn writ(&self, execution: ExecutionId) -> Result<Option<String>, ServerError> {
        if let Some((_, writ)) = self.pending(execution) {
            return Ok(Some(writ));
        }
        let place = self
            .conn()
            .prepare_cached("SELECT offset, len FROM writs WHERE execution = ?1")?
            .query_row(params![execution.to_string()], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()?;
        Ok(place.and_then(|(offset, len)| {
            WritLog::read(
                &self.writ_file,
                execution,
                u64::try_from(offset).ok()?,
                u64::try_from(len).ok()?,
            )
        }))
    }

    /// Executions of `principal` decided before `before` (Unix seconds).
    pub fn executions_of(
        &self,
        principal: &str,
        before: i64,
    ) -> Result<Vec<ExecutionId>, ServerError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT execution FROM executions WHERE principal = ?1 AND coalesce(decided_at, 0) < ?2",
        )?;
        let rows = stmt.query_map(params![principal, before], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            if let Ok(id) = r?.parse() {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Erases the stored copies of the writs of `executions`: each record in the writ log is
    /// overwritten with zeros (and synced), its row deleted (`secure_delete`), and the index's
    /// WAL checkpointed and truncated. Waits (bounded) until the follower committed writs still
    /// handed over; returns how many writs were erased.
    pub async fn erase_writs(&self, executions: &[ExecutionId]) -> Result<usize, ServerError> {
        use std::os::unix::fs::FileExt;
        for _ in 0..500 {
            let waiting = {
                let pending = self
                    .shared
                    .pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                executions.iter().any(|e| pending.contains_key(e))
            };
            if !waiting {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.writ_path)
            .map_err(|e| index_err(format!("{}: {e}", self.writ_path.display())))?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut erased = 0;
        {
            let mut find =
                tx.prepare_cached("SELECT offset, len FROM writs WHERE execution = ?1")?;
            let mut del = tx.prepare_cached("DELETE FROM writs WHERE execution = ?1")?;
            for execution in executions {
                let id = execution.to_string();
                let place = find
                    .query_row(params![id], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                    })
                    .optional()?;
                if let Some((offset, len)) = place {
                    let (Ok(offset), Ok(len)) = (u64::try_from(offset), usize::try_from(len))
                    else {
                        continue;
                    };
                    file.write_all_at(&vec![0u8; WRIT_HEADER + len], offset)
                        .map_err(|e| index_err(format!("{}: {e}", self.writ_path.display())))?;
                    erased += 1;
                }
                del.execute(params![id])?;
            }
        }
        file.sync_all()
            .map_err(|e| index_err(format!("{}: {e}", self.writ_path.display())))?;
        tx.commit()?;
        writ_ledger::store::checkpoint_truncate(&conn).map_err(index_err)?;
        Ok(erased)
    }

    /// Ledger indexes of everything recorded about an execution, decision first (call
    /// [`ExecIndex::caught_up`] first for a complete answer).
    pub fn entries(&self, execution: ExecutionId) -> Result<Vec<u64>, ServerError> {
        let mut out = Vec::new();
        if let Some(row) = self.get(execution)? {
            out.push(row.decision_index);
        }
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT ledger_index FROM execution_entries WHERE execution = ?1 ORDER BY ledger_index",
        )?;
        let rows = stmt.query_map(params![execution.to_string()], |r| r.get::<_, i64>(0))?;
        for r in rows {
            out.push(u64::try_from(r?).unwrap_or(0));
        }
        Ok(out)
    }

    /// Executions matching `filter` within `scope`, newest first (see `exec_search.rs`).
    pub fn search(
        &self,
        filter: &crate::exec_search::Filter,
        scope: &crate::exec_search::Scope,
        limit: u32,
    ) -> Result<Vec<crate::exec_search::Found>, ServerError> {
        Ok(crate::exec_search::search(
            &self.conn(),
            filter,
            scope,
            limit,
        )?)
    }

    /// Gates executions were authorized for, with when last.
    pub fn gates_seen(&self) -> Result<Vec<crate::exec_search::GateSeen>, ServerError> {
        Ok(crate::exec_search::gates_seen(&self.conn())?)
    }

    /// The last policy activation in the indexed part of the ledger.
    pub fn last_activation(&self) -> Result<Option<crate::exec_search::Activation>, ServerError> {
        Ok(crate::exec_search::last_activation(&self.conn())?)
    }

    /// Direct children of an execution.
    pub fn children(&self, execution: ExecutionId) -> Result<Vec<ExecutionId>, ServerError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT execution FROM executions WHERE parent = ?1 ORDER BY execution",
        )?;
        let rows = stmt.query_map(params![execution.to_string()], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            if let Ok(id) = r?.parse() {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// A page of the lineage tree rooted at `root`, in ledger order (see `exec_search::tree`).
    pub fn tree(
        &self,
        root: ExecutionId,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<crate::exec_search::TreeRow>, ServerError> {
        Ok(crate::exec_search::tree(
            &self.conn(),
            &root.to_string(),
            after,
            limit,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> (tempfile::TempDir, ExecIndex) {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Arc::new(Ledger::init(&dir.path().join("ledger"), "writ.test/qpsg").unwrap());
        let index = ExecIndex::open(&dir.path().join("index.db"), ledger).unwrap();
        (dir, index)
    }

    #[test]
    fn lookups_by_execution_keep_their_plan_across_values() {
        let (_dir, index) = index();
        for _ in 0..5 {
            assert!(index.lease_state(ExecutionId::new_v7()).unwrap().is_none());
        }
        let conn = index.conn();
        let stmt = conn.prepare_cached(LEASE_STATE_SQL).unwrap();
        assert_eq!(
            stmt.get_status(rusqlite::StatementStatus::RePrepare),
            0,
            "the lease lookup was prepared again for a new execution id"
        );
    }

    #[test]
    fn the_open_leases_query_still_uses_its_partial_index() {
        let (_dir, index) = index();
        let conn = index.conn();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {EXPIRED_LEASES_SQL}"))
            .unwrap()
            .query_map(params![0, 0, 0, 10], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            plan.iter().any(|l| l.contains("executions_open")),
            "plan: {plan:?}"
        );
    }
}
