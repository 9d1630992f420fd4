//! The shared tlog conformance vectors (../shared/conformance/tlog), read at test time.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;
use writ_ledger::checkpoint::{Checkpoint, SignedCheckpoint};
use writ_ledger::hash::{leaf_hash, root_from_leaf_hashes};
use writ_ledger::note::{Ed25519Signer, Ed25519Verifier, open_note, sign_note};
use writ_ledger::proof::{
    MemoryTree, consistency_proof, inclusion_proof, verify_consistency, verify_inclusion,
};
use writ_ledger::tiles::{decode_bundle, entries_path, tile_bytes, tile_path};

/// The tlog vector folder, or `None` (with the skip message) when it is absent and not required.
fn tlog_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("WRIT_CONFORMANCE_DIR").map(|d| PathBuf::from(d).join("tlog"));
    match dir {
        Some(d) if d.is_dir() => Some(d),
        _ => {
            if std::env::var("WRIT_REQUIRE_CONFORMANCE").as_deref() == Ok("1") {
                panic!(
                    "WRIT_REQUIRE_CONFORMANCE=1 but WRIT_CONFORMANCE_DIR/tlog is missing; \
                     put the shared vectors at ../shared/conformance or set WRIT_CONFORMANCE_DIR"
                );
            }
            eprintln!("skipped: ../shared/conformance not found");
            None
        }
    }
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
    out.sort();
}

fn b64(v: &Value) -> Vec<u8> {
    B64.decode(v.as_str().unwrap_or("")).unwrap()
}

fn b64_list(v: &Value) -> Vec<Vec<u8>> {
    v.as_array()
        .map(|a| a.iter().map(b64).collect())
        .unwrap_or_default()
}

fn eight_leaf_tree(dir: &Path) -> (Value, Vec<[u8; 32]>) {
    let v: Value = serde_json::from_slice(
        &std::fs::read(dir.join("transparency-dev-merkle/rfc6962-tree-8-leaves.json")).unwrap(),
    )
    .unwrap();
    let leaves = v["leaf_inputs_hex"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| leaf_hash(&hex::decode(h.as_str().unwrap()).unwrap()))
        .collect();
    (v, leaves)
}

#[test]
fn proof_vectors_all_196_with_every_want_err() {
    let Some(dir) = tlog_dir() else { return };
    let base = dir.join("transparency-dev-merkle/testdata");
    let (_, leaves) = eight_leaf_tree(&dir);
    let mut files = Vec::new();
    json_files(&base.join("inclusion"), &mut files);
    let n_inclusion = files.len();
    let mut consistency = Vec::new();
    json_files(&base.join("consistency"), &mut consistency);
    files.extend(consistency);
    assert_eq!(files.len(), 196, "expected the 196 proof vectors");
    let (mut errs, mut oks, mut same_as_generated) = (0, 0, 0);
    for (i, f) in files.iter().enumerate() {
        let v: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        let want_err = v["wantErr"].as_bool().unwrap();
        let proof = b64_list(&v["proof"]);
        let got = if i < n_inclusion {
            let (index, size) = (
                v["leafIdx"].as_u64().unwrap(),
                v["treeSize"].as_u64().unwrap(),
            );
            let r = verify_inclusion(index, size, &b64(&v["leafHash"]), &proof, &b64(&v["root"]));
            // Happy paths come from the 8-leaf tree: our generator must give the same path.
            if !want_err && size <= 8 && b64(&v["leafHash"]) == leaves[index as usize] {
                let t = MemoryTree::from_leaf_hashes(leaves[..size as usize].to_vec());
                let ours = inclusion_proof(&t, index, size).unwrap();
                assert_eq!(ours.iter().map(|h| h.to_vec()).collect::<Vec<_>>(), proof);
                same_as_generated += 1;
            }
            r
        } else {
            let (s1, s2) = (v["size1"].as_u64().unwrap(), v["size2"].as_u64().unwrap());
            let r = verify_consistency(s1, s2, &b64(&v["root1"]), &b64(&v["root2"]), &proof);
            if !want_err && s1 >= 1 && s2 <= 8 && s1 < s2 {
                let t = MemoryTree::from_leaf_hashes(leaves[..s2 as usize].to_vec());
                let ours = consistency_proof(&t, s1, s2).unwrap();
                assert_eq!(ours.iter().map(|h| h.to_vec()).collect::<Vec<_>>(), proof);
                same_as_generated += 1;
            }
            r
        };
        assert_eq!(
            got.is_err(),
            want_err,
            "{}: {:?} (desc {:?})",
            f.display(),
            got,
            v["desc"]
        );
        if want_err { errs += 1 } else { oks += 1 }
    }
    assert!(errs > 100 && oks > 5, "errs {errs} oks {oks}");
    assert!(same_as_generated >= 5);
}

#[test]
fn rfc6962_eight_leaf_roots_and_nodes() {
    let Some(dir) = tlog_dir() else { return };
    let (v, leaves) = eight_leaf_tree(&dir);
    let roots = v["root_by_tree_size_hex"].as_array().unwrap();
    assert_eq!(roots.len(), 9);
    for (size, want) in roots.iter().enumerate() {
        let got = root_from_leaf_hashes(&leaves[..size]);
        assert_eq!(hex::encode(got), want.as_str().unwrap(), "size {size}");
        let t = MemoryTree::from_leaf_hashes(leaves[..size].to_vec());
        assert_eq!(hex::encode(t.root()), want.as_str().unwrap(), "size {size}");
    }
    let t = MemoryTree::from_leaf_hashes(leaves.clone());
    for (level, nodes) in v["node_hashes_by_level_hex"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let nodes: Vec<String> = nodes
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect();
        let ours: Vec<String> = t.level(level).iter().map(hex::encode).collect();
        assert_eq!(ours, nodes, "level {level}");
    }
}

