//! The stdio upstream of `writ gateway mcp`, contained (issue 12, finding 12): through the real
//! binary, a real `writ serve`, and MCP servers built on the official SDKs. A hostile server
//! (tests/interop/probe_server.py) tries to read its gateway's environment, command line,
//! memory, key, token and pin files, to rewrite them, to signal the gateway and to leave a
//! process behind; a real npm server still runs under the default rules.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::serve::{Served, activate};

const BIN: &str = env!("CARGO_BIN_EXE_writ");

/// How long an answer may take before the test gives up (a hang guard, never a verdict).
const PATIENCE: Duration = Duration::from_secs(60);

/// Every agent may call every tool: these tests are about containment, not policy.
pub(crate) const POLICIES: &str = r#"
@id("any-tool")
@reason("the containment tests call every tool")
permit (principal is Agent, action == Action::"call_tool", resource);
"#;

pub(crate) fn python() -> Option<PathBuf> {
    let p = std::env::var_os("WRIT_TEST_PYTHON").map(PathBuf::from);
    if p.is_none() {
        println!("skipped: WRIT_TEST_PYTHON not set (run scripts/test.sh)");
    }
    p
}

pub(crate) fn probe_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/interop/probe_server.py")
        .canonicalize()
        .unwrap()
}

fn private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn writ_json(args: &[&str]) -> Value {
    let out = Command::new(BIN)
        .args(args)
        .args(["--format", "json"])
        .env_remove("WRIT_TOKEN")
        .env_remove("WRIT_SERVER")
        .env_remove("WRIT_TOKEN_FILE")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "writ {args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// A signed bundle: the default schema and entities with `policies`.
pub(crate) fn bundle(dir: &Path, policies: &str) {
    let default = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy/default");
    std::fs::create_dir_all(dir).unwrap();
    let mut files = std::collections::BTreeMap::new();
    for name in ["writ.cedarschema", "entities.json"] {
        files.insert(name.to_owned(), std::fs::read(default.join(name)).unwrap());
    }
    files.insert("policies.cedar".to_owned(), policies.as_bytes().to_vec());
    for (name, bytes) in &files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let source = writ_authorize::BundleSource::from_files(files).unwrap();
    let compiled = writ_authorize::compile(&source).unwrap();
    let sig = writ_authorize::BundleSigningKey::from_seed([9; 32]).sign(compiled.digest());
    std::fs::write(dir.join("bundle.sig"), sig.to_json()).unwrap();
}

/// A control plane with an agent and a gate registered, and their secrets in files.
pub(crate) struct Setup {
    pub(crate) served: Option<Served>,
    pub(crate) url: String,
    dir: PathBuf,
    pub(crate) key: PathBuf,
    pub(crate) agent_token: PathBuf,
    pub(crate) gate_token: PathBuf,
}

impl Setup {
    pub(crate) fn start(dir: &Path) -> Setup {
        Setup::start_with(dir, &[])
    }

    /// [`Setup::start`] with `env` added to `writ serve`'s environment.
    pub(crate) fn start_with(dir: &Path, env: &[(&str, &str)]) -> Setup {
        let served = Served::start_with(&dir.join("data"), true, None, env);
        let mut setup = Setup::provision(&served.url, &dir.join("data/admin.token"), dir, POLICIES);
        setup.served = Some(served);
        setup
    }

    /// Provisions the control plane at `url` (admin token in `admin`): a bundle of `policies`,
    /// `agent:probe-agent` and `gate:probe`, their secrets in files under `dir`.
    pub(crate) fn provision(url: &str, admin: &Path, dir: &Path, policies: &str) -> Setup {
        let url = url.to_owned();
        let admin = admin.to_str().unwrap();
        let bundle_dir = dir.join("bundle");
        bundle(&bundle_dir, policies);
        activate(&url, admin, &bundle_dir);
        let server = ["--control-plane", &url, "--token-file", admin];
        let mut args = vec!["principal", "add", "agent:probe-agent", "--zone", "dev"];
        args.extend(server);
        let agent = writ_json(&args);
        let key = dir.join("gate.key");
        let kg = writ_json(&["gate", "keygen", key.to_str().unwrap()]);
        let public = kg["public_key"].as_str().unwrap();
        let mut args = vec!["gate", "add", "gate:probe", "--zone", "dev"];
        args.extend(["--public-key", public]);
        args.extend(server);
        let gate = writ_json(&args);
        let agent_token = dir.join("agent.token");
        let gate_token = dir.join("gate.token");
        private(&agent_token, agent["token"].as_str().unwrap());
        private(&gate_token, gate["token"].as_str().unwrap());
        Setup {
            served: None,
            url,
            dir: dir.to_path_buf(),
            key,
            agent_token,
            gate_token,
        }
    }

    pub(crate) fn pins(&self) -> PathBuf {
        self.dir.join("pins.json")
    }

    /// Pins the tools of `command` as server `server` (the operator's approve step).
    pub(crate) fn pin(&self, server: &str, command: &[String]) {
        let out = Command::new(BIN)
            .args(["gateway", "mcp", "pin", "--upstream-name", server, "--out"])
            .arg(self.pins())
            .arg("--")
            .args(command)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pin: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts `writ gateway mcp` over stdio in front of `command`, with `extra` flags; its
    /// stderr goes to a file.
    fn gateway(&self, server: &str, extra: &[&str], command: &[String]) -> Gateway {
        self.gateway_at(&self.url, &self.agent_token, server, extra, command)
    }

    /// [`Setup::gateway`] attached to the control plane at `url`, for the agent whose token is
    /// in `agent_token`.
    pub(crate) fn gateway_at(
        &self,
        url: &str,
        agent_token: &Path,
        server: &str,
        extra: &[&str],
        command: &[String],
    ) -> Gateway {
        self.gateway_with(
            &["--control-plane", url],
            agent_token,
            server,
            extra,
            command,
        )
    }

    /// [`Setup::gateway`] with `plane` naming its control plane (`--control-plane URL` or
    /// `--embedded-plane DIR`).
    pub(crate) fn gateway_with(
        &self,
        plane: &[&str],
        agent_token: &Path,
        server: &str,
        extra: &[&str],
        command: &[String],
    ) -> Gateway {
        let mut r = [0u8; 4];
        getrandom::fill(&mut r).unwrap();
        let stderr = self
            .dir
            .join(format!("gateway-{server}-{}.stderr", hex::encode(r)));
        let mut cmd = Command::new(BIN);
        cmd.args(["gateway", "mcp", "--upstream-name", server, "--pins"])
            .arg(self.pins())
            .args(plane)
            .args(["--gate-id", "gate:probe"])
            .args(["--zone", "dev", "--gate-key"])
            .arg(&self.key)
            .arg("--token-file")
            .arg(agent_token)
            .arg("--gate-token-file")
            .arg(&self.gate_token)
            .args(extra)
            .arg("--")
            .args(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap());
        for (k, _) in std::env::vars_os() {
            if k.to_str().is_some_and(|k| k.starts_with("WRIT_")) {
                cmd.env_remove(k);
            }
        }
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut gw = Gateway {
            child,
            stdin: Some(stdin),
            lines: rx,
            stderr,
            next: 1,
        };
        let init = gw.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "upstream-test", "version": "1"}}),
        );
        assert!(init.get("result").is_some(), "{init}\n{}", gw.stderr());
        gw.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        gw
    }
}

