//! The execution index: execution → lineage, writ and ledger indexes, for proofs, lineage and
//! lease renewal. Derived data (the ledger holds the evidence), so it is kept in SQLite with
//! `synchronous=NORMAL` and never in unbounded memory.

use std::path::Path;
use std::sync::Mutex;

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

/// One indexed execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRow {
    pub lineage: Lineage,
    pub principal: String,
    pub decision_index: u64,
    pub jti: Option<String>,
    pub writ: Option<String>,
}

pub struct ExecIndex {
    conn: Mutex<Connection>,
}

impl ExecIndex {
    pub fn open(path: &Path) -> Result<Self, ServerError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an execution after its decision is durable in the ledger.
    pub fn note(&self, row: &ExecRow) -> Result<(), ServerError> {
        let l = &row.lineage;
        self.conn().execute(
            "INSERT OR REPLACE INTO executions (execution, parent, root, traceparent, principal, decision_index, jti, writ)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                l.execution.to_string(),
                l.parent.map(|p| p.to_string()),
                l.root.to_string(),
                l.traceparent,
                row.principal,
                i64::try_from(row.decision_index).unwrap_or(i64::MAX),
                row.jti,
                row.writ
            ],
        )?;
        Ok(())
    }

    /// Links another ledger entry (a receipt, a renewal) to an execution.
    pub fn link_entry(&self, execution: ExecutionId, index: u64) -> Result<(), ServerError> {
        self.conn().execute(
            "INSERT OR IGNORE INTO execution_entries (execution, ledger_index) VALUES (?1, ?2)",
            params![
                execution.to_string(),
                i64::try_from(index).unwrap_or(i64::MAX)
            ],
        )?;
        Ok(())
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
