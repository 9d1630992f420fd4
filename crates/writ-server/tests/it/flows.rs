//! verify → authorize → record → issue, and governance, through the real API.

use serde_json::{Value, json};
use writ_artifact::{Jwks, VerificationKeys, Verifier, VerifierConfig};
use writ_ledger::ProofBundle;
use writ_model::{Intent, SystemClock};

use crate::harness::{Feed, TestServer, bundle_files, sign_files};

fn intent(tool: &str, args: Value) -> Value {
    json!({"action": "mcp.call_tool", "resource": format!("tool:{tool}"), "args": args})
}

/// An authorize body for a read-only call the default bundle allows, attested by `gate`.
fn read_issue(gate: &crate::harness::Gate) -> Value {
    json!({"intent": intent("github/get_issue", json!({})), "attestation": gate.attest()})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_deny_receipt_proof_and_lineage() {
    let (srv, agent, gate) = TestServer::provisioned().await;

    let args = json!({"repo": "acme/api", "number": 7});
    let allow = srv.authorize_ok(&agent, json!({"intent": intent("github/get_issue", args.clone()), "attestation": gate.attest()})).await;
    assert_eq!(allow["decision"], "allow");
    let token = allow["writ"].as_str().unwrap();

    // The gate verifies offline with the published keys and the exact call.
    let (_, jwks) = srv.call("GET", "/.well-known/jwks.json", None, None).await;
    let jwks: Jwks = serde_json::from_value(jwks).unwrap();
    let verifier = Verifier::new(
        VerificationKeys::from_jwks(&jwks).unwrap(),
        VerifierConfig::new("gate:mcp-1".parse().unwrap()),
        std::sync::Arc::new(SystemClock),
    );
    let call = Intent::new("mcp.call_tool", "tool:github/get_issue", args.clone());
    let verified = verifier.verify_call(token, &call).unwrap();
    assert_eq!(
        verified.claims().ledger.index,
        allow["ledger_index"].as_u64().unwrap()
    );
    let changed = Intent::new(
        "mcp.call_tool",
        "tool:github/get_issue",
        json!({"repo": "acme/api", "number": 8}),
    );
    assert_eq!(
        verifier
            .verify_call(token, &changed)
            .unwrap_err()
            .reason_code(),
        "writ_intent_mismatch"
    );

    // A denied call carries its reason and is recorded too.
    let (st, deny) = srv.authorize(&agent, json!({"intent": intent("fs/write_file", json!({"path": "/etc/passwd"})), "attestation": gate.attest()}))
        .await;
    assert_eq!(st, 403, "{deny}");
    assert_eq!(deny["decision"], "deny");
    assert!(deny["ledger_index"].as_u64().is_some());

    // The gate's receipt lands in the ledger and in the execution's proof bundle.
    let execution = allow["execution"].as_str().unwrap();
    let body = json!({
        "type": "receipt", "v": 1, "execution": execution, "jti": verified.claims().jti, "gate": "gate:mcp-1",
        "intent": call.digest().unwrap(), "outcome": "success", "result_sha256": "00".repeat(32),
        "started_at": 1, "finished_at": 2
    });
    let input = writ_model::canonical::to_canonical_vec(&body).unwrap();
    let receipt = json!({"body": body, "kid": "gate:mcp-1", "sig": gate.sign_b64(&input)});
    let (st, r) = srv
        .call(
            "POST",
            "/v1/receipts",
            Some(&gate.token),
            Some(receipt.clone()),
        )
        .await;
    assert_eq!(st, 201, "{r}");
    // An agent cannot post receipts, and a forged signature is refused.
    let (st, _) = srv
        .call("POST", "/v1/receipts", Some(&agent), Some(receipt.clone()))
        .await;
    assert_eq!(st, 403);
    let mut forged = receipt.clone();
    forged["body"]["outcome"] = json!("failure");
    let (st, r2) = srv
        .call("POST", "/v1/receipts", Some(&gate.token), Some(forged))
        .await;
    assert_eq!(
        (st, r2["code"].clone()),
        (403, json!("receipt_bad_signature"))
    );

    let (kinds, proof) = proof_kinds(&srv, &agent, execution).await;
    assert_eq!(kinds, ["decision", "receipt", "gate.changed"]);
    assert_eq!(proof["writ"], allow["writ"]);

    // A child execution links to its parent in the lineage.
    let child = srv.authorize_ok(&agent, json!({"intent": intent("fs/read_file", json!({"path": "/workspace/a"})), "attestation": gate.attest(), "parent": execution})).await;
    let (st, lineage) = srv.lineage(&agent, execution).await;
    assert_eq!(st, 200);
    assert_eq!(lineage["descendants"][0]["execution"], child["execution"]);
    let (_, up) = srv
        .lineage(&agent, child["execution"].as_str().unwrap())
        .await;
    assert_eq!(up["ancestors"][0]["execution"], json!(execution));
    assert_eq!(up["root"], json!(execution));

    // Consistency between the first checkpoint seen and now.
    let (st, cons) = srv
        .call(
            "GET",
            "/v1/ledger/consistency?from=1",
            Some(&srv.admin),
            None,
        )
        .await;
    assert_eq!(st, 200, "{cons}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn governance_withdraws_trust_and_is_recorded() {
    let (srv, agent, gate) = TestServer::provisioned().await;
    let req = || read_issue(&gate);
    let (st, _) = srv.authorize(&agent, req()).await;
    assert_eq!(st, 200);

    for (path, on, off, code) in [
        (
            "/v1/admin/kill-switch",
            json!({"on": true}),
            json!({"on": false}),
            "kill_switch",
        ),
        (
            "/v1/admin/quarantines",
            json!({"zone": "dev"}),
            json!({"zone": "dev", "on": false}),
            "zone_quarantined",
        ),
        (
            "/v1/admin/quarantines",
            json!({"principal": "agent:triage-bot"}),
            json!({"principal": "agent:triage-bot", "on": false}),
            "principal_quarantined",
        ),
    ] {
        let before = srv.state.ledger.checkpoint().size();
        let (st, b) = srv.call("POST", path, Some(&srv.admin), Some(on)).await;
        assert_eq!(st, 200, "{b}");
        let (st, deny) = srv.authorize(&agent, req()).await;
        assert_eq!(
            (st, deny["reason_code"].clone()),
            (403, json!(code)),
            "{deny}"
        );
        let (st, _) = srv.call("POST", path, Some(&srv.admin), Some(off)).await;
        assert_eq!(st, 200);
        let (st, _) = srv.authorize(&agent, req()).await;
        assert_eq!(st, 200, "trust not restored after {path}");
        // on, the refused authorize, off, the allowed authorize: four records.
        assert_eq!(srv.state.ledger.checkpoint().size(), before + 4);
    }

    // Revoking the principal revokes its token too.
    let (st, _) = srv
        .call(
            "POST",
            "/v1/admin/principals/agent:triage-bot/revoke",
            Some(&srv.admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 200);
    let (st, _) = srv.authorize(&agent, req()).await;
    assert_eq!(st, 401);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_on_bad_bundles_and_unknown_gates() {
    let srv = TestServer::start().await;
    let agent = srv.add_principal("agent:triage-bot", "dev").await;
    let gate = srv.add_gate("gate:mcp-1", "dev").await;
    let req = read_issue(&gate);
    // No bundle yet: 503, no writ.
    let (st, body) = srv.authorize(&agent, req.clone()).await;
    assert_eq!((st, body["code"].clone()), (503, json!("no_active_bundle")));
    srv.activate_default().await;
    let (_, active) = srv
        .call("GET", "/v1/admin/bundles/active", Some(&srv.admin), None)
        .await;

    // A broken policy, a bundle signed by an untrusted key, an unsigned one: all refused.
    let mut broken = bundle_files(Some(
        "permit (principal, action, resource) when { context.nope.x };",
    ));
    // It cannot be signed over a digest (it does not compile); a stale signature rides along.
    let mut good = bundle_files(None);
    sign_files(&srv.bundle_key, &mut good);
    broken.insert("bundle.sig".into(), good["bundle.sig"].clone());
    let mut untrusted = bundle_files(None);
    sign_files(
        &writ_authorize::BundleSigningKey::from_seed([9; 32]),
        &mut untrusted,
    );
    for files in [broken, untrusted, bundle_files(None)] {
        let (st, body) = srv.post_bundle(&files).await;
        assert_eq!(st, 422, "{body}");
        let (_, still) = srv
            .call("GET", "/v1/admin/bundles/active", Some(&srv.admin), None)
            .await;
        assert_eq!(still["bundle_sha256"], active["bundle_sha256"]);
    }

    // An unregistered gate's attestation is refused before any decision.
    let other = crate::harness::Gate {
        id: "gate:rogue".into(),
        zone: "dev".into(),
        key: ed25519_dalek::SigningKey::from_bytes(&[3; 32]),
        token: String::new(),
    };
    let (st, body) = srv
        .authorize(
            &agent,
            json!({"intent": intent("github/get_issue", json!({})), "attestation": other.attest()}),
        )
        .await;
    assert_eq!(
        (st, body["code"].clone()),
        (403, json!("attestation_unknown_gate"))
    );
    // A registered gate whose attestation was signed by another key is refused too.
    let impostor = crate::harness::Gate {
        id: "gate:mcp-1".into(),
        ..other
    };
    let (st, body) = srv.authorize(&agent, json!({"intent": intent("github/get_issue", json!({})), "attestation": impostor.attest()}))
        .await;
    assert_eq!(
        (st, body["code"].clone()),
        (403, json!("attestation_bad_signature"))
    );
    // A verified attestation is remembered, but only as it was signed: the same signature
    // over changed claims or another time is verified again, and refused.
    let good = gate.attest();
    let (st, _) = srv
        .authorize(
            &agent,
            json!({"intent": intent("github/get_issue", json!({})), "attestation": good.clone()}),
        )
        .await;
    assert_eq!(st, 200);
    let mut claims_changed = good.clone();
    claims_changed["claims"]["host"] = json!("elsewhere");
    let mut time_changed = good.clone();
    time_changed["iat"] = json!(good["iat"].as_i64().unwrap() - 1);
    for tampered in [claims_changed, time_changed] {
        let (st, body) = srv
            .authorize(
                &agent,
                json!({"intent": intent("github/get_issue", json!({})), "attestation": tampered}),
            )
            .await;
        assert_eq!(
            (st, body["code"].clone()),
            (403, json!("attestation_bad_signature"))
        );
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart() {
    let (srv, agent, gate) = TestServer::provisioned().await;
    let (st, _) = srv.authorize(&agent, read_issue(&gate)).await;
    assert_eq!(st, 200);
    let size = srv.state.ledger.checkpoint().size();
    let config = srv.state.config.clone();
    let (dir, admin, key) = srv.stop().await;
    let srv = TestServer::start_in(dir, config, admin, key).await;
    assert_eq!(srv.state.ledger.checkpoint().size(), size);
    srv.authorize_ok(&agent, read_issue(&gate)).await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_holding_secrets_or_writs_are_the_owners_only() {
    use std::os::unix::fs::PermissionsExt;
    let (srv, agent, gate) = TestServer::provisioned().await;
    let allow = srv.authorize_ok(&agent, read_issue(&gate)).await;
    let execution = allow["execution"].as_str().unwrap().to_owned();
    let dir = srv.state.config.data_dir.clone();
    // The proof waits for the index to catch up, so its files exist by now.
    let (st, _) = srv.proof(&agent, execution).await;
    assert_eq!(st, 200);
    for f in [
        "admin.token",
        "writ-signing.key",
        "control.db",
        "control.db-wal",
        "index.db",
        "index.db-wal",
        "writs.log",
    ] {
        let mode = std::fs::metadata(dir.join(f))
            .unwrap_or_else(|e| panic!("{f}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    // A graceful stop leaves the writ in the log.
    let (_tmp, _, _) = srv.stop().await;
    assert!(std::fs::metadata(dir.join("writs.log")).unwrap().len() > 0);
}

/// The kinds of the entries in an execution's proof bundle, in ledger order.
async fn proof_kinds(srv: &TestServer, token: &str, execution: &str) -> (Vec<String>, Value) {
    let (st, proof) = srv.proof(token, execution).await;
    assert_eq!(st, 200, "{proof}");
    let bundle = ProofBundle::from_json(proof.to_string().as_bytes()).unwrap();
    let verified = bundle.verify(Some(&srv.state.ledger.vkey())).unwrap();
    let kinds = verified
        .entries
        .iter()
        .map(|e| {
            serde_json::from_slice::<Value>(&e.entry).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    (kinds, proof)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_index_follows_the_ledger_and_is_rebuilt_from_it() {
    let (srv, agent, gate) = TestServer::provisioned().await;
    let allow = srv.authorize_ok(&agent, read_issue(&gate)).await;
    let execution = allow["execution"].as_str().unwrap().to_owned();
    let claims = writ_artifact::decode_unverified(allow["writ"].as_str().unwrap()).unwrap();
    // The writ's jti is its execution id, so a lease renews by it.
    let jti = claims.claims["jti"].as_str().unwrap().to_owned();
    assert_eq!(jti, execution);
    let (st, renewed) = srv.renew(&agent, &jti, &gate).await;
    assert_eq!(st, 200, "{renewed}");
    let child = srv.authorize_ok(&agent, json!({"intent": intent("fs/read_file", json!({"path": "/workspace/a"})), "attestation": gate.attest(), "parent": execution})).await;
    // Right after the answers: the index has caught up with everything they recorded.
    let (kinds, proof) = proof_kinds(&srv, &agent, &execution).await;
    assert_eq!(
        kinds,
        ["decision", "decision"],
        "the decision, then the renewal"
    );
    assert_eq!(proof["writ"], allow["writ"]);
    let size = srv.state.ledger.size();
    assert_eq!(srv.state.execs.indexed(), size);

    // Remove the index: the next start rebuilds it from the ledger (writs are not in the
    // ledger, so the rebuilt proof bundle carries none; the evidence is all there).
    let config = srv.state.config.clone();
    let (dir, admin, key) = srv.stop().await;
    for f in ["index.db", "index.db-wal", "index.db-shm"] {
        let _ = std::fs::remove_file(config.data_dir.join(f));
    }
    let srv = TestServer::start_in(dir, config, admin, key).await;
    let (rebuilt, proof) = proof_kinds(&srv, &agent, &execution).await;
    assert_eq!(rebuilt, kinds);
    assert_eq!(proof["writ"], Value::Null);
    assert_eq!(srv.state.execs.indexed(), size);
    let (st, lineage) = srv.lineage(&agent, execution).await;
    assert_eq!(st, 200, "{lineage}");
    assert_eq!(lineage["descendants"][0]["execution"], child["execution"]);
    let (st, again) = srv.renew(&agent, &jti, &gate).await;
    assert_eq!(st, 200, "{again}");
    let (st, unknown) = srv.renew(&agent, "not-a-jti", &gate).await;
    assert_eq!((st, unknown["code"].clone()), (404, json!("lease_unknown")));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegation_mints_narrower_children_only() {
    let (srv, parent, gate) = TestServer::provisioned().await;
    srv.add_principal("agent:sub-bot", "dev").await;
    let grant = json!({"actions": ["mcp.call_tool"], "resources": ["tool:fs/*"], "zones": ["dev"]});
    let deleg = srv.authorize_ok(&parent, json!({"intent": {"action": "delegate", "resource": "agent:sub-bot", "args": grant}, "attestation": gate.attest()})).await;
    let parent_writ = deleg["writ"].as_str().unwrap();

    let child_req = |tool: &str, scope: Value| json!({"intent": intent(tool, json!({"path": "/workspace/a"})), "attestation": gate.attest(), "from_writ": parent_writ, "scope": scope});
    let child = srv
        .authorize_ok(&parent, child_req("fs/read_file", json!({"max_uses": 1})))
        .await;
    let claims = writ_artifact::decode_unverified(child["writ"].as_str().unwrap())
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], "agent:sub-bot");
    assert_eq!(claims["act"]["sub"], "agent:triage-bot");
    assert_eq!(claims["lineage"]["parent"], deleg["execution"]);
    assert!(
        claims["exp"].as_i64().unwrap()
            <= writ_artifact::decode_unverified(parent_writ)
                .unwrap()
                .claims["exp"]
                .as_i64()
                .unwrap()
    );

    for (tool, scope, code) in [
        (
            "github/create_issue",
            json!({"max_uses": 1}),
            "delegation_resource_not_in_scope",
        ),
        (
            "fs/read_file",
            json!({"max_uses": 5}),
            "delegation_max_uses_exceeded",
        ),
    ] {
        let (st, body) = srv.authorize(&parent, child_req(tool, scope)).await;
        assert_eq!(
            (st, body["reason_code"].clone()),
            (403, json!(code)),
            "{body}"
        );
    }
    // A quarantined delegator cannot mint children, even with a valid delegation writ.
    srv.quarantine(json!({"principal": "agent:triage-bot"}))
        .await;
    let (st, body) = srv
        .authorize(&parent, child_req("fs/read_file", json!({})))
        .await;
    assert_eq!(
        (st, body["reason_code"].clone()),
        (403, json!("principal_quarantined")),
        "{body}"
    );
    srv.quarantine(json!({"principal": "agent:triage-bot", "on": false}))
        .await;
    // Someone else cannot use the parent's delegation writ.
    let sub = srv.add_principal("agent:outsider", "dev").await;
    let (st, body) = srv
        .authorize(&sub, child_req("fs/read_file", json!({})))
        .await;
    assert_eq!(
        (st, body["reason_code"].clone()),
        (403, json!("delegation_not_yours")),
        "{body}"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visible_lists_only_tools_the_policy_could_allow() {
    let (srv, agent, gate) = TestServer::provisioned().await;
    let outsider = srv.add_principal("agent:outsider", "dev").await;
    let tools = [
        "tool:github/get_issue",
        "tool:github/create_issue",
        "tool:fs/write_file",
        "tool:fs/read_file",
        "tool:unknown/thing",
    ];
    let body = json!({"action": "mcp.call_tool", "resources": tools, "attestation": gate.attest()});
    let (st, v) = srv
        .call(
            "POST",
            "/v1/authorize/visible",
            Some(&agent),
            Some(body.clone()),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["visible"],
        json!([
            "tool:github/get_issue",
            "tool:github/create_issue",
            "tool:fs/write_file",
            "tool:fs/read_file"
        ])
    );
    // Not in the triage team: no create_issue.
    let (_, v) = srv
        .call(
            "POST",
            "/v1/authorize/visible",
            Some(&outsider),
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        v["visible"],
        json!([
            "tool:github/get_issue",
            "tool:fs/write_file",
            "tool:fs/read_file"
        ])
    );
    // Quarantined: nothing.
    srv.quarantine(json!({"principal": "agent:triage-bot"}))
        .await;
    let (_, v) = srv
        .call("POST", "/v1/authorize/visible", Some(&agent), Some(body))
        .await;
    assert_eq!(v["visible"], json!([]));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_writs_carry_the_filesystem_reach_the_command_asked_for() {
    let srv = TestServer::start().await;
    srv.activate_default().await;
    let agent = srv.add_principal("agent:triage-bot", "sandbox").await;
    let runner = srv.add_gate("gate:sandbox-runner", "sandbox").await;
    let args = json!({"argv": ["/usr/bin/git", "status"], "cwd": "/workspace", "fs": {"read": ["/usr"], "write": ["/workspace"]}});
    let allow = srv.authorize_ok(&agent, json!({"intent": {"action": "exec", "resource": "cmd:/usr/bin/git", "args": args}, "attestation": runner.attest()})).await;
    let claims = writ_artifact::decode_unverified(allow["writ"].as_str().unwrap())
        .unwrap()
        .claims;
    assert_eq!(
        claims["scope"]["fs"],
        json!({"read": ["/usr"], "write": ["/workspace"]})
    );
    let bad = json!({"argv": ["/usr/bin/git"], "fs": {"write": ["relative/path"]}});
    let (st, body) = srv.authorize(&agent, json!({"intent": {"action": "exec", "resource": "cmd:/usr/bin/git", "args": bad}, "attestation": runner.attest()}))
        .await;
    assert_eq!(
        (st, body["code"].clone()),
        (422, json!("fs_scope_invalid")),
        "{body}"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiles_under_ledger_rebuild_the_signed_root() {
    let srv = TestServer::start().await;
    srv.activate_default().await;
    srv.add_principal("agent:triage-bot", "dev").await;
    let text = srv
        .client
        .get(srv.url("/ledger/checkpoint"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let cp = writ_ledger::SignedCheckpoint::open(
        &text,
        &writ_ledger::Ed25519Verifier::from_vkey(&srv.state.ledger.vkey()).unwrap(),
    )
    .unwrap();
    let size = cp.size();
    assert!((2..256).contains(&size), "{size}");
    // The level-0 partial tile holds every leaf hash; its entries bundle holds every entry.
    let tile = srv
        .client
        .get(srv.url(&format!("/ledger/tile/0/000.p/{size}")))
        .bearer_auth(&srv.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(tile.status().as_u16(), 200);
    let hashes = writ_ledger::tiles::tile_hashes(&tile.bytes().await.unwrap()).unwrap();
    assert_eq!(
        &writ_ledger::hash::root_from_leaf_hashes(&hashes),
        cp.root()
    );
    let bundle = srv
        .client
        .get(srv.url(&format!("/ledger/tile/entries/000.p/{size}")))
        .bearer_auth(&srv.admin)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let entries = writ_ledger::tiles::decode_bundle(&bundle).unwrap();
    let leafs: Vec<_> = entries.iter().map(|e| writ_ledger::leaf_hash(e)).collect();
    assert_eq!(leafs, hashes);
    for missing in [
        "/ledger/tile/0/000",
        "/ledger/tile/0/001.p/1",
        "/ledger/tile/bogus",
    ] {
        let (st, body) = srv.call("GET", missing, Some(&srv.admin), None).await;
        assert_eq!(
            (st, body["code"].clone()),
            (404, json!("tile_not_found")),
            "{missing}"
        );
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_feed_starts_with_the_governance_state_in_force() {
    let (srv, _, gate) = TestServer::provisioned().await;
    srv.revoke(json!({"principal": "agent:triage-bot"})).await;
    srv.quarantine(json!({"zone": "prod"})).await;
    // A gate connecting after the fact still learns both, before anything else.
    let resp = srv
        .client
        .get(srv.url("/v1/events"))
        .bearer_auth(&gate.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let mut feed = Feed::new(resp);
    let (first, data) = feed.next().await;
    assert_eq!(first, "snapshot", "{data}");
    assert_eq!(data["principals"], json!(["agent:triage-bot"]));
    assert_eq!(data["zones"], json!(["prod"]));
    assert_eq!(data["kill_switch"], json!(false));
    drop(feed);
    srv.stop().await;
}

/// `GET /v1/events?kinds=…` sends only those kinds (and the snapshot and heartbeats): a gate
/// asking for what it acts on is not sent every call's decision, which an unfiltered follower
/// (the console) still gets. A kinds list that does not read is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_follower_gets_only_the_kinds_it_asks_for() {
    let (srv, agent, gate) = TestServer::provisioned().await;
    let follow = |query: &str| {
        srv.client
            .get(srv.url(&format!("/v1/events{query}")))
            .bearer_auth(&gate.token)
            .send()
    };
    let filtered = follow(&format!("?kinds={}", writ_api::GATE_FEED_KINDS.join(",")))
        .await
        .unwrap();
    let all = follow("").await.unwrap();
    assert_eq!(
        (filtered.status().as_u16(), all.status().as_u16()),
        (200, 200)
    );
    let (mut filtered, mut all) = (Feed::new(filtered), Feed::new(all));
    assert_eq!(filtered.kinds_until("snapshot").await, ["snapshot"]);
    assert_eq!(all.kinds_until("snapshot").await, ["snapshot"]);
    srv.authorize_ok(&agent, read_issue(&gate)).await;
    srv.revoke(json!({"principal": "agent:triage-bot"})).await;
    let got = filtered.kinds_until("revocation").await;
    assert!(!got.iter().any(|k| k == "decision"), "{got:?}");
    let got = all.kinds_until("revocation").await;
    assert!(got.iter().any(|k| k == "decision"), "{got:?}");
    for bad in ["?kinds=", "?kinds=a,,b"] {
        let resp = follow(bad).await.unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{bad}");
    }
    let many = vec!["k"; 40].join(",");
    assert_eq!(
        follow(&format!("?kinds={many}"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        400
    );
    drop((filtered, all));
    srv.stop().await;
}

#[test]
fn an_unreadable_execution_index_says_how_to_rebuild_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = writ_server::ServerConfig {
        data_dir: dir.path().join("data"),
        ..writ_server::ServerConfig::default()
    };
    writ_server::init_data_dir(&config, &[]).unwrap();
    std::fs::write(
        config.data_dir.join("index.db"),
        b"not a database, not at all",
    )
    .unwrap();
    let err = writ_server::AppState::open(config.clone(), std::sync::Arc::new(SystemClock))
        .err()
        .expect("a corrupt index must not open")
        .to_string();
    assert!(err.contains("index.db") && err.contains("rebuild"), "{err}");
    std::fs::remove_file(config.data_dir.join("index.db")).unwrap();
    assert!(writ_server::AppState::open(config, std::sync::Arc::new(SystemClock)).is_ok());
}
