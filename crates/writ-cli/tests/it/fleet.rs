//! A fleet: several `writ serve` nodes on one PostgreSQL (the test server of
//! scripts/postgres.sh, or one of their own for the outage test). Each node is a real process
//! with its own data directory holding only the key files copied from the first node's.
//! Skipped without WRIT_TEST_POSTGRES_URL unless WRIT_REQUIRE_CONFORMANCE=1.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use serde_json::Value;
use writ_ledger::{Ed25519Verifier, SignedCheckpoint};

use crate::serve::{
    Returned, Served, admin_token, authorize_body, check_after_restart, http, provision,
};

/// Files a further node needs from the first node's data directory.
const NODE_FILES: [&str; 3] = ["ledger/log.key", "writ-signing.key", "bundle-trust.txt"];

/// The test PostgreSQL server's URL, or `None` after saying the test skips.
pub(crate) fn postgres_url() -> Option<String> {
    let url = std::env::var("WRIT_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        assert!(
            std::env::var("WRIT_REQUIRE_CONFORMANCE").as_deref() != Ok("1"),
            "WRIT_TEST_POSTGRES_URL is unset and WRIT_REQUIRE_CONFORMANCE=1"
        );
        eprintln!("skipped: WRIT_TEST_POSTGRES_URL unset (bash scripts/postgres.sh start)");
    }
    url
}

/// A schema prefix no other test uses.
fn unique_prefix(what: &str) -> String {
    let mut r = [0u8; 4];
    getrandom::fill(&mut r).unwrap();
    format!("{what}_{}_{}", std::process::id(), hex::encode(r))
}

/// Nodes of one fleet, started in order: the first with `--init`.
struct Fleet {
    nodes: Vec<Option<Served>>,
    dirs: Vec<PathBuf>,
    env: Vec<(String, String)>,
    prefix: String,
    url: String,
}

impl Fleet {
    fn start(root: &Path, url: &str, prefix: &str, n: usize) -> Fleet {
        Fleet::start_with_env(root, url, prefix, n, &[])
    }

    /// [`Fleet::start`] with `extra` added to every node's environment.
    fn start_with_env(
        root: &Path,
        url: &str,
        prefix: &str,
        n: usize,
        extra: &[(&str, &str)],
    ) -> Fleet {
        let mut env = vec![
            ("WRIT_DATABASE_URL".to_owned(), url.to_owned()),
            ("WRIT_DATABASE_SCHEMA".to_owned(), prefix.to_owned()),
            // Sweeps often, so a killed node's executions are ended within the test.
            ("WRIT_LEASE_SWEEP_SECS".to_owned(), "1".to_owned()),
        ];
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let mut fleet = Fleet {
            nodes: Vec::new(),
            dirs: Vec::new(),
            env,
            prefix: prefix.to_owned(),
            url: url.to_owned(),
        };
        for i in 0..n {
            let dir = root.join(format!("node{}", i + 1));
            if i > 0 {
                copy_node_files(&fleet.dirs[0], &dir);
            }
            fleet.dirs.push(dir);
            let served = fleet.launch(i);
            fleet.nodes.push(Some(served));
        }
        fleet
    }

    /// A fleet of `n` nodes provisioned through node 1 (the default bundle, an agent and
    /// `gate:mcp-1`), every node authorizing the agent: (fleet, admin token, agent token, gate
    /// key).
    fn provisioned(
        root: &Path,
        url: &str,
        prefix: &str,
        n: usize,
        extra: &[(&str, &str)],
    ) -> (Fleet, String, String, SigningKey) {
        let fleet = Fleet::start_with_env(root, url, prefix, n, extra);
        let admin = admin_token(&fleet.dirs[0]);
        // Principal, gate and bundle are made on node 1 only: the others learn them from the
        // database.
        let (agent, key) = provision(&fleet.url(0), &admin, root);
        for i in 1..n {
            wait_until_authorizing(&fleet.url(i), &agent, &key);
        }
        (fleet, admin, agent, key)
    }

    fn launch(&self, i: usize) -> Served {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Served::start_with(
            &self.dirs[i],
            i == 0 && !self.dirs[0].join("ledger").exists(),
            None,
            &env,
        )
    }

