//! Gates check themselves at start (issue 14): `writ exec` and `writ gateway mcp` with one
//! wrong setting stop before serving (exit code 3), naming the setting and the HTTP status and
//! reason code behind it.

use std::process::Command;

use crate::logs::Provisioned;

const BIN: &str = env!("CARGO_BIN_EXE_writ");

fn private(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}

/// Regression (issue 14): a gateway started with a wrong gate token started fine and then
/// denied every call with `event_feed_lost: … for 9223372036854775807 s`, never showing the
/// 401 behind it; a wrong agent token, gate key or zone showed only at the first call.
#[test]
fn a_gate_with_a_wrong_setting_stops_at_start_naming_the_cause() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let p = Provisioned::start(dir, "text");
    let bogus_gate = dir.join("bogus-gate.token");
    private(&bogus_gate, "writ_gate_0000000000000000000000000000");
    let bogus_agent = dir.join("bogus-agent.token");
    private(&bogus_agent, "writ_principal_000000000000000000000");
    let other_key = dir.join("other.key");
    let made = Command::new(BIN)
        .args(["gate", "keygen"])
        .arg(&other_key)
        .output()
        .unwrap();
    assert!(made.status.success());
    let (gate_token, agent_token, key) = (
        bogus_gate.to_str().unwrap(),
        bogus_agent.to_str().unwrap(),
        other_key.to_str().unwrap(),
    );
    let cases: [(&str, (&str, &str), &[&str]); 6] = [
        (
            "wrong gate token",
            ("--gate-token-file", gate_token),
            &["the gate token is not accepted", "401 unauthenticated"],
        ),
        (
            "an agent's token as the gate token",
            ("--gate-token-file", p.agent_file.to_str().unwrap()),
            &[
                "the gate token is not a gate's token",
                "403 scope_insufficient",
            ],
        ),
        (
            "wrong agent token",
            ("--token-file", agent_token),
            &["the agent token is not accepted", "401 unauthenticated"],
        ),
        (
            "wrong gate key",
            ("--gate-key", key),
            &[
                "the gate key does not match the public key registered for gate:runner",
                "403 attestation_bad_signature",
            ],
        ),
        (
            "wrong zone",
            ("--zone", "prod"),
            &[
                "the zone prod is not the zone gate:runner is registered in",
                "403 attestation_zone_mismatch",
            ],
        ),
        (
            "unreachable control plane",
            ("--control-plane", "http://127.0.0.1:9"),
            &[
                "the control plane at http://127.0.0.1:9 does not answer",
                "--control-plane",
            ],
        ),
    ];
    for (case, setting, expected) in cases {
        let (code, err) = p.exec("text", &[setting], &["/usr/bin/git", "--version"]);
        // The command did not run: 120 + 3 (invalid input), apart from any status of its own.
        assert_eq!(code, 123, "{case}: {err}");
        assert!(err.contains("gate self-check failed"), "{case}: {err}");
        for e in expected {
            assert!(err.contains(e), "{case}: expected {e:?} in:\n{err}");
        }
    }
    // The right settings pass the check and run.
    let (code, err) = p.exec("text", &[], &["/usr/bin/git", "--version"]);
    assert_eq!(code, 0, "{err}");

    // The MCP gateway checks the same before it starts its upstream.
    let pins = dir.join("pins.json");
    std::fs::write(
        &pins,
        r#"{"format":"writ.mcp-pins/v3","server":"fs","tools":{},"prompts":{},"resources":{},"resource_templates":{}}"#,
    )
    .unwrap();
    let marker = dir.join("upstream-started");
    let out = Command::new(BIN)
        .args(["gateway", "mcp", "--upstream-name", "fs", "--pins"])
        .arg(&pins)
        .args(["--control-plane", &p.served.url, "--gate-id", p.gate_id])
        .args(["--zone", p.zone, "--gate-key"])
        .arg(&p.gate_key)
        .arg("--token-file")
        .arg(&p.agent_file)
        .arg("--gate-token-file")
        .arg(&bogus_gate)
        .args(["--", "touch"])
        .arg(&marker)
        .env_remove("WRIT_TOKEN")
        .env_remove("WRIT_GATE_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("the gate token is not accepted") && err.contains("401 unauthenticated"),
        "{err}"
    );
    assert!(!marker.exists(), "the upstream started before the check");
}
