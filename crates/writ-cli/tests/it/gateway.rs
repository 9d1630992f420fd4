//! `writ gateway mcp`'s secrets (issue 12, finding 10): the agent's and the gate's tokens come
//! from files or the environment, never from the command line, and a secret file others can
//! read is refused.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_writ");

/// Runs `writ gateway mcp` with `args` and `env`; returns (exit code, stderr).
fn gateway(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "gateway",
        "mcp",
        "--upstream-name",
        "fs",
        "--gate-id",
        "gate:g1",
        "--zone",
        "dev",
    ])
    .arg("--pins")
    .arg(dir.join("pins.json"))
    .arg("--gate-key")
    .arg(dir.join("gate.key"))
    // Nothing listens there: the gateway stops at its self-check of the control plane,
    // after it has read every secret.
    .args(["--control-plane", "http://127.0.0.1:9"])
    .args(args)
    .args(["--", "true"]);
    for v in [
        "WRIT_TOKEN",
        "WRIT_TOKEN_FILE",
        "WRIT_GATE_TOKEN",
        "WRIT_GATE_TOKEN_FILE",
        "WRIT_GATE_KEY_FILE",
        "WRIT_SERVER",
    ] {
        cmd.env_remove(v);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

// Regression (issue 12, finding 10): the README put --token and --gate-token on the command
// line, where `ps` shows them to every local user, and the gateway could read neither from a
// file.
#[test]
fn gateway_reads_its_secrets_from_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let keygen = Command::new(BIN)
        .args(["gate", "keygen"])
        .arg(dir.join("gate.key"))
        .output()
        .unwrap();
    let (code, err) = (
        keygen.status.code(),
        String::from_utf8_lossy(&keygen.stderr),
    );
    assert_eq!(code, Some(0), "{err}");
    std::fs::write(
        dir.join("pins.json"),
        r#"{"format":"writ.mcp-pins/v3","server":"fs","tools":{},"prompts":{},"resources":{},"resource_templates":{}}"#,
    )
    .unwrap();
    let agent = dir.join("agent.token");
    let gate = dir.join("gate.token");
    private(&agent, "writ_principal_secret_agent\n");
    private(&gate, "writ_gate_secret_gate\n");
    let files = [
        "--token-file",
        agent.to_str().unwrap(),
        "--gate-token-file",
        gate.to_str().unwrap(),
    ];

    // From files: every secret is taken; the gateway gets as far as the control plane (its
    // self-check at start finds nothing there).
    let (code, err) = gateway(dir, &files, &[]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("does not answer"), "{err}");
    // From the environment (the file variables, or the secrets themselves).
    let (code, err) = gateway(
        dir,
        &[],
        &[
            ("WRIT_TOKEN_FILE", agent.to_str().unwrap()),
            ("WRIT_GATE_TOKEN", "writ_gate_secret_gate"),
        ],
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("does not answer"), "{err}");

    // On the command line: refused, and the secret is not echoed back.
    for (flag, value) in [
        ("--token", "writ_principal_inline"),
        ("--gate-token", "writ_gate_inline"),
    ] {
        let mut args = files.to_vec();
        args.extend([flag, value]);
        let (code, err) = gateway(dir, &args, &[]);
        assert_eq!(code, 3, "{flag}: {err}");
        assert!(err.contains(&format!("{flag}-file")), "{err}");
        assert!(!err.contains(value), "{err}");
    }

    // A secret file other users can read is refused, naming the fix.
    for file in [&agent, &gate, &dir.join("gate.key")] {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (code, err) = gateway(dir, &files, &[]);
        assert_eq!(code, 3, "{}: {err}", file.display());
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

// Regression (issue 12, finding 8): a v2 pin file pins tools only; read as it stands it would
// leave every prompt and resource unpinned, so it is refused with the command that pins
// everything again.
#[test]
fn an_outdated_pin_file_is_refused_with_the_command_to_pin_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let keygen = Command::new(BIN)
        .args(["gate", "keygen"])
        .arg(dir.join("gate.key"))
        .output()
        .unwrap();
    assert_eq!(keygen.status.code(), Some(0));
    let pins = dir.join("pins.json");
    let agent = dir.join("agent.token");
    let gate = dir.join("gate.token");
    private(&agent, "writ_principal_secret_agent\n");
    private(&gate, "writ_gate_secret_gate\n");
    let files = [
        "--token-file",
        agent.to_str().unwrap(),
        "--gate-token-file",
        gate.to_str().unwrap(),
    ];
    for old in [
        r#"{"format":"writ.mcp-pins/v2","server":"fs","tools":{}}"#,
        r#"{"format":"writ.mcp-pins/v1","server":"fs","tools":{"write_file":"00"}}"#,
    ] {
        std::fs::write(&pins, old).unwrap();
        let (code, err) = gateway(dir, &files, &[]);
        assert_eq!(code, 3, "{err}");
        let command = format!(
            "writ gateway mcp pin --upstream-name fs --out {}",
            pins.display()
        );
        assert!(err.contains(&command), "{err}");
        assert!(!err.contains("cannot fetch the writ keys"), "{err}");
    }
}

/// The npm MCP servers from scripts/test.sh, or `None` (after saying why) when absent.
pub(crate) fn node_modules() -> Option<std::path::PathBuf> {
    match std::env::var_os("WRIT_TEST_NODE_MODULES").map(std::path::PathBuf::from) {
        Some(m) if m.join(".bin/node").exists() => Some(m),
        _ if std::env::var("WRIT_REQUIRE_CONFORMANCE").as_deref() == Ok("1") => {
            panic!("WRIT_TEST_NODE_MODULES is required: run scripts/test.sh")
        }
        _ => {
            println!("skipped: WRIT_TEST_NODE_MODULES not set (run scripts/test.sh)");
            None
        }
    }
}

// Regression (issue 12, finding 8): `writ gateway mcp pin` recorded tools only, so prompts,
// resources and resource templates could never be pinned.
#[test]
fn pin_records_tools_prompts_resources_and_templates() {
    let Some(modules) = node_modules() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("everything.pins.json");
    let server = modules.join("@modelcontextprotocol/server-everything/dist/index.js");
    let run = Command::new(BIN)
        .args([
            "gateway",
            "mcp",
            "pin",
            "--upstream-name",
            "everything",
            "--out",
        ])
        .arg(&out)
        .args(["--format", "json", "--"])
        .arg(modules.join(".bin/node"))
        .arg(&server)
        .arg("stdio")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(file["format"], "writ.mcp-pins/v3");
    for (kind, key, example) in [
        ("tools", "name", "echo"),
        ("prompts", "name", "simple-prompt"),
        (
            "resources",
            "uri",
            "demo://resource/static/document/architecture.md",
        ),
        (
            "resource_templates",
            "uriTemplate",
            "demo://resource/dynamic/text/{resourceId}",
        ),
    ] {
        let pin = &file[kind][example];
        assert_eq!(pin["definition"][key], example, "{kind}: {file}");
        assert_eq!(pin["sha256"].as_str().unwrap().len(), 64, "{kind}");
    }
    // The file is the operator's approval: readable by its owner only.
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // What was added is reported per kind.
    let printed: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(
        printed["changes"],
        serde_json::json!([]),
        "first pin: nothing to compare"
    );
    // Pinning again over an older (v2) file: every definition is reported as new.
    std::fs::write(
        &out,
        r#"{"format":"writ.mcp-pins/v2","server":"everything","tools":{}}"#,
    )
    .unwrap();
    let again = Command::new(BIN)
        .args([
            "gateway",
            "mcp",
            "pin",
            "--upstream-name",
            "everything",
            "--out",
        ])
        .arg(&out)
        .args(["--format", "json", "--"])
        .arg(modules.join(".bin/node"))
        .arg(&server)
        .arg("stdio")
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0));
    let printed: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    let kinds: std::collections::BTreeSet<&str> = printed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["prompt", "resource", "resource_template", "tool"].into()
    );
}
