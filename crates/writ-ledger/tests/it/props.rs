//! Property tests: generated proofs verify for random sizes up to 10,000 and sampled
//! (index, size) pairs; any single-bit change in a proof, leaf hash or root is caught.

use proptest::prelude::*;
use writ_ledger::hash::{Hash, leaf_hash};
use writ_ledger::proof::{
    MemoryTree, consistency_proof, inclusion_proof, tree_root, verify_consistency, verify_inclusion,
};

fn flip(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut v = bytes.to_vec();
    let len = v.len() * 8;
    v[(bit % len) / 8] ^= 1 << (bit % 8);
    v
}

fn tree(n: u64, seed: u64) -> MemoryTree {
    MemoryTree::from_leaf_hashes(
        (0..n)
            .map(|i| leaf_hash(&(i ^ seed).to_le_bytes()))
            .collect(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn inclusion_proofs_verify_and_any_bit_flip_fails(
        n in 1u64..=10_000,
        seed in any::<u64>(),
        picks in prop::collection::vec((any::<u64>(), any::<u64>(), any::<usize>()), 8),
    ) {
        let t = tree(n, seed);
        for (a, b, bit) in picks {
            let size = 1 + a % n;
            let index = b % size;
            let root: Hash = tree_root(&t, size).unwrap();
            let leaf = t.level(0)[index as usize];
            let proof = inclusion_proof(&t, index, size).unwrap();
            prop_assert!(verify_inclusion(index, size, &leaf, &proof, &root).is_ok());
            prop_assert!(verify_inclusion(index, size, &flip(&leaf, bit), &proof, &root).is_err());
            prop_assert!(verify_inclusion(index, size, &leaf, &proof, &flip(&root, bit)).is_err());
            if !proof.is_empty() {
                let mut bad: Vec<Vec<u8>> = proof.iter().map(|h| h.to_vec()).collect();
                let which = bit % bad.len();
                bad[which] = flip(&bad[which], bit / 7);
                prop_assert!(verify_inclusion(index, size, &leaf, &bad, &root).is_err());
            }
            if size > 1 {
                // The same proof does not fit another index.
                let other = (index + 1) % size;
                prop_assert!(verify_inclusion(other, size, &leaf, &proof, &root).is_err());
            }
        }
    }

    #[test]
    fn consistency_proofs_verify_and_any_bit_flip_fails(
        n in 1u64..=10_000,
        seed in any::<u64>(),
        picks in prop::collection::vec((any::<u64>(), any::<u64>(), any::<usize>()), 8),
    ) {
        let t = tree(n, seed);
        for (a, b, bit) in picks {
            let size2 = 1 + a % n;
            let size1 = 1 + b % size2;
            let (r1, r2) = (tree_root(&t, size1).unwrap(), tree_root(&t, size2).unwrap());
            let proof = consistency_proof(&t, size1, size2).unwrap();
            prop_assert!(verify_consistency(size1, size2, &r1, &r2, &proof).is_ok());
            prop_assert!(verify_consistency(size1, size2, &flip(&r1, bit), &r2, &proof).is_err());
            prop_assert!(verify_consistency(size1, size2, &r1, &flip(&r2, bit), &proof).is_err());
            if !proof.is_empty() {
                let mut bad: Vec<Vec<u8>> = proof.iter().map(|h| h.to_vec()).collect();
                let which = bit % bad.len();
                bad[which] = flip(&bad[which], bit / 7);
                prop_assert!(verify_consistency(size1, size2, &r1, &r2, &bad).is_err());
            }
        }
    }
}
