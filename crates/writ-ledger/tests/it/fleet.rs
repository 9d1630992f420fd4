//! Many writers (nodes) on one PostgreSQL ledger: several `Ledger`s open the same schema with
//! copies of one log key and append at once. Batches are serialized by the sequence row lock
//! (the integration lease), a paused or dead holder loses it, and its late commit never lands.
//! PostgreSQL only (skipped without `WRIT_TEST_POSTGRES_URL`, as in storage.rs); every test
//! works in a schema of its own, dropped at the end. No timing decides a test: it waits for
//! conditions with generous deadlines.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use writ_ledger::pg::PgStore;
use writ_ledger::proof::verify_consistency;
use writ_ledger::store::{BatchWrite, LogReader, LogStore};
use writ_ledger::{Ledger, LedgerError, SignedCheckpoint, leaf_hash};

use crate::entry;
use crate::storage::postgres_url;

const DEADLINE: Duration = Duration::from_secs(30);
const ORIGIN: &str = "example.com/fleet";

static SCHEMAS: AtomicU64 = AtomicU64::new(0);

/// One schema and the key directories of the nodes sharing it (node 0 made the key, the others
/// hold copies of `log.key`).
struct Fleet {
    url: String,
    schema: String,
    dirs: Vec<tempfile::TempDir>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = PgStore::drop_schema(&self.url, &self.schema);
    }
}

impl Fleet {
    /// Creates the ledger with node 0 and copies its key to `nodes - 1` more directories;
    /// returns the fleet and node 0's ledger.
    fn init(url: &str, nodes: usize) -> (Fleet, Ledger) {
        let schema = format!(
            "fleet{}_{}_{}",
            std::process::id(),
            SCHEMAS.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let first = tempfile::tempdir().unwrap();
        let ledger = writ_ledger::pg::init_ledger(first.path(), ORIGIN, url, &schema).unwrap();
        let key = first.path().join(writ_ledger::ledger::KEY_FILE);
        let mut dirs = vec![first];
        for _ in 1..nodes {
            let d = tempfile::tempdir().unwrap();
            let copy = d.path().join(writ_ledger::ledger::KEY_FILE);
            std::fs::copy(&key, &copy).unwrap();
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o600)).unwrap();
            dirs.push(d);
        }
        (
            Fleet {
                url: url.to_owned(),
                schema,
                dirs,
            },
            ledger,
        )
    }

    /// Opens node `n`'s ledger (with `url`, e.g. one naming an application).
    fn open_with_url(&self, n: usize, url: &str) -> Ledger {
        writ_ledger::pg::open_ledger(self.dirs[n].path(), url, &self.schema).unwrap()
    }

    fn open(&self, n: usize) -> Ledger {
        self.open_with_url(n, &self.url)
    }

    fn key_dir(&self) -> &Path {
        self.dirs[0].path()
    }

    fn store(&self) -> PgStore {
        PgStore::open(&self.url, &self.schema, false).unwrap()
    }

    /// A plain client with the fleet's tables on its search path.
    fn raw_client(&self) -> postgres::Client {
        let mut c = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
        c.batch_execute(&format!("SET search_path TO {}", self.schema))
            .unwrap();
        c
    }
}

/// Waits (up to [`DEADLINE`]) until `cond` holds; panics with `what` otherwise.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Appends `e` until it succeeds (a batch may fail while the lock is held by someone else and
/// its wait times out); returns the index. Panics past [`DEADLINE`].
fn append_retrying(ledger: &Ledger, e: &[u8]) -> u64 {
    let start = Instant::now();
    loop {
        match ledger.append_durable(e) {
            Ok(i) => return i,
            Err(err) => {
                assert!(
                    matches!(err, LedgerError::CommitFailed(_)),
                    "unexpected error: {err}"
                );
                assert!(
                    start.elapsed() < DEADLINE,
                    "no append succeeded before the deadline: {err}"
                );
            }
        }
    }
}

