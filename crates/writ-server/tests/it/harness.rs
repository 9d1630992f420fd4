//! Starts a server and provisions it through its own API.

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use writ_authorize::BundleSigningKey;
use writ_model::env::{EnvironmentAttestation, EnvironmentClaims};
use writ_model::{Clock, SystemClock};
use writ_server::{AppState, ServerConfig, init_data_dir};

pub struct TestServer {
    pub base: String,
    pub admin: String,
    pub dir: tempfile::TempDir,
    pub bundle_key: BundleSigningKey,
    pub client: reqwest::Client,
    pub state: Arc<AppState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub fn bundle_files(extra_policy: Option<&str>) -> serde_json::Map<String, Value> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy/default");
    let mut files = serde_json::Map::new();
    for name in ["writ.cedarschema", "policies.cedar", "entities.json"] {
        files.insert(
            name.into(),
            Value::String(std::fs::read_to_string(root.join(name)).unwrap()),
        );
    }
    if let Some(p) = extra_policy {
        files.insert("extra.cedar".into(), Value::String(p.into()));
    }
    files
}

pub fn sign_files(key: &BundleSigningKey, files: &mut serde_json::Map<String, Value>) {
    let map: std::collections::BTreeMap<String, Vec<u8>> = files
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().as_bytes().to_vec()))
        .collect();
    let source = writ_authorize::BundleSource::from_files(map).unwrap();
    let bundle = writ_authorize::compile(&source).unwrap();
    files.insert(
        "bundle.sig".into(),
        Value::String(key.sign(bundle.digest()).to_json()),
    );
}

