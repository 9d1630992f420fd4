//! `writ bench fleet`: authorizations per second, latency and CPU per authorization of one node
//! on SQLite, one node on PostgreSQL and N nodes on one PostgreSQL, in the same run and under
//! the same closed-loop load (`writ bench authorize`'s clients, spread over the nodes).
//!
//! Every node is a `writ serve` child process of this one, on 127.0.0.1, in a temporary data
//! directory (the further nodes with copies of the first one's key files, as docs/fleet.md
//! says); the database URL reaches them in a 0600 config file, never on a command line or in
//! their environment. Each PostgreSQL configuration gets schemas of its own, dropped after.
//! CPU is read from /proc: the nodes' user + system time over the measured window, and, when
//! the database runs on this machine, its `postgres` processes' too.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use crate::bench_authorize::{Kind, LoopStats, Target, run_loop};
use crate::bench_plane::ratio;
use crate::cli_output::{Exit, Format, invalid_input, print_json};

#[derive(Debug, clap::Args)]
pub struct BenchFleetArgs {
    /// The PostgreSQL database (postgres://…); give it in WRIT_DATABASE_URL when it carries a
    /// password (one on the command line is refused).
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Nodes of the multi-node configuration.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Concurrent clients (spread evenly over the nodes).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds of measured load per configuration.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds of unmeasured load before each measurement.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Output format: `human` (text) or `json` (one JSON document on stdout).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// USER_HZ: the unit of /proc's CPU times, fixed at 100 by Linux's ABI.
const TICKS_PER_SECOND: f64 = 100.0;

/// A `writ serve` child and its URL.
struct Node {
    child: Child,
    url: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        // SIGTERM, then wait: a graceful stop so the ledger writer finishes.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(0)),
            nix::sys::signal::Signal::SIGTERM,
        );
        crate::bench_plane::reap_within(&mut self.child, Duration::from_secs(20));
    }
}

/// One configuration's nodes, their directory and (PostgreSQL) schema prefix.
struct Fleet {
    nodes: Vec<Node>,
    admin: String,
    database: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.nodes.clear();
        if let Some((url, prefix)) = &self.database {
            // Dropped inside the async runtime: the synchronous client runs off it.
            let _ = writ_ledger::off_runtime::off_runtime(|| {
                for s in ["ledger", "control"] {
                    let _ = writ_ledger::pg::PgStore::drop_schema(url, &format!("{prefix}_{s}"));
                }
            });
        }
    }
}

/// Starts `writ serve` on `data` with `config`, returns it once it listens.
fn start_node(data: &Path, config: &Path, init_trust: Option<&str>) -> anyhow::Result<Node> {
    let exe = std::env::current_exe().context("cannot find the writ binary")?;
    let mut cmd = Command::new(exe);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--format", "json"])
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data);
    if let Some(key) = init_trust {
        cmd.args(["--init", "--trust-bundle-key", key]);
    }
    for k in [
        "WRIT_DATABASE_URL",
        "WRIT_DATABASE_SCHEMA",
        "WRIT_CONFIG",
        "WRIT_LISTEN",
        "WRIT_DATA_DIR",
    ] {
        cmd.env_remove(k);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start writ serve")?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout from writ serve"))?;
    let mut node = Node {
        child,
        url: String::new(),
    };
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let Some(Ok(line)) = lines.next() else {
            anyhow::bail!("writ serve exited before listening (run it by hand to see why)");
        };
        let v: Value = serde_json::from_str(&line).unwrap_or_default();
        if crate::operator_cmd::at(&v, "event") == "listening" {
            node.url = crate::operator_cmd::at(&v, "url")
                .as_str()
                .unwrap_or_default()
                .to_owned();
            std::thread::spawn(move || for _ in lines {});
            return Ok(node);
        }
    }
}

