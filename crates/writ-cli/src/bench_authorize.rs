//! `writ bench authorize`: a closed-loop load generator for `POST /v1/authorize`.
//!
//! N clients each send one authorize request, wait for the answer, and send the next, for a
//! fixed time. It prints throughput and p50/p90/p99/max latency, and in the same run the same
//! loop against `GET /healthz` on the same server as a baseline (the HTTP and scheduling cost
//! alone), so the figures read as ratios that survive a different machine.
//!
//! Against a running server it needs a principal's token and a registered gate's key; with
//! `--self-hosted` it starts a server in-process on a temporary data directory and provisions a
//! principal, a gate and the default policy bundle itself.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use writ_model::{Clock, GateId, SystemClock, ZoneId};

use crate::bench_plane::{LocalPlane, nearest_rank, ratio};
use crate::cli_output::{Exit, Format, invalid_input, print_json};
use crate::operator_cmd::{attest, read_gate_key};

#[derive(Debug, clap::Args)]
pub struct BenchAuthorizeArgs {
    /// Start a server in this process on a temporary data directory and provision it (a
    /// principal, a gate and the default bundle); --control-plane, --token-file and --gate-key
    /// are ignored.
    #[arg(long)]
    self_hosted: bool,
    /// Base URL of a running control plane.
    #[arg(
        long = "control-plane",
        env = "WRIT_SERVER",
        default_value = "http://127.0.0.1:8787",
        value_name = "URL"
    )]
    server: String,
    /// Refused: a token on the command line is visible to every local user (`ps`).
    #[arg(long = "token", hide = true, value_name = "TOKEN")]
    token: Option<String>,
    /// A file (mode 0600) holding the principal's bearer token (from `writ principal add`);
    /// or set WRIT_TOKEN.
    #[arg(long, env = "WRIT_TOKEN_FILE", value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// The gate's secret key file (from `writ gate keygen`; mode 0600), used to sign
    /// environment attestations.
    #[arg(long, env = "WRIT_GATE_KEY_FILE", value_name = "FILE")]
    gate_key: Option<PathBuf>,
    /// The registered gate's id.
    #[arg(
        long = "gate-id",
        alias = "gate",
        env = "WRIT_GATE_ID",
        default_value = "gate:bench"
    )]
    gate: String,
    /// The gate's zone.
    #[arg(long, default_value = "dev")]
    zone: String,
    /// The tool called (the default bundle allows read-only tools such as github/get_issue).
    #[arg(long, default_value = "github/get_issue")]
    tool: String,
    /// Concurrent clients; a list (1,16,64) runs one round per value.
    #[arg(long, value_delimiter = ',', default_value = "16")]
    concurrency: Vec<usize>,
    /// Seconds of load per round (after the warm-up).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds of unmeasured load before each round.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Skip the GET /healthz baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Output format: `human` (text) or `json` (one JSON document on stdout).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// What one closed loop measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoopStats {
    pub target: &'static str,
    pub concurrency: usize,
    pub seconds: f64,
    pub ok: u64,
    pub errors: u64,
    pub per_second: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// The first unexpected answer, to say why errors happened.
    pub first_error: Option<String>,
}

/// Everything a request needs: where, who, and a fresh attestation.
pub(crate) struct Target {
    pub(crate) base: String,
    pub(crate) token: String,
    pub(crate) gate: GateId,
    pub(crate) zone: ZoneId,
    pub(crate) key: ed25519_dalek::SigningKey,
    pub(crate) tool: String,
}

impl Target {
    pub(crate) fn body(&self) -> anyhow::Result<Vec<u8>> {
        let att = attest(&self.key, &self.gate, &self.zone, SystemClock.now_unix())?;
        Ok(serde_json::to_vec(&json!({
            "intent": {"action": "mcp.call_tool", "resource": format!("tool:{}", self.tool), "args": {"repo": "acme/api", "number": 7}},
            "attestation": att,
        }))?)
    }
}

