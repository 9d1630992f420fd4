//! The `Ledger` API on a real store: appends, refusals, reopen, proofs via tiles, export.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use writ_ledger::hash::leaf_hash;
use writ_ledger::proof::{MemoryTree, inclusion_proof, tree_root, verify_consistency};
use writ_ledger::tiles::{decode_bundle, entries_path, tile_hashes, tile_path};
use writ_ledger::{EntryError, Ledger, LedgerError, ProofBundle, SignedCheckpoint, verify_dir};

use crate::entry;

#[test]
fn appends_get_consecutive_indexes_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::init(dir.path(), "test.example/log").unwrap();
    assert_eq!(ledger.checkpoint().size(), 0);
    let mut want = Vec::new();
    for i in 0..5 {
        let e = entry("decision", i, 10);
        assert_eq!(ledger.append_durable(&e).unwrap(), i);
        want.push(e);
    }
    let cp = ledger.checkpoint();
    assert_eq!(cp.size(), 5);
    let vkey = ledger.vkey();
    drop(ledger);
    let ledger = Ledger::open(dir.path()).unwrap();
    assert_eq!(ledger.checkpoint().note(), cp.note());
    assert_eq!(ledger.vkey(), vkey);
    for (i, e) in want.iter().enumerate() {
        assert_eq!(&ledger.entry(i as u64).unwrap(), e);
    }
    assert_eq!(ledger.append_durable(&entry("receipt", 5, 1)).unwrap(), 5);
    assert!(ledger.verify(true).unwrap().ok);
    // A new store is laid out in the large pages that keep a commit's WAL frames few.
    let store = writ_ledger::store::SqliteStore::open(
        &dir.path().join(writ_ledger::ledger::STORE_FILE),
        false,
    )
    .unwrap();
    let page_size: u32 = store
        .connection()
        .pragma_query_value(None, "page_size", |r| r.get(0))
        .unwrap();
    assert_eq!(page_size, writ_ledger::store::PAGE_SIZE);
}