/// A running `writ gateway mcp` and its client side.
pub(crate) struct Gateway {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr: PathBuf,
    next: u64,
}

impl Gateway {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn send(&mut self, msg: &Value) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{msg}").unwrap();
        stdin.flush().unwrap();
    }

    /// Sends a request; returns its id.
    fn start(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next;
        self.next += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        id
    }

    /// [`Gateway::request`], for a gateway that may be gone: `None` once it cannot be written
    /// to or its output ended.
    fn try_request(&mut self, method: &str, params: Value) -> Option<Value> {
        let id = self.next;
        self.next += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let stdin = self.stdin.as_mut()?;
        writeln!(stdin, "{msg}").and_then(|()| stdin.flush()).ok()?;
        self.answer(id, method)
    }

    pub(crate) fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.start(method, params);
        self.answer(id, method).unwrap_or_else(|| {
            panic!(
                "no answer to {method} (the gateway's output ended): {}",
                self.stderr()
            )
        })
    }

    /// The answer to request `id`; `None` when the gateway's output ends first.
    fn answer(&mut self, id: u64, method: &str) -> Option<Value> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let msg: Value = serde_json::from_str(&line).unwrap();
                    if msg["id"] == json!(id) {
                        return Some(msg);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(e) => panic!("no answer to {method} ({e}): {}", self.stderr()),
            }
        }
    }

    /// Calls a probe tool; returns the text it answered.
    fn call(&mut self, tool: &str, arguments: Value) -> String {
        let answer = self.request("tools/call", json!({"name": tool, "arguments": arguments}));
        let text = answer["result"]["content"][0]["text"].as_str();
        text.unwrap_or_else(|| panic!("{tool}: {answer}\n{}", self.stderr()))
            .to_owned()
    }

    /// Waits (bounded) for the gateway to exit; its exit code, or `None` if it did not.
    /// The client leaves (its end of stdin closes): the gateway must end on its own, with
    /// status 0, well within a minute.
    fn ends_when_left(&mut self) {
        drop(self.stdin.take());
        assert_eq!(
            self.wait_exit(Duration::from_secs(60)),
            Some(Some(0)),
            "the gateway did not end when its client left: {}",
            self.stderr()
        );
    }

    fn wait_exit(&mut self, limit: Duration) -> Option<Option<i32>> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st.code());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // The client leaves: the gateway stops its upstream and removes its TMPDIR.
        drop(self.stdin.take());
        let _ = self.wait_exit(Duration::from_secs(20));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn probe_command(py: &Path, marker: &str) -> Vec<String> {
    vec![
        py.display().to_string(),
        probe_script().display().to_string(),
        "--marker".into(),
        marker.into(),
    ]
}

