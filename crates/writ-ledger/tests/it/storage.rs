//! One storage suite, run against every store: the embedded SQLite store and PostgreSQL (the
//! server `scripts/postgres.sh` starts; its URL in `WRIT_TEST_POSTGRES_URL`). Without that URL
//! the PostgreSQL half is skipped with a message, unless `WRIT_REQUIRE_CONFORMANCE=1`, which
//! makes it a failure. Every PostgreSQL test works in a schema of its own, dropped at the end.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use writ_ledger::proof::{verify_consistency, verify_inclusion};
use writ_ledger::store::{LogReader, SqliteStore};
use writ_ledger::{Entry, Ledger, LedgerError, leaf_hash};

use crate::entry;

/// A store the suite runs against: where its key lives, and how to reach its storage.
enum Store {
    Sqlite(tempfile::TempDir),
    Postgres {
        keys: tempfile::TempDir,
        url: String,
        schema: String,
    },
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Store::Postgres { url, schema, .. } = self {
            let _ = writ_ledger::pg::PgStore::drop_schema(url, schema);
        }
    }
}

static SCHEMAS: AtomicU64 = AtomicU64::new(0);

pub fn postgres_url() -> Option<String> {
    match std::env::var("WRIT_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("WRIT_REQUIRE_CONFORMANCE").as_deref() != Ok("1"),
                "WRIT_TEST_POSTGRES_URL is unset and WRIT_REQUIRE_CONFORMANCE=1: start one with \
                 `eval \"$(bash scripts/postgres.sh start)\"`"
            );
            eprintln!(
                "storage suite: PostgreSQL half skipped (WRIT_TEST_POSTGRES_URL unset; \
                 `eval \"$(bash scripts/postgres.sh start)\"` starts one)"
            );
            None
        }
    }
}

/// Every store to run a test against, each new and empty.
fn stores() -> Vec<Store> {
    let mut out = vec![Store::Sqlite(tempfile::tempdir().unwrap())];
    if let Some(url) = postgres_url() {
        let schema = format!(
            "t{}_{}_{}",
            std::process::id(),
            SCHEMAS.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        out.push(Store::Postgres {
            keys: tempfile::tempdir().unwrap(),
            url,
            schema,
        });
    }
    out
}

impl Store {
    fn name(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres { .. } => "postgres",
        }
    }

    fn dir(&self) -> &Path {
        match self {
            Store::Sqlite(d) => d.path(),
            Store::Postgres { keys, .. } => keys.path(),
        }
    }

    fn init(&self) -> Ledger {
        match self {
            Store::Sqlite(d) => Ledger::init(d.path(), "example.com/suite").unwrap(),
            Store::Postgres { keys, url, schema } => {
                writ_ledger::pg::init_ledger(keys.path(), "example.com/suite", url, schema).unwrap()
            }
        }
    }

    fn open(&self) -> Result<Ledger, LedgerError> {
        match self {
            Store::Sqlite(d) => Ledger::open(d.path()),
            Store::Postgres { keys, url, schema } => {
                writ_ledger::pg::open_ledger(keys.path(), url, schema)
            }
        }
    }

    /// Verifies the store from outside, the way `writ ledger verify` does.
    fn verify(&self, full: bool) -> writ_ledger::VerifyReport {
        match self {
            Store::Sqlite(d) => writ_ledger::verify_dir(d.path(), full).unwrap(),
            Store::Postgres { keys, url, schema } => {
                writ_ledger::pg::verify_ledger(keys.path(), url, schema, full).unwrap()
            }
        }
    }

    /// Runs `sql` on the store's tables directly (someone with write access to the storage).
    fn tamper(&self, sql: &str) {
        match self {
            Store::Sqlite(d) => {
                let conn = rusqlite::Connection::open(d.path().join("ledger.db")).unwrap();
                conn.execute_batch(sql).unwrap();
            }
            Store::Postgres { url, schema, .. } => {
                let mut s = writ_ledger::pg::PgStore::open(url, schema, false).unwrap();
                s.execute_raw(sql).unwrap();
            }
        }
    }

    /// A reader of the store, opened on its own.
    fn reader(&self) -> Box<dyn LogReader> {
        match self {
            Store::Sqlite(d) => {
                Box::new(SqliteStore::open(&d.path().join("ledger.db"), false).unwrap())
            }
            Store::Postgres { url, schema, .. } => {
                Box::new(writ_ledger::pg::PgStore::open(url, schema, false).unwrap())
            }
        }
    }
}

