//! Acceptance 4: our writs verify against our JWKS with an independent JOSE implementation
//! (Python's PyJWT on `cryptography`), and a tampered writ is refused by it.
//!
//! Needs WRIT_TEST_PYTHON (scripts/test.sh sets it to a venv with tests/interop/requirements.txt).
//! Without it the test is skipped, unless WRIT_REQUIRE_CONFORMANCE=1 makes it required.

use std::path::PathBuf;
use std::process::Command;

use serde_json::json;
use writ_model::{Clock as _, SystemClock};

use crate::fixture::*;

fn python() -> Option<String> {
    match std::env::var("WRIT_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                std::env::var("WRIT_REQUIRE_CONFORMANCE").as_deref() != Ok("1"),
                "WRIT_TEST_PYTHON is not set but WRIT_REQUIRE_CONFORMANCE=1: run scripts/test.sh, \
                 or point WRIT_TEST_PYTHON at a Python with tests/interop/requirements.txt installed"
            );
            eprintln!("skipped: WRIT_TEST_PYTHON not set (PyJWT interop)");
            None
        }
    }
}

#[test]
fn pyjwt_verifies_our_writ_against_our_jwks() {
    let Some(python) = python() else { return };
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/verify_writ.py");
    // PyJWT checks exp/nbf/iat against the real clock, so issue at the real time.
    let f = Fixture::new();
    let now = SystemClock.now_unix();
    f.clock.set(now);
    const NEW_SEED: [u8; 32] = [44; 32];
    // Rotate once so the JWKS holds two keys and PyJWT has to pick by kid.
    let _ = f.issuer.issue(f.request()).unwrap();
    f.ring
        .rotate(writ_artifact::WritKey::from_seed(&NEW_SEED), now);
    let w = f.issuer.issue(f.request()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let reverse_out = dir.path().join("pyjwt.jws");
    let case = json!({
        "token": w.token,
        "jwks": f.ring.jwks(now),
        "audience": GATE,
        "issuer": ISSUER,
        "claims": serde_json::to_value(&w.claims).unwrap(),
        "reverse": {"seed_b64": b64(&NEW_SEED), "out": reverse_out},
    });
    let path = dir.path().join("case.json");
    std::fs::write(&path, serde_json::to_vec(&case).unwrap()).unwrap();

    let out = Command::new(&python)
        .arg(&script)
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "PyJWT interop failed:\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // The script reports each check it made; make sure none was silently skipped.
    for check in [
        "ok: kid is the RFC 7638 thumbprint",
        "ok: PyJWT verified the writ",
        "ok: claims equal",
        "ok: cryptography verified the signature",
        "ok: tampered payload rejected",
        "ok: wrong audience rejected",
        "ok: HS256 with the public key rejected",
        "ok: PyJWT signed a writ for Writ to verify",
    ] {
        assert!(stdout.contains(check), "missing {check:?} in:\n{stdout}");
    }

    // The other direction: a writ signed by PyJWT passes Writ's strict verifier with the
    // same claims (header member order and JSON spacing are PyJWT's own).
    let theirs = std::fs::read_to_string(&reverse_out).unwrap();
    assert_ne!(theirs, w.token);
    let gate =
        writ_artifact::Verifier::new(f.ring.verification_keys(now), f.config(), f.clock.clone());
    let verified = gate.verify_call(&theirs, &f.call).unwrap();
    assert_eq!(verified.claims(), &w.claims);
}
