//! `writ proof verify`: a bundle from the API passes, and a bundle of v2 entries built here
//! fails naming the check when one disclosed value, one salt, one inclusion hash, the
//! checkpoint's key or the writ's key is changed.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use writ_artifact::{
    Env, IssueRequest, Issuer, IssuerConfig, KeyRing, LedgerRef, PolicyInfo, WritKey,
};
use writ_ledger::commitment::{SALT_LEN, commitment_hex};
use writ_ledger::note::{parse_note, sign_note};
use writ_ledger::{Disclosure, Ed25519Signer, Ledger};
use writ_model::canonical::to_canonical_vec;
use writ_model::{ExecutionId, FixedClock, Intent, Lineage};

use crate::serve::{
    Served, admin_token, authorize_body, http, provision_with_gate_token, writ_env,
};

/// Runs `writ proof verify FILE ARGS --format json`: (exit code, report, stderr).
fn verify(file: &Path, args: &[&str]) -> (i32, Value, String) {
    let mut all = vec!["proof", "verify", file.to_str().unwrap()];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let (code, out, err) = writ_env(&all, &[]);
    let report = serde_json::from_str(&out).unwrap_or(Value::Null);
    (code, report, err)
}

fn status_of<'a>(report: &'a Value, name: &str) -> &'a str {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .and_then(|c| c["status"].as_str())
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

fn names(report: &Value, status: &str) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == status)
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

fn gate_arg(key: &SigningKey) -> String {
    format!("gate:mcp-1={}", hex::encode(key.verifying_key().to_bytes()))
}

