//! Evidence that proves without exposing (issue 13): with a real `writ serve`, `writ exec` and
//! HTTP calls carrying canaries (tool arguments, a command line, an on-behalf-of human), no
//! tile or entry bundle of the log holds a canary; the proof of an execution carries
//! disclosures that verify for its principal and is 404 for another agent; after
//! `writ evidence erase` and a clean shutdown no byte of any file of the data directory holds
//! the erased executions' canaries, old proofs still verify, and `writ replay --ledger`
//! reports the erased decisions as erased.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use writ_ledger::ProofBundle;

use crate::logs::Provisioned;
use crate::serve::{attest, http, read_gate_key};

const BIN: &str = env!("CARGO_BIN_EXE_writ");
const ARGS_CANARY: &str = "canary-tool-args-91c2";
const CMD_CANARY: &str = "canary-command-line-44d0";
const HUMAN_CANARY: &str = "human:canary-alice-0b7e";

/// Every file under `dir` (read raw) that holds `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p)
                && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
            {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

/// Every entry bundle and level-0 hash tile of the log, read over HTTP.
fn all_tiles(url: &str, token: &str) -> Vec<u8> {
    let h = http();
    let (st, cp) = h.call("GET", &format!("{url}/ledger/checkpoint"), None, None);
    assert_eq!(st, 200, "{cp}");
    let size: u64 = cp
        .as_str()
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(size > 0);
    let client = reqwest::Client::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut all = Vec::new();
    for n in 0..size.div_ceil(256) {
        let width = (size - n * 256).min(256);
        let suffix = if width == 256 {
            String::new()
        } else {
            format!(".p/{width}")
        };
        for kind in ["entries", "0"] {
            let path = format!("{url}/ledger/tile/{kind}/{n:03}{suffix}");
            let bytes = rt.block_on(async {
                let r = client.get(&path).bearer_auth(token).send().await.unwrap();
                assert_eq!(r.status().as_u16(), 200, "{path}");
                r.bytes().await.unwrap().to_vec()
            });
            all.extend(bytes);
        }
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn writ(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("WRIT_TOKEN")
        .env_remove("WRIT_SERVER")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn no_canary_in_any_tile_or_entry_bundle_and_erasure_leaves_no_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Provisioned::start(tmp.path(), "json");
    let url = p.served.url.clone();
    let data = tmp.path().join("data");
    let h = http();

    // A command line with a canary, run through the real runner (allowed, with a receipt).
    let (code, err) = p.exec(
        "json",
        &[],
        &[
            "/usr/bin/git",
            "-c",
            &format!("user.name={CMD_CANARY}"),
            "--version",
        ],
    );
    assert_eq!(code, 0, "{err}");
    // Tool arguments and an on-behalf-of human, through the API.
    let key = read_gate_key(&p.gate_key);
    let body = json!({
        "intent": {"action": "mcp.call_tool", "resource": "tool:github/get_issue",
                   "args": {"repo": "acme/api", "note": ARGS_CANARY}},
        "attestation": attest(&key, p.gate_id, p.zone),
        "act": {"sub": HUMAN_CANARY},
    });
    let (st, answer) = h.call(
        "POST",
        &format!("{url}/v1/authorize"),
        Some(&p.agent_token),
        Some(&body),
    );
    // Allowed (read-only tool), so a writ naming the human is issued and kept for proofs.
    assert_eq!(st, 200, "{answer}");
    let tool_execution = answer["execution"].as_str().unwrap().to_owned();
    // The writ carries the human base64url-encoded: its payload is looked for as it is stored.
    let writ_payload = answer["writ"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap()
        .to_owned();
    let (st, rows) = h.call(
        "GET",
        &format!("{url}/v1/executions"),
        Some(&p.admin_token),
        None,
    );
    assert_eq!(st, 200, "{rows}");
    let exec_execution = rows["executions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "exec")
        .unwrap()["execution"]
        .as_str()
        .unwrap()
        .to_owned();

    // No canary in any tile or entry bundle.
    let tiles = all_tiles(&url, &p.admin_token);
    for canary in [ARGS_CANARY, CMD_CANARY, HUMAN_CANARY] {
        assert!(!contains(&tiles, canary), "{canary} is in the log's tiles");
    }

    // The principal's proofs carry disclosures that verify and say what was asked.
    let mut old_proofs = Vec::new();
    for (execution, canary) in [
        (&tool_execution, ARGS_CANARY),
        (&exec_execution, CMD_CANARY),
    ] {
        let (st, proof) = h.call(
            "GET",
            &format!("{url}/v1/proofs/{execution}"),
            Some(&p.agent_token),
            None,
        );
        assert_eq!(st, 200, "{proof}");
        let text = proof.to_string();
        assert!(text.contains(canary), "the disclosures hold what was said");
        let disclosures = proof["disclosures"].as_array().unwrap();
        assert!(!disclosures.is_empty());
        let entries_text: String = proof["entries"].to_string();
        assert!(!entries_text.contains(canary));
        let bundle = ProofBundle::from_json(text.as_bytes()).unwrap();
        let checked = bundle.verify(None).unwrap();
        assert_eq!(checked.disclosures.len(), disclosures.len());
        old_proofs.push(text);
    }
    assert!(old_proofs[0].contains(HUMAN_CANARY));

    // Another agent gets 404.
    let admin_file = data.join("admin.token");
    let (code, out, err) = writ(&[
        "principal",
        "add",
        "agent:other-bot",
        "--zone",
        "dev",
        "--control-plane",
        &url,
        "--token-file",
        admin_file.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let other = serde_json::from_str::<Value>(&out).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (st, _) = h.call(
        "GET",
        &format!("{url}/v1/proofs/{tool_execution}"),
        Some(&other),
        None,
    );
    assert_eq!(st, 404);
    // A decision of that other agent, which no erasure below touches.
    let plain = json!({
        "intent": {"action": "mcp.call_tool", "resource": "tool:github/get_issue", "args": {"repo": "acme/api"}},
        "attestation": attest(&key, p.gate_id, p.zone),
    });
    let (st, answer) = h.call(
        "POST",
        &format!("{url}/v1/authorize"),
        Some(&other),
        Some(&plain),
    );
    assert!(st == 200 || st == 403, "{st} {answer}");

    // Erase: one execution by id, the other through its principal and a time.
    let admin = [
        "--control-plane",
        &url,
        "--token-file",
        admin_file.to_str().unwrap(),
    ];
    let mut args = vec!["evidence", "erase", "--execution", &tool_execution];
    args.extend(admin);
    let (code, out, err) = writ(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("erased the disclosures of"), "{out}");
    let before = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 5)
    .to_string();
    let mut args = vec![
        "evidence",
        "erase",
        "--principal",
        "agent:log-bot",
        "--before",
        &before,
    ];
    args.extend(admin);
    args.extend(["--format", "json"]);
    let (code, out, err) = writ(&args);
    assert_eq!(code, 0, "{out}{err}");
    let erased: Value = serde_json::from_str(&out).unwrap();
    assert!(
        erased["executions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == &json!(exec_execution)),
        "{erased}"
    );
    // The proof now has no disclosure of the erased entries and still verifies.
    let (st, proof) = h.call(
        "GET",
        &format!("{url}/v1/proofs/{exec_execution}"),
        Some(&p.agent_token),
        None,
    );
    assert_eq!(st, 200);
    assert!(proof["disclosures"].is_null(), "{proof}");
    ProofBundle::from_json(proof.to_string().as_bytes())
        .unwrap()
        .verify(None)
        .unwrap();

    // Clean shutdown, then every byte of every file of the data directory.
    p.served.signal("-TERM");
    let Provisioned { served, .. } = p;
    assert_eq!(served.wait(Duration::from_secs(20)), Some(0));
    for canary in [ARGS_CANARY, CMD_CANARY, HUMAN_CANARY, &writ_payload] {
        let found = files_holding(&data, canary);
        assert!(found.is_empty(), "{canary} still in {found:?}");
    }
    // Old proofs (with their disclosures) still verify: the commitments did not change.
    for text in &old_proofs {
        ProofBundle::from_json(text.as_bytes())
            .unwrap()
            .verify(None)
            .unwrap();
    }
    // Replay over the ledger: the erased decisions are reported erased, nothing mismatches.
    let bundle_dir = tmp.path().join("bundle");
    let (code, out, err) = writ(&[
        "replay",
        "--ledger",
        data.to_str().unwrap(),
        "--bundle",
        bundle_dir.to_str().unwrap(),
        "--allow-unsigned",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let replay: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(replay["result"], "match", "{replay}");
    assert!(replay["erased"].as_array().unwrap().len() >= 2, "{replay}");
    assert!(replay["matched"].as_u64().unwrap() >= 1, "{replay}");
}
