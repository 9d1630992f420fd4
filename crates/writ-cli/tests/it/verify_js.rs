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
use writ_ledger::{Disclosure, Ledger, ProofBundle, leaf_hash};
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

/// Random bundles from a real ledger, valid and tampered: the JS verifier's verdict equals the
/// Rust verifier's (`ProofBundle::verify`) on every one.
#[test]
fn js_verifier_agrees_with_rust_on_1000_random_bundles() {
    let Some(node) = node() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::init(&dir.path().join("ledger"), ORIGIN).unwrap();
    let mut rng = Rng(0x5eed_1234_abcd_0017);
    let mut disclosures: Vec<Option<Disclosure>> = Vec::new();
    // Entries v1 (all clear) and v2 (a commitment, disclosed separately), one batch each, so a
    // checkpoint is published at every size.
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
    let size = ledger.checkpoint().size();
    assert_eq!(size, 40);
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
        let text = bundle.checkpoint.rsplit_once("\n\n").unwrap().0.to_owned() + "\n";
        let other_checkpoint = sign_note(&text, &[&other]).unwrap();
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
    let file = dir.path().join("cases.json");
    std::fs::write(&file, serde_json::to_vec(&cases).unwrap()).unwrap();
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
    assert_eq!(js.len(), 1000);
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
