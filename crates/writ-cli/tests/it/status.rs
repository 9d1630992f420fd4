//! `writ status` and `writ executions list|show` against a real `writ serve` (issue 14).

use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use writ_model::env::{EnvironmentAttestation, EnvironmentClaims};
use writ_model::{Clock, SystemClock};

use crate::serve::{Served, activate, signed_bundle_dir};

const BIN: &str = env!("CARGO_BIN_EXE_writ");

fn writ(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("WRIT_TOKEN")
        .env_remove("WRIT_SERVER")
        .env_remove("WRIT_TOKEN_FILE")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> String {
    let (code, out, err) = writ(args);
    assert_eq!(code, 0, "writ {args:?}: {err}");
    out
}

fn json_ok(args: &[&str]) -> Value {
    let out = ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn post(url: &str, token: &str, body: &Value) -> (u16, Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let resp = reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    })
}

fn attest(key: &SigningKey, gate: &str, zone: &str) -> Value {
    let claims = EnvironmentClaims::new(zone.parse().unwrap(), gate.parse().unwrap());
    let iat = SystemClock.now_unix();
    let input = EnvironmentAttestation::signing_input(&claims, iat, gate).unwrap();
    let sig = URL_SAFE_NO_PAD.encode(key.sign(&input).to_bytes());
    serde_json::to_value(EnvironmentAttestation {
        claims,
        iat,
        kid: gate.to_owned(),
        sig,
    })
    .unwrap()
}

