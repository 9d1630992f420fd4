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
        .env_remove("WRIT_SERVER")
        .env_remove("WRIT_CONFIG")
        .env_remove("WRIT_LISTEN")
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
    // No token ever reached the output: the block writes them to files.
    for file in ["agent.token", "gate.token", "runner.token"] {
        let token = std::fs::read_to_string(work.join(file)).unwrap();
        assert!(!token.trim().is_empty());
        assert!(!stdout.contains(token.trim()) && !stderr.contains(token.trim()));
    }
}
