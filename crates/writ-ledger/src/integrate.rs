//! Integration: the pure step that adds leaf hashes to the tree's right edge. No I/O: the
//! current state (tree size, the partial tile at every level, the perfect subtrees) and the
//! new leaf hashes go in; the new state, the hash tiles to store and the new root come out.
//! Sequencing (who gets which index), integration (this module) and publication (signing the
//! checkpoint and committing it with the tiles) are separate steps of the ledger's writer.

use crate::error::LedgerError;
use crate::hash::{Hash, empty_root, node_hash, root_from_leaf_hashes};
use crate::tiles::{TILE_HEIGHT, TILE_WIDTH, tile_bytes, tile_hashes, tile_path};

/// A hash tile to store: (level, index, bytes).
pub type TileWrite = (u8, u64, Vec<u8>);

/// What integrating a batch produced.
#[derive(Debug, Clone)]
pub struct Integrated {
    /// The tree after the batch.
    pub edge: Edge,
    /// Tiles completed or widened by the batch (full tiles, and partial tiles above level 0
    /// that changed); the partial level-0 tile is the entries' leaf hashes and never stored.
    pub tiles: Vec<TileWrite>,
    /// The new root.
    pub root: Hash,
}

/// Integrates `leaves` after the tree `edge`; `edge` itself is unchanged.
pub fn integrate(edge: &Edge, leaves: &[Hash]) -> Integrated {
    let mut next = edge.clone();
    let mut tiles = Vec::new();
    for leaf in leaves {
        next.push(*leaf, &mut tiles);
    }
    let partial = next.partial_tiles(&tiles);
    tiles.extend(partial);
    let root = next.root();
    Integrated {
        edge: next,
        tiles,
        root,
    }
}

impl Edge {
    /// The right edge of a tree of `size` leaves, from its partial rows: `rows[level]` is the
    /// first `(size >> (8 * level)) % 256` hashes of the right-edge tile at `level` (the leaf
    /// hashes past the last full tile at level 0). Fails when a row has the wrong length.
    pub fn from_rows(size: u64, rows: Vec<Vec<Hash>>) -> Result<Edge, LedgerError> {
        let mut edge = Edge {
            size,
            partial: rows,
            frontier: Vec::new(),
        };
        for (level, row) in edge.partial.iter().enumerate() {
            let width = right_edge_width(size, level as u8);
            if row.len() as u64 != width {
                return Err(LedgerError::Tampered(format!(
                    "right-edge tile {} holds {} hashes",
                    tile_path(level as u8, 0, width.max(1)),
                    row.len()
                )));
            }
        }
        edge.frontier = edge.frontier_from_rows();
        Ok(edge)
    }
}

/// The number of tile levels a tree of `size` leaves has nodes at.
pub fn levels(size: u64) -> u8 {
    let mut level: u8 = 0;
    loop {
        let shift = u32::from(level) * TILE_HEIGHT;
        if shift >= 64 || size >> shift == 0 {
            return level;
        }
        level = level.saturating_add(1);
    }
}

/// The width of the right-edge (partial) tile at `level`, and 0 when that level has none.
pub fn right_edge_width(size: u64, level: u8) -> u64 {
    let shift = u32::from(level) * TILE_HEIGHT;
    let nodes = if shift >= 64 { 0 } else { size >> shift };
    nodes % TILE_WIDTH
}

/// The index of the right-edge tile at `level`.
pub fn right_edge_index(size: u64, level: u8) -> u64 {
    let shift = u32::from(level) * TILE_HEIGHT;
    let nodes = if shift >= 64 { 0 } else { size >> shift };
    nodes / TILE_WIDTH
}

/// The first `width` hashes of stored tile bytes, as a right-edge row.
pub fn row_from_tile(
    level: u8,
    index: u64,
    width: u64,
    data: &[u8],
) -> Result<Vec<Hash>, LedgerError> {
    let hashes = tile_hashes(data)?;
    Ok(hashes
        .get(..width as usize)
        .ok_or_else(|| {
            LedgerError::Tampered(format!(
                "right-edge tile {} is too short",
                tile_path(level, index, width)
            ))
        })?
        .to_vec())
}

/// The right edge of the tree: the incomplete tile at every tile level, and the roots of the
/// perfect subtrees the tree's leaves split into (one per set bit of `size`, tallest first),
/// kept up to date on every push so the root costs at most 63 hashes, not a rehash of the
/// partial tiles.
#[derive(Debug, Clone, Default)]
pub struct Edge {
    /// Leaves in the tree.
    pub size: u64,
    partial: Vec<Vec<Hash>>,
    /// (height, root) of each perfect subtree, tallest first.
    frontier: Vec<(u32, Hash)>,
}

