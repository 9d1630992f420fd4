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
    // Nothing listens there: the gateway stops when it asks for the writ keys, after it
    // has read every secret.
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
        r#"{"format":"writ.mcp-pins/v2","server":"fs","tools":{}}"#,
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

    // From files: every secret is taken; the gateway gets as far as the control plane.
    let (code, err) = gateway(dir, &files, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot fetch the writ keys"), "{err}");
    // From the environment (the file variables, or the secrets themselves).
    let (code, err) = gateway(
        dir,
        &[],
        &[
            ("WRIT_TOKEN_FILE", agent.to_str().unwrap()),
            ("WRIT_GATE_TOKEN", "writ_gate_secret_gate"),
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot fetch the writ keys"), "{err}");

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