/// Copies the first node's key and trust files into a further node's data directory.
fn copy_node_files(from: &Path, to: &Path) -> anyhow::Result<()> {
    writ_ledger::owner_only::create_dir(to)?;
    writ_ledger::owner_only::create_dir(&to.join(writ_server::state::LEDGER_DIR))?;
    for f in writ_server::state::NODE_FILES {
        let text = std::fs::read_to_string(from.join(f))
            .with_context(|| format!("cannot read {}", from.join(f).display()))?;
        writ_server::state::write_private(&to.join(f), &text)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(())
}

/// Starts `n` nodes (on `database` when given, else one node on SQLite) and provisions them.
async fn start_fleet(
    n: usize,
    database: Option<&str>,
    label: &str,
) -> anyhow::Result<(Fleet, Vec<Arc<Target>>)> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
    let bundle_key = writ_authorize::BundleSigningKey::from_seed(seed);
    let prefix = format!("writ_bench_{label}_{}", std::process::id());
    let mut toml = String::new();
    if let Some(url) = database {
        toml.push_str(&format!(
            "[store]\nurl = {}\nschema = {}\n",
            Value::String(url.to_owned()),
            Value::String(prefix.clone())
        ));
    }
    let config = dir.path().join("writ.toml");
    writ_server::state::write_private(&config, &toml).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut fleet = Fleet {
        nodes: Vec::new(),
        admin: String::new(),
        database: database.map(|u| (u.to_owned(), prefix.clone())),
        _dir: dir,
    };
    let root = fleet._dir.path().to_owned();
    let first = root.join("node1");
    let node1 = start_node(&first, &config, Some(&bundle_key.verifying_key().to_hex()))?;
    let node1_url = node1.url.clone();
    fleet.nodes.push(node1);
    fleet.admin = std::fs::read_to_string(first.join(writ_server::state::ADMIN_TOKEN_FILE))?
        .trim()
        .to_owned();
    for i in 1..n {
        let data = root.join(format!("node{}", i + 1));
        copy_node_files(&first, &data)?;
        fleet.nodes.push(start_node(&data, &config, None)?);
    }
    let (token, key, _) = crate::bench_plane::provision(
        &node1_url,
        &fleet.admin,
        crate::default_bundle::signed_upload(&bundle_key)?,
        "agent:triage-bot",
    )
    .await?;
    let targets: Vec<Arc<Target>> = fleet
        .nodes
        .iter()
        .map(|node| -> anyhow::Result<Arc<Target>> {
            Ok(Arc::new(Target {
                base: node.url.clone(),
                token: token.clone(),
                gate: "gate:bench"
                    .parse()
                    .map_err(|e| anyhow::anyhow!("gate id: {e}"))?,
                zone: "dev".parse().map_err(|e| anyhow::anyhow!("zone: {e}"))?,
                key: key.clone(),
                tool: "github/get_issue".into(),
            }))
        })
        .collect::<anyhow::Result<_>>()?;
    // Every node learns what was provisioned on the first (within a second on a fleet).
    let client = reqwest::Client::new();
    for t in &targets {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let resp = client
                .post(format!("{}/v1/authorize", t.base))
                .bearer_auth(&t.token)
                .header("content-type", "application/json")
                .body(t.body()?)
                .send()
                .await?;
            if resp.status().as_u16() == 200 {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "node {} never authorized: {}",
                t.base,
                resp.text().await.unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok((fleet, targets))
}

/// User + system CPU seconds of process `pid` so far (0 when it cannot be read).
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) / TICKS_PER_SECOND
}

/// CPU seconds of every process on this machine named `postgres` (the database, when local).
fn postgres_cpu_seconds() -> Option<f64> {
    let mut total = 0.0;
    let mut found = false;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|c| c.trim() == "postgres")
        {
            found = true;
            total += cpu_seconds(pid);
        }
    }
    found.then_some(total)
}

/// One configuration measured.
#[derive(Debug, serde::Serialize)]
struct Measured {
    name: String,
    nodes: usize,
    store: &'static str,
    stats: LoopStats,
    node_cpu_ms_per_authorization: f64,
    database_cpu_ms_per_authorization: Option<f64>,
}

