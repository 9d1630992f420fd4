//! `--metrics-listen ADDR` of the gates (`writ gateway mcp`, `writ exec`): the gate's own
//! Prometheus page at `http://ADDR/metrics`, served for as long as the gate runs.

use std::sync::Arc;

use anyhow::Context;
use writ_gate::Gate;

/// Binds `addr` and serves the gate's metrics in the background; returns the page's URL, also
/// logged at info (`metrics_url`), so `127.0.0.1:0` can be used and the port read back.
pub async fn start(addr: Option<&str>, gate: &Arc<Gate>) -> anyhow::Result<Option<String>> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("--metrics-listen: cannot listen on {addr}"))?;
    let url = format!("http://{}/metrics", listener.local_addr()?);
    tracing::info!(metrics_url = %url, "gate metrics served");
    let gate = gate.clone();
    tokio::spawn(async move {
        let render = move || gate.render_metrics();
        if let Err(e) = writ_gate::metrics::serve(listener, render, std::future::pending()).await {
            tracing::error!(error = %e, "the gate's metrics listener failed; /metrics is gone");
        }
    });
    Ok(Some(url))
}