/// The claims of a compact writ.
pub(crate) fn claims_of(token: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

/// Posts gate:mcp-1's (successful) receipt for the writ of `allow` (an authorize answer);
/// returns the receipt's ledger index.
pub(crate) fn post_receipt(
    srv: &Served,
    gate_key: &SigningKey,
    gate_token: &str,
    allow: &Value,
) -> u64 {
    let claims = claims_of(allow["writ"].as_str().unwrap());
    let body = json!({
        "type": "receipt", "v": 1, "execution": allow["execution"], "jti": claims["jti"], "gate": "gate:mcp-1",
        "intent": claims["intent"], "outcome": "success", "started_at": 1, "finished_at": 2
    });
    let sig = URL_SAFE_NO_PAD.encode(gate_key.sign(&to_canonical_vec(&body).unwrap()).to_bytes());
    let (st, r) = http().call(
        "POST",
        &format!("{}/v1/receipts", srv.url),
        Some(gate_token),
        Some(&json!({"body": body, "kid": "gate:mcp-1", "sig": sig})),
    );
    assert_eq!(st, 201, "{r}");
    r["ledger_index"].as_u64().unwrap()
}

#[test]
fn a_bundle_from_the_api_passes_every_check() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let srv = Served::start(&data, true);
    let admin = admin_token(&data);
    let (agent, gate_key, gate_token) = provision_with_gate_token(&srv.url, &admin, tmp.path());
    let client = http();
    let (st, allow) = client.call(
        "POST",
        &format!("{}/v1/authorize", srv.url),
        Some(&agent),
        Some(&authorize_body(&gate_key)),
    );
    assert_eq!(st, 200, "{allow}");
    let execution = allow["execution"].as_str().unwrap();
    let receipt_index = post_receipt(&srv, &gate_key, &gate_token, &allow);
    let (st, proof) = client.call(
        "GET",
        &format!("{}/v1/proofs/{execution}", srv.url),
        Some(&agent),
        None,
    );
    assert_eq!(st, 200, "{proof}");
    let file = tmp.path().join("proof.json");
    std::fs::write(&file, proof.to_string()).unwrap();
    let decision_index = allow["ledger_index"].as_u64().unwrap();

    let (st, jwks) = client.call(
        "GET",
        &format!("{}/.well-known/jwks.json", srv.url),
        None,
        None,
    );
    assert_eq!(st, 200);
    let jwks_file = tmp.path().join("jwks.json");
    std::fs::write(&jwks_file, jwks.to_string()).unwrap();
    let gate = gate_arg(&gate_key);
    let (code, report, err) = verify(
        &file,
        &[
            "--vkey",
            &srv.vkey,
            "--jwks",
            jwks_file.to_str().unwrap(),
            "--gate-key",
            &gate,
        ],
    );
    assert_eq!(code, 0, "{report:#} {err}");
    assert_eq!(report["ok"], true);
    assert!(names(&report, "fail").is_empty(), "{report:#}");
    assert!(names(&report, "skip").is_empty(), "{report:#}");
    for name in [
        "checkpoint.signature".to_owned(),
        format!("entry[{decision_index}].leaf_hash"),
        format!("entry[{decision_index}].inclusion"),
        format!("entry[{receipt_index}].inclusion"),
        "writ.signature".to_owned(),
        "writ.claims".to_owned(),
        format!("receipt[{receipt_index}].signature"),
    ] {
        assert_eq!(status_of(&report, &name), "pass", "{name}: {report:#}");
    }
    let claims_check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "writ.claims")
        .unwrap();
    assert!(
        claims_check["detail"]
            .as_str()
            .unwrap()
            .contains("intent.args_sha256"),
        "{claims_check}"
    );
    assert!(report["warnings"].as_array().unwrap().is_empty());

    // Without a pinned gate key the receipt is still checked: the served bundle proves the
    // gate.changed entry that registered the gate's key. Without the vkey, a warning.
    let (code, report, _) = verify(&file, &[]);
    assert_eq!(code, 0, "{report:#}");
    let receipt_check = format!("receipt[{receipt_index}].signature");
    assert_eq!(status_of(&report, &receipt_check), "pass", "{report:#}");
    let gate_entries: Vec<u64> = proof["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .filter(|i| *i != decision_index && *i != receipt_index)
        .collect();
    assert_eq!(gate_entries.len(), 1, "{proof:#}");
    let detail = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == receipt_check.as_str())
        .unwrap()["detail"]
        .to_string();
    assert!(
        detail.contains(&format!("gate.changed entry {}", gate_entries[0])),
        "{detail}"
    );
    // A forged receipt (one signature byte changed in its disclosure) fails verification: its
    // disclosure no longer opens the commitment, so it is not taken as the receipt.
    let mut forged = proof.clone();
    for d in forged["disclosures"].as_array_mut().unwrap() {
        if d["index"] == receipt_index {
            let sig = d["private"]["receipt"]["sig"].as_str().unwrap().to_owned();
            let mut raw = URL_SAFE_NO_PAD.decode(&sig).unwrap();
            raw[0] ^= 1;
            d["private"]["receipt"]["sig"] = json!(URL_SAFE_NO_PAD.encode(raw));
        }
    }
    let forged_file = tmp.path().join("forged.json");
    std::fs::write(&forged_file, forged.to_string()).unwrap();
    let (code, report, _) = verify(&forged_file, &[]);
    assert_ne!(code, 0, "{report:#}");
    assert_eq!(
        status_of(&report, &format!("disclosure[{receipt_index}].commitment")),
        "fail",
        "{report:#}"
    );
    assert_ne!(status_of(&report, &receipt_check), "pass", "{report:#}");
    // A key entry the bundle does not prove (its public_key swapped) is not used.
    let mut unproved = proof.clone();
    for e in unproved["entries"].as_array_mut().unwrap() {
        if e["index"] == gate_entries[0] {
            let mut v: Value =
                serde_json::from_slice(&B64.decode(e["entry_b64"].as_str().unwrap()).unwrap())
                    .unwrap();
            v["public_key"] = json!(hex::encode(
                SigningKey::from_bytes(&[7; 32]).verifying_key().to_bytes()
            ));
            e["entry_b64"] = json!(B64.encode(to_canonical_vec(&v).unwrap()));
        }
    }
    let unproved_file = tmp.path().join("unproved.json");
    std::fs::write(&unproved_file, unproved.to_string()).unwrap();
    let (_, report, _) = verify(&unproved_file, &[]);
    assert_eq!(status_of(&report, &receipt_check), "skip", "{report:#}");
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("--vkey") && warnings.contains("--jwks"),
        "{warnings}"
    );
    // Human output names each check; stdin works.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_writ"))
        .args(["proof", "verify", "-", "--vkey", &srv.vkey])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("pass  writ.claims"), "{text}");
    assert!(text.contains("verified: "), "{text}");

    // The same served bundle, tampered: each change fails exactly the check that guards it.
    let disclosed = |index: u64| {
        proof["disclosures"]
            .as_array()
            .unwrap()
            .iter()
            .position(|d| d["index"] == index)
            .unwrap()
    };
    let entry_pos = proof["entries"]
        .as_array()
        .unwrap()
        .iter()
        .position(|e| e["index"] == decision_index)
        .unwrap();
    let mut cases: Vec<(&str, Value, String)> = Vec::new();
    let mut value_changed = proof.clone();
    value_changed["disclosures"][disclosed(decision_index)]["private"]["request"]["intent"]["resource"] =
        json!("tool:github/delete_repo");
    cases.push((
        "one disclosed value changed",
        value_changed,
        format!("disclosure[{decision_index}].commitment"),
    ));
    let mut salt_changed = proof.clone();
    salt_changed["disclosures"][disclosed(receipt_index)]["salt_b64"] =
        json!(B64.encode([9u8; SALT_LEN]));
    cases.push((
        "one salt changed",
        salt_changed,
        format!("disclosure[{receipt_index}].commitment"),
    ));
    cases.push((
        "one inclusion hash flipped",
        with_inclusion_flipped(&proof, entry_pos),
        format!("entry[{decision_index}].inclusion"),
    ));
    cases.push((
        "the checkpoint signed by another key",
        with_checkpoint_of_another_key(&proof),
        "checkpoint.signature".to_owned(),
    ));
    cases.push((
        "the writ re-signed by another key",
        with_writ_resigned(&proof),
        "writ.signature".to_owned(),
    ));
    for (what, bundle, check) in cases {
        let file = tmp.path().join("tampered.json");
        std::fs::write(&file, bundle.to_string()).unwrap();
        let (code, report, err) = verify(
            &file,
            &["--vkey", &srv.vkey, "--jwks", jwks_file.to_str().unwrap()],
        );
        assert_eq!(code, 1, "{what}: {report:#}");
        assert_eq!(
            names(&report, "fail"),
            vec![check.clone()],
            "{what}: {report:#}"
        );
        assert!(err.contains(&check), "{what}: stderr {err}");
    }
}