fn consistency_hashes(ledger: &Ledger, from: u64, to: u64) -> Vec<writ_ledger::Hash> {
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
fn three_nodes_appending_at_once_build_one_consistent_log() {
    let Some(url) = postgres_url() else {
        return;
    };
    const THREADS: u64 = 3;
    const PER_THREAD: u64 = 100;
    let (fleet, a) = Fleet::init(&url, 3);
    let nodes = [a, fleet.open(1), fleet.open(2)];
    assert!(nodes.iter().all(|l| l.integration().shared));
    let per_node = THREADS * PER_THREAD;
    let total = per_node * nodes.len() as u64;
    // (node, index, entry) of every append.
    let mut appended: Vec<(usize, u64, Vec<u8>)> = std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .iter()
            .enumerate()
            .flat_map(|(n, ledger)| {
                (0..THREADS).map(move |t| {
                    s.spawn(move || {
                        (0..PER_THREAD)
                            .map(|i| {
                                let e = entry(&format!("node{n}"), t * PER_THREAD + i, 24);
                                let index = ledger
                                    .append_durable(&e)
                                    .unwrap_or_else(|err| panic!("node {n}: {err}"));
                                (n, index, e)
                            })
                            .collect::<Vec<_>>()
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    appended.sort_by_key(|(_, i, _)| *i);
    let indexes: Vec<u64> = appended.iter().map(|(_, i, _)| *i).collect();
    assert_eq!(
        indexes,
        (0..total).collect::<Vec<_>>(),
        "indexes not distinct and dense"
    );
    // Every node sees the whole log (the follower moves the size of those that did not write
    // the last batch).
    for (n, l) in nodes.iter().enumerate() {
        let start = Instant::now();
        while l.size() < total {
            assert!(start.elapsed() < DEADLINE, "node {n} stuck at {}", l.size());
            l.wait_for_growth(l.size(), Duration::from_millis(500));
        }
        assert_eq!(l.size(), total, "node {n}");
        assert!(l.integration().follower_error.is_none(), "node {n}");
    }
    // Each node reads every entry where its appender was told it went.
    for l in &nodes {
        let all = l.entries(0, total).unwrap();
        for (_, index, e) in &appended {
            assert_eq!(&all[*index as usize], e);
        }
    }
    // Every node integrated some batches, and each batch stored exactly one checkpoint.
    let batches: Vec<u64> = nodes.iter().map(|l| l.integration().batches).collect();
    assert!(batches.iter().all(|b| *b > 0), "{batches:?}");
    let stored = fleet.store().all_checkpoints().unwrap();
    assert_eq!(
        stored.len() as u64,
        1 + batches.iter().sum::<u64>(),
        "{batches:?}"
    );
    // The whole log verifies from outside.
    let r = writ_ledger::pg::verify_ledger(fleet.key_dir(), &url, &fleet.schema, true).unwrap();
    assert!(r.ok, "{r:?}");
    assert_eq!(r.size, total);
    assert_eq!(r.entries_checked, total);
    // Every stored checkpoint, whoever signed it, is consistent with the latest: proofs served
    // by node 1 from tiles that all three nodes wrote.
    let b = &nodes[1];
    let latest = b.checkpoint();
    for (size, note) in &stored {
        let cp = SignedCheckpoint::open(std::str::from_utf8(note).unwrap(), b.verifier()).unwrap();
        assert_eq!(cp.size(), *size);
        if *size == 0 || *size == total {
            continue;
        }
        let hashes = consistency_hashes(b, *size, total);
        verify_consistency(*size, total, cp.root(), latest.root(), &hashes).unwrap();
        b.consistency(*size, total).unwrap().verify().unwrap();
    }
    // An entry node 0 appended, proved by node 1 (latest and an older checkpoint another node
    // may have written) and by node 2.
    let (_, from_a, e) = appended.iter().find(|(n, _, _)| *n == 0).unwrap();
    let older = stored
        .iter()
        .map(|(s, _)| *s)
        .find(|s| *s > *from_a)
        .unwrap();
    for (server, size) in [(1usize, None), (1, Some(older)), (2, None)] {
        let bundle = nodes[server].proof_bundle(&[*from_a], size).unwrap();
        let json = serde_json::to_vec(&bundle).unwrap();
        let checked = writ_ledger::ProofBundle::from_json(&json)
            .unwrap()
            .verify(Some(&nodes[0].vkey()))
            .unwrap();
        assert_eq!(checked.entries[0].index, *from_a);
        assert_eq!(
            bundle.entries[0].leaf_hash_b64,
            base64::engine::general_purpose::STANDARD.encode(leaf_hash(e))
        );
    }
    drop(nodes);
}

/// The stale holder is a plain client that took the sequence lock the way a writer does, with
/// the writers' idle timeout, wrote a checkpoint, and then paused. The ledger's appends
/// proceed once PostgreSQL ended the holder's session; the holder's COMMIT fails and its
/// checkpoint never appears.
#[test]
fn a_paused_lock_holder_loses_the_lease_and_its_commit_never_lands() {
    let Some(url) = postgres_url() else {
        return;
    };
    let (fleet, ledger) = Fleet::init(&url, 1);
    for i in 0..3u64 {
        ledger.append_durable(&entry("f", i, 8)).unwrap();
    }
    let mut stale = fleet.raw_client();
    stale
        .batch_execute(&format!(
            "SET idle_in_transaction_session_timeout = {}",
            writ_ledger::pg::LEASE_IDLE_TIMEOUT.as_millis()
        ))
        .unwrap();
    stale.batch_execute("BEGIN").unwrap();
    let next: i64 = stale
        .query_one("SELECT next_index FROM sequence FOR UPDATE", &[])
        .unwrap()
        .get(0);
    assert_eq!(next, 3);
    stale
        .batch_execute(
            "UPDATE sequence SET next_index = next_index + 1;
             INSERT INTO checkpoints (size, note) VALUES (4, 'stale holder');",
        )
        .unwrap();
    // The holder now sits idle in its transaction (paused). The ledger's batch waits for the
    // lock, or fails its wait and is retried, until the holder's lease expired.
    let index = append_retrying(&ledger, &entry("f", 3, 8));
    assert_eq!(index, 3);
    assert!(ledger.integration().last_lock_wait_ms.is_some());
    // The holder wakes up and commits: refused, its session is gone.
    assert!(stale.batch_execute("COMMIT").is_err());
    let note = fleet.store().checkpoint_at(4).unwrap().unwrap();
    assert_ne!(note, b"stale holder".to_vec());
    SignedCheckpoint::open(std::str::from_utf8(&note).unwrap(), ledger.verifier()).unwrap();
    assert_eq!(ledger.append_durable(&entry("f", 4, 8)).unwrap(), 4);
    let r = writ_ledger::pg::verify_ledger(fleet.key_dir(), &url, &fleet.schema, true).unwrap();
    assert!(r.ok, "{r:?}");
    assert_eq!(r.size, 5);
}

/// The same with the ledger's own store as the paused writer: `PgStore::begin_batch` sets the
/// lease's timeouts on its connection, so no test setting is involved.
#[test]
fn a_paused_pg_writer_cannot_commit_after_another_took_the_lease() {
    let Some(url) = postgres_url() else {
        return;
    };
    let (fleet, ledger) = Fleet::init(&url, 1);
    ledger.append_durable(&entry("p", 0, 8)).unwrap();
    let mut paused = fleet.store();
    assert_eq!(paused.begin_batch().unwrap(), Some(1));
    let index = append_retrying(&ledger, &entry("p", 1, 8));
    assert_eq!(index, 1);
    // The paused writer resumes and commits the batch it had begun at index 1.
    let e = entry("stale", 1, 8);
    let entries = vec![e.clone()];
    let leaves = vec![leaf_hash(&e)];
    let err = paused
        .commit_batch(&BatchWrite {
            first_index: 1,
            entries: &entries,
            disclosures: &[],
            leaf_hashes: &leaves,
            tiles: &[],
            checkpoint_size: 2,
            checkpoint_note: "stale writer\n",
        })
        .unwrap_err();
    assert!(
        matches!(err, LedgerError::CommitFailed(_) | LedgerError::Database(_)),
        "{err}"
    );
    assert_eq!(ledger.entry(1).unwrap(), entry("p", 1, 8));
    let note = fleet.store().checkpoint_at(2).unwrap().unwrap();
    SignedCheckpoint::open(std::str::from_utf8(&note).unwrap(), ledger.verifier()).unwrap();
    // The same store reconnects and, begun anew, is handed the next free index.
    assert_eq!(paused.begin_batch().unwrap(), Some(2));
    paused.abort_batch();
    let r = writ_ledger::pg::verify_ledger(fleet.key_dir(), &url, &fleet.schema, true).unwrap();
    assert!(r.ok, "{r:?}");
    assert_eq!(r.size, 2);
}

/// A holder that dies (its connection closes) releases the lock at once: no timeout is set on
/// it, so only its death lets the ledger's blocked batch through.
#[test]
fn a_dead_lock_holder_releases_the_lease() {
    let Some(url) = postgres_url() else {
        return;
    };
    let app = format!("writ_fleet_dead_{}", std::process::id());
    let sep = if url.contains('?') { '&' } else { '?' };
    let app_url = format!("{url}{sep}application_name={app}");
    let (fleet, first) = Fleet::init(&url, 1);
    drop(first);
    let ledger = fleet.open_with_url(0, &app_url);
    ledger.append_durable(&entry("d", 0, 8)).unwrap();
    let mut holder = fleet.raw_client();
    holder
        .batch_execute("BEGIN; SELECT next_index FROM sequence FOR UPDATE")
        .unwrap();
    let mut watch = fleet.raw_client();
    std::thread::scope(|s| {
        let appender = s.spawn(|| append_retrying(&ledger, &entry("d", 1, 8)));
        // The ledger's writer is blocked on the holder's lock.
        wait_until("the ledger's writer waits for the lock", || {
            watch
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
                    &[&app],
                )
                .unwrap()
                .get::<_, i64>(0)
                > 0
        });
        assert!(!appender.is_finished());
        drop(holder);
        assert_eq!(appender.join().unwrap(), 1);
    });
    assert_eq!(ledger.size(), 2);
}

/// The follower refuses a checkpoint that the log's key did not sign: the size does not move,
/// status reports it, and the writer cannot store a checkpoint over it either (size-keyed).
#[test]
fn the_follower_refuses_a_checkpoint_with_a_bad_signature() {
    let Some(url) = postgres_url() else {
        return;
    };
    let (fleet, a) = Fleet::init(&url, 2);
    let b = fleet.open(1);
    a.append_durable(&entry("s", 0, 8)).unwrap();
    wait_until("node 1 follows node 0", || b.size() == 1);
    let forged = a.checkpoint().note().replace("\n1\n", "\n2\n");
    let mut raw = fleet.raw_client();
    raw.execute(
        "INSERT INTO checkpoints (size, note) VALUES (2, $1)",
        &[&forged.as_bytes()],
    )
    .unwrap();
    wait_until("node 1 refuses the forged checkpoint", || {
        b.integration().rejected_checkpoints > 0
    });
    assert_eq!(b.size(), 1);
    assert!(b.integration().follower_error.is_some());
    // A batch that would store its checkpoint at the forged one's size fails, closed.
    assert!(b.append_durable(&entry("s", 1, 8)).is_err());
    assert_eq!(b.size(), 1);
    raw.execute("DELETE FROM checkpoints WHERE size = 2", &[])
        .unwrap();
    wait_until("node 1's follower recovers", || {
        b.integration().follower_error.is_none()
    });
    assert_eq!(append_retrying(&b, &entry("s", 2, 8)), 1);
    wait_until("node 0 follows node 1", || a.size() == 2);
}

/// The sequence check stays behind the lock: a batch integrated from another index than the
/// one the database hands out is refused, and the store goes on.
#[test]
fn a_batch_from_the_wrong_index_is_refused_under_the_lock() {
    let Some(url) = postgres_url() else {
        return;
    };
    let (fleet, ledger) = Fleet::init(&url, 1);
    ledger.append_durable(&entry("q", 0, 8)).unwrap();
    let mut store = fleet.store();
    assert!(store.shared());
    assert_eq!(store.begin_batch().unwrap(), Some(1));
    let e = entry("q", 9, 8);
    let err = store
        .commit_batch(&BatchWrite {
            first_index: 5,
            entries: std::slice::from_ref(&e),
            disclosures: &[],
            leaf_hashes: &[leaf_hash(&e)],
            tiles: &[],
            checkpoint_size: 6,
            checkpoint_note: "wrong\n",
        })
        .unwrap_err();
    assert!(matches!(err, LedgerError::CommitFailed(_)), "{err}");
    assert_eq!(store.latest_checkpoint_size().unwrap(), Some(1));
    // The lock was released with the rollback: the ledger appends.
    assert_eq!(ledger.append_durable(&entry("q", 1, 8)).unwrap(), 1);
}

/// A SQLite ledger has one writer: no follower, no lock wait, integration counted.
#[test]
fn a_sqlite_ledger_reports_a_single_writer() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::init(dir.path(), ORIGIN).unwrap();
    let before = ledger.integration();
    assert!(!before.shared);
    assert_eq!(before.batches, 0);
    assert_eq!(before.last_integrated_unix, None);
    ledger.append_durable(&entry("one", 0, 8)).unwrap();
    let after = ledger.integration();
    assert_eq!(after.batches, 1);
    assert!(after.last_integrated_unix.is_some());
    assert_eq!(after.last_lock_wait_ms, None);
    assert!(!after.holding);
}

/// Closing a ledger stops its writer and its follower: every connection it opened is gone.
#[test]
fn closing_a_shared_ledger_stops_its_follower() {
    let Some(url) = postgres_url() else {
        return;
    };
    let app = format!("writ_fleet_close_{}", std::process::id());
    let sep = if url.contains('?') { '&' } else { '?' };
    let app_url = format!("{url}{sep}application_name={app}");
    let (fleet, first) = Fleet::init(&url, 2);
    let ledger = fleet.open_with_url(1, &app_url);
    let mut watch = fleet.raw_client();
    let mut connections = || -> i64 {
        watch
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&app],
            )
            .unwrap()
            .get(0)
    };
    // Writer, reader and follower.
    assert_eq!(connections(), 3);
    // The follower works: it sees node 0's append.
    first.append_durable(&entry("c", 0, 8)).unwrap();
    wait_until("node 1 follows node 0", || ledger.size() == 1);
    ledger.close();
    wait_until("every connection of the closed ledger is gone", || {
        connections() == 0
    });
}

/// One node's output as it runs: a channel of its lines, and all of them once it exits.
struct Node {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    all: Option<std::thread::JoinHandle<Vec<String>>>,
    acks: usize,
}

impl Drop for Node {
    /// A failed assertion never leaves a node behind (a stopped one would hold its lock).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn spawn(dir: &Path, url: &str, schema: &str, trial: u64) -> Node {
        use std::io::BufRead;
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "crash::crash_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("WRIT_LEDGER_CRASH_DIR", dir)
            .env("WRIT_LEDGER_CRASH_PG_URL", url)
            .env("WRIT_LEDGER_CRASH_PG_SCHEMA", schema)
            .env("WRIT_LEDGER_CRASH_TRIAL", trial.to_string())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        let all = std::thread::spawn(move || {
            let mut all = Vec::new();
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line.clone());
                all.push(line);
            }
            all
        });
        Node {
            child,
            lines,
            all: Some(all),
            acks: 0,
        }
    }

    /// Waits until the node acknowledged `n` appends in all (false at the deadline or when it
    /// exited first).
    fn wait_acks(&mut self, n: usize, deadline: Duration) -> bool {
        let start = Instant::now();
        while self.acks < n {
            let left = deadline.saturating_sub(start.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with("ACK ") => self.acks += 1,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        true
    }

    fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} failed");
    }

    /// SIGKILLs the node and returns every line it printed.
    fn kill(mut self) -> Vec<String> {
        let _ = self.child.kill();
        self.child.wait().unwrap();
        self.all.take().unwrap().join().unwrap()
    }
}

