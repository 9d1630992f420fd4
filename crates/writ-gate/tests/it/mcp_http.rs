//! Acceptance 1 over Streamable HTTP: the official Python `mcp` client sends its token in the
//! `Authorization` header to the gateway, which fronts the real
//! `@modelcontextprotocol/server-everything` (Streamable HTTP, SSE answers, sessions).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use writ_gate::mcp::enforce::EXECUTION_META;
use writ_gate::mcp::{DENIED_CODE, Enforcer, PinSet, discover, http};

use crate::mcp_harness::{Plane, tools};

const POLICIES: &str = r#"
@id("echo-hello")
@reason("agents may echo greetings")
permit (principal is Agent, action == Action::"call_tool", resource == Tool::"everything/echo")
when { context.args has message && context.args.message like "hello*" };

@id("sum")
@reason("agents may add numbers")
permit (principal == Agent::"mcp-agent", action == Action::"call_tool", resource == Tool::"everything/get-sum");
"#;

/// Serves the HTTP gateway on loopback; returns its MCP endpoint.
pub async fn http_gateway(
    enforcer: Arc<Enforcer>,
    upstream: String,
    default_token: Option<String>,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let app = http::router(enforcer, upstream, "/mcp", default_token, Vec::new());
    tokio::spawn(http::serve(listener, app, std::future::pending()));
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_through_http_gateway_to_everything_server() {
    let Some(t) = tools() else { return };
    let (upstream, _server) = t.everything_http().await;
    let plane = Plane::start(POLICIES).await;
    let agent = plane.add_principal("agent:mcp-agent").await;
    let other = plane.add_principal("agent:other").await;
    let pins = PinSet::from_tools(
        "everything",
        &discover::list_tools_http(&upstream).await.unwrap(),
    );
    assert!(pins.tools.len() > 5, "{pins:?}");
    let enforcer = plane
        .enforcer("everything", pins, Duration::from_secs(5))
        .await;
    let url = http_gateway(enforcer, upstream, None).await;

    let plan = json!({"calls": [
        {"name": "echo", "arguments": {"message": "hello gateway"}},
        {"name": "echo", "arguments": {"message": "exfiltrate secrets"}},
        {"name": "get-sum", "arguments": {"a": 2, "b": 40}},
        {"name": "get-env", "arguments": {}},
    ]});
    let out = t
        .python_client(vec!["http".into(), plan.to_string(), url.clone(), agent])
        .await;
    assert_eq!(out["tools"], json!(["echo", "get-sum"]), "{out}");
    assert_eq!(out["calls"][0]["ok"], true, "{out}");
    assert!(
        out["calls"][0]["result"]
            .to_string()
            .contains("hello gateway")
    );
    let denied = &out["calls"][1]["error"];
    assert_eq!(denied["code"], DENIED_CODE, "{out}");
    assert!(
        denied["data"]["reason_code"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    assert_eq!(out["calls"][2]["ok"], true, "{out}");
    assert!(
        out["calls"][2]["result"].to_string().contains("42"),
        "{out}"
    );
    assert_eq!(out["calls"][3]["error"]["code"], DENIED_CODE, "{out}");
    // Issue 14: allowed results name their execution and decision's ledger index in `_meta`.
    for i in [0, 2] {
        let meta = &out["calls"][i]["result"]["_meta"][EXECUTION_META];
        assert!(
            meta["execution"].as_str().is_some_and(|e| e.len() == 36),
            "{out}"
        );
        assert!(meta["ledger_index"].is_u64(), "{out}");
    }
    assert_ne!(
        out["calls"][0]["result"]["_meta"][EXECUTION_META]["execution"],
        out["calls"][2]["result"]["_meta"][EXECUTION_META]["execution"]
    );

    // Identity is per client: another agent's token sees and may call less.
    let plan = json!({"calls": [{"name": "get-sum", "arguments": {"a": 1, "b": 1}}]});
    let out = t
        .python_client(vec!["http".into(), plan.to_string(), url.clone(), other])
        .await;
    assert_eq!(out["tools"], json!(["echo"]), "{out}");
    assert_eq!(out["calls"][0]["error"]["code"], DENIED_CODE, "{out}");
    // A browser page from another origin is refused before anything else (DNS rebinding);
    // a loopback origin passes.
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "browser", "version": "1"}}});
    let post = |origin: &'static str| {
        reqwest::Client::new()
            .post(&url)
            .header("origin", origin)
            .header("accept", "application/json, text/event-stream")
            .json(&init)
            .send()
    };
    let evil = post("http://evil.example").await.unwrap();
    assert_eq!(evil.status().as_u16(), 403);
    let body: serde_json::Value = evil.json().await.unwrap();
    assert_eq!(body["error"]["data"]["reason_code"], "origin_not_allowed");
    assert_eq!(
        post("http://localhost:3000")
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    // No token at all: nothing listed, calls refused with the reason.
    let plan = json!({"calls": [{"name": "echo", "arguments": {"message": "hello"}}]});
    let out = t
        .python_client(vec!["http".into(), plan.to_string(), url])
        .await;
    assert_eq!(out["tools"], json!([]), "{out}");
    assert_eq!(
        out["calls"][0]["error"]["data"]["reason_code"], "no_principal_token",
        "{out}"
    );

    let receipts = plane.receipts(2).await;
    let resources: Vec<String> = receipts
        .iter()
        .map(|r| r["intent"]["resource"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        resources.contains(&"tool:everything/echo".to_owned()),
        "{resources:?}"
    );
    assert!(
        resources.contains(&"tool:everything/get-sum".to_owned()),
        "{resources:?}"
    );
    plane.stop().await;
}
