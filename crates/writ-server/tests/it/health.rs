//! Issue 16's Health Dashboard data: gates' last contact and feed connection, the ledger's
//! append→checkpoint latency, and policy simulation against recorded (v2) requests.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::TestServer;

async fn status(srv: &TestServer) -> Value {
    let (st, s) = srv.call("GET", "/v1/status", Some(&srv.admin), None).await;
    assert_eq!(st, 200, "{s}");
    s
}

fn gate<'a>(s: &'a Value, id: &str) -> &'a Value {
    s["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["gate"] == id)
        .unwrap_or_else(|| panic!("{id} missing: {s}"))
}

/// Issue 16: a gate's "last contact" was the time of its last authorized execution, so a gate
/// that only follows the event feed looked silent, and one that went away looked alive until
/// the next execution. Now a gate that subscribes to the feed shows connected with a fresh
/// last contact; once it disconnects it is no longer connected; a signed attestation on
/// authorize counts as contact too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_subscriber_is_connected_until_it_disconnects() {
    let (srv, agent, mcp) = TestServer::provisioned().await;
    let feed_only = srv.add_gate("gate:feed-only", "dev").await;
    let s = status(&srv).await;
    let g = gate(&s, "gate:feed-only");
    assert_eq!(
        (&g["connected"], &g["last_contact"], &g["feeds"]),
        (&json!(false), &Value::Null, &json!(0)),
        "{g}"
    );

    let before = s["now"].as_i64().unwrap();
    let mut resp = srv
        .client
        .get(srv.url("/v1/events"))
        .bearer_auth(&feed_only.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(
        String::from_utf8_lossy(&first).contains("snapshot"),
        "{first:?}"
    );
    let s = status(&srv).await;
    let g = gate(&s, "gate:feed-only");
    assert_eq!(g["connected"], true, "{g}");
    assert_eq!(g["feeds"], 1, "{g}");
    assert_eq!(g["contact_via"], "feed", "{g}");
    let contact = g["last_contact"].as_i64().unwrap();
    assert!(
        contact >= before && contact <= s["now"].as_i64().unwrap(),
        "{g}"
    );
    // It never authorized anything: its last execution is unknown, its contact is not.
    assert_eq!(g["last_seen"], Value::Null, "{g}");
    assert_eq!(g["executions"], 0, "{g}");
    // The health component counts it in contact.
    let (st, h) = srv
        .call("GET", "/v1/status/history", Some(&srv.admin), None)
        .await;
    assert_eq!(st, 200, "{h}");
    let gates = h["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "gates")
        .unwrap();
    assert_eq!(gates["state"], "green", "{gates}");

    // The gate goes away: the server notices (at the latest when the next heartbeat or
    // keep-alive fails to write) and no longer counts it connected.
    drop(resp);
    let deadline = Instant::now() + Duration::from_secs(60);
    let g = loop {
        let s = status(&srv).await;
        let g = gate(&s, "gate:feed-only").clone();
        if g["connected"] == false || Instant::now() > deadline {
            break g;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(g["connected"], false, "{g}");
    assert_eq!(g["feeds"], 0, "{g}");
    assert_eq!(g["contact_via"], "feed_closed", "{g}");
    assert!(g["last_contact"].as_i64().unwrap() >= contact, "{g}");

    // An authorize carrying the gate's signed attestation is a contact of that gate.
    let t = status(&srv).await["now"].as_i64().unwrap();
    srv.authorize_ok(&agent, json!({"intent": {"action": "mcp.call_tool", "resource": "tool:github/get_issue", "args": {}}, "attestation": mcp.attest()}))
        .await;
    let s = status(&srv).await;
    let g = gate(&s, "gate:mcp-1");
    assert_eq!(g["contact_via"], "attestation", "{g}");
    assert_eq!(g["connected"], false, "{g}");
    assert!(g["last_contact"].as_i64().unwrap() >= t, "{g}");
    // A request with the gate's token (even one the route refuses) is a contact too.
    let (st, _) = srv
        .call("GET", "/v1/status", Some(&feed_only.token), None)
        .await;
    assert_eq!(st, 403);
    let s = status(&srv).await;
    assert_eq!(gate(&s, "gate:feed-only")["contact_via"], "request");
    srv.stop().await;
}

/// Issue 16: the health page had no ledger append→checkpoint latency. `GET /v1/status`
/// reports it since the server started (last batch, p50, p99) and each history sample over its
/// interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_to_checkpoint_latency_is_reported() {
    let (srv, agent, mcp) = TestServer::provisioned().await;
    srv.authorize_ok(&agent, json!({"intent": {"action": "mcp.call_tool", "resource": "tool:github/get_issue", "args": {}}, "attestation": mcp.attest()}))
        .await;
    let s = status(&srv).await;
    let l = &s["ledger"]["append_checkpoint"];
    let committed = l["entries"].as_u64().unwrap();
    // Every entry this server appended: the activation, the registrations, the decision.
    assert!(committed >= 4, "{l}");
    assert!(l["last_ms"].as_f64().unwrap() >= 0.0, "{l}");
    let p50 = l["p50_ms"].as_f64().unwrap();
    let p99 = l["p99_ms"].as_f64().unwrap();
    assert!(p50 > 0.0 && p99 >= p50, "{l}");
    println!("append→checkpoint: {committed} entries, last {l}");

    writ_server::health::sample(&srv.state);
    let (st, h) = srv
        .call("GET", "/v1/status/history", Some(&srv.admin), None)
        .await;
    assert_eq!(st, 200, "{h}");
    let samples = h["samples"].as_array().unwrap();
    let last = samples.last().unwrap();
    assert!(last["append_checkpoint_last_ms"].is_f64(), "{last}");
    for k in ["append_checkpoint_p50_ms", "append_checkpoint_p99_ms"] {
        assert!(last.get(k).is_some(), "{k}: {last}");
        // Every committed entry falls in some sample's interval.
        assert!(samples.iter().any(|x| x[k].is_f64()), "{k}: {h}");
    }
    srv.stop().await;
}

/// Issue 16: the console simulated a candidate bundle against recorded decisions with empty
/// arguments (the index keeps no arguments; v2 entries commit them). `last: N` replays the
/// last N recorded requests read back whole — a v2 request from its disclosure — and a request
/// whose disclosure was erased is listed as not simulated, saying why, never decided on
/// made-up arguments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulation_replays_disclosed_requests_and_names_erased_ones() {
    let (srv, agent, mcp) = TestServer::provisioned().await;
    let write = |path: &str| json!({"intent": {"action": "mcp.call_tool", "resource": "tool:fs/write_file", "args": {"path": path}}, "attestation": mcp.attest()});
    let mut ids = Vec::new();
    for path in [
        "/workspace/notes.txt",
        "/workspace/secret/key",
        "/workspace/secret/other",
    ] {
        let a = srv.authorize_ok(&agent, write(path)).await;
        ids.push(a["execution"].as_str().unwrap().to_owned());
    }
    let erased = ids[2].clone();
    let (st, body) = srv
        .call(
            "POST",
            "/v1/admin/evidence/erase",
            Some(&srv.admin),
            Some(json!({"execution": erased, "reason": "test"})),
        )
        .await;
    assert_eq!(st, 200, "{body}");

    let files = crate::harness::bundle_files(Some(
        "@id(\"no-secret-writes\")\n@reason(\"nothing is written under /workspace/secret/\")\nforbid (principal, action == Action::\"call_tool\", resource == Tool::\"fs/write_file\") when { context.args has path && context.args.path like \"/workspace/secret/*\" };\n",
    ));
    let (st, r) = srv
        .call(
            "POST",
            "/v1/admin/bundles/simulate",
            Some(&srv.admin),
            Some(json!({"files": files, "last": 10})),
        )
        .await;
    assert_eq!(st, 200, "{r}");
    let rows = r["recorded"].as_array().unwrap();
    let order: Vec<&str> = rows
        .iter()
        .map(|x| x["execution"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        vec![ids[2].as_str(), ids[1].as_str(), ids[0].as_str()]
    );
    // Erased: not simulated, and says so.
    let e = &rows[0];
    assert_eq!(e["arguments"], "erased", "{e}");
    assert_eq!(e["simulated"], Value::Null, "{e}");
    assert_eq!(e["changed"], Value::Null, "{e}");
    assert!(e["note"].as_str().unwrap().contains("erased"), "{e}");
    assert_eq!(e["recorded"]["decision"], "allow", "{e}");
    // Disclosed: decided on its real arguments; the write under secret/ would now be denied.
    let secret = &rows[1];
    assert_eq!(secret["arguments"], "disclosed", "{secret}");
    assert_eq!(secret["changed"], true, "{secret}");
    assert_eq!(secret["simulated"]["decision"], "deny", "{secret}");
    assert_eq!(
        secret["simulated"]["determining"],
        json!(["no-secret-writes"]),
        "{secret}"
    );
    assert_eq!(
        secret["simulated"]["request"]["intent"]["args"]["path"],
        "/workspace/secret/key"
    );
    let notes = &rows[2];
    assert_eq!(
        (&notes["arguments"], &notes["changed"]),
        (&json!("disclosed"), &json!(false)),
        "{notes}"
    );
    assert_eq!(notes["simulated"]["decision"], "allow", "{notes}");
    assert_eq!(
        r["summary"],
        json!({"requests": 3, "simulated": 2, "changed": 1, "not_simulated": 1}),
        "{r}"
    );

    // Only the newest N; both forms at once, or N out of range, is a 400.
    let (st, r) = srv
        .call(
            "POST",
            "/v1/admin/bundles/simulate",
            Some(&srv.admin),
            Some(json!({"files": files, "last": 1})),
        )
        .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["recorded"].as_array().unwrap().len(), 1);
    for bad in [
        json!({"files": files, "last": 0}),
        json!({"files": files, "last": 1001}),
        json!({"files": files, "last": 2, "requests": [{"principal": "agent:x", "intent": {"action": "a", "resource": "r"}, "env": {"zone": "dev", "gate": "gate:mcp-1"}}]}),
    ] {
        let (st, body) = srv
            .call(
                "POST",
                "/v1/admin/bundles/simulate",
                Some(&srv.admin),
                Some(bad),
            )
            .await;
        assert_eq!(st, 400, "{body}");
    }
    srv.stop().await;
}

/// Issue 16: "a gate silent past its grace period" is judged by its last contact, not its last
/// execution: a gate that contacted the server and then went quiet turns the gates component
/// amber, naming it; a gate following the event feed is never silent, however long no
/// execution passes through it; one never active is not silent.
#[test]
fn a_gate_is_silent_past_its_grace_period_unless_it_follows_the_feed() {
    use writ_model::Clock;
    let dir = tempfile::tempdir().unwrap();
    let config = writ_server::ServerConfig {
        data_dir: dir.path().join("data"),
        ..writ_server::ServerConfig::default()
    };
    writ_server::init_data_dir(&config, &[]).unwrap();
    let start = writ_model::SystemClock.now_unix();
    let clock = std::sync::Arc::new(writ_model::FixedClock::new(start));
    let state = writ_server::AppState::open(config, clock.clone()).unwrap();
    let gates_state = |s: &writ_server::AppState| {
        writ_server::health::components(s, None)
            .into_iter()
            .find(|c| c["component"] == "gates")
            .unwrap()
    };
    state.contacts.touch("gate:quiet", start, "request");
    let watch =
        writ_server::contact::FeedWatch::open(state.contacts.clone(), "gate:follower".into());
    assert_eq!(gates_state(&state)["state"], "green");

    clock.advance(writ_server::health::GATE_SILENT_SECS + 1);
    let g = gates_state(&state);
    assert_eq!(g["state"], "amber", "{g}");
    let reason = g["reason"].as_str().unwrap();
    assert!(reason.contains("gate:quiet"), "{reason}");
    assert!(!reason.contains("gate:follower"), "{reason}");
    assert_eq!(
        writ_server::health::silent_gates(&state),
        vec!["gate:quiet".to_owned()]
    );

    // The follower's feed closes: from then on its grace period runs.
    drop(watch);
    assert_eq!(
        writ_server::health::silent_gates(&state),
        vec!["gate:quiet".to_owned()]
    );
    clock.advance(writ_server::health::GATE_SILENT_SECS + 1);
    assert_eq!(
        writ_server::health::silent_gates(&state),
        vec!["gate:follower".to_owned(), "gate:quiet".to_owned()]
    );
    // A contact brings a gate back.
    state
        .contacts
        .touch("gate:quiet", clock.now_unix(), "attestation");
    assert_eq!(
        writ_server::health::silent_gates(&state),
        vec!["gate:follower".to_owned()]
    );
}
