//! The Governance Proof Viewer in a real browser (issue 17, points 2 and 5 for the proof face):
//! Debian's Chromium driven by Playwright (`ui/tests/proof.mjs`, run by node) against a real
//! `writ serve` on 127.0.0.1, then the standalone file of `writ proof viewer` from `file://`
//! with the network blocked.
//!
//! This test makes the bundles: one from the server (an authorize and its gate receipt), the
//! same bundle tampered in each way the viewer must catch, and a bundle of a small ledger made
//! here whose receipt the gate never signed. The script gets them, the tokens and paths as one
//! JSON line on its stdin (never on a command line or in its environment), checks in the
//! browser that each shows the right verdict with exactly the right checks failing, and prints
//! what it measured as `RESULT {…}`. Screenshots go to `$CARGO_TARGET_DIR/ui-screenshots`.
//!
//! Needs node with `playwright-core` and `axe-core` (WRIT_UI_NODE_MODULES) and Chromium
//! (WRIT_CHROMIUM, default /usr/bin/chromium); without them the test says so and skips,
//! unless WRIT_REQUIRE_UI=1.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use writ_artifact::{KeyRing, WritKey};
use writ_ledger::Ledger;
use writ_model::canonical::to_canonical_vec;

use crate::proof::{
    claims_of, post_receipt, with_checkpoint_of_another_key, with_inclusion_flipped,
    with_writ_resigned,
};
use crate::serve::{
    Served, admin_token, authorize_body, http, provision_with_gate_token, writ_env,
};

/// `bundle` whose writ is for another resource than its decision says, signed by a key the
/// bundle's JWKS now names: the signature verifies, the claims do not match the decision (nor
/// the gate's receipt, which is for the decided resource).
fn with_writ_for_another_resource(bundle: &Value) -> Value {
    let mut out = bundle.clone();
    let mut claims = claims_of(bundle["writ"].as_str().unwrap());
    claims["intent"]["resource"] = json!("tool:github/delete_repo");
    let ring = KeyRing::new(WritKey::from_seed(&[98; 32]), 5);
    let header = json!({"alg": "EdDSA", "typ": "writ+jwt", "kid": ring.active_kid()});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = SigningKey::from_bytes(&[98; 32]).sign(input.as_bytes());
    out["writ"] = json!(format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(sig.to_bytes())
    ));
    out["jwks"] = serde_json::to_value(ring.jwks(claims["iat"].as_i64().unwrap())).unwrap();
    out
}

/// `bundle` with the disclosure of entry `index` changed by `change`.
fn with_disclosure(bundle: &Value, index: u64, change: impl Fn(&mut Value)) -> Value {
    let mut out = bundle.clone();
    let d = out["disclosures"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|d| d["index"] == index)
        .unwrap();
    change(&mut d["private"]);
    out
}

/// A bundle of a ledger made here: a gate registered with its key, then a receipt in clear
/// that names that gate but was signed by another key (a forged receipt the ledger recorded).
/// Returns the bundle, its log key and the receipt's index.
fn forged_receipt_bundle(dir: &Path) -> (Value, String, u64) {
    let ledger = Ledger::init(&dir.join("forged-ledger"), "writ.test/forged").unwrap();
    let gate = SigningKey::from_bytes(&[5; 32]);
    let changed = json!({"type": "gate.changed", "v": 1, "gate": "gate:mcp-1", "zone": "dev",
        "public_key": hex::encode(gate.verifying_key().to_bytes())});
    let g = ledger
        .append_durable(&to_canonical_vec(&changed).unwrap())
        .unwrap();
    let body = json!({"type": "receipt", "v": 1, "execution": "0190b2c4-0000-7000-8000-000000000001",
        "jti": "forged", "gate": "gate:mcp-1", "outcome": "success", "started_at": 1, "finished_at": 2,
        "intent": {"action": "mcp.call_tool", "resource": "tool:github/get_issue", "args_sha256": "ab".repeat(32)}});
    let forger = SigningKey::from_bytes(&[66; 32]);
    let sig = URL_SAFE_NO_PAD.encode(forger.sign(&to_canonical_vec(&body).unwrap()).to_bytes());
    let receipt = json!({"type": "receipt", "v": 1,
        "receipt": {"body": body, "kid": "gate:mcp-1", "sig": sig}});
    let r = ledger
        .append_durable(&to_canonical_vec(&receipt).unwrap())
        .unwrap();
    let bundle = ledger.proof_bundle(&[g, r], None).unwrap();
    (serde_json::to_value(&bundle).unwrap(), ledger.vkey(), r)
}