pub(crate) fn unique_marker() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("writ-probe-{}-{nanos}", std::process::id())
}

/// Processes (of any namespace) whose command line holds `marker`.
fn processes_with(marker: &str) -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline"))
            && String::from_utf8_lossy(&cmdline).contains(marker)
        {
            out.insert(pid);
        }
    }
    out
}

/// The parent of a process, from `/proc/PID/stat`.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(1)?.parse().ok()
}

fn descends_from(mut pid: u32, ancestor: u32) -> bool {
    for _ in 0..64 {
        match parent_of(pid) {
            Some(p) if p == ancestor => return true,
            Some(p) if p > 1 => pid = p,
            _ => return false,
        }
    }
    false
}

// Regression (issue 12, finding 12): the stdio upstream ran as a plain child of the gateway,
// with the gateway's user and view of the filesystem and processes: it could read the gateway's
// command line (`--gate-key` path and the rest), the gate key, both token files and the pin
// file, rewrite the pin file and the key, and end the gateway with a signal.
#[test]
fn the_stdio_upstream_cannot_read_signal_or_rewrite_its_gateway() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let s = Setup::start(tmp.path());
    let command = probe_command(&py, &unique_marker());
    s.pin("probe", &command);
    let pins_before = std::fs::read(s.pins()).unwrap();
    let key_before = std::fs::read(&s.key).unwrap();
    let secrets: Vec<String> = [&s.key, &s.agent_token, &s.gate_token]
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap().trim().to_owned())
        .collect();
    let mut gw = s.gateway("probe", &[], &command);
    let gw_pid = gw.pid();

    // Controls: the probe works, and may do what a server needs.
    let who = gw.call("whoami", json!({}));
    let ppid: u32 = who.rsplit(' ').next().unwrap().parse().unwrap();
    let own = gw.call("read", json!({"path": "/proc/self/status"}));
    assert!(own.starts_with("ok "), "{own}");
    let script = gw.call("read", json!({"path": probe_script()}));
    assert!(script.starts_with("ok "), "{script}");
    let tmpfile = gw.call("write_tmp", json!({"text": "scratch"}));
    assert!(tmpfile.starts_with("ok "), "{tmpfile}");

    // The gateway's own entries; the parent the upstream sees (its namespace's init, which
    // holds no secret) may show its command line, never its environment or memory.
    let mut leaks = Vec::new();
    if ppid == gw_pid {
        leaks.push(format!("the upstream's parent is the gateway: {who}"));
    }
    let mut targets: Vec<String> = ["environ", "cmdline", "maps", "status"]
        .iter()
        .map(|what| format!("/proc/{gw_pid}/{what}"))
        .collect();
    targets.push(format!("/proc/{ppid}/environ"));
    let hidden = [&s.key, &s.agent_token, &s.gate_token, &s.pins()];
    let leaked = |got: &str| {
        secrets.iter().any(|x| got.contains(x.as_str()))
            || hidden.iter().any(|p| got.contains(p.to_str().unwrap()))
    };
    for path in &targets {
        let got = gw.call("read", json!({"path": path}));
        if !got.starts_with("error") || leaked(&got) {
            leaks.push(format!(
                "read {path}: {}",
                got.chars().take(120).collect::<String>()
            ));
        }
    }
    let init_cmdline = gw.call("read", json!({"path": format!("/proc/{ppid}/cmdline")}));
    if leaked(&init_cmdline) {
        leaks.push(format!("read /proc/{ppid}/cmdline: {init_cmdline}"));
    }
    // Writ's files: nothing of them can be read (an error, or an empty file in their place).
    for f in hidden {
        let got = gw.call("read", json!({"path": f}));
        if !(got.starts_with("error") || got == "ok 0 ") || leaked(&got) {
            leaks.push(format!(
                "read {}: {}",
                f.display(),
                got.chars().take(120).collect::<String>()
            ));
        }
    }
    for pid in [gw_pid, ppid] {
        let got = gw.call("read_mem", json!({"pid": pid}));
        if !got.starts_with("error") {
            leaks.push(format!("memory of {pid}: {got}"));
        }
    }
    // Rewriting them changes nothing (checked below, once the probe is done).
    for f in [s.pins(), s.key.clone()] {
        gw.call("write", json!({"path": f, "text": "{}"}));
    }
    assert!(
        leaks.is_empty(),
        "the upstream reached its gateway:\n{}",
        leaks.join("\n")
    );
    let killed = gw.call("kill", json!({"pid": gw_pid}));
    assert!(
        killed.starts_with("error"),
        "signalled the gateway: {killed}"
    );

    // The gateway is still there and still serving; its files are as they were.
    let again = gw.call("whoami", json!({}));
    assert!(again.starts_with("pid "), "{again}");
    assert_eq!(std::fs::read(s.pins()).unwrap(), pins_before);
    assert_eq!(std::fs::read(&s.key).unwrap(), key_before);
}