/// `bundle` with the first hash of entry `pos`'s inclusion proof flipped.
pub(crate) fn with_inclusion_flipped(bundle: &Value, pos: usize) -> Value {
    let mut out = bundle.clone();
    let h = bundle["entries"][pos]["inclusion_b64"][0].as_str().unwrap();
    let mut bytes = B64.decode(h).unwrap();
    bytes[0] ^= 1;
    out["entries"][pos]["inclusion_b64"][0] = json!(B64.encode(bytes));
    out
}

/// `bundle` with the same checkpoint text signed by another key of the same name, the bundle
/// naming that key.
pub(crate) fn with_checkpoint_of_another_key(bundle: &Value) -> Value {
    let mut out = bundle.clone();
    let origin = bundle["log"]["origin"].as_str().unwrap();
    let other = Ed25519Signer::from_seed(origin, &[77; 32]).unwrap();
    let text = parse_note(bundle["checkpoint"].as_str().unwrap())
        .unwrap()
        .text;
    out["checkpoint"] = json!(sign_note(&text, &[&other]).unwrap());
    out["log"]["vkey"] = json!(other.verifier().to_vkey());
    out
}

/// `bundle` with its writ's header and claims signed again by another key.
pub(crate) fn with_writ_resigned(bundle: &Value) -> Value {
    let mut out = bundle.clone();
    let token = bundle["writ"].as_str().unwrap();
    let input = token.rsplit_once('.').unwrap().0;
    let forged = SigningKey::from_bytes(&[99; 32]).sign(input.as_bytes());
    out["writ"] = json!(format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(forged.to_bytes())
    ));
    out
}

