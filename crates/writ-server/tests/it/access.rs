//! Who may act and who may read: zones withdraw the principals registered in them, registered
//! attributes reach policies, executions are hidden from those who may not read them, and
//! lineage cannot be grafted onto another principal's execution.

use serde_json::{Value, json};
use writ_authorize::ReplayOutcome;
use writ_model::DecisionRecord;

use crate::harness::{Feed, Gate, TestServer, bundle_files};

fn read_issue(gate: &Gate) -> Value {
    json!({"intent": {"action": "mcp.call_tool", "resource": "tool:github/get_issue", "args": {}}, "attestation": gate.attest()})
}

fn create_issue(gate: &Gate) -> Value {
    json!({"intent": {"action": "mcp.call_tool", "resource": "tool:github/create_issue", "args": {}}, "attestation": gate.attest()})
}

/// Registers a principal with extra fields (attrs, role); returns (status, answer).
async fn register(srv: &TestServer, body: Value) -> (u16, Value) {
    srv.call("POST", "/v1/admin/principals", Some(&srv.admin), Some(body))
        .await
}

async fn register_ok(srv: &TestServer, body: Value) -> String {
    let (st, answer) = register(srv, body).await;
    assert_eq!(st, 201, "{answer}");
    answer["token"].as_str().unwrap().to_owned()
}

async fn feed(srv: &TestServer, gate: &Gate) -> Feed {
    let resp = srv
        .client
        .get(srv.url("/v1/events"))
        .bearer_auth(&gate.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    Feed::new(resp)
}

// Finding 6 of issue 12: after `writ revoke --zone dev`, agent:other, registered in dev but
// authorizing through a gate of another zone, still got a writ: only the gate's zone was
// consulted, never the principal's registered one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_revocation_stops_principals_registered_in_it() {
    let srv = TestServer::start().await;
    srv.activate_default().await;
    let other = srv.add_principal("agent:other", "dev").await;
    let bystander = srv.add_principal("agent:bystander", "ops").await;
    let ops_gate = srv.add_gate("gate:ops-1", "ops").await;
    let dev_gate = srv.add_gate("gate:dev-1", "dev").await;
    let running = srv.authorize_ok(&other, read_issue(&ops_gate)).await;
    srv.authorize_ok(&bystander, read_issue(&dev_gate)).await;

    let mut events = feed(&srv, &ops_gate).await;
    events.next_of("snapshot").await;
    srv.revoke(json!({"zone": "dev"})).await;

    // The principal registered in dev is refused through a gate of ops...
    let (st, deny) = srv.authorize(&other, read_issue(&ops_gate)).await;
    assert_eq!(
        (st, deny["reason_code"].clone()),
        (403, json!("zone_quarantined")),
        "{deny}"
    );
    // ...and so is anyone through the gate registered in dev.
    let (st, deny) = srv.authorize(&bystander, read_issue(&dev_gate)).await;
    assert_eq!(
        (st, deny["reason_code"].clone()),
        (403, json!("zone_quarantined")),
        "{deny}"
    );
    // A principal of another zone through a gate of another zone is untouched.
    srv.authorize_ok(&bystander, read_issue(&ops_gate)).await;
    // Its running execution's lease is not renewed.
    let (st, renewed) = srv
        .renew(&other, running["execution"].as_str().unwrap(), &ops_gate)
        .await;
    assert_eq!(
        (st, renewed["reason_code"].clone()),
        (403, json!("principal_or_zone_withdrawn")),
        "{renewed}"
    );
    // Gates learn who is withdrawn with the zone, as the event and in every later snapshot.
    let event = events.next_of("revocation").await;
    assert_eq!(event["principals"], json!(["agent:other"]), "{event}");
    let mut later = feed(&srv, &ops_gate).await;
    let snapshot = later.next_of("snapshot").await;
    assert_eq!(snapshot["principals"], json!(["agent:other"]), "{snapshot}");
    assert_eq!(snapshot["zones"], json!(["dev"]), "{snapshot}");
    drop((events, later));
    srv.stop().await;
}

