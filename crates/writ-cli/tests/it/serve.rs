//! `writ serve` and the operator commands, end to end through the real binary: start, drive every
//! operator command, stop with SIGTERM and check the ledger; and the restart test: SIGKILL under
//! load, restart, and every writ ever returned still has its decision in the ledger.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use writ_authorize::BundleSigningKey;
use writ_ledger::{ConsistencyProof, Ed25519Verifier, ProofBundle, SignedCheckpoint};
use writ_model::env::{EnvironmentAttestation, EnvironmentClaims};
use writ_model::{Clock, SystemClock};

const BIN: &str = env!("CARGO_BIN_EXE_writ");

fn bundle_key() -> BundleSigningKey {
    BundleSigningKey::from_seed([9; 32])
}

/// A `writ serve` child process and what its `listening` line said.
pub(crate) struct Served {
    pub(crate) child: Child,
    pub(crate) url: String,
    pub(crate) vkey: String,
    pub(crate) listening: Value,
}

impl Served {
    pub(crate) fn start(data: &Path, init: bool) -> Served {
        Served::start_with(data, init, None, &[])
    }

    /// Like [`Served::start`], with `env` added and, given a `prelude`, started as
    /// `sh -c "PRELUDE; exec writ serve …"` (so a test can set the umask and `ulimit`s it
    /// starts with).
    pub(crate) fn start_with(
        data: &Path,
        init: bool,
        prelude: Option<&str>,
        env: &[(&str, &str)],
    ) -> Served {
        let mut cmd = match prelude {
            None => Command::new(BIN),
            Some(prelude) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("{prelude}; exec \"$0\" \"$@\""))
                    .arg(BIN);
                sh
            }
        };
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--format", "json"])
            .arg("--data-dir")
            .arg(data)
            .env_remove("WRIT_CONFIG")
            .env_remove("WRIT_LISTEN")
            .env_remove("WRIT_DATA_DIR")
            .env_remove("WRIT_MAX_CONNECTIONS")
            .stdout(Stdio::piped())
            .stderr(serve_stderr());
        for (k, v) in env {
            cmd.env(k, v);
        }
        if init {
            cmd.args([
                "--init",
                "--trust-bundle-key",
                &bundle_key().verifying_key().to_hex(),
            ]);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        // Owned by `Served` from here on, so its Drop reaps it on every path.
        let mut served = Served {
            child,
            url: String::new(),
            vkey: String::new(),
            listening: Value::Null,
        };
        let mut lines = BufReader::new(stdout).lines();
        loop {
            let line = lines
                .next()
                .expect("writ serve exited before listening")
                .unwrap();
            let v: Value = serde_json::from_str(&line).unwrap();
            assert!(v.get("admin_token").is_none(), "token printed unasked");
            if v["event"] == "listening" {
                // Keep draining stdout so the child never blocks on a full pipe.
                std::thread::spawn(move || for _ in lines {});
                served.url = v["url"].as_str().unwrap().to_owned();
                served.vkey = v["ledger_vkey"].as_str().unwrap().to_owned();
                served.listening = v;
                return served;
            }
        }
    }

    pub(crate) fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Waits for the process to exit and returns its exit code.
    pub(crate) fn wait(mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!("writ serve did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Where a served child's log goes: nowhere, or with WRIT_TEST_SERVE_LOG=DIR a new file in DIR
/// (for reading what a server said when a test fails).
fn serve_stderr() -> Stdio {
    match std::env::var_os("WRIT_TEST_SERVE_LOG") {
        Some(dir) => {
            let mut r = [0u8; 6];
            getrandom::fill(&mut r).unwrap();
            let path = PathBuf::from(dir).join(format!("serve-{}.log", hex::encode(r)));
            Stdio::from(std::fs::File::create(path).unwrap())
        }
        None => Stdio::null(),
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `writ ARGS` and returns (exit code, stdout, stderr).
pub(crate) fn writ(args: &[&str]) -> (i32, String, String) {
    writ_env(args, &[])
}

/// [`writ`] with these environment variables set (a token goes there, never on the command line).
pub(crate) fn writ_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("WRIT_TOKEN")
        .env_remove("WRIT_SERVER")
        .env_remove("WRIT_TOKEN_FILE")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_out(args: &[&str]) -> Value {
    let (code, out, err) = writ(args);
    assert_eq!(code, 0, "writ {args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn default_bundle_files() -> Vec<(String, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy/default");
    ["writ.cedarschema", "policies.cedar", "entities.json"]
        .iter()
        .map(|n| {
            (
                (*n).to_owned(),
                std::fs::read_to_string(root.join(n)).unwrap(),
            )
        })
        .collect()
}

fn signature(files: &[(String, String)]) -> String {
    let map: std::collections::BTreeMap<String, Vec<u8>> = files
        .iter()
        .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
        .collect();
    let source = writ_authorize::BundleSource::from_files(map).unwrap();
    let bundle = writ_authorize::compile(&source).unwrap();
    bundle_key().sign(bundle.digest()).to_json()
}

/// Writes a signed copy of the default bundle into `dir`.
/// The admin token `writ serve --init` wrote into data directory `data`.
pub(crate) fn admin_token(data: &Path) -> String {
    std::fs::read_to_string(data.join("admin.token"))
        .unwrap()
        .trim()
        .to_owned()
}

pub(crate) fn signed_bundle_dir(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let files = default_bundle_files();
    for (n, t) in &files {
        std::fs::write(dir.join(n), t).unwrap();
    }
    std::fs::write(dir.join("bundle.sig"), signature(&files)).unwrap();
}

/// A small synchronous HTTP client over reqwest's async one (writ-cli has no blocking feature).
pub(crate) struct Http {
    rt: tokio::runtime::Runtime,
    inner: reqwest::Client,
}

pub(crate) fn http() -> Http {
    Http {
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        inner: reqwest::Client::new(),
    }
}

impl Http {
    pub(crate) fn call(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        self.rt.block_on(async {
            let mut req = self.inner.request(method.parse().unwrap(), url);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        })
    }
}

pub(crate) fn attest(key: &SigningKey, gate: &str, zone: &str) -> Value {
    let claims = EnvironmentClaims::new(zone.parse().unwrap(), gate.parse().unwrap());
    let iat = SystemClock.now_unix();
    let input = EnvironmentAttestation::signing_input(&claims, iat, gate).unwrap();
    let sig = URL_SAFE_NO_PAD.encode(key.sign(&input).to_bytes());
    serde_json::to_value(EnvironmentAttestation {
        claims,
        iat,
        kid: gate.to_owned(),
        sig,
    })
    .unwrap()
}

pub(crate) fn authorize_body(key: &SigningKey) -> Value {
    json!({
        "intent": {"action": "mcp.call_tool", "resource": "tool:github/get_issue", "args": {"repo": "acme/api", "number": 7}},
        "attestation": attest(key, "gate:mcp-1", "dev"),
    })
}

pub(crate) fn read_gate_key(file: &Path) -> SigningKey {
    let seed: [u8; 32] = hex::decode(std::fs::read_to_string(file).unwrap().trim())
        .unwrap()
        .try_into()
        .unwrap();
    SigningKey::from_bytes(&seed)
}

/// Activates the signed bundle in `dir` with `writ policy activate`.
pub(crate) fn activate(url: &str, token_file: &str, dir: &Path) {
    let v = json_out(&[
        "policy",
        "activate",
        dir.to_str().unwrap(),
        "--control-plane",
        url,
        "--token-file",
        token_file,
        "--format",
        "json",
    ]);
    assert_eq!(v["activated"], true, "{v}");
}

#[test]
fn serve_drives_every_operator_command_and_stops_cleanly_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let srv = Served::start(&data, true);
    let url = srv.url.clone();
    let token_file = data.join("admin.token");
    let tf = token_file.to_str().unwrap();
    let admin = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_owned();
    let srv_args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        v.extend([
            "--control-plane".into(),
            url.clone(),
            "--token-file".into(),
            tf.to_owned(),
        ]);
        v
    };
    let run = |extra: &[&str]| {
        let v = srv_args(extra);
        writ(&v.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let run_json = |extra: &[&str]| {
        let mut v = srv_args(extra);
        v.extend(["--format".into(), "json".into()]);
        json_out(&v.iter().map(String::as_str).collect::<Vec<_>>())
    };

    let bundle = tmp.path().join("bundle");
    signed_bundle_dir(&bundle);
    activate(&url, tf, &bundle);

    // Principals: add prints the token once, a duplicate is invalid input.
    let added = run_json(&["principal", "add", "agent:triage-bot", "--zone", "dev"]);
    let agent = added["token"].as_str().unwrap().to_owned();
    assert!(agent.starts_with("writ_principal_"));
    let (code, _, err) = run(&["principal", "add", "agent:triage-bot", "--zone", "dev"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("principal_exists"), "{err}");
    // A person may get a role, listed with it (issue 12, finding 9); an agent may not.
    run_json(&[
        "principal",
        "add",
        "human:alice",
        "--zone",
        "dev",
        "--role",
        "auditor",
    ]);
    let listed = run_json(&["principal", "list"]);
    assert_eq!(listed["principals"][1]["role"], "auditor", "{listed}");
    let (code, _, err) = run(&[
        "principal",
        "add",
        "agent:boss",
        "--zone",
        "dev",
        "--role",
        "admin",
    ]);
    assert_eq!(code, 3, "{err}");
    // An agent's token cannot reach admin calls: a deny, exit 2. An unknown token: exit 3.
    let (code, _, _) = writ_env(
        &["principal", "list", "--control-plane", &url],
        &[("WRIT_TOKEN", &agent)],
    );
    assert_eq!(code, 2);
    let (code, _, _) = writ_env(
        &["principal", "list", "--control-plane", &url],
        &[("WRIT_TOKEN", "writ_admin_nope")],
    );
    assert_eq!(code, 3);
    let (code, _, err) = writ(&["principal", "list", "--control-plane", &url]);
    assert_eq!(code, 3, "no token is invalid input: {err}");
    let (code, _, err) = writ_env(
        &["principal", "list", "--control-plane", "http://127.0.0.1:9"],
        &[("WRIT_TOKEN", &admin)],
    );
    assert_eq!(code, 1, "an unreachable server is a failure: {err}");
    assert!(err.contains("cannot reach"), "{err}");

    // Gates: keygen writes a private key, add registers its public half.
    let key_file = tmp.path().join("gate.key");
    let kg = json_out(&[
        "gate",
        "keygen",
        key_file.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let public = kg["public_key"].as_str().unwrap().to_owned();
    let (code, _, _) = writ(&["gate", "keygen", key_file.to_str().unwrap()]);
    assert_eq!(code, 3, "an existing key file is never overwritten");
    let (code, _, err) = run(&[
        "gate",
        "add",
        "gate:mcp-1",
        "--zone",
        "dev",
        "--public-key",
        "abcd",
    ]);
    assert_eq!(code, 3, "{err}");
    run_json(&[
        "gate",
        "add",
        "gate:mcp-1",
        "--zone",
        "dev",
        "--public-key",
        &public,
    ]);
    let gates = run_json(&["gate", "list"]);
    assert_eq!(gates["gates"][0]["id"], "gate:mcp-1");
    assert_eq!(gates["gates"][0]["public_key"], json!(public));
    let key = read_gate_key(&key_file);

    let client = http();
    let authorize = |token: &str| {
        client.call(
            "POST",
            &format!("{url}/v1/authorize"),
            Some(token),
            Some(&authorize_body(&key)),
        )
    };
    let (st, allow) = authorize(&agent);
    assert_eq!(st, 200, "{allow}");

    // Kill switch and quarantine take effect at once and are lifted again.
    run_json(&["kill-switch", "on"]);
    let (st, deny) = authorize(&agent);
    assert_eq!(
        (st, deny["reason_code"].clone()),
        (403, json!("kill_switch"))
    );
    run_json(&["kill-switch", "off"]);
    assert_eq!(authorize(&agent).0, 200);
    run_json(&["quarantine", "--zone", "dev"]);
    let (st, deny) = authorize(&agent);
    assert_eq!(
        (st, deny["reason_code"].clone()),
        (403, json!("zone_quarantined"))
    );
    run_json(&["quarantine", "--zone", "dev", "--release"]);
    run_json(&["quarantine", "--principal", "agent:triage-bot"]);
    assert_eq!(authorize(&agent).0, 403);
    run_json(&["quarantine", "--principal", "agent:triage-bot", "--release"]);
    assert_eq!(authorize(&agent).0, 200);
    let (code, _, _) = run(&["quarantine"]);
    assert_ne!(code, 0, "a quarantine needs a target");

    // Revoke one writ by jti, then the principal itself.
    let payload = allow["writ"].as_str().unwrap().split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let r = run_json(&["revoke", "--jti", claims["jti"].as_str().unwrap()]);
    assert_eq!(r["revoked"]["target"], "jti");
    run_json(&["principal", "revoke", "agent:triage-bot"]);
    assert_eq!(
        authorize(&agent).0,
        401,
        "a revoked principal's token is dead"
    );
    let list = run_json(&["principal", "list"]);
    assert_eq!(list["principals"][0]["status"], "revoked");

    // SIGTERM: a clean exit, and the ledger verifies in full with every event recorded.
    let (_, cp) = client.call("GET", &format!("{url}/ledger/checkpoint"), None, None);
    srv.signal("-TERM");
    assert_eq!(srv.wait(Duration::from_secs(20)), Some(0));
    let report = writ_ledger::verify_dir(&data.join("ledger"), true).unwrap();
    assert!(report.ok, "{report:?}");
    // And as an operator would check it.
    let (code, out, err) = writ(&[
        "ledger",
        "verify",
        "--full",
        "--dir",
        data.join("ledger").to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "writ ledger verify: {out}{err}");
    let size_seen: u64 = cp
        .as_str()
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(report.size, size_seen);
    // bundle, principal, gate, 9 authorizations, 2+2+2 switches, 2 revocations.
    assert!(report.size >= 17, "{report:?}");
}

/// One pre-kill observation: a writ the server returned.
#[derive(Clone)]
pub(crate) struct Returned {
    pub(crate) execution: String,
    pub(crate) writ: String,
    pub(crate) ledger_index: u64,
}

pub(crate) fn provision(url: &str, admin: &str, tmp: &Path) -> (String, SigningKey) {
    let (agent, key, _) = provision_with_gate_token(url, admin, tmp);
    (agent, key)
}

/// [`provision`], also returning the token of `gate:mcp-1`.
pub(crate) fn provision_with_gate_token(
    url: &str,
    admin: &str,
    tmp: &Path,
) -> (String, SigningKey, String) {
    signed_bundle_dir(&tmp.join("bundle"));
    let token_file = tmp.join("admin.token");
    std::fs::write(&token_file, admin).unwrap();
    // Token files must be private to their owner (as `writ serve --init` writes them).
    std::fs::set_permissions(
        &token_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    activate(url, token_file.to_str().unwrap(), &tmp.join("bundle"));
    let client = http();
    let (st, p) = client.call(
        "POST",
        &format!("{url}/v1/admin/principals"),
        Some(admin),
        Some(&json!({"id": "agent:triage-bot", "zone": "dev"})),
    );
    assert_eq!(st, 201, "{p}");
    let key = SigningKey::from_bytes(&[5; 32]);
    let (st, g) = client.call(
        "POST",
        &format!("{url}/v1/admin/gates"),
        Some(admin),
        Some(&json!({"id": "gate:mcp-1", "zone": "dev", "public_key": hex::encode(key.verifying_key().to_bytes())})),
    );
    assert_eq!(st, 201, "{g}");
    (
        p["token"].as_str().unwrap().to_owned(),
        key,
        g["token"].as_str().unwrap().to_owned(),
    )
}

/// Acceptance 3: SIGKILL under load loses no writ that was returned (its decision record is in
/// the ledger, found through the execution's proof), and the log after the restart extends
/// every checkpoint seen before the kill. The copy of the writ kept for proof bundles is
/// written after the answer: a kill may lose the last few (the bundle then has none, never a
/// different one); a graceful stop loses none.
#[test]
fn sigkill_under_load_loses_no_returned_writ() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut srv = Served::start(&data, true);
    let admin = admin_token(&data);
    let (agent, key) = provision(&srv.url, &admin, tmp.path());
    let verifier = Ed25519Verifier::from_vkey(&srv.vkey).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut returned: Vec<Returned> = Vec::new();
    let mut checkpoints: Vec<String> = Vec::new();
    for trial in 0..3 {
        let url = srv.url.clone();
        let got = Arc::new(Mutex::new(Vec::<Returned>::new()));
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let client = reqwest::Client::new();
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (client, url, got, stop, agent, key) = (
                client.clone(),
                url.clone(),
                got.clone(),
                stop.clone(),
                agent.clone(),
                key.clone(),
            );
            tasks.push(rt.spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let resp = client
                        .post(format!("{url}/v1/authorize"))
                        .bearer_auth(&agent)
                        .json(&authorize_body(&key))
                        .send()
                        .await;
                    let Ok(resp) = resp else { break };
                    if resp.status().as_u16() != 200 {
                        continue;
                    }
                    let Ok(v) = resp.json::<Value>().await else {
                        break;
                    };
                    got.lock().unwrap().push(Returned {
                        execution: v["execution"].as_str().unwrap().to_owned(),
                        writ: v["writ"].as_str().unwrap().to_owned(),
                        ledger_index: v["ledger_index"].as_u64().unwrap(),
                    });
                }
            }));
        }
        {
            let (client, url, seen, stop) =
                (client.clone(), url.clone(), seen.clone(), stop.clone());
            tasks.push(rt.spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let Ok(resp) = client.get(format!("{url}/ledger/checkpoint")).send().await
                    else {
                        break;
                    };
                    let Ok(text) = resp.text().await else { break };
                    seen.lock().unwrap().push(text);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }));
        }
        // Kill once a couple hundred writs were returned in this trial (or after 20 s).
        let start = Instant::now();
        while got.lock().unwrap().len() < 150 + 50 * trial
            && start.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        srv.child.kill().unwrap(); // SIGKILL, mid-load
        srv.child.wait().unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        rt.block_on(async {
            for t in tasks {
                let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
            }
        });
        let got = got.lock().unwrap().clone();
        assert!(
            got.len() >= 100,
            "trial {trial}: only {} writs before the kill",
            got.len()
        );
        returned.extend(got);
        checkpoints.extend(seen.lock().unwrap().iter().cloned());

        srv = Served::start(&data, false);
        assert_eq!(srv.vkey, verifier.to_vkey());
        let missing =
            check_after_restart(&srv.url, &agent, &admin, &verifier, &returned, &checkpoints);
        println!(
            "trial {trial}: {} writs returned so far, {missing} without their writ copy in the proof bundle after the kill",
            returned.len()
        );
    }
    // A graceful stop keeps every writ copy.
    let client = http();
    let mut last = Vec::new();
    for _ in 0..20 {
        let (st, v) = client.call(
            "POST",
            &format!("{}/v1/authorize", srv.url),
            Some(&agent),
            Some(&authorize_body(&key)),
        );
        assert_eq!(st, 200, "{v}");
        last.push(Returned {
            execution: v["execution"].as_str().unwrap().to_owned(),
            writ: v["writ"].as_str().unwrap().to_owned(),
            ledger_index: v["ledger_index"].as_u64().unwrap(),
        });
    }
    srv.signal("-TERM");
    assert_eq!(srv.wait(Duration::from_secs(20)), Some(0));
    srv = Served::start(&data, false);
    assert_eq!(
        check_after_restart(&srv.url, &agent, &admin, &verifier, &last, &checkpoints),
        0,
        "a graceful stop lost writ copies"
    );
    srv.signal("-TERM");
    assert_eq!(srv.wait(Duration::from_secs(20)), Some(0));
    let report = writ_ledger::verify_dir(&data.join("ledger"), true).unwrap();
    assert!(report.ok, "{report:?}");
}

/// Asks the server at `url` (as `token`) for the proof of `execution`: it must verify with the
/// log key `vkey` and hold the allow decision of that execution at `ledger_index`. Returns the
/// proof.
pub(crate) fn proves_allow_decision(
    client: &Http,
    url: &str,
    token: &str,
    vkey: &str,
    execution: &str,
    ledger_index: u64,
) -> Value {
    let (st, proof) = client.call(
        "GET",
        &format!("{url}/v1/proofs/{execution}"),
        Some(token),
        None,
    );
    assert_eq!(st, 200, "execution {execution} lost: {proof}");
    let bundle = ProofBundle::from_json(proof.to_string().as_bytes()).unwrap();
    let verified = bundle.verify(Some(vkey)).unwrap();
    let entry = verified
        .entries
        .iter()
        .find(|e| e.index == ledger_index)
        .unwrap_or_else(|| panic!("no entry {ledger_index} in the proof of {execution}"));
    let disclosure = verified
        .disclosures
        .iter()
        .find(|d| d.index == ledger_index);
    let record = writ_ledger::evidence::entry_view(&entry.entry, disclosure);
    assert_eq!(record["type"], "decision", "{record}");
    assert_eq!(record["decision"], "allow", "{record}");
    assert_eq!(record["request"]["lineage"]["execution"], json!(execution));
    proof
}

/// Checks every returned writ against the restarted server; returns how many proof bundles
/// came without their writ copy.
pub(crate) fn check_after_restart(
    url: &str,
    agent: &str,
    admin: &str,
    verifier: &Ed25519Verifier,
    returned: &[Returned],
    checkpoints: &[String],
) -> usize {
    let mut missing = 0;
    let client = http();
    let vkey = verifier.to_vkey();
    for r in returned {
        let proof = proves_allow_decision(&client, url, agent, &vkey, &r.execution, r.ledger_index);
        // The writ names the same ledger entry.
        let payload = r.writ.split('.').nth(1).unwrap();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(claims["ledger"]["index"], json!(r.ledger_index));
        assert_eq!(claims["lineage"]["execution"], json!(r.execution));
        if proof["writ"].is_null() {
            missing += 1;
        } else {
            assert_eq!(proof["writ"], json!(r.writ));
        }
    }
    let (_, now) = client.call("GET", &format!("{url}/ledger/checkpoint"), None, None);
    let new = SignedCheckpoint::open(now.as_str().unwrap(), verifier).unwrap();
    let max_index = returned.iter().map(|r| r.ledger_index).max().unwrap_or(0);
    assert!(new.size() > max_index);
    let mut sizes_checked = std::collections::BTreeSet::new();
    for note in checkpoints {
        let old = SignedCheckpoint::open(note, verifier).unwrap();
        assert!(
            old.size() <= new.size(),
            "the log shrank across the restart"
        );
        if old.size() == 0 || !sizes_checked.insert(old.size()) {
            continue;
        }
        let (st, proof) = client.call(
            "GET",
            &format!(
                "{url}/v1/ledger/consistency?from={}&to={}",
                old.size(),
                new.size()
            ),
            Some(admin),
            None,
        );
        assert_eq!(st, 200, "{proof}");
        let proof: ConsistencyProof = serde_json::from_value(proof).unwrap();
        proof
            .verify_between(&old, &new)
            .unwrap_or_else(|e| panic!("checkpoint {} is not a prefix: {e}", old.size()));
    }
    assert!(
        !sizes_checked.is_empty(),
        "no checkpoint was observed before the kill"
    );
    missing
}

#[test]
fn serve_refuses_unusable_config_naming_what_to_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let serve = |envs: &[(&str, &str)], init: bool| {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .env_remove("WRIT_TLS_CERT")
            .env_remove("WRIT_TLS_KEY")
            .env_remove("WRIT_CONFIG");
        if init {
            cmd.arg("--init");
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Not initialized and no --init: say how to create it.
    let (code, err) = serve(&[], false);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("--init"), "{err}");
    // TLS with one file only, or a missing certificate: refused before anything is created.
    let (code, err) = serve(&[("WRIT_TLS_CERT", "c.pem")], true);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("WRIT_TLS_KEY"), "{err}");
    let missing = tmp.path().join("missing-cert.pem");
    let (code, err) = serve(
        &[
            ("WRIT_TLS_CERT", missing.to_str().unwrap()),
            ("WRIT_TLS_KEY", missing.to_str().unwrap()),
        ],
        true,
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("missing-cert.pem"), "{err}");
    assert!(
        !data.exists(),
        "a refused start must not create the data directory"
    );
    // A bad number in the environment names the variable.
    let (code, err) = serve(&[("WRIT_HEARTBEAT_SECS", "soon")], true);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("WRIT_HEARTBEAT_SECS"), "{err}");
}