async fn measure(
    name: &str,
    n: usize,
    database: Option<&str>,
    args: &BenchFleetArgs,
) -> anyhow::Result<Measured> {
    let (fleet, targets) = start_fleet(n, database, &name.replace('-', "_")).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    if args.warmup > 0 {
        run_loop(
            &client,
            &targets,
            Kind::Authorize,
            args.concurrency,
            0,
            args.warmup,
        )
        .await?;
    }
    let pids: Vec<u32> = fleet.nodes.iter().map(|n| n.child.id()).collect();
    let node_cpu = || pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>();
    let (cpu0, db0) = (node_cpu(), postgres_cpu_seconds());
    let stats = run_loop(
        &client,
        &targets,
        Kind::Authorize,
        args.concurrency,
        0,
        args.duration,
    )
    .await?;
    let (cpu1, db1) = (node_cpu(), postgres_cpu_seconds());
    let per = |secs: f64| {
        if stats.ok == 0 {
            0.0
        } else {
            secs * 1000.0 / stats.ok as f64
        }
    };
    let db = match (database, db0, db1) {
        (Some(_), Some(a), Some(b)) => Some(per(b - a)),
        _ => None,
    };
    drop(fleet);
    Ok(Measured {
        name: name.to_owned(),
        nodes: n,
        store: if database.is_some() {
            "postgres"
        } else {
            "sqlite"
        },
        node_cpu_ms_per_authorization: per(cpu1 - cpu0),
        database_cpu_ms_per_authorization: db,
        stats,
    })
}

pub fn bench(args: BenchFleetArgs) -> anyhow::Result<Exit> {
    if args.nodes < 2 || args.nodes > 16 {
        return Err(invalid_input("--nodes must be between 2 and 16"));
    }
    if args.concurrency == 0 || args.concurrency > 4096 || args.duration == 0 {
        return Err(invalid_input(
            "--concurrency must be 1..4096 and --duration at least 1",
        ));
    }
    let url = match &args.database {
        Some(u) => {
            crate::serve_cmd::refuse_password_flag(u)?;
            u.clone()
        }
        None => std::env::var("WRIT_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| invalid_input("name the database: WRIT_DATABASE_URL or --database"))?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let n = args.nodes;
    let results = runtime.block_on(async {
        let mut out = Vec::new();
        out.push(measure("sqlite-1", 1, None, &args).await?);
        out.push(measure("postgres-1", 1, Some(&url), &args).await?);
        out.push(measure(&format!("postgres-{n}"), n, Some(&url), &args).await?);
        anyhow::Ok(out)
    })?;
    let base = results.first().map_or(0.0, |m| m.stats.per_second);
    match args.format {
        Format::Json => print_json(&json!({
            "concurrency": args.concurrency,
            "duration_secs": args.duration,
            "configurations": results,
            "throughput_ratio_vs_sqlite_1": results.iter().map(|m| (m.name.clone(), ratio(m.stats.per_second, base))).collect::<std::collections::BTreeMap<_, _>>(),
        }))?,
        Format::Human => {
            println!(
                "{:<12} {:>9} {:>9} {:>9} {:>8} {:>14} {:>14} {:>8}",
                "config",
                "auth/s",
                "p50 ms",
                "p99 ms",
                "errors",
                "node cpu ms/a",
                "db cpu ms/a",
                "x sqlite"
            );
            for m in &results {
                println!(
                    "{:<12} {:>9.0} {:>9.3} {:>9.3} {:>8} {:>14.3} {:>14} {:>8.3}",
                    m.name,
                    m.stats.per_second,
                    m.stats.p50_us as f64 / 1000.0,
                    m.stats.p99_us as f64 / 1000.0,
                    m.stats.errors,
                    m.node_cpu_ms_per_authorization,
                    m.database_cpu_ms_per_authorization
                        .map_or_else(|| "-".to_owned(), |x| format!("{x:.3}")),
                    ratio(m.stats.per_second, base)
                );
                if let Some(e) = &m.stats.first_error {
                    println!("             first error: {e}");
                }
            }
            println!(
                "{} concurrent clients spread over the nodes, {} s each, all processes on this machine ({} cores)",
                args.concurrency,
                args.duration,
                std::thread::available_parallelism().map_or(0, |n| n.get())
            );
        }
    }
    Ok(Exit::Ok)
}
