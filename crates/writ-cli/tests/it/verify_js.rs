//! Agreement of the browser-side JavaScript proof verifier (`ui/verify/`, issue 17) with the Rust
//! one: random proof bundles from a real ledger, valid and tampered, are verified by both, and
//! the JS side's real-bundle test runs against this build's `writ`. Needs `node` on PATH; skipped
//! with a note without it, unless WRIT_REQUIRE_CONFORMANCE=1.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use writ_ledger::commitment::{commitment_hex, fresh_salt};
use writ_ledger::note::{Ed25519Signer, sign_note};
use writ_ledger::{ConsistencyProof, Disclosure, Ledger, ProofBundle, SignedCheckpoint, leaf_hash};
use writ_model::canonical::to_canonical_vec;

const ORIGIN: &str = "test.writ/agree";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `node` from PATH, or None (a skip, unless conformance runs are required).
fn node() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("node"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("WRIT_REQUIRE_CONFORMANCE").as_deref() != Ok("1"),
            "WRIT_REQUIRE_CONFORMANCE=1 but node is not on PATH"
        );
        eprintln!("skipped: node is not on PATH");
    }
    found
}

/// A small deterministic generator (xorshift64*): the same bundles on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn flip_b64(s: &str, rng: &mut Rng) -> String {
    let mut bytes = B64.decode(s).unwrap();
    if bytes.is_empty() {
        return "AA==".into();
    }
    let i = rng.below(bytes.len() as u64) as usize;
    bytes[i] ^= 1 << rng.below(8);
    B64.encode(bytes)
}

/// One tampering of a bundle (kind 0 leaves it alone); returns the pinned key to use.
fn tamper(
    kind: u64,
    b: &mut Value,
    rng: &mut Rng,
    other_checkpoint: &str,
    other_vkey: &str,
) -> Option<String> {
    let n = b["entries"].as_array().unwrap().len() as u64;
    let e = rng.below(n) as usize;
    let own = b["log"]["vkey"].as_str().unwrap().to_owned();
    match kind {
        1 => {
            let proof = b["entries"][e]["inclusion_b64"].as_array_mut().unwrap();
            if proof.is_empty() {
                proof.push(json!(B64.encode([7u8; 32])));
            } else {
                let i = rng.below(proof.len() as u64) as usize;
                proof[i] = json!(flip_b64(proof[i].as_str().unwrap(), rng));
            }
        }
        2 => {
            let proof = b["entries"][e]["inclusion_b64"].as_array_mut().unwrap();
            if proof.pop().is_none() {
                proof.push(json!(B64.encode([0u8; 32])));
            }
        }
        3 => {
            let s = b["entries"][e]["entry_b64"].as_str().unwrap().to_owned();
            b["entries"][e]["entry_b64"] = json!(flip_b64(&s, rng));
        }
        4 => {
            let s = b["entries"][e]["entry_b64"].as_str().unwrap().to_owned();
            let flipped = flip_b64(&s, rng);
            let lh = leaf_hash(&B64.decode(&flipped).unwrap());
            b["entries"][e]["entry_b64"] = json!(flipped);
            b["entries"][e]["leaf_hash_b64"] = json!(B64.encode(lh));
        }
        5 => {
            let i = b["entries"][e]["index"].as_u64().unwrap();
            b["entries"][e]["index"] = json!(i + 1 + rng.below(3));
        }
        6 => b["checkpoint"] = json!(other_checkpoint),
        7 => b["log"]["vkey"] = json!(other_vkey),
        8 => return Some(other_vkey.to_owned()),
        9 => b["log"]["origin"] = json!("test.writ/other"),
        10..=12 => {
            let Some(ds) = b["disclosures"].as_array_mut().filter(|d| !d.is_empty()) else {
                b["entries"][e]["leaf_hash_b64"] = json!("not base64!");
                return None;
            };
            let d = rng.below(ds.len() as u64) as usize;
            match kind {
                10 => ds[d]["private"]["args"]["n"] = json!(rng.below(1000) + 1000),
                11 => {
                    let s = ds[d]["salt_b64"].as_str().unwrap().to_owned();
                    ds[d]["salt_b64"] = json!(flip_b64(&s, rng));
                }
                _ => ds[d]["index"] = json!(10_000),
            }
        }
        13 => {
            let cp = b["checkpoint"].as_str().unwrap();
            let mut lines: Vec<&str> = cp.split('\n').collect();
            let size: u64 = lines[1].parse().unwrap();
            let bigger = (size + 1).to_string();
            lines[1] = &bigger;
            b["checkpoint"] = json!(lines.join("\n"));
        }
        _ => {
            if rng.below(2) == 0 {
                return Some(own);
            }
        }
    }
    None
}