/// Regression: the control plane checked only the acting principal, so an agent acting on
/// behalf of a person who had been revoked or quarantined still got writs (recorded as allowed;
/// only gates following the feed refused them). The `act` chain is now held to the same
/// standing, at authorize and at renewal; a person not registered is left to policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_person_stops_agents_acting_on_their_behalf() {
    let srv = TestServer::start().await;
    srv.activate_default().await;
    let agent = srv.add_principal("agent:assistant", "dev").await;
    srv.add_principal("human:alice", "dev").await;
    let gate = srv.add_gate("gate:dev-1", "dev").await;
    let for_person = |who: &str| {
        let mut body = read_issue(&gate);
        body["act"] = json!({"sub": who});
        body
    };
    let running = srv.authorize_ok(&agent, for_person("human:alice")).await;
    // Someone not registered is policy's business, not a refusal here.
    srv.authorize_ok(&agent, for_person("human:nobody")).await;

    for (path, body, code) in [
        (
            "/v1/admin/quarantines",
            json!({"principal": "human:alice", "on": true}),
            "principal_quarantined",
        ),
        (
            "/v1/admin/revocations",
            json!({"principal": "human:alice"}),
            "principal_revoked",
        ),
    ] {
        let (st, answer) = srv.call("POST", path, Some(&srv.admin), Some(body)).await;
        assert!(st == 200 || st == 201, "{path}: {answer}");
        let (st, deny) = srv.authorize(&agent, for_person("human:alice")).await;
        assert_eq!(
            (st, deny["reason_code"].clone()),
            (403, json!(code)),
            "{deny}"
        );
        let reasons = deny["reasons"].to_string();
        assert!(reasons.contains("on behalf of human:alice"), "{deny}");
    }
    // The agent on its own, and for others, is untouched; its execution for alice ends.
    srv.authorize_ok(&agent, read_issue(&gate)).await;
    srv.authorize_ok(&agent, for_person("human:nobody")).await;
    let (st, renewed) = srv
        .renew(&agent, running["execution"].as_str().unwrap(), &gate)
        .await;
    assert_eq!(
        (st, renewed["reason_code"].clone()),
        (403, json!("principal_or_zone_withdrawn")),
        "{renewed}"
    );
    srv.stop().await;
}

// Finding 6 of issue 12: a quarantined zone did not end the running executions of principals
// registered in it (the gate only knew the zone the writ runs in); releasing it gives them
// back, and only them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_quarantine_ends_running_executions() {
    let srv = TestServer::start().await;
    srv.activate_default().await;
    let other = srv.add_principal("agent:other", "dev").await;
    srv.add_principal("agent:held", "dev").await;
    let ops_gate = srv.add_gate("gate:ops-1", "ops").await;
    let running = srv.authorize_ok(&other, read_issue(&ops_gate)).await;
    let execution = running["execution"].as_str().unwrap();
    srv.quarantine(json!({"principal": "agent:held"})).await;

    let mut events = feed(&srv, &ops_gate).await;
    events.next_of("snapshot").await;
    srv.quarantine(json!({"zone": "dev"})).await;
    let on = events.next_of("quarantine").await;
    assert_eq!(
        on["principals"],
        json!(["agent:held", "agent:other"]),
        "{on}"
    );

    // The gate ends the running execution as for a revoked principal: its revocation set now
    // refuses the writ.
    let revocations = writ_artifact::RevocationSet::new();
    for p in on["principals"].as_array().unwrap() {
        revocations.revoke_principal(p.as_str().unwrap().parse().unwrap());
    }
    let claims: writ_artifact::WritClaims = serde_json::from_value(
        writ_artifact::decode_unverified(running["writ"].as_str().unwrap())
            .unwrap()
            .claims,
    )
    .unwrap();
    assert_eq!(
        revocations.check(&claims).unwrap_err().reason_code(),
        "writ_revoked_principal"
    );
    let (st, renewed) = srv.renew(&other, execution, &ops_gate).await;
    assert_eq!(st, 403, "{renewed}");

    // Released: the zone's principals in good standing are given back, the one quarantined by
    // name is not.
    srv.quarantine(json!({"zone": "dev", "on": false})).await;
    let off = events.next_of("quarantine").await;
    assert_eq!(off["principals"], json!(["agent:other"]), "{off}");
    srv.authorize_ok(&other, read_issue(&ops_gate)).await;
    drop(events);
    srv.stop().await;
}

