//! Crash safety: a child process appends from several threads and is killed with SIGKILL at a
//! random moment; after each kill the store reopens with every acknowledged entry at its
//! acknowledged index, verifies, and its new checkpoint is consistent with every checkpoint
//! the child had published.
//!
//! The child is this test binary itself, re-run on `crash_child` with `WRIT_LEDGER_CRASH_DIR`.

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
    let ledger = Arc::new(Ledger::open(Path::new(&dir)).unwrap());
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
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng::from_time();
    let mut acked: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    // Checkpoints published by the current child, plus the one found after the last reopen;
    // consistency is transitive, so checking these each trial covers every earlier one.
    let mut published: BTreeMap<u64, String> = BTreeMap::new();
    let mut total_published = 0usize;
    let mut kills_with_acks = 0;
    for trial in 0..TRIALS {
        let mut child = Command::new(&exe)
            .args([
                "crash::crash_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("WRIT_LEDGER_CRASH_DIR", dir.path())
            .env("WRIT_LEDGER_CRASH_TRIAL", trial.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        std::thread::sleep(Duration::from_millis(20 + rng.below(180)));
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

        let ledger = Ledger::open(dir.path()).unwrap();
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
        kills_with_acks >= TRIALS / 2,
        "{kills_with_acks} kills hit a running appender"
    );
}
