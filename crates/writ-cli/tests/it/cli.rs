//! One consistent command line (issue 14): every argument and subcommand says what it is, the
//! control plane is `--control-plane` / `WRIT_SERVER` everywhere, the gateway's upstream is
//! `--upstream-name`, the gateway announces itself as one JSON line, and `writ exec` keeps its
//! command's exit status apart from Writ's own outcomes.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::serve::{Served, activate};

const BIN: &str = env!("CARGO_BIN_EXE_writ");

/// How long a line may take before the test gives up (a hang guard, never a verdict).
const PATIENCE: Duration = Duration::from_secs(60);

/// A `writ` command with no `WRIT_*` variable inherited from the test's environment.
fn writ() -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(|k| k.starts_with("WRIT_")) {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The entries of one section (`Commands:`, `Arguments:`, `Options:`) of a short help text:
/// (the name or flags, the help text after them; empty when there is none).
fn section(help: &str, title: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        if !line.starts_with(' ') {
            inside = line.trim_end() == title;
            continue;
        }
        if !inside || line.trim().is_empty() {
            continue;
        }
        let entry = line.trim_start();
        // Where clap puts the help on the line below the flags (indented deeper), take it.
        if line.len() - entry.len() >= 10 {
            if let Some(last) = out
                .last_mut()
                .filter(|(_, text): &&mut (String, String)| text.is_empty())
            {
                last.1 = entry.trim().to_owned();
            }
            continue;
        }
        // The name or flags and the text are separated by two spaces or more.
        let (name, text) = match entry.find("  ") {
            Some(i) => (&entry[..i], entry[i..].trim()),
            None => (entry, ""),
        };
        out.push((name.to_owned(), text.to_owned()));
    }
    out
}

/// Walks `writ PATH… -h` for every visible subcommand; returns what lacks help.
fn walk(path: &mut Vec<String>, missing: &mut Vec<String>, seen: &mut usize) {
    let (code, help, err) = run(writ().args(path.iter()).arg("-h"));
    assert_eq!(code, 0, "writ {path:?} -h: {err}");
    *seen += 1;
    for title in ["Arguments:", "Options:"] {
        for (name, text) in section(&help, title) {
            // `[env: …]`, `[default: …]` and `[possible values: …]` alone are not help.
            if text.is_empty() || text.starts_with('[') {
                missing.push(format!("writ {} {name}", path.join(" ")));
            }
        }
    }
    for (name, text) in section(&help, "Commands:") {
        if name == "help" {
            continue;
        }
        if text.is_empty() {
            missing.push(format!("writ {} {name} (subcommand)", path.join(" ")));
        }
        path.push(name);
        walk(path, missing, seen);
        path.pop();
    }
}

#[test]
fn every_argument_and_subcommand_has_help() {
    let mut missing = Vec::new();
    let mut seen = 0;
    walk(&mut Vec::new(), &mut missing, &mut seen);
    // The tree is really walked: writ, its commands and theirs (gateway mcp pin, bench …).
    assert!(seen > 30, "only {seen} help pages");
    assert!(missing.is_empty(), "without help: {missing:#?}");
}

fn private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn json_of(args: &[&str], env: &[(&str, &str)]) -> Value {
    let (code, out, err) = run(writ()
        .args(args)
        .args(["--format", "json"])
        .envs(env.iter().copied()));
    assert_eq!(code, 0, "writ {args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn operator_commands_take_control_plane_and_writ_server() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let srv = Served::start(&data, true);
    let admin = data.join("admin.token");
    let admin = admin.to_str().unwrap();
    // --control-plane URL, the token from its file.
    let list = json_of(
        &[
            "principal",
            "list",
            "--control-plane",
            &srv.url,
            "--token-file",
            admin,
        ],
        &[],
    );
    assert!(list.is_array() || list.is_object(), "{list}");
    // WRIT_SERVER, the token from WRIT_TOKEN_FILE.
    let gates = json_of(
        &["gate", "list"],
        &[("WRIT_SERVER", &srv.url), ("WRIT_TOKEN_FILE", admin)],
    );
    assert!(gates.is_array() || gates.is_object(), "{gates}");
    // The token itself from WRIT_TOKEN.
    let token = std::fs::read_to_string(admin).unwrap();
    json_of(
        &["kill-switch", "off", "--control-plane", &srv.url],
        &[("WRIT_TOKEN", token.trim())],
    );
    // --server is not a flag of operator commands any more (it named two things).
    let (code, _, err) = run(writ().args(["principal", "list", "--server", &srv.url]));
    assert_eq!(code, 3, "{err}");
    // A token on the command line is refused, naming the file flag, and not echoed.
    let (code, _, err) = run(writ().args([
        "principal",
        "list",
        "--control-plane",
        &srv.url,
        "--token",
        token.trim(),
    ]));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("--token-file"), "{err}");
    assert!(!err.contains(token.trim()), "{err}");
}