#[test]
fn refused_entries_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::init(dir.path(), "test.example/log").unwrap();
    ledger.append_durable(&entry("decision", 0, 1)).unwrap();
    let big = entry("decision", 1, 70_000);
    for (bad, code) in [
        (br#"{"v":1,"type":"x"}"#.to_vec(), "entry.not_canonical"),
        (br#"{"type":"x"}"#.to_vec(), "entry.bad_shape"),
        (b"not json".to_vec(), "entry.not_canonical"),
        (big, "entry.too_large"),
    ] {
        let err = ledger.append_durable(&bad).unwrap_err();
        assert_eq!(err.reason_code(), code, "{err}");
        assert!(err.is_invalid_input());
    }
    assert!(matches!(
        ledger.submit(vec![b'{'; 65_536]),
        Err(LedgerError::Entry(EntryError::TooLarge { len: 65_536 }))
    ));
    assert_eq!(ledger.checkpoint().size(), 1);
    drop(ledger);
    let report = verify_dir(dir.path(), true).unwrap();
    assert!(report.ok);
    assert_eq!(report.entries_checked, 1);
}

#[test]
fn concurrent_appenders_get_distinct_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Ledger::init(dir.path(), "test.example/log").unwrap());
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let l = Arc::clone(&ledger);
            std::thread::spawn(move || {
                (0..40u64)
                    .map(|i| {
                        let e = entry("decision", t * 1000 + i, 20);
                        (l.append_durable(&e).unwrap(), e)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<(u64, Vec<u8>)> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort();
    assert_eq!(all.len(), 320);
    for (i, (index, e)) in all.iter().enumerate() {
        assert_eq!(*index, i as u64);
        assert_eq!(&ledger.entry(*index).unwrap(), e);
    }
    assert!(ledger.verify(true).unwrap().ok);
}

#[test]
fn tile_proofs_match_the_memory_tree_across_tile_levels() {
    // 65,536 + 300 leaves: a full level-1 tile, a level-2 tile and partial tiles at each level.
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::init(dir.path(), "test.example/log").unwrap();
    let n = 65_836u64;
    let mut handles = Vec::new();
    let mut mem = MemoryTree::new();
    for i in 0..n {
        let e = entry("t", i, 0);
        mem.push(leaf_hash(&e));
        handles.push(ledger.submit(e).unwrap());
    }
    for h in handles {
        h.wait().unwrap();
    }
    assert_eq!(ledger.checkpoint().size(), n);
    assert_eq!(ledger.checkpoint().root(), &mem.root());
    let published: Vec<u64> = (1..n).step_by(977).chain([256, 65_536, n]).collect();
    for &size in &published {
        assert_eq!(
            ledger.root_at(size).unwrap(),
            tree_root(&mem, size).unwrap()
        );
    }
    for (index, size) in [
        (0, n),
        (65_535, n),
        (65_536, n),
        (n - 1, n),
        (300, 65_536),
        (7, 9),
    ] {
        let from_tiles = ledger.inclusion_proof(index, size).unwrap();
        assert_eq!(from_tiles, inclusion_proof(&mem, index, size).unwrap());
    }
    let c = ledger.consistency(65_000, n).unwrap();
    c.verify().unwrap();
    assert_eq!(c.root2_b64, B64.encode(mem.root()));
    drop(ledger);
    // Reopen reads the right edge only, and keeps appending on it.
    let ledger = Ledger::open(dir.path()).unwrap();
    let e = entry("t", n, 0);
    mem.push(leaf_hash(&e));
    ledger.append_durable(&e).unwrap();
    assert_eq!(ledger.checkpoint().root(), &mem.root());
    assert!(ledger.verify(false).unwrap().ok);
}

#[test]
fn proof_bundles_verify_offline_and_catch_changes() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::init(dir.path(), "test.example/log").unwrap();
    for i in 0..20 {
        ledger.append_durable(&entry("decision", i, 5)).unwrap();
    }
    let bundle = ledger.proof_bundle(&[3, 17], None).unwrap();
    let json = serde_json::to_vec(&bundle).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["format"], "writ.proof/v1");
    assert!(v.get("writ").is_none());
    let checked = ProofBundle::from_json(&json)
        .unwrap()
        .verify(Some(&ledger.vkey()))
        .unwrap();
    assert_eq!(checked.entries[1].entry, ledger.entry(17).unwrap());

    let mut changed = bundle.clone();
    changed.entries[0].entry_b64 = B64.encode(entry("decision", 4, 5));
    assert_eq!(
        changed.verify(None).unwrap_err().reason_code(),
        "bundle.leaf_hash_mismatch"
    );
    let mut changed = bundle.clone();
    changed.entries[0].index = 4;
    assert_eq!(
        changed.verify(None).unwrap_err().reason_code(),
        "bundle.bad_inclusion"
    );
    let other = tempfile::tempdir().unwrap();
    let other = Ledger::init(other.path(), "test.example/log").unwrap();
    assert_eq!(
        bundle
            .verify(Some(&other.vkey()))
            .unwrap_err()
            .reason_code(),
        "bundle.untrusted_key"
    );
    let mut changed = bundle.clone();
    changed.log.vkey = other.vkey();
    assert_eq!(
        changed.verify(None).unwrap_err().reason_code(),
        "bundle.bad_checkpoint"
    );

    // An older published size works; an unpublished one is refused.
    let cp5 = ledger.checkpoint_at(5).unwrap();
    let old = ledger.proof_bundle(&[2], Some(5)).unwrap();
    assert_eq!(old.checkpoint, cp5.note());
    old.verify(Some(&ledger.vkey())).unwrap();
    assert!(ledger.proof_bundle(&[2], Some(50)).is_err());
    assert!(ledger.proof_bundle(&[20], None).is_err());
    let c = ledger.consistency(5, 20).unwrap();
    c.verify_between(&cp5, &ledger.checkpoint()).unwrap();
    assert!(ledger.consistency(0, 20).is_err());
    assert!(ledger.consistency(5, 21).is_err());
}

#[test]
fn bundle_disclosures_are_checked_against_their_entries_commitments() {
    use writ_ledger::commitment::{Disclosure, commitment_hex};
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::init(dir.path(), "test.example/log").unwrap();
    let private = serde_json::json!({"args": {"path": "/home/alice/canary"}});
    let salt = [5u8; 32];
    let committed = serde_json::json!({"type": "decision", "v": 2, "commitment": commitment_hex(&salt, &private).unwrap()});
    ledger.append_durable(&entry("decision", 0, 1)).unwrap();
    let index = ledger
        .append_durable(&writ_model::canonical::to_canonical_vec(&committed).unwrap())
        .unwrap();
    let mut bundle = ledger.proof_bundle(&[0, index], None).unwrap();
    bundle.disclosures = Some(vec![Disclosure::new(index, &salt, private.clone())]);
    let json = serde_json::to_vec(&bundle).unwrap();
    let checked = ProofBundle::from_json(&json)
        .unwrap()
        .verify(Some(&ledger.vkey()))
        .unwrap();
    assert_eq!(checked.disclosures.len(), 1);

    let refused = |d: Disclosure| {
        let mut b = bundle.clone();
        b.disclosures = Some(vec![d]);
        b.verify(Some(&ledger.vkey())).unwrap_err().reason_code()
    };
    let mut value = Disclosure::new(index, &salt, private.clone());
    value.private["args"]["path"] = "/home/alice/other".into();
    assert_eq!(refused(value), "disclosure.mismatch");
    assert_eq!(
        refused(Disclosure::new(index, &[6u8; 32], private.clone())),
        "disclosure.mismatch"
    );
    // A v1 entry has nothing to disclose; an index outside the bundle is malformed.
    assert_eq!(
        refused(Disclosure::new(0, &salt, private.clone())),
        "disclosure.no_commitment"
    );
    assert_eq!(
        refused(Disclosure::new(9, &salt, private)),
        "bundle.malformed"
    );
}

#[test]
fn tiles_export_is_a_valid_tlog_tiles_tree() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::init(dir.path(), "test.example/log").unwrap();
    let mut handles = Vec::new();
    let mut entries = Vec::new();
    for i in 0..600 {
        let e = entry("decision", i, 3);
        entries.push(e.clone());
        handles.push(ledger.submit(e).unwrap());
    }
    handles.into_iter().for_each(|h| {
        h.wait().unwrap();
    });
    let out = tempfile::tempdir().unwrap();
    let report = ledger.tiles_export(out.path()).unwrap();
    assert_eq!(
        (report.size, report.tiles, report.entry_bundles),
        (600, 4, 3)
    );
    let note = std::fs::read_to_string(out.path().join("checkpoint")).unwrap();
    let cp = SignedCheckpoint::open(&note, ledger.verifier()).unwrap();
    let mut leaves = Vec::new();
    for (index, width) in [(0, 256), (1, 256), (2, 88)] {
        let bundle =
            decode_bundle(&std::fs::read(out.path().join(entries_path(index, width))).unwrap())
                .unwrap();
        let tile =
            tile_hashes(&std::fs::read(out.path().join(tile_path(0, index, width))).unwrap())
                .unwrap();
        let from_bundle: Vec<_> = bundle.iter().map(|e| leaf_hash(e)).collect();
        assert_eq!(from_bundle, tile);
        leaves.extend(tile);
    }
    assert_eq!(
        tile_hashes(&std::fs::read(out.path().join("tile/1/000.p/2")).unwrap())
            .unwrap()
            .len(),
        2
    );
    let mem = MemoryTree::from_leaf_hashes(leaves);
    assert_eq!(&mem.root(), cp.root());
    let c = ledger.consistency(1, 600).unwrap();
    let r1 = B64.decode(&c.root1_b64).unwrap();
    let hashes: Vec<Vec<u8>> = c
        .hashes_b64
        .iter()
        .map(|h| B64.decode(h).unwrap())
        .collect();
    verify_consistency(1, 600, &r1, cp.root(), &hashes).unwrap();
}