pub fn bench(args: BenchAuthorizeArgs) -> anyhow::Result<Exit> {
    if args.concurrency.iter().any(|&c| c == 0 || c > 4096) {
        return Err(invalid_input(
            "--concurrency values must be between 1 and 4096",
        ));
    }
    if args.duration == 0 {
        return Err(invalid_input("--duration must be at least 1 second"));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let hosted = if args.self_hosted {
            Some(SelfHosted::start().await?)
        } else {
            None
        };
        let target = match &hosted {
            Some(h) => Target {
                base: h.base.clone(),
                token: h.token.clone(),
                gate: h.gate.clone(),
                zone: h.zone.clone(),
                key: h.key.clone(),
                tool: args.tool.clone(),
            },
            None => external_target(&args)?,
        };
        let target = Arc::new(target);
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(4096)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            .build()
            .context("cannot build the HTTP client")?;
        // One request first, so a misconfiguration is one clear error instead of a flood.
        let probe = client
            .post(format!("{}/v1/authorize", target.base))
            .bearer_auth(&target.token)
            .header("content-type", "application/json")
            .body(target.body()?)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach {}: {e}; start the server or use --self-hosted", target.base))?;
        let status = probe.status().as_u16();
        if status != 200 {
            let text = probe.text().await.unwrap_or_default();
            return Err(invalid_input(format!(
                "the first authorize answered {status} instead of 200: {text}; check the token, the gate key and that the bundle allows {}",
                target.tool
            )));
        }
        let mut rounds = Vec::new();
        for &c in &args.concurrency {
            let auth = run_loop(&client, std::slice::from_ref(&target), Kind::Authorize, c, args.warmup, args.duration).await?;
            let base = if args.no_baseline {
                None
            } else {
                Some(run_loop(&client, std::slice::from_ref(&target), Kind::Healthz, c, args.warmup.min(1), args.duration).await?)
            };
            if args.format == Format::Human {
                print_round(&auth, base.as_ref());
            }
            rounds.push(json!({
                "concurrency": c,
                "authorize": auth,
                "baseline_healthz": base,
                "throughput_ratio_vs_healthz": base.as_ref().map(|b| ratio(auth.per_second, b.per_second)),
                "p99_ratio_vs_healthz": base.as_ref().map(|b| ratio(auth.p99_us as f64, b.p99_us as f64)),
            }));
        }
        if args.format == Format::Json {
            print_json(&json!({"server": target.base, "self_hosted": hosted.is_some(), "duration_secs": args.duration, "rounds": rounds}))?;
        }
        if let Some(h) = hosted {
            h.stop().await;
        }
        Ok(Exit::Ok)
    })
}

fn print_round(auth: &LoopStats, base: Option<&LoopStats>) {
    let line = |s: &LoopStats| {
        println!(
            "{:<10} c={:<4} {:>9.0}/s  p50 {:>7.3} ms  p90 {:>7.3} ms  p99 {:>7.3} ms  max {:>8.3} ms  ok {} errors {}",
            s.target,
            s.concurrency,
            s.per_second,
            s.p50_us as f64 / 1000.0,
            s.p90_us as f64 / 1000.0,
            s.p99_us as f64 / 1000.0,
            s.max_us as f64 / 1000.0,
            s.ok,
            s.errors
        );
        if let Some(e) = &s.first_error {
            println!("           first error: {e}");
        }
    };
    line(auth);
    if let Some(b) = base {
        line(b);
        println!(
            "           authorize/healthz: throughput x{:.3}, p99 x{:.2}",
            ratio(auth.per_second, b.per_second),
            ratio(auth.p99_us as f64, b.p99_us as f64)
        );
    }
}

fn external_target(args: &BenchAuthorizeArgs) -> anyhow::Result<Target> {
    let token = crate::cli_output::file_or_env_secret(
        args.token.as_ref(),
        args.token_file.as_ref(),
        "token",
        "WRIT_TOKEN",
        "the principal's token",
    )?
    .ok_or_else(|| {
        invalid_input(
            "pass a principal's token with --token-file FILE, WRIT_TOKEN_FILE or WRIT_TOKEN (or use --self-hosted)",
        )
    })?;
    let key_file = args.gate_key.as_ref().ok_or_else(|| {
        invalid_input("pass the gate's key with --gate-key FILE (or use --self-hosted)")
    })?;
    Ok(Target {
        base: args.server.trim_end_matches('/').to_owned(),
        token,
        gate: args
            .gate
            .parse()
            .map_err(|e| invalid_input(format!("--gate-id: {e}")))?,
        zone: args
            .zone
            .parse()
            .map_err(|e| invalid_input(format!("--zone: {e}")))?,
        key: read_gate_key(key_file)?,
        tool: args.tool.clone(),
    })
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Authorize,
    Healthz,
}

