//! A real control plane for the runner's tests (started in-process on 127.0.0.1:0, provisioned
//! through its admin API, as crates/writ-server/tests/it/harness.rs does) and runner builders.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use writ_authorize::BundleSigningKey;
use writ_gate::exec::{ExecError, ExecRequest, RunReport, Runner, RunnerConfig};
use writ_gate::{ControlPlane, Gate, GateConfig};
use writ_model::SystemClock;
use writ_server::{AppState, ServerConfig, init_data_dir};

pub struct Server {
    pub base: String,
    pub admin: String,
    pub dir: tempfile::TempDir,
    /// The running server's state (its ledger, read directly by tests).
    pub state: Arc<AppState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub struct GateCreds {
    pub id: String,
    pub zone: String,
    pub key: SigningKey,
    pub token: String,
}

fn bundle_files(key: &BundleSigningKey) -> serde_json::Map<String, Value> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy/default");
    let mut files = serde_json::Map::new();
    let mut raw = BTreeMap::new();
    for name in ["writ.cedarschema", "policies.cedar", "entities.json"] {
        let text = std::fs::read_to_string(root.join(name)).unwrap();
        raw.insert(name.to_owned(), text.as_bytes().to_vec());
        files.insert(name.into(), Value::String(text));
    }
    let source = writ_authorize::BundleSource::from_files(raw).unwrap();
    let bundle = writ_authorize::compile(&source).unwrap();
    files.insert(
        "bundle.sig".into(),
        Value::String(key.sign(bundle.digest()).to_json()),
    );
    files
}