#[test]
fn a_key_readable_by_others_is_refused_and_reinit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Ledger::init(dir.path(), "test.example/log").unwrap());
    let key = dir.path().join("log.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        Ledger::init(dir.path(), "test.example/log")
            .unwrap_err()
            .reason_code(),
        "ledger.already_initialized"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Ledger::open(dir.path()).unwrap_err();
    assert_eq!(err.reason_code(), "ledger.key_permissions");
    assert!(err.to_string().contains("chmod 600"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        Ledger::open(empty.path()).unwrap_err().reason_code(),
        "ledger.not_initialized"
    );
}

#[test]
fn submit_with_calls_back_once_durable_and_refuses_bad_entries_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::init(dir.path(), "test.example/log").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..3 {
        let tx = tx.clone();
        ledger
            .submit_with(
                entry("decision", i, 10),
                Box::new(move |r| tx.send(r.map(|r| r.index)).unwrap()),
            )
            .unwrap();
    }
    let mut got: Vec<u64> = (0..3).map(|_| rx.recv().unwrap().unwrap()).collect();
    got.sort();
    assert_eq!(got, [0, 1, 2]);
    // Every acknowledged entry is under the checkpoint.
    assert_eq!(ledger.checkpoint().size(), 3);
    // A non-canonical entry never reaches the queue and the callback is never called.
    let called = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = called.clone();
    let err = ledger.submit_with(
        b"{\"v\":1, \"type\":\"x\"}".to_vec(),
        Box::new(move |_| flag.store(true, std::sync::atomic::Ordering::SeqCst)),
    );
    assert!(err.is_err());
    drop(ledger);
    assert!(!called.load(std::sync::atomic::Ordering::SeqCst));
}