impl Edge {
    /// Appends one leaf; full tiles completed on the way are pushed to `full`.
    pub(crate) fn push(&mut self, leaf: Hash, full: &mut Vec<(u8, u64, Vec<u8>)>) {
        self.frontier.push((0, leaf));
        while let [.., (hl, left), (hr, right)] = self.frontier[..] {
            if hl != hr {
                break;
            }
            self.frontier.truncate(self.frontier.len() - 2);
            self.frontier.push((hl + 1, node_hash(&left, &right)));
        }
        let mut h = leaf;
        let mut level = 0usize;
        self.size += 1;
        loop {
            if self.partial.len() <= level {
                self.partial.push(Vec::with_capacity(TILE_WIDTH as usize));
            }
            let Some(row) = self.partial.get_mut(level) else {
                return;
            };
            row.push(h);
            if (row.len() as u64) < TILE_WIDTH {
                return;
            }
            let shift = TILE_HEIGHT * (level as u32 + 1);
            let index = (self.size >> shift) - 1;
            h = root_from_leaf_hashes(row);
            full.push((level as u8, index, tile_bytes(row)));
            row.clear();
            level += 1;
        }
    }

    /// The partial tiles to store (level, index, bytes) after a batch that completed the
    /// `full` tiles. Level 0 is never stored partial (the entries' leaf hashes are that tile),
    /// and a level above only changes when a tile below it completed.
    pub(crate) fn partial_tiles(&self, full: &[(u8, u64, Vec<u8>)]) -> Vec<(u8, u64, Vec<u8>)> {
        let changed: std::collections::HashSet<usize> =
            full.iter().map(|(l, _, _)| usize::from(*l) + 1).collect();
        self.partial
            .iter()
            .enumerate()
            .filter(|(l, row)| *l > 0 && changed.contains(l) && !row.is_empty())
            .map(|(l, row)| {
                let shift = TILE_HEIGHT * (l as u32 + 1);
                let index = if shift >= 64 { 0 } else { self.size >> shift };
                (l as u8, index, tile_bytes(row))
            })
            .collect()
    }

    /// The perfect subtrees, computed from the partial tiles (after loading them).
    pub(crate) fn frontier_from_rows(&self) -> Vec<(u32, Hash)> {
        let mut parts = Vec::new();
        for (level, row) in self.partial.iter().enumerate().rev() {
            let mut offset = 0usize;
            for bit in (0..TILE_HEIGHT).rev() {
                let n = 1usize << bit;
                if row.len() & n != 0 {
                    if let Some(chunk) = row.get(offset..offset + n) {
                        let height = TILE_HEIGHT * level as u32 + bit;
                        parts.push((height, root_from_leaf_hashes(chunk)));
                    }
                    offset += n;
                }
            }
        }
        parts
    }

    /// The root: the perfect subtrees, folded right to left.
    pub fn root(&self) -> Hash {
        let mut parts = self.frontier.iter().rev().map(|(_, h)| *h);
        let Some(mut acc) = parts.next() else {
            return empty_root();
        };
        for left in parts {
            acc = node_hash(&left, &acc);
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::proof::MemoryTree;

    #[test]
    fn edge_root_matches_memory_tree_across_tile_boundaries() {
        let mut edge = Edge::default();
        let mut mem = MemoryTree::new();
        let mut full = Vec::new();
        for i in 0u64..70_000 {
            let h = leaf_hash(&i.to_be_bytes());
            edge.push(h, &mut full);
            mem.push(h);
            if matches!(
                i,
                0 | 1 | 2 | 254 | 255 | 256 | 511 | 65_535 | 65_536 | 69_999
            ) {
                assert_eq!(edge.root(), mem.root(), "size {}", i + 1);
                // The frontier kept on push is the one recomputed from the tiles on open.
                assert_eq!(edge.frontier, edge.frontier_from_rows(), "size {}", i + 1);
            }
        }
        assert_eq!(full.iter().filter(|t| t.0 == 1).count(), 1);
    }

    #[test]
    fn integrate_is_pure_and_matches_pushing() {
        let mut edge = Edge::default();
        let mut mem = MemoryTree::new();
        let mut start = 0u64;
        for batch in [1u64, 3, 300, 1, 70_000] {
            let leaves: Vec<Hash> = (start..start + batch)
                .map(|i| leaf_hash(&i.to_be_bytes()))
                .collect();
            let before = edge.clone();
            let out = integrate(&edge, &leaves);
            assert_eq!(edge.size, before.size, "the input state is not changed");
            for l in &leaves {
                mem.push(*l);
            }
            assert_eq!(out.root, mem.root());
            assert_eq!(out.edge.size, start + batch);
            // The state reloaded from its rows integrates the same way.
            let rows = out.edge.partial.clone();
            let reloaded = Edge::from_rows(out.edge.size, rows).unwrap();
            assert_eq!(reloaded.root(), out.root);
            edge = out.edge;
            start += batch;
        }
    }
}
