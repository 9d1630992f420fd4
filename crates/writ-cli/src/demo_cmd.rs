//! `writ demo`: verify → authorize → execute → prove, end to end, on a fresh machine.
//!
//! Starts a real control plane on 127.0.0.1 with the embedded SQLite ledger in a temporary
//! directory, provisions principals, a gate and the default policy bundle, then plays a scripted
//! agent scenario against it through the public API, exactly as agents and gates would.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde::Serialize;
use serde_json::{Value, json};
use writ_authorize::BundleSigningKey;
use writ_gate::exec::{ExecRequest, Runner, RunnerConfig};
use writ_gate::{Authorization, AuthorizeOptions, ControlPlane, Gate, GateConfig};
use writ_model::receipt::Outcome;
use writ_model::{Clock, Intent, SystemClock};

use crate::cli_output::{Exit, Format, print_json};

const DEMO_LONG_HELP: &str = "\
With --web, the demo control plane keeps running and prints a URL to open in a browser: the
scenario plays there step by step, one button per step, each showing the ledger growing and
linking to the lineage and proof of what just happened; the last step verifies the proof in
the browser. The URL carries a viewer token for a demo person (human:demo, role auditor) in
its fragment (#token=…), which the browser never sends in a request line: the page keeps it
in the tab's session storage and removes it from the location bar. The printed URL is a
secret on stdout for the person running the demo, acceptable for a local demo on 127.0.0.1.
Stop it with Ctrl-C (or SIGTERM).";

/// Run the end-to-end demonstration.
#[derive(Debug, clap::Args)]
#[command(after_long_help = DEMO_LONG_HELP)]
pub struct DemoArgs {
    /// Keep the control plane's data here instead of a temporary directory (must not exist yet).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Output format: `human` (text) or `json` (one JSON document on stdout; with --web, one
    /// JSON line with the URL).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Play the scenario in the browser, step by step, until Ctrl-C (prints a URL that carries
    /// a viewer token; see --help).
    #[arg(long)]
    web: bool,
}

/// One step of the story, as printed (and answered to the browser with --web).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Step {
    pub stage: &'static str,
    pub title: String,
    pub outcome: String,
    pub details: Vec<String>,
    /// The execution the step is about (its lineage and proof), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub data: Value,
}

impl Step {
    fn new(
        stage: &'static str,
        title: &str,
        outcome: &str,
        details: Vec<String>,
        execution: Option<String>,
        data: Value,
    ) -> Step {
        Step {
            stage,
            title: title.to_owned(),
            outcome: outcome.to_owned(),
            details,
            execution,
            data,
        }
    }

    fn print(&self) {
        println!("\n[{}] {}", self.stage, self.title);
        for d in &self.details {
            println!("    {d}");
        }
        println!("    => {}", self.outcome);
    }
}

/// The scenario's steps after provisioning, in order: `(stage, title)`. Both modes play these,
/// through [`World::play`].
pub(crate) const STEPS: [(&str, &str); 6] = [
    (
        "authorize",
        "An allowed call: agent:triage-bot calls github/get_issue",
    ),
    (
        "authorize",
        "A denied call: agent:triage-bot tries to write /etc/passwd",
    ),
    (
        "execute",
        "Tampered arguments: the path is swapped after authorization",
    ),
    (
        "authorize",
        "A delegation narrowed: agent:triage-bot delegates fs/read_file to agent:sub-bot",
    ),
    (
        "execute",
        "A revocation stops a running command: an operator revokes agent:sub-bot",
    ),
    ("prove", "A proof bundle for the first execution, verified"),
];

pub fn run(args: DemoArgs) -> anyhow::Result<Exit> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    if args.web {
        return runtime.block_on(crate::demo_web::run(args.dir, args.format));
    }
    runtime.block_on(demo(args))
}

