//! Issue 12, finding 6: quarantining a zone ends the running commands of the principals
//! registered in it, also when they run through a gate of another zone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use writ_model::receipt::Outcome;

use crate::exec_harness::{
    Server, config, gate, process_gone, request, runner, spawn_run, wait_for_comm,
};

// Before the fix the gate only knew the zone the writ runs in (here sandbox): quarantining the
// zone `dev`, where the principal is registered, left its `sleep 60` running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_quarantine_ends_running_executions_of_its_principals() {
    let srv = Server::start().await;
    let creds = srv.add_gate("gate:runner", "sandbox").await;
    let jwks = srv.jwks().await;
    let g = gate(&creds, &jwks, Some(10));
    let token = srv.add_principal("agent:from-dev", "dev").await;
    let dir = tempfile::tempdir().unwrap();
    let r = Arc::new(runner(srv.cp(), g.clone(), config(&token, &creds.token)));
    let feed = r.follow_feed().unwrap();
    let req = request(&["sleep", "60"], dir.path());
    let (pid, task) = spawn_run(&r, req).await;
    wait_for_comm(pid, "sleep").await;
    let t0 = Instant::now();
    srv.admin("POST", "/v1/admin/quarantines", json!({"zone": "dev"}))
        .await;
    while !process_gone(pid) {
        assert!(t0.elapsed() < Duration::from_secs(60), "still running");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let report = task.await.unwrap().unwrap();
    assert_eq!(report.outcome, Outcome::TerminatedByGovernance);
    assert_eq!(
        report.reason_code.as_deref(),
        Some("writ_revoked_principal")
    );
    feed.abort();
    srv.stop().await;
}
