//! The logs of `writ serve`, `writ exec` and `writ gateway mcp` (issue 14, "Logs"): each
//! decision and each governed call is logged once, with the fields `execution`, `principal`,
//! `action`, `resource`, `decision`, `reason_code`, `latency_ms`, in text and in JSON, and no
//! token, writ or argument value ever reaches a log.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::serve::{Served, activate, signed_bundle_dir};

const BIN: &str = env!("CARGO_BIN_EXE_writ");

/// The fields of a decision line and of a governed-call line, besides the message.
const CALL_FIELDS: [&str; 7] = [
    "execution",
    "principal",
    "action",
    "resource",
    "decision",
    "reason_code",
    "latency_ms",
];

/// A served control plane with its logs in a file, an active bundle, an agent and a gate.
pub(crate) struct Provisioned {
    pub(crate) served: Served,
    pub(crate) dir: PathBuf,
    pub(crate) serve_log: PathBuf,
    pub(crate) admin_token: String,
    pub(crate) agent_token: String,
    pub(crate) agent_file: PathBuf,
    pub(crate) gate_token: String,
    pub(crate) gate_file: PathBuf,
    pub(crate) gate_key: PathBuf,
    pub(crate) gate_id: &'static str,
    pub(crate) zone: &'static str,
}

fn private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}

