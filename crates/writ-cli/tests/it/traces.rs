//! Traces (issue 15): an agent's MCP client (the official Python SDK) calls a tool through
//! `writ gateway mcp` with a W3C `traceparent` in the request's `_meta`; the writ's lineage
//! carries the agent's trace id, and a real OTLP/HTTP receiver (tests/interop/otlp_receiver.py,
//! decoding protobuf with the official `opentelemetry-proto` package) gets the gateway's and the
//! control plane's spans in the agent's trace, without argument values.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::upstream::{Setup, probe_script, python};

const BIN: &str = env!("CARGO_BIN_EXE_writ");

/// The agent's own trace and span (as its OpenTelemetry SDK would propagate them).
const AGENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const AGENT_SPAN: &str = "00f067aa0ba902b7";
/// An argument value that must never reach a span.
const ARG_VALUE: &str = "/nonexistent/writ-trace-argument-7f3a";

fn interop(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/interop")
        .join(file)
        .canonicalize()
        .unwrap()
}

/// The receiver, killed on drop.
struct Receiver {
    child: Child,
    url: String,
    out: PathBuf,
}

impl Receiver {
    fn start(python: &Path, out: PathBuf) -> Receiver {
        let mut child = Command::new(python)
            .arg(interop("otlp_receiver.py"))
            .arg(&out)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = serde_json::from_str::<Value>(&line).unwrap()["port"]
            .as_u64()
            .unwrap_or_else(|| panic!("receiver said {line:?}"));
        Receiver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            out,
        }
    }

    fn spans(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_gateway_call_joins_the_agents_trace_in_the_writ_and_the_exported_spans() {
    let Some(python) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&python, tmp.path().join("spans.jsonl"));
    let setup = Setup::start_with(
        tmp.path(),
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url.as_str())],
    );
    let upstream = vec![
        python.to_str().unwrap().to_owned(),
        probe_script().to_str().unwrap().to_owned(),
    ];
    setup.pin("probe", &upstream);
    let traceparent = format!("00-{AGENT_TRACE}-{AGENT_SPAN}-01");
    let plan = json!({"calls": [{
        "name": "read",
        "arguments": {"path": ARG_VALUE},
        "meta": {"traceparent": traceparent},
    }]});
    let out = Command::new(&python)
        .arg(interop("mcp_client.py"))
        .arg("stdio")
        .arg(plan.to_string())
        .arg("--")
        .arg(BIN)
        .args(["gateway", "mcp", "--upstream-name", "probe", "--pins"])
        .arg(setup.pins())
        .args(["--control-plane", &setup.url, "--gate-id", "gate:probe"])
        .args(["--zone", "dev", "--gate-key"])
        .arg(&setup.key)
        .arg("--token-file")
        .arg(&setup.agent_token)
        .arg("--gate-token-file")
        .arg(&setup.gate_token)
        .args(["--otlp-endpoint", &receiver.url])
        .arg("--")
        .args(&upstream)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_str(stdout.trim()).unwrap();
    let call = &result["calls"][0];
    assert_eq!(call["ok"], true, "{result}");
    let execution = call["result"]["_meta"]["dev.writ/execution"]["execution"]
        .as_str()
        .unwrap_or_else(|| panic!("no execution in {call}"))
        .to_owned();

    // The writ's lineage: the agent's trace id, a span id of Writ's own (the execution's).
    let agent_token = std::fs::read_to_string(&setup.agent_token).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let proof: Value = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{}/v1/proofs/{execution}", setup.url))
            .bearer_auth(agent_token.trim())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let writ = proof["writ"].as_str().unwrap();
    // The claims part, which no span may carry.
    let payload = writ.split('.').nth(1).unwrap();
    let claims = writ_artifact::decode_unverified(writ).unwrap().claims;
    let lineage_tp = claims["lineage"]["traceparent"]
        .as_str()
        .unwrap()
        .to_owned();
    let exec_uuid = execution.replace('-', "");
    assert_eq!(
        lineage_tp,
        format!("00-{AGENT_TRACE}-{}-01", &exec_uuid[16..]),
        "the writ's lineage"
    );
    println!("writ lineage.traceparent: {lineage_tp} (agent sent {traceparent})");

    // Stop the control plane gracefully so it exports what it still holds (the gateway
    // already flushed when its client closed it).
    let Setup { served, .. } = setup;
    let served = served.expect("Setup::start_with runs its own control plane");
    served.signal("-TERM");
    assert_eq!(served.wait(Duration::from_secs(30)), Some(0));

    let spans = receiver.spans();
    for s in &spans {
        println!("receiver: {s}");
    }
    let in_trace: Vec<&Value> = spans
        .iter()
        .filter(|s| s["trace_id"] == AGENT_TRACE)
        .collect();
    let named = |name: &str| -> &Value {
        in_trace
            .iter()
            .copied()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no span {name} in the agent's trace: {spans:#?}"))
    };
    let call_span = named("writ.gate.call");
    assert_eq!(call_span["service"], "writ-gateway");
    assert_eq!(
        call_span["parent_span_id"], AGENT_SPAN,
        "the agent's span is its parent"
    );
    assert_eq!(call_span["attributes"]["execution"], json!(execution));
    assert_eq!(call_span["attributes"]["decision"], "allow");
    for child in ["writ.gate.check", "writ.gate.upstream", "writ.gate.receipt"] {
        assert_eq!(
            named(child)["parent_span_id"],
            call_span["span_id"],
            "{child}"
        );
    }
    let authorize = named("writ.authorize");
    assert_eq!(authorize["service"], "writ-serve");
    assert_eq!(
        authorize["parent_span_id"], call_span["span_id"],
        "the control plane's span is the gateway's child"
    );
    assert_eq!(authorize["attributes"]["execution"], json!(execution));
    for child in ["writ.decide", "writ.record", "writ.sign"] {
        assert_eq!(
            named(child)["parent_span_id"],
            authorize["span_id"],
            "{child}"
        );
    }
    // No argument value, token or writ in any span.
    let text = std::fs::read_to_string(&receiver.out).unwrap();
    assert!(
        !text.contains("writ-trace-argument"),
        "an argument reached a span"
    );
    assert!(!text.contains(agent_token.trim()), "a token reached a span");
    assert!(!text.contains(payload), "the writ reached a span");
}
