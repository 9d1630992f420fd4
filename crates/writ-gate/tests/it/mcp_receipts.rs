//! Issue 19: a call's receipt is signed and posted after its answer went to the client, off the
//! client's path; a session over stdio still ends only once every receipt it started is in the
//! ledger, so a client that leaves right after its last answer loses none. The receipts go
//! through a stand-in that holds each one a while before passing it on, so they are still on
//! their way when the client leaves.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use writ_gate::mcp::{PinSet, discover, stdio};

use crate::mcp_harness::{GATE_ID, Plane, tools};

const ECHO: &str = r#"
@id("echo")
@reason("agents may echo")
permit (principal is Agent, action == Action::"call_tool", resource == Tool::"everything/echo");
"#;

const DEADLINE: Duration = Duration::from_secs(60);
const CALLS: usize = 8;

/// A relay to the control plane at `target` that holds every `POST /v1/receipts` for `hold`
/// before passing it on (everything else passes at once); returns its base URL.
async fn slow_receipts(target: String, hold: Duration) -> String {
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use axum::response::{IntoResponse, Response};
    let http = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |req: Request<Body>| {
        let http = http.clone();
        let target = target.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = to_bytes(body, 1 << 24).await.unwrap();
            if parts.uri.path() == "/v1/receipts" {
                tokio::time::sleep(hold).await;
            }
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let mut out = http.request(parts.method.clone(), format!("{target}{path}"));
            for (k, v) in &parts.headers {
                if k != "host" && k != "content-length" {
                    out = out.header(k, v);
                }
            }
            let resp = out.body(body).send().await.unwrap();
            let status = resp.status();
            let ctype = resp.headers().get("content-type").cloned();
            let bytes = resp.bytes().await.unwrap();
            let mut r: Response = (status, bytes).into_response();
            if let Some(c) = ctype {
                r.headers_mut().insert("content-type", c);
            }
            r
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_receipt_is_recorded_when_the_client_leaves_at_once() {
    let Some(t) = tools() else { return };
    let (url, _http_server) = t.everything_http().await;
    let plane = Plane::start(ECHO).await;
    let token = plane.add_principal("agent:leaves").await;
    let pins = PinSet::from_tools(
        "everything",
        &discover::list_tools_http(&url).await.unwrap(),
    );
    let relay = slow_receipts(plane.base.clone(), Duration::from_secs(2)).await;
    let enforcer = plane
        .enforcer_at(&relay, "everything", pins, Duration::from_secs(10))
        .await;
    let upstream = vec![
        t.node.display().to_string(),
        t.modules
            .join("@modelcontextprotocol/server-everything/dist/index.js")
            .display()
            .to_string(),
        "stdio".into(),
    ];
    let (client, gateway) = tokio::io::duplex(1 << 20);
    let (gr, gw) = tokio::io::split(gateway);
    let session =
        tokio::spawn(
            async move { stdio::run_stdio(enforcer, Some(token), &upstream, gr, gw).await },
        );
    let (r, mut w) = tokio::io::split(client);
    let mut from = BufReader::new(r).lines();
    let mut text = format!(
        "{}\n{}\n",
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "leaves", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    for i in 1..=CALLS {
        text.push_str(&format!(
            "{}\n",
            json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                   "params": {"name": "echo", "arguments": {"message": format!("m{i}")}}})
        ));
    }
    w.write_all(text.as_bytes()).await.unwrap();
    let mut executions = Vec::new();
    while executions.len() < CALLS {
        let line = tokio::time::timeout(DEADLINE, from.next_line())
            .await
            .expect("no answer from the gateway")
            .unwrap()
            .expect("the gateway closed its output");
        let v: Value = serde_json::from_str(&line).unwrap();
        if v["id"] == 0 || v.get("method").is_some() {
            continue;
        }
        assert!(
            v.pointer("/result/content/0/text")
                .and_then(Value::as_str)
                .is_some_and(|s| s.contains('m')),
            "not an echo: {v}"
        );
        let execution = v
            .pointer("/result/_meta")
            .and_then(|m| m.as_object())
            .and_then(|m| m.values().find_map(|x| x.get("execution")))
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no execution in {v}"))
            .to_owned();
        executions.push(execution);
    }
    // The client leaves the moment it has its answers.
    drop(w);
    drop(from);
    tokio::time::timeout(DEADLINE, session)
        .await
        .expect("the gateway did not end")
        .unwrap()
        .unwrap();
    // The session has ended: every receipt is in the ledger now, without waiting.
    let receipts: Vec<Value> = plane
        .ledger_entries()
        .into_iter()
        .filter(|e| e["type"] == "receipt")
        .map(|e| e["receipt"]["body"].clone())
        .filter(|b| b["gate"] == GATE_ID)
        .collect();
    for execution in &executions {
        assert!(
            receipts
                .iter()
                .any(|b| b.to_string().contains(execution.as_str())),
            "no receipt for execution {execution} when the session ended; receipts: {receipts:?}"
        );
    }
    assert_eq!(receipts.len(), CALLS, "{receipts:?}");
    plane.stop().await;
}