/// `writ gateway mcp` over stdio in front of `true`, against a control plane that is not there;
/// `name_flag` names the upstream `fs` (none: WRIT_MCP_SERVER does).
fn gateway_cmd(dir: &Path, name_flag: Option<&str>) -> Command {
    let mut cmd = writ();
    cmd.args(["gateway", "mcp", "--gate-id", "gate:g1", "--zone", "dev"]);
    match name_flag {
        Some(flag) => cmd.args([flag, "fs"]),
        None => cmd.env("WRIT_MCP_SERVER", "fs"),
    };
    cmd.arg("--pins")
        .arg(dir.join("pins.json"))
        .arg("--gate-key")
        .arg(dir.join("gate.key"))
        .arg("--gate-token-file")
        .arg(dir.join("gate.token"))
        .args(["--control-plane", "http://127.0.0.1:9", "--", "true"]);
    cmd
}

#[test]
fn gateway_names_its_upstream_with_upstream_name_and_refuses_server() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (code, _, err) = run(writ().args(["gate", "keygen"]).arg(dir.join("gate.key")));
    assert_eq!(code, 0, "{err}");
    std::fs::write(
        dir.join("pins.json"),
        r#"{"format":"writ.mcp-pins/v3","server":"fs","tools":{},"prompts":{},"resources":{},"resource_templates":{}}"#,
    )
    .unwrap();
    private(&dir.join("gate.token"), "writ_gate_x\n");

    // --upstream-name: every flag is taken; the gateway gets as far as the control plane.
    let (code, _, err) = run(&mut gateway_cmd(dir, Some("--upstream-name")));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("gate self-check failed"), "{err}");
    assert!(err.contains("does not answer"), "{err}");
    // WRIT_MCP_SERVER names it too.
    let (code, _, err) = run(&mut gateway_cmd(dir, None));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("gate self-check failed"), "{err}");
    assert!(err.contains("does not answer"), "{err}");

    // --server: refused, naming the new flag and the control plane's.
    let (code, _, err) = run(&mut gateway_cmd(dir, Some("--server")));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("--upstream-name"), "{err}");
    assert!(err.contains("--control-plane"), "{err}");
    // The same for the pin step.
    let (code, _, err) = run(writ()
        .args(["gateway", "mcp", "pin", "--server", "fs", "--out"])
        .arg(dir.join("new.pins.json"))
        .args(["--", "true"]));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("--upstream-name"), "{err}");
    assert!(!dir.join("new.pins.json").exists());
}

/// A control plane whose bundle lets every agent run every command, with an agent and a gate.
struct Provisioned {
    served: Served,
    dir: PathBuf,
    key: PathBuf,
    agent_token: PathBuf,
    gate_token: PathBuf,
    admin: PathBuf,
}

const POLICIES: &str = r#"
@id("any-exec-any-tool")
@reason("the CLI tests run commands and tools, not policy")
permit (principal is Agent, action in [Action::"exec", Action::"call_tool"], resource);
"#;

