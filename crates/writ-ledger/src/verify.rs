//! Whole-store verification: recompute the tree from storage and check every stored tile and
//! checkpoint; with `full`, also rehash every entry and run SQLite's integrity check. The first
//! problem is named (entry, tile or checkpoint) so an operator knows where to look.

use std::collections::HashSet;
use std::path::Path;

use rusqlite::Connection;
use serde::Serialize;

use crate::checkpoint::SignedCheckpoint;
use crate::entry::validate_entry;
use crate::error::LedgerError;
use crate::hash::leaf_hash;
use crate::ledger::{STORE_FILE, read_verifier};
use crate::note::Ed25519Verifier;
use crate::proof::{MemoryTree, tree_root};
use crate::store::split_tile_key;
use crate::tiles::{TILE_HEIGHT, TILE_WIDTH, tile_bytes, tile_hashes, tile_path, tile_width};

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `store`, `entry`, `tile` or `checkpoint`.
    pub kind: String,
    /// Which one: an index, a tile path, a checkpoint size.
    pub at: String,
    /// What is wrong.
    pub detail: String,
}

/// The result of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// True when nothing was wrong.
    pub ok: bool,
    /// Whether entries were rehashed and SQLite's integrity check ran.
    pub full: bool,
    /// The size of the latest checkpoint.
    pub size: u64,
    /// Entries rehashed.
    pub entries_checked: u64,
    /// Tiles compared with the recomputed tree.
    pub tiles_checked: u64,
    /// Checkpoints whose signature and root were checked.
    pub checkpoints_checked: u64,
    /// The first problem, when not ok.
    pub problem: Option<Problem>,
}

impl VerifyReport {
    fn fail(mut self, kind: &str, at: impl Into<String>, detail: impl Into<String>) -> Self {
        self.ok = false;
        self.problem = Some(Problem {
            kind: kind.to_owned(),
            at: at.into(),
            detail: detail.into(),
        });
        self
    }
}

