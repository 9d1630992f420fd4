//! Whole-store verification: recompute the tree from storage and check every stored tile and
//! checkpoint; with `full`, also rehash every entry and run SQLite's integrity check. The first
//! problem is named (entry, tile or checkpoint) so an operator knows where to look.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Serialize;

use crate::checkpoint::SignedCheckpoint;
use crate::entry::validate_entry;
use crate::error::LedgerError;
use crate::hash::{Hash, hash_from_slice, leaf_hash};
use crate::ledger::{STORE_FILE, read_verifier};
use crate::note::Ed25519Verifier;
use crate::proof::{MemoryTree, tree_root};
use crate::store::{LogReader, SqliteStore};
use crate::tiles::{TILE_HEIGHT, TILE_WIDTH, tile_bytes, tile_hashes, tile_path, tile_width};

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `store`, `entry`, `tile`, `checkpoint` or `disclosure`.
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
    /// With `full`: evidence-store disclosures recomputed to their entry's commitment.
    pub disclosures_checked: u64,
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
    let mut store = SqliteStore::open_as_is(&path)?;
    verify_reader(&mut store, &verifier, full)
}

/// Verifies the log behind `reader` inside one read snapshot.
pub fn verify_reader<R: LogReader + ?Sized>(
    reader: &mut R,
    verifier: &Ed25519Verifier,
    full: bool,
) -> Result<VerifyReport, LedgerError> {
    let name = reader.store_name();
    let r = reader
        .begin_snapshot()
        .and_then(|()| verify_inner(reader, verifier, full));
    let _ = reader.end_snapshot();
    let damaged = |detail: String| {
        VerifyReport {
            ok: true,
            full,
            size: 0,
            entries_checked: 0,
            tiles_checked: 0,
            checkpoints_checked: 0,
            disclosures_checked: 0,
            problem: None,
        }
        .fail("store", name.clone(), detail)
    };
    match r {
        Ok(report) => Ok(report),
        // A store too damaged to read is a verification failure, not a crash.
        Err(LedgerError::Storage(e)) => Ok(damaged(e.to_string())),
        Err(LedgerError::Database(e)) => Ok(damaged(e)),
        Err(e) => Err(e),
    }
}

