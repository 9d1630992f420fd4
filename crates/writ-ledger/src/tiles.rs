//! C2SP tlog-tiles: tile paths, hash tiles of height 8, entry bundles.
//!
//! A tile at level `L` and index `N` holds the hashes of tree level `8·L`, nodes
//! `256·N .. 256·N + W`. Entry bundles hold the entries of level-0 tile `N`, each prefixed by
//! its length as a big-endian uint16.

use crate::error::{ProofError, TileError};
use crate::hash::{Hash, node_hash};
use crate::proof::HashReader;

/// Tile height: each tile spans 8 tree levels.
pub const TILE_HEIGHT: u32 = 8;
/// Full tile width: 256 hashes.
pub const TILE_WIDTH: u64 = 256;

/// The `N` path component: three-digit groups, all but the last prefixed with `x`
/// (1234067 → `x001/x234/067`).
pub fn index_path(index: u64) -> String {
    let mut groups = Vec::new();
    let mut n = index;
    loop {
        groups.push(n % 1000);
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    let last = groups.len().saturating_sub(1);
    groups
        .iter()
        .rev()
        .enumerate()
        .map(|(i, g)| {
            if i == last {
                format!("{g:03}")
            } else {
                format!("x{g:03}")
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `tile/L/N[.p/W]` for a hash tile of `width` hashes.
pub fn tile_path(level: u8, index: u64, width: u64) -> String {
    let mut p = format!("tile/{level}/{}", index_path(index));
    if width < TILE_WIDTH {
        p.push_str(&format!(".p/{width}"));
    }
    p
}

/// `tile/entries/N[.p/W]` for an entry bundle of `width` entries.
pub fn entries_path(index: u64, width: u64) -> String {
    let mut p = format!("tile/entries/{}", index_path(index));
    if width < TILE_WIDTH {
        p.push_str(&format!(".p/{width}"));
    }
    p
}

/// A tile named by a tlog-tiles path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileRef {
    /// `tile/L/N[.p/W]`
    Hash { level: u8, index: u64, width: u64 },
    /// `tile/entries/N[.p/W]`
    Entries { index: u64, width: u64 },
}

/// Parses the part of a tile path after `tile/` (`0/x001/234.p/7`, `entries/000`). Only the
/// canonical spelling is accepted, so one tile has one URL.
pub fn parse_tile_path(path: &str) -> Option<TileRef> {
    let (kind, rest) = path.split_once('/')?;
    let (n, width) = match rest.split_once(".p/") {
        Some((n, w)) => {
            let width: u64 = w.parse().ok()?;
            if !(1..TILE_WIDTH).contains(&width) || width.to_string() != w {
                return None;
            }
            (n, width)
        }
        None => (rest, TILE_WIDTH),
    };
    let mut index: u64 = 0;
    let groups: Vec<&str> = n.split('/').collect();
    let last = groups.len().checked_sub(1)?;
    for (i, g) in groups.iter().enumerate() {
        let digits = if i == last {
            Some(*g)
        } else {
            g.strip_prefix('x')
        }?;
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        index = index
            .checked_mul(1000)?
            .checked_add(digits.parse::<u64>().ok()?)?;
    }
    if index_path(index) != n {
        return None;
    }
    if kind == "entries" {
        return Some(TileRef::Entries { index, width });
    }
    let level: u8 = kind.parse().ok()?;
    if level.to_string() != kind || u32::from(level) * TILE_HEIGHT >= 64 {
        return None;
    }
    Some(TileRef::Hash {
        level,
        index,
        width,
    })
}

/// The width of tile (`level`, `index`) in a tree of `size` leaves (0 when it does not exist).
pub fn tile_width(level: u8, index: u64, size: u64) -> u64 {
    let shift = u32::from(level) * TILE_HEIGHT;
    let nodes = if shift >= 64 { 0 } else { size >> shift };
    nodes
        .saturating_sub(index.saturating_mul(TILE_WIDTH))
        .min(TILE_WIDTH)
}

/// Splits tile bytes into hashes.
pub fn tile_hashes(data: &[u8]) -> Result<Vec<Hash>, TileError> {
    if data.is_empty() || !data.len().is_multiple_of(32) || data.len() > 32 * 256 {
        return Err(TileError::BadTileLength { len: data.len() });
    }
    Ok(data
        .chunks_exact(32)
        .filter_map(|c| <Hash>::try_from(c).ok())
        .collect())
}

/// Concatenates hashes into tile bytes.
pub fn tile_bytes(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.iter().copied()).collect()
}

/// The root of a full tile: the node 8 levels above its hashes.
pub fn tile_root(hashes: &[Hash]) -> Hash {
    crate::hash::root_from_leaf_hashes(hashes)
}

/// Encodes entries as an entry bundle (uint16-BE length prefix each).
pub fn encode_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, TileError> {
    let mut out = Vec::new();
    for e in entries {
        let e = e.as_ref();
        let len = u16::try_from(e.len()).map_err(|_| TileError::EntryTooLarge { len: e.len() })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Decodes an entry bundle.
pub fn decode_bundle(data: &[u8]) -> Result<Vec<Vec<u8>>, TileError> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<2>()
            .ok_or_else(|| TileError::BadBundle("a length prefix is cut short".into()))?;
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return Err(TileError::BadBundle(format!(
                "an entry of {len} bytes is cut short after {} bytes",
                tail.len()
            )));
        }
        let (entry, tail) = tail.split_at(len);
        out.push(entry.to_vec());
        rest = tail;
        if out.len() > TILE_WIDTH as usize {
            return Err(TileError::BadBundle("more than 256 entries".into()));
        }
    }
    Ok(out)
}

/// One tile with every inner node of its 8 levels expanded, so any node inside it is a lookup.
#[derive(Debug, Clone)]
pub struct ExpandedTile {
    /// `rows[r]` holds the complete nodes `r` levels above the tile's base.
    rows: Vec<Vec<Hash>>,
}

impl ExpandedTile {
    /// Expands a (possibly partial) tile: only complete subtrees get inner nodes.
    pub fn new(hashes: Vec<Hash>) -> ExpandedTile {
        let mut rows = vec![hashes];
        while rows.len() < TILE_HEIGHT as usize {
            let Some(prev) = rows.last() else { break };
            let next: Vec<Hash> = prev
                .chunks_exact(2)
                .map(|p| match p {
                    [l, r] => node_hash(l, r),
                    _ => [0; 32],
                })
                .collect();
            rows.push(next);
        }
        ExpandedTile { rows }
    }

    /// The node `r` levels above the base at position `i` inside this tile.
    pub fn get(&self, r: usize, i: usize) -> Option<Hash> {
        self.rows.get(r)?.get(i).copied()
    }

    /// The base hashes.
    pub fn base(&self) -> &[Hash] {
        self.rows.first().map_or(&[], Vec::as_slice)
    }
}

/// Something that hands out stored hash tiles.
pub trait TileSource {
    /// The first `width` hashes of tile (`level`, `index`), expanded. A tile only ever grows,
    /// so these are the same whatever the log's size today.
    fn tile(
        &self,
        level: u8,
        index: u64,
        width: u64,
    ) -> Result<std::sync::Arc<ExpandedTile>, ProofError>;
}

/// A [`HashReader`] over the tiles of the tree of `size` leaves: tree node (h, i) is row
/// `h % 8` of tile (`h / 8`, `(i << (h % 8)) / 256`).
pub struct TileReader<'a, S: TileSource + ?Sized> {
    /// Where tiles come from.
    pub source: &'a S,
    /// The tree size proofs are made for.
    pub size: u64,
}

impl<S: TileSource + ?Sized> HashReader for TileReader<'_, S> {
    fn node(&self, level: u8, index: u64) -> Result<Hash, ProofError> {
        let missing = ProofError::MissingNode { level, index };
        let tl = level / TILE_HEIGHT as u8;
        let r = u32::from(level % TILE_HEIGHT as u8);
        let base_index = index.checked_shl(r).ok_or(missing.clone())?;
        let tile_index = base_index / TILE_WIDTH;
        let within =
            usize::try_from((base_index % TILE_WIDTH) >> r).map_err(|_| missing.clone())?;
        let width = tile_width(tl, tile_index, self.size);
        if width == 0 {
            return Err(missing);
        }
        let tile = self.source.tile(tl, tile_index, width)?;
        tile.get(r as usize, within).ok_or(missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_c2sp() {
        assert_eq!(index_path(0), "000");
        assert_eq!(index_path(1234067), "x001/x234/067");
        assert_eq!(tile_path(0, 1234067, 256), "tile/0/x001/x234/067");
        assert_eq!(tile_path(1, 5, 12), "tile/1/005.p/12");
        assert_eq!(entries_path(0, 15), "tile/entries/000.p/15");
    }

    #[test]
    fn bundles_round_trip_and_refuse_truncation() {
        let b = encode_bundle(&[b"one".as_ref(), b"", b"three"]).unwrap();
        assert_eq!(
            decode_bundle(&b).unwrap(),
            vec![b"one".to_vec(), vec![], b"three".to_vec()]
        );
        assert!(decode_bundle(&b[..b.len() - 1]).is_err());
        assert!(decode_bundle(&[0]).is_err());
    }

    #[test]
    fn tile_paths_parse_back_and_odd_spellings_are_refused() {
        for (l, n, w) in [
            (0u8, 0u64, 256u64),
            (0, 1234067, 7),
            (3, 999, 1),
            (1, 1000, 255),
        ] {
            let p = tile_path(l, n, w);
            assert_eq!(
                parse_tile_path(p.strip_prefix("tile/").unwrap()),
                Some(TileRef::Hash {
                    level: l,
                    index: n,
                    width: w
                })
            );
            let e = entries_path(n, w);
            assert_eq!(
                parse_tile_path(e.strip_prefix("tile/").unwrap()),
                Some(TileRef::Entries { index: n, width: w })
            );
        }
        for bad in [
            "0/1",
            "0/x000/001",
            "0/001.p/0",
            "0/001.p/256",
            "0/001.p/07",
            "00/001",
            "8/001",
            "entries/x1/000",
            "0/00a",
            "0/001/",
            "",
            "entries",
            "0/001.p/",
        ] {
            assert_eq!(parse_tile_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn widths() {
        assert_eq!(tile_width(0, 0, 15), 15);
        assert_eq!(tile_width(0, 1, 300), 44);
        assert_eq!(tile_width(1, 0, 300), 1);
        assert_eq!(tile_width(1, 0, 255), 0);
    }
}
