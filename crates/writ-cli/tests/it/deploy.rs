//! The service definitions in `deploy/`: the systemd unit parses and passes
//! `systemd-analyze verify` (where systemd is installed), and the unit and the Containerfile
//! keep the properties the README promises. Neither systemd nor podman can run here.

use std::path::PathBuf;
use std::process::Command;

fn deploy(file: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let unit = deploy("writ.service");
    for line in [
        "DynamicUser=yes",
        "StateDirectory=writ",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "UMask=0077",
        "CapabilityBoundingSet=",
        "#LoadCredential=tls-key:",
    ] {
        assert!(
            unit.lines()
                .any(|l| l.trim() == line || l.starts_with(line)),
            "writ.service lacks {line}"
        );
    }
    // Secrets never on the command line: the only ExecStart names no token or key.
    let exec = unit.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
    assert!(!exec.contains("token") && !exec.contains("key"), "{exec}");

    let Ok(out) = Command::new("systemd-analyze").arg("--version").output() else {
        println!("skipped systemd-analyze verify: systemd-analyze is not installed here");
        return;
    };
    assert!(out.status.success());
    // verify checks the executable exists: point it at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("writ.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/writ", env!("CARGO_BIN_EXE_writ")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {stderr}");
    assert!(
        !stderr.contains("writ.service:"),
        "systemd-analyze warns about the unit: {stderr}"
    );

    // And it does fail on a broken unit (the check can fail).
    std::fs::write(
        &path,
        unit.replace("ProtectSystem=strict", "ProtectSystem=bogus"),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("writ.service:") && stderr.contains("bogus"),
        "a bad value went unnoticed: {stderr}"
    );
}

#[test]
fn the_containerfile_runs_as_non_root_with_data_on_a_volume() {
    let cf = deploy("Containerfile");
    assert!(
        cf.matches("\nFROM ").count() + usize::from(cf.starts_with("FROM ")) >= 2,
        "multi-stage"
    );
    assert!(cf.contains("\nUSER 10001:10001\n"));
    assert!(cf.contains("VOLUME [\"/var/lib/writ\"]"));
    assert!(cf.contains("WRIT_DATA_DIR=/var/lib/writ/data"));
    assert!(cf.contains("--read-only"));
    assert!(cf.contains("cargo build --release --locked"));
}
