//! What `writ bench authorize --self-hosted` and `writ bench mcp` share: a control plane
//! started in this process and provisioned for the bench, and the figures' arithmetic.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use writ_model::SystemClock;

use crate::operator_cmd::at;

/// A control plane started in this process on 127.0.0.1, over its own data directory.
pub struct LocalPlane {
    pub base: String,
    pub admin: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// A started plane and what it was provisioned with: an agent and `gate:bench`, both in zone
/// `dev`.
pub struct Provisioned {
    pub plane: LocalPlane,
    pub agent_token: String,
    pub gate_key: ed25519_dalek::SigningKey,
    pub gate_token: String,
}

impl LocalPlane {
    /// Initialises `data_dir` under a fresh bundle key, serves it on 127.0.0.1, activates the
    /// bundle `bundle` signs with that key, and provisions the agent `agent` and `gate:bench`
    /// (with a fresh key) in zone `dev`.
    pub async fn start(
        data_dir: PathBuf,
        bundle: impl FnOnce(&writ_authorize::BundleSigningKey) -> anyhow::Result<Map<String, Value>>,
        agent: &str,
    ) -> anyhow::Result<Provisioned> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
        let bundle_key = writ_authorize::BundleSigningKey::from_seed(seed);
        let config = writ_server::ServerConfig {
            data_dir,
            ..writ_server::ServerConfig::default()
        };
        let report = writ_server::init_data_dir(&config, &[bundle_key.verifying_key().to_hex()])
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let state = writ_server::AppState::open(config, Arc::new(SystemClock))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(writ_server::run(listener, state, async move {
            let _ = rx.await;
        }));
        let plane = LocalPlane {
            base,
            admin: report.admin_token,
            stop,
            task,
        };
        let (agent_token, gate_key, gate_token) =
            provision(&plane.base, &plane.admin, bundle(&bundle_key)?, agent).await?;
        Ok(Provisioned {
            agent_token,
            gate_token,
            gate_key,
            plane,
        })
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Provisions the control plane at `base` over its API with the admin token `admin`:
/// activates the signed bundle `files`, adds the agent `agent` and `gate:bench` (with a fresh
/// key) in zone `dev`. Returns the agent's token, the gate's key and the gate's token.
pub async fn provision(
    base: &str,
    admin: &str,
    files: Map<String, Value>,
    agent: &str,
) -> anyhow::Result<(String, ed25519_dalek::SigningKey, String)> {
    let mut seed = [0u8; 32];
    {
        let client = reqwest::Client::new();
        let post = |path: &str, body: Value| {
            let req = client
                .post(format!("{base}{path}"))
                .bearer_auth(admin)
                .json(&body);
            async move {
                let resp = req.send().await?;
                let status = resp.status();
                let v: Value = resp.json().await?;
                anyhow::ensure!(status.is_success(), "provisioning failed: {status} {v}");
                Ok::<Value, anyhow::Error>(v)
            }
        };
        post("/v1/admin/bundles/activate", json!({"files": files})).await?;
        let principal = post("/v1/admin/principals", json!({"id": agent, "zone": "dev"})).await?;
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
        let gate_key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let gate = post(
            "/v1/admin/gates",
            json!({"id": "gate:bench", "zone": "dev", "public_key": hex::encode(gate_key.verifying_key().to_bytes())}),
        )
        .await?;
        let token = |v: &Value| at(v, "token").as_str().unwrap_or_default().to_owned();
        Ok((token(&principal), gate_key, token(&gate)))
    }
}

/// `a / b`, or 0 when `b` is not positive.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// The nearest-rank `p` percentile (0 < p ≤ 1) of ascending `sorted`; `None` when empty.
pub fn nearest_rank<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied()
}

/// Waits up to `limit` for `child` to exit on its own (after it was asked to), then kills it;
/// reaps it either way.
pub fn reap_within(child: &mut std::process::Child, limit: std::time::Duration) {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}