// Finding 6 of issue 12: `writ principal add --attrs '{"owner":"human:bob"}'` stored the
// attributes, but policies never saw them (nor the registered zone): `principal.owner` was
// unset for every registered principal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn principal_attributes_reach_policies() {
    let srv = TestServer::start().await;
    srv.activate(bundle_files(Some(
        r#"
        @id("bob-owns-issues")
        permit (principal is Agent, action == Action::"call_tool", resource == Tool::"github/create_issue")
        when { principal has owner && principal.owner == "human:bob" };
        @id("zone-prod-writes")
        permit (principal is Agent, action == Action::"call_tool", resource == Tool::"fs/write_file")
        when { principal has zone && principal.zone == "prod" && principal in Zone::"prod" };
        "#,
    )))
    .await;
    let gate = srv.add_gate("gate:mcp-1", "dev").await;
    let bobs = register_ok(
        &srv,
        json!({"id": "agent:bobs", "zone": "prod", "attrs": {"owner": "human:bob", "undeclared": [1]}}),
    )
    .await;
    let carols = register_ok(
        &srv,
        json!({"id": "agent:carols", "zone": "dev", "attrs": {"owner": "human:carol"}}),
    )
    .await;

    let allowed = srv.authorize_ok(&bobs, create_issue(&gate)).await;
    let (st, deny) = srv.authorize(&carols, create_issue(&gate)).await;
    assert_eq!(st, 403, "{deny}");
    let write = || json!({"intent": {"action": "mcp.call_tool", "resource": "tool:fs/write_file", "args": {"path": "/etc/x"}}, "attestation": gate.attest()});
    let (st, body) = srv.authorize(&bobs, write()).await;
    assert_eq!(st, 200, "registered in prod: {body}");
    let (st, body) = srv.authorize(&carols, write()).await;
    assert_eq!(st, 403, "registered in dev: {body}");

    // The record holds the registration, so replay rebuilds the same entity.
    let index = allowed["ledger_index"].as_u64().unwrap();
    let record: DecisionRecord = srv.decision_at(index);
    let registered = record.request.principal_entity.clone().unwrap();
    assert_eq!(registered.zone.as_str(), "prod");
    assert_eq!(registered.attrs["owner"], "human:bob");
    let bundle = srv.state.bundles.current().unwrap();
    assert_eq!(
        writ_authorize::replay(&bundle, &record),
        ReplayOutcome::Match
    );

    // Attributes the schema types otherwise, and `zone` as an attribute, are refused.
    let (st, bad) = register(
        &srv,
        json!({"id": "agent:bad", "zone": "dev", "attrs": {"owner": 7}}),
    )
    .await;
    assert_eq!(
        (st, bad["code"].clone()),
        (422, json!("principal_attrs_invalid")),
        "{bad}"
    );
    let (st, bad) = register(
        &srv,
        json!({"id": "agent:bad", "zone": "dev", "attrs": {"zone": "prod"}}),
    )
    .await;
    assert_eq!(
        (st, bad["code"].clone()),
        (400, json!("principal_attrs_invalid")),
        "{bad}"
    );
    srv.stop().await;
}

/// The 404 an unknown execution gets, for `execution`.
async fn unknown_answer(srv: &TestServer, path: &str, execution: &str) -> Value {
    let unknown = "0190f5c2-1c2d-7a00-8000-000000000000";
    let (st, body) = srv
        .call("GET", &format!("{path}/{unknown}"), Some(&srv.admin), None)
        .await;
    assert_eq!(st, 404, "{body}");
    serde_json::from_str(&body.to_string().replace(unknown, execution)).unwrap()
}

