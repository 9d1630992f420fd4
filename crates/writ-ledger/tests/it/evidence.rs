//! The evidence store: a v2 entry's disclosure is committed with the entry, checks against it
//! after a reopen, and once erased is gone from every byte of the ledger's files.

use std::path::Path;

use serde_json::json;
use writ_ledger::{Entry, Ledger};

use crate::storage::{append_entry as append, committed};

const CANARY: &str = "evidence-canary-5d1f0c";

/// Every file under `dir`, read raw, that holds `needle`.
pub fn files_holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    out.push(p.display().to_string());
                }
            }
        }
    }
    out
}

#[test]
fn a_disclosure_is_stored_with_its_entry_and_checks_against_it_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::init(dir.path(), "example.com/evidence").unwrap();
    let i = append(&ledger, committed(1, CANARY));
    let entry = ledger.entry(i).unwrap();
    assert!(!String::from_utf8_lossy(&entry).contains(CANARY));
    drop(ledger);
    let ledger = Ledger::open(dir.path()).unwrap();
    let d = ledger.disclosures(&[i]).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].private["args"]["text"], CANARY);
    d[0].check_entry(&ledger.entry(i).unwrap()).unwrap();
    let bundle = ledger.proof_bundle(&[i], None).unwrap();
    let tiles = ledger.read_tile("entries/000.p/1").unwrap().unwrap();
    assert!(!String::from_utf8_lossy(&tiles).contains(CANARY));
    assert!(!serde_json::to_string(&bundle).unwrap().contains(CANARY));
}

#[test]
fn erased_disclosures_leave_no_byte_in_the_ledger_files_and_proofs_verify() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::init(dir.path(), "example.com/evidence").unwrap();
    let mut erase = Vec::new();
    let mut keep = Vec::new();
    for n in 0..50 {
        // Big enough that some private objects spill onto overflow pages.
        let secret = format!(
            "{CANARY}-{n}-{}",
            "p".repeat(if n % 7 == 0 { 40_000 } else { 64 })
        );
        let i = append(&ledger, committed(n, &secret));
        if n % 2 == 0 {
            erase.push(i)
        } else {
            keep.push(i)
        }
    }
    let kept_before = ledger.disclosures(&keep).unwrap();
    let erased = ledger.erase_disclosures(&erase).unwrap();
    assert_eq!(erased, erase);
    assert!(ledger.disclosures(&erase).unwrap().is_empty());
    assert_eq!(ledger.disclosures(&keep).unwrap(), kept_before);
    let all: Vec<u64> = erase.iter().chain(&keep).copied().collect();
    let bundle = ledger.proof_bundle(&all, None).unwrap();
    // Gone while the ledger is open (from the WAL too), and after it is closed.
    let gone = || {
        for n in (0..50).step_by(2) {
            let needle = format!("{CANARY}-{n}-");
            let found = files_holding(dir.path(), needle.as_bytes());
            assert!(found.is_empty(), "{needle} still in {found:?}");
        }
    };
    gone();
    drop(ledger);
    gone();
    bundle.verify(None).unwrap();
    assert!(!files_holding(dir.path(), format!("{CANARY}-1-").as_bytes()).is_empty());
}

/// `writ ledger verify`'s full check recomputes every disclosure to its entry's commitment and
/// reports a v2 entry whose disclosure is gone without an `evidence.erased` entry covering it.
#[test]
fn verify_checks_disclosures_against_commitments_and_erasures() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::init(dir.path(), "example.com/evidence").unwrap();
    let a = append(&ledger, committed(1, "first"));
    let b = append(&ledger, committed(2, "second"));
    let c = append(&ledger, committed(3, "third"));
    assert_eq!(ledger.erase_disclosures(&[b]).unwrap(), [b]);
    // Erased without a covering entry yet: reported.
    let r = ledger.verify(true).unwrap();
    assert!(!r.ok, "{r:?}");
    let p = r.problem.unwrap();
    assert_eq!(
        (p.kind.as_str(), p.at.as_str()),
        ("disclosure", &*b.to_string())
    );
    let erased =
        json!({"type": "evidence.erased", "v": 1, "indexes": [b], "by": "admin:t", "at": 1});
    append(&ledger, Entry::encode(&erased).unwrap());
    let r = ledger.verify(true).unwrap();
    assert!(r.ok, "{r:?}");
    assert_eq!(r.disclosures_checked, 2);
    drop(ledger);

    // One byte of a stored disclosure changed: the check names its index.
    let conn = rusqlite::Connection::open(dir.path().join("ledger.db")).unwrap();
    let private: Vec<u8> = conn
        .query_row(
            "SELECT private FROM disclosures WHERE idx = ?1",
            [c as i64],
            |r| r.get(0),
        )
        .unwrap();
    let tampered = String::from_utf8(private)
        .unwrap()
        .replace("third", "thirD");
    conn.execute(
        "UPDATE disclosures SET private = ?1 WHERE idx = ?2",
        rusqlite::params![tampered.as_bytes(), c as i64],
    )
    .unwrap();
    drop(conn);
    let r = writ_ledger::verify::verify_dir(dir.path(), true).unwrap();
    assert!(!r.ok, "{r:?}");
    let p = r.problem.unwrap();
    assert_eq!(
        (p.kind.as_str(), p.at.as_str()),
        ("disclosure", &*c.to_string())
    );
    assert!(p.detail.contains("commitment"), "{}", p.detail);
    assert_ne!(a, c);
}