fn provision(dir: &Path) -> Provisioned {
    let served = Served::start(&dir.join("data"), true);
    let url = served.url.clone();
    let admin = dir.join("data/admin.token");
    let a = admin.to_str().unwrap();
    let default = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy/default");
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    let mut files = std::collections::BTreeMap::new();
    for name in ["writ.cedarschema", "entities.json"] {
        files.insert(name.to_owned(), std::fs::read(default.join(name)).unwrap());
    }
    files.insert("policies.cedar".to_owned(), POLICIES.as_bytes().to_vec());
    for (name, bytes) in &files {
        std::fs::write(bundle.join(name), bytes).unwrap();
    }
    let source = writ_authorize::BundleSource::from_files(files).unwrap();
    let compiled = writ_authorize::compile(&source).unwrap();
    let sig = writ_authorize::BundleSigningKey::from_seed([9; 32]).sign(compiled.digest());
    std::fs::write(bundle.join("bundle.sig"), sig.to_json()).unwrap();
    activate(&url, a, &bundle);
    let cp = ["--control-plane", url.as_str(), "--token-file", a];
    let agent = json_of(
        &[
            &["principal", "add", "agent:cli-bot", "--zone", "dev"][..],
            &cp[..],
        ]
        .concat(),
        &[],
    );
    let key = dir.join("gate.key");
    let kg = json_of(&["gate", "keygen", key.to_str().unwrap()], &[]);
    let public = kg["public_key"].as_str().unwrap();
    let gate = json_of(
        &[
            &[
                "gate",
                "add",
                "gate:cli",
                "--zone",
                "dev",
                "--public-key",
                public,
            ][..],
            &cp[..],
        ]
        .concat(),
        &[],
    );
    let agent_token = dir.join("agent.token");
    let gate_token = dir.join("gate.token");
    private(&agent_token, agent["token"].as_str().unwrap());
    private(&gate_token, gate["token"].as_str().unwrap());
    Provisioned {
        served,
        dir: dir.to_path_buf(),
        key,
        agent_token,
        gate_token,
        admin,
    }
}

#[test]
fn gateway_prints_one_json_listening_line() {
    let tmp = tempfile::tempdir().unwrap();
    let p = provision(tmp.path());
    let pins = p.dir.join("pins.json");
    std::fs::write(
        &pins,
        r#"{"format":"writ.mcp-pins/v3","server":"fs","tools":{},"prompts":{},"resources":{},"resource_templates":{}}"#,
    )
    .unwrap();
    let mut child = writ()
        .args(["gateway", "mcp", "--upstream-name", "fs", "--pins"])
        .arg(&pins)
        .args(["--control-plane", &p.served.url, "--gate-id", "gate:cli"])
        .args(["--zone", "dev", "--gate-key"])
        .arg(&p.key)
        .arg("--gate-token-file")
        .arg(&p.gate_token)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "http://127.0.0.1:9/mcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
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
    let line = rx.recv_timeout(PATIENCE);
    let _ = child.kill();
    let _ = child.wait();
    let line = line.expect("no line on stdout");
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["event"], "listening", "{v}");
    let url = v["url"].as_str().unwrap();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"),
        "{v}"
    );
    assert!(
        !url.ends_with(":0/mcp"),
        "the bound port, not the asked one: {v}"
    );
    assert_eq!(v["upstream"], "http://127.0.0.1:9/mcp", "{v}");
    assert_eq!(v["upstream_name"], "fs", "{v}");
    assert_eq!(v["gate"], "gate:cli", "{v}");
    assert_eq!(v["zone"], "dev", "{v}");
    assert_eq!(v["control_plane"], p.served.url.as_str(), "{v}");
    // No secret in it.
    let gate_token = std::fs::read_to_string(&p.gate_token).unwrap();
    assert!(!line.contains(gate_token.trim()), "{line}");
}