// Finding 9 of issue 12: any token (another agent's, any gate's) read any execution's proof
// bundle, its writ included, and its lineage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_and_lineage_are_hidden_from_other_principals() {
    let (srv, agent, gate) = TestServer::provisioned().await;
    let outsider = srv.add_principal("agent:outsider", "dev").await;
    let other_gate = srv.add_gate("gate:other", "dev").await;
    let auditor = register_ok(
        &srv,
        json!({"id": "human:alice", "zone": "dev", "role": "auditor"}),
    )
    .await;
    let person = srv.add_principal("human:dave", "dev").await;
    let allow = srv.authorize_ok(&agent, read_issue(&gate)).await;
    let execution = allow["execution"].as_str().unwrap();

    for path in ["/v1/proofs", "/v1/lineage"] {
        let url = format!("{path}/{execution}");
        let hidden = unknown_answer(&srv, path, execution).await;
        for (who, token) in [
            ("another agent", outsider.as_str()),
            ("another gate", other_gate.token.as_str()),
            ("a person without a role", person.as_str()),
        ] {
            let (st, body) = srv.call("GET", &url, Some(token), None).await;
            assert_eq!((st, &body), (404, &hidden), "{who} read {url}");
        }
        for (who, token) in [
            ("its principal", agent.as_str()),
            ("its gate", gate.token.as_str()),
            ("the admin", srv.admin.as_str()),
            ("an auditor", auditor.as_str()),
        ] {
            let (st, body) = srv.call("GET", &url, Some(token), None).await;
            assert_eq!(st, 200, "{who} cannot read {url}: {body}");
        }
    }
    // A gate cannot post receipts about another gate's execution either: unknown to it.
    let body = json!({
        "type": "receipt", "v": 1, "execution": execution, "jti": execution, "gate": "gate:other",
        "intent": {"action": "mcp.call_tool", "resource": "tool:github/get_issue", "args_sha256": "00".repeat(32)},
        "outcome": "success", "result_sha256": "00".repeat(32), "started_at": 1, "finished_at": 2
    });
    let input = writ_model::canonical::to_canonical_vec(&body).unwrap();
    let receipt = json!({"body": body, "kid": "gate:other", "sig": other_gate.sign_b64(&input)});
    let (st, r) = srv
        .call(
            "POST",
            "/v1/receipts",
            Some(&other_gate.token),
            Some(receipt),
        )
        .await;
    assert_eq!(
        (st, r["code"].clone()),
        (404, json!("execution_unknown")),
        "{r}"
    );
    // Nor renew another principal's lease: unknown to it.
    let (st, r) = srv.renew(&outsider, execution, &gate).await;
    assert_eq!(
        (st, r["code"].clone()),
        (404, json!("lease_unknown")),
        "{r}"
    );
    // A role is for people only.
    let (st, r) = register(
        &srv,
        json!({"id": "agent:boss", "zone": "dev", "role": "admin"}),
    )
    .await;
    assert_eq!(
        (st, r["code"].clone()),
        (400, json!("role_not_for_principal")),
        "{r}"
    );
    srv.stop().await;
}