/// Verifies the ledger in `dir` without opening it for writing (works on a damaged store).
pub fn verify_dir(dir: &Path, full: bool) -> Result<VerifyReport, LedgerError> {
    let verifier = read_verifier(dir)?;
    let path = dir.join(STORE_FILE);
    if !path.exists() {
        return Err(LedgerError::NotInitialized(dir.display().to_string()));
    }
    let conn = Connection::open_with_flags(
        &path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    verify_connection(&conn, &verifier, full)
}

/// Verifies the store behind `conn` inside one read transaction.
pub fn verify_connection(
    conn: &Connection,
    verifier: &Ed25519Verifier,
    full: bool,
) -> Result<VerifyReport, LedgerError> {
    conn.execute_batch("BEGIN")?;
    let r = verify_inner(conn, verifier, full);
    let _ = conn.execute_batch("COMMIT");
    match r {
        Ok(report) => Ok(report),
        // A store too damaged to read is a verification failure, not a crash.
        Err(LedgerError::Storage(e)) => Ok(VerifyReport {
            ok: true,
            full,
            size: 0,
            entries_checked: 0,
            tiles_checked: 0,
            checkpoints_checked: 0,
            problem: None,
        }
        .fail("store", "ledger.db", e.to_string())),
        Err(e) => Err(e),
    }
}

fn verify_inner(
    conn: &Connection,
    verifier: &Ed25519Verifier,
    full: bool,
) -> Result<VerifyReport, LedgerError> {
    let mut report = VerifyReport {
        ok: true,
        full,
        size: 0,
        entries_checked: 0,
        tiles_checked: 0,
        checkpoints_checked: 0,
        problem: None,
    };
    if full {
        let mut stmt = conn.prepare("PRAGMA integrity_check")?;
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        if rows != ["ok"] {
            return Ok(report.fail("store", "ledger.db", rows.join("; ")));
        }
    }
    let latest: Option<i64> =
        conn.query_row("SELECT max(size) FROM checkpoints", [], |r| r.get(0))?;
    let Some(size) = latest else {
        return Ok(report.fail("checkpoint", "latest", "the store holds no checkpoint"));
    };
    let size = size as u64;
    report.size = size;

    // Leaf hashes as stored: full level-0 tiles, then the entries' leaf column for the rest.
    let mut tile_leaves = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    for index in 0..size.div_ceil(TILE_WIDTH) {
        let width = tile_width(0, index, size);
        let path = tile_path(0, index, width);
        if width < TILE_WIDTH {
            let mut stmt = conn.prepare("SELECT leaf FROM entries WHERE idx >= ?1 ORDER BY idx")?;
            let mut rows = stmt.query([(index * TILE_WIDTH) as i64])?;
            let mut got = 0u64;
            while let Some(row) = rows.next()? {
                let leaf: Vec<u8> = row.get(0)?;
                match crate::hash::hash_from_slice(&leaf) {
                    Some(h) if got < width => tile_leaves.push(h),
                    _ => return Ok(report.fail("tile", path, "a leaf hash is malformed or extra")),
                }
                got += 1;
            }
            if got != width {
                return Ok(report.fail("tile", path, "leaf hashes are missing"));
            }
            continue;
        }
        let data: Option<Vec<u8>> = conn
            .query_row(
                "SELECT data FROM tiles WHERE key = ?1",
                [index as i64],
                |r| r.get(0),
            )
            .ok();
        let Some(data) = data else {
            return Ok(report.fail("tile", path, "missing"));
        };
        match tile_hashes(&data) {
            Ok(h) if h.len() as u64 == width => tile_leaves.extend(h),
            _ => return Ok(report.fail("tile", path, "wrong width")),
        }
    }

    // With `full`, leaf hashes recomputed from the entries themselves.
    let leaves = if full {
        let mut leaves = Vec::with_capacity(tile_leaves.len());
        let mut stmt = conn.prepare("SELECT idx, data FROM entries ORDER BY idx")?;
        let mut rows = stmt.query([])?;
        let mut expect = 0u64;
        while let Some(row) = rows.next()? {
            let idx = row.get::<_, i64>(0)? as u64;
            let data: Vec<u8> = row.get(1)?;
            if idx != expect {
                return Ok(report.fail("entry", expect.to_string(), "missing"));
            }
            if idx >= size {
                return Ok(report.fail(
                    "entry",
                    idx.to_string(),
                    format!("beyond the latest checkpoint (size {size})"),
                ));
            }
            if let Err(e) = validate_entry(&data) {
                return Ok(report.fail("entry", idx.to_string(), e.to_string()));
            }
            leaves.push(leaf_hash(&data));
            expect += 1;
            report.entries_checked += 1;
        }
        if expect != size {
            return Ok(report.fail("entry", expect.to_string(), "missing"));
        }
        // An entry and its tile disagree: if the tiles still give the signed root, the entry
        // is the one that changed; otherwise the tile check below names the tile.
        if let Some(i) = leaves.iter().zip(&tile_leaves).position(|(a, b)| a != b) {
            let signed_root = latest_signed_root(conn, verifier, size)?;
            if signed_root == Some(crate::hash::root_from_leaf_hashes(&tile_leaves)) {
                return Ok(report.fail(
                    "entry",
                    i.to_string(),
                    "its hash is not the one under the signed checkpoints; the entry was altered",
                ));
            }
            let index = i as u64 / TILE_WIDTH;
            if tile_width(0, index, size) < TILE_WIDTH {
                return Ok(report.fail(
                    "tile",
                    tile_path(0, index, tile_width(0, index, size)),
                    format!("the stored leaf hash of entry {i} differs from the entry and the signed checkpoints"),
                ));
            }
        }
        leaves
    } else {
        let count: i64 = conn.query_row("SELECT count(*) FROM entries", [], |r| r.get(0))?;
        if count as u64 != size {
            return Ok(report.fail(
                "entry",
                "count",
                format!("{count} entries stored for a checkpoint of size {size}"),
            ));
        }
        tile_leaves
    };
    let tree = MemoryTree::from_leaf_hashes(leaves);

    // Every stored tile against the recomputed tree, and no expected tile missing.
    let mut seen = HashSet::new();
    {
        let mut stmt = conn.prepare("SELECT key, data FROM tiles ORDER BY key")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let (level, index) = split_tile_key(row.get::<_, i64>(0)?);
            let data: Vec<u8> = row.get(1)?;
            let width = tile_width(level, index, size);
            let path = tile_path(level, index, width.max(1));
            if width == 0 {
                return Ok(report.fail("tile", path, "beyond the latest checkpoint"));
            }
            let start = usize::try_from(index * TILE_WIDTH).unwrap_or(usize::MAX);
            let end = start.saturating_add(width as usize);
            let expected = tree
                .level(usize::from(level) * TILE_HEIGHT as usize)
                .get(start..end)
                .map(tile_bytes);
            if expected.as_deref() != Some(data.as_slice()) {
                return Ok(report.fail(
                    "tile",
                    path,
                    "its hashes differ from the tree recomputed from storage",
                ));
            }
            seen.insert((level, index));
            report.tiles_checked += 1;
        }
    }
    let mut level: u8 = 0;
    loop {
        let shift = u32::from(level) * TILE_HEIGHT;
        let nodes = if shift >= 64 { 0 } else { size >> shift };
        if nodes == 0 {
            break;
        }
        for index in 0..nodes.div_ceil(TILE_WIDTH) {
            let partial_leaves = level == 0 && tile_width(0, index, size) < TILE_WIDTH;
            if !partial_leaves && !seen.contains(&(level, index)) {
                let path = tile_path(level, index, tile_width(level, index, size));
                return Ok(report.fail("tile", path, "missing"));
            }
        }
        level = level.saturating_add(1);
    }

    // Every checkpoint: signature, origin, size, root at its size.
    let mut stmt = conn.prepare("SELECT size, note FROM checkpoints ORDER BY size")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let at = row.get::<_, i64>(0)? as u64;
        let note: Vec<u8> = row.get(1)?;
        let name = format!("size {at}");
        let Ok(note) = String::from_utf8(note) else {
            return Ok(report.fail("checkpoint", name, "not UTF-8"));
        };
        let cp = match SignedCheckpoint::open(&note, verifier) {
            Ok(cp) => cp,
            Err(e) => return Ok(report.fail("checkpoint", name, e.to_string())),
        };
        if cp.size() != at {
            return Ok(report.fail("checkpoint", name, format!("it says size {}", cp.size())));
        }
        let root = tree_root(&tree, at).map_err(LedgerError::Proof)?;
        if &root != cp.root() {
            return Ok(report.fail(
                "checkpoint",
                name,
                "its root differs from the tree recomputed from storage",
            ));
        }
        report.checkpoints_checked += 1;
    }
    Ok(report)
}

/// The root of the latest checkpoint, when its signature verifies.
fn latest_signed_root(
    conn: &Connection,
    verifier: &Ed25519Verifier,
    size: u64,
) -> Result<Option<crate::hash::Hash>, LedgerError> {
    let note: Vec<u8> = conn.query_row(
        "SELECT note FROM checkpoints WHERE size = ?1",
        [size as i64],
        |r| r.get(0),
    )?;
    Ok(String::from_utf8(note)
        .ok()
        .and_then(|n| SignedCheckpoint::open(&n, verifier).ok())
        .map(|cp| *cp.root()))
}