impl Server {
    /// A server with the default bundle active (exec allowed for agents in zone `sandbox`).
    pub async fn start() -> Server {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut ServerConfig)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let bundle_key = BundleSigningKey::from_seed([7; 32]);
        let mut config = ServerConfig {
            data_dir: dir.path().join("data"),
            ..ServerConfig::default()
        };
        tweak(&mut config);
        let report = init_data_dir(&config, &[bundle_key.verifying_key().to_hex()]).unwrap();
        let state = AppState::open(config, Arc::new(SystemClock)).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(writ_server::run(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        let srv = Server {
            base,
            admin: report.admin_token,
            dir,
            state,
            shutdown: Some(tx),
            task: Some(task),
        };
        let files = bundle_files(&bundle_key);
        srv.admin(
            "POST",
            "/v1/admin/bundles/activate",
            json!({"files": files}),
        )
        .await;
        srv
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    pub fn cp(&self) -> ControlPlane {
        ControlPlane::with_timeout(self.base.clone(), Duration::from_secs(5))
    }

    pub async fn admin(&self, method: &str, path: &str, body: Value) -> Value {
        self.cp()
            .admin(&self.admin, method, path, Some(&body))
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub async fn add_principal(&self, id: &str, zone: &str) -> String {
        let body = self
            .admin(
                "POST",
                "/v1/admin/principals",
                json!({"id": id, "zone": zone}),
            )
            .await;
        body["token"].as_str().unwrap().to_owned()
    }

    pub async fn add_gate(&self, id: &str, zone: &str) -> GateCreds {
        let mut seed = [0u8; 32];
        getrandom_seed(&mut seed, id);
        let key = SigningKey::from_bytes(&seed);
        let body = self
            .admin(
                "POST",
                "/v1/admin/gates",
                json!({"id": id, "zone": zone, "public_key": hex::encode(key.verifying_key().to_bytes())}),
            )
            .await;
        GateCreds {
            id: id.into(),
            zone: zone.into(),
            key,
            token: body["token"].as_str().unwrap().to_owned(),
        }
    }

    /// A runner for `principal`, registered in zone `sandbox`, through `gate:runner` of the
    /// same zone following the feed with `grace` (None: no feed), with [`config`]'s settings
    /// changed by `tweak`.
    pub async fn sandbox_runner(
        &self,
        principal: &str,
        grace: Option<i64>,
        tweak: impl FnOnce(&mut RunnerConfig),
    ) -> Arc<Runner> {
        let token = self.add_principal(principal, "sandbox").await;
        let creds = self.add_gate("gate:runner", "sandbox").await;
        let mut cfg = config(&token, &creds.token);
        tweak(&mut cfg);
        Arc::new(runner(
            self.cp(),
            gate(&creds, &self.jwks().await, grace),
            cfg,
        ))
    }

    pub async fn jwks(&self) -> writ_artifact::Jwks {
        serde_json::from_value(
            self.cp()
                .get_json("/.well-known/jwks.json", None)
                .await
                .unwrap(),
        )
        .unwrap()
    }

    /// The ledger entries (decoded JSON) recorded about an execution.
    pub async fn entries_of(&self, execution: &str) -> Vec<Value> {
        let proof = self
            .cp()
            .get_json(&format!("/v1/proofs/{execution}"), Some(&self.admin))
            .await
            .unwrap();
        // Each entry with what its disclosure says (v2 entries keep it out of the log).
        writ_ledger::evidence::bundle_entry_views(&proof)
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    }
}

fn getrandom_seed(seed: &mut [u8; 32], id: &str) {
    // Deterministic per id, distinct between ids: enough for test gates.
    let d = writ_model::digest::sha256(id.as_bytes());
    seed.copy_from_slice(&d);
}

/// A gate that follows the feed with `grace` seconds (None: no feed, leases only).
pub fn gate(creds: &GateCreds, jwks: &writ_artifact::Jwks, grace: Option<i64>) -> Arc<Gate> {
    Arc::new(
        Gate::new(
            GateConfig {
                id: creds.id.parse().unwrap(),
                zone: creds.zone.parse().unwrap(),
                issuer: None,
                feed_grace_secs: grace,
            },
            creds.key.clone(),
            jwks,
            Arc::new(SystemClock),
        )
        .unwrap(),
    )
}

/// Runner settings for tests: the `writ-sandbox` launcher, output captured, short grace periods.
pub fn config(principal_token: &str, gate_token: &str) -> RunnerConfig {
    let mut c = RunnerConfig::new(
        principal_token.to_owned(),
        gate_token.to_owned(),
        PathBuf::from(env!("CARGO_BIN_EXE_writ-sandbox")),
    );
    c.capture_output = true;
    c.kill_grace = Duration::from_secs(2);
    c
}

pub fn runner(cp: ControlPlane, gate: Arc<Gate>, config: RunnerConfig) -> Runner {
    Runner::new(cp, gate, Arc::new(SystemClock), config)
}

/// Starts `req` on `r` in a task; returns the launcher's process id once it started, and the
/// task.
pub async fn spawn_run(
    r: &Arc<Runner>,
    req: ExecRequest,
) -> (u32, tokio::task::JoinHandle<Result<RunReport, ExecError>>) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let r = r.clone();
    let task = tokio::spawn(async move {
        r.run_with(&req, |pid| {
            let _ = tx.send(pid);
        })
        .await
    });
    (rx.await.unwrap(), task)
}

/// A request with a small fixed environment, run in `cwd`.
pub fn request(argv: &[&str], cwd: &std::path::Path) -> ExecRequest {
    let mut env = BTreeMap::new();
    env.insert("PATH".to_owned(), "/usr/bin:/bin".to_owned());
    env.insert("LC_ALL".to_owned(), "C".to_owned());
    ExecRequest::new(
        argv.iter().map(|s| (*s).to_owned()).collect(),
        cwd.to_path_buf(),
        env,
        None,
    )
    .unwrap()
}

/// Whether a process is gone (reaped, or a zombie waiting to be).
pub fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

/// The parent of each process (host process ids).
fn parents() -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some(ppid) = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split(' ').nth(1))
            .and_then(|p| p.parse::<u32>().ok())
        {
            out.push((pid, ppid));
        }
    }
    out
}

/// `pid` and every process descending from it.
pub fn descendants(pid: u32) -> Vec<u32> {
    let links = parents();
    let mut out = vec![pid];
    let mut i = 0;
    while let Some(&p) = out.get(i) {
        out.extend(links.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out
}

/// Waits until `pid` or a process descending from it runs `comm` (the launcher runs the
/// command two stages down, in its own PID namespace).
pub async fn wait_for_comm(pid: u32, comm: &str) {
    for _ in 0..2000 {
        if descendants(pid).iter().any(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == comm)
        }) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("process {pid} never ran {comm}");
}

/// Waits until a file exists (a script says it is ready).
pub async fn wait_for_file(path: &std::path::Path) {
    for _ in 0..2000 {
        if path.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{} never appeared", path.display());
}
