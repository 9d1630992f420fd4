//! Crash safety: a child process appends from several threads and is killed with SIGKILL at a
//! random moment; after each kill the store reopens with every acknowledged entry at its
//! acknowledged index, verifies, and its new checkpoint is consistent with every checkpoint
//! the child had published.
//!
//! The child is this test binary itself, re-run on `crash_child` with `WRIT_LEDGER_CRASH_DIR`
//! (and, for the PostgreSQL store, `WRIT_LEDGER_CRASH_PG_URL` and `WRIT_LEDGER_CRASH_PG_SCHEMA`:
//! the same trials run against a real PostgreSQL, see `storage.rs`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use writ_ledger::Ledger;

use crate::{Rng, entry};

const TRIALS: usize = 50;
const THREADS: u64 = 4;

/// The child side: appends until killed, printing `ACK index hex(entry)` after each
/// acknowledgement and `CP size root_b64` for each checkpoint it has seen published.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os("WRIT_LEDGER_CRASH_DIR") else {
        return;
    };
    let trial: u64 = std::env::var("WRIT_LEDGER_CRASH_TRIAL")
        .unwrap()
        .parse()
        .unwrap();
    let ledger = match (
        std::env::var("WRIT_LEDGER_CRASH_PG_URL"),
        std::env::var("WRIT_LEDGER_CRASH_PG_SCHEMA"),
    ) {
        (Ok(url), Ok(schema)) => writ_ledger::pg::open_ledger(Path::new(&dir), &url, &schema),
        _ => Ledger::open(Path::new(&dir)),
    };
    let ledger = Arc::new(ledger.unwrap());
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (ledger, out) = (Arc::clone(&ledger), Arc::clone(&out));
            std::thread::spawn(move || {
                for i in 0.. {
                    let e = entry("crash", (trial << 40) | (t << 32) | i, 40);
                    let index = ledger.append_durable(&e).unwrap();
                    let cp = ledger.checkpoint();
                    let mut o = out.lock().unwrap();
                    writeln!(o, "ACK {index} {}", hex::encode(&e)).unwrap();
                    writeln!(o, "CP {} {}", cp.size(), B64.encode(cp.root())).unwrap();
                    o.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn sigkill_at_random_moments_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    drop(Ledger::init(dir.path(), "crash.example/log").unwrap());
    sigkill_trials(dir.path(), &[], TRIALS, 20, &|| {
        Ledger::open(dir.path()).unwrap()
    });
}

/// The same on the PostgreSQL store: a child killed mid-commit leaves no acknowledged entry
/// behind and no half-written batch (its transaction is rolled back by the server).
#[test]
fn sigkill_at_random_moments_loses_nothing_acknowledged_on_postgres() {
    let Some(url) = crate::storage::postgres_url() else {
        return;
    };
    let schema = format!("crash_{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    drop(writ_ledger::pg::init_ledger(dir.path(), "crash.example/log", &url, &schema).unwrap());
    let env = [
        ("WRIT_LEDGER_CRASH_PG_URL", url.as_str()),
        ("WRIT_LEDGER_CRASH_PG_SCHEMA", schema.as_str()),
    ];
    sigkill_trials(dir.path(), &env, TRIALS / 2, 250, &|| {
        writ_ledger::pg::open_ledger(dir.path(), &url, &schema).unwrap()
    });
    writ_ledger::pg::PgStore::drop_schema(&url, &schema).unwrap();
}

/// `trials` children killed at a random moment up to `start_ms` + 180 ms after their first
/// acknowledgement.
fn sigkill_trials(
    dir: &Path,
    env: &[(&str, &str)],
    trials: usize,
    start_ms: u64,
    open: &dyn Fn() -> Ledger,
) {
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng::from_time();
    let mut acked: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    // Checkpoints published by the current child, plus the one found after the last reopen;
    // consistency is transitive, so checking these each trial covers every earlier one.
    let mut published: BTreeMap<u64, String> = BTreeMap::new();
    let mut total_published = 0usize;
    let mut kills_with_acks = 0;
    for trial in 0..trials {
        let mut child = Command::new(&exe)
            .args([
                "crash::crash_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("WRIT_LEDGER_CRASH_DIR", dir)
            .envs(env.iter().copied())
            .env("WRIT_LEDGER_CRASH_TRIAL", trial.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (first_tx, first_rx) = std::sync::mpsc::channel::<()>();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("ACK ") {
                    let _ = first_tx.send(());
                }
                lines.push(line);
            }
            lines
        });
        // The random moment counts from the child's first acknowledgement (its open takes
        // longer on a loaded machine), so every kill meets a running appender; a child that
        // never acknowledges within the deadline is killed then (and fails the count below).
        let _ = first_rx.recv_timeout(Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(rng.below(start_ms + 180)));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        let before = acked.len();
        let mut new_acks = Vec::new();
        for line in lines {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts.as_slice() {
                ["ACK", index, hex_entry] => {
                    if let (Ok(i), Ok(e)) = (index.parse::<u64>(), hex::decode(hex_entry)) {
                        assert!(
                            acked.insert(i, e.clone()).is_none(),
                            "index {i} acknowledged twice"
                        );
                        new_acks.push((i, e));
                    }
                }
                ["CP", size, root] if root.len() == 44 => {
                    if let Ok(s) = size.parse::<u64>()
                        && let Some(old) = published.insert(s, (*root).to_owned())
                    {
                        assert_eq!(&old, root, "two roots published for size {s}");
                    }
                }
                _ => {} // a line cut by the kill
            }
        }
        if acked.len() > before {
            kills_with_acks += 1;
        }

        let ledger = open();
        let cp = ledger.checkpoint();
        // This child's acknowledgements; earlier ones are bound by the consistency chain.
        for (index, e) in &new_acks {
            assert_eq!(
                &ledger.entry(*index).unwrap(),
                e,
                "acknowledged entry {index} lost"
            );
        }
        let report = ledger.verify(true).unwrap();
        assert!(report.ok, "trial {trial}: {:?}", report.problem);
        for (&size, root) in &published {
            assert!(size <= cp.size());
            if size == 0 {
                continue;
            }
            let proof = ledger.consistency(size, cp.size()).unwrap();
            assert_eq!(
                &proof.root1_b64, root,
                "published root at size {size} changed"
            );
            assert_eq!(proof.root2_b64, B64.encode(cp.root()));
            proof.verify().unwrap();
        }
        total_published += published.len();
        published.clear();
        published.insert(cp.size(), B64.encode(cp.root()));
    }
    eprintln!(
        "{} acknowledged, {total_published} checkpoints checked",
        acked.len()
    );
    assert!(
        acked.len() > 50,
        "only {} appends acknowledged",
        acked.len()
    );
    assert!(
        kills_with_acks >= trials / 2,
        "{kills_with_acks} kills hit a running appender"
    );
}
