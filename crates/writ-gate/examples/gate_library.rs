//! A user's own executor governed by Writ, in about a hundred lines: the gate library verifies
//! a writ for exactly the call about to be made, posts a signed receipt of the outcome, and
//! follows the event feed so revocations reach it at once.
//!
//! The executor here "reads a GitHub issue" (a stand-in for any action your code performs).
//! Run it against a control plane (see examples/gate-library/README.md):
//!
//! ```text
//! WRIT_SERVER=http://127.0.0.1:8787 WRIT_TOKEN=<agent token> \
//! WRIT_GATE_ID=gate:my-executor WRIT_GATE_KEY_FILE=gate.key WRIT_GATE_TOKEN=<gate token> \
//! WRIT_GATE_ZONE=dev cargo run -p writ-gate --example gate-library
//! ```

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use writ_gate::{Authorization, AuthorizeOptions, ControlPlane, Gate, GateConfig};
use writ_model::receipt::Outcome;
use writ_model::{Clock, Intent, SystemClock};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn setting(name: &str) -> Result<String, Error> {
    std::env::var(name)
        .map_err(|_| format!("set {name} (see examples/gate-library/README.md)").into())
}

/// The action this executor performs once a writ allows it.
fn read_issue(repo: &str, number: u64) -> Vec<u8> {
    json!({"repo": repo, "number": number, "title": "500 on /login", "state": "open"})
        .to_string()
        .into_bytes()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let cp = ControlPlane::new(setting("WRIT_SERVER")?);
    let agent_token = setting("WRIT_TOKEN")?;
    let gate_token = setting("WRIT_GATE_TOKEN")?;
    let seed: [u8; 32] =
        hex::decode(std::fs::read_to_string(setting("WRIT_GATE_KEY_FILE")?)?.trim())?
            .try_into()
            .map_err(|_| "the gate key must be 32 bytes of hex (writ gate keygen)")?;

    // 1. The gate: its id and zone, its key, the control plane's writ keys, a feed grace period.
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let jwks = serde_json::from_value(cp.get_json("/.well-known/jwks.json", None).await?)?;
    let gate = Arc::new(Gate::new(
        GateConfig {
            id: setting("WRIT_GATE_ID")?.parse()?,
            zone: std::env::var("WRIT_GATE_ZONE")
                .unwrap_or_else(|_| "dev".into())
                .parse()?,
            issuer: None,
            feed_grace_secs: Some(15),
        },
        ed25519_dalek::SigningKey::from_bytes(&seed),
        &jwks,
        clock.clone(),
    )?);

    // 2. Follow the event feed: revocations, quarantines and the kill switch land in the gate's
    //    revocation set; a feed silent past the grace period makes `check` deny new work.
    if let Some(health) = gate.feed().cloned() {
        tokio::spawn(writ_gate::follow(
            cp.clone(),
            gate_token.clone(),
            gate.revocations().clone(),
            health,
            clock.clone(),
            |ev| eprintln!("event: {} {}", ev.kind, ev.data),
        ));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // 3. The exact call, as an intent. The agent asks for a writ with the gate's attestation.
    let call = Intent::new(
        "mcp.call_tool",
        "tool:github/get_issue",
        json!({"repo": "acme/api", "number": 7}),
    );
    let answer = cp
        .authorize(
            &agent_token,
            &call,
            &gate.attest()?,
            &AuthorizeOptions::default(),
        )
        .await?;
    let Authorization::Allow {
        writ, execution, ..
    } = answer
    else {
        println!("denied: {answer:?}");
        return Ok(());
    };

    // 4. Verify the writ for exactly this call (signature, audience, zone, expiry, replay,
    //    revocation, intent digest recomputed from `call`). Any failure: do not run.
    let started = clock.now_unix();
    let verified = match gate.check(&writ, &call) {
        Ok(v) => v,
        Err(e) => {
            let r = gate.receipt(
                execution,
                None,
                call.digest()?,
                Outcome::DeniedAtGate,
                None,
                Some(e.reason_code().as_str().into()),
                started,
            )?;
            cp.post_receipt(&gate_token, &r).await?;
            println!("refused at the gate: {e}");
            return Ok(());
        }
    };

    // 5. Execute, then post a signed receipt with a digest of the result (the result itself
    //    never leaves the executor).
    let result = read_issue("acme/api", 7);
    let receipt = gate.receipt(
        execution,
        Some(verified.claims().jti.clone()),
        call.digest()?,
        Outcome::Success,
        Some(&result),
        None,
        started,
    )?;
    let index = cp.post_receipt(&gate_token, &receipt).await?;
    println!(
        "executed {} under writ {}; receipt at ledger index {index}",
        call.resource,
        verified.claims().jti
    );
    println!("proof bundle: GET {}/v1/proofs/{execution}", cp.base());
    Ok(())
}
