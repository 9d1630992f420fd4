//! RFC 6962 / RFC 9162 §2.1.1 Merkle tree hashing.

use sha2::{Digest, Sha256};

/// A SHA-256 hash: a leaf hash, an inner node or a tree root.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// `SHA-256(0x00 ‖ entry)`: the hash of one log entry.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`: the hash of an inner node.
pub fn node_hash(left: &[u8], right: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the tree whose leaf hashes are `leaves` (RFC 9162 §2.1.1 MTH), in O(n).
pub fn root_from_leaf_hashes(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return empty_root();
    }
    // Reduce level by level; an odd last node is carried up unchanged, which gives exactly
    // the RFC's "largest power of two smaller than n" split.
    let mut level: Vec<Hash> = leaves.to_vec();
    while level.len() > 1 {
        let next: Vec<Hash> = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => node_hash(l, r),
                [one] => *one,
                _ => empty_root(),
            })
            .collect();
        level = next;
    }
    level.first().copied().unwrap_or_else(empty_root)
}

/// Decodes a 32-byte hash from a slice, or `None` when it has another length.
pub fn hash_from_slice(bytes: &[u8]) -> Option<Hash> {
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn odd_sizes_follow_the_power_of_two_split() {
        let leaves: Vec<Hash> = (0u8..5).map(|i| leaf_hash(&[i])).collect();
        let left = node_hash(
            &node_hash(&leaves[0], &leaves[1]),
            &node_hash(&leaves[2], &leaves[3]),
        );
        assert_eq!(root_from_leaf_hashes(&leaves), node_hash(&left, &leaves[4]));
    }
}
