//! `writ bench mcp`: the latency a governed MCP `tools/call` pays, side by side with its peers.
//!
//! One client (ours: a minimal MCP stdio JSON-RPC client, the same for every path) makes the
//! same call, server-everything's `echo`, by five paths in one invocation, alternating call by
//! call:
//! - directly to the server over stdio;
//! - through a bare relay (`writ bench relay`, this binary): a process that copies bytes both
//!   ways and does nothing else, the floor of any stdio proxy;
//! - through `writ gateway mcp` in front of the same server, with a real control plane started
//!   in this process on 127.0.0.1 (SQLite data directory on the ordinary disk, durable decision
//!   before every writ, a receipt after every call);
//! - through Microsoft's Agent Governance Toolkit proxy (`agentmesh proxy --policy
//!   permissive`, PyPI `agent-governance-toolkit-cli`, pinned, installed by the bench into its
//!   own virtual environment);
//! - through `writ gateway mcp --embedded-plane`, the same gateway with its control plane in
//!   its own process (a second data directory, provisioned alike).
//!
//! Between rounds it also times one bare durable write on the same disk (what a decision's
//! commit writes, then `fsync`): with the relay, the two floors no gateway that records its
//! decision durably before the call can go under on this machine.
//!
//! It prints p50/p99 per path, what each path adds to the direct call and the ratios, the
//! floors and what each path adds beyond them, and where Writ's added time goes (read from the
//! gateway's and the control plane's own metrics). `--in-flight 64` measures throughput
//! instead: calls per second with that many calls outstanding on each path.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Map, Value, json};

use crate::bench_plane::{LocalPlane, nearest_rank, ratio};
use crate::cli_output::{Exit, Format, invalid_input, print_json};

/// The AGT release measured (issue 19): pinned, so runs compare.
const AGT_PACKAGE: &str = "agent-governance-toolkit-cli==5.0.0";
/// How long one answer may take before the path is declared stuck.
const PATIENCE: Duration = Duration::from_secs(30);
/// The only policy of the bench's bundle: the echo tool may be called.
const POLICY: &str = r#"
@id("bench-echo")
@reason("writ bench mcp calls echo")
permit (principal is Agent, action == Action::"call_tool", resource == Tool::"everything/echo");
"#;

