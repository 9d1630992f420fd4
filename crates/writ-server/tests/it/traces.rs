//! `POST /v1/authorize` with a W3C `traceparent` header: the writ's lineage keeps the caller's
//! trace id with the execution's own span id; its children stay in that trace; an invalid header
//! starts a trace of its own (W3C), it is never an error.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::harness::TestServer;

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

fn lineage_of(answer: &Value) -> Value {
    let payload = answer["writ"].as_str().unwrap().split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["lineage"].clone()
}

fn span_of(execution: &Value) -> String {
    execution.as_str().unwrap().replace('-', "")[16..].to_owned()
}

#[tokio::test]
async fn an_incoming_traceparent_is_carried_into_the_writs_lineage() {
    let (srv, agent, gate) = TestServer::provisioned().await;
    let body = json!({
        "intent": {"action": "mcp.call_tool", "resource": "tool:github/get_issue", "args": {"repo": "acme/api", "number": 7}},
        "attestation": gate.attest(),
    });
    let send = |tp: Option<&'static str>, body: Value| {
        let mut req = srv
            .client
            .post(srv.url("/v1/authorize"))
            .bearer_auth(&agent)
            .json(&body);
        if let Some(tp) = tp {
            req = req.header("traceparent", tp);
        }
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 200);
            resp.json::<Value>().await.unwrap()
        }
    };
    let caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let allowed = send(Some(caller), body.clone()).await;
    let lineage = lineage_of(&allowed);
    assert_eq!(
        lineage["traceparent"],
        json!(format!("00-{TRACE}-{}-01", span_of(&allowed["execution"])))
    );
    // The decision record says the same (the ledger is the evidence).
    let (_, proof) = srv
        .proof(&agent, allowed["execution"].as_str().unwrap())
        .await;
    // (v2: the request is in the decision's disclosure, read with it.)
    let recorded: Vec<Value> = writ_ledger::evidence::bundle_entry_views(&proof)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    let decision = recorded.iter().find(|e| e["type"] == "decision").unwrap();
    assert_eq!(
        decision["request"]["lineage"]["traceparent"],
        lineage["traceparent"]
    );

    // A child execution stays in the caller's trace without sending the header again.
    let mut child_body = body.clone();
    child_body["parent"] = allowed["execution"].clone();
    let child = send(None, child_body).await;
    let child_lineage = lineage_of(&child);
    assert_eq!(child_lineage["root"], allowed["execution"]);
    assert_eq!(
        child_lineage["traceparent"],
        json!(format!("00-{TRACE}-{}-01", span_of(&child["execution"])))
    );

    // No header, or one that is not a W3C traceparent: a trace of its own (the root's id).
    for tp in [
        None,
        Some("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"),
        Some("garbage"),
    ] {
        let answer = send(tp, body.clone()).await;
        let own = answer["execution"].as_str().unwrap().replace('-', "");
        assert_eq!(
            lineage_of(&answer)["traceparent"],
            json!(format!("00-{own}-{}-01", &own[16..])),
            "{tp:?}"
        );
    }
    srv.stop().await;
}