    fn url(&self, i: usize) -> String {
        self.nodes[i].as_ref().unwrap().url.clone()
    }

    fn urls(&self) -> Vec<String> {
        self.nodes.iter().flatten().map(|s| s.url.clone()).collect()
    }

    fn verifier(&self) -> Ed25519Verifier {
        let vkey = &self.nodes.iter().flatten().next().unwrap().vkey;
        Ed25519Verifier::from_vkey(vkey).unwrap()
    }

    /// Stops every node still running with SIGTERM; each must exit 0.
    fn stop(&mut self) {
        for node in self.nodes.iter_mut() {
            if let Some(n) = node.take() {
                n.signal("-TERM");
                assert_eq!(n.wait(Duration::from_secs(30)), Some(0));
            }
        }
    }

    /// `writ ledger verify --database` (full) on the fleet's ledger: must print ok.
    fn verify_ledger(&self) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_writ"))
            .args(["ledger", "verify", "--dir"])
            .arg(self.dirs[0].join("ledger"))
            .args(["--schema", &format!("{}_ledger", self.prefix)])
            .env("WRIT_DATABASE_URL", &self.url)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && text.starts_with("ok:"),
            "verify: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    fn drop_schemas(&self) {
        for s in ["ledger", "control"] {
            let _ =
                writ_ledger::pg::PgStore::drop_schema(&self.url, &format!("{}_{s}", self.prefix));
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.nodes.clear();
        self.drop_schemas();
    }
}

