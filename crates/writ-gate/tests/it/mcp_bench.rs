//! Acceptance 5 (gateway benchmark), ignored in normal runs:
//! `cargo test -p writ-gate --release --test it mcp_bench -- --ignored --nocapture`
//! (with WRIT_TEST_NODE_MODULES set). Latency of `tools/call` over stdio to
//! `server-filesystem`, directly and through the gateway (control plane on loopback with its
//! SQLite ledger: authorize, writ check and receipt included), calls alternating between the
//! two so both see the same machine load; then calls per second through one gateway with
//! calls in flight. Prints figures; asserts only that the calls succeeded.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader, Lines};
use writ_gate::mcp::{PinSet, discover, stdio};

use crate::mcp_harness::{Plane, tools};
use crate::mcp_stdio::fs_policies;

struct Conn {
    w: Box<dyn AsyncWrite + Unpin + Send>,
    r: Lines<BufReader<Box<dyn tokio::io::AsyncRead + Unpin + Send>>>,
    next: u64,
}

impl Conn {
    async fn send(&mut self, v: &Value) {
        self.w.write_all(format!("{v}\n").as_bytes()).await.unwrap();
        self.w.flush().await.unwrap();
    }
    async fn answer(&mut self) -> Value {
        loop {
            let line = self.r.next_line().await.unwrap().expect("stream ended");
            let v: Value = serde_json::from_str(&line).unwrap();
            if v.get("id").is_some() && v.get("method").is_none() {
                return v;
            }
        }
    }
    async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": self.next, "method": method, "params": params}))
            .await;
        self.answer().await
    }
    async fn init(&mut self) {
        let a = self
            .request(
                "initialize",
                json!({"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "bench", "version": "1"}}),
            )
            .await;
        assert!(a.get("result").is_some(), "{a}");
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
    }
}

fn direct(cmd: &[String]) -> (Conn, tokio::process::Child) {
    let mut child = tokio::process::Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let w = Box::new(child.stdin.take().unwrap());
    let r: Box<dyn tokio::io::AsyncRead + Unpin + Send> = Box::new(child.stdout.take().unwrap());
    (
        Conn {
            w,
            r: BufReader::new(r).lines(),
            next: 0,
        },
        child,
    )
}

fn through(enforcer: Arc<writ_gate::mcp::Enforcer>, token: String, cmd: Vec<String>) -> Conn {
    let (client, gateway) = tokio::io::duplex(1 << 20);
    let (gr, gw) = tokio::io::split(gateway);
    tokio::spawn(async move {
        stdio::run_stdio(enforcer, Some(token), &cmd, gr, gw)
            .await
            .unwrap();
    });
    let (cr, cw) = tokio::io::split(client);
    let r: Box<dyn tokio::io::AsyncRead + Unpin + Send> = Box::new(cr);
    Conn {
        w: Box::new(cw),
        r: BufReader::new(r).lines(),
        next: 0,
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

/// The control plane's own authorize time so far: (sum of seconds, count).
fn server_authorize(plane: &Plane) -> (f64, f64) {
    let text = plane.state.metrics.render(0);
    let get = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (
        get("writ_authorize_duration_seconds_sum "),
        get("writ_authorize_duration_seconds_count "),
    )
}

fn call_params(root: &Path) -> Value {
    json!({"name": "read_text_file", "arguments": {"path": root.join("small.txt")}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
async fn mcp_bench_gateway_latency_and_throughput() {
    let Some(t) = tools() else { return };
    let n: usize = std::env::var("WRIT_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    std::fs::write(root.join("small.txt"), "x".repeat(256)).unwrap();
    let plane = Plane::start(&fs_policies(&root)).await;
    let token = plane.add_principal("agent:bench").await;
    let cmd = t.filesystem(&root);
    let pins = PinSet::from_tools("fs", &discover::list_tools_stdio(&cmd).await.unwrap());
    let enforcer = plane.enforcer("fs", pins, Duration::from_secs(5)).await;

    let (mut d, _child) = direct(&cmd);
    d.init().await;
    let mut g = through(enforcer.clone(), token.clone(), cmd.clone());
    g.init().await;
    let params = call_params(&root);
    for _ in 0..50 {
        assert!(
            d.request("tools/call", params.clone())
                .await
                .get("result")
                .is_some()
        );
        let a = g.request("tools/call", params.clone()).await;
        assert!(a.get("result").is_some(), "{a}");
    }
    let (mut dt, mut gt) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let alt_before = server_authorize(&plane);
    for _ in 0..n {
        let s = Instant::now();
        d.request("tools/call", params.clone()).await;
        dt.push(s.elapsed());
        let s = Instant::now();
        let a = g.request("tools/call", params.clone()).await;
        gt.push(s.elapsed());
        assert!(a.get("result").is_some(), "{a}");
    }
    let alt_after = server_authorize(&plane);
    dt.sort();
    gt.sort();
    println!("tools/call read_text_file over stdio, {n} calls each, alternating (µs):");
    println!(
        "  direct   p50 {:8.0}  p90 {:8.0}  p99 {:8.0}",
        pct(&dt, 0.5),
        pct(&dt, 0.9),
        pct(&dt, 0.99)
    );
    println!(
        "  gateway  p50 {:8.0}  p90 {:8.0}  p99 {:8.0}",
        pct(&gt, 0.5),
        pct(&gt, 0.9),
        pct(&gt, 0.99)
    );
    println!(
        "  added at p50: {:.0} µs (ratio gateway/direct {:.2})",
        pct(&gt, 0.5) - pct(&dt, 0.5),
        pct(&gt, 0.5) / pct(&dt, 0.5)
    );

    println!(
        "  control plane's authorize handler during these calls (mean): {:.0}",
        (alt_after.0 - alt_before.0) / (alt_after.1 - alt_before.1) * 1e6
    );

    // Back to back through the gateway alone: each call's receipt is posted while the next
    // call is being authorized (the alternating run above gives it a direct call's time).
    let mut bt = Vec::with_capacity(n);
    for _ in 0..n {
        let s = Instant::now();
        let a = g.request("tools/call", params.clone()).await;
        bt.push(s.elapsed());
        assert!(a.get("result").is_some(), "{a}");
    }
    bt.sort();
    println!(
        "  gateway back to back: p50 {:.0}  p90 {:.0}  p99 {:.0}",
        pct(&bt, 0.5),
        pct(&bt, 0.9),
        pct(&bt, 0.99)
    );
    // Where the added time goes: the authorize round trip alone (same intent, same gate).
    let cp = writ_gate::ControlPlane::new(&plane.base);
    let intent = writ_model::Intent::new(
        "mcp.call_tool",
        "tool:fs/read_text_file",
        params["arguments"].clone(),
    );
    let mut at = Vec::with_capacity(n);
    let server_before = server_authorize(&plane);
    for _ in 0..n {
        let attestation = enforcer.gate().attest().unwrap();
        let s = Instant::now();
        let a = cp
            .authorize(&token, &intent, &attestation, &Default::default())
            .await
            .unwrap();
        at.push(s.elapsed());
        assert!(matches!(a, writ_gate::Authorization::Allow { .. }));
    }
    let server_after = server_authorize(&plane);
    at.sort();
    println!(
        "  authorize round trip alone: p50 {:.0}  p90 {:.0}  p99 {:.0}",
        pct(&at, 0.5),
        pct(&at, 0.9),
        pct(&at, 0.99)
    );
    println!(
        "    of which inside the control plane's handler (mean): {:.0}",
        (server_after.0 - server_before.0) / (server_after.1 - server_before.1) * 1e6
    );

    // Throughput: 64 calls in flight through one gateway, then the same directly.
    let total = n * 2;
    for (label, conn) in [("gateway", &mut g), ("direct", &mut d)] {
        let start = Instant::now();
        let mut sent = 0usize;
        let mut done = 0usize;
        while done < total {
            while sent < total && sent - done < 64 {
                conn.next += 1;
                let id = conn.next;
                conn.send(
                    &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}),
                )
                .await;
                sent += 1;
            }
            let a = conn.answer().await;
            assert!(a.get("result").is_some(), "{a}");
            done += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "  {label:8} {:.0} calls/s ({total} calls, 64 in flight)",
            total as f64 / secs
        );
    }
    // Every call forwarded through the gateway has its receipt (warm-up, alternating, back
    // to back, throughput): none was dropped on the way.
    let forwarded = 50 + n + n + total;
    let receipts = plane.receipts(forwarded).await.len();
    println!("  receipts in the ledger: {receipts} (calls forwarded: {forwarded})");
    assert_eq!(receipts, forwarded);
    plane.stop().await;
}
