//! The gateway continues the client's W3C trace: a governed call's `params._meta.traceparent`,
//! else the transport's `traceparent` header, reaches the control plane, and the writ's
//! lineage carries that trace id (the request's `_meta` wins over the header); an invalid one
//! is ignored (a trace of the execution's own).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use writ_gate::mcp::enforce::Admission;

use crate::mcp_faults::{POLICIES, call, ready};
use crate::mcp_harness::Plane;

const HEADER: &str = "00-11111111111111111111111111111111-2222222222222222-01";
const META: &str = "00-33333333333333333333333333333333-4444444444444444-01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_governed_call_carries_the_clients_trace_from_meta_or_the_header() {
    let plane = Plane::start(POLICIES).await;
    let token = plane.add_principal("agent:a").await;
    let e = ready(&plane, &plane.base, Duration::from_secs(5)).await;
    let mut with_meta = call("echo");
    with_meta["params"]["_meta"] = json!({"traceparent": META});
    for (request, header, want) in [
        (
            call("echo"),
            Some(HEADER),
            Some("11111111111111111111111111111111"),
        ),
        (
            with_meta.clone(),
            Some(HEADER),
            Some("33333333333333333333333333333333"),
        ),
        (with_meta, None, Some("33333333333333333333333333333333")),
        (call("echo"), Some("00-not-a-trace"), None),
        (call("echo"), None, None),
    ] {
        let Admission::Call(permit) = e.admit_in_trace(Some(&token), &request, header).await else {
            panic!("the call was not admitted");
        };
        let execution = permit.execution.to_string();
        let proof: Value = plane.proof(&execution).await;
        let payload = proof["writ"].as_str().unwrap().split('.').nth(1).unwrap();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        let own = execution.replace('-', "");
        let trace = want.map_or(own.clone(), str::to_owned);
        assert_eq!(
            claims["lineage"]["traceparent"],
            json!(format!("00-{trace}-{}-01", &own[16..])),
            "header {header:?}, request {request}"
        );
    }
    plane.stop().await;
}