/// A ledger holding v2 entries as DESIGN.md fixes them, and a bundle proving them.
struct V2 {
    _dir: tempfile::TempDir,
    vkey: String,
    bundle: Value,
    gate_key: SigningKey,
    decision: u64,
    receipt: u64,
}

const ORIGIN: &str = "writ.test/ledger";
/// Long ago: the writ expired decades before the test runs.
const ISSUED: i64 = 1_000_000_000;

fn v2_bundle() -> V2 {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::init(&dir.path().join("ledger"), ORIGIN).unwrap();
    ledger
        .append_durable(br#"{"type":"policy.activated","v":1}"#)
        .unwrap();
    let execution = ExecutionId::new_v7();
    let lineage = Lineage::root(execution);
    let call = Intent::new(
        "mcp.call_tool",
        "tool:crm/update",
        json!({"customer": "canary-4417", "note": "secret"}),
    );
    let request = json!({
        "principal": "agent:triage-bot",
        "intent": call,
        "env": {"zone": "dev", "gate": "gate:mcp-1"},
        "lineage": lineage,
    });
    let request_sha256 = writ_model::digest::canonical_sha256_hex(&request).unwrap();
    let private =
        json!({"request": request, "request_sha256": request_sha256, "reasons": [], "errors": []});
    let salt = [3u8; SALT_LEN];
    let bundle_sha256 = "ab".repeat(32);
    let decision = json!({
        "type": "decision", "v": 2, "now": ISSUED, "execution": execution, "root": execution,
        "principal": "agent:triage-bot", "action": "mcp.call_tool", "resource": "tool:crm/update",
        "gate": "gate:mcp-1", "zone": "dev", "decision": "allow", "reason_code": "policy_permit",
        "determining": ["p1"], "bundle_sha256": bundle_sha256, "engine": "cedar-test",
        "commitment": commitment_hex(&salt, &private).unwrap(),
    });
    let d_index = ledger
        .append_durable(&to_canonical_vec(&decision).unwrap())
        .unwrap();

    let ring = Arc::new(KeyRing::new(WritKey::from_seed(&[11; 32]), 5));
    let issuer = Issuer::new(
        ring.clone(),
        Arc::new(FixedClock::new(ISSUED)),
        IssuerConfig::new("writ:test"),
    );
    let writ = issuer
        .issue(IssueRequest {
            sub: "agent:triage-bot".parse().unwrap(),
            act: None,
            aud: "gate:mcp-1".parse().unwrap(),
            intent: call.digest().unwrap(),
            env: Env {
                zone: "dev".parse().unwrap(),
                attestation_sha256: "00".repeat(32),
            },
            policy: PolicyInfo {
                bundle_sha256,
                engine: "cedar-test".into(),
                determining: vec!["p1".into()],
            },
            scope: writ_artifact::scope::Scope::default(),
            lineage,
            ledger: LedgerRef {
                origin: ORIGIN.into(),
                index: d_index,
            },
            lifetime_secs: None,
        })
        .unwrap();

    let gate_key = SigningKey::from_bytes(&[5; 32]);
    let body = json!({
        "type": "receipt", "v": 1, "execution": execution, "jti": writ.claims.jti, "gate": "gate:mcp-1",
        "intent": call.digest().unwrap(), "outcome": "success", "result_sha256": "cd".repeat(32),
        "started_at": ISSUED + 1, "finished_at": ISSUED + 2
    });
    let sig = URL_SAFE_NO_PAD.encode(gate_key.sign(&to_canonical_vec(&body).unwrap()).to_bytes());
    let r_private = json!({"receipt": {"body": body, "kid": "gate:mcp-1", "sig": sig}});
    let r_salt = [4u8; SALT_LEN];
    let receipt = json!({
        "type": "receipt", "v": 2, "execution": execution, "gate": "gate:mcp-1", "outcome": "success",
        "started_at": ISSUED + 1, "finished_at": ISSUED + 2,
        "commitment": commitment_hex(&r_salt, &r_private).unwrap(),
    });
    let r_index = ledger
        .append_durable(&to_canonical_vec(&receipt).unwrap())
        .unwrap();
    let mut bundle = ledger.proof_bundle(&[d_index, r_index], None).unwrap();
    bundle.writ = Some(writ.token);
    bundle.jwks = Some(serde_json::to_value(ring.jwks(ISSUED)).unwrap());
    bundle.disclosures = Some(vec![
        Disclosure::new(d_index, &salt, private),
        Disclosure::new(r_index, &r_salt, r_private),
    ]);
    let vkey = ledger.vkey();
    V2 {
        _dir: dir,
        vkey,
        bundle: serde_json::to_value(&bundle).unwrap(),
        gate_key,
        decision: d_index,
        receipt: r_index,
    }
}

/// Writes `bundle` and verifies it with the log's vkey, the control plane's JWKS (the one the
/// untouched bundle carries) and the gate's key.
fn verify_v2(v2: &V2, bundle: &Value) -> (i32, Value, String) {
    let file = v2._dir.path().join("bundle.json");
    std::fs::write(&file, bundle.to_string()).unwrap();
    let jwks = v2._dir.path().join("jwks.json");
    std::fs::write(&jwks, v2.bundle["jwks"].to_string()).unwrap();
    verify(
        &file,
        &[
            "--vkey",
            &v2.vkey,
            "--jwks",
            jwks.to_str().unwrap(),
            "--gate-key",
            &gate_arg(&v2.gate_key),
        ],
    )
}

#[test]
fn a_v2_bundle_with_disclosures_passes_and_an_expired_writ_still_verifies() {
    let v2 = v2_bundle();
    let (code, report, err) = verify_v2(&v2, &v2.bundle);
    assert_eq!(code, 0, "{report:#} {err}");
    assert!(names(&report, "skip").is_empty(), "{report:#}");
    let (d, r) = (v2.decision, v2.receipt);
    for name in [
        format!("disclosure[{d}].commitment"),
        format!("disclosure[{r}].commitment"),
        format!("decision[{d}].disclosed_request"),
        format!("receipt[{r}].disclosed_receipt"),
        format!("receipt[{r}].signature"),
        "writ.signature".to_owned(),
        "writ.claims".to_owned(),
    ] {
        assert_eq!(status_of(&report, &name), "pass", "{name}: {report:#}");
    }

    // Without disclosures: what is private is skipped, the rest still passes.
    let mut bare = v2.bundle.clone();
    bare.as_object_mut().unwrap().remove("disclosures");
    let (code, report, _) = verify_v2(&v2, &bare);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        status_of(&report, &format!("receipt[{r}].signature")),
        "skip"
    );
    assert_eq!(status_of(&report, "writ.claims"), "pass");
}

