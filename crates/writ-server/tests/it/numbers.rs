//! Issue 12, findings 1 and 2, over HTTP: a `forbid` on a number holds for every spelling of
//! it, numbers JSON readers disagree on are refused, and replay of the recorded decisions
//! finds no mismatch.

use serde_json::Value;
use writ_authorize::{ReplayOutcome, replay};
use writ_model::DecisionRecord;

use crate::harness::{TestServer, bundle_files};

const FORBID_B_2: &str = r#"
@id("no-b-2")
@reason("b must not be 2")
forbid (principal, action == Action::"call_tool", resource == Tool::"github/create_issue")
when { context.args has b && context.args.b == 2 };
"#;

/// `POST /v1/authorize` with the body exactly as written (the spelling is the point).
async fn authorize_raw(srv: &TestServer, token: &str, body: String) -> (u16, Value) {
    let resp = srv
        .client
        .post(srv.url("/v1/authorize"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// Regression (finding 1): `2.0`, `2e0`, `20e-1` were allowed past `context.args.b == 2`, and
/// `writ replay` then reported `decision_mismatch`; `2.000000000000000001` was allowed too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbid_on_a_number_holds_for_every_spelling_of_it_over_http() {
    let (srv, agent, gate) = TestServer::provisioned().await;
    let mut files = bundle_files(Some(FORBID_B_2));
    let schema = files["writ.cedarschema"]
        .as_str()
        .unwrap()
        .replace("type Args = {", "type Args = {\n  b?: Long,");
    files.insert("writ.cedarschema".into(), Value::String(schema));
    srv.activate(files).await;
    let attestation = gate.attest().to_string();
    let body = |b: &str| {
        format!(
            r#"{{"intent":{{"action":"mcp.call_tool","resource":"tool:github/create_issue","args":{{"repo":"acme/app","b":{b}}}}},"attestation":{attestation}}}"#
        )
    };
    let mut indexes = Vec::new();
    for b in ["2", "2.0", "2e0", "20e-1", "0.2e1", "2E+0", "200e-2"] {
        let (st, answer) = authorize_raw(&srv, &agent, body(b)).await;
        assert_eq!(st, 403, "b = {b}: {answer}");
        assert_eq!(answer["reason_code"], "policy_forbid", "b = {b}: {answer}");
        indexes.push(answer["ledger_index"].as_u64().unwrap());
    }
    for b in ["3", "2.5", "1"] {
        let (st, answer) = authorize_raw(&srv, &agent, body(b)).await;
        assert_eq!(st, 200, "b = {b}: {answer}");
        indexes.push(answer["ledger_index"].as_u64().unwrap());
    }
    // Numbers readers disagree on: refused before any decision, like other invalid input.
    for b in [
        "2.000000000000000001",
        "9007199254740992",
        "9007199254740993",
        "9007199254740993.0",
        "-1e300",
    ] {
        let (st, answer) = authorize_raw(&srv, &agent, body(b)).await;
        assert_eq!(st, 400, "b = {b}: {answer}");
        assert_eq!(answer["code"], "number_out_of_range", "b = {b}: {answer}");
    }
    // `writ replay` over those records: every decision recomputes identically.
    let bundle = srv.state.bundles.current().unwrap();
    for index in indexes {
        let bytes = srv.state.ledger.entry(index).unwrap();
        let record: DecisionRecord = srv.decision_at(index);
        assert_eq!(
            replay(&bundle, &record),
            ReplayOutcome::Match,
            "{}",
            String::from_utf8_lossy(&bytes)
        );
    }
    srv.stop().await;
}
