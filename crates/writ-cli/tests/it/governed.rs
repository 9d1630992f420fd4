//! What a process Writ governs inherits from the gate (issue 12, finding 3), through the real
//! binary: the stdio upstream is spawned the same way by `writ gateway mcp` and by its `pin`
//! command, so `pin` (which needs no control plane) shows what the upstream receives.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_writ");

// Regression (finding 3): the stdio upstream inherited the gateway's whole environment, so
// WRIT_TOKEN, WRIT_GATE_TOKEN and WRIT_GATE_KEY were in /proc/<upstream>/environ.
#[test]
fn the_stdio_upstream_receives_no_writ_secret_only_the_allowlist_and_passed_names() {
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("environ");
    let script = format!("tr '\\0' '\\n' < /proc/self/environ > {}", seen.display());
    let out = Command::new(BIN)
        .args(["gateway", "mcp", "pin", "--upstream-name", "probe", "--out"])
        .arg(dir.path().join("pins.json"))
        .args(["--pass-env", "PROBE_API_KEY", "--", "sh", "-c", &script])
        .env("WRIT_TOKEN", "canary-agent-token")
        .env("WRIT_GATE_TOKEN", "canary-gate-token")
        .env("WRIT_GATE_KEY", "/canary/gate.key")
        .env("AWS_SECRET_ACCESS_KEY", "canary-unrelated-secret")
        .env("PROBE_API_KEY", "passed-by-name")
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    // The probe is no MCP server, so pinning fails; the upstream ran and wrote what it saw.
    let env = std::fs::read_to_string(&seen)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    for canary in [
        "canary-agent-token",
        "canary-gate-token",
        "/canary/gate.key",
        "canary-unrelated-secret",
        "WRIT_",
    ] {
        assert!(
            !env.contains(canary),
            "{canary} reached the upstream:\n{env}"
        );
    }
    assert!(env.contains("PROBE_API_KEY=passed-by-name"), "{env}");
    assert!(env.contains("LC_ALL=C"), "{env}");

    // A WRIT_* name cannot be passed on purpose either.
    let refused = Command::new(BIN)
        .args(["gateway", "mcp", "pin", "--upstream-name", "probe", "--out"])
        .arg(dir.path().join("pins.json"))
        .args(["--pass-env", "WRIT_GATE_TOKEN", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("WRIT_"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
