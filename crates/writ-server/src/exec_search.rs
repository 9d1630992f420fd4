//! The searchable side of the execution index: one row per execution with the clear fields of
//! its first decision (principal, action, resource, gate, zone, decision, reason code, time),
//! and the last policy activation, for `GET /v1/executions` and `GET /v1/status`.
//!
//! Kept in tables of their own (`execution_search`, `status_activation`) in the index database,
//! written by the execution index's follower in the same transaction as its other rows, so it
//! is exactly as far along the ledger as the rest of the index. This module knows nothing of
//! the follower: it parses one entry and writes it, and answers queries over a connection.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Deserialize;

/// Tables of this module; created with the index's own schema.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS execution_search (
    ledger_index INTEGER PRIMARY KEY,
    execution TEXT NOT NULL UNIQUE,
    root TEXT NOT NULL,
    parent TEXT,
    time INTEGER NOT NULL,
    principal TEXT NOT NULL,
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    gate TEXT,
    zone TEXT,
    decision TEXT NOT NULL,
    reason_code TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS execution_search_principal ON execution_search(principal, ledger_index);
CREATE INDEX IF NOT EXISTS execution_search_root ON execution_search(root);
CREATE INDEX IF NOT EXISTS execution_search_gate ON execution_search(gate, time);
-- Equality on a gate or resource, then newest first with no sort: a page stops after its
-- LIMIT rows even when most of the table matches (one gate, one tool).
CREATE INDEX IF NOT EXISTS execution_search_gate_newest ON execution_search(gate, ledger_index);
CREATE INDEX IF NOT EXISTS execution_search_resource_newest ON execution_search(resource, ledger_index);
CREATE TABLE IF NOT EXISTS status_activation (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    bundle_sha256 TEXT NOT NULL,
    at INTEGER NOT NULL,
    by TEXT NOT NULL,
    ledger_index INTEGER NOT NULL
);
";

/// Whether the search tables exist yet (an index made before them needs a backfill).
pub fn exists(conn: &Connection) -> rusqlite::Result<bool> {
    conn.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'execution_search'")?
        .exists([])
}

/// The members of a `policy.activated` entry the status page shows.
#[derive(Deserialize)]
struct ActivationEntry {
    #[serde(rename = "type")]
    kind: String,
    bundle_sha256: Option<String>,
    at: Option<i64>,
    by: Option<String>,
}

/// Indexes the ledger entry at `index` (if it is a decision, a refusal or an activation).
/// An entry of another shape is skipped: the search is derived, never a reason to stall.
pub fn index_entry(tx: &Transaction<'_>, index: u64, entry: &[u8]) -> rusqlite::Result<()> {
    use writ_model::entries::ExecutionRefs;
    let at = i64::try_from(index).unwrap_or(i64::MAX);
    let d = match ExecutionRefs::of(entry) {
        ExecutionRefs::Decided(d) => d,
        _ => {
            if let Ok(e) = serde_json::from_slice::<ActivationEntry>(entry)
                && e.kind == "policy.activated"
                && let (Some(sha), Some(when)) = (e.bundle_sha256, e.at)
            {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO status_activation (id, bundle_sha256, at, by, ledger_index) VALUES (0, ?1, ?2, ?3, ?4)",
                )?
                .execute(params![sha, when, e.by.unwrap_or_default(), at])?;
            }
            return Ok(());
        }
    };
    let decision = if d.allowed { "allow" } else { "deny" };
    // The first decision about an execution is its authorization; later ones (lease
    // renewals) are found through the execution's ledger entries.
    tx.prepare_cached(
        "INSERT OR IGNORE INTO execution_search
         (ledger_index, execution, root, parent, time, principal, action, resource, gate, zone, decision, reason_code)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        at,
        d.lineage.execution.to_string(),
        d.lineage.root.to_string(),
        d.lineage.parent.map(|p| p.to_string()),
        d.now.unwrap_or(0),
        d.principal,
        d.action,
        d.resource,
        d.gate,
        d.zone,
        decision,
        d.reason_code
    ])?;
    Ok(())
}

/// What `GET /v1/executions` filters on; every field optional, all given ones must match.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub principal: Option<String>,
    pub decision: Option<String>,
    pub reason_code: Option<String>,
    pub action: Option<String>,
    pub resource: Option<String>,
    pub gate: Option<String>,
    pub zone: Option<String>,
    /// Decided at or after (Unix seconds).
    pub since: Option<i64>,
    /// Decided before (Unix seconds).
    pub until: Option<i64>,
    /// Only rows recorded before this ledger index (the cursor of the previous page).
    pub before: Option<u64>,
}

/// Which executions a caller may be shown, as far as SQL can say (see `executions.rs`).
#[derive(Debug, Clone)]
pub enum Scope {
    /// Every execution (the admin token, a person with a role).
    All,
    /// Those authorized for this gate.
    Gate(String),
    /// Those in a lineage in which this principal acted (checked row by row afterwards).
    Lineage(String),
}

/// One execution as searched.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Found {
    pub execution: String,
    pub root: String,
    pub parent: Option<String>,
    pub time: i64,
    pub principal: String,
    pub action: String,
    pub resource: String,
    pub gate: Option<String>,
    pub zone: Option<String>,
    pub decision: String,
    pub reason_code: String,
    pub ledger_index: u64,
}