/// Appends `n` entries from `threads` threads at once; returns their indexes.
fn append_many(ledger: &Ledger, from: u64, n: u64, threads: u64) -> Vec<u64> {
    let mut out = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (0..n)
                        .filter(|i| i % threads == t)
                        .map(|i| {
                            ledger
                                .append_durable(&entry("suite", from + i, 40))
                                .unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    out.sort_unstable();
    out
}

#[test]
fn appends_read_back_in_order_under_concurrency() {
    for store in stores() {
        let ledger = store.init();
        let indexes = append_many(&ledger, 0, 600, 8);
        assert_eq!(indexes, (0..600).collect::<Vec<_>>(), "{}", store.name());
        assert_eq!(ledger.size(), 600, "{}", store.name());
        let all = ledger.entries(0, 600).unwrap();
        let mut ns: Vec<u64> = all
            .iter()
            .map(|e| {
                serde_json::from_slice::<Value>(e).unwrap()["n"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        ns.sort_unstable();
        assert_eq!(ns, (0..600).collect::<Vec<_>>(), "{}", store.name());
        assert_eq!(ledger.entry(599).unwrap(), all[599], "{}", store.name());
        assert!(ledger.entries(0, 601).is_err(), "{}", store.name());
        // The stored leaf hashes are the entries' hashes.
        let mut reader = store.reader();
        let leaves = reader.leaf_hashes(0, 600).unwrap();
        for (e, l) in all.iter().zip(&leaves) {
            assert_eq!(&leaf_hash(e), l, "{}", store.name());
        }
        assert_eq!(reader.last_entry_index().unwrap(), Some(599));
    }
}

#[test]
fn inclusion_and_consistency_proofs_check_with_the_pure_verifier() {
    for store in stores() {
        let ledger = store.init();
        let mut sizes = Vec::new();
        for batch in [1u64, 2, 253, 1, 300] {
            let from = ledger.size();
            for i in 0..batch {
                ledger.append_durable(&entry("proof", from + i, 8)).unwrap();
            }
            sizes.push(ledger.size());
        }
        let size = ledger.size();
        assert_eq!(size, 557);
        let cp = ledger.checkpoint();
        for index in [0u64, 1, 255, 256, 300, 556] {
            let proof = ledger.inclusion_proof(index, size).unwrap();
            let leaf = leaf_hash(&ledger.entry(index).unwrap());
            verify_inclusion(index, size, &leaf, &proof, cp.root()).unwrap();
            // A proof for another leaf fails.
            let other = leaf_hash(b"not in the log");
            assert!(verify_inclusion(index, size, &other, &proof, cp.root()).is_err());
        }
        for &from in &sizes {
            let old = ledger.checkpoint_at(from).unwrap();
            let c = ledger.consistency(from, size).unwrap();
            c.verify().unwrap();
            let hashes = ledger_consistency_hashes(&ledger, from, size);
            verify_consistency(from, size, old.root(), cp.root(), &hashes).unwrap();
        }
        // A proof bundle checks offline against the log's key.
        let bundle = ledger.proof_bundle(&[3, 400], Some(sizes[3])).unwrap_err();
        assert!(
            matches!(bundle, LedgerError::Proof(_)),
            "{}: {bundle}",
            store.name()
        );
        let bundle = ledger.proof_bundle(&[3, 400], None).unwrap();
        let json = serde_json::to_vec(&bundle).unwrap();
        writ_ledger::ProofBundle::from_json(&json)
            .unwrap()
            .verify(Some(&ledger.vkey()))
            .unwrap();
    }
}

fn ledger_consistency_hashes(ledger: &Ledger, from: u64, to: u64) -> Vec<writ_ledger::Hash> {
    use base64::Engine;
    let c = ledger.consistency(from, to).unwrap();
    c.hashes_b64
        .iter()
        .map(|h| {
            let b = base64::engine::general_purpose::STANDARD.decode(h).unwrap();
            b.try_into().unwrap()
        })
        .collect()
}

#[test]
fn every_published_checkpoint_is_stored_signed_and_matches_the_tree() {
    for store in stores() {
        let ledger = store.init();
        let mut published = vec![0u64];
        for i in 0..20u64 {
            ledger.append_durable(&entry("cp", i, 8)).unwrap();
            published.push(ledger.size());
        }
        for &size in &published {
            let cp = ledger.checkpoint_at(size).unwrap();
            assert_eq!(cp.size(), size, "{}", store.name());
            if size > 0 {
                assert_eq!(
                    cp.root(),
                    &ledger.root_at(size).unwrap(),
                    "{}",
                    store.name()
                );
            }
        }
        assert!(ledger.checkpoint_at(21).is_err(), "{}", store.name());
        let r = store.verify(true);
        assert!(r.ok, "{}: {r:?}", store.name());
        assert_eq!(r.checkpoints_checked, 21, "{}", store.name());
        assert_eq!(r.entries_checked, 20, "{}", store.name());
    }
}

#[test]
fn a_reopened_ledger_continues_from_its_checkpoint_across_tile_boundaries() {
    for store in stores() {
        let ledger = store.init();
        append_many(&ledger, 0, 250, 4);
        let before = ledger.checkpoint();
        drop(ledger);
        let ledger = store.open().unwrap();
        assert_eq!(
            ledger.checkpoint().note(),
            before.note(),
            "{}",
            store.name()
        );
        // Across the first full tile (256) and on.
        let more = append_many(&ledger, 250, 300, 4);
        assert_eq!(more, (250..550).collect::<Vec<_>>(), "{}", store.name());
        let c = ledger.consistency(250, 550).unwrap();
        c.verify().unwrap();
        drop(ledger);
        let ledger = store.open().unwrap();
        assert_eq!(ledger.size(), 550, "{}", store.name());
        assert_eq!(
            ledger.read_tile("0/000").unwrap().unwrap().len(),
            256 * 32,
            "{}",
            store.name()
        );
        ledger.append_durable(&entry("after", 550, 8)).unwrap();
        let r = ledger.verify(true).unwrap();
        assert!(r.ok, "{}: {r:?}", store.name());
        assert_eq!(r.size, 551, "{}", store.name());
    }
}

#[test]
fn a_second_writer_on_the_same_store_cannot_commit_taken_indexes() {
    for store in stores() {
        let first = store.init();
        first.append_durable(&entry("w", 0, 8)).unwrap();
        let second = store.open().unwrap();
        first.append_durable(&entry("w", 1, 8)).unwrap();
        if let Store::Sqlite(_) = store {
            // The second writer integrated from size 1; index 1 is taken.
            let err = second.append_durable(&entry("w", 2, 8)).unwrap_err();
            assert!(
                matches!(err, LedgerError::CommitFailed(_)),
                "{}: {err}",
                store.name()
            );
            // After the refusal the second writer goes on from what the store holds.
            assert_eq!(second.size(), 2, "{}", store.name());
        } else {
            // PostgreSQL serializes writers: the second one reloads the edge under the
            // sequence lock and takes the next free index (fleet.rs tests this at length).
            assert!(second.integration().shared);
        }
        assert_eq!(second.append_durable(&entry("w", 3, 8)).unwrap(), 2);
        drop(second);
        drop(first);
        let r = store.verify(true);
        assert!(r.ok, "{}: {r:?}", store.name());
        assert_eq!(r.size, 3, "{}", store.name());
    }
}

/// PostgreSQL only: the server closes the ledger's connections (a restart, a terminated
/// backend). Appends in flight fail (and so deny); the store reconnects and the ledger goes on,
/// without a restart of the process, and the log verifies.
#[test]
fn a_postgres_ledger_recovers_after_its_connections_are_terminated() {
    let Some(url) = postgres_url() else {
        return;
    };
    let app = format!("writ_recover_{}", std::process::id());
    let sep = if url.contains('?') { '&' } else { '?' };
    let app_url = format!("{url}{sep}application_name={app}");
    let schema = format!("recover_{}", std::process::id());
    let keys = tempfile::tempdir().unwrap();
    let ledger =
        writ_ledger::pg::init_ledger(keys.path(), "example.com/recover", &app_url, &schema)
            .unwrap();
    for i in 0..10u64 {
        ledger.append_durable(&entry("r", i, 8)).unwrap();
    }
    let mut admin = writ_ledger::pg::PgStore::open(&url, &schema, false).unwrap();
    let mut failed = 0;
    for round in 0..3u64 {
        admin
            .execute_raw(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{app}'"
            ))
            .unwrap();
        // The first call on a dead connection fails; a later one reconnects.
        let mut done = None;
        for attempt in 0..5u64 {
            match ledger.append_durable(&entry("r", 100 * round + attempt, 8)) {
                Ok(i) => {
                    done = Some(i);
                    break;
                }
                Err(e) => {
                    assert!(matches!(e, LedgerError::CommitFailed(_)), "{e}");
                    failed += 1;
                }
            }
        }
        assert!(
            done.is_some(),
            "round {round}: no append succeeded after reconnecting"
        );
        // Reads reconnect too.
        let size = ledger.size();
        let mut read_ok = false;
        for _ in 0..3 {
            if ledger.entries(0, size).is_ok() {
                read_ok = true;
                break;
            }
        }
        assert!(read_ok, "round {round}: reads did not recover");
    }
    eprintln!("appends refused while reconnecting: {failed}");
    let size = ledger.size();
    drop(ledger);
    let r = writ_ledger::pg::verify_ledger(keys.path(), &url, &schema, true).unwrap();
    assert!(r.ok, "{r:?}");
    assert_eq!(r.size, size);
    writ_ledger::pg::PgStore::drop_schema(&url, &schema).unwrap();
}

#[test]
fn verify_names_an_altered_entry_tile_or_checkpoint() {
    for store in stores() {
        let ledger = store.init();
        append_many(&ledger, 0, 300, 2);
        drop(ledger);
        assert!(store.verify(true).ok, "{}", store.name());

        // An entry replaced by another one's bytes (inside the first, full tile).
        store.tamper(
            "UPDATE entries SET data = (SELECT data FROM entries WHERE idx = 4) WHERE idx = 5",
        );
        let r = store.verify(true);
        assert!(!r.ok, "{}", store.name());
        let p = r.problem.unwrap();
        assert_eq!(
            (p.kind.as_str(), p.at.as_str()),
            ("entry", "5"),
            "{}: {p:?}",
            store.name()
        );
        // The quick check (no rehash of entries) does not read entry bytes.
        assert!(store.verify(false).ok, "{}", store.name());
        store.tamper(
            "UPDATE entries SET data = (SELECT data FROM entries WHERE idx = 4) WHERE idx = 4",
        );
        // A checkpoint's note swapped for another's.
        store.tamper(
            "UPDATE checkpoints SET note = (SELECT note FROM checkpoints WHERE size = 0) \
             WHERE size = (SELECT max(size) FROM checkpoints WHERE size > 0 AND size < 300)",
        );
        let r = store.verify(false);
        assert!(!r.ok, "{}", store.name());
        assert_eq!(r.problem.unwrap().kind, "checkpoint", "{}", store.name());
    }
    for store in stores() {
        let ledger = store.init();
        append_many(&ledger, 0, 300, 2);
        drop(ledger);
        // A missing entry.
        store.tamper("DELETE FROM entries WHERE idx = 7");
        let r = store.verify(false);
        let p = r.problem.unwrap();
        assert_eq!(
            (p.kind.as_str(), p.at.as_str()),
            ("entry", "7"),
            "{}",
            store.name()
        );
        assert!(store.open().is_ok() || store.name() == "postgres");
    }
}

/// A v2 entry whose `args.text` is `secret`, committed (its disclosure kept apart).
pub(crate) fn committed(n: u64, secret: &str) -> Entry {
    Entry::committed(
        json!({"type": "test.v2", "v": 2, "n": n}),
        &json!({"args": {"text": secret}}),
        |clear: &mut Value, c| {
            clear["commitment"] = c.into();
        },
    )
    .unwrap()
}

/// Appends `entry` durably; its index.
pub(crate) fn append_entry(ledger: &Ledger, entry: Entry) -> u64 {
    let (tx, rx) = std::sync::mpsc::channel();
    ledger
        .submit_entry_with(entry, Box::new(move |r| tx.send(r).unwrap()))
        .unwrap();
    rx.recv().unwrap().unwrap().index
}

#[test]
fn disclosures_are_stored_with_their_entries_and_erasure_removes_them() {
    for store in stores() {
        let ledger = store.init();
        let a = append_entry(&ledger, committed(1, "first-secret"));
        let b = append_entry(&ledger, committed(2, "second-secret"));
        let c = append_entry(&ledger, committed(3, "third-secret"));
        drop(ledger);
        let ledger = store.open().unwrap();
        let d = ledger.disclosures(&[a, b, c]).unwrap();
        assert_eq!(d.len(), 3, "{}", store.name());
        assert_eq!(d[1].private["args"]["text"], "second-secret");
        for (i, disc) in [a, b, c].iter().zip(&d) {
            disc.check_entry(&ledger.entry(*i).unwrap()).unwrap();
        }
        let (held, bytes) = ledger.evidence_size().unwrap();
        assert_eq!(held, 3, "{}", store.name());
        assert!(bytes > 3 * 32, "{}", store.name());
        // The entries themselves never hold the secret.
        assert!(!String::from_utf8_lossy(&ledger.entry(b).unwrap()).contains("second-secret"));

        assert_eq!(
            ledger.erase_disclosures(&[b, 99]).unwrap(),
            [b],
            "{}",
            store.name()
        );
        assert_eq!(
            ledger.disclosures(&[b]).unwrap().len(),
            0,
            "{}",
            store.name()
        );
        assert_eq!(ledger.evidence_size().unwrap().0, 2, "{}", store.name());
        // Erased without an evidence.erased entry: the full check names it.
        let r = store.verify(true);
        let p = r.problem.unwrap();
        assert_eq!(
            (p.kind.as_str(), p.at.as_str()),
            ("disclosure", &*b.to_string()),
            "{}",
            store.name()
        );
        let erased =
            json!({"type": "evidence.erased", "v": 1, "indexes": [b], "by": "admin:t", "at": 1});
        append_entry(&ledger, Entry::encode(&erased).unwrap());
        let r = store.verify(true);
        assert!(r.ok, "{}: {r:?}", store.name());
        assert_eq!(r.disclosures_checked, 2, "{}", store.name());
        // A disclosure altered in storage no longer opens its commitment.
        store.tamper(&format!(
            "UPDATE disclosures SET private = (SELECT private FROM disclosures WHERE idx = {a}) WHERE idx = {c}"
        ));
        let p = store.verify(true).problem.unwrap();
        assert_eq!(
            (p.kind.as_str(), p.at.as_str()),
            ("disclosure", &*c.to_string()),
            "{}",
            store.name()
        );
        let _ = store.dir();
    }
}

/// PostgreSQL only: the schema is versioned; a store written by a newer release is refused on
/// open (never half-read), and opening a schema that holds no ledger is `NotInitialized`.
#[test]
fn a_postgres_store_of_a_newer_schema_version_is_refused() {
    let Some(url) = postgres_url() else {
        return;
    };
    let schema = format!("version_{}", std::process::id());
    let keys = tempfile::tempdir().unwrap();
    let ledger =
        writ_ledger::pg::init_ledger(keys.path(), "example.com/version", &url, &schema).unwrap();
    ledger.append_durable(&entry("v", 0, 8)).unwrap();
    drop(ledger);
    let mut s = writ_ledger::pg::PgStore::open(&url, &schema, false).unwrap();
    s.execute_raw("UPDATE schema_version SET version = version + 1")
        .unwrap();
    let err = writ_ledger::pg::open_ledger(keys.path(), &url, &schema).unwrap_err();
    assert!(err.to_string().contains("newer"), "{err}");
    s.execute_raw("UPDATE schema_version SET version = version - 1")
        .unwrap();
    assert_eq!(
        writ_ledger::pg::open_ledger(keys.path(), &url, &schema)
            .unwrap()
            .size(),
        1
    );
    let err = writ_ledger::pg::open_ledger(keys.path(), &url, "no_ledger_here").unwrap_err();
    assert!(matches!(err, LedgerError::NotInitialized(_)), "{err}");
    // A second init on the same schema is refused, and writes no key.
    let other = tempfile::tempdir().unwrap();
    let err = writ_ledger::pg::init_ledger(other.path(), "example.com/version", &url, &schema)
        .unwrap_err();
    assert!(matches!(err, LedgerError::AlreadyInitialized(_)), "{err}");
    assert!(!other.path().join("log.key").exists());
    writ_ledger::pg::PgStore::drop_schema(&url, &schema).unwrap();
}