#[derive(Debug, clap::Args)]
pub struct BenchMcpArgs {
    /// The node_modules directory holding @modelcontextprotocol/server-everything (and
    /// .bin/node, else `node` from PATH).
    #[arg(long, env = "WRIT_TEST_NODE_MODULES", value_name = "DIR")]
    node_modules: Option<PathBuf>,
    /// Measured calls per path.
    #[arg(long, default_value_t = 1000)]
    calls: usize,
    /// Unmeasured calls per path first.
    #[arg(long, default_value_t = 200)]
    warmup: usize,
    /// Calls outstanding per path: 1 measures latency (alternating call by call); more
    /// measures throughput (calls/s, alternating path by path in rounds).
    #[arg(long, default_value_t = 1)]
    in_flight: usize,
    /// With one call in flight: the pause after each call, before the next path's, in
    /// microseconds. It lets what a path does after answering (a gateway's receipt) finish
    /// instead of running beside the next path's call, as an agent's calls are apart anyway.
    #[arg(long, default_value_t = 3000, value_name = "US")]
    pub pause_us: u64,
    /// Skip the AGT proxy path.
    #[arg(long)]
    no_agt: bool,
    /// The virtual environment for AGT (created and installed into when missing; reused).
    /// Default: $XDG_CACHE_HOME/writ/agt-5.0.0 (else ~/.cache/writ/agt-5.0.0).
    #[arg(long, value_name = "DIR")]
    agt_venv: Option<PathBuf>,
    /// The Python that creates the AGT virtual environment.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Where the control plane's temporary data directory is made (default: the system's
    /// temporary directory; say so when it is a tmpfs).
    #[arg(long, value_name = "DIR")]
    data_parent: Option<PathBuf>,
    /// Passed to `writ gateway mcp` (kernels without Landlock or user namespaces).
    #[arg(long)]
    allow_uncontained: bool,
    /// Output format: `human` (text) or `json` (one JSON document on stdout).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// What one path measured.
#[derive(Debug, Clone, Default, serde::Serialize)]
struct PathStats {
    path: &'static str,
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    p50_us: f64,
    p90_us: f64,
    p99_us: f64,
    mean_us: f64,
    max_us: f64,
    calls_per_second: f64,
    /// p50 minus the direct path's p50 (0 for direct).
    added_p50_us: f64,
    added_p99_us: f64,
    /// This path's p50 over the direct path's.
    ratio_p50: f64,
    ratio_throughput: f64,
}

/// A minimal MCP client over a child's stdio: newline-delimited JSON-RPC.
struct Client {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    next: u64,
    stderr: PathBuf,
    /// Measured per-call latencies (nanoseconds).
    lat: Vec<u64>,
    busy: Duration,
    errors: u64,
    first_error: Option<String>,
}

impl Client {
    fn start(name: &'static str, mut cmd: Command, stderr: PathBuf) -> anyhow::Result<Client> {
        let log = std::fs::File::create(&stderr)
            .with_context(|| format!("cannot create {}", stderr.display()))?;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start the {name} path"))?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut c = Client {
            name,
            child,
            stdin,
            lines: rx,
            next: 1,
            stderr,
            lat: Vec::new(),
            busy: Duration::ZERO,
            errors: 0,
            first_error: None,
        };
        let id = c.send_request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "writ-bench-mcp", "version": "1"}}),
        )?;
        let init = c.answer(id)?;
        if init.get("result").is_none() {
            anyhow::bail!("{name}: initialize failed: {init}\n{}", c.stderr_tail());
        }
        c.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))?;
        Ok(c)
    }

    fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let start = text.len().saturating_sub(2000);
        text.get(start..).unwrap_or_default().to_owned()
    }

    fn send(&mut self, msg: &Value) -> anyhow::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("stdin closed"))?;
        let mut line = msg.to_string();
        line.push('\n');
        stdin
            .write_all(line.as_bytes())
            .and_then(|()| stdin.flush())
            .with_context(|| format!("{}: the path closed its input", self.name))
    }

    fn send_request(&mut self, method: &str, params: Value) -> anyhow::Result<u64> {
        let id = self.next;
        self.next += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))?;
        Ok(id)
    }

    /// The next answer to any request (notifications and server requests are skipped).
    fn next_answer(&mut self) -> anyhow::Result<(u64, Value)> {
        loop {
            let line = self.lines.recv_timeout(PATIENCE).map_err(|e| {
                anyhow::anyhow!(
                    "{}: no answer ({e}); its stderr ends with:\n{}",
                    self.name,
                    self.stderr_tail()
                )
            })?;
            let Ok(msg) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if msg.get("method").is_some() {
                continue;
            }
            if let Some(id) = msg.get("id").and_then(Value::as_u64) {
                return Ok((id, msg));
            }
        }
    }

    fn answer(&mut self, id: u64) -> anyhow::Result<Value> {
        loop {
            let (got, msg) = self.next_answer()?;
            if got == id {
                return Ok(msg);
            }
        }
    }

    fn call_echo(&mut self) -> anyhow::Result<u64> {
        self.send_request(
            "tools/call",
            json!({"name": "echo", "arguments": {"message": "writ bench"}}),
        )
    }

    /// `count` echo calls with `in_flight` outstanding; latencies recorded when `measure`.
    fn batch(&mut self, count: usize, in_flight: usize, measure: bool) -> anyhow::Result<()> {
        let mut sent: HashMap<u64, Instant> = HashMap::with_capacity(in_flight);
        let started = Instant::now();
        let mut issued = 0;
        let mut done = 0;
        while issued < count.min(in_flight) {
            let id = self.call_echo()?;
            sent.insert(id, Instant::now());
            issued += 1;
        }
        while done < count {
            let (id, msg) = self.next_answer()?;
            let Some(t0) = sent.remove(&id) else {
                continue;
            };
            let took = t0.elapsed();
            done += 1;
            if issued < count {
                let id = self.call_echo()?;
                sent.insert(id, Instant::now());
                issued += 1;
            }
            if !measure {
                continue;
            }
            match echo_ok(&msg) {
                Ok(()) => self
                    .lat
                    .push(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX)),
                Err(e) => {
                    self.errors += 1;
                    self.first_error.get_or_insert(e);
                }
            }
        }
        if measure {
            self.busy += started.elapsed();
        }
        Ok(())
    }

    fn stats(&mut self) -> PathStats {
        self.lat.sort_unstable();
        let us = |ns: u64| ns as f64 / 1000.0;
        let pct = |p: f64| nearest_rank(&self.lat, p).map_or(0.0, us);
        let n = self.lat.len() as u64;
        let mean = if n == 0 {
            0.0
        } else {
            us(self.lat.iter().sum::<u64>()) / n as f64
        };
        let secs = self.busy.as_secs_f64();
        PathStats {
            path: self.name,
            ok: n,
            errors: self.errors,
            first_error: self.first_error.clone(),
            p50_us: pct(0.50),
            p90_us: pct(0.90),
            p99_us: pct(0.99),
            mean_us: mean,
            max_us: self.lat.last().copied().map_or(0.0, us),
            calls_per_second: if secs > 0.0 {
                (n + self.errors) as f64 / secs
            } else {
                0.0
            },
            ..PathStats::default()
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // Closing stdin ends an MCP stdio server (and the gateway, which stops its upstream).
        drop(self.stdin.take());
        crate::bench_plane::reap_within(&mut self.child, Duration::from_secs(5));
    }
}

