//! `writ gateway mcp --embedded-plane DIR`: the control plane in the gateway's own process.
//!
//! The gateway opens the data directory as `writ serve` would (holding its lock, so no other
//! control plane opens it), serves the API on a listener of its own for everything else (the
//! console, the CLI, the gateway's own key and event-feed requests), and sends the two requests
//! on every governed call's path, authorize and receipts, to the same router in this process
//! ([`writ_gate::LocalApi`]): the same handlers, checks, access log and metrics, without a
//! socket, HTTP parsing or a wake-up of another process.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Bytes;
use tower::ServiceExt;
use writ_gate::{LocalAnswer, LocalApi};

/// Largest answer read from the router (its answers are a few KiB).
const MAX_ANSWER_BYTES: usize = 4 << 20;
/// How long stopping lets the API's open connections finish before it closes them: an event
/// stream (a console's, say) never ends by itself. Nothing is lost by closing them: every
/// record the control plane acknowledged is durable already.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A control plane running in this process.
pub struct Embedded {
    /// Where its API listens (`http://ADDR`).
    pub base: String,
    router: axum::Router,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _lock: crate::data_dir::DataDirLock,
}

/// Opens the Writ data directory `dir` and serves its API on `listen`.
pub async fn start(dir: &Path, listen: &str) -> anyhow::Result<Embedded> {
    if !dir.join(writ_server::state::LEDGER_DIR).exists() {
        return Err(crate::cli_output::invalid_input(format!(
            "--embedded-plane {}: not a Writ data directory; create it once with `writ serve --init --data-dir {}`",
            dir.display(),
            dir.display()
        )));
    }
    let mut config = writ_server::ServerConfig::load(None, |k| std::env::var(k).ok())
        .map_err(|e| crate::cli_output::invalid_input(format!("{e}; fix the WRIT_* variable")))?;
    config.data_dir = dir.to_owned();
    config.listen = listen.to_owned();
    // Held while this process runs: one control plane per data directory.
    let lock = crate::data_dir::lock(dir)?;
    let state = writ_server::AppState::open(config, Arc::new(writ_model::SystemClock))
        .map_err(|e| anyhow::anyhow!("--embedded-plane {}: {e}", dir.display()))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("--embedded-listen {listen}: cannot listen"))?;
    let base = format!("http://{}", listener.local_addr()?);
    let router = writ_server::in_process_router(state.clone());
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(writ_server::run(listener, state, async move {
        let _ = rx.await;
    }));
    Ok(Embedded {
        base,
        router,
        stop,
        task,
        _lock: lock,
    })
}

impl Embedded {
    /// The in-process path for the gateway's control-plane client.
    pub fn api(&self) -> Arc<dyn LocalApi> {
        Arc::new(InProcess(self.router.clone()))
    }

    /// Stops serving the API: requests in flight finish, within [`STOP_GRACE`].
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let mut task = self.task;
        if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
            eprintln!(
                "writ gateway: the embedded control plane's API still had open connections after {}s; closing them",
                STOP_GRACE.as_secs()
            );
            task.abort();
        }
    }
}

struct InProcess(axum::Router);

impl LocalApi for InProcess {
    fn call(&self, request: axum::http::Request<Bytes>) -> LocalAnswer {
        let router = self.0.clone();
        Box::pin(async move {
            let Ok(resp) = router.oneshot(request.map(axum::body::Body::from)).await;
            let status = resp.status().as_u16();
            let body = axum::body::to_bytes(resp.into_body(), MAX_ANSWER_BYTES)
                .await
                .map_err(|e| {
                    format!("the embedded control plane's answer could not be read ({e}); restart the gateway")
                })?;
            Ok((status, body))
        })
    }
}