fn verify_inner<R: LogReader + ?Sized>(
    conn: &mut R,
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
        disclosures_checked: 0,
        problem: None,
    };
    if full && let Some(problem) = conn.integrity_check()? {
        return Ok(report.fail("store", conn.store_name(), problem));
    }
    let checkpoints = conn.all_checkpoints()?;
    let Some(size) = checkpoints.iter().map(|(s, _)| *s).max() else {
        return Ok(report.fail("checkpoint", "latest", "the store holds no checkpoint"));
    };
    report.size = size;

    // Three views of every leaf: the leaf hash stored with the entry, the level-0 tiles (full
    // tiles as stored; the partial one is the stored leaf hashes), and with `full` the hash
    // of the entry bytes themselves.
    let mut stored: Vec<Hash> = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    let mut from_entries: Vec<Hash> = Vec::new();
    let mut expect = 0u64;
    let mut failed: Option<(String, String, String)> = None;
    conn.scan_entries(full, &mut |idx, leaf, data| {
        let fail = |kind: &str, at: String, detail: String| Some((kind.to_owned(), at, detail));
        if idx != expect {
            failed = fail("entry", expect.to_string(), "missing".to_owned());
            return Ok(false);
        }
        if idx >= size {
            failed = fail(
                "entry",
                idx.to_string(),
                format!("beyond the latest checkpoint (size {size})"),
            );
            return Ok(false);
        }
        let Some(leaf) = hash_from_slice(&leaf) else {
            failed = fail(
                "tile",
                tile_path(0, idx / TILE_WIDTH, tile_width(0, idx / TILE_WIDTH, size)),
                format!("the stored leaf hash of entry {idx} is malformed"),
            );
            return Ok(false);
        };
        stored.push(leaf);
        if let Some(data) = data {
            if let Err(e) = validate_entry(&data) {
                failed = fail("entry", idx.to_string(), e.to_string());
                return Ok(false);
            }
            from_entries.push(leaf_hash(&data));
            report.entries_checked += 1;
        }
        expect += 1;
        Ok(true)
    })?;
    if let Some((kind, at, detail)) = failed {
        return Ok(report.fail(&kind, at, detail));
    }
    if expect != size {
        return Ok(report.fail("entry", expect.to_string(), "missing"));
    }
    let tiles = conn.all_tiles()?;
    let by_key: std::collections::HashMap<(u8, u64), &[u8]> = tiles
        .iter()
        .map(|(l, i, d)| ((*l, *i), d.as_slice()))
        .collect();
    let stored_tile = |level: u8, index: u64| by_key.get(&(level, index)).copied();
    let mut tile_leaves: Vec<Hash> = Vec::with_capacity(stored.len());
    for index in 0..size.div_ceil(TILE_WIDTH) {
        let width = tile_width(0, index, size);
        let path = tile_path(0, index, width);
        if width < TILE_WIDTH {
            let start = usize::try_from(index * TILE_WIDTH).unwrap_or(usize::MAX);
            tile_leaves.extend(stored.get(start..).unwrap_or(&[]));
            continue;
        }
        let Some(data) = stored_tile(0, index) else {
            return Ok(report.fail("tile", path, "missing"));
        };
        match tile_hashes(data) {
            Ok(h) if h.len() as u64 == width => tile_leaves.extend(h),
            _ => return Ok(report.fail("tile", path, "wrong width")),
        }
    }
    // Where the views disagree, name the one that changed: by majority inside full tiles, and
    // by the signed checkpoint inside the partial tile (where two views are one record).
    for (i, (s_leaf, t_leaf)) in stored.iter().zip(&tile_leaves).enumerate() {
        let e_leaf = from_entries.get(i);
        if s_leaf == t_leaf && e_leaf.is_none_or(|e| e == s_leaf) {
            continue;
        }
        let index = i as u64 / TILE_WIDTH;
        let width = tile_width(0, index, size);
        let path = tile_path(0, index, width);
        let partial = width < TILE_WIDTH;
        let (kind, at, detail) = match e_leaf {
            Some(_) if partial => {
                let signed = latest_signed_root(&checkpoints, verifier, size);
                if signed == Some(crate::hash::root_from_leaf_hashes(&tile_leaves)) {
                    (
                        "entry",
                        i.to_string(),
                        "altered: its hash is not the one under the signed checkpoints".to_owned(),
                    )
                } else {
                    (
                        "tile",
                        path,
                        format!("the stored leaf hash of entry {i} was altered"),
                    )
                }
            }
            Some(_) if s_leaf == t_leaf => (
                "entry",
                i.to_string(),
                "altered: its hash differs from its stored leaf hash and its tile".to_owned(),
            ),
            Some(e) if e == t_leaf => (
                "tile",
                path,
                format!("the stored leaf hash of entry {i} was altered"),
            ),
            Some(e) if e == s_leaf => (
                "tile",
                path,
                format!(
                    "hash {} differs from entry {i} and its stored leaf hash",
                    i % TILE_WIDTH as usize
                ),
            ),
            _ => (
                "tile",
                path,
                format!("entry {i}, its stored leaf hash and its tile disagree"),
            ),
        };
        return Ok(report.fail(kind, at, detail));
    }
    let leaves = if full { from_entries } else { tile_leaves };
    let tree = MemoryTree::from_leaf_hashes(leaves);

    // Every stored tile against the recomputed tree, and no expected tile missing.
    let mut seen = HashSet::new();
    {
        for (level, index, data) in &tiles {
            let (level, index) = (*level, *index);
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
    for (at, note) in checkpoints {
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
    if full {
        return check_disclosures(conn, report);
    }
    Ok(report)
}

/// Every stored disclosure opens its v2 entry's commitment, and every v2 entry has one unless an
/// `evidence.erased` entry covers it.
fn check_disclosures<R: LogReader + ?Sized>(
    conn: &mut R,
    mut report: VerifyReport,
) -> Result<VerifyReport, LedgerError> {
    let mut commitments: BTreeMap<u64, String> = BTreeMap::new();
    let mut erased: HashSet<u64> = HashSet::new();
    conn.scan_entries(true, &mut |idx, _leaf, data| {
        {
            let Some(data) = data else {
                return Ok(true);
            };
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&data) else {
                return Ok(true);
            };
            if v.get("type").and_then(|t| t.as_str()) == Some("evidence.erased") {
                let covered = v.get("indexes").and_then(|i| i.as_array());
                erased.extend(covered.into_iter().flatten().filter_map(|i| i.as_u64()));
            } else if v.get("v").and_then(|x| x.as_u64()) == Some(2)
                && let Some(c) = v.get("commitment").and_then(|c| c.as_str())
            {
                commitments.insert(idx, c.to_owned());
            }
        }
        Ok(true)
    })?;
    for (idx, salt, private) in conn.all_disclosures()? {
        let at = idx.to_string();
        let Some(expected) = commitments.remove(&idx) else {
            return Ok(report.fail("disclosure", at, "no v2 entry at this index commits to it"));
        };
        let Ok(salt) = <[u8; crate::commitment::SALT_LEN]>::try_from(salt) else {
            return Ok(report.fail("disclosure", at, "its salt is not 32 bytes"));
        };
        if crate::commitment::commitment_of_canonical(&salt, &private) != expected {
            return Ok(report.fail(
                "disclosure",
                at,
                "it does not recompute to its entry's commitment",
            ));
        }
        report.disclosures_checked += 1;
    }
    if let Some(idx) = commitments.keys().find(|i| !erased.contains(i)) {
        return Ok(report.fail(
            "disclosure",
            idx.to_string(),
            "missing, and no evidence.erased entry covers it",
        ));
    }
    Ok(report)
}

/// The root of the checkpoint at `size`, when its signature verifies.
fn latest_signed_root(
    checkpoints: &[(u64, Vec<u8>)],
    verifier: &Ed25519Verifier,
    size: u64,
) -> Option<crate::hash::Hash> {
    let (_, note) = checkpoints.iter().find(|(s, _)| *s == size)?;
    std::str::from_utf8(note)
        .ok()
        .and_then(|n| SignedCheckpoint::open(n, verifier).ok())
        .map(|cp| *cp.root())
}
