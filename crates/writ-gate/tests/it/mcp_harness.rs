//! A real control plane on 127.0.0.1 (as crates/writ-server/tests/it/harness.rs starts it), a
//! registered gate following its event feed, and the MCP gateway's [`Enforcer`] in front of a
//! real npm MCP server. The npm packages and the Python `mcp` SDK come from scripts/test.sh
//! (WRIT_TEST_NODE_MODULES, WRIT_TEST_PYTHON).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use writ_authorize::BundleSigningKey;
use writ_gate::mcp::enforce::EnforcerConfig;
use writ_gate::mcp::{Enforcer, PinSet};
use writ_gate::{ControlPlane, Gate, GateConfig};
use writ_model::{Clock, SystemClock};
use writ_server::{AppState, ServerConfig, init_data_dir};

pub const GATE_ID: &str = "gate:mcp-1";

/// The interop tools, or `None` (after printing why) when the test should skip.
pub struct Tools {
    pub node: PathBuf,
    pub modules: PathBuf,
    pub python: PathBuf,
}

pub fn tools() -> Option<Tools> {
    let required = std::env::var("WRIT_REQUIRE_CONFORMANCE").as_deref() == Ok("1");
    let modules = std::env::var_os("WRIT_TEST_NODE_MODULES").map(PathBuf::from);
    let python = std::env::var_os("WRIT_TEST_PYTHON").map(PathBuf::from);
    match (modules, python) {
        (Some(m), Some(p)) if m.join(".bin/node").exists() && p.exists() => Some(Tools {
            node: m.join(".bin/node"),
            modules: m,
            python: p,
        }),
        _ if required => panic!(
            "WRIT_TEST_NODE_MODULES (npm MCP servers) and WRIT_TEST_PYTHON (the `mcp` SDK) are required: run scripts/test.sh"
        ),
        _ => {
            println!(
                "skipped: WRIT_TEST_NODE_MODULES / WRIT_TEST_PYTHON not set (run scripts/test.sh)"
            );
            None
        }
    }
}

impl Tools {
    pub fn filesystem(&self, root: &Path) -> Vec<String> {
        vec![
            self.node.display().to_string(),
            self.modules
                .join("@modelcontextprotocol/server-filesystem/dist/index.js")
                .display()
                .to_string(),
            root.display().to_string(),
        ]
    }

    /// Starts `@modelcontextprotocol/server-everything` over Streamable HTTP; returns its
    /// endpoint and the process (killed on drop).
    pub async fn everything_http(&self) -> (String, tokio::process::Child) {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = tokio::process::Command::new(&self.node)
            .arg(
                self.modules
                    .join("@modelcontextprotocol/server-everything/dist/index.js"),
            )
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return (format!("http://127.0.0.1:{port}/mcp"), child);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server-everything did not start on port {port}");
    }

    pub fn interop(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/interop")
            .join(name)
    }

    /// Runs tests/interop/mcp_client.py; returns its JSON output.
    pub async fn python_client(&self, args: Vec<String>) -> Value {
        let out = tokio::time::timeout(
            Duration::from_secs(90),
            tokio::process::Command::new(&self.python)
                .arg(Self::interop("mcp_client.py"))
                .args(&args)
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("the Python MCP client hung")
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "mcp_client.py failed: {}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }
}

pub struct Plane {
    pub base: String,
    pub admin: String,
    pub state: Arc<AppState>,
    /// The data directory (SQLite ledger, keys); kept alive with the plane.
    pub dir: tempfile::TempDir,
    pub gate_key: SigningKey,
    pub gate_token: String,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Policy bundle files: the default schema and entities with `policies` as the only policies,
/// and more schema files (name, text), such as a per-tool fragment.
pub fn bundle_with(
    key: &BundleSigningKey,
    policies: &str,
    schemas: &[(&str, &str)],
) -> serde_json::Map<String, Value> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy/default");
    let mut files = serde_json::Map::new();
    for name in ["writ.cedarschema", "entities.json"] {
        files.insert(
            name.into(),
            json!(std::fs::read_to_string(root.join(name)).unwrap()),
        );
    }
    files.insert("policies.cedar".into(), json!(policies));
    for (name, text) in schemas {
        files.insert((*name).into(), json!(text));
    }
    let raw: std::collections::BTreeMap<String, Vec<u8>> = files
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().as_bytes().to_vec()))
        .collect();
    let compiled =
        writ_authorize::compile(&writ_authorize::BundleSource::from_files(raw).unwrap()).unwrap();
    files.insert(
        "bundle.sig".into(),
        json!(key.sign(compiled.digest()).to_json()),
    );
    files
}

