//! Proof bundles (`writ.proof/v1`, `GET /v1/proofs/{execution}`, `writ ledger proof`) and
//! consistency proofs, verified offline as an auditor or the proof viewer does.
//!
//! The first byte picks the input:
//! - 0: bundle JSON, verified with its own key and with the log key pinned;
//! - 1: bundle JSON whose `checkpoint` is a checkpoint body: it is signed here with the log
//!   key, so the inclusion proofs behind the signature are checked with fuzzed indexes, sizes,
//!   hashes and paths;
//! - 2: consistency proof JSON;
//! - 3: a real tree of 1 to 256 leaves built here, with a bundle for one leaf and a
//!   consistency proof between two sizes made by the log's own prover; the rest of the input
//!   names a bit to flip.
//!
//! Properties: a verified bundle holds exactly its entries' bytes; what the prover makes
//! verifies; the same proof with any one bit flipped does not.
#![no_main]

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use libfuzzer_sys::fuzz_target;
use writ_fuzz as fx;
use writ_ledger::bundle::{BundleEntry, BundleLog, PROOF_FORMAT};
use writ_ledger::proof::{MemoryTree, consistency_proof, inclusion_proof, tree_root};
use writ_ledger::{Checkpoint, ConsistencyProof, ProofBundle, SignedCheckpoint, leaf_hash};

fn vkey() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| fx::shared_log_signer().verifier().to_vkey())
}

fn check_verified(bundle: &ProofBundle, pinned: Option<&str>) {
    let Ok(verified) = bundle.verify(pinned) else {
        return;
    };
    assert_eq!(verified.entries.len(), bundle.entries.len());
    for (v, e) in verified.entries.iter().zip(&bundle.entries) {
        assert_eq!(v.index, e.index);
        assert_eq!(Some(&v.entry), B64.decode(&e.entry_b64).ok().as_ref());
        assert!(
            v.index < verified.checkpoint.size(),
            "an entry beyond the tree verified"
        );
    }
}

fn sign(mut body: Checkpoint) -> Option<String> {
    body.origin = fx::LOG_ORIGIN.to_owned();
    SignedCheckpoint::sign(body, fx::shared_log_signer())
        .ok()
        .map(|s| s.note().to_owned())
}

/// Flips bit `bit` of the `which`-th string's base64 payload; `None` if there is none.
fn flip(strings: &mut [String], which: usize, bit: usize) -> Option<()> {
    let n = strings.len();
    let s = strings.get_mut(which.checked_rem(n)?)?;
    let mut bytes = B64.decode(s.as_bytes()).ok()?;
    let len = bytes.len();
    let byte = bytes.get_mut((bit / 8).checked_rem(len)?)?;
    *byte ^= 1 << (bit % 8);
    *s = B64.encode(bytes);
    Some(())
}

fn real_tree(data: &[u8]) {
    let [n, index, m, which, b0, b1, ..] = *data else {
        return;
    };
    let size = u64::from(n) + 1;
    let index = u64::from(index) % size;
    let size1 = u64::from(m) % size + 1;
    let bit = usize::from(u16::from_le_bytes([b0, b1]));
    let entries: Vec<Vec<u8>> = (0..size)
        .map(|i| format!("{{\"i\":{i},\"type\":\"fuzz\",\"v\":1}}").into_bytes())
        .collect();
    let tree = MemoryTree::from_leaf_hashes(entries.iter().map(|e| leaf_hash(e)).collect());
    let root = tree.root();
    let path = inclusion_proof(&tree, index, size).unwrap_or_else(|e| panic!("prover: {e}"));
    let Some(note) = sign(Checkpoint {
        origin: String::new(),
        size,
        root,
        extensions: vec![],
    }) else {
        unreachable!("a plain checkpoint signs")
    };
    let entry = entries
        .get(usize::try_from(index).unwrap_or(usize::MAX))
        .cloned()
        .unwrap_or_default();
    let mut bundle = ProofBundle {
        format: PROOF_FORMAT.to_owned(),
        log: BundleLog {
            origin: fx::LOG_ORIGIN.to_owned(),
            vkey: vkey().to_owned(),
        },
        checkpoint: note,
        entries: vec![BundleEntry {
            index,
            entry_b64: B64.encode(&entry),
            leaf_hash_b64: B64.encode(leaf_hash(&entry)),
            inclusion_b64: path.iter().map(|h| B64.encode(h)).collect(),
        }],
        writ: None,
        jwks: None,
        disclosures: None,
    };
    let json = serde_json::to_vec(&bundle).unwrap_or_default();
    let parsed = ProofBundle::from_json(&json).unwrap_or_else(|e| panic!("bundle JSON: {e}"));
    parsed
        .verify(Some(vkey()))
        .unwrap_or_else(|e| panic!("a bundle the prover made does not verify: {e}"));
    if let Some(e) = bundle.entries.first_mut()
        && flip(&mut e.inclusion_b64, usize::from(which), bit).is_some()
    {
        assert!(
            bundle.verify(Some(vkey())).is_err(),
            "an inclusion proof with a flipped bit verified"
        );
    }

    let root1 = tree_root(&tree, size1).unwrap_or_else(|e| panic!("root at size1: {e}"));
    let hashes = consistency_proof(&tree, size1, size).unwrap_or_else(|e| panic!("prover: {e}"));
    let mut proof = ConsistencyProof::new(size1, size, &root1, &root, &hashes);
    proof
        .verify()
        .unwrap_or_else(|e| panic!("a consistency proof the prover made does not verify: {e}"));
    if flip(&mut proof.hashes_b64, usize::from(which), bit).is_some() {
        assert!(
            proof.verify().is_err(),
            "a consistency proof with a flipped bit verified"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            if let Ok(bundle) = ProofBundle::from_json(rest) {
                check_verified(&bundle, None);
                check_verified(&bundle, Some(vkey()));
            }
        }
        1 => {
            let Ok(mut bundle) = ProofBundle::from_json(rest) else {
                return;
            };
            let Some(note) = Checkpoint::parse(&bundle.checkpoint).ok().and_then(sign) else {
                return;
            };
            bundle.checkpoint = note;
            bundle.log = BundleLog {
                origin: fx::LOG_ORIGIN.to_owned(),
                vkey: vkey().to_owned(),
            };
            check_verified(&bundle, Some(vkey()));
        }
        2 => {
            if let Ok(proof) = serde_json::from_slice::<ConsistencyProof>(rest) {
                let _ = proof.verify();
            }
        }
        _ => real_tree(rest),
    }
});