async fn demo(args: DemoArgs) -> anyhow::Result<Exit> {
    let tmp;
    let data_dir = match args.dir {
        Some(d) => d,
        None => {
            tmp = tempfile::tempdir().context("cannot create a temporary directory")?;
            tmp.path().join("writ-data")
        }
    };
    let human = args.format == Format::Human;
    if human {
        println!("Writ demo: every agent action goes verify -> authorize -> execute -> prove.");
        println!(
            "Control plane data (SQLite ledger, keys): {}",
            data_dir.display()
        );
    }
    let mut world = World::start(data_dir.clone(), axum::Router::new()).await?;
    let mut steps = vec![world.provisioned.clone()];
    if human {
        world.provisioned.print();
    }
    for n in 1..=STEPS.len() {
        let step = world.play(n).await?;
        if human {
            step.print();
        }
        steps.push(step);
    }
    let base = world.base.clone();
    let proof = world.proof.clone().unwrap_or(Value::Null);
    let writ_ok = steps.last().is_some_and(|s| s.outcome == "verified");
    world.stop().await?;
    if human {
        println!(
            "\nThe proof bundle (writ.proof/v1):\n{}",
            serde_json::to_string_pretty(&proof)?
        );
        println!("\nDone: 6 steps, every one as expected.");
    } else {
        print_json(&json!({"server": base, "data_dir": data_dir, "steps": steps}))?;
    }
    Ok(if writ_ok { Exit::Ok } else { Exit::Failure })
}

/// The demo's control plane, provisioned, and what each step leaves for the next ones.
pub(crate) struct World {
    pub base: String,
    pub state: Arc<writ_server::AppState>,
    pub provisioned: Step,
    cp: ControlPlane,
    admin: String,
    gate: Arc<Gate>,
    gate_token: String,
    parent_token: String,
    sub_token: String,
    /// The command runner's gate (zone sandbox, where agents may run commands).
    runner_gate: Arc<Gate>,
    runner_gate_token: String,
    /// Where the governed command runs (inside the data directory's parent).
    workdir: tempfile::TempDir,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stop_tx: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _lock: crate::data_dir::DataDirLock,
    /// Step 1's call and execution (proved at the end).
    first: Option<(Intent, writ_model::ExecutionId)>,
    /// Step 4's child writ and call (refused once its principal is revoked).
    child: Option<(String, Intent)>,
    /// Step 6's proof bundle.
    pub proof: Option<Value>,
}

