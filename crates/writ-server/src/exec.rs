//! The execution index: execution → lineage, writ and ledger indexes, for proofs, lineage and
//! lease renewal. Derived data (the ledger holds the evidence), so it is kept in SQLite with
//! `synchronous=NORMAL` (a process crash loses nothing committed; only an OS crash may) and never
//! in unbounded memory.
//!
//! Writes are group-committed like the ledger's: a writer thread gathers concurrent rows into one
//! transaction with prepared statements, and each writer's future resolves once its batch is
//! committed, so an execution is indexed before its writ is returned.

use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc;

use rusqlite::{Connection, OptionalExtension, params};
use writ_model::{ExecutionId, Lineage};

use crate::error::ServerError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS executions (
    execution TEXT PRIMARY KEY,
    parent TEXT,
    root TEXT NOT NULL,
    traceparent TEXT NOT NULL,
    principal TEXT NOT NULL,
    decision_index INTEGER NOT NULL,
    jti TEXT,
    writ TEXT
);
CREATE INDEX IF NOT EXISTS executions_parent ON executions(parent);
CREATE INDEX IF NOT EXISTS executions_jti ON executions(jti);
CREATE TABLE IF NOT EXISTS execution_entries (
    execution TEXT NOT NULL,
    ledger_index INTEGER NOT NULL,
    PRIMARY KEY (execution, ledger_index)
);
";

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn commit(conn: &mut Connection, batch: &[(Write, Ack)]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut row_stmt = tx.prepare_cached(
            "INSERT OR REPLACE INTO executions (execution, parent, root, traceparent, principal, decision_index, jti, writ)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let mut link_stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO execution_entries (execution, ledger_index) VALUES (?1, ?2)",
        )?;
        for (w, _) in batch {
            match w {
                Write::Row(row) => {
                    let l = &row.lineage;
                    row_stmt.execute(params![
                        l.execution.to_string(),
                        l.parent.map(|p| p.to_string()),
                        l.root.to_string(),
                        l.traceparent,
                        row.principal,
                        to_i64(row.decision_index),
                        row.jti,
                        row.writ
                    ])?;
                }
                Write::Link(execution, index) => {
                    link_stmt.execute(params![execution.to_string(), to_i64(*index)])?;
                }
            }
        }
    }
    tx.commit()
}

fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<(Write, Ack)>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        let result = commit(&mut conn, &batch).map_err(|e| e.to_string());
        for (_, ack) in batch {
            let _ = ack.send(result.clone());
        }
    }
}

impl Drop for ExecIndex {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish what it has and stop.
        self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
    }
}

/// One indexed execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRow {
    pub lineage: Lineage,
    pub principal: String,
    pub decision_index: u64,
    pub jti: Option<String>,
    pub writ: Option<String>,
}

enum Write {
    Row(Box<ExecRow>),
    Link(ExecutionId, u64),
}

type Ack = tokio::sync::oneshot::Sender<Result<(), String>>;

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 2048;

pub struct ExecIndex {
    /// Reads only; writes go through the writer thread.
    conn: Mutex<Connection>,
    writer: Mutex<Option<mpsc::Sender<(Write, Ack)>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

fn open_conn(path: &Path) -> Result<Connection, ServerError> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

impl ExecIndex {
    pub fn open(path: &Path) -> Result<Self, ServerError> {
        let write_conn = open_conn(path)?;
        write_conn.execute_batch(SCHEMA)?;
        let conn = open_conn(path)?;
        let (tx, rx) = mpsc::channel::<(Write, Ack)>();
        let thread = std::thread::Builder::new()
            .name("writ-exec-index".into())
            .spawn(move || writer_loop(write_conn, rx))?;
        Ok(Self {
            conn: Mutex::new(conn),
            writer: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn write(&self, w: Write) -> Result<(), ServerError> {
        let (ack, done) = tokio::sync::oneshot::channel();
        let sent = match self
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            Some(tx) => tx.send((w, ack)).is_ok(),
            None => false,
        };
        if !sent {
            return Err(ServerError::Config("the execution index is closed".into()));
        }
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ServerError::Config(format!(
                "execution index write failed: {e}"
            ))),
            Err(_) => Err(ServerError::Config(
                "the execution index writer stopped".into(),
            )),
        }
    }

    /// Records an execution after its decision is durable in the ledger; resolves once committed.
    pub async fn note(&self, row: &ExecRow) -> Result<(), ServerError> {
        self.write(Write::Row(Box::new(row.clone()))).await
    }

    /// Links another ledger entry (a receipt, a renewal) to an execution.
    pub async fn link_entry(&self, execution: ExecutionId, index: u64) -> Result<(), ServerError> {
        self.write(Write::Link(execution, index)).await
    }

    pub fn get(&self, execution: ExecutionId) -> Result<Option<ExecRow>, ServerError> {
        self.query_one("execution = ?1", &execution.to_string())
    }

    pub fn by_jti(&self, jti: &str) -> Result<Option<ExecRow>, ServerError> {
        self.query_one("jti = ?1", jti)
    }

    fn query_one(&self, filter: &str, arg: &str) -> Result<Option<ExecRow>, ServerError> {
        let sql = format!(
            "SELECT execution, parent, root, traceparent, principal, decision_index, jti, writ FROM executions WHERE {filter}"
        );
        let conn = self.conn();
        let row = conn
            .query_row(&sql, params![arg], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                ))
            })
            .optional()?;
        let Some((execution, parent, root, traceparent, principal, index, jti, writ)) = row else {
            return Ok(None);
        };
        let parse = |s: &str| {
            s.parse::<ExecutionId>()
                .map_err(|e| ServerError::Config(e.to_string()))
        };
        Ok(Some(ExecRow {
            lineage: Lineage {
                execution: parse(&execution)?,
                parent: parent.as_deref().map(parse).transpose()?,
                root: parse(&root)?,
                traceparent,
            },
            principal,
            decision_index: u64::try_from(index).unwrap_or(0),
            jti,
            writ,
        }))
    }

    /// Ledger indexes of everything recorded about an execution, decision first.
    pub fn entries(&self, execution: ExecutionId) -> Result<Vec<u64>, ServerError> {
        let mut out = Vec::new();
        if let Some(row) = self.get(execution)? {
            out.push(row.decision_index);
        }
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT ledger_index FROM execution_entries WHERE execution = ?1 ORDER BY ledger_index",
        )?;
        let rows = stmt.query_map(params![execution.to_string()], |r| r.get::<_, i64>(0))?;
        for r in rows {
            out.push(u64::try_from(r?).unwrap_or(0));
        }
        Ok(out)
    }

    /// Direct children of an execution.
    pub fn children(&self, execution: ExecutionId) -> Result<Vec<ExecutionId>, ServerError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT execution FROM executions WHERE parent = ?1 ORDER BY execution")?;
        let rows = stmt.query_map(params![execution.to_string()], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            if let Ok(id) = r?.parse() {
                out.push(id);
            }
        }
        Ok(out)
    }
}
