//! `writ demo` tells its whole story and its proof checks out independently.

use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;

#[test]
fn demo_runs_every_stage_and_its_proof_verifies() {
    let out = Command::new(env!("CARGO_BIN_EXE_writ"))
        .args(["demo", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = doc["steps"].as_array().unwrap();
    let stages: Vec<&str> = steps.iter().map(|s| s["stage"].as_str().unwrap()).collect();
    assert_eq!(
        stages,
        [
            "verify",
            "authorize",
            "authorize",
            "execute",
            "authorize",
            "execute",
            "prove"
        ]
    );
    assert_eq!(steps[2]["data"]["reason_code"], "no_permit");
    assert_eq!(steps[3]["data"]["reason_code"], "writ_intent_mismatch");
    assert_eq!(
        steps[4]["data"]["refused"],
        "delegation_resource_not_in_scope"
    );
    assert_eq!(
        steps[4]["data"]["child_claims"]["act"]["sub"],
        "agent:triage-bot"
    );
    assert_eq!(steps[5]["data"]["gate"], "writ_revoked_principal");
    assert_eq!(steps[6]["outcome"], "verified");

    // The printed proof bundle verifies on its own with the printed verifier key.
    let proof = &steps[6]["data"]["proof"];
    let vkey = steps[0]["data"]["vkey"].as_str().unwrap();
    let bundle = writ_ledger::ProofBundle::from_json(proof.to_string().as_bytes()).unwrap();
    let checked = bundle.verify(Some(vkey)).unwrap();
    // The decision and the receipt, then the gate.changed entry that proves the gate's key.
    assert_eq!(checked.entries.len(), 3);
    let last = B64
        .decode(proof["entries"][2]["entry_b64"].as_str().unwrap())
        .unwrap();
    let last: Value = serde_json::from_slice(&last).unwrap();
    assert_eq!(last["type"], "gate.changed", "{last}");
    // A bundle whose entry was altered does not.
    let mut tampered = proof.clone();
    let entry = tampered["entries"][0]["entry_b64"]
        .as_str()
        .unwrap()
        .replace('A', "B");
    tampered["entries"][0]["entry_b64"] = Value::String(entry);
    let bad = writ_ledger::ProofBundle::from_json(tampered.to_string().as_bytes()).unwrap();
    assert!(bad.verify(Some(vkey)).is_err());
}

/// Issue 14: `writ demo | head -1` panicked ("failed printing to stdout: Broken pipe") once
/// head had read its line and closed the pipe. The command now ends quietly with 0, and
/// removes its temporary data directory on the way out.
#[test]
fn demo_into_a_closed_pipe_exits_0_without_a_panic() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    // The demo's data directory (keys, ledger) goes here, and must be gone afterwards.
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_writ"))
        .arg("demo")
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    {
        let mut out = BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut first).unwrap();
        // Dropping the reader closes the pipe, as head does after its line.
    }
    assert!(!first.trim().is_empty());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "the demo left {left:?} behind");
}