/// Issue 14: status and the audit trail could only be read with curl and the ledger tools.
/// `writ status` prints the control plane at a glance (a table, or JSON with at least
/// bundle.sha256, kill_switch, ledger.size and ledger.checkpoint_age_ms); `writ executions
/// list` searches with filters as flags and `writ executions show` decodes one execution.
#[test]
fn status_and_executions_list_and_show_from_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let srv = Served::start(&data, true);
    let url = srv.url.clone();
    let token_file = data.join("admin.token");
    let tf = token_file.to_str().unwrap();
    let admin = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_owned();
    let bundle = tmp.path().join("bundle");
    signed_bundle_dir(&bundle);
    activate(&url, tf, &bundle);
    let (st, added) = post(
        &format!("{url}/v1/admin/principals"),
        &admin,
        &json!({"id": "agent:triage-bot", "zone": "dev"}),
    );
    assert_eq!(st, 201, "{added}");
    let agent = added["token"].as_str().unwrap().to_owned();
    let key = SigningKey::from_bytes(&[5; 32]);
    let (st, body) = post(
        &format!("{url}/v1/admin/gates"),
        &admin,
        &json!({"id": "gate:mcp-1", "zone": "dev", "public_key": hex::encode(key.verifying_key().to_bytes())}),
    );
    assert_eq!(st, 201, "{body}");
    let call = |tool: &str, args: Value| {
        post(
            &format!("{url}/v1/authorize"),
            &agent,
            &json!({"intent": {"action": "mcp.call_tool", "resource": format!("tool:{tool}"), "args": args}, "attestation": attest(&key, "gate:mcp-1", "dev")}),
        )
    };
    let (st, allowed) = call("github/get_issue", json!({"number": 7}));
    assert_eq!(st, 200, "{allowed}");
    let allowed_id = allowed["execution"].as_str().unwrap().to_owned();
    let (st, denied) = call("fs/write_file", json!({"path": "/etc/passwd"}));
    assert_eq!(st, 403, "{denied}");
    let denied_id = denied["execution"].as_str().unwrap().to_owned();

    let cp = ["--control-plane", url.as_str(), "--token-file", tf];
    let with = |args: &[&'static str]| -> Vec<String> {
        args.iter()
            .map(|s| (*s).to_owned())
            .chain(cp.iter().map(|s| (*s).to_owned()))
            .collect()
    };
    let run =
        |args: &[&'static str]| ok(&with(args).iter().map(String::as_str).collect::<Vec<_>>());
    let run_json = |args: &[&'static str]| {
        let mut v = with(args);
        v.extend(["--format".to_owned(), "json".to_owned()]);
        json_ok(&v.iter().map(String::as_str).collect::<Vec<_>>())
    };

    // writ status --format json
    let s = run_json(&["status"]);
    assert_eq!(s["bundle"]["sha256"].as_str().unwrap().len(), 64, "{s}");
    assert_eq!(s["bundle"]["activated_by"], "admin:root", "{s}");
    assert_eq!(s["kill_switch"], false);
    assert!(s["ledger"]["size"].as_u64().unwrap() >= 5, "{s}");
    assert!(s["ledger"]["checkpoint_age_ms"].is_u64(), "{s}");
    assert_eq!(s["gates"][0]["gate"], "gate:mcp-1");
    assert_eq!(s["gates"][0]["executions"], 2);
    // The table, for a person.
    let table = run(&["status"]);
    for needle in [
        "bundle",
        "kill switch    off",
        "ledger",
        "gate:mcp-1",
        "checkpoint",
        "LAST CONTACT",
    ] {
        assert!(table.contains(needle), "{needle:?} missing:\n{table}");
    }
    // An agent's token is refused (exit 2).
    let out = Command::new(BIN)
        .args(["status", "--control-plane", &url])
        .env_remove("WRIT_TOKEN_FILE")
        .env("WRIT_TOKEN", &agent)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // writ executions list, with filters as flags.
    let all = run_json(&["executions", "list"]);
    let ids: Vec<&str> = all["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["execution"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![denied_id.as_str(), allowed_id.as_str()]);
    // The last page carries no `next_cursor` (absent, not null); a shorter page does.
    assert!(all.get("next_cursor").is_none(), "{all}");
    let first = run_json(&["executions", "list", "--limit", "1"]);
    let next = first["next_cursor"]
        .as_str()
        .expect("a cursor to the second row")
        .to_owned();
    let mut second_args = with(&["executions", "list", "--limit", "1", "--format", "json"]);
    second_args.extend(["--cursor".to_owned(), next.clone()]);
    let second = json_ok(&second_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(second["executions"][0]["execution"], allowed_id.as_str());
    assert!(second.get("next_cursor").is_none(), "{second}");
    let denials = run_json(&["executions", "list", "--decision", "deny"]);
    assert_eq!(denials["executions"].as_array().unwrap().len(), 1);
    assert_eq!(denials["executions"][0]["execution"], denied_id.as_str());
    let by_resource = run_json(&[
        "executions",
        "list",
        "--resource",
        "tool:github/get_issue",
        "--principal",
        "agent:triage-bot",
        "--gate",
        "gate:mcp-1",
    ]);
    assert_eq!(
        by_resource["executions"][0]["execution"],
        allowed_id.as_str()
    );
    assert_eq!(by_resource["executions"].as_array().unwrap().len(), 1);
    let listed = run(&["executions", "list"]);
    assert!(
        listed.contains(&allowed_id) && listed.contains(&denied_id),
        "{listed}"
    );
    assert!(listed.contains("tool:fs/write_file"), "{listed}");
    assert!(listed.contains("(2 executions)"), "{listed}");
    let paged = run(&["executions", "list", "--limit", "1"]);
    assert!(
        paged.contains(&format!("(more: --cursor {next})")),
        "{paged}"
    );
    let (code, _, err) = writ(&[
        "executions",
        "list",
        "--decision",
        "maybe",
        "--control-plane",
        &url,
        "--token-file",
        tf,
    ]);
    assert_eq!(code, 3, "{err}");

    // writ executions show: the decoded decision, lineage and ledger indexes.
    let mut show_args = with(&["executions", "show"]);
    show_args.insert(2, allowed_id.clone());
    show_args.extend(["--format".to_owned(), "json".to_owned()]);
    let shown = json_ok(&show_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(shown["decision"]["entry"]["decision"], "allow", "{shown}");
    assert_eq!(shown["decision"]["ledger_index"], allowed["ledger_index"]);
    assert_eq!(
        shown["decision"]["entry"]["request"]["intent"]["resource"],
        "tool:github/get_issue"
    );
    assert_eq!(shown["ledger_indexes"], json!([allowed["ledger_index"]]));
    assert_eq!(shown["lineage"]["root"], allowed_id.as_str());
    assert_eq!(shown["writ"], true);
    let human = ok(&show_args[..show_args.len() - 2]
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    for needle in [
        "decision       allow",
        "tool:github/get_issue",
        "gate:mcp-1 in zone dev",
        "lineage",
    ] {
        assert!(human.contains(needle), "{needle:?} missing:\n{human}");
    }
    let mut denied_args = with(&["executions", "show"]);
    denied_args.insert(2, denied_id.clone());
    let human = ok(&denied_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(human.contains("decision       deny"), "{human}");
    // An id that is no id is invalid input; an unknown one is the server's 404 (exit 3).
    let (code, _, _) = writ(&[
        "executions",
        "show",
        "nope",
        "--control-plane",
        &url,
        "--token-file",
        tf,
    ]);
    assert_eq!(code, 3);
    let (code, _, err) = writ(&[
        "executions",
        "show",
        "0190f5c2-1c2d-7a00-8000-000000000000",
        "--control-plane",
        &url,
        "--token-file",
        tf,
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("execution_unknown"), "{err}");
    drop(srv);
}
