//! The lease sweep: an allowed execution whose gate never reports back is closed in the
//! ledger by the control plane once its lease has run out (issue 12, finding 4).
//!
//! Writs live one second and the sweep runs every second with no grace, so each test takes a
//! few seconds; every wait polls the ledger with a generous bound, and "never" is shown by a
//! later execution being swept (a sweep ran after the one that matters).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use writ_authorize::BundleSigningKey;
use writ_ledger::ProofBundle;
use writ_model::Intent;
use writ_server::{ServerConfig, init_data_dir};

use crate::harness::{Gate, TestServer};

/// The longest a test waits for the sweep.
const BOUND: Duration = Duration::from_secs(60);

fn config(dir: &tempfile::TempDir, sweep_secs: u64) -> ServerConfig {
    ServerConfig {
        data_dir: dir.path().join("data"),
        lease_sweep_secs: sweep_secs,
        lease_grace_secs: 0,
        ..ServerConfig::default()
    }
}

/// A provisioned server (default bundle, `agent:triage-bot`, `gate:mcp-1`) sweeping every
/// `sweep_secs`.
async fn provisioned(sweep_secs: u64) -> (TestServer, String, Gate) {
    let dir = tempfile::tempdir().unwrap();
    let key = BundleSigningKey::from_seed([7; 32]);
    let config = config(&dir, sweep_secs);
    let report = init_data_dir(&config, &[key.verifying_key().to_hex()]).unwrap();
    let srv = TestServer::start_in(dir, config, report.admin_token, key).await;
    srv.activate_default().await;
    let agent = srv.add_principal("agent:triage-bot", "dev").await;
    let gate = srv.add_gate("gate:mcp-1", "dev").await;
    (srv, agent, gate)
}

fn call() -> Intent {
    Intent::new("mcp.call_tool", "tool:github/get_issue", json!({}))
}

/// An allowed execution whose writ lives one second; its id.
async fn short_execution(srv: &TestServer, agent: &str, gate: &Gate) -> String {
    let c = call();
    let allow = srv
        .authorize_ok(
            agent,
            json!({"intent": {"action": c.action, "resource": c.resource, "args": {}}, "attestation": gate.attest(), "lifetime_secs": 1}),
        )
        .await;
    allow["execution"].as_str().unwrap().to_owned()
}

/// Every ledger entry about `execution` of `kind`.
fn entries_of(srv: &TestServer, kind: &str, execution: &str) -> Vec<Value> {
    let size = srv.state.ledger.size();
    srv.state
        .ledger
        .entries(0, size)
        .unwrap()
        .iter()
        .map(|e| serde_json::from_slice::<Value>(e).unwrap())
        .filter(|e| {
            e["type"] == kind
                && (e["execution"] == execution || e["receipt"]["body"]["execution"] == execution)
        })
        .collect()
}