// Regression (issue 12, finding 12; finding 4 for upstreams): the upstream and what it started
// were plain processes of the gateway's session: a process the upstream started in a session of
// its own lived on after the gateway was SIGKILLed.
#[test]
fn no_upstream_process_outlives_a_sigkilled_gateway() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let s = Setup::start(tmp.path());
    let marker = unique_marker();
    let command = probe_command(&py, &marker);
    s.pin("probe", &command);
    let mut gw = s.gateway("probe", &[], &command);
    let lingered = gw.call("linger", json!({"marker": marker}));
    assert!(lingered.starts_with("ok "), "{lingered}");
    let before = processes_with(&marker);
    assert!(
        before.len() >= 2,
        "server and its lingering child: {before:?}"
    );

    let gw_pid = gw.pid();
    gw.child.kill().unwrap();
    gw.child.wait().unwrap();
    // A SIGKILLed gateway cannot remove its upstream's TMPDIR: this test does.
    let prefix = format!("writ-upstream-{gw_pid}-");
    for e in std::fs::read_dir(std::env::temp_dir()).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut left = processes_with(&marker);
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        left = processes_with(&marker);
    }
    for pid in &left {
        // Ours to clean up: they carry this test's marker.
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    assert!(left.is_empty(), "outlived the SIGKILLed gateway: {left:?}");
}

// Regression: when the upstream ended while the client stayed connected, the gateway stopped
// relaying but never exited (a thread kept waiting on its stdin), and said nothing.
#[test]
fn the_gateway_ends_when_its_upstream_ends_while_the_client_stays() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let s = Setup::start(tmp.path());
    let command = probe_command(&py, &unique_marker());
    s.pin("probe", &command);
    let mut gw = s.gateway("probe", &[], &command);
    assert!(gw.call("whoami", json!({})).starts_with("pid "));
    let id = gw.start(
        "tools/call",
        json!({"name": "exit", "arguments": {"code": 3}}),
    );
    // The client's end of stdin stays open: only the upstream went away.
    let code = gw.wait_exit(Duration::from_secs(30));
    let err = gw.stderr();
    assert!(
        matches!(code, Some(Some(c)) if c != 0),
        "exit {code:?}:\n{err}"
    );
    assert!(err.contains("upstream_ended"), "{err}");
    // The call in flight was answered, not left waiting.
    let answer = gw
        .lines
        .try_iter()
        .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
        .find(|m| m["id"] == json!(id));
    let answer = answer.unwrap_or_else(|| panic!("the call in flight got no answer:\n{err}"));
    assert_eq!(
        answer["error"]["data"]["reason_code"], "upstream_ended",
        "{answer}"
    );
}