/// The last JSON line `writ exec --format json` wrote on stderr.
fn report(stderr: &str) -> Value {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON report: {stderr}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

fn exec(p: &Provisioned, script: &str) -> (i32, String, String) {
    run(&mut exec_cmd(p, &[], script))
}

/// `writ exec … EXTRA -- /bin/sh -c SCRIPT`, without the caller's `TRACEPARENT`.
fn exec_cmd(p: &Provisioned, extra: &[&str], script: &str) -> Command {
    let mut cmd = writ();
    cmd.env_remove("TRACEPARENT")
        .args([
            "exec",
            "--as",
            "agent:cli-bot",
            "--control-plane",
            &p.served.url,
        ])
        .args(["--gate-id", "gate:cli", "--zone", "dev", "--gate-key"])
        .arg(&p.key)
        .arg("--token-file")
        .arg(&p.agent_token)
        .arg("--gate-token-file")
        .arg(&p.gate_token)
        .args(["--allow-uncontained", "--format", "json"])
        .args(extra)
        .args(["--", "/bin/sh", "-c", script]);
    cmd
}

#[test]
fn exec_keeps_the_commands_status_apart_from_a_denial() {
    let tmp = tempfile::tempdir().unwrap();
    let p = provision(tmp.path());
    // The command ran and exited 2: its own status, reported as such.
    let (code, _, err) = exec(&p, "exit 2");
    assert_eq!(code, 2, "{err}");
    let r = report(&err);
    assert_eq!(r["ran"], true, "{r}");
    assert_eq!(r["exit_code"], 2, "{r}");
    assert_eq!(r["exit_status"], 2, "{r}");
    // The command ran and exited 0.
    let (code, _, err) = exec(&p, "exit 0");
    assert_eq!(code, 0, "{err}");

    // Denied (the kill switch is on): the command never ran, and the status says so: 122.
    let admin = p.admin.to_str().unwrap();
    json_of(
        &[
            "kill-switch",
            "on",
            "--control-plane",
            &p.served.url,
            "--token-file",
            admin,
        ],
        &[],
    );
    let marker = p.dir.join("ran");
    let (code, _, err) = exec(&p, &format!("touch {}; exit 0", marker.display()));
    assert_eq!(code, 122, "{err}");
    assert!(!marker.exists(), "a denied command ran");
    let r = report(&err);
    assert_eq!(r["ran"], false, "{r}");
    assert_eq!(r["decision"], "deny", "{r}");
    assert_eq!(r["exit_status"], 122, "{r}");

    // Invalid input (a usage error, or a token on the command line): 123, not the command's 3.
    let (code, _, err) = run(writ().args(["exec", "--no-such-flag", "--", "/bin/true"]));
    assert_eq!(code, 123, "{err}");
    let (code, _, err) = run(writ()
        .args([
            "exec",
            "--as",
            "agent:cli-bot",
            "--gate-id",
            "gate:cli",
            "--gate-key",
        ])
        .arg(&p.key)
        .args(["--token", "writ_principal_inline", "--", "/bin/true"]));
    assert_eq!(code, 123, "{err}");
    assert!(!err.contains("writ_principal_inline"), "{err}");
}

#[test]
fn policy_sign_takes_its_key_like_every_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("bundle.key");
    let (code, _, err) = run(writ().args(["policy", "keygen"]).arg(&key));
    assert_eq!(code, 0, "{err}");
    let bundle = tmp.path().join("bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    let default = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy/default");
    for name in ["writ.cedarschema", "entities.json", "policies.cedar"] {
        std::fs::copy(default.join(name), bundle.join(name)).unwrap();
    }
    // From WRIT_POLICY_SIGNING_KEY_FILE.
    let (code, _, err) = run(writ()
        .args(["policy", "sign"])
        .arg(&bundle)
        .env("WRIT_POLICY_SIGNING_KEY_FILE", &key));
    assert_eq!(code, 0, "{err}");
    assert!(bundle.join("bundle.sig").exists());
    // A key file others may read is refused, naming the fix.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, _, err) = run(writ()
        .args(["policy", "sign"])
        .arg(&bundle)
        .arg("--key")
        .arg(&key));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("chmod 600"), "{err}");
}

#[test]
fn exec_joins_the_callers_trace_and_refuses_a_malformed_one() {
    let tmp = tempfile::tempdir().unwrap();
    let p = provision(tmp.path());
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    // TRACEPARENT, as an agent's OpenTelemetry SDK hands it to the commands it starts.
    let (code, _, err) =
        run(exec_cmd(&p, &[], "exit 0")
            .env("TRACEPARENT", format!("00-{trace}-00f067aa0ba902b7-01")));
    assert_eq!(code, 0, "{err}");
    let execution = report(&err)["execution"].as_str().unwrap().to_owned();
    let token = std::fs::read_to_string(&p.agent_token).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let proof: Value = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{}/v1/proofs/{execution}", p.served.url))
            .bearer_auth(token.trim())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let claims = writ_artifact::decode_unverified(proof["writ"].as_str().unwrap())
        .unwrap()
        .claims;
    let tp = claims["lineage"]["traceparent"].as_str().unwrap();
    assert!(tp.starts_with(&format!("00-{trace}-")), "{tp}");
    assert!(
        tp.ends_with(&format!("-{}-01", &execution.replace('-', "")[16..])),
        "{tp}"
    );

    // A malformed one given explicitly is invalid input: the command does not run (123).
    let marker = p.dir.join("ran");
    let (code, _, err) = run(&mut exec_cmd(
        &p,
        &["--traceparent", "00-not-a-trace-01"],
        &format!("touch {}", marker.display()),
    ));
    assert_eq!(code, 123, "{err}");
    assert!(err.contains("not a W3C traceparent"), "{err}");
    assert!(!marker.exists());
}