/// Copies the first node's key and trust files into a new data directory `to` (0700, files
/// 0600), as docs/fleet.md says to.
fn copy_node_files(from: &Path, to: &Path) {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(to.join("ledger"))
        .unwrap();
    for f in NODE_FILES {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
        std::fs::set_permissions(to.join(f), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// Waits until `url` authorizes the agent's call (200), for a node that learns of a bundle,
/// principal or gate made on another node; panics after 30 s.
fn wait_until_authorizing(url: &str, agent: &str, key: &SigningKey) {
    let client = http();
    let start = Instant::now();
    loop {
        let (st, v) = client.call(
            "POST",
            &format!("{url}/v1/authorize"),
            Some(agent),
            Some(&authorize_body(key)),
        );
        if st == 200 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{url} never authorized: {st} {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until node `url` publishes a checkpoint of more than `index` entries.
fn wait_for_size(url: &str, verifier: &Ed25519Verifier, index: u64) {
    let client = http();
    let start = Instant::now();
    loop {
        let (_, v) = client.call("GET", &format!("{url}/ledger/checkpoint"), None, None);
        if let Some(note) = v.as_str()
            && SignedCheckpoint::open(note, verifier).unwrap().size() > index
        {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{url} never caught up with index {index}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Authorization load on several nodes at once: `tasks` loops per node, each recording the
/// writs its node returned (with the node's number), plus every checkpoint seen on any node.
struct Load {
    rt: tokio::runtime::Runtime,
    got: Arc<Mutex<Vec<(usize, Returned, Instant)>>>,
    statuses: Arc<Mutex<BTreeMap<u16, usize>>>,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(urls: &[String], tasks: usize, agent: &str, key: &SigningKey) -> Load {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut load = Load {
            rt,
            got: Arc::default(),
            statuses: Arc::default(),
            seen: Arc::default(),
            stop: Arc::default(),
            tasks: Vec::new(),
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        for (node, url) in urls.iter().enumerate() {
            for _ in 0..tasks {
                let (client, url, got, statuses, stop, agent, body) = (
                    client.clone(),
                    url.clone(),
                    load.got.clone(),
                    load.statuses.clone(),
                    load.stop.clone(),
                    agent.to_owned(),
                    authorize_body(key),
                );
                load.tasks.push(load.rt.spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let resp = client
                            .post(format!("{url}/v1/authorize"))
                            .bearer_auth(&agent)
                            .json(&body)
                            .send()
                            .await;
                        let Ok(resp) = resp else {
                            *statuses.lock().unwrap().entry(0).or_default() += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        };
                        let status = resp.status().as_u16();
                        *statuses.lock().unwrap().entry(status).or_default() += 1;
                        let Ok(v) = resp.json::<Value>().await else {
                            continue;
                        };
                        if status != 200 {
                            assert!(v.get("writ").is_none(), "a {status} carried a writ: {v}");
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                        got.lock().unwrap().push((
                            node,
                            Returned {
                                execution: v["execution"].as_str().unwrap().to_owned(),
                                writ: v["writ"].as_str().unwrap().to_owned(),
                                ledger_index: v["ledger_index"].as_u64().unwrap(),
                            },
                            Instant::now(),
                        ));
                    }
                }));
            }
            let (client, url, seen, stop) = (
                client.clone(),
                url.clone(),
                load.seen.clone(),
                load.stop.clone(),
            );
            load.tasks.push(load.rt.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(resp) = client.get(format!("{url}/ledger/checkpoint")).send().await
                        && resp.status().is_success()
                        && let Ok(text) = resp.text().await
                    {
                        seen.lock().unwrap().push(text);
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }));
        }
        load
    }

    /// Writs returned so far by node `node` (any node with `None`).
    fn count(&self, node: Option<usize>) -> usize {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _, _)| node.is_none_or(|x| x == *n))
            .count()
    }

    /// Waits until `enough` holds (30 s at most, then panics naming `what`).
    fn wait(&self, what: &str, enough: impl Fn(&Load) -> bool) {
        let start = Instant::now();
        while !enough(self) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "load: {what} did not happen; statuses {:?}",
                self.statuses.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn finish(self) -> Finished {
        self.stop.store(true, Ordering::Relaxed);
        self.rt.block_on(async {
            for t in self.tasks {
                let r = tokio::time::timeout(Duration::from_secs(20), t).await;
                // A task that panicked (a writ on a refusal) fails the test.
                if let Ok(Err(e)) = r
                    && e.is_panic()
                {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        });
        let got = self.got.lock().unwrap().clone();
        let seen = self.seen.lock().unwrap().clone();
        let statuses = self.statuses.lock().unwrap().clone();
        (got, seen, statuses)
    }
}

/// What a [`Load`] gathered: the writs (by node, when returned), the checkpoints seen and the
/// count of each answer status (0: no answer).
type Finished = (
    Vec<(usize, Returned, Instant)>,
    Vec<String>,
    BTreeMap<u16, usize>,
);

/// No two checkpoints of the same size differ; returns how many distinct sizes were seen.
fn one_checkpoint_per_size(notes: &[String], verifier: &Ed25519Verifier) -> usize {
    let mut by_size: BTreeMap<u64, String> = BTreeMap::new();
    for note in notes {
        let cp = SignedCheckpoint::open(note, verifier).unwrap();
        let root = hex::encode(cp.root());
        if let Some(prev) = by_size.insert(cp.size(), root.clone()) {
            assert_eq!(prev, root, "two checkpoints of size {} differ", cp.size());
        }
    }
    by_size.len()
}

/// Three nodes on one database, authorizations spread over all three: one log, every writ's
/// decision in it (proved by a node other than the one that issued it), every checkpoint any
/// node published consistent with the latest, `writ ledger verify --database` ok.
#[test]
fn three_nodes_share_one_consistent_log_holding_every_writ() {
    let Some(url) = postgres_url() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let prefix = unique_prefix("fleet3");
    let (mut fleet, admin, agent, key) = Fleet::provisioned(tmp.path(), &url, &prefix, 3, &[]);
    let verifier = fleet.verifier();
    let load = Load::start(&fleet.urls(), 3, &agent, &key);
    load.wait("every node returning 80 writs", |l| {
        (0..3).all(|n| l.count(Some(n)) >= 80)
    });
    let (got, seen, statuses) = load.finish();
    println!("statuses over the run: {statuses:?}; {} writs", got.len());
    let max_index = got.iter().map(|(_, r, _)| r.ledger_index).max().unwrap();
    let mut indexes: Vec<u64> = got.iter().map(|(_, r, _)| r.ledger_index).collect();
    indexes.sort_unstable();
    indexes.dedup();
    assert_eq!(
        indexes.len(),
        got.len(),
        "two writs name the same ledger entry"
    );
    for i in 0..3 {
        wait_for_size(&fleet.url(i), &verifier, max_index);
    }
    let sizes = one_checkpoint_per_size(&seen, &verifier);
    println!("{sizes} checkpoint sizes seen across the nodes");
    for issuer in 0..3 {
        let mine: Vec<Returned> = got
            .iter()
            .filter(|(n, _, _)| *n == issuer)
            .map(|(_, r, _)| r.clone())
            .collect();
        // Proved by the next node: its index followed the shared log.
        let prover = (issuer + 1) % 3;
        check_after_restart(&fleet.url(prover), &agent, &admin, &verifier, &mine, &seen);
    }
    // `writ status` on any node says where the fleet keeps its state.
    let (code, out, err) = crate::serve::writ_env(
        &["status", "--control-plane", &fleet.url(2)],
        &[("WRIT_TOKEN", &admin)],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "PostgreSQL, schemas {prefix}_ledger and {prefix}_control"
        )),
        "{out}"
    );
    assert!(!out.contains(url.split('@').next().unwrap()), "{out}");
    println!("{out}");
    fleet.stop();
    println!("{}", fleet.verify_ledger().trim());
}

/// SIGKILL of the node holding the integration lease under load: the others go on (the time until another node's next writ
/// is printed), no writ any node returned is lost, the log verifies and no two checkpoints of
/// the same size differ.
#[test]
fn sigkill_of_a_node_under_load_loses_no_writ_and_the_others_go_on() {
    let Some(url) = postgres_url() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let prefix = unique_prefix("fleetkill");
    let (mut fleet, admin, agent, key) = Fleet::provisioned(tmp.path(), &url, &prefix, 3, &[]);
    let verifier = fleet.verifier();
    let load = Load::start(&fleet.urls(), 3, &agent, &key);
    load.wait("every node returning 60 writs", |l| {
        (0..3).all(|n| l.count(Some(n)) >= 60)
    });
    // The node holding the integration lease (inside a batch transaction, by its /readyz a
    // moment before), killed at once.
    let client = http();
    let victim_url = fleet.url(0);
    let start = Instant::now();
    loop {
        let (_, v) = client.call("GET", &format!("{victim_url}/readyz"), None, None);
        if v["store"]["integration"]["holding_lease"] == true {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "node 1 never held the lease"
        );
    }
    let mut victim = fleet.nodes[0].take().unwrap();
    victim.child.kill().unwrap(); // SIGKILL
    victim.child.wait().unwrap();
    let killed = Instant::now();
    let before = load.count(None);
    load.wait("the other nodes returning 150 more writs", |l| {
        l.count(None) >= before + 150
    });
    let (got, seen, statuses) = load.finish();
    let next = got
        .iter()
        .filter(|(n, _, at)| *n != 0 && *at > killed)
        .map(|(_, _, at)| at.duration_since(killed))
        .min()
        .unwrap();
    println!(
        "after the SIGKILL of node 1 (holding the lease a moment before) the next writ came from another node in {:.1} ms; statuses {statuses:?}",
        next.as_secs_f64() * 1000.0
    );
    let max_index = got.iter().map(|(_, r, _)| r.ledger_index).max().unwrap();
    wait_for_size(&fleet.url(1), &verifier, max_index);
    one_checkpoint_per_size(&seen, &verifier);
    let all: Vec<Returned> = got.iter().map(|(_, r, _)| r.clone()).collect();
    check_after_restart(&fleet.url(1), &agent, &admin, &verifier, &all, &seen);
    fleet.stop();
    fleet.verify_ledger();
}

/// A PostgreSQL server of this test's own (scripts/postgres.sh), stopped and removed on drop.
struct OwnPostgres {
    dir: String,
    url: String,
}

impl OwnPostgres {
    fn start() -> OwnPostgres {
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let var = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .unwrap()
                .to_owned()
        };
        OwnPostgres {
            dir: var("WRIT_PG_DIR"),
            url: var("WRIT_TEST_POSTGRES_URL"),
        }
    }

    fn run(&self, what: &str) {
        let out = Command::new("bash")
            .arg(script())
            .args([what, &self.dir])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "postgres.sh {what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", &self.dir])
            .output();
    }
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/postgres.sh")
}

/// The times `event: heartbeat` arrived on a gate's event feed (raw HTTP/1.1, read by a thread).
struct Heartbeats {
    at: Arc<Mutex<Vec<Instant>>>,
    stop: Arc<AtomicBool>,
}

impl Heartbeats {
    fn follow(base: &str, gate_token: &str) -> Heartbeats {
        use std::io::Write;
        let authority = base.trim_start_matches("http://").to_owned();
        let mut stream = std::net::TcpStream::connect(&authority).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        write!(
            stream,
            "GET /v1/events HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {gate_token}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        let beats = Heartbeats {
            at: Arc::default(),
            stop: Arc::default(),
        };
        let (at, stop) = (beats.at.clone(), beats.stop.clone());
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            while !stop.load(Ordering::Relaxed) {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) => break,
                    Ok(_) => {
                        if line.contains("event: heartbeat") {
                            at.lock().unwrap().push(Instant::now());
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
        });
        beats
    }

    fn count_between(&self, from: Option<Instant>, to: Option<Instant>) -> usize {
        self.at
            .lock()
            .unwrap()
            .iter()
            .filter(|t| from.is_none_or(|f| **t >= f) && to.is_none_or(|x| **t <= x))
            .count()
    }
}

impl Drop for Heartbeats {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The database stopped for 5 s under load: while it is down no node returns a writ (every
/// answer is a refusal) and a node's gates get no heartbeat, and when it is back every node
/// authorizes again and heartbeats resume, without a restart.
#[test]
fn the_database_down_for_5_s_stops_every_writ_and_every_node_recovers() {
    if postgres_url().is_none() {
        return;
    }
    let pg = OwnPostgres::start();
    let tmp = tempfile::tempdir().unwrap();
    let prefix = unique_prefix("fleetdown");
    let mut fleet = Fleet::start_with_env(
        tmp.path(),
        &pg.url,
        &prefix,
        2,
        &[("WRIT_HEARTBEAT_SECS", "1")],
    );
    let admin = admin_token(&fleet.dirs[0]);
    let (agent, key, gate_token) =
        crate::serve::provision_with_gate_token(&fleet.url(0), &admin, tmp.path());
    wait_until_authorizing(&fleet.url(1), &agent, &key);
    // A gate's event feed on node 2: heartbeats every second while node 2 can vouch for the
    // fleet's governance.
    let beats = Heartbeats::follow(&fleet.url(1), &gate_token);
    let load = Load::start(&fleet.urls(), 2, &agent, &key);
    load.wait("both nodes returning 30 writs", |l| {
        (0..2).all(|n| l.count(Some(n)) >= 30)
    });
    assert!(
        beats.count_between(None, None) > 0,
        "no heartbeat before the outage"
    );
    pg.run("pause");
    let down = Instant::now();
    // What was in flight when the server stopped may still have committed; from a second on,
    // nothing can.
    std::thread::sleep(Duration::from_secs(1));
    let quiet_from = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    let quiet_to = Instant::now();
    pg.run("resume");
    let up = Instant::now();
    let during = load
        .got
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, _, at)| *at >= quiet_from && *at <= quiet_to)
        .count();
    assert_eq!(during, 0, "writs were returned while the database was down");
    // Node 2 stopped vouching for its gates a second into the outage: no heartbeat, so its
    // gates deny once their grace is over.
    let held_from = quiet_from + Duration::from_millis(500);
    assert_eq!(
        beats.count_between(Some(held_from), Some(quiet_to)),
        0,
        "heartbeats went on while the node could not reach its database"
    );
    let mut recovered = Vec::new();
    for i in 0..2 {
        wait_until_authorizing(&fleet.url(i), &agent, &key);
        recovered.push(up.elapsed());
    }
    let start = Instant::now();
    while beats.count_between(Some(up), None) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "heartbeats never came back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = load.count(None);
    load.wait("30 more writs after the outage", |l| {
        l.count(None) >= before + 30
    });
    let (_, _, statuses) = load.finish();
    println!(
        "database down {:.1} s; nodes authorizing again {:?} after it was back; statuses {statuses:?}",
        (up - down).as_secs_f64(),
        recovered
    );
    assert!(
        statuses.get(&503).copied().unwrap_or(0) > 0,
        "no refusal while down: {statuses:?}"
    );
    fleet.stop();
    fleet.verify_ledger();
}

/// Lets every agent run every command and call every tool: the fleet tests govern by
/// revocation, not by policy.
const EXEC_AND_TOOLS: &str = r#"
@id("any-exec-any-tool")
@reason("the fleet tests govern by revocation, not by policy")
permit (principal is Agent, action in [Action::"exec", Action::"call_tool"], resource);
"#;

/// The `p`-quantile (nearest rank) of `samples`, in milliseconds.
fn quantile_ms(samples: &[Duration], p: f64) -> f64 {
    let mut s = samples.to_vec();
    s.sort();
    let i = ((p * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1;
    s[i].as_secs_f64() * 1000.0
}

/// A revocation made on node A stops a `writ exec` command whose gate follows node C, and the
/// next call of that agent through a `writ gateway mcp` attached to node B is denied: 20
/// trials, a new agent each, the times from the revocation call to each printed (p50/p99;
/// timing never decides the test, the outcomes do).
#[test]
fn a_revocation_on_one_node_stops_work_behind_the_others_20_trials() {
    let Some(url) = postgres_url() else {
        return;
    };
    let Some(py) = crate::upstream::python() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let prefix = unique_prefix("fleetrevoke");
    let fleet = Fleet::start(tmp.path(), &url, &prefix, 3);
    let (a, b, c) = (fleet.url(0), fleet.url(1), fleet.url(2));
    let admin_file = fleet.dirs[0].join("admin.token");
    let setup = crate::upstream::Setup::provision(&a, &admin_file, tmp.path(), EXEC_AND_TOOLS);
    let command = crate::upstream::probe_command(&py, &crate::upstream::unique_marker());
    setup.pin("probe", &command);
    let admin = admin_token(&fleet.dirs[0]);
    let client = http();
    let mut exec_times = Vec::new();
    let mut gateway_times = Vec::new();
    for trial in 0..20 {
        let agent = format!("agent:fleet-{trial}");
        let (st, v) = client.call(
            "POST",
            &format!("{a}/v1/admin/principals"),
            Some(&admin),
            Some(&serde_json::json!({"id": agent, "zone": "dev"})),
        );
        assert_eq!(st, 201, "{v}");
        let token_file = tmp.path().join(format!("agent-{trial}.token"));
        std::fs::write(&token_file, v["token"].as_str().unwrap()).unwrap();
        std::fs::set_permissions(
            &token_file,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        // B and C know the agent made on A (its token is accepted) before its gates start.
        let token = v["token"].as_str().unwrap();
        for node in [&b, &c] {
            let start = Instant::now();
            while client
                .call("GET", &format!("{node}/v1/whoami"), Some(token), None)
                .0
                != 200
            {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "{node} never knew {agent}"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // The gateway on B: its first call is allowed.
        let mut gw = setup.gateway_at(&b, &token_file, "probe", &[], &command);
        let whoami = serde_json::json!({"name": "whoami", "arguments": {}});
        let start = Instant::now();
        while gw
            .request("tools/call", whoami.clone())
            .get("result")
            .is_none()
        {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "B never allowed {agent}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // The command on C, watched by its gate through C's event feed.
        let started = tmp.path().join(format!("started-{trial}"));
        let report = tmp.path().join(format!("exec-{trial}.stderr"));
        let mut exec = Command::new(env!("CARGO_BIN_EXE_writ"))
            .args(["exec", "--as", &agent, "--control-plane", &c])
            .args(["--gate-id", "gate:probe", "--zone", "dev", "--gate-key"])
            .arg(&setup.key)
            .arg("--token-file")
            .arg(&token_file)
            .arg("--gate-token-file")
            .arg(&setup.gate_token)
            .args(["--allow-uncontained", "--format", "json", "--"])
            .args([
                "/bin/sh",
                "-c",
                &format!("echo > {}; exec sleep 60", started.display()),
            ])
            .env_remove("TRACEPARENT")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&report).unwrap())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while !started.exists() {
            assert!(
                exec.try_wait().unwrap().is_none(),
                "writ exec ended early: {}",
                std::fs::read_to_string(&report).unwrap_or_default()
            );
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the command never started"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // Revoked on A.
        let t0 = Instant::now();
        let (st, v) = client.call(
            "POST",
            &format!("{a}/v1/admin/revocations"),
            Some(&admin),
            Some(&serde_json::json!({"principal": agent})),
        );
        assert_eq!(st, 200, "{v}");
        let (mut exec_done, mut gw_done) = (None, None);
        while exec_done.is_none() || gw_done.is_none() {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "trial {trial}: exec stopped {exec_done:?}, gateway denied {gw_done:?}"
            );
            if exec_done.is_none() && exec.try_wait().unwrap().is_some() {
                exec_done = Some(t0.elapsed());
            }
            if gw_done.is_none() {
                let answer = gw.request("tools/call", whoami.clone());
                if let Some(code) = answer["error"]["data"]["reason_code"].as_str() {
                    // Refused for the revocation: the principal revoked, or (as revoking a
                    // principal revokes its tokens) its token no longer known on B.
                    assert!(
                        code.contains("revoked") || code == "unauthenticated",
                        "trial {trial}: {answer}"
                    );
                    gw_done = Some(t0.elapsed());
                } else {
                    assert!(answer.get("result").is_some(), "{answer}");
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        exec.wait().unwrap();
        let text = std::fs::read_to_string(&report).unwrap();
        let line = text.lines().rev().find(|l| l.starts_with('{')).unwrap();
        let r: Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            r["outcome"], "terminated_by_governance",
            "trial {trial}: {r}"
        );
        assert!(
            r["reason_code"].as_str().unwrap().contains("revoked"),
            "trial {trial}: {r}"
        );
        exec_times.push(exec_done.unwrap());
        gateway_times.push(gw_done.unwrap());
    }
    println!(
        "revoked on node A, 20 trials: writ exec on node C stopped p50 {:.1} ms, p99 {:.1} ms; the next call through the gateway on node B denied p50 {:.1} ms, p99 {:.1} ms",
        quantile_ms(&exec_times, 0.5),
        quantile_ms(&exec_times, 0.99),
        quantile_ms(&gateway_times, 0.5),
        quantile_ms(&gateway_times, 0.99),
    );
}

/// `writ bench fleet` measures one node on SQLite, one and two nodes on PostgreSQL in one run:
/// every configuration served authorizations without error, and CPU per authorization was read
/// (the figures themselves are for the closing note, not for the test).
#[test]
fn bench_fleet_measures_sqlite_and_postgres_configurations() {
    let Some(url) = postgres_url() else {
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_writ"))
        .args(["bench", "fleet", "--nodes", "2", "--concurrency", "4"])
        .args(["--duration", "1", "--warmup", "0", "--format", "json"])
        .env("WRIT_DATABASE_URL", &url)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let configs = v["configurations"].as_array().unwrap();
    let names: Vec<&str> = configs
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sqlite-1", "postgres-1", "postgres-2"], "{v}");
    for c in configs {
        assert!(c["stats"]["ok"].as_u64().unwrap() > 0, "{c}");
        assert_eq!(c["stats"]["errors"], 0, "{c}");
        assert!(
            c["node_cpu_ms_per_authorization"].as_f64().unwrap() > 0.0,
            "{c}"
        );
    }
    assert!(
        configs[1]["database_cpu_ms_per_authorization"].is_number(),
        "{v}"
    );
    assert!(
        configs[0]["database_cpu_ms_per_authorization"].is_null(),
        "{v}"
    );
    // The URL's password appears nowhere in what it printed.
    let password = url.split(':').nth(2).unwrap().split('@').next().unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains(password));
    assert!(!stderr.contains(password));
}

/// Writs whose gates never send a receipt: their leases run out and are ended once each in the
/// shared ledger, not once per node (one node of the fleet runs the lease sweep at a time).
#[test]
fn each_expired_lease_is_ended_once_by_the_fleet() {
    let Some(url) = postgres_url() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let prefix = unique_prefix("fleetsweep");
    let (mut fleet, _, agent, key) = Fleet::provisioned(
        tmp.path(),
        &url,
        &prefix,
        3,
        &[
            // A node holds copies of the writs it issued only: for another node's, the sweep
            // waits out the longest lifetime a writ may have.
            ("WRIT_WRIT_LIFETIME_SECS", "1"),
            ("WRIT_WRIT_MAX_LIFETIME_SECS", "2"),
            ("WRIT_LEASE_GRACE_SECS", "0"),
        ],
    );
    let client = http();
    let mut executions = Vec::new();
    for n in 0..9 {
        let (st, v) = client.call(
            "POST",
            &format!("{}/v1/authorize", fleet.url(n % 3)),
            Some(&agent),
            Some(&authorize_body(&key)),
        );
        assert_eq!(st, 200, "{v}");
        executions.push(v["execution"].as_str().unwrap().to_owned());
    }
    let verifier = fleet.verifier();
    let lease_ends = |execution: &str| -> usize {
        let (st, proof) = client.call(
            "GET",
            &format!("{}/v1/proofs/{execution}", fleet.url(1)),
            Some(&agent),
            None,
        );
        assert_eq!(st, 200, "{proof}");
        let bundle = writ_ledger::ProofBundle::from_json(proof.to_string().as_bytes()).unwrap();
        let verified = bundle.verify(Some(&verifier.to_vkey())).unwrap();
        verified
            .entries
            .iter()
            .filter(|e| writ_ledger::evidence::entry_view(&e.entry, None)["type"] == "lease.ended")
            .count()
    };
    // Every lease is ended (the sweep runs every second on the node that holds its role)...
    let start = Instant::now();
    while !executions.iter().all(|e| lease_ends(e) > 0) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "leases never ended"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // ...and, three sweeps later, still once each.
    std::thread::sleep(Duration::from_secs(3));
    for e in &executions {
        assert_eq!(lease_ends(e), 1, "execution {e}");
    }
    let sweepers = fleet
        .urls()
        .iter()
        .filter(|u| {
            let (_, v) = client.call("GET", &format!("{u}/readyz"), None, None);
            v["store"]["lease_sweeper"] == true
        })
        .count();
    assert_eq!(sweepers, 1, "one node sweeps");
    fleet.stop();
    fleet.verify_ledger();
}

/// A database URL carrying a password is refused on the command line (the process list would
/// show it), by `writ serve` and `writ migrate` alike, without echoing the password; and
/// `writ migrate` without any database says where to name one.
#[test]
fn a_database_password_on_the_command_line_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_writ"))
            .args(args)
            .env_remove("WRIT_DATABASE_URL")
            .env_remove("WRIT_CONFIG")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let url = "postgres://writ:hunter2-secret@127.0.0.1:1/writ";
    let dir = data.to_str().unwrap();
    for args in [
        vec!["serve", "--init", "--data-dir", dir, "--database", url],
        vec!["migrate", "--database", url],
    ] {
        let (code, out, err) = run(&args);
        assert_eq!(code, Some(3), "{args:?}: {err}");
        assert!(err.contains("WRIT_DATABASE_URL"), "{err}");
        assert!(
            !err.contains("hunter2") && !out.contains("hunter2"),
            "{err}"
        );
    }
    assert!(!data.exists(), "a refused start created the data directory");
    let (code, _, err) = run(&["migrate"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("WRIT_DATABASE_URL"), "{err}");
}

/// `writ migrate` creates both schemas of a new prefix and says their versions; run again it
/// changes nothing; a node then initialises on them.
#[test]
fn migrate_creates_the_schemas_and_is_idempotent() {
    let Some(url) = postgres_url() else {
        return;
    };
    let prefix = unique_prefix("fleetmig");
    let migrate = || {
        let out = Command::new(env!("CARGO_BIN_EXE_writ"))
            .args(["migrate", "--format", "json"])
            .env("WRIT_DATABASE_URL", &url)
            .env("WRIT_DATABASE_SCHEMA", &prefix)
            .env_remove("WRIT_CONFIG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let first = migrate();
    assert_eq!(
        first["ledger_schema"],
        format!("{prefix}_ledger"),
        "{first}"
    );
    assert_eq!(
        first["control_schema"],
        format!("{prefix}_control"),
        "{first}"
    );
    assert!(first["ledger_version"].as_u64().unwrap() >= 1, "{first}");
    assert!(first["control_version"].as_u64().unwrap() >= 1, "{first}");
    assert_eq!(migrate(), first);
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::start(tmp.path(), &url, &prefix, 1);
    let (st, v) = http().call("GET", &format!("{}/readyz", fleet.url(0)), None, None);
    // No bundle yet (503 no_active_bundle), but the node is up on the migrated schemas.
    assert_eq!(st, 503, "{v}");
    assert_eq!(v["code"], "no_active_bundle", "{v}");
}
