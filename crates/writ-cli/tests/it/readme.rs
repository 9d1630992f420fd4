//! The README's "Running it for real" block runs as written (issue 14, "README fixes").
//!
//! The block is taken from README.md, between its heading and the closing fence, and run with
//! `bash -euo pipefail` from a temporary directory holding a copy of the repository's
//! `examples/` (the block is run from the repository root, and `writ policy sign` writes into
//! the bundle), with the built `writ` first on PATH and HOME in the temporary directory.
//! One line is substituted: `npm install @modelcontextprotocol/server-filesystem` becomes a
//! symbolic link to the node_modules the interop tests already installed
//! (`WRIT_TEST_NODE_MODULES`), as this machine has no registry access during tests. Every
//! other line runs verbatim. The gateway and `writ exec` run contained, as on a real machine.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_writ");
const NPM_LINE: &str = "npm install @modelcontextprotocol/server-filesystem";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The lines of the ```sh block under `## Running it for real`.
fn readme_block(readme: &str) -> String {
    let after = readme
        .split_once("\n## Running it for real\n")
        .expect("README.md has a `## Running it for real` section")
        .1;
    let body = after
        .split_once("```sh\n")
        .expect("the section has a ```sh block")
        .1;
    let (block, _) = body.split_once("\n```").expect("the block is closed");
    block.to_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn the_readme_running_it_for_real_block_runs_as_written() {
    let Some(node_modules) = std::env::var_os("WRIT_TEST_NODE_MODULES").map(PathBuf::from) else {
        eprintln!("skipped: set WRIT_TEST_NODE_MODULES to a node_modules with the MCP servers");
        return;
    };
    let root = repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let block = readme_block(&readme);
    // The one substitution: the servers the interop tests installed, instead of `npm install`.
    assert_eq!(
        block
            .lines()
            .filter(|l| l.trim_start().starts_with(NPM_LINE))
            .count(),
        1,
        "the block installs the filesystem server with npm exactly once"
    );
    let script: String = block
        .lines()
        .map(|l| {
            if l.trim_start().starts_with(NPM_LINE) {
                format!("ln -s {} node_modules", node_modules.display())
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");

    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().canonicalize().unwrap();
    copy_dir(&root.join("examples"), &work.join("examples"));
    std::fs::create_dir(work.join("home")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // Output goes to files, not pipes: a line left running in the background (as the old
    // `writ serve … &` was) must not keep the test waiting for the pipes to close. The block
    // runs in its own process group, which is ended once the shell has ended.
    let out_file = std::fs::File::create(dir.path().join("block.out")).unwrap();
    let err_file = std::fs::File::create(dir.path().join("block.err")).unwrap();
    let mut child = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(out_file)
        .stderr(err_file)
        .current_dir(&work)
        .env("PATH", path)
        .env("HOME", work.join("home"))
        .env_remove("WRIT_TOKEN")
        .env_remove("WRIT_TOKEN_FILE")
        .env_remove("WRIT_GATE_TOKEN")
        .env_remove("WRIT_CONFIG")
        // The block uses the default address, 127.0.0.1:8787; the test moves it to a free port
        // through the environment (not the lines), so it never meets another server there.
        .env("WRIT_LISTEN", format!("127.0.0.1:{port}"))
        .env("WRIT_SERVER", format!("http://127.0.0.1:{port}"))
        .spawn()
        .unwrap();
    let status = child.wait().unwrap();
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(std::process::Stdio::null())
        .status();
    let stdout = std::fs::read_to_string(dir.path().join("block.out")).unwrap();
    let stderr = std::fs::read_to_string(dir.path().join("block.err")).unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "the block failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    // What a newcomer sees along the way.
    for expected in [
        "added agent:triage-bot in zone dev",
        "added gate:runner in zone sandbox",
        "token written to agent.token (mode 0600)",
        "\"dev.writ/execution\"",
        "hello",
        "denied by Writ (no_permit)",
        "tool:fs/write_file",
        "kill switch",
        "git version",
        "revoked principal agent:triage-bot",
    ] {
        assert!(
            stdout.contains(expected),
            "no {expected:?} in the block's output\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
    }
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("ok") || l.contains("verified")),
        "no ledger verification line\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("http://127.0.0.1:{port}")),
        "the block did not use the test's address\n--- stdout\n{stdout}"
    );
    // No token ever reached the output: the block writes them to files.
    for file in ["agent.token", "gate.token", "runner.token"] {
        let token = std::fs::read_to_string(work.join(file)).unwrap();
        assert!(!token.trim().is_empty());
        assert!(!stdout.contains(token.trim()) && !stderr.contains(token.trim()));
    }
}

fn writ(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("WRIT_TOKEN")
        .env_remove("WRIT_SERVER")
        .env_remove("WRIT_TOKEN_FILE")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

// The block's `--token-out`: a token printed once goes to a new private file instead, never to
// stdout, and an existing file is refused before anything is registered.
#[test]
fn token_out_writes_a_private_file_prints_no_token_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let srv = crate::serve::Served::start(&data, true);
    let admin = data.join("admin.token");
    let admin = admin.to_str().unwrap();
    let url = srv.url.as_str();
    let agent_token = dir.path().join("agent.token");
    let agent_out = agent_token.to_str().unwrap();

    let (code, stdout, stderr) = writ(&[
        "principal",
        "add",
        "agent:a",
        "--zone",
        "dev",
        "--token-out",
        agent_out,
        "--control-plane",
        url,
        "--token-file",
        admin,
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let token = std::fs::read_to_string(&agent_token).unwrap();
    let token = token.trim();
    assert!(token.len() >= 32, "{token:?}");
    assert_eq!(mode(&agent_token), 0o600);
    assert!(!stdout.contains(token) && !stderr.contains(token));
    assert!(
        stdout.contains(&format!("token written to {agent_out} (mode 0600)")),
        "{stdout}"
    );

    // An existing file is refused, before the principal is registered.
    let (code, stdout, stderr) = writ(&[
        "principal",
        "add",
        "agent:b",
        "--zone",
        "dev",
        "--token-out",
        agent_out,
        "--control-plane",
        url,
        "--token-file",
        admin,
    ]);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&agent_token).unwrap().trim(), token);
    let (code, list, _) = writ(&[
        "principal",
        "list",
        "--control-plane",
        url,
        "--token-file",
        admin,
    ]);
    assert_eq!(code, 0);
    assert!(
        list.contains("agent:a") && !list.contains("agent:b"),
        "{list}"
    );

    // Gates: keygen writes the public half beside the key; `--format json` shows the file,
    // not the token.
    let key = dir.path().join("gate.key");
    let (code, stdout, _) = writ(&["gate", "keygen", key.to_str().unwrap()]);
    assert_eq!(code, 0);
    let public = std::fs::read_to_string(dir.path().join("gate.key.pub")).unwrap();
    let public = public.trim();
    assert!(stdout.contains(public), "{stdout}");
    let gate_token = dir.path().join("gate.token");
    let gate_out = gate_token.to_str().unwrap();
    let (code, stdout, stderr) = writ(&[
        "gate",
        "add",
        "gate:g",
        "--zone",
        "dev",
        "--public-key",
        public,
        "--token-out",
        gate_out,
        "--format",
        "json",
        "--control-plane",
        url,
        "--token-file",
        admin,
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["token_file"], gate_out);
    assert!(v.get("token").is_none(), "{v}");
    let token = std::fs::read_to_string(&gate_token).unwrap();
    assert!(!token.trim().is_empty() && !stdout.contains(token.trim()));
    assert_eq!(mode(&gate_token), 0o600);
    // A second keygen to the same name is refused (the key and its .pub are never replaced).
    let (code, _, _) = writ(&["gate", "keygen", key.to_str().unwrap()]);
    assert_eq!(code, 3);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("gate.key.pub"))
            .unwrap()
            .trim(),
        public
    );
}
