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
use writ_gate::{Authorization, AuthorizeOptions, ControlPlane, Gate, GateConfig};
use writ_model::receipt::Outcome;
use writ_model::{Clock, Intent, SystemClock};

use crate::cli_output::{Exit, Format, print_json};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Keep the control plane's data here instead of a temporary directory (must not exist yet).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Output format: `human` (text) or `json` (one JSON document on stdout).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

/// One step of the story, as printed.
#[derive(Debug, Serialize)]
struct Step {
    stage: &'static str,
    title: String,
    outcome: String,
    details: Vec<String>,
    #[serde(skip_serializing_if = "Value::is_null")]
    data: Value,
}

struct Story {
    format: Format,
    steps: Vec<Step>,
}

impl Story {
    fn step(
        &mut self,
        stage: &'static str,
        title: &str,
        outcome: &str,
        details: Vec<String>,
        data: Value,
    ) {
        if self.format == Format::Human {
            println!("\n[{stage}] {title}");
            for d in &details {
                println!("    {d}");
            }
            println!("    => {outcome}");
        }
        self.steps.push(Step {
            stage,
            title: title.to_owned(),
            outcome: outcome.to_owned(),
            details,
            data,
        });
    }
}

pub fn run(args: DemoArgs) -> anyhow::Result<Exit> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
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
    let mut story = Story {
        format: args.format,
        steps: Vec::new(),
    };
    if story.format == Format::Human {
        println!("Writ demo: every agent action goes verify -> authorize -> execute -> prove.");
        println!(
            "Control plane data (SQLite ledger, keys): {}",
            data_dir.display()
        );
    }

    // --- The control plane, on 127.0.0.1 with the embedded ledger.
    let bundle_key = BundleSigningKey::from_seed(random_seed()?);
    let config = writ_server::ServerConfig {
        data_dir: data_dir.clone(),
        heartbeat_secs: 1,
        ..Default::default()
    };
    let init = writ_server::init_data_dir(&config, &[bundle_key.verifying_key().to_hex()])
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("cannot initialize {}", data_dir.display()))?;
    let _lock = crate::data_dir::lock(&data_dir)?;
    let state =
        writ_server::AppState::open(config, Arc::new(SystemClock)).map_err(|e| anyhow!("{e}"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot listen on 127.0.0.1")?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(writ_server::run(listener, state.clone(), async move {
        let _ = stop_rx.await;
    }));
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
    let gate_key = ed25519_dalek::SigningKey::from_bytes(&random_seed()?);
    let gate = Arc::new(Gate::new(
        GateConfig {
            id: "gate:mcp-1".parse()?,
            zone: "dev".parse()?,
            issuer: Some(state.config.issuer.clone()),
            feed_grace_secs: Some(30),
        },
        gate_key,
        &jwks,
        Arc::new(SystemClock),
    )?);
    let gate_reg = cp
        .admin(
            &admin,
            "POST",
            "/v1/admin/gates",
            Some(&json!({"id": "gate:mcp-1", "zone": "dev", "public_key": gate.public_key_hex()})),
        )
        .await?;
    let gate_token = field(&gate_reg, "/token")
        .as_str()
        .ok_or_else(|| anyhow!("no gate token"))?
        .to_owned();
    let feed = tokio::spawn(writ_gate::follow(
        cp.clone(),
        gate_token.clone(),
        gate.revocations().clone(),
        gate.feed()
            .cloned()
            .ok_or_else(|| anyhow!("gate without feed"))?,
        Arc::new(SystemClock),
        |_| {},
    ));
    wait_until(|| {
        gate.feed()
            .is_some_and(|f| f.require_fresh(SystemClock.now_unix()).is_ok())
    })
    .await?;
    story.step(
        "verify",
        "Provision the control plane",
        "ready",
        vec![
            format!("control plane listening on {base}"),
            format!("policy bundle {} activated (signed, strictly validated)", short(field(&activated, "/bundle_sha256").as_str().unwrap_or(""))),
            "principals agent:triage-bot and agent:sub-bot registered (bearer tokens, stored hashed)".into(),
            "gate:mcp-1 registered with its Ed25519 key; it attests its environment and follows the event feed".into(),
            format!("ledger verifier key: {}", state.ledger.vkey()),
        ],
        json!({"server": base, "bundle": activated, "vkey": state.ledger.vkey()}),
    );

    // 1. An allowed tool call, executed at the gate and receipted.
    let call = Intent::new(
        "mcp.call_tool",
        "tool:github/get_issue",
        json!({"repo": "acme/api", "number": 7}),
    );
    let (writ, execution, index) = expect_allow(
        cp.authorize(
            &parent_token,
            &call,
            &gate.attest()?,
            &AuthorizeOptions::default(),
        )
        .await?,
    )?;
    let verified = gate
        .check(&writ, &call)
        .map_err(|e| anyhow!("the gate refused a valid writ: {e}"))?;
    let started = SystemClock.now_unix();
    let result = br#"{"title":"500 on /login","state":"open"}"#;
    let receipt = gate.receipt(
        execution,
        Some(verified.claims().jti.clone()),
        call.digest()?,
        Outcome::Success,
        Some(result),
        None,
        started,
    )?;
    let receipt_index = cp.post_receipt(&gate_token, &receipt).await?;
    story.step(
        "authorize",
        "agent:triage-bot calls github/get_issue",
        "allowed, executed, receipted",
        vec![
            format!("decision allow by policy {:?}, recorded durably at ledger index {index} before the writ was returned", verified.claims().policy.determining),
            format!("writ {} for gate:mcp-1, valid until {} (60 s), bound to args_sha256 {}", short(&verified.claims().jti), verified.claims().exp, short(&verified.claims().intent.args_sha256)),
            "the gate recomputed the intent digest from the exact call and verified the writ offline".into(),
            format!("receipt (outcome success, result digested) signed by the gate, ledger index {receipt_index}"),
        ],
        json!({"execution": execution, "ledger_index": index, "receipt_index": receipt_index, "claims": verified.claims()}),
    );

    // 2. A denied call, with its reason.
    let bad = Intent::new(
        "mcp.call_tool",
        "tool:fs/write_file",
        json!({"path": "/etc/passwd", "body": "x"}),
    );
    let (code, reasons, deny_index) = expect_deny(
        cp.authorize(
            &parent_token,
            &bad,
            &gate.attest()?,
            &AuthorizeOptions::default(),
        )
        .await?,
    )?;
    story.step(
        "authorize",
        "agent:triage-bot tries to write /etc/passwd",
        "denied",
        vec![
            format!("reason code {code}: {}", reasons.join("; ")),
            format!("the denial is evidence too: ledger index {deny_index:?}"),
        ],
        json!({"reason_code": code, "reasons": reasons, "ledger_index": deny_index}),
    );

    // 3. Arguments changed after authorization: refused at the gate.
    let asked = Intent::new(
        "mcp.call_tool",
        "tool:fs/write_file",
        json!({"path": "/workspace/notes.md", "body": "triage notes"}),
    );
    let (writ3, exec3, _) = expect_allow(
        cp.authorize(
            &parent_token,
            &asked,
            &gate.attest()?,
            &AuthorizeOptions::default(),
        )
        .await?,
    )?;
    let swapped = Intent::new(
        "mcp.call_tool",
        "tool:fs/write_file",
        json!({"path": "/workspace/../etc/passwd", "body": "triage notes"}),
    );
    let refused = match gate.check(&writ3, &swapped) {
        Ok(_) => bail!("the gate accepted a writ for different arguments"),
        Err(e) => e,
    };
    let started = SystemClock.now_unix();
    let receipt = gate.receipt(
        exec3,
        None,
        swapped.digest()?,
        Outcome::DeniedAtGate,
        None,
        Some(refused.reason_code().as_str().to_owned()),
        started,
    )?;
    cp.post_receipt(&gate_token, &receipt).await?;
    story.step(
        "execute",
        "the agent swaps the path after authorization (/workspace/notes.md -> /workspace/../etc/passwd)",
        "refused at the gate",
        vec![format!("gate: {refused}"), "a receipt with outcome denied_at_gate is recorded".into()],
        json!({"execution": exec3, "reason_code": refused.reason_code()}),
    );

    // 4. Delegation to a sub-agent with a narrower scope.
    let grant =
        json!({"actions": ["mcp.call_tool"], "resources": ["tool:fs/read_file"], "zones": ["dev"]});
    let deleg = Intent::new("delegate", "agent:sub-bot", grant.clone());
    let (deleg_writ, deleg_exec, _) = expect_allow(
        cp.authorize(
            &parent_token,
            &deleg,
            &gate.attest()?,
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
        cp.authorize(&parent_token, &child_call, &gate.attest()?, &opts)
            .await?,
    )?;
    let child_claims = writ_artifact::decode_unverified(&child_writ)?.claims;
    let outside = Intent::new(
        "mcp.call_tool",
        "tool:github/create_issue",
        json!({"repo": "acme/api", "title": "x"}),
    );
    let (out_code, _, _) = expect_deny(
        cp.authorize(&parent_token, &outside, &gate.attest()?, &opts)
            .await?,
    )?;
    story.step(
        "authorize",
        "agent:triage-bot delegates fs/read_file to agent:sub-bot",
        "child writ minted within the grant; anything wider refused",
        vec![
            format!("delegation writ grants {grant}"),
            format!("child writ: sub {}, on behalf of {}, lineage parent {}, expires no later than its parent", field(&child_claims, "/sub"), field(&child_claims, "/act/sub"), field(&child_claims, "/lineage/parent")),
            format!("a child for github/create_issue is refused: {out_code}"),
        ],
        json!({"delegation_execution": deleg_exec, "child_execution": child_exec, "child_claims": child_claims, "refused": out_code}),
    );

    // 5. Revocation reaches the gate through the event feed.
    cp.admin(
        &admin,
        "POST",
        "/v1/admin/revocations",
        Some(&json!({"principal": "agent:sub-bot"})),
    )
    .await?;
    wait_until(|| gate.check(&child_writ, &child_call).is_err()).await?;
    let revoked = match gate.check(&child_writ, &child_call) {
        Ok(_) => bail!("the gate accepted a revoked principal's writ"),
        Err(e) => e,
    };
    let after = cp
        .authorize(
            &sub_token,
            &child_call,
            &gate.attest()?,
            &AuthorizeOptions::default(),
        )
        .await;
    let after_text = match after {
        Err(e) => e.reason_code().to_owned(),
        Ok(Authorization::Deny { reason_code, .. }) => reason_code,
        Ok(Authorization::Allow { .. }) => bail!("a revoked principal was authorized"),
    };
    story.step(
        "execute",
        "an operator revokes agent:sub-bot",
        "trust withdrawn everywhere",
        vec![
            format!("the gate learned it from the event feed and refuses the already-issued child writ: {}", revoked.reason_code()),
            format!("the control plane refuses the sub-agent's token: {after_text}"),
        ],
        json!({"gate": revoked.reason_code(), "control_plane": after_text}),
    );

    // 6. Proof: everything about the first execution, checked offline.
    let proof = cp
        .get_json(&format!("/v1/proofs/{execution}"), Some(&gate_token))
        .await?;
    let bundle = writ_ledger::ProofBundle::from_json(proof.to_string().as_bytes())?;
    let checked = bundle.verify(Some(&state.ledger.vkey()))?;
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
    let proof_jwks: writ_artifact::Jwks = serde_json::from_value(field(&proof, "/jwks").clone())?;
    let offline = writ_artifact::Verifier::new(
        writ_artifact::VerificationKeys::from_jwks(&proof_jwks)?,
        writ_artifact::VerifierConfig::new("gate:mcp-1".parse()?),
        Arc::new(SystemClock),
    );
    let writ_ok = offline
        .verify_call(field(&proof, "/writ").as_str().unwrap_or_default(), &call)
        .is_ok();
    let size = checked.checkpoint.size();
    let consistency = cp
        .get_json(
            &format!("/v1/ledger/consistency?from=1&to={size}"),
            Some(&admin),
        )
        .await?;
    story.step(
        "prove",
        "a proof bundle for the first execution, verified offline",
        if writ_ok { "verified" } else { "writ did not verify" },
        vec![
            format!("entries {kinds:?} are included in the signed checkpoint of size {size} (RFC 9162 inclusion proofs)"),
            format!("checkpoint signed by {}", bundle.log.vkey),
            format!("the writ verifies against the bundle's JWKS: {writ_ok}"),
            format!("consistency proof from size 1 to {size}: {} hashes", field(&consistency, "/hashes_b64").as_array().map_or(0, Vec::len)),
            "check it yourself: `writ proof verify` on a saved bundle, `writ ledger verify`, or any C2SP tlog client against /ledger/ with a read role's token".into(),
        ],
        json!({"proof": proof}),
    );
    if story.format == Format::Human {
        println!(
            "\nThe proof bundle (writ.proof/v1):\n{}",
            serde_json::to_string_pretty(&proof)?
        );
    }

    feed.abort();
    let _ = stop_tx.send(());
    server.await.context("server task")?.context("server")?;
    drop(state);
    if story.format == Format::Json {
        print_json(&json!({"server": base, "data_dir": data_dir, "steps": story.steps}))?;
    } else {
        println!("\nDone: 6 steps, every one as expected.");
    }
    Ok(if writ_ok { Exit::Ok } else { Exit::Failure })
}

/// A JSON field by pointer, `null` when absent (untrusted JSON never panics).
fn field<'a>(v: &'a Value, pointer: &str) -> &'a Value {
    static NULL: Value = Value::Null;
    v.pointer(pointer).unwrap_or(&NULL)
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

fn expect_deny(a: Authorization) -> anyhow::Result<(String, Vec<String>, Option<u64>)> {
    match a {
        Authorization::Deny {
            reason_code,
            reasons,
            ledger_index,
            ..
        } => Ok((reason_code.as_str().to_owned(), reasons, ledger_index)),
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