/// Waits (polling, at most [`BOUND`]) until the ledger holds a lease end for `execution`.
async fn wait_for_lease_end(srv: &TestServer, execution: &str) -> Value {
    let start = Instant::now();
    loop {
        if let Some(e) = entries_of(srv, "lease.ended", execution).into_iter().next() {
            return e;
        }
        assert!(
            start.elapsed() < BOUND,
            "no lease.ended for {execution} within {BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The types of the entries in `execution`'s proof bundle, which must verify.
async fn proof_kinds(srv: &TestServer, token: &str, execution: &str) -> Vec<String> {
    let (st, proof) = srv.proof(token, execution).await;
    assert_eq!(st, 200, "{proof}");
    let bundle = ProofBundle::from_json(proof.to_string().as_bytes()).unwrap();
    let verified = bundle.verify(Some(&srv.state.ledger.vkey())).unwrap();
    verified
        .entries
        .iter()
        .map(|e| {
            serde_json::from_slice::<Value>(&e.entry).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The gate's signed receipt for `execution`.
fn receipt(gate: &Gate, execution: &str) -> Value {
    let body = json!({
        "type": "receipt", "v": 1, "execution": execution, "jti": execution, "gate": gate.id,
        "intent": call().digest().unwrap(), "outcome": "success", "result_sha256": "00".repeat(32),
        "started_at": 1, "finished_at": 2
    });
    let input = writ_model::canonical::to_canonical_vec(&body).unwrap();
    json!({"body": body, "kid": gate.id, "sig": gate.sign_b64(&input)})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_without_a_receipt_is_ended_once_by_the_control_plane() {
    let (srv, agent, gate) = provisioned(1).await;
    let execution = short_execution(&srv, &agent, &gate).await;
    let ended = wait_for_lease_end(&srv, &execution).await;
    assert_eq!(ended["reason_code"], "lease_expired", "{ended}");
    assert_eq!(ended["jti"], json!(execution));
    assert_eq!(ended["v"], 2);
    assert!(ended["now"].as_i64().is_some(), "{ended}");

    // Later sweeps (shown by a later execution's end) do not end it again.
    let later = short_execution(&srv, &agent, &gate).await;
    wait_for_lease_end(&srv, &later).await;
    let ends = entries_of(&srv, "lease.ended", &execution);
    assert_eq!(ends.len(), 1, "{ends:?}");

    // The end is in the execution's proof bundle, which verifies, and the whole log verifies.
    assert_eq!(
        proof_kinds(&srv, &agent, &execution).await,
        ["decision", "lease.ended"]
    );
    srv.state.ledger.verify(true).unwrap();
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_with_a_receipt_is_never_swept() {
    let (srv, agent, gate) = provisioned(1).await;
    let done = short_execution(&srv, &agent, &gate).await;
    let (st, r) = srv
        .call(
            "POST",
            "/v1/receipts",
            Some(&gate.token),
            Some(receipt(&gate, &done)),
        )
        .await;
    assert_eq!(st, 201, "{r}");
    // An execution authorized after it, without a receipt, is swept: its lease ran out later.
    let open = short_execution(&srv, &agent, &gate).await;
    wait_for_lease_end(&srv, &open).await;
    let later = short_execution(&srv, &agent, &gate).await;
    wait_for_lease_end(&srv, &later).await;
    assert_eq!(entries_of(&srv, "lease.ended", &done), Vec::<Value>::new());
    assert_eq!(
        proof_kinds(&srv, &agent, &done).await,
        ["decision", "receipt", "gate.changed"]
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_after_the_sweep_is_refused_as_ended() {
    let (srv, agent, gate) = provisioned(1).await;
    let execution = short_execution(&srv, &agent, &gate).await;
    let ended = wait_for_lease_end(&srv, &execution).await;
    let size = srv.state.ledger.size();

    let (st, answer) = srv.renew(&agent, &execution, &gate).await;
    assert_eq!(st, 403, "{answer}");
    assert_eq!(answer["decision"], "deny");
    assert_eq!(answer["reason_code"], "lease_ended");
    // A receipt that arrives after the end is refused too: one closing per execution.
    let (st, answer) = srv
        .call(
            "POST",
            "/v1/receipts",
            Some(&gate.token),
            Some(receipt(&gate, &execution)),
        )
        .await;
    assert_eq!((st, answer["code"].clone()), (409, json!("lease_ended")));
    // Neither recorded anything: the lease end stays the execution's last word.
    assert_eq!(srv.state.ledger.size(), size);
    assert_eq!(entries_of(&srv, "lease.ended", &execution), vec![ended]);
    assert_eq!(
        proof_kinds(&srv, &agent, &execution).await,
        ["decision", "lease.ended"]
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_resumes_after_a_restart() {
    // A server that does not sweep before it stops.
    let (srv, agent, gate) = provisioned(3600).await;
    let execution = short_execution(&srv, &agent, &gate).await;
    assert_eq!(
        entries_of(&srv, "lease.ended", &execution),
        Vec::<Value>::new(),
        "nothing is swept before the restart"
    );
    let mut config = srv.state.config.clone();
    let (dir, admin, key) = srv.stop().await;

    // Its successor finds the execution open and its lease run out, and ends it.
    config.lease_sweep_secs = 1;
    let srv = TestServer::start_in(dir, config, admin, key).await;
    let ended = wait_for_lease_end(&srv, &execution).await;
    assert_eq!(ended["reason_code"], "lease_expired");
    let (st, answer) = srv.renew(&agent, &execution, &gate).await;
    assert_eq!(
        (st, answer["reason_code"].clone()),
        (403, json!("lease_ended"))
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_of_an_older_schema_is_rebuilt_from_the_ledger() {
    let (srv, agent, gate) = provisioned(1).await;
    let execution = short_execution(&srv, &agent, &gate).await;
    wait_for_lease_end(&srv, &execution).await;
    let config = srv.state.config.clone();
    let (dir, admin, key) = srv.stop().await;

    // The index as the release before lease state kept it (schema version 0): no lease
    // columns, no writ exp, and every ledger entry counted as indexed.
    let db = rusqlite::Connection::open(config.data_dir.join("index.db")).unwrap();
    db.execute_batch(
        "DROP TABLE executions;
         CREATE TABLE executions (
             execution TEXT PRIMARY KEY, parent TEXT, root TEXT NOT NULL,
             traceparent TEXT NOT NULL, principal TEXT NOT NULL,
             decision_index INTEGER NOT NULL, gate TEXT) WITHOUT ROWID;
         ALTER TABLE writs DROP COLUMN exp;
         PRAGMA user_version = 0;",
    )
    .unwrap();
    drop(db);

    // Rebuilt from the ledger on start: the execution and its lease end are known again, and
    // the sweep does not end it a second time.
    let srv = TestServer::start_in(dir, config, admin, key).await;
    let (st, answer) = srv.renew(&agent, &execution, &gate).await;
    assert_eq!(
        (st, answer["reason_code"].clone()),
        (403, json!("lease_ended")),
        "{answer}"
    );
    let later = short_execution(&srv, &agent, &gate).await;
    wait_for_lease_end(&srv, &later).await;
    assert_eq!(entries_of(&srv, "lease.ended", &execution).len(), 1);
    let (st, proof) = srv.proof(&agent, &execution).await;
    assert_eq!(st, 200, "{proof}");
    // The writ log was kept: the proof bundle still carries the writ.
    assert!(proof["writ"].is_string(), "{proof}");
    srv.stop().await;
}