impl Plane {
    /// Starts a control plane with `policies` active and gate:mcp-1 (zone dev) registered.
    pub async fn start(policies: &str) -> Plane {
        Self::start_with(policies, &[]).await
    }

    /// Same, with more schema files in the bundle (see [`bundle_with`]).
    pub async fn start_with(policies: &str, schemas: &[(&str, &str)]) -> Plane {
        let dir = tempfile::tempdir().unwrap();
        let key = BundleSigningKey::from_seed([9; 32]);
        let config = ServerConfig {
            data_dir: dir.path().join("data"),
            heartbeat_secs: 1,
            ..ServerConfig::default()
        };
        let admin = init_data_dir(&config, &[key.verifying_key().to_hex()])
            .unwrap()
            .admin_token;
        let state = AppState::open(config, Arc::new(SystemClock)).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(writ_server::run(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        let http = reqwest::Client::new();
        let gate_key = SigningKey::from_bytes(&[42; 32]);
        let mut plane = Plane {
            base,
            admin,
            state,
            dir,
            gate_key,
            gate_token: String::new(),
            http,
            stop: Some(tx),
            task: Some(task),
        };
        let files = bundle_with(&key, policies, schemas);
        plane
            .admin_call(
                "POST",
                "/v1/admin/bundles/activate",
                json!({"files": files}),
            )
            .await;
        let pk = hex::encode(plane.gate_key.verifying_key().to_bytes());
        let reg = plane
            .admin_call(
                "POST",
                "/v1/admin/gates",
                json!({"id": GATE_ID, "zone": "dev", "public_key": pk}),
            )
            .await;
        plane.gate_token = reg["token"].as_str().unwrap().to_owned();
        plane
    }

    pub async fn admin_call(&self, method: &str, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {path}: {status} {v}");
        v
    }

    pub async fn add_principal(&self, id: &str) -> String {
        let v = self
            .admin_call(
                "POST",
                "/v1/admin/principals",
                json!({"id": id, "zone": "dev"}),
            )
            .await;
        v["token"].as_str().unwrap().to_owned()
    }

    /// The gateway's enforcer for upstream `server`, its gate following the event feed.
    pub async fn enforcer(&self, server: &str, pins: PinSet, timeout: Duration) -> Arc<Enforcer> {
        self.enforcer_at(&self.base, server, pins, timeout).await
    }

    /// Same, talking to the control plane at `base` (a faulty stand-in, for fault tests); the
    /// writ keys and the feed still come from this plane.
    pub async fn enforcer_at(
        &self,
        base: &str,
        server: &str,
        pins: PinSet,
        timeout: Duration,
    ) -> Arc<Enforcer> {
        self.enforcer_via(base, &self.base, server, pins, timeout)
            .await
    }

    /// Authorize calls go to `base`, the event feed is followed at `feed_base`.
    pub async fn enforcer_via(
        &self,
        base: &str,
        feed_base: &str,
        server: &str,
        pins: PinSet,
        timeout: Duration,
    ) -> Arc<Enforcer> {
        self.enforcer_trusting(base, feed_base, server, pins, timeout, None)
            .await
    }

    /// Same, with the gate starting out trusting `jwks` instead of the plane's keys.
    pub async fn enforcer_trusting(
        &self,
        base: &str,
        feed_base: &str,
        server: &str,
        pins: PinSet,
        timeout: Duration,
        jwks: Option<writ_artifact::Jwks>,
    ) -> Arc<Enforcer> {
        let cp = ControlPlane::with_timeout(feed_base, timeout);
        let jwks: writ_artifact::Jwks = match jwks {
            Some(j) => j,
            None => {
                serde_json::from_value(cp.get_json("/.well-known/jwks.json", None).await.unwrap())
                    .unwrap()
            }
        };
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let gate = Arc::new(
            Gate::new(
                GateConfig {
                    id: GATE_ID.parse().unwrap(),
                    zone: "dev".parse().unwrap(),
                    issuer: Some(self.state.config.issuer.clone()),
                    feed_grace_secs: Some(3),
                },
                self.gate_key.clone(),
                &jwks,
                clock.clone(),
            )
            .unwrap(),
        );
        let feed = gate.feed().cloned().unwrap();
        tokio::spawn(writ_gate::follow(
            cp,
            self.gate_token.clone(),
            gate.revocations().clone(),
            feed.clone(),
            clock.clone(),
            |_| {},
        ));
        for _ in 0..100 {
            if feed.require_fresh(SystemClock.now_unix()).is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        feed.require_fresh(SystemClock.now_unix()).unwrap();
        Arc::new(Enforcer::new(
            gate,
            ControlPlane::with_timeout(base, timeout),
            EnforcerConfig {
                server: server.into(),
                gate_token: self.gate_token.clone(),
                pins,
                timeout,
            },
            clock,
        ))
    }

    /// Every ledger entry so far, parsed.
    pub fn ledger_entries(&self) -> Vec<Value> {
        let size = self.state.ledger.checkpoint().size();
        (0..size)
            .map(|i| {
                // With what its disclosure says (v2 entries keep it in the evidence store).
                let d = self.state.ledger.disclosures(&[i]).unwrap().pop();
                writ_ledger::evidence::entry_view(&self.state.ledger.entry(i).unwrap(), d.as_ref())
            })
            .collect()
    }

    /// Waits until `n` receipts from the gateway's gate are in the ledger; returns their bodies.
    pub async fn receipts(&self, n: usize) -> Vec<Value> {
        for _ in 0..200 {
            let r: Vec<Value> = self
                .ledger_entries()
                .into_iter()
                .filter(|e| e["type"] == "receipt")
                .map(|e| e["receipt"]["body"].clone())
                .filter(|b| b["gate"] == GATE_ID)
                .collect();
            if r.len() >= n {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "fewer than {n} receipts reached the ledger: {:?}",
            self.ledger_entries()
        );
    }

    pub async fn proof(&self, execution: &str) -> Value {
        let resp = self
            .http
            .get(format!("{}/v1/proofs/{execution}", self.base))
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        // The gate's event stream never ends on its own, so graceful shutdown would wait for
        // it; the tests are done with the plane, so it is not waited for long.
        if let Some(t) = self.task.take() {
            let abort = t.abort_handle();
            if tokio::time::timeout(Duration::from_millis(500), t)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

/// A loopback TCP relay to `target` that can be cut: every connection through it ends at once
/// and new ones are refused (a network partition between gate and control plane).
pub struct Cuttable {
    pub base: String,
    cut: tokio::sync::watch::Sender<bool>,
}

impl Cuttable {
    pub async fn start(target: &str) -> Cuttable {
        let target = target.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (cut, watch) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut stop = watch.clone();
            loop {
                let (mut inbound, _) = tokio::select! {
                    a = listener.accept() => a.unwrap(),
                    _ = stop.changed() => return,
                };
                let target = target.clone();
                let mut stop = watch.clone();
                tokio::spawn(async move {
                    let Ok(mut out) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut out) => {}
                        _ = stop.changed() => {}
                    }
                });
            }
        });
        Cuttable { base, cut }
    }

    pub fn cut(&self) {
        let _ = self.cut.send(true);
    }
}
