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