/// Two node processes append to one schema at once; one of them is SIGKILLed (its socket
/// closes) or SIGSTOPped (its lease expires) and later resumed, at a random moment, possibly
/// inside its batch. The other keeps acknowledging appends; no index is ever acknowledged
/// twice (a paused node's late commit never lands), every acknowledged entry is in the log at
/// its index, and every checkpoint either node saw is consistent with the final one.
#[test]
fn a_node_killed_or_paused_under_load_never_stops_the_other_or_forks_the_log() {
    let Some(url) = postgres_url() else {
        return;
    };
    use base64::engine::general_purpose::STANDARD as B64;
    let (fleet, ledger) = Fleet::init(&url, 1);
    drop(ledger);
    let dir = fleet.key_dir().to_owned();
    let mut rng = crate::Rng::from_time();
    let mut acked: std::collections::BTreeMap<u64, Vec<u8>> = Default::default();
    let mut published: std::collections::BTreeMap<u64, String> = Default::default();
    let sep = if url.contains('?') { '&' } else { '?' };
    let mut watch = fleet.raw_client();
    for round in 0..6u64 {
        let app = format!("writ_node_{}_{round}", std::process::id());
        let a_url = format!("{url}{sep}application_name={app}");
        let mut a = Node::spawn(&dir, &a_url, &fleet.schema, 2 * round);
        let mut b = Node::spawn(&dir, &url, &fleet.schema, 2 * round + 1);
        assert!(
            a.wait_acks(1, DEADLINE),
            "round {round}: node A never appended"
        );
        assert!(
            b.wait_acks(1, DEADLINE),
            "round {round}: node B never appended"
        );
        std::thread::sleep(Duration::from_millis(rng.below(150)));
        let pause = round % 2 == 1;
        if pause {
            // Paused inside a batch: its writer's session is idle in its transaction (holding
            // the sequence lock) or waiting for the lock (granted while A sleeps). Until then,
            // A is resumed and paused again.
            let mut inside = false;
            for _ in 0..200 {
                a.signal("-STOP");
                let n: i64 = watch
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
                         AND (state = 'idle in transaction' OR wait_event_type = 'Lock')",
                        &[&app],
                    )
                    .unwrap()
                    .get(0);
                if n > 0 {
                    inside = true;
                    break;
                }
                a.signal("-CONT");
                std::thread::sleep(Duration::from_millis(rng.below(10)));
            }
            assert!(
                inside,
                "round {round}: node A was never paused inside a batch"
            );
        } else {
            a.signal("-KILL");
        }
        // The fleet goes on without A: B acknowledges more appends.
        let target = b.acks + 20;
        assert!(
            b.wait_acks(target, DEADLINE),
            "round {round}: node B stalled after node A was {}",
            if pause { "paused" } else { "killed" }
        );
        if pause {
            // A resumes; its stale batch (if it held the lease) fails, later ones go on.
            a.signal("-CONT");
            let again = a.acks + 5;
            let _ = a.wait_acks(again, Duration::from_secs(10));
        }
        let mut lines = a.kill();
        lines.extend(b.kill());
        for line in lines {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts.as_slice() {
                ["ACK", index, hex_entry] => {
                    if let (Ok(i), Ok(e)) = (index.parse::<u64>(), hex::decode(hex_entry)) {
                        assert!(
                            acked.insert(i, e).is_none(),
                            "round {round}: index {i} acknowledged twice"
                        );
                    }
                }
                ["CP", size, root] if root.len() == 44 => {
                    if let Ok(s) = size.parse::<u64>()
                        && let Some(old) = published.insert(s, (*root).to_owned())
                    {
                        assert_eq!(&old, root, "round {round}: two roots for size {s}");
                    }
                }
                _ => {}
            }
        }
    }
    let ledger = fleet.open(0);
    let cp = ledger.checkpoint();
    for (index, e) in &acked {
        assert_eq!(
            &ledger.entry(*index).unwrap(),
            e,
            "acknowledged {index} lost"
        );
    }
    for (&size, root) in &published {
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
    drop(ledger);
    let r = writ_ledger::pg::verify_ledger(fleet.key_dir(), &url, &fleet.schema, true).unwrap();
    assert!(r.ok, "{r:?}");
    eprintln!(
        "{} acknowledged by two nodes, {} checkpoints checked, final size {}",
        acked.len(),
        published.len(),
        r.size
    );
}