/// Runs `writ ARGS --format json` and returns its JSON output.
fn writ_json(args: &[&str]) -> Value {
    let out = Command::new(BIN)
        .args(args)
        .args(["--format", "json"])
        .env_remove("WRIT_TOKEN")
        .env_remove("WRIT_SERVER")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "writ {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

impl Provisioned {
    /// Starts `writ serve --init` in `dir` with `WRIT_LOG_FORMAT=log_format`, activates the
    /// default bundle, and registers `agent:log-bot` and `gate:runner` (zone dev).
    pub(crate) fn start(dir: &Path, log_format: &str) -> Provisioned {
        let serve_log = dir.join("serve.log");
        let served = Served::start_with(
            &dir.join("data"),
            true,
            Some(&format!("exec 2>>'{}'", serve_log.display())),
            &[("WRIT_LOG_FORMAT", log_format), ("WRIT_LOG", "info")],
        );
        let url = served.url.clone();
        let admin_file = dir.join("data/admin.token");
        let admin_token = std::fs::read_to_string(&admin_file)
            .unwrap()
            .trim()
            .to_owned();
        signed_bundle_dir(&dir.join("bundle"));
        activate(&url, admin_file.to_str().unwrap(), &dir.join("bundle"));
        let admin = [
            "--control-plane",
            &url,
            "--token-file",
            admin_file.to_str().unwrap(),
        ];
        let mut args = vec!["principal", "add", "agent:log-bot", "--zone", "dev"];
        args.extend(admin);
        let agent_token = writ_json(&args)["token"].as_str().unwrap().to_owned();
        let gate_key = dir.join("gate.key");
        let key = writ_json(&["gate", "keygen", gate_key.to_str().unwrap()]);
        let public = key["public_key"].as_str().unwrap();
        let mut args = vec![
            "gate",
            "add",
            "gate:runner",
            "--zone",
            "dev",
            "--public-key",
            public,
        ];
        args.extend(admin);
        let gate_token = writ_json(&args)["token"].as_str().unwrap().to_owned();
        let agent_file = dir.join("agent.token");
        private(&agent_file, &agent_token);
        let gate_file = dir.join("gate.token");
        private(&gate_file, &gate_token);
        Provisioned {
            served,
            dir: dir.to_owned(),
            serve_log,
            admin_token,
            agent_token,
            agent_file,
            gate_token,
            gate_file,
            gate_key,
            gate_id: "gate:runner",
            zone: "dev",
        }
    }

    /// `writ exec` as agent:log-bot through gate:runner, with the given overrides of its
    /// settings (flag, value) and environment; returns (exit code, stderr).
    pub(crate) fn exec(
        &self,
        log_format: &str,
        overrides: &[(&str, &str)],
        command: &[&str],
    ) -> (i32, String) {
        let mut settings = vec![
            ("--control-plane", self.served.url.clone()),
            ("--token-file", self.agent_file.display().to_string()),
            ("--gate-id", self.gate_id.to_owned()),
            ("--gate-key", self.gate_key.display().to_string()),
            ("--gate-token-file", self.gate_file.display().to_string()),
            ("--zone", self.zone.to_owned()),
        ];
        for (flag, value) in overrides {
            if let Some(s) = settings.iter_mut().find(|(f, _)| f == flag) {
                s.1 = (*value).to_owned();
            }
        }
        let mut cmd = Command::new(BIN);
        // JSON through the environment, text through the global flag: both forms are used.
        if log_format == "json" {
            cmd.env("WRIT_LOG_FORMAT", "json");
        } else {
            cmd.args(["--log-format", log_format]);
        }
        cmd.args(["exec", "--as", "agent:log-bot"]);
        for (flag, value) in &settings {
            cmd.arg(flag).arg(value);
        }
        cmd.args(["--allow-uncontained", "--timeout", "3", "--"])
            .args(command)
            .current_dir(&self.dir);
        for v in [
            "WRIT_TOKEN",
            "WRIT_TOKEN_FILE",
            "WRIT_GATE_TOKEN",
            "WRIT_GATE_TOKEN_FILE",
            "WRIT_SERVER",
            "WRIT_LOG",
            "RUST_LOG",
        ] {
            cmd.env_remove(v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn serve_log(&self) -> String {
        std::fs::read_to_string(&self.serve_log).unwrap()
    }

    fn secrets(&self) -> [&str; 3] {
        [&self.admin_token, &self.agent_token, &self.gate_token]
    }
}

/// The JSON log lines of `text` with `target`.
fn json_lines(text: &str, target: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == target)
        .collect()
}

/// Checks a JSON call or decision line: exactly the seven fields and the message.
fn assert_fields(line: &Value, decision: &str, action: &str, resource: &str) {
    let fields = line["fields"].as_object().unwrap();
    let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
    names.sort_unstable();
    let mut want: Vec<&str> = CALL_FIELDS.to_vec();
    want.push("message");
    want.sort_unstable();
    assert_eq!(names, want, "{line}");
    assert_eq!(fields["decision"], decision, "{line}");
    assert_eq!(fields["principal"], "agent:log-bot", "{line}");
    assert_eq!(fields["action"], action, "{line}");
    assert_eq!(fields["resource"], resource, "{line}");
    assert!(fields["latency_ms"].is_u64(), "{line}");
    assert!(
        fields["execution"].as_str().unwrap().len() == 36,
        "execution id: {line}"
    );
    assert!(
        !fields["reason_code"].as_str().unwrap().is_empty(),
        "{line}"
    );
}

/// The canaries: none may appear in any log.
fn assert_no_canary(logs: &[&str], canaries: &[&str]) {
    for log in logs {
        for c in canaries {
            assert!(!log.contains(c), "{c:?} reached a log:\n{log}");
        }
    }
}

/// Regression (issue 14): `writ serve` installed no log subscriber, so no request, decision
/// or failure was ever logged; `writ exec` logged nothing either.
#[test]
fn decisions_and_calls_are_logged_once_in_json_and_text_without_secrets() {
    for format in ["json", "text"] {
        let tmp = tempfile::tempdir().unwrap();
        let p = Provisioned::start(tmp.path(), format);
        let canary_arg = "canary-argument-value-7f3a";
        // Allowed: git may run anywhere (policy git-anywhere).
        let (code, allowed) = p.exec(
            format,
            &[],
            &[
                "/usr/bin/git",
                "-c",
                &format!("user.name={canary_arg}"),
                "--version",
            ],
        );
        assert_eq!(code, 0, "{allowed}");
        // Denied: nothing permits env in zone dev.
        let (code, denied) = p.exec(format, &[], &["/usr/bin/env", canary_arg]);
        // Denied, so not run: 120 + 2.
        assert_eq!(code, 122, "{denied}");
        let serve = p.serve_log();
        let mut canaries = p.secrets().to_vec();
        canaries.push(canary_arg);
        assert_no_canary(&[&serve, &allowed, &denied], &canaries);
        let git = "cmd:/usr/bin/git";
        let env = "cmd:/usr/bin/env";
        if format == "json" {
            let decisions = json_lines(&serve, "writ::decision");
            assert_eq!(decisions.len(), 2, "one line per decision:\n{serve}");
            assert_fields(&decisions[0], "allow", "exec", git);
            assert_fields(&decisions[1], "deny", "exec", env);
            let calls = json_lines(&allowed, "writ::call");
            assert_eq!(calls.len(), 1, "one line per call:\n{allowed}");
            assert_fields(&calls[0], "allow", "exec", git);
            assert_eq!(
                calls[0]["fields"]["execution"],
                decisions[0]["fields"]["execution"]
            );
            // One code for an allowed call, on the control plane's line and the gate's.
            assert_eq!(decisions[0]["fields"]["reason_code"], "policy_permit");
            assert_eq!(
                calls[0]["fields"]["reason_code"],
                decisions[0]["fields"]["reason_code"]
            );
            let calls = json_lines(&denied, "writ::call");
            assert_eq!(calls.len(), 1, "one line per call:\n{denied}");
            assert_fields(&calls[0], "deny", "exec", env);
            assert_eq!(
                calls[0]["fields"]["reason_code"],
                decisions[1]["fields"]["reason_code"]
            );
            // Every request is logged with its route template and status.
            let access = json_lines(&serve, "writ::access");
            assert!(
                access.iter().any(
                    |l| l["fields"]["route"] == "/v1/authorize" && l["fields"]["status"] == 200
                ),
                "{serve}"
            );
            assert!(
                access
                    .iter()
                    .any(|l| l["fields"]["route"] == "/v1/authorize"
                        && l["fields"]["status"] == 403
                        && l["fields"]["reason_code"] == decisions[1]["fields"]["reason_code"]),
                "{serve}"
            );
        } else {
            for (log, decision, resource) in [
                (&serve, "allow", git),
                (&serve, "deny", env),
                (&allowed, "allow", git),
                (&denied, "deny", env),
            ] {
                let lines: Vec<&str> = log
                    .lines()
                    .filter(|l| {
                        l.contains(&format!("decision=\"{decision}\""))
                            && l.contains(&format!("resource=\"{resource}\""))
                    })
                    .collect();
                assert_eq!(lines.len(), 1, "one {decision} line:\n{log}");
                for field in CALL_FIELDS {
                    assert!(
                        lines[0].contains(&format!(" {field}=")),
                        "{field}: {}",
                        lines[0]
                    );
                }
                assert!(
                    lines[0].contains("principal=\"agent:log-bot\""),
                    "{}",
                    lines[0]
                );
            }
            println!("text lines:\n{serve}\n{allowed}");
        }
    }
}

/// Reads `writ gateway mcp`'s stderr lines into a channel.
fn lines_of(r: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(r).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for the line of `rx` that `pred` accepts; all lines read are appended to `seen`.
fn wait_line(
    rx: &std::sync::mpsc::Receiver<String>,
    seen: &mut String,
    pred: impl Fn(&str) -> bool,
) -> String {
    loop {
        let l = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("{e}; so far:\n{seen}"));
        seen.push_str(&l);
        seen.push('\n');
        if pred(&l) {
            return l;
        }
    }
}

/// Starts a gate (`writ gateway mcp`, `writ exec`) with its stdio piped and no secret or log
/// setting inherited from the test's environment.
trait SpawnGate {
    fn spawn_gate(&mut self) -> std::process::Child;
}

impl SpawnGate for Command {
    fn spawn_gate(&mut self) -> std::process::Child {
        for v in ["WRIT_TOKEN", "WRIT_GATE_TOKEN", "WRIT_LOG", "RUST_LOG"] {
            self.env_remove(v);
        }
        self.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

/// The URL a gate started with `--metrics-listen 127.0.0.1:0` logged (JSON logs).
fn metrics_url(err: &std::sync::mpsc::Receiver<String>, log: &mut String) -> String {
    let served = wait_line(err, log, |l| l.contains("metrics_url"));
    serde_json::from_str::<Value>(&served).unwrap()["fields"]["metrics_url"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Regression (issue 14): the MCP gateway logged nothing about the calls it governed, and had
/// no metrics of its own. Each call is logged once and counted on `--metrics-listen`'s page.
#[test]
fn the_mcp_gateway_logs_and_counts_each_governed_call_once_without_its_arguments() {
    let Some(modules) = std::env::var_os("WRIT_TEST_NODE_MODULES").map(PathBuf::from) else {
        assert!(
            std::env::var("WRIT_REQUIRE_CONFORMANCE").as_deref() != Ok("1"),
            "WRIT_TEST_NODE_MODULES is required: run scripts/test.sh"
        );
        println!("skipped: WRIT_TEST_NODE_MODULES not set");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let p = Provisioned::start(tmp.path(), "json");
    let root = tmp.path().join("files");
    std::fs::create_dir_all(&root).unwrap();
    let canary = "canary-mcp-argument-91c2";
    let readable = root.join(format!("{canary}.txt"));
    std::fs::write(&readable, "hello").unwrap();
    let upstream = [
        modules.join(".bin/node").display().to_string(),
        modules
            .join("@modelcontextprotocol/server-filesystem/dist/index.js")
            .display()
            .to_string(),
        root.display().to_string(),
    ];
    let pins = tmp.path().join("pins.json");
    let pinned = Command::new(BIN)
        .args(["gateway", "mcp", "pin", "--upstream-name", "fs", "--out"])
        .arg(&pins)
        .arg("--")
        .args(&upstream)
        .output()
        .unwrap();
    assert!(
        pinned.status.success(),
        "{}",
        String::from_utf8_lossy(&pinned.stderr)
    );
    let mut child = Command::new(BIN)
        .args(["gateway", "mcp", "--upstream-name", "fs"])
        .env("WRIT_LOG_FORMAT", "json")
        .arg("--pins")
        .arg(&pins)
        .args(["--control-plane", &p.served.url, "--gate-id", p.gate_id])
        .args(["--zone", p.zone])
        .arg("--gate-key")
        .arg(&p.gate_key)
        .arg("--token-file")
        .arg(&p.agent_file)
        .arg("--gate-token-file")
        .arg(&p.gate_file)
        .args(["--metrics-listen", "127.0.0.1:0"])
        .arg("--")
        .args(&upstream)
        .spawn_gate();
    let mut stdin = child.stdin.take().unwrap();
    let out = lines_of(child.stdout.take().unwrap());
    let err = lines_of(child.stderr.take().unwrap());
    let mut log = String::new();
    let metrics_url = metrics_url(&err, &mut log);
    wait_line(&err, &mut log, |l| l.contains("event feed connected"));
    let mut answers = String::new();
    let mut send = |msg: Value| {
        writeln!(stdin, "{msg}").unwrap();
        stdin.flush().unwrap();
    };
    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "logs-test", "version": "1"}}}),
    );
    wait_line(&out, &mut answers, |l| l.contains("\"id\":1"));
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    send(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "read_file", "arguments": {"path": readable.display().to_string()}}}),
    );
    let read = wait_line(&out, &mut answers, |l| l.contains("\"id\":2"));
    assert!(read.contains("hello"), "{read}");
    send(
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "write_file", "arguments": {"path": format!("/etc/{canary}"), "content": canary}}}),
    );
    let write = wait_line(&out, &mut answers, |l| l.contains("\"id\":3"));
    assert!(write.contains("denied"), "{write}");
    let (status, page) = crate::serve::http().call("GET", &metrics_url, None, None);
    assert_eq!(status, 200);
    let page = page.as_str().unwrap().to_owned();
    for sample in [
        "writ_gate_info{gate=\"gate:runner\",zone=\"dev\"} 1",
        "writ_gate_calls_total{decision=\"allow\",reason_code=\"policy_permit\"} 1",
        "writ_gate_admit_duration_seconds_count 2",
        "writ_gate_kill_switch 0",
    ] {
        assert!(page.contains(sample), "{sample} missing:\n{page}");
    }
    let denied = page
        .lines()
        .filter(|l| l.starts_with("writ_gate_calls_total{decision=\"deny\""))
        .collect::<Vec<_>>();
    assert!(denied.len() == 1 && denied[0].ends_with(" 1"), "{page}");
    assert!(!page.contains(canary), "{page}");
    let age = page
        .lines()
        .find_map(|l| l.strip_prefix("writ_gate_event_feed_age_seconds "))
        .unwrap_or_else(|| panic!("{page}"));
    assert!(age.parse::<i64>().unwrap() >= 0, "{page}");

    let _ = child.kill();
    let _ = child.wait();
    while let Ok(l) = err.recv_timeout(Duration::from_millis(500)) {
        log.push_str(&l);
        log.push('\n');
    }
    let mut canaries = p.secrets().to_vec();
    canaries.push(canary);
    assert_no_canary(&[&log, &p.serve_log()], &canaries);
    let calls = json_lines(&log, "writ::call");
    assert_eq!(calls.len(), 2, "one line per governed call:\n{log}");
    assert_fields(&calls[0], "allow", "mcp.call_tool", "tool:fs/read_file");
    assert_fields(&calls[1], "deny", "mcp.call_tool", "tool:fs/write_file");
}