impl World {
    /// Initializes `data_dir`, serves the control plane (with `extra` routes) on 127.0.0.1 and
    /// provisions it: a signed policy bundle, two agents, a tool gate and a command runner's
    /// gate, each following the event feed.
    pub async fn start(data_dir: PathBuf, extra: axum::Router) -> anyhow::Result<World> {
        let bundle_key = BundleSigningKey::from_seed(random_seed()?);
        let config = writ_server::ServerConfig {
            data_dir: data_dir.clone(),
            heartbeat_secs: 1,
            ..Default::default()
        };
        let init = writ_server::init_data_dir(&config, &[bundle_key.verifying_key().to_hex()])
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("cannot initialize {}", data_dir.display()))?;
        let lock = crate::data_dir::lock(&data_dir)?;
        let state = writ_server::AppState::open(config, Arc::new(SystemClock))
            .map_err(|e| anyhow!("{e}"))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot listen on 127.0.0.1")?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(writ_server::run_with_routes(
            listener,
            state.clone(),
            extra,
            async move {
                let _ = stop_rx.await;
            },
        ));
        let cp = ControlPlane::new(&base);
        let admin = init.admin_token.clone();

        // Provisioning: a signed policy bundle, two agents and a gate with its own key.
        let files = crate::default_bundle::signed_upload(&bundle_key)?;
        let activated = cp
            .admin(
                &admin,
                "POST",
                "/v1/admin/bundles/activate",
                Some(&json!({"files": files})),
            )
            .await?;
        let parent_token = add_principal(&cp, &admin, "agent:triage-bot").await?;
        let sub_token = add_principal(&cp, &admin, "agent:sub-bot").await?;
        let jwks: writ_artifact::Jwks =
            serde_json::from_value(cp.get_json("/.well-known/jwks.json", None).await?)?;
        let mut tasks = Vec::new();
        let (gate, gate_token) =
            add_gate(&cp, &admin, &state, &jwks, "gate:mcp-1", "dev", &mut tasks).await?;
        let (runner_gate, runner_gate_token) = add_gate(
            &cp,
            &admin,
            &state,
            &jwks,
            "gate:sandbox-runner",
            "sandbox",
            &mut tasks,
        )
        .await?;
        let provisioned = Step::new(
            "verify",
            "Provision the control plane",
            "ready",
            vec![
                format!("control plane listening on {base}"),
                format!("policy bundle {} activated (signed, strictly validated)", short(field(&activated, "/bundle_sha256").as_str().unwrap_or(""))),
                "principals agent:triage-bot and agent:sub-bot registered (bearer tokens, stored hashed)".into(),
                "gate:mcp-1 (tools, zone dev) and gate:sandbox-runner (commands, zone sandbox) registered with their Ed25519 keys; they attest their environment and follow the event feed".into(),
                format!("ledger verifier key: {}", state.ledger.vkey()),
            ],
            None,
            json!({"server": base, "bundle": activated, "vkey": state.ledger.vkey()}),
        );
        let workdir = tempfile::tempdir().context("cannot create the command's directory")?;
        Ok(World {
            base,
            state,
            provisioned,
            cp,
            admin,
            gate,
            gate_token,
            parent_token,
            sub_token,
            runner_gate,
            runner_gate_token,
            workdir,
            tasks,
            stop_tx: Some(stop_tx),
            server: Some(server),
            _lock: lock,
            first: None,
            child: None,
            proof: None,
        })
    }

    /// The admin token (to register the demo's viewer).
    pub fn admin_token(&self) -> &str {
        &self.admin
    }

    pub fn control_plane(&self) -> &ControlPlane {
        &self.cp
    }

    /// Stops the feeds and the server, and waits for the server to finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(tx) = self.stop_tx.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.context("server task")?.context("server")?;
        }
        Ok(())
    }

    /// Plays step `n` (1-based, as in [`STEPS`]); steps build on the earlier ones.
    pub async fn play(&mut self, n: usize) -> anyhow::Result<Step> {
        match n {
            1 => self.allowed().await,
            2 => self.denied().await,
            3 => self.tampered().await,
            4 => self.delegation().await,
            5 => self.revocation().await,
            6 => self.prove().await,
            _ => bail!("there is no step {n}"),
        }
    }

    fn title(n: usize) -> (&'static str, &'static str) {
        STEPS.get(n.wrapping_sub(1)).copied().unwrap_or(("", ""))
    }

    /// 1. An allowed tool call, executed at the gate and receipted.
    async fn allowed(&mut self) -> anyhow::Result<Step> {
        let call = Intent::new(
            "mcp.call_tool",
            "tool:github/get_issue",
            json!({"repo": "acme/api", "number": 7}),
        );
        let (writ, execution, index) = expect_allow(
            self.cp
                .authorize(
                    &self.parent_token,
                    &call,
                    &self.gate.attest()?,
                    &AuthorizeOptions::default(),
                )
                .await?,
        )?;
        let verified = self
            .gate
            .check(&writ, &call)
            .map_err(|e| anyhow!("the gate refused a valid writ: {e}"))?;
        let started = SystemClock.now_unix();
        let result = br#"{"title":"500 on /login","state":"open"}"#;
        let receipt = self.gate.receipt(
            execution,
            Some(verified.claims().jti.clone()),
            call.digest()?,
            Outcome::Success,
            Some(result),
            None,
            started,
        )?;
        let receipt_index = self.cp.post_receipt(&self.gate_token, &receipt).await?;
        let (stage, title) = Self::title(1);
        let step = Step::new(
            stage,
            title,
            "allowed, executed, receipted",
            vec![
                format!("decision allow by policy {:?}, recorded durably at ledger index {index} before the writ was returned", verified.claims().policy.determining),
                format!("writ {} for gate:mcp-1, valid until {} (60 s), bound to args_sha256 {}", short(&verified.claims().jti), verified.claims().exp, short(&verified.claims().intent.args_sha256)),
                "the gate recomputed the intent digest from the exact call and verified the writ offline".into(),
                format!("receipt (outcome success, result digested) signed by the gate, ledger index {receipt_index}"),
            ],
            Some(execution.to_string()),
            json!({"execution": execution, "ledger_index": index, "receipt_index": receipt_index, "claims": verified.claims()}),
        );
        self.first = Some((call, execution));
        Ok(step)
    }

    /// 2. A denied call, with its reason.
    async fn denied(&mut self) -> anyhow::Result<Step> {
        let bad = Intent::new(
            "mcp.call_tool",
            "tool:fs/write_file",
            json!({"path": "/etc/passwd", "body": "x"}),
        );
        let Denial {
            code,
            reasons,
            ledger_index: deny_index,
            execution,
        } = expect_deny(
            self.cp
                .authorize(
                    &self.parent_token,
                    &bad,
                    &self.gate.attest()?,
                    &AuthorizeOptions::default(),
                )
                .await?,
        )?;
        let (stage, title) = Self::title(2);
        Ok(Step::new(
            stage,
            title,
            &format!("denied: {code}"),
            vec![
                format!("reason code {code}: {}", reasons.join("; ")),
                format!(
                    "the denial is evidence too: ledger index {}",
                    shown(deny_index)
                ),
            ],
            execution,
            json!({"reason_code": code, "reasons": reasons, "ledger_index": deny_index}),
        ))
    }

    /// 3. Arguments changed after authorization: refused at the gate.
    async fn tampered(&mut self) -> anyhow::Result<Step> {
        let asked = Intent::new(
            "mcp.call_tool",
            "tool:fs/write_file",
            json!({"path": "/workspace/notes.md", "body": "triage notes"}),
        );
        let (writ3, exec3, _) = expect_allow(
            self.cp
                .authorize(
                    &self.parent_token,
                    &asked,
                    &self.gate.attest()?,
                    &AuthorizeOptions::default(),
                )
                .await?,
        )?;
        let swapped = Intent::new(
            "mcp.call_tool",
            "tool:fs/write_file",
            json!({"path": "/workspace/../etc/passwd", "body": "triage notes"}),
        );
        let refused = match self.gate.check(&writ3, &swapped) {
            Ok(_) => bail!("the gate accepted a writ for different arguments"),
            Err(e) => e,
        };
        let started = SystemClock.now_unix();
        let receipt = self.gate.receipt(
            exec3,
            None,
            swapped.digest()?,
            Outcome::DeniedAtGate,
            None,
            Some(refused.reason_code().as_str().to_owned()),
            started,
        )?;
        self.cp.post_receipt(&self.gate_token, &receipt).await?;
        let (stage, title) = Self::title(3);
        Ok(Step::new(
            stage,
            title,
            &format!("refused at the gate: {}", refused.reason_code()),
            vec![
                "authorized: fs/write_file /workspace/notes.md; presented: /workspace/../etc/passwd".into(),
                format!("gate: {refused}"),
                "a receipt with outcome denied_at_gate is recorded".into(),
            ],
            Some(exec3.to_string()),
            json!({"execution": exec3, "reason_code": refused.reason_code()}),
        ))
    }

    /// 4. Delegation to a sub-agent with a narrower scope.
    async fn delegation(&mut self) -> anyhow::Result<Step> {
        let grant = json!({"actions": ["mcp.call_tool"], "resources": ["tool:fs/read_file"], "zones": ["dev"]});
        let deleg = Intent::new("delegate", "agent:sub-bot", grant.clone());
        let (deleg_writ, deleg_exec, _) = expect_allow(
            self.cp
                .authorize(
                    &self.parent_token,
                    &deleg,
                    &self.gate.attest()?,
                    &AuthorizeOptions::default(),
                )
                .await?,
        )?;
        let child_call = Intent::new(
            "mcp.call_tool",
            "tool:fs/read_file",
            json!({"path": "/workspace/notes.md"}),
        );
        let opts = AuthorizeOptions {
            from_writ: Some(deleg_writ.clone()),
            scope: Some(serde_json::from_value(json!({"max_uses": 1}))?),
            ..Default::default()
        };
        let (child_writ, child_exec, _) = expect_allow(
            self.cp
                .authorize(&self.parent_token, &child_call, &self.gate.attest()?, &opts)
                .await?,
        )?;
        let child_claims = writ_artifact::decode_unverified(&child_writ)?.claims;
        let outside = Intent::new(
            "mcp.call_tool",
            "tool:github/create_issue",
            json!({"repo": "acme/api", "title": "x"}),
        );
        let Denial { code: out_code, .. } = expect_deny(
            self.cp
                .authorize(&self.parent_token, &outside, &self.gate.attest()?, &opts)
                .await?,
        )?;
        self.child = Some((child_writ, child_call));
        let (stage, title) = Self::title(4);
        Ok(Step::new(
            stage,
            title,
            "child writ minted within the grant; anything wider refused",
            vec![
                format!("delegation writ grants {grant}"),
                format!(
                    "child writ: sub {}, on behalf of {}, lineage parent {}, expires no later than its parent",
                    field(&child_claims, "/sub"),
                    field(&child_claims, "/act/sub"),
                    field(&child_claims, "/lineage/parent")
                ),
                format!("a child for github/create_issue is refused: {out_code}"),
            ],
            Some(deleg_exec.to_string()),
            json!({"delegation_execution": deleg_exec, "child_execution": child_exec, "child_claims": child_claims, "refused": out_code}),
        ))
    }

    /// Step 5, revocation: it reaches the gates through the event feed; agent:sub-bot's running
    /// command is stopped, and its already-issued child writ and its token are refused.
    async fn revocation(&mut self) -> anyhow::Result<Step> {
        let (child_writ, child_call) = self
            .child
            .clone()
            .ok_or_else(|| anyhow!("the delegation step has not run"))?;
        // A long command run by agent:sub-bot under a writ, through the runner's gate.
        let sandbox =
            std::env::current_exe().context("cannot find the writ binary to launch the sandbox")?;
        let mut config = RunnerConfig::new(
            self.sub_token.clone(),
            self.runner_gate_token.clone(),
            sandbox,
        );
        config.sandbox_prefix = vec!["__sandbox".into()];
        config.capture_output = true;
        config.kill_grace = Duration::from_secs(2);
        config.expected_principal = Some("agent:sub-bot".parse()?);
        let gap = writ_gate::exec::runner::containment_gap();
        config.allow_uncontained = gap.is_some();
        let runner = Arc::new(Runner::new(
            self.cp.clone(),
            self.runner_gate.clone(),
            Arc::new(SystemClock),
            config,
        ));
        let mut env = std::collections::BTreeMap::new();
        env.insert("PATH".to_owned(), "/usr/bin:/bin".to_owned());
        env.insert("LC_ALL".to_owned(), "C".to_owned());
        let req = ExecRequest::new(
            vec!["sleep".into(), "600".into()],
            self.workdir.path().to_path_buf(),
            env,
            None,
        )?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = {
            let runner = runner.clone();
            tokio::spawn(async move {
                runner
                    .run_with(&req, |pid| {
                        let _ = tx.send(pid);
                    })
                    .await
            })
        };
        let Ok(pid) = rx.await else {
            let why = match task.await {
                Ok(Err(e)) => e.to_string(),
                Ok(Ok(r)) => format!("it ended at once ({:?})", r.outcome),
                Err(e) => e.to_string(),
            };
            bail!("the governed command did not start: {why}");
        };
        let running = wait_running(pid, "sleep").await;
        if !running {
            bail!("the governed command (pid {pid}) never ran sleep");
        }
        let t0 = std::time::Instant::now();
        self.cp
            .admin(
                &self.admin,
                "POST",
                "/v1/admin/revocations",
                Some(&json!({"principal": "agent:sub-bot"})),
            )
            .await?;
        let report = tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .map_err(|_| anyhow!("the revoked command still runs 30 s after the revocation"))?
            .context("runner task")??;
        let stopped_ms = t0.elapsed().as_secs_f64() * 1000.0;
        if report.outcome != Outcome::TerminatedByGovernance {
            bail!(
                "the revoked command ended with {:?}, not terminated by governance",
                report.outcome
            );
        }
        let gone = process_gone(pid);
        wait_until(|| self.gate.check(&child_writ, &child_call).is_err()).await?;
        let revoked = match self.gate.check(&child_writ, &child_call) {
            Ok(_) => bail!("the gate accepted a revoked principal's writ"),
            Err(e) => e,
        };
        let after = self
            .cp
            .authorize(
                &self.sub_token,
                &child_call,
                &self.gate.attest()?,
                &AuthorizeOptions::default(),
            )
            .await;
        let after_text = match after {
            Err(e) => e.reason_code().to_owned(),
            Ok(Authorization::Deny { reason_code, .. }) => reason_code,
            Ok(Authorization::Allow { .. }) => bail!("a revoked principal was authorized"),
        };
        let reason = report.reason_code.clone().unwrap_or_default();
        let mut details = vec![
            format!(
                "agent:sub-bot ran `sleep 600` under a writ through gate:sandbox-runner (execution {}, pid {pid})",
                report.execution
            ),
            format!(
                "revoked: the runner learned it from the event feed and stopped the command ({reason}, signal {}) {stopped_ms:.0} ms after the revocation call",
                shown(report.signal)
            ),
            format!(
                "a receipt with outcome terminated_by_governance is recorded at ledger index {}",
                shown(report.receipt_index)
            ),
            format!(
                "gate:mcp-1 refuses the already-issued child writ: {}",
                revoked.reason_code()
            ),
            format!("the control plane refuses the sub-agent's token: {after_text}"),
        ];
        if let Some(gap) = &gap {
            details.push(format!(
                "note: this kernel cannot fully contain the command ({gap}); it ran uncontained"
            ));
        }
        let (stage, title) = Self::title(5);
        Ok(Step::new(
            stage,
            title,
            &format!("running command stopped ({reason}); trust withdrawn everywhere"),
            details,
            Some(report.execution.to_string()),
            json!({
                "gate": revoked.reason_code(),
                "control_plane": after_text,
                "command": {
                    "execution": report.execution,
                    "pid": pid,
                    "outcome": report.outcome,
                    "reason_code": report.reason_code,
                    "signal": report.signal,
                    "receipt_index": report.receipt_index,
                    "process_gone": gone,
                    "stopped_ms": stopped_ms,
                    "contained": gap.is_none(),
                },
            }),
        ))
    }

    /// 6. Proof: everything about the first execution, checked offline.
    async fn prove(&mut self) -> anyhow::Result<Step> {
        let (call, execution) = self
            .first
            .clone()
            .ok_or_else(|| anyhow!("the first step has not run"))?;
        let proof = self
            .cp
            .get_json(&format!("/v1/proofs/{execution}"), Some(&self.gate_token))
            .await?;
        let bundle = writ_ledger::ProofBundle::from_json(proof.to_string().as_bytes())?;
        let checked = bundle.verify(Some(&self.state.ledger.vkey()))?;
        let kinds: Vec<String> = checked
            .entries
            .iter()
            .map(|e| {
                serde_json::from_slice::<Value>(&e.entry)
                    .ok()
                    .and_then(|v| field(&v, "/type").as_str().map(str::to_owned))
                    .unwrap_or_default()
            })
            .collect();
        let proof_jwks: writ_artifact::Jwks =
            serde_json::from_value(field(&proof, "/jwks").clone())?;
        let offline = writ_artifact::Verifier::new(
            writ_artifact::VerificationKeys::from_jwks(&proof_jwks)?,
            writ_artifact::VerifierConfig::new("gate:mcp-1".parse()?),
            Arc::new(SystemClock),
        );
        let writ_ok = offline
            .verify_call(field(&proof, "/writ").as_str().unwrap_or_default(), &call)
            .is_ok();
        let size = checked.checkpoint.size();
        let consistency = self
            .cp
            .get_json(
                &format!("/v1/ledger/consistency?from=1&to={size}"),
                Some(&self.admin),
            )
            .await?;
        self.proof = Some(proof.clone());
        let (stage, title) = Self::title(6);
        Ok(Step::new(
            stage,
            title,
            if writ_ok { "verified" } else { "writ did not verify" },
            vec![
                format!("entries {kinds:?} are included in the signed checkpoint of size {size} (RFC 9162 inclusion proofs)"),
                format!("checkpoint signed by {}", bundle.log.vkey),
                format!("the writ verifies against the bundle's JWKS: {writ_ok}"),
                format!("consistency proof from size 1 to {size}: {} hashes", field(&consistency, "/hashes_b64").as_array().map_or(0, Vec::len)),
                "check it yourself: `writ proof verify` on a saved bundle, `writ ledger verify`, or any C2SP tlog client against /ledger/ with a read role's token".into(),
            ],
            Some(execution.to_string()),
            json!({"proof": proof, "vkey": self.state.ledger.vkey()}),
        ))
    }
}

