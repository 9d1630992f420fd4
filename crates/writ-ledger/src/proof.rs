//! Inclusion and consistency proofs (RFC 9162 §2.1.3, §2.1.4): generated from any
//! [`HashReader`] and verified with the edge rules of the shared conformance vectors.
//!
//! Verification takes byte slices, not [`Hash`]es, because proofs arrive from untrusted
//! JSON: a hash of the wrong length is an error, never a panic.

use crate::error::ProofError;
use crate::hash::{Hash, empty_root, node_hash};

/// Reads hashes of full, aligned subtrees of one tree: the node at `level` and `index`
/// covers leaves `index << level .. (index + 1) << level`. Both an in-memory tree and the
/// tile store implement it, so proofs are generated the same way from either.
pub trait HashReader {
    /// The hash of the full subtree at (`level`, `index`).
    fn node(&self, level: u8, index: u64) -> Result<Hash, ProofError>;
}

/// The largest power of two strictly smaller than `n` (`n` ≥ 2).
fn split_point(n: u64) -> u64 {
    let p = 1u64 << (63 - (n - 1).leading_zeros());
    if p == n { p >> 1 } else { p }
}

/// The root of the subtree over leaves `start..end`, where `start` is a multiple of a power
/// of two at least `end - start` (as every range in RFC 9162's recursion is). Empty ranges
/// give the empty root.
pub fn subtree_root<R: HashReader + ?Sized>(
    reader: &R,
    start: u64,
    end: u64,
) -> Result<Hash, ProofError> {
    if end <= start {
        return Ok(empty_root());
    }
    // Greedy decomposition from the left into aligned full subtrees, then a right fold.
    let mut parts: Vec<Hash> = Vec::with_capacity(64);
    let mut s = start;
    while s < end {
        let remaining = end - s;
        let mut level = 63 - remaining.leading_zeros();
        if s != 0 {
            level = level.min(s.trailing_zeros());
        }
        let level_u8 = u8::try_from(level).map_err(|_| ProofError::MissingNode {
            level: u8::MAX,
            index: s,
        })?;
        parts.push(reader.node(level_u8, s >> level)?);
        s += 1u64 << level;
    }
    let mut acc = parts.pop().unwrap_or_else(empty_root);
    while let Some(left) = parts.pop() {
        acc = node_hash(&left, &acc);
    }
    Ok(acc)
}

/// The root of the tree of `size` leaves.
pub fn tree_root<R: HashReader + ?Sized>(reader: &R, size: u64) -> Result<Hash, ProofError> {
    subtree_root(reader, 0, size)
}

/// The audit path of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1), leaf to root.
pub fn inclusion_proof<R: HashReader + ?Sized>(
    reader: &R,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut out = Vec::with_capacity(64);
    path(reader, index, 0, size, &mut out)?;
    Ok(out)
}

fn path<R: HashReader + ?Sized>(
    reader: &R,
    m: u64,
    start: u64,
    n: u64,
    out: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    if n <= 1 {
        return Ok(());
    }
    let k = split_point(n);
    if m < k {
        path(reader, m, start, k, out)?;
        out.push(subtree_root(reader, start + k, start + n)?);
    } else {
        path(reader, m - k, start + k, n - k, out)?;
        out.push(subtree_root(reader, start, start + k)?);
    }
    Ok(())
}

/// The consistency proof from size `size1` to size `size2` (RFC 9162 §2.1.4.1). From size 0
/// there is nothing to prove and it is an error; equal sizes give an empty proof.
pub fn consistency_proof<R: HashReader + ?Sized>(
    reader: &R,
    size1: u64,
    size2: u64,
) -> Result<Vec<Hash>, ProofError> {
    if size1 == 0 || size1 > size2 {
        return Err(ProofError::BadSizes { size1, size2 });
    }
    let mut out = Vec::with_capacity(64);
    if size1 < size2 {
        subproof(reader, size1, 0, size2, true, &mut out)?;
    }
    Ok(out)
}