/// Each tampering fails, naming the check it breaks (and exit code 1 with the name on stderr).
#[test]
fn tampered_v2_bundles_fail_naming_the_check() {
    let v2 = v2_bundle();
    let (d, r) = (v2.decision, v2.receipt);
    let mut cases: Vec<(&str, Value, String)> = Vec::new();

    let mut value_changed = v2.bundle.clone();
    value_changed["disclosures"][0]["private"]["request"]["intent"]["args"]["note"] =
        json!("changed");
    cases.push((
        "one disclosed value changed",
        value_changed,
        format!("disclosure[{d}].commitment"),
    ));

    let mut salt_changed = v2.bundle.clone();
    salt_changed["disclosures"][1]["salt_b64"] = json!(B64.encode([9u8; SALT_LEN]));
    cases.push((
        "one salt changed",
        salt_changed,
        format!("disclosure[{r}].commitment"),
    ));

    cases.push((
        "one inclusion hash flipped",
        with_inclusion_flipped(&v2.bundle, 0),
        format!("entry[{d}].inclusion"),
    ));
    cases.push((
        "the checkpoint signed by another key",
        with_checkpoint_of_another_key(&v2.bundle),
        "checkpoint.signature".to_owned(),
    ));
    cases.push((
        "the writ re-signed by another key",
        with_writ_resigned(&v2.bundle),
        "writ.signature".to_owned(),
    ));
    let token = v2.bundle["writ"].as_str().unwrap();

    // The same claims signed by another key that the bundle's JWKS now carries: the bundle
    // agrees with itself, the control plane's JWKS (--jwks) does not.
    let mut other_jwks = v2.bundle.clone();
    let other_ring = KeyRing::new(WritKey::from_seed(&[98; 32]), 5);
    let kid = other_ring.active_kid();
    let claims = token.split('.').nth(1).unwrap();
    let header = URL_SAFE_NO_PAD.encode(
        json!({"alg": "EdDSA", "typ": "writ+jwt", "kid": kid})
            .to_string()
            .as_bytes(),
    );
    let input = format!("{header}.{claims}");
    let sig = SigningKey::from_bytes(&[98; 32]).sign(input.as_bytes());
    other_jwks["writ"] = json!(format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(sig.to_bytes())
    ));
    other_jwks["jwks"] = serde_json::to_value(other_ring.jwks(ISSUED)).unwrap();
    let file = v2._dir.path().join("self-consistent.json");
    std::fs::write(&file, other_jwks.to_string()).unwrap();
    let (code, report, _) = verify(&file, &["--vkey", &v2.vkey]);
    assert_eq!(code, 0, "only --jwks tells: {report:#}");
    assert!(report["warnings"].to_string().contains("--jwks"));
    cases.push((
        "the writ re-signed by another key the bundle's JWKS names",
        other_jwks,
        "writ.signature".to_owned(),
    ));

    // A writ validly signed by the control plane's key for another resource than the
    // decision it points at.
    let mut other_resource = v2.bundle.clone();
    let mut claims = claims_of(token);
    claims["intent"]["resource"] = json!("tool:crm/delete");
    let header = token.split('.').next().unwrap();
    let input = format!(
        "{header}.{}",
        URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes())
    );
    let sig = SigningKey::from_bytes(&[11; 32]).sign(input.as_bytes());
    other_resource["writ"] = json!(format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(sig.to_bytes())
    ));
    cases.push((
        "a signed writ for another resource than its decision",
        other_resource,
        "writ.claims".to_owned(),
    ));

    for (what, bundle, check) in cases {
        let (code, report, err) = verify_v2(&v2, &bundle);
        assert_eq!(code, 1, "{what}: {report:#}");
        assert_eq!(report["ok"], false, "{what}");
        assert_eq!(
            names(&report, "fail"),
            vec![check.clone()],
            "{what}: {report:#}"
        );
        assert!(err.contains(&check), "{what}: stderr {err}");
    }
}