/// Up to `limit` executions matching `filter` within `scope`, newest first.
pub fn search(
    conn: &Connection,
    filter: &Filter,
    scope: &Scope,
    limit: u32,
) -> rusqlite::Result<Vec<Found>> {
    use rusqlite::types::Value as Sql;
    let mut clauses: Vec<&str> = Vec::new();
    let mut args: Vec<Sql> = Vec::new();
    let text = |v: &Option<String>| v.clone().map(Sql::Text);
    for (clause, value) in [
        ("principal = ?", text(&filter.principal)),
        ("decision = ?", text(&filter.decision)),
        ("reason_code = ?", text(&filter.reason_code)),
        ("action = ?", text(&filter.action)),
        ("resource = ?", text(&filter.resource)),
        ("gate = ?", text(&filter.gate)),
        ("zone = ?", text(&filter.zone)),
        ("time >= ?", filter.since.map(Sql::Integer)),
        ("time < ?", filter.until.map(Sql::Integer)),
        (
            "ledger_index < ?",
            filter
                .before
                .map(|b| Sql::Integer(i64::try_from(b).unwrap_or(i64::MAX))),
        ),
    ] {
        if let Some(v) = value {
            clauses.push(clause);
            args.push(v);
        }
    }
    match scope {
        Scope::All => {}
        Scope::Gate(g) => {
            clauses.push("gate = ?");
            args.push(Sql::Text(g.clone()));
        }
        Scope::Lineage(p) => {
            clauses.push(
                "(principal = ? OR root IN (SELECT root FROM execution_search WHERE principal = ?))",
            );
            args.push(Sql::Text(p.clone()));
            args.push(Sql::Text(p.clone()));
        }
    }
    let mut sql = String::from(
        "SELECT execution, root, parent, time, principal, action, resource, gate, zone, decision, reason_code, ledger_index FROM execution_search",
    );
    if !clauses.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&clauses.join(" AND "));
    }
    sql.push_str(" ORDER BY ledger_index DESC LIMIT ?");
    args.push(Sql::Integer(i64::from(limit)));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), found_row)?;
    rows.collect()
}

/// A [`Found`] from the first twelve columns of a row selected as `execution, root, parent,
/// time, principal, action, resource, gate, zone, decision, reason_code, ledger_index`.
fn found_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Found> {
    Ok(Found {
        execution: r.get(0)?,
        root: r.get(1)?,
        parent: r.get(2)?,
        time: r.get(3)?,
        principal: r.get(4)?,
        action: r.get(5)?,
        resource: r.get(6)?,
        gate: r.get(7)?,
        zone: r.get(8)?,
        decision: r.get(9)?,
        reason_code: r.get(10)?,
        ledger_index: u64::try_from(r.get::<_, i64>(11)?).unwrap_or(0),
    })
}

/// A gate as seen in the index: how many executions were authorized for it, and the last.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GateSeen {
    pub gate: String,
    pub executions: u64,
    pub last_seen: i64,
}

/// Every gate that executions were authorized for.
pub fn gates_seen(conn: &Connection) -> rusqlite::Result<Vec<GateSeen>> {
    let mut stmt = conn.prepare_cached(
        "SELECT gate, COUNT(*), MAX(time) FROM execution_search WHERE gate IS NOT NULL GROUP BY gate ORDER BY gate",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(GateSeen {
            gate: r.get(0)?,
            executions: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
            last_seen: r.get(2)?,
        })
    })?;
    rows.collect()
}

/// The last policy activation recorded in the ledger.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Activation {
    pub bundle_sha256: String,
    pub at: i64,
    pub by: String,
    pub ledger_index: u64,
}

pub fn last_activation(conn: &Connection) -> rusqlite::Result<Option<Activation>> {
    conn.prepare_cached(
        "SELECT bundle_sha256, at, by, ledger_index FROM status_activation WHERE id = 0",
    )?
    .query_row([], |r| {
        Ok(Activation {
            bundle_sha256: r.get(0)?,
            at: r.get(1)?,
            by: r.get(2)?,
            ledger_index: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
        })
    })
    .optional()
}

/// One execution of a lineage tree as indexed: its searchable row, and where its receipt and
/// lease end sit in the ledger.
#[derive(Debug, Clone)]
pub struct TreeRow {
    pub found: Found,
    pub receipt_index: Option<u64>,
    pub ended_index: Option<u64>,
}

/// Up to `limit` executions of the tree rooted at `root` recorded after ledger index `after`,
/// in ledger order (a parent's decision is always recorded before its children's).
pub fn tree(
    conn: &Connection,
    root: &str,
    after: Option<u64>,
    limit: u32,
) -> rusqlite::Result<Vec<TreeRow>> {
    let after = after.map_or(-1, |a| i64::try_from(a).unwrap_or(i64::MAX));
    let mut stmt = conn.prepare_cached(
        "SELECT s.execution, s.root, s.parent, s.time, s.principal, s.action, s.resource, s.gate,
                s.zone, s.decision, s.reason_code, s.ledger_index, e.receipt_index, e.ended_index
         FROM execution_search s LEFT JOIN executions e ON e.execution = s.execution
         WHERE s.root = ?1 AND s.ledger_index > ?2 ORDER BY s.ledger_index LIMIT ?3",
    )?;
    let index = |v: Option<i64>| v.and_then(|i| u64::try_from(i).ok());
    let rows = stmt.query_map(params![root, after, i64::from(limit)], |r| {
        Ok(TreeRow {
            found: found_row(r)?,
            receipt_index: index(r.get(12)?),
            ended_index: index(r.get(13)?),
        })
    })?;
    rows.collect()
}