fn subproof<R: HashReader + ?Sized>(
    reader: &R,
    m: u64,
    start: u64,
    n: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    if m == n {
        if !whole {
            out.push(subtree_root(reader, start, start + n)?);
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        subproof(reader, m, start, k, whole, out)?;
        out.push(subtree_root(reader, start + k, start + n)?);
    } else {
        subproof(reader, m - k, start + k, n - k, false, out)?;
        out.push(subtree_root(reader, start, start + k)?);
    }
    Ok(())
}

fn to_hash(bytes: &[u8]) -> Result<Hash, ProofError> {
    bytes
        .try_into()
        .map_err(|_| ProofError::BadHashLength { len: bytes.len() })
}

fn bit_len(x: u64) -> u32 {
    64 - x.leading_zeros()
}

/// Recomputes the root from a leaf hash and its audit path (RFC 9162 §2.1.3.2).
pub fn root_from_inclusion<P: AsRef<[u8]>>(
    index: u64,
    size: u64,
    leaf_hash: &[u8],
    proof: &[P],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let leaf = to_hash(leaf_hash)?;
    let inner = bit_len(index ^ (size - 1));
    let border = (index >> inner).count_ones();
    let want = (inner + border) as usize;
    if proof.len() != want {
        return Err(ProofError::WrongProofSize {
            got: proof.len(),
            want,
        });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = leaf;
    for p in proof {
        let p = to_hash(p.as_ref())?;
        if sn == 0 {
            return Err(ProofError::WrongProofSize {
                got: proof.len(),
                want,
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(&p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, &p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongProofSize {
            got: proof.len(),
            want,
        });
    }
    Ok(r)
}

/// Checks that `leaf_hash` sits at `index` in the tree of `size` leaves with root `root`.
pub fn verify_inclusion<P: AsRef<[u8]>>(
    index: u64,
    size: u64,
    leaf_hash: &[u8],
    proof: &[P],
    root: &[u8],
) -> Result<(), ProofError> {
    let got = root_from_inclusion(index, size, leaf_hash, proof)?;
    if got.as_slice() == root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Checks that the tree of `size2` leaves with `root2` extends the tree of `size1` leaves with
/// `root1` (RFC 9162 §2.1.4.2). Edge rules: `size1 == 0` is an error; equal sizes need an
/// empty proof and equal roots.
pub fn verify_consistency<P: AsRef<[u8]>>(
    size1: u64,
    size2: u64,
    root1: &[u8],
    root2: &[u8],
    proof: &[P],
) -> Result<(), ProofError> {
    if size1 == 0 || size2 < size1 {
        return Err(ProofError::BadSizes { size1, size2 });
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofSize {
                got: proof.len(),
                want: 0,
            });
        }
        return if root1 == root2 {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    let shift = size1.trailing_zeros();
    let index = size1 - 1;
    let inner_full = bit_len(index ^ (size2 - 1));
    let border = (index >> inner_full).count_ones();
    let inner = inner_full - shift;
    let first_is_power = size1 == 1u64 << shift;
    let seed_from_proof = usize::from(!first_is_power);
    let want = seed_from_proof + (inner + border) as usize;
    if proof.len() != want || proof.is_empty() {
        return Err(ProofError::WrongProofSize {
            got: proof.len(),
            want,
        });
    }
    let first_hash = to_hash(root1).map_err(|_| ProofError::RootMismatch)?;
    let mut path: Vec<Hash> = Vec::with_capacity(want + 1);
    if first_is_power {
        path.push(first_hash);
    }
    for p in proof {
        path.push(to_hash(p.as_ref())?);
    }
    let (mut fn_, mut sn) = (size1 - 1, size2 - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let mut iter = path.into_iter();
    let seed = iter
        .next()
        .ok_or(ProofError::WrongProofSize { got: 0, want })?;
    let (mut fr, mut sr) = (seed, seed);
    for c in iter {
        if sn == 0 {
            return Err(ProofError::WrongProofSize {
                got: proof.len(),
                want,
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(&c, &fr);
            sr = node_hash(&c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, &c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongProofSize {
            got: proof.len(),
            want,
        });
    }
    if fr.as_slice() == root1 && sr.as_slice() == root2 {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// A whole tree in memory, every full subtree hash kept: the reference for tests and benches,
/// and the reader `verify` uses after recomputing the tree from storage.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> MemoryTree {
        MemoryTree { levels: Vec::new() }
    }

    /// A tree over these leaf hashes.
    pub fn from_leaf_hashes(leaves: Vec<Hash>) -> MemoryTree {
        let mut levels = vec![leaves];
        while let Some(last) = levels.last().filter(|l| l.len() >= 2) {
            let next: Vec<Hash> = last
                .chunks_exact(2)
                .map(|pair| match pair {
                    [l, r] => node_hash(l, r),
                    _ => empty_root(),
                })
                .collect();
            levels.push(next);
        }
        MemoryTree { levels }
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut level = 0usize;
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            let Some(row) = self.levels.get_mut(level) else {
                return;
            };
            row.push(h);
            if row.len() % 2 == 1 {
                return;
            }
            let (Some(r), Some(l)) = (row.last(), row.get(row.len().wrapping_sub(2))) else {
                return;
            };
            h = node_hash(l, r);
            level += 1;
        }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// The current root.
    pub fn root(&self) -> Hash {
        tree_root(self, self.size()).unwrap_or_else(|_| empty_root())
    }

    /// The full subtree hashes at a level (0 = leaf hashes).
    pub fn level(&self, level: usize) -> &[Hash] {
        self.levels.get(level).map_or(&[], Vec::as_slice)
    }
}

impl HashReader for MemoryTree {
    fn node(&self, level: u8, index: u64) -> Result<Hash, ProofError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.levels.get(usize::from(level))?.get(i))
            .copied()
            .ok_or(ProofError::MissingNode { level, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{leaf_hash, root_from_leaf_hashes};

    fn tree(n: u64) -> (MemoryTree, Vec<Hash>) {
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        (MemoryTree::from_leaf_hashes(leaves.clone()), leaves)
    }

    #[test]
    fn every_inclusion_and_consistency_proof_up_to_40_verifies() {
        for n in 1..=40u64 {
            let (t, leaves) = tree(n);
            let root = root_from_leaf_hashes(&leaves);
            assert_eq!(t.root(), root);
            for i in 0..n {
                let p = inclusion_proof(&t, i, n).unwrap();
                verify_inclusion(i, n, &leaves[i as usize], &p, &root).unwrap();
            }
            for m in 1..=n {
                let (tm, _) = tree(m);
                let p = consistency_proof(&t, m, n).unwrap();
                verify_consistency(m, n, &tm.root(), &root, &p).unwrap();
            }
        }
    }

    #[test]
    fn push_matches_bulk_construction() {
        let (bulk, leaves) = tree(37);
        let mut t = MemoryTree::new();
        for l in leaves {
            t.push(l);
        }
        assert_eq!(t.root(), bulk.root());
        assert_eq!(t.level(3), bulk.level(3));
    }
}
