//! Tests of `writ policy validate|test|simulate|sign|keygen` and `writ replay`, against the
//! demo bundle in examples/policy/default and broken copies of it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

const NOW: &str = "1767225600";

pub(crate) fn writ(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_writ"))
        .args(args)
        .output()
        .unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn default_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy/default")
}

/// A writable copy of the demo bundle.
fn copy_bundle(to: &Path) -> PathBuf {
    let dir = to.join("bundle");
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(default_dir()).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "bundle.sig" {
            std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        }
    }
    dir
}

pub(crate) fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn validate_prints_digest_and_exits_0() {
    let o = writ(&["policy", "validate", s(&default_dir()), "--allow-unsigned"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("bundle_sha256"), "{}", stdout(&o));
    let o = writ(&[
        "policy",
        "validate",
        s(&default_dir()),
        "--allow-unsigned",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["bundle_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(v["policies"], 9);
}

#[test]
fn validate_without_trust_or_allow_unsigned_is_refused() {
    let o = writ(&["policy", "validate", s(&default_dir())]);
    assert_eq!(code(&o), 3);
    assert!(stderr(&o).contains("--trust"), "{}", stderr(&o));
}

#[test]
fn broken_bundle_shows_file_line_and_fix_and_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_bundle(tmp.path());
    let p = dir.join("policies.cedar");
    let text = std::fs::read_to_string(&p).unwrap();
    // Drop the `has path` guard: strict validation must refuse the optional access.
    let broken = text.replace("context.args has path &&\n", "");
    assert_ne!(broken, text);
    std::fs::write(&p, &broken).unwrap();
    let line = broken
        .lines()
        .position(|l| l.contains("context.args.path like \"/workspace/*\""))
        .unwrap()
        + 1;
    let o = writ(&["policy", "validate", s(&dir), "--allow-unsigned"]);
    assert_eq!(code(&o), 3, "{}", stdout(&o));
    let err = stderr(&o);
    assert!(err.contains(&format!("policies.cedar:{line}:")), "{err}");
    assert!(
        err.contains("help: try testing for the attribute's presence"),
        "{err}"
    );
    assert!(err.contains("bundle_validation_failed"), "{err}");

    let o = writ(&[
        "policy",
        "validate",
        s(&dir),
        "--allow-unsigned",
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 3);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["diagnostics"][0]["file"], "policies.cedar");
    assert_eq!(v["diagnostics"][0]["line"], line);

    // A syntax error too.
    std::fs::write(
        dir.join("zz.cedar"),
        "permit(principal, action, resource)\nwhen { 1 + };\n",
    )
    .unwrap();
    std::fs::write(&p, &text).unwrap();
    let o = writ(&["policy", "validate", s(&dir), "--allow-unsigned"]);
    assert_eq!(code(&o), 3);
    assert!(stderr(&o).contains("zz.cedar:2:"), "{}", stderr(&o));
}

#[test]
fn keygen_sign_and_trust() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_bundle(tmp.path());
    let key = tmp.path().join("bundle.key");
    let o = writ(&["policy", "keygen", s(&key)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let public = tmp.path().join("bundle.key.pub");
    assert!(public.exists());
    // Never overwrites.
    assert_eq!(code(&writ(&["policy", "keygen", s(&key)])), 3);

    // Signed bundle: trusted key passes; unsigned with --trust is refused.
    let o = writ(&["policy", "validate", s(&dir), "--trust", s(&public)]);
    assert_eq!(code(&o), 3);
    assert!(stderr(&o).contains("bundle_unsigned"), "{}", stderr(&o));
    let o = writ(&["policy", "sign", s(&dir), "--key", s(&key)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(dir.join("bundle.sig").exists());
    let o = writ(&["policy", "validate", s(&dir), "--trust", s(&public)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    // Another key is not trusted.
    let other = tmp.path().join("other.key");
    assert_eq!(code(&writ(&["policy", "keygen", s(&other)])), 0);
    let o = writ(&[
        "policy",
        "validate",
        s(&dir),
        "--trust",
        s(&tmp.path().join("other.key.pub")),
    ]);
    assert_eq!(code(&o), 3);
    assert!(
        stderr(&o).contains("bundle_key_untrusted"),
        "{}",
        stderr(&o)
    );

    // A policy edited after signing is refused.
    let p = dir.join("policies.cedar");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, text.replace("/workspace/*", "/*")).unwrap();
    let o = writ(&["policy", "validate", s(&dir), "--trust", s(&public)]);
    assert_eq!(code(&o), 3);
    assert!(
        stderr(&o).contains("bundle_digest_mismatch"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn policy_test_passes_on_the_demo_bundle_and_fails_on_a_wrong_expectation() {
    let o = writ(&["policy", "test", s(&default_dir()), "--allow-unsigned"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("0 failed"), "{}", stdout(&o));

    let tmp = tempfile::tempdir().unwrap();
    let tests = tmp.path().join("t.json");
    std::fs::write(
        &tests,
        json!({"now": 1767225600, "cases": [
            {"name": "rm is allowed (wrong)",
             "request": {"principal": "agent:triage-bot",
                         "intent": {"action": "exec", "resource": "cmd:/bin/rm"},
                         "env": {"zone": "dev", "gate": "gate:mcp-1"}},
             "expect": "allow"}]})
        .to_string(),
    )
    .unwrap();
    let o = writ(&[
        "policy",
        "test",
        s(&default_dir()),
        "--allow-unsigned",
        "--tests",
        s(&tests),
    ]);
    assert_eq!(code(&o), 1);
    let out = stdout(&o);
    assert!(out.contains("FAIL  rm is allowed (wrong)"), "{out}");
    assert!(out.contains("rm is never run by an agent"), "{out}");

    std::fs::write(&tests, "{\"cases\": 3}").unwrap();
    let o = writ(&[
        "policy",
        "test",
        s(&default_dir()),
        "--allow-unsigned",
        "--tests",
        s(&tests),
    ]);
    assert_eq!(code(&o), 3);
}

fn request(principal: &str, action: &str, resource: &str, args: Value, zone: &str) -> Value {
    json!({"principal": principal,
           "intent": {"action": action, "resource": resource, "args": args},
           "env": {"zone": zone, "gate": "gate:mcp-1"}})
}

#[test]
fn simulate_prints_reasons_and_exit_code_follows_the_decisions() {
    let tmp = tempfile::tempdir().unwrap();
    let allowed = tmp.path().join("allowed.jsonl");
    std::fs::write(
        &allowed,
        format!(
            "{}\n{}\n",
            request(
                "agent:triage-bot",
                "exec",
                "cmd:/usr/bin/git",
                json!({}),
                "dev"
            ),
            request(
                "agent:triage-bot",
                "mcp.call_tool",
                "tool:github/get_issue",
                json!({}),
                "dev"
            )
        ),
    )
    .unwrap();
    let o = writ(&[
        "policy",
        "simulate",
        s(&default_dir()),
        "--allow-unsigned",
        "--requests",
        s(&allowed),
        "--now",
        NOW,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("agents may run git"), "{}", stdout(&o));

    let mixed = tmp.path().join("mixed.json");
    std::fs::write(
        &mixed,
        json!([
            request("agent:triage-bot", "exec", "cmd:/bin/rm", json!({}), "dev"),
            request(
                "agent:triage-bot",
                "mcp.call_tool",
                "tool:fs/write_file",
                json!({"path": 7}),
                "dev"
            ),
        ])
        .to_string(),
    )
    .unwrap();
    let o = writ(&[
        "policy",
        "simulate",
        s(&default_dir()),
        "--allow-unsigned",
        "--requests",
        s(&mixed),
        "--now",
        NOW,
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 2);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["decision"], "deny");
    assert_eq!(v[0]["determining"], json!(["no-rm"]));
    assert_eq!(v[1]["reason_code"], "policy_error");
    assert!(
        v[1]["errors"][0]
            .as_str()
            .unwrap()
            .starts_with("fs-write-under-workspace: ")
    );

    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"principal\": \"robot:x\"}\n").unwrap();
    let o = writ(&[
        "policy",
        "simulate",
        s(&default_dir()),
        "--allow-unsigned",
        "--requests",
        s(&bad),
    ]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
}

/// 10,000 varied requests over the demo bundle's principals, actions and resources.
fn many_requests(n: usize) -> String {
    let principals = [
        "agent:triage-bot",
        "agent:sub-bot",
        "agent:outsider",
        "human:alice",
    ];
    let targets = [
        ("mcp.call_tool", "tool:github/get_issue"),
        ("mcp.call_tool", "tool:github/create_issue"),
        ("mcp.call_tool", "tool:fs/write_file"),
        ("exec", "cmd:/usr/bin/git"),
        ("exec", "cmd:/bin/rm"),
        ("exec", "cmd:/usr/local/bin/deploy"),
        ("http.request", "http:https://api.github.com"),
        ("delegate", "agent:sub-bot"),
        ("fs.unknown", "tool:x"),
    ];
    let zones = ["dev", "sandbox", "prod"];
    let mut out = String::new();
    for i in 0..n {
        let (action, resource) = targets[i % targets.len()];
        let args = match i % 5 {
            0 => json!({"path": format!("/workspace/f{i}")}),
            1 => json!({"path": i}),
            2 => json!({"method": if i % 2 == 0 { "GET" } else { "POST" }, "n": i}),
            3 => json!({"argv": ["-rf", format!("/tmp/{i}")], "x": 1.5}),
            _ => json!({"repo": "acme/api", "title": format!("issue {i}"), "labels": null}),
        };
        let r = request(
            principals[(i / 7) % principals.len()],
            action,
            resource,
            args,
            zones[(i / 3) % zones.len()],
        );
        out.push_str(&r.to_string());
        out.push('\n');
    }
    out
}

#[test]
fn replay_matches_10000_recorded_decisions_in_files_and_v2_ledgers_and_detects_mismatches() {
    let tmp = tempfile::tempdir().unwrap();
    let requests = tmp.path().join("requests.jsonl");
    std::fs::write(&requests, many_requests(10_000)).unwrap();
    let records = tmp.path().join("records.jsonl");
    let o = writ(&[
        "policy",
        "simulate",
        s(&default_dir()),
        "--allow-unsigned",
        "--requests",
        s(&requests),
        "--now",
        NOW,
        "--records",
        s(&records),
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let text = std::fs::read_to_string(&records).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10_000);
    let decisions: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for code_seen in [
        "policy_permit",
        "policy_forbid",
        "no_permit",
        "policy_error",
        "unknown_action",
    ] {
        assert!(
            decisions.iter().any(|d| d["reason_code"] == code_seen),
            "no {code_seen} among the records"
        );
    }

    let o = writ(&[
        "replay",
        s(&records),
        "--bundle",
        s(&default_dir()),
        "--allow-unsigned",
    ]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("match: 10000 of 10000"),
        "{}",
        stdout(&o)
    );

    // One record altered: its decision flipped.
    let idx = decisions
        .iter()
        .position(|d| d["decision"] == "allow")
        .unwrap();
    let mut altered = decisions[idx].clone();
    altered["decision"] = "deny".into();
    let mut changed: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    changed[idx] = altered.to_string();
    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(&bad, changed.join("\n")).unwrap();
    let o = writ(&[
        "replay",
        s(&bad),
        "--bundle",
        s(&default_dir()),
        "--allow-unsigned",
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 1);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["result"], "mismatch");
    assert_eq!(v["matched"], 9_999);
    assert_eq!(v["mismatches"][0]["record"], idx + 1);
    assert_eq!(v["mismatches"][0]["kind"], "decision_mismatch");

    // The same 10,000 decisions as a v2 ledger (clear shape + commitment in the log, the
    // request in its evidence store): `writ replay --ledger` joins and matches every one.
    let ledger_dir = tmp.path().join("ledger");
    let ledger = writ_ledger::Ledger::init(&ledger_dir, "example.com/replay").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    for line in &lines {
        let rec: writ_model::DecisionRecord = serde_json::from_str(line).unwrap();
        let entry = writ_ledger::evidence::decision_entry(&rec).unwrap();
        let tx = tx.clone();
        ledger
            .submit_entry_with(entry, Box::new(move |r| tx.send(r).unwrap()))
            .unwrap();
    }
    drop(tx);
    assert_eq!(rx.iter().filter(|r| r.is_ok()).count(), 10_000);
    let request = serde_json::to_string(&decisions[0]["request"]).unwrap();
    let first = ledger.entry(0).unwrap();
    assert!(!String::from_utf8_lossy(&first).contains(&request));
    assert_eq!(serde_json::from_slice::<Value>(&first).unwrap()["v"], 2);
    let replay_ledger = || {
        let o = writ(&[
            "replay",
            "--ledger",
            s(&ledger_dir),
            "--bundle",
            s(&default_dir()),
            "--allow-unsigned",
            "--format",
            "json",
        ]);
        (
            code(&o),
            serde_json::from_slice::<Value>(&o.stdout).unwrap(),
        )
    };
    drop(ledger);
    let (c, v) = replay_ledger();
    assert_eq!(c, 0, "{v}");
    assert_eq!(v["matched"], 10_000, "{v}");
    assert_eq!(v["records"], 10_000, "{v}");

    // Two disclosures erased with an evidence.erased entry naming them: erased, not mismatched.
    // A third gone without one: reported as a missing disclosure, and replay fails.
    let ledger = writ_ledger::Ledger::open(&ledger_dir).unwrap();
    ledger.erase_disclosures(&[3, 7, 11]).unwrap();
    let erased =
        json!({"type": "evidence.erased", "v": 2, "indexes": [3, 7], "by": "human:admin", "at": 1});
    ledger
        .append_durable(&writ_model::canonical::to_canonical_vec(&erased).unwrap())
        .unwrap();
    drop(ledger);
    let (c, v) = replay_ledger();
    assert_eq!(c, 1, "{v}");
    assert_eq!(v["erased"], json!([3, 7]), "{v}");
    assert_eq!(v["matched"], 9_997, "{v}");
    assert_eq!(v["mismatches"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["mismatches"][0]["kind"], "disclosure_missing", "{v}");
    assert_eq!(v["mismatches"][0]["record"]["ledger_index"], 11, "{v}");

    // A single record (pretty JSON) under a changed bundle: the digest no longer matches.
    let one = tmp.path().join("one.json");
    std::fs::write(&one, serde_json::to_string_pretty(&decisions[0]).unwrap()).unwrap();
    let o = writ(&[
        "replay",
        s(&one),
        "--bundle",
        s(&default_dir()),
        "--allow-unsigned",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let dir = copy_bundle(tmp.path());
    let p = dir.join("policies.cedar");
    let t = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, t.replace("agents may run git", "agents may run git!")).unwrap();
    let o = writ(&["replay", s(&one), "--bundle", s(&dir), "--allow-unsigned"]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("bundle_mismatch"), "{}", stdout(&o));

    // Not a record at all.
    std::fs::write(&one, "{\"type\":\"receipt\"}").unwrap();
    let o = writ(&[
        "replay",
        s(&one),
        "--bundle",
        s(&default_dir()),
        "--allow-unsigned",
    ]);
    assert_eq!(code(&o), 3);
}

/// Issue 14: a secret bundle-signing key passed where the public key belongs is refused as a
/// secret key (by its prefix, and, as older releases wrote it without one, by the .pub beside it).
#[test]
fn a_secret_key_given_as_trust_is_refused_as_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_bundle(tmp.path());
    let key = tmp.path().join("bundle.key");
    assert_eq!(code(&writ(&["policy", "keygen", s(&key)])), 0);
    let legacy = tmp.path().join("legacy.key");
    let text = std::fs::read_to_string(&key).unwrap();
    let bare = text.trim().rsplit(':').next().unwrap().to_owned();
    std::fs::write(&legacy, format!("{bare}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&legacy, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    std::fs::copy(
        tmp.path().join("bundle.key.pub"),
        tmp.path().join("legacy.key.pub"),
    )
    .unwrap();
    for secret in [&key, &legacy] {
        let o = writ(&["policy", "validate", s(&dir), "--trust", s(secret)]);
        assert_eq!(code(&o), 3, "{}", stderr(&o));
        assert!(stderr(&o).contains("secret"), "{}", stderr(&o));
    }
    // The legacy bare-hex secret still signs.
    let o = writ(&["policy", "sign", s(&dir), "--key", s(&legacy)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = writ(&[
        "policy",
        "validate",
        s(&dir),
        "--trust",
        s(&tmp.path().join("bundle.key.pub")),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}