/// Runs `concurrency` closed-loop clients for `warmup` + `duration` seconds, client `i` against
/// `targets[i % targets.len()]` (nodes of one fleet: same token, gate and body).
pub(crate) async fn run_loop(
    client: &reqwest::Client,
    targets: &[Arc<Target>],
    kind: Kind,
    concurrency: usize,
    warmup: u64,
    duration: u64,
) -> anyhow::Result<LoopStats> {
    let target = targets
        .first()
        .ok_or_else(|| anyhow::anyhow!("no control plane to load"))?;
    // Attestations are valid for minutes; a background task renews the body every 30 s.
    let body = Arc::new(RwLock::new(target.body()?));
    let renew = {
        let body = body.clone();
        let target = target.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(30)).await;
                if let Ok(b) = target.body()
                    && let Ok(mut g) = body.write()
                {
                    *g = b;
                }
            }
        })
    };
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(warmup);
    let end = measure_from + Duration::from_secs(duration);
    let mut tasks = Vec::with_capacity(concurrency);
    for i in 0..concurrency {
        let client = client.clone();
        let target = targets
            .get(i % targets.len())
            .cloned()
            .unwrap_or_else(|| target.clone());
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat: Vec<u32> = Vec::new();
            let mut errors = 0u64;
            let mut first_error = None;
            let url_auth = format!("{}/v1/authorize", target.base);
            let url_health = format!("{}/healthz", target.base);
            // Plain http: the lean client (it shares the machine with the server it measures).
            let authority = crate::bench_http::plain_http_authority(&target.base);
            let mut raw = authority.as_deref().map(crate::bench_http::Conn::new);
            let health_request = authority
                .as_deref()
                .map(|a| crate::bench_http::request_bytes("GET", a, "/healthz", None, None));
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                if let (Some(conn), Some(authority)) = (raw.as_mut(), authority.as_deref()) {
                    let request = match kind {
                        Kind::Authorize => {
                            let json = body.read().map(|g| g.clone()).unwrap_or_default();
                            crate::bench_http::request_bytes(
                                "POST",
                                authority,
                                "/v1/authorize",
                                Some(&target.token),
                                Some(&json),
                            )
                        }
                        Kind::Healthz => health_request.clone().unwrap_or_default(),
                    };
                    let outcome = match conn.exchange(&request).await {
                        Ok((200, _)) => Ok(()),
                        Ok((status, b)) => {
                            Err(format!("{status}: {}", String::from_utf8_lossy(&b)))
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    let t1 = Instant::now();
                    if t0 < measure_from {
                        continue;
                    }
                    match outcome {
                        Ok(()) => lat.push(
                            u32::try_from(t1.duration_since(t0).as_micros()).unwrap_or(u32::MAX),
                        ),
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert(e);
                        }
                    }
                    continue;
                }
                let req = match kind {
                    Kind::Authorize => {
                        let bytes = body.read().map(|g| g.clone()).unwrap_or_default();
                        client
                            .post(&url_auth)
                            .bearer_auth(&target.token)
                            .header("content-type", "application/json")
                            .body(bytes)
                    }
                    Kind::Healthz => client.get(&url_health),
                };
                let outcome = match req.send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        match resp.bytes().await {
                            Ok(_) if status == 200 => Ok(()),
                            Ok(b) => Err(format!("{status}: {}", String::from_utf8_lossy(&b))),
                            Err(e) => Err(e.to_string()),
                        }
                    }
                    Err(e) => Err(e.to_string()),
                };
                let t1 = Instant::now();
                if t0 < measure_from {
                    continue;
                }
                match outcome {
                    Ok(()) => lat
                        .push(u32::try_from(t1.duration_since(t0).as_micros()).unwrap_or(u32::MAX)),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (lat, errors, first_error)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for t in tasks {
        let (lat, e, fe) = t.await.context("a load client failed")?;
        all.extend(lat);
        errors += e;
        if first_error.is_none() {
            first_error = fe;
        }
    }
    renew.abort();
    let seconds = duration as f64;
    all.sort_unstable();
    let pct = |p: f64| nearest_rank(&all, p).map_or(0, u64::from);
    Ok(LoopStats {
        target: match kind {
            Kind::Authorize => "authorize",
            Kind::Healthz => "healthz",
        },
        concurrency,
        seconds,
        ok: all.len() as u64,
        errors,
        per_second: all.len() as f64 / seconds,
        p50_us: pct(0.50),
        p90_us: pct(0.90),
        p99_us: pct(0.99),
        max_us: all.last().copied().map_or(0, u64::from),
        first_error,
    })
}

/// A server started in this process on a temporary data directory.
struct SelfHosted {
    base: String,
    token: String,
    gate: GateId,
    zone: ZoneId,
    key: ed25519_dalek::SigningKey,
    plane: LocalPlane,
    _dir: tempfile::TempDir,
}

impl SelfHosted {
    async fn start() -> anyhow::Result<SelfHosted> {
        let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        let started = LocalPlane::start(
            dir.path().join("data"),
            crate::default_bundle::signed_upload,
            "agent:triage-bot",
        )
        .await?;
        Ok(SelfHosted {
            base: started.plane.base.clone(),
            token: started.agent_token,
            gate: "gate:bench"
                .parse()
                .map_err(|e| anyhow::anyhow!("gate id: {e}"))?,
            zone: "dev".parse().map_err(|e| anyhow::anyhow!("zone: {e}"))?,
            key: started.gate_key,
            plane: started.plane,
            _dir: dir,
        })
    }

    async fn stop(self) {
        self.plane.stop().await;
    }
}