/// Registers a gate with a fresh key in `zone`, and follows the event feed for it.
async fn add_gate(
    cp: &ControlPlane,
    admin: &str,
    state: &writ_server::AppState,
    jwks: &writ_artifact::Jwks,
    id: &str,
    zone: &str,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> anyhow::Result<(Arc<Gate>, String)> {
    let gate_key = ed25519_dalek::SigningKey::from_bytes(&random_seed()?);
    let gate = Arc::new(Gate::new(
        GateConfig {
            id: id.parse()?,
            zone: zone.parse()?,
            issuer: Some(state.config.issuer.clone()),
            feed_grace_secs: Some(30),
        },
        gate_key,
        jwks,
        Arc::new(SystemClock),
    )?);
    let reg = cp
        .admin(
            admin,
            "POST",
            "/v1/admin/gates",
            Some(&json!({"id": id, "zone": zone, "public_key": gate.public_key_hex()})),
        )
        .await?;
    let token = field(&reg, "/token")
        .as_str()
        .ok_or_else(|| anyhow!("no token for {id}"))?
        .to_owned();
    tasks.push(tokio::spawn(writ_gate::follow(
        cp.clone(),
        token.clone(),
        gate.revocations().clone(),
        gate.feed()
            .cloned()
            .ok_or_else(|| anyhow!("gate without feed"))?,
        Arc::new(SystemClock),
        |_| {},
    )));
    wait_until(|| {
        gate.feed()
            .is_some_and(|f| f.require_fresh(SystemClock.now_unix()).is_ok())
    })
    .await?;
    Ok((gate, token))
}

/// Whether `pid` or a process descending from it runs `comm` (the launcher runs the command
/// two stages down, in its own PID namespace), waiting up to 10 s.
async fn wait_running(pid: u32, comm: &str) -> bool {
    for _ in 0..1000 {
        if descendants(pid).iter().any(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == comm)
        }) {
            return true;
        }
        if process_gone(pid) {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// `pid` and every process descending from it (host process ids, from /proc).
fn descendants(pid: u32) -> Vec<u32> {
    let mut links = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        if let Some(ppid) = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split(' ').nth(1))
            .and_then(|x| x.parse::<u32>().ok())
        {
            links.push((p, ppid));
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while let Some(&p) = out.get(i) {
        out.extend(links.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out
}

/// Whether a process is gone (reaped, or a zombie waiting to be).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

/// A JSON field by pointer, `null` when absent (untrusted JSON never panics).
fn field<'a>(v: &'a Value, pointer: &str) -> &'a Value {
    static NULL: Value = Value::Null;
    v.pointer(pointer).unwrap_or(&NULL)
}

/// An optional value as a person reads it.
fn shown<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "none".to_owned(), |v| v.to_string())
}