/// A 40-entry ledger with entries v1 (all clear) and v2 (a commitment, disclosed separately),
/// one batch each, so a checkpoint is published at every size; and each entry's disclosure.
fn random_ledger(dir: &Path, rng: &mut Rng) -> (Ledger, Vec<Option<Disclosure>>) {
    let ledger = Ledger::init(&dir.join("ledger"), ORIGIN).unwrap();
    let mut disclosures = Vec::new();
    for i in 0..40u64 {
        let (entry, private) = if rng.below(2) == 0 {
            let e = json!({"type": "policy.activated", "v": 1, "n": i, "pad": "x".repeat(rng.below(40) as usize)});
            (e, None)
        } else {
            let private = json!({"args": {"n": i, "s": "y".repeat(rng.below(20) as usize)}});
            let salt = fresh_salt().unwrap();
            let c = commitment_hex(&salt, &private).unwrap();
            let e =
                json!({"type": "decision", "v": 2, "execution": format!("e{i}"), "commitment": c});
            (e, Some((salt, private)))
        };
        let index = ledger
            .append_durable(&to_canonical_vec(&entry).unwrap())
            .unwrap();
        assert_eq!(index, i);
        disclosures.push(private.map(|(salt, p)| Disclosure::new(index, &salt, p)));
    }
    assert_eq!(ledger.checkpoint().size(), 40);
    (ledger, disclosures)
}