/// Whether an echo answer is the echo: a result whose text carries the message.
fn echo_ok(msg: &Value) -> Result<(), String> {
    let text = msg
        .pointer("/result/content/0/text")
        .and_then(Value::as_str);
    let failed = msg.pointer("/result/isError").and_then(Value::as_bool) == Some(true);
    match text {
        Some(t) if !failed && t.contains("writ bench") => Ok(()),
        _ => {
            let mut s = msg.to_string();
            s.truncate(500);
            Err(s)
        }
    }
}

pub fn bench(args: BenchMcpArgs) -> anyhow::Result<Exit> {
    if args.calls == 0 || args.in_flight == 0 || args.in_flight > 1024 {
        return Err(invalid_input(
            "--calls must be at least 1 and --in-flight between 1 and 1024",
        ));
    }
    let modules = args.node_modules.clone().ok_or_else(|| {
        invalid_input("pass --node-modules DIR (with @modelcontextprotocol/server-everything) or set WRIT_TEST_NODE_MODULES")
    })?;
    let server_js = modules.join("@modelcontextprotocol/server-everything/dist/index.js");
    if !server_js.exists() {
        return Err(invalid_input(format!(
            "{} is missing: install @modelcontextprotocol/server-everything there",
            server_js.display()
        )));
    }
    let node = if modules.join(".bin/node").exists() {
        modules.join(".bin/node")
    } else {
        PathBuf::from("node")
    };
    let upstream: Vec<String> = vec![node.display().to_string(), server_js.display().to_string()];
    let agt = if args.no_agt {
        None
    } else {
        Some(agt_install(&args)?)
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let dir = match &args.data_parent {
        Some(p) => tempfile::tempdir_in(p),
        None => tempfile::tempdir(),
    }
    .context("cannot create a temporary directory")?;
    let hosted = runtime.block_on(Hosted::start(dir.path()))?;
    let exe = std::env::current_exe().context("cannot find the writ binary")?;
    let pins = dir.path().join("pins.json");
    let pin = Command::new(&exe)
        .args([
            "gateway",
            "mcp",
            "pin",
            "--upstream-name",
            "everything",
            "--out",
        ])
        .arg(&pins)
        .arg("--")
        .args(&upstream)
        .env_remove("WRIT_MCP_PINS")
        .output()
        .context("cannot run writ gateway mcp pin")?;
    if !pin.status.success() {
        anyhow::bail!(
            "writ gateway mcp pin failed: {}",
            String::from_utf8_lossy(&pin.stderr)
        );
    }
    let [metrics_addr, em_api, em_metrics] = free_ports()?;

    let mut direct_cmd = Command::new(&node);
    direct_cmd.arg(&server_js);
    let mut relay_cmd = Command::new(&exe);
    relay_cmd.args(["bench", "relay", "--"]).args(&upstream);
    let gateway = |plane: &[&std::ffi::OsStr], hosted: &Hosted| {
        let mut cmd = Command::new(&exe);
        cmd.args(["gateway", "mcp", "--upstream-name", "everything", "--pins"])
            .arg(&pins)
            .args(plane)
            .args(["--gate-id", "gate:bench", "--zone", "dev", "--gate-key"])
            .arg(&hosted.key_file)
            .arg("--token-file")
            .arg(&hosted.agent_token)
            .arg("--gate-token-file")
            .arg(&hosted.gate_token);
        if args.allow_uncontained {
            cmd.arg("--allow-uncontained");
        }
        for (k, _) in std::env::vars_os() {
            if k.to_str().is_some_and(|k| k.starts_with("WRIT_")) {
                cmd.env_remove(k);
            }
        }
        cmd.env("WRIT_LOG", "warn");
        cmd
    };
    let mut gw_cmd = gateway(
        &["--control-plane".as_ref(), hosted.plane.base.as_ref()],
        &hosted,
    );
    gw_cmd
        .arg("--metrics-listen")
        .arg(&metrics_addr)
        .arg("--")
        .args(&upstream);

    let mut clients = vec![
        Client::start("direct", direct_cmd, dir.path().join("direct.stderr"))?,
        Client::start("relay", relay_cmd, dir.path().join("relay.stderr"))?,
        Client::start("writ", gw_cmd, dir.path().join("gateway.stderr"))?,
    ];
    if let Some(agentmesh) = &agt {
        let mut cmd = Command::new(agentmesh);
        cmd.args(["proxy", "--policy", "permissive"]);
        for a in &upstream {
            cmd.args(["--target", a]);
        }
        clients.push(Client::start("agt", cmd, dir.path().join("agt.stderr"))?);
    }
    // The same gateway with its control plane in its own process, on a data directory
    // provisioned like the first one's (whose plane then stops and leaves it).
    let embedded_dir = dir.path().join("embedded");
    writ_ledger::owner_only::create_dir(&embedded_dir)?;
    let embedded = runtime.block_on(Hosted::start(&embedded_dir))?;
    let embedded_data = embedded_dir.join("data");
    let mut em_cmd = gateway(
        &[
            "--embedded-plane".as_ref(),
            embedded_data.as_os_str(),
            "--embedded-listen".as_ref(),
            em_api.as_ref(),
        ],
        &embedded,
    );
    let em_admin = embedded.plane.admin.clone();
    let em_base = format!("http://{em_api}");
    runtime.block_on(embedded.plane.stop());
    em_cmd
        .arg("--metrics-listen")
        .arg(&em_metrics)
        .arg("--")
        .args(&upstream);
    clients.push(Client::start(
        "writ-embedded",
        em_cmd,
        dir.path().join("embedded.stderr"),
    )?);

    // Warm-up, unmeasured, alternating.
    for _ in 0..args.warmup.div_ceil(args.in_flight) {
        for c in &mut clients {
            c.batch(args.in_flight, args.in_flight, false)?;
        }
    }
    let snap = || {
        runtime.block_on(async {
            (
                snapshot(&hosted.plane.base, &hosted.plane.admin, &metrics_addr).await,
                snapshot(&em_base, &em_admin, &em_metrics).await,
            )
        })
    };
    let before = snap();
    let mut durable = None;
    if args.in_flight == 1 {
        let pause = Duration::from_micros(args.pause_us);
        let probe = durable.insert(DurableWrite::open(dir.path())?);
        for _ in 0..args.calls {
            for c in &mut clients {
                c.batch(1, 1, true)?;
                std::thread::sleep(pause);
            }
            probe.sample()?;
            std::thread::sleep(pause);
        }
    } else {
        // Rounds of at least 4 × in-flight calls, path after path.
        let round = (args.in_flight * 4).min(args.calls);
        let mut left = args.calls;
        while left > 0 {
            let n = round.min(left);
            for c in &mut clients {
                c.batch(n, args.in_flight, true)?;
            }
            left -= n;
        }
    }
    // Receipts are posted off the call path: let the last ones land before reading metrics.
    std::thread::sleep(Duration::from_millis(300));
    let after = snap();

    let mut stats: Vec<PathStats> = clients.iter_mut().map(Client::stats).collect();
    drop(clients);
    let (d50, d99, dput) = stats.first().map_or((0.0, 0.0, 0.0), |d| {
        (d.p50_us, d.p99_us, d.calls_per_second)
    });
    for s in &mut stats {
        s.added_p50_us = s.p50_us - d50;
        s.added_p99_us = s.p99_us - d99;
        s.ratio_p50 = ratio(s.p50_us, d50);
        s.ratio_throughput = ratio(s.calls_per_second, dput);
    }
    let path = |name: &str| stats.iter().find(|s| s.path == name);
    let mean_added = |name: &str| {
        path(name)
            .zip(stats.first())
            .map_or(0.0, |(w, d)| w.mean_us - d.mean_us)
    };
    let stages = Stages::between(&before.0, &after.0, mean_added("writ"));
    let em_stages = Stages::between(&before.1, &after.1, mean_added("writ-embedded"));
    let all_ok = stats.iter().all(|s| s.errors == 0);
    let over_agt = |name: &str| {
        path("agt")
            .zip(path(name))
            .map(|(a, w)| ratio(w.added_p50_us, a.added_p50_us))
    };
    let agt_vs_writ = over_agt("writ");
    let agt_vs_embedded = over_agt("writ-embedded");
    let floors = Floors::of(&stats, durable.as_mut());
    if args.format == Format::Json {
        print_json(&json!({
            "calls": args.calls,
            "warmup": args.warmup,
            "in_flight": args.in_flight,
            "pause_us": args.pause_us,
            "data_dir": dir.path().join("data"),
            "agt": agt.as_ref().map(|_| AGT_PACKAGE),
            "paths": stats,
            "writ_added_over_agt_added_p50": agt_vs_writ,
            "writ_embedded_added_over_agt_added_p50": agt_vs_embedded,
            "floors": floors,
            "writ_stages": stages,
            "writ_embedded_stages": em_stages,
            "all_ok": all_ok,
        }))?;
    } else {
        print_human(&args, &stats, dir.path());
        if let Some(f) = &floors {
            f.print();
        }
        print_stages("writ", &stages);
        print_stages("writ-embedded", &em_stages);
        if let Some(r) = agt_vs_writ {
            println!("writ's added p50 / agt's added p50: x{r:.2}");
        }
        if let Some(r) = agt_vs_embedded {
            println!("writ-embedded's added p50 / agt's added p50: x{r:.2}");
        }
    }
    runtime.block_on(hosted.stop());
    Ok(if all_ok { Exit::Ok } else { Exit::Failure })
}

fn print_human(args: &BenchMcpArgs, stats: &[PathStats], dir: &Path) {
    println!(
        "writ bench mcp: {} calls per path after {} warm-up, {} in flight; control plane data in {}",
        args.calls,
        args.warmup,
        args.in_flight,
        dir.join("data").display()
    );
    for s in stats {
        println!(
            "{:<7} p50 {:>8.3} ms  p99 {:>8.3} ms  mean {:>8.3} ms  {:>8.0} calls/s  added p50 {:>+8.3} ms  p99 {:>+8.3} ms  x{:.2}  ok {} errors {}",
            s.path,
            s.p50_us / 1000.0,
            s.p99_us / 1000.0,
            s.mean_us / 1000.0,
            s.calls_per_second,
            s.added_p50_us / 1000.0,
            s.added_p99_us / 1000.0,
            s.ratio_p50,
            s.ok,
            s.errors
        );
        if let Some(e) = &s.first_error {
            println!("        first error: {e}");
        }
    }
}

/// Where one writ path's added time goes.
fn print_stages(path: &str, st: &Stages) {
    println!(
        "{path}'s added time per call (means, µs, from the gateway's and control plane's metrics):"
    );
    let row = |name: &str, v: Option<f64>| match v {
        Some(v) => println!("  {name:<44} {v:>9.1}"),
        None => println!("  {name:<44} {:>9}", "n/a"),
    };
    row("added (mean - direct mean)", Some(st.added_mean_us));
    row("gateway admit (arrival to admission)", st.admit_us);
    row(
        "  authorize round trip (gateway side)",
        st.authorize_round_trip_us,
    );
    row("    server: HTTP request /v1/authorize", st.server_http_us);
    row("      of which authorize handler", st.server_authorize_us);
    row(
        "        ledger append, any entry (queue+batch)",
        st.ledger_append_us,
    );
    row("          of which one batch's write", st.ledger_batch_us);
    row("    transport (round trip - server HTTP)", st.transport_us);
    row(
        "  gateway parse/check (admit - round trip)",
        st.gateway_check_us,
    );
    row("relay + upstream hop (added - admit)", st.relay_us);
    row(
        "receipt (off the call path; server HTTP)",
        st.receipt_server_us,
    );
}

/// Sum and count of every histogram of interest, from both metrics pages.
#[derive(Debug, Default, Clone)]
struct Snapshot {
    values: HashMap<&'static str, (f64, f64)>,
}

const SERIES: [(&str, &str, &str); 7] = [
    ("admit", "writ_gate_admit_duration_seconds", ""),
    ("round_trip", "writ_gate_authorize_duration_seconds", ""),
    (
        "server_http",
        "writ_http_request_duration_seconds",
        "route=\"/v1/authorize\"",
    ),
    ("server_authorize", "writ_authorize_duration_seconds", ""),
    ("ledger_append", "writ_ledger_append_duration_seconds", ""),
    ("ledger_batch", "writ_ledger_batch_duration_seconds", ""),
    (
        "receipt",
        "writ_http_request_duration_seconds",
        "route=\"/v1/receipts\"",
    ),
];

/// The `_sum` and `_count` of histogram `name` (the series whose labels contain `label`).
fn sum_count(text: &str, name: &str, label: &str) -> Option<(f64, f64)> {
    let value = |suffix: &str| {
        let prefix = format!("{name}_{suffix}");
        text.lines()
            .filter(|l| {
                l.strip_prefix(&prefix)
                    .is_some_and(|rest| rest.starts_with([' ', '{']))
            })
            .find(|l| label.is_empty() || l.contains(label))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    Some((value("sum")?, value("count")?))
}

#[derive(Debug, Default, serde::Serialize)]
struct Stages {
    added_mean_us: f64,
    admit_us: Option<f64>,
    authorize_round_trip_us: Option<f64>,
    server_http_us: Option<f64>,
    server_authorize_us: Option<f64>,
    /// Decisions' and receipts' entries alike: submitted to durable.
    ledger_append_us: Option<f64>,
    /// One batch's write (hashing, checkpoint signature, durable commit).
    ledger_batch_us: Option<f64>,
    transport_us: Option<f64>,
    gateway_check_us: Option<f64>,
    relay_us: Option<f64>,
    receipt_server_us: Option<f64>,
}

impl Stages {
    fn between(a: &Snapshot, b: &Snapshot, added_mean_us: f64) -> Stages {
        let mean = |k: &str| -> Option<f64> {
            let (s0, c0) = a.values.get(k).copied().unwrap_or((0.0, 0.0));
            let (s1, c1) = b.values.get(k).copied()?;
            let n = c1 - c0;
            (n > 0.0).then(|| (s1 - s0) / n * 1e6)
        };
        let admit = mean("admit");
        let rt = mean("round_trip");
        let http = mean("server_http");
        Stages {
            added_mean_us,
            admit_us: admit,
            authorize_round_trip_us: rt,
            server_http_us: http,
            server_authorize_us: mean("server_authorize"),
            ledger_append_us: mean("ledger_append"),
            ledger_batch_us: mean("ledger_batch"),
            transport_us: rt.zip(http).map(|(r, h)| r - h),
            gateway_check_us: admit.zip(rt).map(|(a, r)| a - r),
            relay_us: admit.map(|a| added_mean_us - a),
            receipt_server_us: mean("receipt"),
        }
    }
}

/// What any gateway that records its decision durably before the call must add on this
/// machine, measured in the same run as the calls, and what each path adds beyond it.
#[derive(Debug, serde::Serialize)]
struct Floors {
    /// The bare relay's added p50: one more process in the path that does nothing else.
    relay_added_p50_us: f64,
    /// One bare durable write of what a decision's commit writes, timed between the calls.
    durable_write_p50_us: f64,
    durable_write_p99_us: f64,
    durable_write_bytes: usize,
    /// Both floors: the least a governed call with a durable decision adds here.
    together_p50_us: f64,
    /// Each proxy's added p50 beyond the floors it pays: the relay for every proxy, and the
    /// durable write too for Writ's paths (AGT records nothing durably).
    beyond_p50_us: std::collections::BTreeMap<&'static str, f64>,
}

impl Floors {
    /// `None` for a throughput run (no durable writes timed) or without the relay path.
    fn of(stats: &[PathStats], durable: Option<&mut DurableWrite>) -> Option<Floors> {
        let relay = stats.iter().find(|s| s.path == "relay")?.added_p50_us;
        let durable = durable?;
        durable.lat.sort_unstable();
        let us = |p: f64| nearest_rank(&durable.lat, p).map(|ns| ns as f64 / 1000.0);
        let (p50, p99) = (us(0.50)?, us(0.99)?);
        let beyond_p50_us = stats
            .iter()
            .filter(|s| !matches!(s.path, "direct" | "relay"))
            .map(|s| {
                let durable_too = if s.path == "agt" { 0.0 } else { p50 };
                (s.path, s.added_p50_us - relay - durable_too)
            })
            .collect();
        Some(Floors {
            relay_added_p50_us: relay,
            durable_write_p50_us: p50,
            durable_write_p99_us: p99,
            durable_write_bytes: durable.buf.len(),
            together_p50_us: relay + p50,
            beyond_p50_us,
        })
    }

    fn print(&self) {
        println!(
            "floors (p50, this run): a bare relay process adds {:+.3} ms; one durable write ({} bytes, then fsync) takes {:.3} ms; together {:.3} ms",
            self.relay_added_p50_us / 1000.0,
            self.durable_write_bytes,
            self.durable_write_p50_us / 1000.0,
            self.together_p50_us / 1000.0
        );
        print!(
            "beyond the floors (added p50 minus the relay's, and minus the durable write for writ's paths):"
        );
        for (path, us) in &self.beyond_p50_us {
            print!("  {path} {:+.3} ms", us / 1000.0);
        }
        println!();
    }
}

/// What a decision's commit writes to the ledger's WAL: three frames (the entries, disclosures
/// and tiles pages it touches), each a 24-byte header and a page.
const COMMIT_BYTES: usize = 3 * (24 + writ_ledger::store::PAGE_SIZE as usize);
/// The span of the probe's file the writes go round in, written once first, so (as in a WAL
/// after its first checkpoint) a write lands on blocks the file already has.
const PROBE_SPAN: u64 = 8 << 20;

/// The durable-write floor: [`COMMIT_BYTES`] written and then `fsync`ed (as SQLite syncs a
/// commit), in a file beside the control plane's data, timed alone.
struct DurableWrite {
    file: std::fs::File,
    buf: Vec<u8>,
    offset: u64,
    /// Latencies, nanoseconds.
    lat: Vec<u64>,
}

impl DurableWrite {
    fn open(dir: &Path) -> anyhow::Result<DurableWrite> {
        let path = dir.join("durable-write.probe");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let block = vec![0x5a_u8; 1 << 20];
        for at in (0..PROBE_SPAN).step_by(block.len()) {
            file.write_all_at(&block, at)?;
        }
        file.sync_all()?;
        Ok(DurableWrite {
            file,
            buf: (0..COMMIT_BYTES).map(|i| (i % 251) as u8).collect(),
            offset: 0,
            lat: Vec::new(),
        })
    }

    fn sample(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        self.file.write_all_at(&self.buf, self.offset)?;
        self.file.sync_all()?;
        self.lat
            .push(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
        let len = self.buf.len() as u64;
        self.offset = (self.offset + len) % (PROBE_SPAN - len);
        Ok(())
    }
}

/// `writ bench relay -- COMMAND…`: the bench's floor path, the least any stdio proxy does. It
/// starts COMMAND and copies bytes both ways as they come: no framing, no parsing, no decision.
#[derive(Debug, clap::Args)]
pub struct RelayArgs {
    /// The server command, after `--`.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

pub fn relay(args: RelayArgs) -> anyhow::Result<Exit> {
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| invalid_input("give the server command after --"))?;
    let mut child = Command::new(program)
        .args(rest)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {program}"))?;
    let mut to_child = child.stdin.take().context("no stdin for the server")?;
    let mut from_child = child.stdout.take().context("no stdout from the server")?;
    // The client's end closing closes the server's input, which ends it.
    std::thread::spawn(move || copy_as_it_comes(&mut std::io::stdin().lock(), &mut to_child));
    let _ = copy_as_it_comes(&mut from_child, &mut std::io::stdout().lock());
    child.wait().context("the server")?;
    Ok(Exit::Ok)
}

/// Copies what `from` has whenever it has anything, until it ends.
fn copy_as_it_comes(from: &mut impl Read, to: &mut impl Write) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = from.read(&mut buf)?;
        match buf.get(..n) {
            Some(got) if n > 0 => {
                to.write_all(got)?;
                to.flush()?;
            }
            _ => return Ok(()),
        }
    }
}

/// Finds `agentmesh` in the bench's AGT virtual environment, creating and installing it first.
fn agt_install(args: &BenchMcpArgs) -> anyhow::Result<PathBuf> {
    let venv = match &args.agt_venv {
        Some(v) => v.clone(),
        None => std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .ok_or_else(|| invalid_input("no HOME: pass --agt-venv DIR or --no-agt"))?
            .join("writ/agt-5.0.0"),
    };
    let agentmesh = venv.join("bin/agentmesh");
    let marker = venv.join("writ-installed");
    if agentmesh.exists() && std::fs::read_to_string(&marker).is_ok_and(|t| t.trim() == AGT_PACKAGE)
    {
        return Ok(agentmesh);
    }
    eprintln!(
        "writ bench mcp: installing {AGT_PACKAGE} into {}",
        venv.display()
    );
    let status = Command::new(&args.python)
        .args(["-m", "venv"])
        .arg(&venv)
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("cannot run {}", args.python))?;
    if !status.success() {
        return Err(invalid_input(format!(
            "`{} -m venv {}` failed ({status}); install python3-venv, or pass --no-agt",
            args.python,
            venv.display()
        )));
    }
    let out = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            AGT_PACKAGE,
        ])
        .output()
        .context("cannot run pip")?;
    if !out.status.success() || !agentmesh.exists() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail = err
            .get(err.len().saturating_sub(1500)..)
            .unwrap_or_default();
        return Err(invalid_input(format!(
            "pip could not install {AGT_PACKAGE} into {} (is PyPI reachable?): {tail}\npass --no-agt to measure without it",
            venv.display()
        )));
    }
    std::fs::write(&marker, AGT_PACKAGE)?;
    Ok(agentmesh)
}