fn note_vectors(dir: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(dir.join("signed-note/signed-note-vectors.json")).unwrap(),
    )
    .unwrap()
}

#[test]
fn signed_note_vectors_verify_and_reproduce_byte_for_byte() {
    let Some(dir) = tlog_dir() else { return };
    let v = note_vectors(&dir);

    let c2sp = &v["c2sp_signed_note_example"];
    let vk = Ed25519Verifier::from_vkey(c2sp["vkey"].as_str().unwrap()).unwrap();
    assert_eq!(vk.to_vkey(), c2sp["vkey"].as_str().unwrap());
    let note = open_note(c2sp["note"].as_str().unwrap(), &vk).unwrap();
    assert_eq!(note.text, "This is an example message.\n");

    let go = &v["go_sumdb_note_TestSign"];
    let signer = Ed25519Signer::from_skey(go["skey_published_test_key"].as_str().unwrap()).unwrap();
    assert_eq!(signer.verifier().to_vkey(), go["vkey"].as_str().unwrap());
    let signed = sign_note(go["text"].as_str().unwrap(), &[&signer]).unwrap();
    assert_eq!(signed, go["signed_note"].as_str().unwrap());
    // A second signature by another key: both open with their own verifier.
    let both = format!("{signed}{}", go["second_signature_line"].as_str().unwrap());
    let enoch = Ed25519Verifier::from_vkey(go["second_signer_vkey"].as_str().unwrap()).unwrap();
    open_note(&both, &enoch).unwrap();
    open_note(&both, signer.verifier()).unwrap();
    // A changed text no longer verifies.
    assert!(
        open_note(
            &signed.replacen("cryptography", "cryptograpHy", 1),
            signer.verifier()
        )
        .is_err()
    );

    let ft = &v["go_sumdb_tlog_FormatTree"];
    let cp = Checkpoint {
        origin: "go.sum database tree".into(),
        size: ft["tree_size"].as_u64().unwrap(),
        root: leaf_hash(ft["record"].as_str().unwrap().as_bytes()),
        extensions: vec![],
    };
    assert_eq!(cp.to_text(), ft["formatted"].as_str().unwrap());
    assert_eq!(
        Checkpoint::parse(ft["formatted"].as_str().unwrap()).unwrap(),
        cp
    );
}

#[test]
fn tessera_test_log_checkpoints_tiles_and_bundles() {
    let Some(dir) = tlog_dir() else { return };
    let v = note_vectors(&dir);
    let log = dir.join("tessera-testlog/testdata/log");
    let vk =
        Ed25519Verifier::from_vkey(v["tessera_testlog_vkey"]["vkey"].as_str().unwrap()).unwrap();
    let mut checkpoints = Vec::new();
    for n in 0u64..=15 {
        let note = std::fs::read_to_string(log.join(format!("checkpoint.{n}"))).unwrap();
        let cp = SignedCheckpoint::open(&note, &vk).unwrap();
        assert_eq!(cp.size(), n);
        assert_eq!(cp.checkpoint().origin, "example.com/log/testdata");
        if n == 0 {
            assert_eq!(cp.root(), &root_from_leaf_hashes(&[]));
        } else {
            // Our paths, our bundle decoding, our tile hashing, our root.
            let bundle = std::fs::read(log.join(entries_path(0, n))).unwrap();
            let entries = decode_bundle(&bundle).unwrap();
            assert_eq!(entries.len() as u64, n);
            let leaves: Vec<_> = entries.iter().map(|e| leaf_hash(e)).collect();
            let tile = std::fs::read(log.join(tile_path(0, 0, n))).unwrap();
            assert_eq!(tile_bytes(&leaves), tile, "tile 0/000.p/{n}");
            assert_eq!(&root_from_leaf_hashes(&leaves), cp.root(), "checkpoint.{n}");
        }
        checkpoints.push(cp);
    }
    let latest = std::fs::read_to_string(log.join("checkpoint")).unwrap();
    assert_eq!(latest, checkpoints[15].note());
    let bundle = decode_bundle(&std::fs::read(log.join(entries_path(0, 15))).unwrap()).unwrap();
    assert_eq!(bundle[0], b"one");
    assert_eq!(bundle[14], b"fivten");
    // Every published checkpoint is consistent with every later one, by our proofs.
    let t = MemoryTree::from_leaf_hashes(bundle.iter().map(|e| leaf_hash(e)).collect());
    for a in 1..=15u64 {
        for b in a..=15u64 {
            let p = consistency_proof(&t, a, b).unwrap();
            let (ca, cb) = (&checkpoints[a as usize], &checkpoints[b as usize]);
            verify_consistency(a, b, ca.root(), cb.root(), &p).unwrap();
        }
    }
    // A checkpoint signed by another key, or altered, is refused.
    let other = Ed25519Signer::from_seed("example.com/log/testdata", &[9; 32]).unwrap();
    assert!(SignedCheckpoint::open(checkpoints[3].note(), other.verifier()).is_err());
    let altered = checkpoints[3].note().replacen("\n3\n", "\n4\n", 1);
    assert!(SignedCheckpoint::open(&altered, &vk).is_err());
}