// The default rules are enough for a real npm server: the official
// `@modelcontextprotocol/server-everything`, started through its node_modules/.bin link, runs
// contained (its own PID namespace) and answers tools/list and a call through the gateway.
#[test]
fn a_node_server_runs_contained_under_the_default_rules() {
    let Some(modules) = std::env::var_os("WRIT_TEST_NODE_MODULES").map(PathBuf::from) else {
        println!("skipped: WRIT_TEST_NODE_MODULES not set (run scripts/test.sh)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let s = Setup::start(tmp.path());
    let command = vec![
        modules
            .join(".bin/mcp-server-everything")
            .display()
            .to_string(),
    ];
    s.pin("everything", &command);
    let mut gw = s.gateway("everything", &[], &command);
    let listed = gw.request("tools/list", json!({}));
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}\n{}", gw.stderr()))
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"echo"), "{names:?}");
    let echoed = gw.call("echo", json!({"message": "contained"}));
    assert!(echoed.contains("contained"), "{echoed}");

    let own_ns = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let launcher = processes_with("__sandbox");
    let servers: Vec<u32> = processes_with("server-everything")
        .into_iter()
        .filter(|p| !launcher.contains(p) && descends_from(*p, gw.pid()))
        .collect();
    assert!(!servers.is_empty(), "no server process under the gateway");
    for pid in servers {
        let ns = std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
        assert_ne!(
            ns, own_ns,
            "the server {pid} shares the gateway's PID namespace"
        );
    }
}

/// When a crash test's trial `trial` kills: 0 to 4 ms after the answer to call 20 to 59, drawn
/// from `seed`.
fn kill_plan(seed: [u8; 8], trial: u64) -> (u64, Duration) {
    let pick = u64::from_le_bytes(seed).rotate_left(8 * trial as u32);
    (20 + pick % 40, Duration::from_micros((pick >> 8) % 4000))
}

/// Kills `pid` with SIGKILL after `delay`, on a thread of its own.
fn kill_later(pid: u32, delay: Duration) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    })
}

/// A probe server pinned on a provisioned control plane: (setup, probe command, agent token).
fn probed(tmp: &Path) -> Option<(Setup, Vec<String>, String)> {
    let py = python()?;
    let s = Setup::start(tmp);
    let command = probe_command(&py, &unique_marker());
    s.pin("probe", &command);
    let agent = std::fs::read_to_string(&s.agent_token).unwrap();
    Some((s, command, agent))
}

// Issue 19, acceptance 3: on the governed call's path (client → `writ gateway mcp` → control
// plane → ledger → upstream), a call whose answer reached the client had its decision durable
// first. The control plane is SIGKILLed while one client calls through the gateway as fast as
// it can, a few milliseconds after a random answer; after the restart, every execution the
// client was answered for proves its allow decision at the ledger index the answer named.
#[test]
fn every_call_answered_through_the_gateway_keeps_its_decision_across_a_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let Some((mut s, command, agent)) = probed(tmp.path()) else {
        return;
    };
    let mut answered: Vec<(String, u64)> = Vec::new();
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).unwrap();
    for trial in 0..3u64 {
        let mut gw = s.gateway("probe", &[], &command);
        let mut served = s.served.take().unwrap();
        let (kill_after, delay) = kill_plan(seed, trial);
        let mut killer = None;
        let mut refused = 0;
        for n in 0..(kill_after + 200) {
            let answer = gw.request("tools/call", json!({"name": "whoami", "arguments": {}}));
            match answer["result"]["_meta"]["dev.writ/execution"].as_object() {
                Some(meta) => {
                    let execution = meta["execution"].as_str().unwrap().to_owned();
                    answered.push((execution, meta["ledger_index"].as_u64().unwrap()));
                }
                None => {
                    assert!(
                        killer.is_some(),
                        "call {n} refused before the kill: {answer}"
                    );
                    refused += 1;
                    if refused == 3 {
                        break;
                    }
                }
            }
            if n == kill_after {
                killer = Some(kill_later(served.child.id(), delay));
            }
        }
        killer.unwrap().join().unwrap();
        served.child.wait().unwrap();
        drop(served);
        assert_eq!(
            refused, 3,
            "trial {trial}: calls still answered after the kill"
        );
        drop(gw);
        let restarted = Served::start(&data, false);
        proves_each_answered(&restarted, agent.trim(), &answered);
        println!("trial {trial}: killed {delay:?} after call {kill_after}");
        s.url = restarted.url.clone();
        s.served = Some(restarted);
    }
}

