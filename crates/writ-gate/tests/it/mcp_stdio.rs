//! Acceptance 1 over stdio: the official Python `mcp` client, through the gateway's stdio
//! transport, to the real `@modelcontextprotocol/server-filesystem` from npm, governed by a real
//! control plane: filtered listing, allowed calls, a denied call with its reason, an
//! argument-level rule (writes only under one directory), receipts and proofs in the ledger.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use writ_gate::mcp::enforce::EXECUTION_META;
use writ_gate::mcp::{DENIED_CODE, PinSet, discover, stdio};

use crate::mcp_harness::{Plane, Tools, tools};

/// Reads anywhere under the served root; writes only under ROOT/allowed/.
pub fn fs_policies(root: &Path) -> String {
    format!(
        r#"
@id("fs-read")
@reason("agents may read files and list directories")
permit (principal is Agent, action == Action::"call_tool", resource)
when {{ [Tool::"fs/read_text_file", Tool::"fs/list_directory", Tool::"fs/list_allowed_directories"].contains(resource) }};

@id("fs-write-allowed-dir")
@reason("agents may write files only under the allowed directory")
permit (principal is Agent, action == Action::"call_tool", resource == Tool::"fs/write_file")
when {{ context.args has path && context.args.path like "{root}/allowed/*" && !(context.args.path like "*..*") }};
"#,
        root = root.display()
    )
}

/// Serves the stdio gateway on a loopback socket; tests/interop/stdio_relay.py connects the
/// Python client's stdio to it. Returns the port.
pub async fn stdio_gateway(
    enforcer: std::sync::Arc<writ_gate::mcp::Enforcer>,
    token: String,
    upstream: Vec<String>,
) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let (r, w) = sock.into_split();
        stdio::run_stdio(enforcer, Some(token), &upstream, r, w)
            .await
            .unwrap();
    });
    port
}

fn call(out: &Value, i: usize) -> &Value {
    &out["calls"][i]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_through_stdio_gateway_to_filesystem_server() {
    let Some(t) = tools() else { return };
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    std::fs::create_dir(root.join("allowed")).unwrap();
    std::fs::write(root.join("hello.txt"), "hello from the governed filesystem").unwrap();

    let plane = Plane::start(&fs_policies(&root)).await;
    let token = plane.add_principal("agent:mcp-agent").await;
    let upstream = t.filesystem(&root);
    let pins = PinSet::from_tools("fs", &discover::list_tools_stdio(&upstream).await.unwrap());
    assert!(pins.tools.contains_key("write_file"), "{pins:?}");
    let enforcer = plane.enforcer("fs", pins, Duration::from_secs(5)).await;
    let port = stdio_gateway(enforcer, token, upstream).await;

    let allowed = root.join("allowed/report.txt");
    let outside = root.join("outside.txt");
    let plan = json!({"calls": [
        {"name": "read_text_file", "arguments": {"path": root.join("hello.txt")}},
        {"name": "write_file", "arguments": {"path": allowed, "content": "governed write"}},
        {"name": "write_file", "arguments": {"path": outside, "content": "must not land"}},
        {"name": "move_file", "arguments": {"source": root.join("hello.txt"), "destination": outside}},
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

    // Listing: only the tools the policy could allow (write_file is conditional, so visible).
    assert_eq!(
        out["tools"],
        json!([
            "list_allowed_directories",
            "list_directory",
            "read_text_file",
            "write_file"
        ]),
        "{out}"
    );
    // Allowed read: the upstream's answer reaches the client.
    assert_eq!(call(&out, 0)["ok"], true, "{out}");
    assert!(
        call(&out, 0)["result"]
            .to_string()
            .contains("hello from the governed filesystem")
    );
    // Argument-level rule: the write under allowed/ ran, the one outside was denied with reason.
    assert_eq!(call(&out, 1)["ok"], true, "{out}");
    assert_eq!(std::fs::read_to_string(&allowed).unwrap(), "governed write");
    let denied = &call(&out, 2)["error"];
    assert_eq!(denied["code"], DENIED_CODE, "{out}");
    assert!(
        denied["data"]["reason_code"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    assert!(
        denied["message"]
            .as_str()
            .unwrap()
            .contains("denied by Writ")
    );
    assert!(!outside.exists(), "a denied write reached the filesystem");
    // A tool no policy allows is denied too, and nothing moved.
    assert_eq!(call(&out, 3)["error"]["code"], DENIED_CODE, "{out}");
    assert!(root.join("hello.txt").exists());

    // Receipts: one per forwarded call, signed by the gate, with the result digest; each
    // execution has a proof bundle holding its decision and its receipt.
    let receipts = plane.receipts(2).await;
    assert_eq!(receipts.len(), 2, "{receipts:?}");
    for r in &receipts {
        assert_eq!(r["outcome"], "success", "{r}");
        assert_eq!(r["result_sha256"].as_str().map(str::len), Some(64), "{r}");
        let proof = plane.proof(r["execution"].as_str().unwrap()).await;
        assert_eq!(proof["format"], "writ.proof/v1");
        assert!(
            proof["writ"]
                .as_str()
                .is_some_and(|w| w.split('.').count() == 3)
        );
        assert!(proof["entries"].as_array().unwrap().len() >= 2, "{proof}");
    }
    // Issue 14: an allowed result names its execution and the ledger index of its decision
    // under `_meta["dev.writ/execution"]` (as a denial carries `dev.writ/denial`); it did not.
    let mut marked = Vec::new();
    for i in [0, 1] {
        let meta = &call(&out, i)["result"]["_meta"][EXECUTION_META];
        let execution = meta["execution"]
            .as_str()
            .unwrap_or_else(|| panic!("{out}"));
        let proof = plane.proof(execution).await;
        let decision = &proof["entries"][0];
        assert_eq!(meta["ledger_index"], decision["index"], "{out}\n{proof}");
        marked.push(execution.to_owned());
    }
    let mut receipted: Vec<String> = receipts
        .iter()
        .map(|r| r["execution"].as_str().unwrap().to_owned())
        .collect();
    receipted.sort();
    marked.sort();
    assert_eq!(marked, receipted);
    // The denial is on record too, under the execution the error named.
    let denied_exec = denied["data"]["execution"].as_str().unwrap();
    let proof = plane.proof(denied_exec).await;
    assert!(!proof["entries"].as_array().unwrap().is_empty());
    plane.stop().await;
}
