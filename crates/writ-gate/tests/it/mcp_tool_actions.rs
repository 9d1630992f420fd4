//! Issue 15: through a real gateway (the official Python client, the stdio transport, the npm
//! server-filesystem, a real control plane), a pinned tool's call is decided under the tool's
//! own action from a schema generated from the pins, while a `call_tool` forbid still applies.

use std::time::Duration;

use serde_json::json;
use writ_authorize::tool_schema::tool_actions_fragment;
use writ_gate::mcp::{DENIED_CODE, PinSet, discover};

use crate::mcp_harness::{Plane, Tools, tools};
use crate::mcp_stdio::stdio_gateway;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_tool_is_decided_under_its_own_action_and_call_tool_forbids_apply() {
    let Some(t) = tools() else { return };
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    std::fs::write(root.join("hello.txt"), "typed hello").unwrap();
    std::fs::write(root.join("secret.txt"), "never read").unwrap();

    let upstream = t.filesystem(&root);
    let pins = PinSet::from_tools("fs", &discover::list_tools_stdio(&upstream).await.unwrap());
    let fragment = tool_actions_fragment(
        &pins.server,
        pins.tools.iter().map(|(n, p)| (n.as_str(), &p.definition)),
    );
    let policies = format!(
        r#"
@id("read-under-root")
@reason("agents may read files under the served root")
permit (principal is Agent, action == Action::"call_tool:fs/read_text_file", resource)
when {{ context.args.path like "{root}/*" }};

@id("no-secrets")
@reason("no tool touches a secret")
forbid (principal, action in Action::"call_tool", resource)
when {{ context.args has path && context.args.path like "*secret*" }};
"#,
        root = root.display()
    );
    let plane = Plane::start_with(&policies, &[("fs-tools.cedarschema", &fragment)]).await;
    let token = plane.add_principal("agent:mcp-agent").await;
    let enforcer = plane.enforcer("fs", pins, Duration::from_secs(5)).await;
    let port = stdio_gateway(enforcer, token, upstream).await;

    let plan = json!({"calls": [
        {"name": "read_text_file", "arguments": {"path": root.join("hello.txt")}},
        {"name": "read_text_file", "arguments": {"path": root.join("secret.txt")}},
    ]});
    let relay = Tools::interop("stdio_relay.py");
    let out = t
        .python_client(vec![
            "stdio".into(),
            plan.to_string(),
            "--".into(),
            t.python.display().to_string(),
            relay.display().to_string(),
            port.to_string(),
        ])
        .await;
    // The listing is decided under the per-tool actions too: only the tool a policy could
    // allow is shown.
    assert_eq!(out["tools"], json!(["read_text_file"]), "{out}");
    assert_eq!(out["calls"][0]["ok"], true, "{out}");
    assert!(
        out["calls"][0]["result"]
            .to_string()
            .contains("typed hello")
    );
    assert_eq!(out["calls"][1]["error"]["code"], DENIED_CODE, "{out}");

    // The decision entries name the tool's own action; the allow came from the typed policy,
    // the deny from the call_tool forbid, through the action hierarchy.
    let receipts = plane.receipts(1).await;
    let decisions: Vec<_> = plane
        .ledger_entries()
        .into_iter()
        .filter(|e| e["type"] == "decision" && e["request"]["principal"] == "agent:mcp-agent")
        .collect();
    assert_eq!(decisions.len(), 2, "{decisions:?}");
    for d in &decisions {
        assert_eq!(d["cedar_action"], "call_tool:fs/read_text_file", "{d}");
        assert_eq!(d["request"]["intent"]["action"], "mcp.call_tool", "{d}");
    }
    assert_eq!(decisions[0]["decision"], "allow");
    assert_eq!(decisions[0]["determining"], json!(["read-under-root"]));
    assert_eq!(decisions[1]["decision"], "deny");
    assert_eq!(decisions[1]["determining"], json!(["no-secrets"]));
    assert_eq!(decisions[1]["reason_code"], "policy_forbid");
    // The receipt closes the allowed execution.
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    assert_eq!(receipts[0]["outcome"], "success");
    plane.stop().await;
}