/// `writ bench authorize --self-hosted` provisions its own server and reports every round; the
/// figures themselves are for people (timing never decides a test), only their shape is checked.
#[test]
fn bench_authorize_self_hosted_reports_rounds_with_a_baseline() {
    let v = json_out(&[
        "bench",
        "authorize",
        "--self-hosted",
        "--concurrency",
        "1,4",
        "--duration",
        "1",
        "--warmup",
        "0",
        "--format",
        "json",
    ]);
    let rounds = v["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 2, "{v}");
    for (round, c) in rounds.iter().zip([1, 4]) {
        assert_eq!(round["concurrency"], c);
        let auth = &round["authorize"];
        assert_eq!(auth["errors"], 0, "{round}");
        assert!(auth["ok"].as_u64().unwrap() > 0, "{round}");
        assert!(auth["p50_us"].as_u64().unwrap() <= auth["p99_us"].as_u64().unwrap());
        assert!(auth["p99_us"].as_u64().unwrap() <= auth["max_us"].as_u64().unwrap());
        assert!(round["baseline_healthz"]["ok"].as_u64().unwrap() > 0);
        assert!(round["throughput_ratio_vs_healthz"].as_f64().unwrap() > 0.0);
    }
    // Without a token or gate key against an external server: invalid input, exit 3.
    let (code, _, err) = writ(&[
        "bench",
        "authorize",
        "--control-plane",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(code, 3, "{err}");
}

/// `writ policy trust add|list|remove` (issue 14): a key trusted through the CLI signs the next
/// activation without a restart, the old one is then removed, and a secret key given where the
/// public one belongs is refused before anything is sent.
#[test]
fn policy_trust_changes_take_effect_without_restart_and_refuse_secret_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let srv = Served::start(&data, true);
    let url = srv.url.clone();
    let token_file = data.join("admin.token");
    let tf = token_file.to_str().unwrap();
    let with_server = |args: &[&str]| -> (i32, String, String) {
        let mut v: Vec<&str> = args.to_vec();
        v.extend(["--control-plane", &url, "--token-file", tf]);
        writ(&v)
    };
    let key = tmp.path().join("new.key");
    let (code, _, err) = writ(&["policy", "keygen", key.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let public = tmp.path().join("new.key.pub");

    // The secret key is refused, also renamed away from its .pub.
    let (code, _, err) = with_server(&["policy", "trust", "add", key.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("secret"), "{err}");
    let renamed = tmp.path().join("innocent.txt");
    std::fs::copy(&key, &renamed).unwrap();
    let (code, _, err) = with_server(&["policy", "trust", "add", renamed.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("secret"), "{err}");

    // A bundle signed by the new key is refused until the key is trusted, then activates.
    let bundle = tmp.path().join("bundle");
    signed_bundle_dir(&bundle);
    let (code, _, err) = writ(&[
        "policy",
        "sign",
        bundle.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = with_server(&["policy", "activate", bundle.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("bundle_key_untrusted"), "{err}");
    let (code, out, err) = with_server(&["policy", "trust", "add", public.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("trusted key"), "{out}");
    let (code, _, err) = with_server(&["policy", "activate", bundle.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");

    // The old key goes; the active bundle's signer stays.
    let old_kid = bundle_key().verifying_key().kid();
    let listed = |url: &str| -> Vec<String> {
        let v = json_out(&[
            "policy",
            "trust",
            "list",
            "--control-plane",
            url,
            "--token-file",
            tf,
            "--format",
            "json",
        ]);
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    let new_kid = listed(&url)
        .into_iter()
        .find(|k| *k != old_kid)
        .expect("the new key is listed");
    let (code, _, err) = with_server(&["policy", "trust", "remove", &old_kid]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = with_server(&["policy", "trust", "remove", &new_kid]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("trust_key_in_use"), "{err}");
    assert_eq!(listed(&url), [new_kid]);
}
