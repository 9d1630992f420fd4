//! Listing an upstream server's tools directly (for the operator's pin step): initialize,
//! `notifications/initialized`, then every page of `tools/list`.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::error::McpError;

const TIMEOUT: Duration = Duration::from_secs(60);

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "writ-gateway-pin", "version": env!("CARGO_PKG_VERSION")}}})
}

fn list(id: u64, cursor: Option<&Value>) -> Value {
    let params = match cursor {
        Some(c) => json!({"cursor": c}),
        None => json!({}),
    };
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": params})
}

fn page(answer: &Value) -> Result<(Vec<Value>, Option<Value>), McpError> {
    if let Some(e) = answer.get("error") {
        return Err(McpError::Upstream(format!("tools/list failed: {e}")));
    }
    let result = answer
        .get("result")
        .ok_or_else(|| McpError::Upstream("tools/list answered without a result".into()))?;
    let tools = result
        .get("tools")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Ok((
        tools,
        result.get("nextCursor").filter(|c| !c.is_null()).cloned(),
    ))
}

/// Spawns `command` (allowlisted environment only) and lists its tools over stdio.
pub async fn list_tools_stdio(command: &[String]) -> Result<Vec<Value>, McpError> {
    list_tools_stdio_with(command, &crate::exec::ChildEnv::default()).await
}

/// [`list_tools_stdio`] with the variables `env` lets through (`--pass-env`).
pub async fn list_tools_stdio_with(
    command: &[String],
    env: &crate::exec::ChildEnv,
) -> Result<Vec<Value>, McpError> {
    let (mut child, mut stdin, stdout) = super::stdio::spawn_upstream(command, env)?;
    let mut lines = BufReader::new(stdout).lines();
    let work = async {
        let mut send = async |v: Value| -> Result<(), McpError> {
            stdin.write_all(format!("{v}\n").as_bytes()).await?;
            stdin.flush().await?;
            Ok(())
        };
        let mut await_id = async |id: u64| -> Result<Value, McpError> {
            loop {
                let line = lines.next_line().await?.ok_or_else(|| {
                    McpError::Upstream("the server closed its output before answering".into())
                })?;
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v.get("id") == Some(&json!(id))
                    && v.get("method").is_none()
                {
                    return Ok(v);
                }
            }
        };
        send(initialize()).await?;
        await_id(0).await?;
        send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await?;
        let mut tools = Vec::new();
        let mut cursor: Option<Value> = None;
        for id in 1..=1000u64 {
            send(list(id, cursor.as_ref())).await?;
            let (mut page_tools, next) = page(&await_id(id).await?)?;
            tools.append(&mut page_tools);
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok::<_, McpError>(tools)
    };
    let tools = tokio::time::timeout(TIMEOUT, work).await.map_err(|_| {
        McpError::Upstream("the server did not list its tools within 60 s".into())
    })??;
    let _ = child.start_kill();
    Ok(tools)
}

/// Lists the tools of a Streamable HTTP server at `url`.
pub async fn list_tools_http(url: &str) -> Result<Vec<Value>, McpError> {
    let http = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .unwrap_or_default();
    let post = async |body: Value,
                      session: Option<&str>|
           -> Result<(Option<String>, Vec<Value>), McpError> {
        let mut req = http
            .post(url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2025-06-18")
            .body(body.to_string());
        if let Some(s) = session {
            req = req.header("mcp-session-id", s);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| McpError::Upstream(format!("{url}: {e}")))?;
        let session = resp
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| McpError::Upstream(format!("{url}: {e}")))?;
        Ok((session, super::http::messages(&bytes)))
    };
    let find = |msgs: Vec<Value>, id: u64| {
        msgs.into_iter()
            .find(|m| m.get("id") == Some(&json!(id)))
            .ok_or_else(|| McpError::Upstream(format!("{url} did not answer request {id}")))
    };
    let (session, msgs) = post(initialize(), None).await?;
    find(msgs, 0)?;
    let s = session.as_deref();
    post(
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        s,
    )
    .await?;
    let mut tools = Vec::new();
    let mut cursor: Option<Value> = None;
    for id in 1..=1000u64 {
        let (_, msgs) = post(list(id, cursor.as_ref()), s).await?;
        let (mut page_tools, next) = page(&find(msgs, id)?)?;
        tools.append(&mut page_tools);
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(tools)
}
