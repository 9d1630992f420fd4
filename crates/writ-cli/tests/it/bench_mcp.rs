//! `writ bench mcp` (issue 19): one invocation measures the same echo call directly and through
//! `writ gateway mcp` (with a control plane of its own and with one embedded), and through AGT's
//! proxy when asked; every call must succeed. Latencies are printed by the bench, never
//! asserted here.

use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_writ");

/// Runs the bench with `args` (and --format json); its JSON output.
fn bench(args: &[&str]) -> Option<Value> {
    let modules = crate::gateway::node_modules()?;
    let out = Command::new(BIN)
        .args(["bench", "mcp", "--node-modules"])
        .arg(modules)
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    println!("{stdout}");
    Some(serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}")))
}

fn assert_paths(v: &Value, names: &[&str], calls: u64) {
    let paths = v["paths"].as_array().unwrap();
    let got: Vec<&str> = paths.iter().map(|p| p["path"].as_str().unwrap()).collect();
    assert_eq!(got, names, "{v}");
    for p in paths {
        assert_eq!(p["ok"], calls, "{p}");
        assert_eq!(p["errors"], 0, "{p}");
        for k in [
            "p50_us",
            "p99_us",
            "mean_us",
            "calls_per_second",
            "added_p50_us",
        ] {
            assert!(p[k].is_number(), "{k}: {p}");
        }
        assert!(p["p50_us"].as_f64().unwrap() > 0.0, "{p}");
        assert!(p["p99_us"].as_f64().unwrap() >= p["p50_us"].as_f64().unwrap());
    }
    assert_eq!(paths[0]["added_p50_us"], 0.0);
    assert_eq!(v["all_ok"], true);
    // The breakdown comes from the gateway's and the control plane's own metrics: every
    // measured call was admitted by the gateway and authorized by the server, for the gateway
    // with a control plane of its own and the one that embeds it alike.
    for stages in ["writ_stages", "writ_embedded_stages"] {
        assert_stages(&v[stages]);
    }
}

fn assert_stages(st: &Value) {
    for k in [
        "admit_us",
        "server_http_us",
        "server_authorize_us",
        "ledger_append_us",
        "ledger_batch_us",
    ] {
        assert!(st[k].as_f64().is_some_and(|x| x > 0.0), "{k}: {st}");
    }
    // An entry waits for its batch's write at least: the batch is part of the append.
    assert!(
        st["ledger_batch_us"].as_f64() <= st["ledger_append_us"].as_f64(),
        "{st}"
    );
    // Derived (added mean minus admit mean), so machine noise can make it negative: only its
    // presence is checked, never its value.
    assert!(
        st["relay_us"].as_f64().is_some_and(f64::is_finite),
        "relay_us: {st}"
    );
}

#[test]
fn bench_mcp_measures_direct_and_gateway_calls_alike() {
    let Some(v) = bench(&["--calls", "30", "--warmup", "5", "--no-agt"]) else {
        return;
    };
    assert_paths(&v, &["direct", "writ", "writ-embedded"], 30);
    assert_eq!(v["in_flight"], 1);
    assert!(v["agt"].is_null());
}

#[test]
fn bench_mcp_keeps_calls_in_flight_for_throughput() {
    let Some(v) = bench(&[
        "--calls",
        "64",
        "--warmup",
        "8",
        "--in-flight",
        "8",
        "--no-agt",
    ]) else {
        return;
    };
    assert_paths(&v, &["direct", "writ", "writ-embedded"], 64);
    assert_eq!(v["in_flight"], 8);
}

// Installs agent-governance-toolkit-cli from PyPI into the bench's cache (network).
#[test]
#[ignore = "installs AGT from PyPI"]
fn bench_mcp_measures_the_agt_proxy_too() {
    let Some(v) = bench(&["--calls", "30", "--warmup", "5"]) else {
        return;
    };
    assert_paths(&v, &["direct", "writ", "agt", "writ-embedded"], 30);
    assert!(v["writ_added_over_agt_added_p50"].is_number());
    assert!(v["writ_embedded_added_over_agt_added_p50"].is_number());
}
