//! `writ bench mcp` (issue 19): one invocation measures the same echo call directly, through a
//! bare relay, through `writ gateway mcp` (with a control plane of its own and with one
//! embedded), and through AGT's proxy when asked; every call must succeed. Latencies are
//! printed by the bench, never asserted here.

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
    assert_paths(&v, &["direct", "relay", "writ", "writ-embedded"], 30);
    assert_eq!(v["in_flight"], 1);
    assert!(v["agt"].is_null());
    // The floors were measured in the run: the relay's added time is the relay path's, and a
    // durable write was timed between every round.
    let floors = &v["floors"];
    assert_eq!(
        floors["relay_added_p50_us"], v["paths"][1]["added_p50_us"],
        "{floors}"
    );
    let durable = floors["durable_write_p50_us"].as_f64().unwrap();
    assert!(durable > 0.0, "{floors}");
    assert!(floors["durable_write_p99_us"].as_f64().unwrap() >= durable);
    assert!(
        floors["durable_write_bytes"].as_u64().unwrap() > 16_384,
        "{floors}"
    );
    // Writ's paths pay both floors; what each adds beyond them is its added p50 less both.
    let beyond = floors["beyond_p50_us"].as_object().unwrap();
    let names: Vec<&str> = beyond.keys().map(String::as_str).collect();
    assert_eq!(names, ["writ", "writ-embedded"], "{floors}");
    for (i, name) in [(2, "writ"), (3, "writ-embedded")] {
        let added = v["paths"][i]["added_p50_us"].as_f64().unwrap();
        let expect = added - floors["together_p50_us"].as_f64().unwrap();
        assert!(
            (beyond[name].as_f64().unwrap() - expect).abs() < 1e-6,
            "{floors}"
        );
    }
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
    assert_paths(&v, &["direct", "relay", "writ", "writ-embedded"], 64);
    assert_eq!(v["in_flight"], 8);
    // Latency floors mean nothing with calls queued behind each other: none are given.
    assert!(v["floors"].is_null(), "{}", v["floors"]);
}

// Installs agent-governance-toolkit-cli from PyPI into the bench's cache (network).
#[test]
#[ignore = "installs AGT from PyPI"]
fn bench_mcp_measures_the_agt_proxy_too() {
    let Some(v) = bench(&["--calls", "30", "--warmup", "5"]) else {
        return;
    };
    assert_paths(&v, &["direct", "relay", "writ", "agt", "writ-embedded"], 30);
    // AGT records nothing durably: only the relay's floor is taken from its added time.
    let floors = &v["floors"];
    let agt = v["paths"][3]["added_p50_us"].as_f64().unwrap();
    let relay = floors["relay_added_p50_us"].as_f64().unwrap();
    assert!((floors["beyond_p50_us"]["agt"].as_f64().unwrap() - (agt - relay)).abs() < 1e-6);
    assert!(v["writ_added_over_agt_added_p50"].is_number());
    assert!(v["writ_embedded_added_over_agt_added_p50"].is_number());
}