/// The interop Python (scripts/test.sh sets it); without it the test is skipped unless
/// WRIT_REQUIRE_CONFORMANCE=1.
fn python() -> Option<String> {
    match std::env::var("WRIT_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                std::env::var("WRIT_REQUIRE_CONFORMANCE").as_deref() != Ok("1"),
                "WRIT_TEST_PYTHON is not set but WRIT_REQUIRE_CONFORMANCE=1: run scripts/test.sh"
            );
            eprintln!("skipped: WRIT_TEST_PYTHON not set (tlog-scales, sigstore)");
            None
        }
    }
}

/// Runs `writ ARGS` with `input` on stdin; returns stdout, asserting success.
fn writ_stdin(args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_writ"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "writ {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Issue 13 acceptance 4: independent tlog verifiers from PyPI (tlog-scales, sigstore) accept
/// a real `writ serve`'s checkpoints, tiles and inclusion proofs, for v2 entries (written by
/// the server, and appended) and a v1 entry (appended), reading tiles with a read role's token.
#[test]
fn independent_tlog_verifiers_accept_v1_and_v2_entries() {
    let Some(python) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let srv = Served::start(&data, true);
    let admin = admin_token(&data);
    let (agent, gate_key, _) = provision_with_gate_token(&srv.url, &admin, tmp.path());
    let client = http();
    let (st, allow) = client.call(
        "POST",
        &format!("{}/v1/authorize", srv.url),
        Some(&agent),
        Some(&authorize_body(&gate_key)),
    );
    assert_eq!(st, 200, "{allow}");
    let served_index = allow["ledger_index"].as_u64().unwrap();
    let execution = allow["execution"].as_str().unwrap().to_owned();
    let (st, served_bundle) = client.call(
        "GET",
        &format!("{}/v1/proofs/{execution}", srv.url),
        Some(&agent),
        None,
    );
    assert_eq!(st, 200, "{served_bundle}");
    let (_, old_checkpoint) =
        client.call("GET", &format!("{}/ledger/checkpoint", srv.url), None, None);
    let vkey = srv.vkey.clone();
    srv.signal("-TERM");
    assert_eq!(srv.wait(std::time::Duration::from_secs(20)), Some(0));

    // The server writes v2. A v1 decision (what a ledger written before entries v2 holds: the
    // served decision joined with its disclosure) and hand-made v2 entries, as DESIGN.md fixes
    // them, are appended to the stopped server's ledger.
    let v1_line = {
        let served: writ_ledger::ProofBundle =
            serde_json::from_value(served_bundle.clone()).unwrap();
        let entry = served
            .entries
            .iter()
            .find(|e| e.index == served_index)
            .unwrap();
        let bytes = B64.decode(&entry.entry_b64).unwrap();
        let disclosure = served
            .disclosures
            .iter()
            .flatten()
            .find(|d| d.index == served_index);
        let writ_ledger::evidence::DecisionEvidence::Record(record) =
            writ_ledger::evidence::decision_from(served_index, &bytes, disclosure).unwrap()
        else {
            panic!("the served decision is disclosed to its principal");
        };
        let mut v1 = *record;
        v1.v = 1;
        String::from_utf8(to_canonical_vec(&v1).unwrap()).unwrap()
    };
    let v2 = v2_bundle();
    let lines: String = std::iter::once(format!("{v1_line}\n"))
        .chain(v2.bundle["entries"].as_array().unwrap().iter().map(|e| {
            let bytes = B64.decode(e["entry_b64"].as_str().unwrap()).unwrap();
            format!("{}\n", String::from_utf8(bytes).unwrap())
        }))
        .collect();
    let ledger_dir = data.join("ledger");
    let ledger_dir = ledger_dir.to_str().unwrap();
    let appended: Value = serde_json::from_str(&writ_stdin(
        &["ledger", "append", "--dir", ledger_dir, "--format", "json"],
        &lines,
    ))
    .unwrap();
    let appended_indexes: Vec<u64> = appended["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_u64().unwrap())
        .collect();
    assert_eq!(appended_indexes.len(), 3, "{appended}");
    let mut proof_args = vec!["ledger", "proof", "--dir", ledger_dir, "--format", "json"];
    let index_args: Vec<String> = appended_indexes.iter().map(u64::to_string).collect();
    for i in &index_args {
        proof_args.extend_from_slice(&["--index", i]);
    }
    let appended_proof: Value = serde_json::from_str(&writ_stdin(&proof_args, "")).unwrap();

    let srv = Served::start(&data, false);
    let (st, auditor) = client.call(
        "POST",
        &format!("{}/v1/admin/principals", srv.url),
        Some(&admin),
        Some(&json!({"id": "human:audra", "zone": "dev", "role": "auditor"})),
    );
    assert_eq!(st, 201, "{auditor}");
    let mut indexes = vec![served_index];
    indexes.extend(&appended_indexes);
    let case = tmp.path().join("tlog-case.json");
    std::fs::write(
        &case,
        json!({
            "url": srv.url, "vkey": vkey, "old_checkpoint": old_checkpoint,
            "indexes": indexes, "bundles": [served_bundle, appended_proof],
        })
        .to_string(),
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/tlog_verify.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&case)
        .env("WRIT_TEST_TOKEN", auditor["token"].as_str().unwrap())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for i in &indexes {
        assert!(
            stdout.contains(&format!("ok: tlog-scales: entry {i} ")),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!("ok: sigstore: entry {i} ")),
            "{stdout}"
        );
    }
    assert!(stdout.contains("(decision v2)"), "{stdout}");
    assert!(stdout.contains("(receipt v2)"), "{stdout}");
    assert!(stdout.contains("(decision v1)"), "{stdout}");
    assert!(
        stdout.contains("ok: tlog-scales: reading a tile without a token refused"),
        "{stdout}"
    );
}