/// Issue 14: the runner exposes its own metrics while its command runs (`--metrics-listen`).
#[test]
fn the_runner_serves_its_metrics_while_the_command_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Provisioned::start(tmp.path(), "json");
    // git (allowed anywhere by the default bundle) hashes stdin, so it runs until stdin closes.
    let mut child = Command::new(BIN)
        .env("WRIT_LOG_FORMAT", "json")
        .args([
            "exec",
            "--as",
            "agent:log-bot",
            "--control-plane",
            &p.served.url,
        ])
        .arg("--token-file")
        .arg(&p.agent_file)
        .args(["--gate-id", p.gate_id, "--zone", p.zone, "--gate-key"])
        .arg(&p.gate_key)
        .arg("--gate-token-file")
        .arg(&p.gate_file)
        .args([
            "--metrics-listen",
            "127.0.0.1:0",
            "--allow-uncontained",
            "--",
        ])
        .args(["/usr/bin/git", "hash-object", "--stdin"])
        .current_dir(&p.dir)
        .spawn_gate();
    let err = lines_of(child.stderr.take().unwrap());
    let mut log = String::new();
    let url = metrics_url(&err, &mut log);
    // The call line is written once the command is admitted, before it runs.
    wait_line(&err, &mut log, |l| l.contains("writ::call"));
    let (status, page) = crate::serve::http().call("GET", &url, None, None);
    assert_eq!(status, 200);
    let page = page.as_str().unwrap();
    assert!(
        page.contains("writ_gate_calls_total{decision=\"allow\",reason_code=\"policy_permit\"} 1"),
        "{page}"
    );
    assert!(
        page.contains("writ_gate_admit_duration_seconds_count 1"),
        "{page}"
    );
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"hello\n").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{log}");
    // git's hash of the blob "hello\n".
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ce013625030ba8dba906f756967f9e9ca394464a"
    );
}