// Finding 11 of issue 12: any agent could hang its execution under another principal's with
// "parent": <id> (200, a writ naming that parent and root, listed in the other's lineage),
// while an unknown parent got 400 parent_unknown: the call also told whether an id exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_of_another_principal_is_refused_as_unknown() {
    let (srv, victim, gate) = TestServer::provisioned().await;
    let sub = srv.add_principal("agent:sub-bot", "dev").await;
    let intruder = srv.add_principal("agent:outsider", "dev").await;
    let theirs = srv.authorize_ok(&victim, read_issue(&gate)).await;
    let theirs = theirs["execution"].as_str().unwrap();
    let size = srv.state.ledger.checkpoint().size();

    let with_parent = |parent: &str| {
        let mut body = read_issue(&gate);
        body["parent"] = json!(parent);
        body
    };
    let unknown = "0190f5c2-1c2d-7a00-8000-000000000000";
    let (st, answer) = srv.authorize(&intruder, with_parent(unknown)).await;
    assert_eq!(st, 400, "{answer}");
    let as_unknown: Value =
        serde_json::from_str(&answer.to_string().replace(unknown, theirs)).unwrap();
    let (st, grafted) = srv.authorize(&intruder, with_parent(theirs)).await;
    assert_eq!((st, &grafted), (400, &as_unknown));
    // Nothing was recorded, and the victim's lineage lists no stranger.
    assert_eq!(srv.state.ledger.checkpoint().size(), size);
    let (st, lineage) = srv.lineage(&victim, theirs).await;
    assert_eq!(st, 200, "{lineage}");
    assert_eq!(lineage["descendants"], json!([]));

    // Its own executions, and a delegation to it, are parents a caller may name.
    let own = srv.authorize_ok(&intruder, read_issue(&gate)).await;
    srv.authorize_ok(&intruder, with_parent(own["execution"].as_str().unwrap()))
        .await;
    let grant =
        json!({"actions": ["mcp.call_tool"], "resources": ["tool:github/*"], "zones": ["dev"]});
    let deleg = srv.authorize_ok(&victim, json!({"intent": {"action": "delegate", "resource": "agent:sub-bot", "args": grant}, "attestation": gate.attest()})).await;
    let deleg = deleg["execution"].as_str().unwrap();
    let child = srv.authorize_ok(&sub, with_parent(deleg)).await;
    // A delegation to someone else is not one the intruder may act under.
    let (st, refused) = srv.authorize(&intruder, with_parent(deleg)).await;
    assert_eq!(st, 400, "{refused}");
    assert_eq!(refused["code"], "parent_unknown");
    // The delegator reads what was done under its delegation; the intruder does not.
    let child = child["execution"].as_str().unwrap();
    assert_eq!(srv.proof(&victim, child).await.0, 200);
    assert_eq!(srv.lineage(&intruder, child).await.0, 404);
    srv.stop().await;
}

// Issue 13: tiles and entry bundles told anyone, without a token, every decision's arguments.
// Checkpoints stay public; tiles, entry bundles and consistency proofs need a read role's
// token unless the operator makes ledger reads public.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_tiles_need_a_read_role_unless_reads_are_public() {
    let (srv, agent, gate) = TestServer::provisioned().await;
    let auditor = register_ok(
        &srv,
        json!({"id": "human:alice", "zone": "dev", "role": "auditor"}),
    )
    .await;
    let person = srv.add_principal("human:dave", "dev").await;
    srv.authorize_ok(&agent, read_issue(&gate)).await;
    let size = srv.state.ledger.size();
    let reads = [
        format!("/ledger/tile/0/000.p/{size}"),
        format!("/ledger/tile/entries/000.p/{size}"),
        "/v1/ledger/consistency?from=1".to_owned(),
    ];
    for url in &reads {
        let (st, body) = srv.call("GET", url, None, None).await;
        assert_eq!(
            (st, &body["code"]),
            (401, &json!("unauthenticated")),
            "{url}"
        );
        for (who, token) in [
            ("an agent", agent.as_str()),
            ("a gate", gate.token.as_str()),
            ("a person without a role", person.as_str()),
        ] {
            let (st, body) = srv.call("GET", url, Some(token), None).await;
            assert_eq!(
                (st, &body["code"]),
                (403, &json!("scope_insufficient")),
                "{who} read {url}"
            );
        }
        for (who, token) in [
            ("the admin", srv.admin.as_str()),
            ("an auditor", auditor.as_str()),
        ] {
            let (st, body) = srv.call("GET", url, Some(token), None).await;
            assert_eq!(st, 200, "{who} could not read {url}: {body}");
        }
    }
    let (st, _) = srv.call("GET", "/ledger/checkpoint", None, None).await;
    assert_eq!(st, 200);

    // The same data directory served with `[ledger] public_reads = true`.
    let (dir, admin, key) = srv.stop().await;
    let mut config = writ_server::ServerConfig {
        data_dir: dir.path().join("data"),
        ..writ_server::ServerConfig::default()
    };
    config.ledger.public_reads = true;
    let srv = TestServer::start_in(dir, config, admin, key).await;
    for url in &reads {
        let (st, body) = srv.call("GET", url, None, None).await;
        assert_eq!(st, 200, "{url} with public reads: {body}");
    }
    let (st, _) = srv.call("GET", "/ledger/checkpoint", None, None).await;
    assert_eq!(st, 200);
    srv.stop().await;
}
