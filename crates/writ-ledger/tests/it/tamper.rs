//! Tamper evidence: random byte flips inside stored entries, tiles and checkpoints are always
//! caught by `verify --full` (which includes SQLite's integrity check), never accepted.

use std::path::Path;

use rusqlite::Connection;
use writ_ledger::{Ledger, verify_dir};

use crate::{Rng, entry};

const TRIALS: usize = 210;

fn occurrences(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

/// Stored entries, tiles and checkpoint notes, as bytes.
type Regions = (Vec<Vec<u8>>, Vec<Vec<u8>>, Vec<Vec<u8>>);

fn pristine_store(dir: &Path) -> Regions {
    let ledger = Ledger::init(dir, "tamper.example/log").unwrap();
    // Several batches, so there are many checkpoints, full and partial tiles at two levels.
    for round in 0..6u64 {
        let handles: Vec<_> = (0..100)
            .map(|i| {
                ledger
                    .submit(entry("decision", round * 100 + i, 200))
                    .unwrap()
            })
            .collect();
        handles.into_iter().for_each(|h| {
            h.wait().unwrap();
        });
        ledger.append_durable(&entry("receipt", round, 10)).unwrap();
    }
    drop(ledger);
    let conn = Connection::open(dir.join("ledger.db")).unwrap();
    // Fold the WAL in and rebuild the file with stale bytes zeroed, so every byte searched for
    // is live data (a flip in a dead copy would prove nothing).
    conn.execute_batch("PRAGMA secure_delete = ON; PRAGMA journal_mode = DELETE; VACUUM;")
        .unwrap();
    let col = |sql: &str| -> Vec<Vec<u8>> {
        let mut s = conn.prepare(sql).unwrap();
        s.query_map([], |r| r.get::<_, Vec<u8>>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    (
        col("SELECT data FROM entries"),
        // Hash tiles, plus the leaf column that is the partial level-0 tile.
        col("SELECT data FROM tiles UNION ALL SELECT leaf FROM entries"),
        col("SELECT note FROM checkpoints"),
    )
}

#[test]
fn random_byte_flips_in_entries_tiles_and_checkpoints_are_always_detected() {
    let src = tempfile::tempdir().unwrap();
    let (entries, tiles, checkpoints) = pristine_store(src.path());
    assert!(verify_dir(src.path(), true).unwrap().ok);
    let db = std::fs::read(src.path().join("ledger.db")).unwrap();
    let mut rng = Rng::from_time();
    let mut done = [0usize; 3];
    let mut attempts = 0;
    while done.iter().sum::<usize>() < TRIALS {
        attempts += 1;
        assert!(
            attempts < TRIALS * 20,
            "could not locate enough unique regions"
        );
        // Spread the trials evenly over the three kinds of data.
        let kind = (0..3).min_by_key(|&k| done[k]).unwrap();
        // A region of live data: an entry, a 32-byte hash of a tile, or a checkpoint note.
        let needle: Vec<u8> = match kind {
            0 => entries[rng.below(entries.len() as u64) as usize].clone(),
            1 => {
                let t = &tiles[rng.below(tiles.len() as u64) as usize];
                let h = rng.below((t.len() / 32) as u64) as usize * 32;
                t[h..h + 32].to_vec()
            }
            _ => checkpoints[rng.below(checkpoints.len() as u64) as usize].clone(),
        };
        let at = occurrences(&db, &needle);
        if at.len() != 1 {
            continue; // spans a page boundary or is not unique: pick another
        }
        let offset = at[0] + rng.below(needle.len() as u64) as usize;
        let mut bad = db.clone();
        bad[offset] ^= 1 + rng.below(255) as u8;
        let trial = tempfile::tempdir().unwrap();
        std::fs::copy(src.path().join("log.key"), trial.path().join("log.key")).unwrap();
        std::fs::write(trial.path().join("ledger.db"), &bad).unwrap();
        let detected = match verify_dir(trial.path(), true) {
            Ok(report) => !report.ok,
            Err(_) => true,
        };
        assert!(
            detected,
            "a flip at byte {offset} inside {} was not detected",
            ["an entry", "a tile", "a checkpoint"][kind]
        );
        done[kind] += 1;
    }
    assert!(done.iter().all(|&d| d >= 70), "{done:?}");
}

/// Regression: a changed leaf hash of an entry inside a full level-0 tile went unnoticed,
/// because only the tile's copy was used. Each of the three records of a leaf is now checked
/// against the other two, and the changed one is named.
#[test]
fn each_record_of_a_leaf_is_checked_and_the_changed_one_is_named() {
    let src = tempfile::tempdir().unwrap();
    let ledger = Ledger::init(src.path(), "tamper.example/log").unwrap();
    let handles: Vec<_> = (0..300)
        .map(|i| ledger.submit(entry("decision", i, 5)).unwrap())
        .collect();
    handles.into_iter().for_each(|h| {
        h.wait().unwrap();
    });
    drop(ledger);
    for (sql, kind, at) in [
        (
            "UPDATE entries SET leaf = zeroblob(32) WHERE idx = 5",
            "tile",
            "tile/0/000",
        ),
        (
            "UPDATE entries SET leaf = zeroblob(32) WHERE idx = 290",
            "tile",
            "tile/0/001.p/44",
        ),
        (
            "UPDATE entries SET data = CAST('{\"type\":\"x\",\"v\":1}' AS BLOB) WHERE idx = 5",
            "entry",
            "5",
        ),
        (
            "UPDATE entries SET data = CAST('{\"type\":\"x\",\"v\":1}' AS BLOB) WHERE idx = 290",
            "entry",
            "290",
        ),
        (
            "UPDATE tiles SET data = zeroblob(8192) WHERE key = 0",
            "tile",
            "tile/0/000",
        ),
    ] {
        let trial = tempfile::tempdir().unwrap();
        for f in ["log.key", "ledger.db"] {
            std::fs::copy(src.path().join(f), trial.path().join(f)).unwrap();
        }
        Connection::open(trial.path().join("ledger.db"))
            .unwrap()
            .execute_batch(sql)
            .unwrap();
        let report = verify_dir(trial.path(), true).unwrap();
        let p = report.problem.expect(sql);
        assert_eq!(
            (p.kind.as_str(), p.at.as_str()),
            (kind, at),
            "{sql}: {}",
            p.detail
        );
    }
}