#[test]
fn staged_appends_learn_their_index_before_the_receipt_that_confirms_it() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::init(dir.path(), "test.example/log").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    for n in 0..20 {
        let e =
            writ_ledger::Entry::encode(&serde_json::json!({"type": "t", "v": 1, "n": n})).unwrap();
        let (assigned, done) = (tx.clone(), tx.clone());
        ledger
            .submit_entry_staged(
                e,
                Box::new(move |index| assigned.send((n, "assigned", Ok(index))).unwrap()),
                Box::new(move |r| {
                    done.send((n, "durable", r.map(|r| r.index).map_err(|e| e.to_string())))
                        .unwrap()
                }),
            )
            .unwrap();
    }
    drop(tx);
    let events: Vec<_> = rx.iter().collect();
    assert_eq!(events.len(), 40, "{events:?}");
    for n in 0..20 {
        let mine: Vec<_> = events.iter().filter(|(m, _, _)| *m == n).collect();
        // The index comes first, and the receipt confirms it.
        assert_eq!(mine.len(), 2, "{mine:?}");
        assert_eq!(mine[0].1, "assigned", "{mine:?}");
        assert_eq!(mine[1].1, "durable", "{mine:?}");
        assert_eq!(mine[0].2, mine[1].2, "{mine:?}");
        // Entries are written in submission order.
        assert_eq!(mine[1].2, Ok(n), "{mine:?}");
    }
    assert_eq!(ledger.checkpoint().size(), 20);
    verify_dir(dir.path(), true).unwrap();
}

#[test]
fn read_tile_serves_exactly_what_tiles_export_writes() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::init(&dir.path().join("log"), "test.example/log").unwrap();
    for i in 0..600 {
        ledger.append_durable(&entry("decision", i, 20)).unwrap();
    }
    let out = dir.path().join("export");
    ledger.tiles_export(&out).unwrap();
    let mut served = 0;
    for e in walk(&out.join("tile")) {
        let rel = e
            .strip_prefix(out.join("tile"))
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(
            ledger.read_tile(&rel).unwrap().as_deref(),
            Some(std::fs::read(&e).unwrap().as_slice()),
            "{rel}"
        );
        served += 1;
    }
    assert!(served >= 5, "{served}");
    // A narrower partial tile is a prefix of the wider one; tiles beyond the tree are absent.
    let full = ledger.read_tile("0/002.p/88").unwrap().unwrap();
    assert_eq!(
        ledger.read_tile("0/002.p/10").unwrap().unwrap(),
        full[..320].to_vec()
    );
    assert_eq!(ledger.read_tile("0/002").unwrap(), None);
    assert_eq!(ledger.read_tile("0/003.p/1").unwrap(), None);
    assert_eq!(ledger.read_tile("entries/002.p/89").unwrap(), None);
    assert_eq!(ledger.read_tile("../../etc/passwd").unwrap(), None);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn followers_wait_for_growth_and_read_entry_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Ledger::init(dir.path(), "example.com/follow").unwrap());
    // Nothing new: the wait times out and reports the current size.
    assert_eq!(
        ledger.wait_for_growth(0, std::time::Duration::from_millis(20)),
        0
    );
    let follower = {
        let ledger = Arc::clone(&ledger);
        std::thread::spawn(move || {
            let mut seen = 0;
            let mut got = Vec::new();
            while seen < 5 {
                let size = ledger.wait_for_growth(seen, std::time::Duration::from_secs(10));
                assert!(size > seen, "woke without growth");
                got.extend(ledger.entries(seen, size).unwrap());
                seen = size;
            }
            got
        })
    };
    let mut written = Vec::new();
    for n in 0..5 {
        let e =
            writ_ledger::Entry::encode(&serde_json::json!({"type": "t", "v": 1, "n": n})).unwrap();
        written.push(e.as_bytes().to_vec());
        let (tx, rx) = std::sync::mpsc::channel();
        ledger
            .submit_entry_with(e, Box::new(move |r| tx.send(r).unwrap()))
            .unwrap();
        assert_eq!(rx.recv().unwrap().unwrap().index, n);
    }
    assert_eq!(follower.join().unwrap(), written);
    assert_eq!(ledger.entries(2, 2).unwrap(), Vec::<Vec<u8>>::new());
    assert!(ledger.entries(3, 6).is_err(), "a range past the checkpoint");
    verify_dir(dir.path(), true).unwrap();
}