impl TestServer {
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let bundle_key = BundleSigningKey::from_seed([7; 32]);
        let config = ServerConfig {
            data_dir: dir.path().join("data"),
            ..ServerConfig::default()
        };
        let report = init_data_dir(&config, &[bundle_key.verifying_key().to_hex()]).unwrap();
        Self::start_in(dir, config, report.admin_token, bundle_key).await
    }

    /// A started server with the default bundle active, the principal `agent:triage-bot` and
    /// the gate `gate:mcp-1` (both in zone `dev`): the agent's token and the gate.
    pub async fn provisioned() -> (TestServer, String, Gate) {
        let srv = TestServer::start().await;
        srv.activate_default().await;
        let agent = srv.add_principal("agent:triage-bot", "dev").await;
        let gate = srv.add_gate("gate:mcp-1", "dev").await;
        (srv, agent, gate)
    }

    pub async fn start_in(
        dir: tempfile::TempDir,
        config: ServerConfig,
        admin: String,
        bundle_key: BundleSigningKey,
    ) -> TestServer {
        let state = AppState::open(config, Arc::new(SystemClock)).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(writ_server::run(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        TestServer {
            base,
            admin,
            dir,
            bundle_key,
            client: reqwest::Client::new(),
            state,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub async fn stop(mut self) -> (tempfile::TempDir, String, BundleSigningKey) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
        (self.dir, self.admin, self.bundle_key)
    }

    /// The whole decision record at `index`: a v2 entry joined with its disclosure from the
    /// evidence store.
    pub fn decision_at(&self, index: u64) -> writ_model::DecisionRecord {
        match self.state.ledger.decision(index).unwrap().unwrap() {
            writ_ledger::evidence::DecisionEvidence::Record(r) => *r,
            other => panic!("decision {index} has no disclosure: {other:?}"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.client.request(method.parse().unwrap(), self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// `POST /v1/admin/quarantines` as the admin (`target` names a principal or a zone, and
    /// `"on": false` lifts it); the quarantine must be recorded.
    /// `POST /v1/admin/revocations` with `target` (`{"principal": …}`, `{"zone": …}`, …).
    pub async fn revoke(&self, target: Value) {
        self.admin_ok("/v1/admin/revocations", target).await;
    }

    pub async fn quarantine(&self, target: Value) {
        self.admin_ok("/v1/admin/quarantines", target).await;
    }

    /// `POST path` with the admin token and `body`, which must answer 200.
    async fn admin_ok(&self, path: &str, body: Value) {
        let (st, answer) = self.call("POST", path, Some(&self.admin), Some(body)).await;
        assert_eq!(st, 200, "{answer}");
    }

    /// `POST /v1/authorize` as the holder of `token`.
    pub async fn authorize(&self, token: &str, body: Value) -> (u16, Value) {
        self.call("POST", "/v1/authorize", Some(token), Some(body))
            .await
    }

    /// [`TestServer::authorize`] that must be allowed (200); returns the answer.
    pub async fn authorize_ok(&self, token: &str, body: Value) -> Value {
        let (st, answer) = self.authorize(token, body).await;
        assert_eq!(st, 200, "{answer}");
        answer
    }

    /// `POST /v1/leases/{jti}/renew` as the holder of `token`, attested by `gate`.
    pub async fn renew(&self, token: &str, jti: &str, gate: &Gate) -> (u16, Value) {
        self.call(
            "POST",
            &format!("/v1/leases/{jti}/renew"),
            Some(token),
            Some(json!({"attestation": gate.attest()})),
        )
        .await
    }

    /// `GET /v1/lineage/{execution}` as the holder of `token`.
    pub async fn lineage(&self, token: &str, execution: impl std::fmt::Display) -> (u16, Value) {
        self.call(
            "GET",
            &format!("/v1/lineage/{execution}"),
            Some(token),
            None,
        )
        .await
    }

    /// `GET /v1/proofs/{execution}` as the holder of `token`.
    pub async fn proof(&self, token: &str, execution: impl std::fmt::Display) -> (u16, Value) {
        self.call("GET", &format!("/v1/proofs/{execution}"), Some(token), None)
            .await
    }

    pub async fn activate_default(&self) {
        self.activate(bundle_files(None)).await;
    }

    /// Signs `files` with the trusted bundle key and activates them (asserts 200).
    pub async fn activate(&self, mut files: serde_json::Map<String, Value>) {
        sign_files(&self.bundle_key, &mut files);
        let (st, body) = self.post_bundle(&files).await;
        assert_eq!(st, 200, "{body}");
    }

    /// `POST /v1/admin/bundles/activate` with `files` exactly as given (signed or not).
    pub async fn post_bundle(&self, files: &serde_json::Map<String, Value>) -> (u16, Value) {
        self.call(
            "POST",
            "/v1/admin/bundles/activate",
            Some(&self.admin),
            Some(json!({"files": files})),
        )
        .await
    }

    pub async fn add_principal(&self, id: &str, zone: &str) -> String {
        let (st, body) = self
            .call(
                "POST",
                "/v1/admin/principals",
                Some(&self.admin),
                Some(json!({"id": id, "zone": zone})),
            )
            .await;
        assert_eq!(st, 201, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    pub async fn add_gate(&self, id: &str, zone: &str) -> Gate {
        let key = SigningKey::from_bytes(&[id.len() as u8 + 11; 32]);
        let (st, body) = self
            .call("POST", "/v1/admin/gates", Some(&self.admin), Some(json!({"id": id, "zone": zone, "public_key": hex::encode(key.verifying_key().to_bytes())})))
            .await;
        assert_eq!(st, 201, "{body}");
        Gate {
            id: id.into(),
            zone: zone.into(),
            key,
            token: body["token"].as_str().unwrap().to_owned(),
        }
    }
}

pub struct Gate {
    pub id: String,
    pub zone: String,
    pub key: SigningKey,
    pub token: String,
}

impl Gate {
    pub fn attest(&self) -> Value {
        let claims = EnvironmentClaims::new(self.zone.parse().unwrap(), self.id.parse().unwrap());
        let iat = SystemClock.now_unix();
        let input = EnvironmentAttestation::signing_input(&claims, iat, &self.id).unwrap();
        let sig = URL_SAFE_NO_PAD.encode(self.key.sign(&input).to_bytes());
        serde_json::to_value(EnvironmentAttestation {
            claims,
            iat,
            kid: self.id.clone(),
            sig,
        })
        .unwrap()
    }

    pub fn sign_b64(&self, bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.key.sign(bytes).to_bytes())
    }
}

/// What a browser test needs: node's modules with `playwright-core` and `axe-core`
/// (WRIT_UI_NODE_MODULES) and Chromium (WRIT_CHROMIUM, default /usr/bin/chromium); and where
/// its scripts are (`root`, the workspace) and its screenshots go
/// (`$CARGO_TARGET_DIR/ui-screenshots`, created).
pub struct BrowserEnv {
    pub root: std::path::PathBuf,
    pub modules: String,
    pub chromium: String,
    pub screenshots: std::path::PathBuf,
}

/// The browser test environment, or `None` after saying why `what` cannot run (a test failure
/// instead when WRIT_REQUIRE_UI=1).
pub fn browser_env(what: &str) -> Option<BrowserEnv> {
    let skip = |why: String| {
        if std::env::var("WRIT_REQUIRE_UI").as_deref() == Ok("1") {
            panic!("{what} cannot run: {why}");
        }
        eprintln!("skipped: {what} cannot run: {why}");
        None
    };
    let Ok(modules) = std::env::var("WRIT_UI_NODE_MODULES") else {
        return skip(
            "WRIT_UI_NODE_MODULES is not set (scripts/test.sh installs ui/package-lock.json)"
                .into(),
        );
    };
    let chromium = std::env::var("WRIT_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !std::path::Path::new(&chromium).exists() {
        return skip(format!(
            "no Chromium at {chromium} (apt-get install chromium)"
        ));
    }
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let screenshots = std::env::var("CARGO_TARGET_DIR")
        .map_or_else(|_| root.join("target"), std::path::PathBuf::from)
        .join("ui-screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    Some(BrowserEnv {
        root,
        modules,
        chromium,
        screenshots,
    })
}

/// The stdout lines of a node child.
pub type NodeLines = tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>;

/// Starts `node ui/tests/<script>` (under `root`) with NODE_PATH at `modules`, its stdin and
/// stdout piped and killed when dropped, and writes `config` as its first stdin line.
pub async fn spawn_node(
    root: &std::path::Path,
    script: &str,
    modules: &str,
    config: &Value,
) -> (tokio::process::Child, tokio::process::ChildStdin, NodeLines) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut child = tokio::process::Command::new("node")
        .arg(root.join("ui/tests").join(script))
        .env("NODE_PATH", modules)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node");
    let mut stdin = child.stdin.take().unwrap();
    let lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    stdin
        .write_all(format!("{config}\n").as_bytes())
        .await
        .unwrap();
    (child, stdin, lines)
}

/// A server-sent event stream read event by event (`GET /v1/events`).
pub struct Feed {
    resp: reqwest::Response,
    buf: String,
}

impl Feed {
    pub fn new(resp: reqwest::Response) -> Feed {
        Feed {
            resp,
            buf: String::new(),
        }
    }

    /// The next event's kind and data (`null` when it has none); fails the test when the feed
    /// ends or stays silent for 30 s.
    pub async fn next(&mut self) -> (String, Value) {
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                if let Some(kind) = block.lines().find_map(|l| l.strip_prefix("event: ")) {
                    let data = block
                        .lines()
                        .find_map(|l| l.strip_prefix("data: "))
                        .map_or(Value::Null, |d| serde_json::from_str(d).unwrap());
                    return (kind.to_owned(), data);
                }
            }
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(30), self.resp.chunk())
                .await
                .expect("the feed went silent")
                .unwrap()
                .expect("the feed ended");
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Reads until an event of `kind`: its data.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let (got, data) = self.next().await;
            if got == kind {
                return data;
            }
        }
    }

    /// Reads until an event of `kind`: the kinds read, in order, that one included.
    pub async fn kinds_until(&mut self, kind: &str) -> Vec<String> {
        let mut kinds = Vec::new();
        loop {
            let (got, _) = self.next().await;
            kinds.push(got);
            if kinds.last().is_some_and(|k| k == kind) {
                return kinds;
            }
        }
    }
}
