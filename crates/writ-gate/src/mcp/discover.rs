//! Listing an upstream server's definitions directly (for the operator's pin step): initialize,
//! `notifications/initialized`, then every page (following `nextCursor`, at most [`MAX_PAGES`])
//! of `tools/list`, `prompts/list`, `resources/list` and `resources/templates/list`, each of the
//! kinds the server declares in its capabilities (`tools`, `prompts`, `resources`).

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::error::McpError;
use super::pins::{Listing, PinKind};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Most pages read of one list; a server paging past it is an error, never a partial pin.
pub const MAX_PAGES: u64 = 1000;

/// The kinds a server declares in its `initialize` answer's capabilities.
fn declared(init: &Value) -> Vec<PinKind> {
    let caps = init.pointer("/result/capabilities");
    let has = |c: &str| caps.and_then(|x| x.get(c)).is_some_and(|v| !v.is_null());
    PinKind::ALL
        .into_iter()
        .filter(|k| match k {
            PinKind::Tool => has("tools"),
            PinKind::Prompt => has("prompts"),
            PinKind::Resource | PinKind::ResourceTemplate => has("resources"),
        })
        .collect()
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "writ-gateway-pin", "version": env!("CARGO_PKG_VERSION")}}})
}

fn list(kind: PinKind, id: u64, cursor: Option<&Value>) -> Value {
    let params = match cursor {
        Some(c) => json!({"cursor": c}),
        None => json!({}),
    };
    json!({"jsonrpc": "2.0", "id": id, "method": kind.list().0, "params": params})
}

/// One page of a list answer: its items and the cursor of the next page.
pub fn page(kind: PinKind, answer: &Value) -> Result<(Vec<Value>, Option<Value>), McpError> {
    let (method, key, _) = kind.list();
    if let Some(e) = answer.get("error") {
        return Err(McpError::Upstream(format!("{method} failed: {e}")));
    }
    let result = answer
        .get("result")
        .ok_or_else(|| McpError::Upstream(format!("{method} answered without a result")))?;
    let tools = result
        .get(key)
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
    Ok(list_all_stdio(command, &crate::exec::ChildEnv::default())
        .await?
        .tools)
}

/// [`list_tools_stdio`] with the variables `env` lets through (`--pass-env`).
pub async fn list_tools_stdio_with(
    command: &[String],
    env: &crate::exec::ChildEnv,
) -> Result<Vec<Value>, McpError> {
    Ok(list_all_stdio(command, env).await?.tools)
}

/// Spawns `command` (with the variables `env` lets through) and lists every definition it
/// declares over stdio.
pub async fn list_all_stdio(
    command: &[String],
    env: &crate::exec::ChildEnv,
) -> Result<Listing, McpError> {
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
        let init = await_id(0).await?;
        send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await?;
        let mut listing = Listing::default();
        let mut id = 0u64;
        for kind in declared(&init) {
            let mut cursor: Option<Value> = None;
            let mut pages = 0;
            loop {
                pages += 1;
                if pages > MAX_PAGES {
                    return Err(too_many_pages(kind));
                }
                id += 1;
                send(list(kind, id, cursor.as_ref())).await?;
                let (mut items, next) = page(kind, &await_id(id).await?)?;
                listing.of_mut(kind).append(&mut items);
                match next {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
        Ok::<_, McpError>(listing)
    };
    let listing = tokio::time::timeout(TIMEOUT, work).await.map_err(|_| {
        McpError::Upstream("the server did not list its definitions within 60 s".into())
    })??;
    let _ = child.start_kill();
    Ok(listing)
}

fn too_many_pages(kind: PinKind) -> McpError {
    McpError::Upstream(format!(
        "{} went on past {MAX_PAGES} pages; nothing was pinned",
        kind.list().0
    ))
}

/// Lists the tools of a Streamable HTTP server at `url`.
pub async fn list_tools_http(url: &str) -> Result<Vec<Value>, McpError> {
    Ok(list_all_http(url).await?.tools)
}

/// Lists every definition a Streamable HTTP server at `url` declares.
pub async fn list_all_http(url: &str) -> Result<Listing, McpError> {
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
    let init = find(msgs, 0)?;
    let s = session.as_deref();
    post(
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        s,
    )
    .await?;
    let mut listing = Listing::default();
    let mut id = 0u64;
    for kind in declared(&init) {
        let mut cursor: Option<Value> = None;
        let mut pages = 0;
        loop {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(too_many_pages(kind));
            }
            id += 1;
            let (_, msgs) = post(list(kind, id, cursor.as_ref()), s).await?;
            let (mut items, next) = page(kind, &find(msgs, id)?)?;
            listing.of_mut(kind).append(&mut items);
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
    }
    Ok(listing)
}