/// A control plane started in this process, provisioned for the bench.
struct Hosted {
    plane: LocalPlane,
    key_file: PathBuf,
    agent_token: PathBuf,
    gate_token: PathBuf,
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = crate::cli_output::create_private(path, "secrets")?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

impl Hosted {
    async fn start(dir: &Path) -> anyhow::Result<Hosted> {
        let started = LocalPlane::start(dir.join("data"), bundle, "agent:bench").await?;
        let key_file = dir.join("gate.key");
        write_private(&key_file, &hex::encode(started.gate_key.to_bytes()))?;
        let agent_token = dir.join("agent.token");
        write_private(&agent_token, &started.agent_token)?;
        let gate_token = dir.join("gate.token");
        write_private(&gate_token, &started.gate_token)?;
        Ok(Hosted {
            plane: started.plane,
            key_file,
            agent_token,
            gate_token,
        })
    }

    async fn stop(self) {
        self.plane.stop().await;
    }
}

/// A free port on 127.0.0.1 (`ADDR`), for a process to listen on.
/// `N` distinct free loopback addresses: every listener is held until all are picked, so the
/// kernel cannot hand the same port out twice (it did: two gateway listeners on one port).
fn free_ports<const N: usize>() -> anyhow::Result<[String; N]> {
    let held = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    let addrs = held
        .iter()
        .map(|l| l.local_addr().map(|a| a.to_string()))
        .collect::<std::io::Result<Vec<_>>>()?;
    addrs
        .try_into()
        .map_err(|_| anyhow::anyhow!("not {N} free ports"))
}

/// The metrics of the control plane at `plane` (read with the admin token `admin`) and of the
/// gateway serving them on `gateway_metrics`, now.
async fn snapshot(plane: &str, admin: &str, gateway_metrics: &str) -> Snapshot {
    let client = reqwest::Client::new();
    let server = client
        .get(format!("{plane}/metrics"))
        .bearer_auth(admin)
        .send()
        .await;
    let server = match server {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let gate = match client
        .get(format!("http://{gateway_metrics}/metrics"))
        .send()
        .await
    {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let text = format!("{server}\n{gate}");
    let mut values = HashMap::new();
    for (key, name, label) in SERIES {
        if let Some(v) = sum_count(&text, name, label) {
            values.insert(key, v);
        }
    }
    Snapshot { values }
}

/// The bench's bundle: the default schema and entities, [`POLICY`] as its only policy, signed.
fn bundle(key: &writ_authorize::BundleSigningKey) -> anyhow::Result<Map<String, Value>> {
    let files: Vec<(&str, &str)> = crate::default_bundle::FILES
        .iter()
        .map(|(n, t)| (*n, if *n == "policies.cedar" { POLICY } else { *t }))
        .collect();
    crate::default_bundle::signed_files(key, &files, "the bench bundle")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_sums_are_read_by_name_and_label() {
        let text = "writ_http_request_duration_seconds_sum{route=\"/healthz\"} 1.5\n\
                    writ_http_request_duration_seconds_count{route=\"/healthz\"} 3\n\
                    writ_http_request_duration_seconds_sum{route=\"/v1/authorize\"} 0.25\n\
                    writ_http_request_duration_seconds_count{route=\"/v1/authorize\"} 100\n\
                    writ_authorize_duration_seconds_sum 0.1\n\
                    writ_authorize_duration_seconds_count 100\n";
        assert_eq!(
            sum_count(
                text,
                "writ_http_request_duration_seconds",
                "route=\"/v1/authorize\""
            ),
            Some((0.25, 100.0))
        );
        assert_eq!(
            sum_count(text, "writ_authorize_duration_seconds", ""),
            Some((0.1, 100.0))
        );
        assert_eq!(
            sum_count(text, "writ_gate_admit_duration_seconds", ""),
            None
        );
    }

    #[test]
    fn an_echo_answer_is_checked() {
        assert!(
            echo_ok(
                &json!({"result": {"content": [{"type": "text", "text": "Echo: writ bench"}]}})
            )
            .is_ok()
        );
        assert!(echo_ok(&json!({"result": {"isError": true, "content": [{"type": "text", "text": "writ bench"}]}})).is_err());
        assert!(echo_ok(&json!({"error": {"code": -32001, "message": "denied"}})).is_err());
    }
}
