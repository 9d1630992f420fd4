//! Tests of `writ inspect` and `writ verify-writ`. Writs are minted through the
//! writ-artifact library with a fixed clock; the binary verifies them with `--at`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use serde_json::{Value, json};
use writ_artifact::*;
use writ_model::{ExecutionId, FixedClock, Intent, Lineage};

const T0: i64 = 1_800_000_000;
const GATE: &str = "gate:runner";

struct Env {
    dir: tempfile::TempDir,
    token: String,
    jwks: PathBuf,
    intent: PathBuf,
}

fn call() -> Intent {
    Intent::new(
        "mcp.call_tool",
        "tool:github/create_issue",
        json!({"repo": "acme/app", "title": "flaky test"}),
    )
}

fn setup() -> Env {
    setup_for(&call())
}

/// A writ issued for `call` (its digest taken as a control plane without the range check
/// took it), with `call` in the intent file.
fn setup_for(call: &Intent) -> Env {
    let clock = Arc::new(FixedClock::new(T0));
    let ring = Arc::new(KeyRing::new(WritKey::from_seed(&[5; 32]), 5));
    let issuer = Issuer::new(ring.clone(), clock, IssuerConfig::new("writ:cp"));
    let w = issuer
        .issue(IssueRequest {
            sub: "agent:triage-bot".parse().unwrap(),
            act: Some(Act::new("human:alice".parse().unwrap())),
            aud: GATE.parse().unwrap(),
            intent: writ_model::IntentDigest {
                action: call.action.clone(),
                resource: call.resource.clone(),
                args_sha256: writ_model::digest::canonical_sha256_hex(&call.args).unwrap(),
            },
            env: writ_artifact::Env {
                zone: "sandbox".parse().unwrap(),
                attestation_sha256: "a".repeat(64),
            },
            policy: PolicyInfo {
                bundle_sha256: "b".repeat(64),
                engine: "cedar-policy 4.14".into(),
                determining: vec!["allow-issues".into()],
            },
            scope: Scope::default(),
            lineage: Lineage::root(ExecutionId::new_v7()),
            ledger: LedgerRef {
                origin: "writ.example/ledger".into(),
                index: 3,
            },
            lifetime_secs: None,
        })
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, serde_json::to_vec(&ring.jwks(T0)).unwrap()).unwrap();
    let intent = dir.path().join("intent.json");
    std::fs::write(&intent, serde_json::to_vec(call).unwrap()).unwrap();
    Env {
        dir,
        token: w.token,
        jwks,
        intent,
    }
}

fn writ(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_writ"))
        .args(args)
        .env_remove("WRIT_JWKS")
        .env_remove("WRIT_GATE")
        .env_remove("WRIT_GATE_ID")
        .env_remove("WRIT_GATE_ZONE")
        .env_remove("WRIT_ISSUER")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `writ verify-writ TOKEN --jwks … --gate … --intent … --at T0 EXTRA…`; a flag in `extra`
/// replaces the default of the same name.
fn verify(e: &Env, token: &str, extra: &[&str]) -> Output {
    let at = T0.to_string();
    let defaults = [
        ("--jwks", p(&e.jwks)),
        ("--gate-id", GATE),
        ("--intent", p(&e.intent)),
        ("--at", at.as_str()),
    ];
    let mut args = vec!["verify-writ", token];
    for (flag, value) in defaults {
        if !extra.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    args.extend_from_slice(extra);
    writ(&args, None)
}

#[test]
fn inspect_prints_claims_for_people_and_machines() {
    let e = setup();
    let o = writ(&["inspect", &e.token], None);
    assert_eq!(code(&o), 0, "{o:?}");
    let out = stdout(&o);
    assert!(out.contains("NOT verified"), "{out}");
    assert!(out.contains("subject       agent:triage-bot"), "{out}");
    assert!(out.contains("on behalf of  human:alice"), "{out}");
    assert!(
        out.contains("intent        mcp.call_tool tool:github/create_issue"),
        "{out}"
    );
    assert!(
        out.contains("issued        2027-01-15T08:00:00Z (1800000000)"),
        "{out}"
    );
    assert!(out.contains("lifetime      60 s"), "{out}");

    let o = writ(
        &["inspect", "-", "--format", "json"],
        Some(&format!("{}\n", e.token)),
    );
    assert_eq!(code(&o), 0, "{o:?}");
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["verified"], false);
    assert_eq!(v["header"]["alg"], "EdDSA");
    assert_eq!(v["header"]["typ"], "writ+jwt");
    assert_eq!(v["claims"]["sub"], "agent:triage-bot");
    assert_eq!(v["claims"]["exp"], T0 + 60);

    // From a file.
    let f = e.dir.path().join("writ.jws");
    std::fs::write(&f, &e.token).unwrap();
    assert_eq!(code(&writ(&["inspect", p(&f)], None)), 0);
}

#[test]
fn inspect_refuses_garbage_with_exit_3() {
    for bad in ["a.b.c", "only.two", "x.y.z.w"] {
        let o = writ(&["inspect", bad], None);
        assert_eq!(code(&o), 3, "{bad}: {o:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("writ_malformed"));
    }
    assert_eq!(code(&writ(&["inspect", "/nonexistent/writ"], None)), 3);
}

#[test]
fn verify_writ_ok_exits_0() {
    let e = setup();
    let o = verify(&e, &e.token, &["--issuer", "writ:cp", "--zone", "sandbox"]);
    assert_eq!(code(&o), 0, "{o:?}");
    assert!(stdout(&o).starts_with("ok: writ "), "{}", stdout(&o));
    let o = verify(&e, &e.token, &["--format", "json"]);
    assert_eq!(code(&o), 0, "{o:?}");
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["result"], "ok");
    assert_eq!(v["sub"], "agent:triage-bot");
}

#[test]
fn verify_writ_denials_exit_2_with_their_reason_code() {
    let e = setup();
    let other_intent = e.dir.path().join("other.json");
    let mut c = call();
    c.args["title"] = json!("flaky test!");
    std::fs::write(&other_intent, serde_json::to_vec(&c).unwrap()).unwrap();
    let other_jwks = e.dir.path().join("other-jwks.json");
    let other = KeyRing::new(WritKey::from_seed(&[6; 32]), 5);
    std::fs::write(&other_jwks, serde_json::to_vec(&other.jwks(T0)).unwrap()).unwrap();

    let (h, rest) = e.token.split_once('.').unwrap();
    let (payload, sig) = rest.split_once('.').unwrap();
    // base64url of {"alg":"none","typ":"writ+jwt","kid":"k"}
    let none = format!("eyJhbGciOiJub25lIiwidHlwIjoid3JpdCtqd3QiLCJraWQiOiJrIn0.{payload}.");
    let mut tampered_sig = sig.to_owned().into_bytes();
    tampered_sig[5] = if tampered_sig[5] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{h}.{payload}.{}", String::from_utf8(tampered_sig).unwrap());
    let later = (T0 + 65).to_string();
    let earlier = (T0 - 10).to_string();

    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (vec!["--at", &later], &e.token, "writ_expired"),
        (vec!["--at", &earlier], &e.token, "writ_not_yet_valid"),
        (
            vec!["--gate-id", "gate:other"],
            &e.token,
            "writ_wrong_audience",
        ),
        (
            vec!["--intent", p(&other_intent)],
            &e.token,
            "writ_intent_mismatch",
        ),
        (vec!["--jwks", p(&other_jwks)], &e.token, "writ_unknown_kid"),
        (
            vec!["--issuer", "writ:other"],
            &e.token,
            "writ_wrong_issuer",
        ),
        (vec!["--zone", "prod-eu"], &e.token, "writ_wrong_zone"),
        (vec![], &tampered, "writ_bad_signature"),
        (vec![], &none, "writ_alg_none"),
    ];
    for (extra, token, reason) in cases {
        let o = verify(&e, token, &extra);
        assert_eq!(code(&o), 2, "{reason}: {o:?}");
        assert!(stdout(&o).contains(reason), "{reason}: {}", stdout(&o));
        let mut json_args = extra.clone();
        json_args.extend(["--format", "json"]);
        let o = verify(&e, token, &json_args);
        assert_eq!(code(&o), 2, "{reason}: {o:?}");
        let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(v["result"], "denied");
        assert_eq!(v["reason"], reason);
    }
}