/// [`probed`], with the provisioning control plane stopped: its data directory (returned) is
/// left for a gateway to embed.
fn embedding(tmp: &Path) -> Option<(Setup, Vec<String>, String, PathBuf)> {
    let (mut s, command, agent) = probed(tmp)?;
    drop(s.served.take());
    Some((s, command, agent, tmp.join("data")))
}

impl Setup {
    /// [`Setup::gateway`] with its control plane embedded, on the data directory `data`.
    fn embedded_gateway(&self, data: &Path, extra: &[&str], command: &[String]) -> Gateway {
        let plane = ["--embedded-plane", data.to_str().unwrap()];
        self.gateway_with(&plane, &self.agent_token, "probe", extra, command)
    }
}

/// `writ gateway mcp --embedded-plane DIR`: the control plane in the gateway's own process, on
/// a data directory a `writ serve` provisioned (and left). Each call is governed as through a
/// separate control plane (a writ, then the pinned tool); while the gateway runs no other
/// control plane can open the directory; afterwards `writ serve` proves every answered call's
/// decision from the ledger the gateway wrote.
#[test]
fn a_gateway_with_an_embedded_control_plane_governs_and_records_each_call() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((s, command, agent, data)) = embedding(tmp.path()) else {
        return;
    };
    let data_arg = data.to_str().unwrap();
    // The upstream may read the whole temporary directory, the data directory in it included:
    // only the gateway's hiding keeps the control plane's files from it.
    let fs_read = ["--fs-read", tmp.path().to_str().unwrap()];
    let mut gw = s.embedded_gateway(&data, &fs_read, &command);
    let mut answered = Vec::new();
    for n in 0..5 {
        let answer = gw.request("tools/call", json!({"name": "whoami", "arguments": {}}));
        answered.push(
            answered_call(&answer).unwrap_or_else(|| panic!("call {n} was not answered: {answer}")),
        );
    }
    // The embedded control plane's data directory (admin token, keys, ledger) is hidden from
    // the upstream like the gateway's own files; a file beside it is not (the control).
    let beside = tmp.path().join("beside.txt");
    std::fs::write(&beside, "readable").unwrap();
    let got = gw.call("read", json!({"path": beside}));
    assert!(got.contains("readable"), "{got}");
    let admin = data.join("admin.token");
    let admin_token = std::fs::read_to_string(&admin).unwrap();
    for f in [admin, data.join("ledger/ledger.db")] {
        let got = gw.call("read", json!({"path": f}));
        assert!(
            (got.starts_with("error") || got == "ok 0 ") && !got.contains(admin_token.trim()),
            "the upstream read {}: {}",
            f.display(),
            got.chars().take(120).collect::<String>()
        );
    }
    let (code, _, err) =
        crate::serve::writ(&["serve", "--data-dir", data_arg, "--listen", "127.0.0.1:0"]);
    assert_ne!(
        code, 0,
        "a second control plane opened the gateway's data directory"
    );
    assert!(err.contains("is in use by process"), "{err}");
    // When its client leaves, the gateway ends on its own, its control plane with it (whose
    // API the gateway's own event stream holds open until then).
    gw.ends_when_left();
    drop(gw);
    let restarted = Served::start(&data, false);
    proves_each_answered(&restarted, agent.trim(), &answered);
}

/// An event stream open on the embedded control plane's API (a console's, say) never ends by
/// itself: it does not keep the gateway alive once its client has left. The gateway closes it
/// after a grace and ends.
#[test]
fn a_gateway_with_an_embedded_plane_ends_with_an_event_stream_still_open() {
    use std::io::Read;
    let tmp = tempfile::tempdir().unwrap();
    let Some((s, command, _agent, data)) = embedding(tmp.path()) else {
        return;
    };
    let mut gw = s.embedded_gateway(&data, &[], &command);
    let answer = gw.request("tools/call", json!({"name": "whoami", "arguments": {}}));
    assert!(answered_call(&answer).is_some(), "{answer}");
    let stderr = gw.stderr();
    let addr = stderr
        .lines()
        .find_map(|l| l.strip_prefix("writ gateway: embedded control plane on http://"))
        .unwrap_or_else(|| panic!("no API address: {stderr}"))
        .trim()
        .to_owned();
    let admin = std::fs::read_to_string(data.join("admin.token")).unwrap();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "GET /v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\r\n",
        admin.trim()
    )
    .unwrap();
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).unwrap();
    let head = String::from_utf8_lossy(head.get(..n).unwrap_or_default()).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    gw.ends_when_left();
    let stderr = gw.stderr();
    assert!(stderr.contains("still had open connections"), "{stderr}");
}