/// Runs `writ proof viewer --out FILE`; returns the file's size.
fn write_viewer(file: &Path) -> u64 {
    let (code, out, err) = writ_env(&["proof", "viewer", "--out", file.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{out} {err}");
    std::fs::metadata(file).unwrap().len()
}

/// The standalone file: written 0644 (a public artifact), never over a file without --force,
/// with its own strict policy naming the hashes of its one script and one style.
#[test]
fn writ_proof_viewer_writes_one_self_contained_file() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("viewer.html");
    write_viewer(&file);
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o644);
    let page = std::fs::read_to_string(&file).unwrap();
    assert!(page.contains("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'sha256-"));
    assert_eq!(
        page.matches("<script").count(),
        1,
        "one inline script, no src"
    );
    assert_eq!(page.matches("<style").count(), 1);
    assert!(!page.contains(" src=") && !page.contains("<link rel=\"stylesheet\""));
    assert!(
        !page
            .lines()
            .any(|l| l.starts_with("import ") || l.starts_with("export "))
    );
    // Nothing in it asks for the network (its policy would refuse it anyway).
    for call in [
        "fetch(",
        "XMLHttpRequest",
        "WebSocket",
        "EventSource",
        "sendBeacon",
    ] {
        assert!(
            !page.contains(call),
            "the standalone viewer contains {call}"
        );
    }
    // Never over an existing file without --force.
    std::fs::write(&file, "mine").unwrap();
    let (code, _, err) = writ_env(&["proof", "viewer", "--out", file.to_str().unwrap()], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
    let (code, _, err) = writ_env(
        &[
            "proof",
            "viewer",
            "--out",
            file.to_str().unwrap(),
            "--force",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), page);
}

#[test]
fn the_proof_viewer_in_chromium() {
    let Some(crate::browser::BrowserEnv {
        root,
        modules,
        chromium,
        screenshots: shots,
    }) = crate::browser::browser_env("the proof viewer's browser tests")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let srv = Served::start(&data, true);
    let admin = admin_token(&data);
    let (agent, gate_key, gate_token) = provision_with_gate_token(&srv.url, &admin, tmp.path());
    let client = http();
    let (st, auditor) = client.call(
        "POST",
        &format!("{}/v1/admin/principals", srv.url),
        Some(&admin),
        Some(&json!({"id": "human:audra", "zone": "dev", "role": "auditor"})),
    );
    assert_eq!(st, 201, "{auditor}");
    let (st, allow) = client.call(
        "POST",
        &format!("{}/v1/authorize", srv.url),
        Some(&agent),
        Some(&authorize_body(&gate_key)),
    );
    assert_eq!(st, 200, "{allow}");
    let execution = allow["execution"].as_str().unwrap().to_owned();
    let decision = allow["ledger_index"].as_u64().unwrap();
    // A checkpoint seen before the receipt: the consistency check's older checkpoint.
    let (st, older) = client.call("GET", &format!("{}/ledger/checkpoint", srv.url), None, None);
    assert_eq!(st, 200, "{older}");
    let receipt = post_receipt(&srv, &gate_key, &gate_token, &allow);
    let (st, proof) = client.call(
        "GET",
        &format!("{}/v1/proofs/{execution}", srv.url),
        Some(&agent),
        None,
    );
    assert_eq!(st, 200, "{proof}");
    let decision_pos = proof["entries"]
        .as_array()
        .unwrap()
        .iter()
        .position(|e| e["index"] == decision)
        .unwrap();

    // The consistency proof from the older checkpoint to the bundle's, for pasting.
    let size = |note: &str| note.lines().nth(1).unwrap().parse::<u64>().unwrap();
    let (from, to) = (
        size(older.as_str().unwrap()),
        size(proof["checkpoint"].as_str().unwrap()),
    );
    assert!(from < to, "{from} {to}");
    let (st, consistency) = client.call(
        "GET",
        &format!("{}/v1/ledger/consistency?from={from}&to={to}", srv.url),
        Some(auditor["token"].as_str().unwrap()),
        None,
    );
    assert_eq!(st, 200, "{consistency}");

    let (forged, forged_vkey, forged_index) = forged_receipt_bundle(tmp.path());
    let d = decision;
    let r = receipt;
    let cases = json!([
        {"name": "from the server", "bundle": proof, "vkey": srv.vkey, "fail": []},
        {"name": "an inclusion hash flipped", "bundle": with_inclusion_flipped(&proof, decision_pos),
         "vkey": srv.vkey, "fail": [format!("inclusion:{d}")]},
        {"name": "the checkpoint signed by another key", "bundle": with_checkpoint_of_another_key(&proof),
         "vkey": srv.vkey, "fail": ["checkpoint"]},
        {"name": "the writ re-signed by another key", "bundle": with_writ_resigned(&proof),
         "vkey": srv.vkey, "fail": ["writ-signature"]},
        {"name": "a writ whose intent differs from its decision", "bundle": with_writ_for_another_resource(&proof),
         "vkey": srv.vkey, "fail": ["writ-claims", format!("receipt:{r}")]},
        {"name": "a changed disclosure", "bundle": with_disclosure(&proof, d, |p| {
            p["request"]["intent"]["args"]["repo"] = json!("acme/secrets");
         }), "vkey": srv.vkey, "fail": [format!("disclosure:{d}")]},
        {"name": "a forged receipt signature in the disclosure", "bundle": with_disclosure(&proof, r, |p| {
            let sig = p["receipt"]["sig"].as_str().unwrap().to_owned();
            let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
            raw[0] ^= 1;
            p["receipt"]["sig"] = json!(URL_SAFE_NO_PAD.encode(raw));
         }), "vkey": srv.vkey, "fail": [format!("disclosure:{r}")]},
        {"name": "a receipt the gate never signed, recorded", "bundle": forged, "vkey": forged_vkey,
         "fail": [format!("receipt:{forged_index}")]},
    ]);
    // The CLI agrees on every case (its check names differ; the verdict must not).
    for c in cases.as_array().unwrap() {
        let file = tmp.path().join("case.json");
        std::fs::write(&file, c["bundle"].to_string()).unwrap();
        let (code, out, err) = writ_env(
            &[
                "proof",
                "verify",
                file.to_str().unwrap(),
                "--vkey",
                c["vkey"].as_str().unwrap(),
            ],
            &[],
        );
        let want = if c["fail"].as_array().unwrap().is_empty() {
            0
        } else {
            1
        };
        assert_eq!(
            code, want,
            "writ proof verify on {}: {out} {err}",
            c["name"]
        );
    }

    let viewer = tmp.path().join("viewer.html");
    let (code, out, err) = writ_env(&["proof", "viewer", "--out", viewer.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{out} {err}");
    // Never over an existing file without --force.
    let (code, _, err) = writ_env(&["proof", "viewer", "--out", viewer.to_str().unwrap()], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("--force"), "{err}");
    let (code, _, err) = writ_env(
        &[
            "proof",
            "viewer",
            "--out",
            viewer.to_str().unwrap(),
            "--force",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let bytes = std::fs::metadata(&viewer).unwrap().len();

    let mut child = Command::new("node")
        .arg(root.join("ui/tests/proof.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node");
    let config = json!({
        "base": srv.url, "chromium": chromium, "modules": modules, "screenshots": shots.display().to_string(),
        "tokens": {"auditor": auditor["token"]}, "execution": execution, "vkey": srv.vkey,
        "older_checkpoint": older, "consistency": consistency, "viewer": viewer.display().to_string(), "cases": cases,
    });
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{config}\n").as_bytes()).unwrap();
    let mut result = Value::Null;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(r) = line.strip_prefix("RESULT ") {
            result = serde_json::from_str(r).unwrap();
        } else {
            println!("{line}");
        }
    }
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "the browser script failed: {result}");
    eprintln!("proof viewer: standalone file {bytes} bytes; measured {result}");
}