#[test]
fn verify_writ_invalid_input_exits_3() {
    let e = setup();
    let bad_json = e.dir.path().join("bad.json");
    std::fs::write(&bad_json, "{not json").unwrap();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("not.a.writ", vec![]),
        ("a.b", vec![]),
        (&e.token, vec!["--jwks", p(&bad_json)]),
        (&e.token, vec!["--intent", p(&bad_json)]),
        (&e.token, vec!["--intent", "/nonexistent/intent.json"]),
        (&e.token, vec!["--gate-id", "runner"]),
    ];
    for (token, extra) in cases {
        let o = verify(&e, token, &extra);
        assert_eq!(code(&o), 3, "{token} {extra:?}: {o:?}");
    }
}

/// Regression (issue 12, finding 2): a writ for `{"a":9007199254740992,"b":1}` passed
/// `verify-writ` for `a = 9007199254740993`, and for `9007199254740993.0` with `b: 1.0`; and a
/// number with more digits than a double holds was checked as the double it rounds to.
#[test]
fn integers_beyond_2_53_are_refused_by_verify_writ() {
    let issued = Intent::new(
        "mcp.call_tool",
        "tool:calc/add",
        json!({"a": 9_007_199_254_740_992u64, "b": 1}),
    );
    let e = setup_for(&issued);
    for body in [
        r#"{"action":"mcp.call_tool","resource":"tool:calc/add","args":{"a":9007199254740992,"b":1}}"#,
        r#"{"action":"mcp.call_tool","resource":"tool:calc/add","args":{"a":9007199254740993,"b":1}}"#,
        r#"{"action":"mcp.call_tool","resource":"tool:calc/add","args":{"a":9007199254740993.0,"b":1.0}}"#,
    ] {
        let file = e.dir.path().join("call.json");
        std::fs::write(&file, body).unwrap();
        let o = verify(&e, &e.token, &["--intent", p(&file)]);
        assert_eq!(code(&o), 3, "{body}: {o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("number_out_of_range"), "{body}: {err}");
    }
    // Within the range, a re-spelled number is the same number: 1.0 is 1.
    let fine = Intent::new("mcp.call_tool", "tool:calc/add", json!({"a": 2, "b": 1}));
    let e = setup_for(&fine);
    let file = e.dir.path().join("call.json");
    std::fs::write(
        &file,
        r#"{"action":"mcp.call_tool","resource":"tool:calc/add","args":{"a":20e-1,"b":1.0}}"#,
    )
    .unwrap();
    let o = verify(&e, &e.token, &["--intent", p(&file)]);
    assert_eq!(code(&o), 0, "{o:?}");
    std::fs::write(
        &file,
        r#"{"action":"mcp.call_tool","resource":"tool:calc/add","args":{"a":2.000000000000000001,"b":1}}"#,
    )
    .unwrap();
    let o = verify(&e, &e.token, &["--intent", p(&file)]);
    assert_eq!(code(&o), 3, "{o:?}");
}
