//! The console in a real browser (issue 16, acceptance 1–3): Debian's Chromium driven by
//! Playwright (`ui/tests/browser.mjs`, run by node) against this real server on 127.0.0.1.
//!
//! The browser script does what a person does in the console; what happens outside the
//! browser (an agent's authorize, a revoked token's next call, the ledger made unwritable) it
//! asks of this test with a line `@@ {"do": …}` on its stdout, and this test answers with one
//! JSON line on its stdin. Tokens reach the script on stdin, never its command line or
//! environment. It writes screenshots into `$CARGO_TARGET_DIR/ui-screenshots` and prints the
//! measured budgets (bytes of the first load, time to interactive) as its last line.
//!
//! Needs node with `playwright-core` and `axe-core` (WRIT_UI_NODE_MODULES, installed by
//! scripts/test.sh from ui/package-lock.json) and Chromium (WRIT_CHROMIUM, default
//! /usr/bin/chromium); without them the test says so and skips, unless WRIT_REQUIRE_UI=1.

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::failclosed::{Immutable, ledger_files};
use crate::harness::{TestServer, bundle_files, sign_files};

fn read_issue(gate: &crate::harness::Gate, tool: &str) -> Value {
    json!({"intent": {"action": "mcp.call_tool", "resource": format!("tool:{tool}"), "args": {"repo": "acme/api"}},
           "attestation": gate.attest()})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_chromium() {
    let Some(crate::harness::BrowserEnv {
        root,
        modules,
        chromium,
        screenshots: shots,
    }) = crate::harness::browser_env("the console's browser tests")
    else {
        return;
    };
    let (srv, agent, gate) = TestServer::provisioned().await;
    let person = |id: &'static str, role: &'static str| {
        let srv = &srv;
        async move {
            let (st, b) = srv
                .call(
                    "POST",
                    "/v1/admin/principals",
                    Some(&srv.admin),
                    Some(json!({"id": id, "zone": "dev", "role": role})),
                )
                .await;
            assert_eq!(st, 201, "{b}");
            b["token"].as_str().unwrap().to_owned()
        }
    };
    let auditor = person("human:alice", "auditor").await;
    let operator = person("human:olga", "operator").await;
    let victim = srv.add_principal("agent:victim", "dev").await;
    let revokee = srv.add_principal("agent:revokee", "dev").await;
    srv.add_principal("agent:stage-bot", "stage").await;
    // Recorded decisions a candidate bundle can be simulated against.
    srv.authorize_ok(&agent, read_issue(&gate, "github/get_issue"))
        .await;
    srv.authorize_ok(&revokee, read_issue(&gate, "github/get_issue"))
        .await;
    // One whose disclosure is erased: the simulation must say it cannot replay it.
    let erased = srv
        .authorize_ok(&agent, read_issue(&gate, "fs/read_file"))
        .await["execution"]
        .as_str()
        .unwrap()
        .to_owned();
    let (st, b) = srv
        .call(
            "POST",
            "/v1/admin/evidence/erase",
            Some(&srv.admin),
            Some(json!({"execution": erased, "reason": "browser test"})),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    // The candidate: the default bundle plus a policy that forbids one tool, signed.
    let mut files = bundle_files(Some(
        "@id(\"withdraw-get-issue\")\n@reason(\"github/get_issue is withdrawn\")\nforbid (principal, action == Action::\"call_tool\", resource == Tool::\"github/get_issue\");\n",
    ));
    sign_files(&srv.bundle_key, &mut files);
    let candidate = tempfile::tempdir().unwrap();
    let mut candidate_files = Vec::new();
    for (name, text) in &files {
        let p = candidate.path().join(name);
        std::fs::write(&p, text.as_str().unwrap()).unwrap();
        candidate_files.push(p.display().to_string());
    }

    let config = json!({
        "base": srv.base, "chromium": chromium, "modules": modules, "screenshots": shots.display().to_string(),
        "tokens": {"auditor": auditor, "operator": operator, "agent": agent},
        "candidate": candidate_files, "erased": erased, "gate": gate.id,
    });
    let (mut child, mut stdin, mut lines) =
        crate::harness::spawn_node(&root, "browser.mjs", &modules, &config).await;

    let mut frozen: Option<Immutable> = None;
    // The gate's own event-feed subscription, while the health page watches it.
    let mut gate_feed: Option<reqwest::Response> = None;
    let mut result = Value::Null;
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(req) = line.strip_prefix("@@ ") {
            let req: Value = serde_json::from_str(req).unwrap();
            let answer = match req["do"].as_str().unwrap() {
                // The quarantined agent's next authorize: denied and recorded.
                "authorize-victim" => {
                    let (st, b) = srv
                        .authorize(&victim, read_issue(&gate, "github/get_issue"))
                        .await;
                    assert_eq!(st, 403, "a quarantined agent was not denied: {b}");
                    assert_eq!(b["decision"], "deny", "{b}");
                    assert!(
                        b["ledger_index"].is_u64(),
                        "the denial is not recorded: {b}"
                    );
                    json!({"execution": b["execution"], "status": st})
                }
                // A revoked principal's token stops at once.
                "authorize-revokee" => {
                    let (st, b) = srv
                        .authorize(&revokee, read_issue(&gate, "github/get_issue"))
                        .await;
                    assert_eq!(st, 401, "a revoked token still works: {b}");
                    json!({"status": st})
                }
                "status" => {
                    let (_, b) = srv.call("GET", "/v1/status", Some(&srv.admin), None).await;
                    b
                }
                "authorize-agent" => {
                    let (st, b) = srv
                        .authorize(&agent, read_issue(&gate, "github/get_issue"))
                        .await;
                    json!({"status": st, "body": b})
                }
                // The ledger made unwritable, as failclosed.rs does it; one authorize meets it.
                "freeze-ledger" => {
                    frozen = Immutable::set_or_skip(
                        ledger_files(&srv.state.config.data_dir),
                        "the ledger",
                    );
                    if frozen.is_some() {
                        let (st, b) = srv
                            .authorize(&agent, read_issue(&gate, "github/list_issues"))
                            .await;
                        assert_eq!((st, b["code"].clone()), (503, json!("ledger_unavailable")));
                        json!({"frozen": true})
                    } else {
                        json!({"frozen": false})
                    }
                }
                "thaw-ledger" => {
                    if let Some(mut f) = frozen.take() {
                        f.release();
                    }
                    let (st, b) = srv
                        .authorize(&agent, read_issue(&gate, "github/list_issues"))
                        .await;
                    json!({"status": st, "body": b})
                }
                // The gate follows the event feed (its snapshot read), then goes away.
                "gate-feed-open" => {
                    let mut resp = srv
                        .client
                        .get(srv.url("/v1/events"))
                        .bearer_auth(&gate.token)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status().as_u16(), 200);
                    let first = resp.chunk().await.unwrap().unwrap_or_default();
                    gate_feed = Some(resp);
                    json!({"snapshot": String::from_utf8_lossy(&first).contains("snapshot")})
                }
                "gate-feed-close" => {
                    json!({"closed": gate_feed.take().is_some()})
                }
                other => panic!("unknown request from the browser script: {other}"),
            };
            stdin
                .write_all(format!("{answer}\n").as_bytes())
                .await
                .unwrap();
        } else if let Some(r) = line.strip_prefix("RESULT ") {
            result = serde_json::from_str(r).unwrap();
        } else {
            println!("{line}");
        }
    }
    let status = child.wait().await.unwrap();
    drop(frozen);
    assert!(status.success(), "the browser script failed: {result}");
    println!("budgets: {result}");
    // What the console did is in force and in the ledger, under the person's identity.
    let (_, st) = srv.call("GET", "/v1/status", Some(&srv.admin), None).await;
    assert!(
        st["quarantines"]["principals"]
            .to_string()
            .contains("agent:victim"),
        "{st}"
    );
    assert!(
        st["revocations"]["principals"]
            .to_string()
            .contains("agent:revokee"),
        "{st}"
    );
    assert_eq!(st["kill_switch"], false, "{st}");
    assert_eq!(st["bundle"]["activated_by"], "human:olga", "{st}");
    let (code, _) = srv
        .authorize(&agent, read_issue(&gate, "github/get_issue"))
        .await;
    assert_eq!(
        code, 403,
        "the activated candidate does not forbid the tool"
    );
    srv.stop().await;
}