fn short(s: &str) -> String {
    s.chars().take(12).collect::<String>() + "…"
}

fn random_seed() -> anyhow::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow!("no randomness: {e}"))?;
    Ok(seed)
}

async fn add_principal(cp: &ControlPlane, admin: &str, id: &str) -> anyhow::Result<String> {
    let r = cp
        .admin(
            admin,
            "POST",
            "/v1/admin/principals",
            Some(&json!({"id": id, "zone": "dev"})),
        )
        .await?;
    Ok(field(&r, "/token")
        .as_str()
        .ok_or_else(|| anyhow!("no token for {id}"))?
        .to_owned())
}

fn expect_allow(a: Authorization) -> anyhow::Result<(String, writ_model::ExecutionId, u64)> {
    match a {
        Authorization::Allow {
            writ,
            execution,
            ledger_index,
            ..
        } => Ok((writ, execution, ledger_index)),
        Authorization::Deny {
            reason_code,
            reasons,
            ..
        } => bail!(
            "expected an allow, got a deny ({reason_code}): {}",
            reasons.join("; ")
        ),
    }
}

/// A denial's reason code, reasons, ledger index and execution.
struct Denial {
    code: String,
    reasons: Vec<String>,
    ledger_index: Option<u64>,
    execution: Option<String>,
}

fn expect_deny(a: Authorization) -> anyhow::Result<Denial> {
    match a {
        Authorization::Deny {
            reason_code,
            reasons,
            ledger_index,
            execution,
            ..
        } => Ok(Denial {
            code: reason_code.as_str().to_owned(),
            reasons,
            ledger_index,
            execution: execution.map(|e| e.to_string()),
        }),
        Authorization::Allow { .. } => bail!("expected a deny, got an allow"),
    }
}

async fn wait_until(mut cond: impl FnMut() -> bool) -> anyhow::Result<()> {
    for _ in 0..100 {
        if cond() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("timed out after 5 s waiting for the gate")
}