/// The JS verdicts (`ui/verify/test/verdicts.js`) of a list of cases.
fn js_verdicts(node: &Path, dir: &Path, cases: &[Value]) -> Vec<Value> {
    let file = dir.join("cases.json");
    std::fs::write(&file, serde_json::to_vec(cases).unwrap()).unwrap();
    let out = Command::new(node)
        .arg(repo_root().join("ui/verify/test/verdicts.js"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let js: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(js.len(), cases.len());
    js
}

/// The text a signed note signs.
fn note_text(note: &str) -> String {
    note.rsplit_once("\n\n").unwrap().0.to_owned() + "\n"
}

/// Random bundles from a real ledger, valid and tampered: the JS verifier's verdict equals the
/// Rust verifier's (`ProofBundle::verify`) on every one.
#[test]
fn js_verifier_agrees_with_rust_on_1000_random_bundles() {
    let Some(node) = node() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5eed_1234_abcd_0017);
    let (ledger, disclosures) = random_ledger(dir.path(), &mut rng);
    let size = ledger.checkpoint().size();
    let other = Ed25519Signer::generate(ORIGIN).unwrap();
    let other_vkey = other.verifier().to_vkey();

    let mut cases = Vec::new();
    let mut rust = Vec::new();
    for _ in 0..1000 {
        let at = 1 + rng.below(size);
        let mut indexes: Vec<u64> = (0..1 + rng.below(4)).map(|_| rng.below(at)).collect();
        indexes.sort_unstable();
        indexes.dedup();
        let mut bundle = ledger.proof_bundle(&indexes, Some(at)).unwrap();
        let ds: Vec<Disclosure> = indexes
            .iter()
            .filter_map(|&i| disclosures[i as usize].clone())
            .collect();
        if !ds.is_empty() {
            bundle.disclosures = Some(ds);
        }
        let other_checkpoint = sign_note(&note_text(&bundle.checkpoint), &[&other]).unwrap();
        let mut value = serde_json::to_value(&bundle).unwrap();
        // About 40% stay as they are; the rest get one of the tamper kinds.
        let kind = if rng.below(10) < 4 {
            0
        } else {
            1 + rng.below(13)
        };
        let pinned = tamper(kind, &mut value, &mut rng, &other_checkpoint, &other_vkey);
        let ok = ProofBundle::from_json(value.to_string().as_bytes())
            .and_then(|b| b.verify(pinned.as_deref()))
            .is_ok();
        rust.push((kind, ok));
        cases.push(json!({"bundle": value, "pinnedVkey": pinned}));
    }
    let js = js_verdicts(&node, dir.path(), &cases);
    let mut verified = 0;
    for (i, ((kind, ok), v)) in rust.iter().zip(&js).enumerate() {
        let js_ok = v["verdict"] == "verified";
        assert_eq!(
            *ok, js_ok,
            "case {i} (tamper kind {kind}): Rust {ok}, JS {v}; bundle {}",
            cases[i]
        );
        verified += usize::from(*ok);
    }
    // Both outcomes are well represented, so agreement is not agreement on one answer.
    assert!((300..=700).contains(&verified), "verified: {verified}");
    eprintln!("1000 bundles, 1000 agreements, {verified} verified");
}

/// Consistency with an older checkpoint, valid and tampered: the JS `consistency` check agrees
/// with `ConsistencyProof::verify_between` on checkpoints the log key opens.
#[test]
fn js_verifier_agrees_with_rust_on_300_consistency_proofs() {
    let Some(node) = node() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x0c0f_515e_05e0_0017);
    let (ledger, _) = random_ledger(dir.path(), &mut rng);
    let size = ledger.checkpoint().size();
    let other = Ed25519Signer::generate(ORIGIN).unwrap();
    let verifier = ledger.verifier();
    let mut cases = Vec::new();
    let mut rust = Vec::new();
    for _ in 0..300 {
        let to = 2 + rng.below(size - 1);
        let from = 1 + rng.below(to - 1);
        let bundle = ledger.proof_bundle(&[rng.below(to)], Some(to)).unwrap();
        let mut older = ledger.checkpoint_at(from).unwrap().note().to_owned();
        let mut proof = serde_json::to_value(ledger.consistency(from, to).unwrap()).unwrap();
        let kind = if rng.below(10) < 4 {
            0
        } else {
            1 + rng.below(7)
        };
        let hashes = proof["hashes_b64"].as_array_mut().unwrap();
        match kind {
            1 if !hashes.is_empty() => {
                let i = rng.below(hashes.len() as u64) as usize;
                hashes[i] = json!(flip_b64(hashes[i].as_str().unwrap(), &mut rng));
            }
            2 => drop(hashes.pop()),
            3 => hashes.push(json!(B64.encode([9u8; 32]))),
            4 => {
                let r = proof["root1_b64"].as_str().unwrap().to_owned();
                proof["root1_b64"] = json!(flip_b64(&r, &mut rng));
            }
            5 => older = sign_note(&note_text(&older), &[&other]).unwrap(),
            6 => proof["size1"] = json!(from + 1),
            7 if from > 1 => older = ledger.checkpoint_at(from - 1).unwrap().note().to_owned(),
            _ => {}
        }
        let ok = match (
            SignedCheckpoint::open(&older, verifier),
            SignedCheckpoint::open(&bundle.checkpoint, verifier),
            serde_json::from_value::<ConsistencyProof>(proof.clone()),
        ) {
            (Ok(o), Ok(n), Ok(p)) => p.verify_between(&o, &n).is_ok(),
            _ => false,
        };
        rust.push((kind, ok));
        cases.push(json!({"bundle": bundle, "olderCheckpoint": older, "consistencyProof": proof}));
    }
    let js = js_verdicts(&node, dir.path(), &cases);
    let mut passed = 0;
    for (i, ((kind, ok), v)) in rust.iter().zip(&js).enumerate() {
        let failing = v["failing"].as_array().unwrap();
        assert!(
            failing.iter().all(|f| f == "consistency"),
            "case {i}: only consistency may fail: {v}"
        );
        let js_ok = failing.is_empty();
        assert_eq!(
            *ok, js_ok,
            "case {i} (tamper kind {kind}): Rust {ok}, JS {v}; case {}",
            cases[i]
        );
        passed += usize::from(*ok);
    }
    assert!((90..=210).contains(&passed), "consistent: {passed}");
    eprintln!("300 consistency cases, 300 agreements, {passed} consistent");
}

/// The JS side's test of real bundles (`ui/verify/test/rust.test.js`) against this build: a
/// `writ demo` bundle verifies and each tampered kind fails with the right check.
#[test]
fn js_verifier_checks_writ_demo_bundles() {
    let Some(node) = node() else { return };
    let out = Command::new(node)
        .arg("--test")
        .arg(repo_root().join("ui/verify/test/rust.test.js"))
        .env("WRIT_BIN", env!("CARGO_BIN_EXE_writ"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("# pass 1"),
        "node --test rust.test.js failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