/// The control plane `served` proves, for each (execution, ledger index) a client was answered
/// for, the allow decision at that index.
fn proves_each_answered(served: &Served, agent: &str, answered: &[(String, u64)]) {
    println!(
        "proving the decision of each of {} answered calls",
        answered.len()
    );
    let client = crate::serve::http();
    for (execution, index) in answered {
        crate::serve::proves_allow_decision(
            &client,
            &served.url,
            agent,
            &served.vkey,
            execution,
            *index,
        );
    }
}

/// The execution and ledger index of an allowed call's answer; `None` for any other answer.
fn answered_call(answer: &Value) -> Option<(String, u64)> {
    let meta = answer["result"]["_meta"]["dev.writ/execution"].as_object()?;
    Some((
        meta["execution"].as_str()?.to_owned(),
        meta["ledger_index"].as_u64()?,
    ))
}

/// The crash test of the embedded control plane: the gateway that holds it is killed with
/// SIGKILL 0 to 4 ms after the answer to call 20 to 59, three times over the same data
/// directory; after each, `writ serve` proves the decision of every call the client was
/// answered for (a writ leaves the process only once its decision is durable).
#[test]
fn every_call_answered_by_a_gateway_with_an_embedded_plane_keeps_its_decision_across_a_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((s, command, agent, data)) = embedding(tmp.path()) else {
        return;
    };
    let mut answered: Vec<(String, u64)> = Vec::new();
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).unwrap();
    for trial in 0..3u64 {
        let mut gw = s.embedded_gateway(&data, &[], &command);
        let (kill_after, delay) = kill_plan(seed, trial);
        let mut killer = None;
        for n in 0..(kill_after + 10_000) {
            let Some(answer) =
                gw.try_request("tools/call", json!({"name": "whoami", "arguments": {}}))
            else {
                break;
            };
            match answered_call(&answer) {
                Some(call) => answered.push(call),
                None => assert!(
                    killer.is_some(),
                    "call {n} refused before the kill: {answer}"
                ),
            }
            if n == kill_after {
                killer = Some(kill_later(gw.pid(), delay));
            }
        }
        killer
            .expect("the gateway ended before the kill")
            .join()
            .unwrap();
        drop(gw);
        let restarted = Served::start(&data, false);
        proves_each_answered(&restarted, agent.trim(), &answered);
        println!("trial {trial}: killed {delay:?} after call {kill_after}");
    }
}

/// `--embedded-plane` refuses what it cannot serve, before any upstream starts: a directory
/// that holds no Writ data, and a `--control-plane` beside it (two control planes).
#[test]
fn an_embedded_plane_needs_a_data_directory_and_no_other_control_plane() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((s, command, _agent, data)) = embedding(tmp.path()) else {
        return;
    };
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let run = |plane: &[&str]| {
        let pins = s.pins();
        let mut args = vec!["gateway", "mcp", "--upstream-name", "probe", "--pins"];
        args.push(pins.to_str().unwrap());
        args.extend_from_slice(plane);
        args.extend(["--gate-id", "gate:probe", "--zone", "dev", "--gate-key"]);
        args.push(s.key.to_str().unwrap());
        args.extend(["--token-file", s.agent_token.to_str().unwrap()]);
        args.extend(["--gate-token-file", s.gate_token.to_str().unwrap(), "--"]);
        args.extend(command.iter().map(String::as_str));
        crate::serve::writ(&args)
    };
    let (code, _, err) = run(&["--embedded-plane", empty.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("not a Writ data directory"), "{err}");
    assert!(err.contains("writ serve --init"), "{err}");
    let (code, _, err) = run(&[
        "--embedded-plane",
        data.to_str().unwrap(),
        "--control-plane",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("--control-plane"), "{err}");
}
