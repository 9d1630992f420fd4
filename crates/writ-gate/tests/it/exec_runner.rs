//! The command runner end to end against a real control plane: exact authorization, the
//! sandbox (no_new_privs, Landlock from the writ's scope), receipts with output digests, lease
//! renewal, and governance stopping a running command.

use std::time::Duration;

use serde_json::json;
use writ_artifact::FsScope;
use writ_gate::exec::{ExecError, ExecRequest};
use writ_model::receipt::Outcome;

use crate::exec_harness::{
    Server, config, gate, process_gone, request, runner, spawn_run, wait_for_comm, wait_for_file,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_the_exact_command_and_records_a_receipt_with_output_digests() {
    let srv = Server::start().await;
    let r = srv.sandbox_runner("agent:builder", Some(5), |_| {}).await;
    let feed = r.follow_feed().unwrap();
    let dir = tempfile::tempdir().unwrap();

    let req = request(
        &["sh", "-c", "echo hello; echo oops >&2; exit 3"],
        dir.path(),
    );
    let report = r.run(&req).await.unwrap();
    assert_eq!(report.outcome, Outcome::Failure);
    assert_eq!(report.exit_code, Some(3));
    assert_eq!(report.shell_exit_code(), 3);
    assert_eq!(report.reason_code.as_deref(), Some("exit_status_3"));
    assert_eq!(report.stdout.as_deref(), Some(&b"hello\n"[..]));
    assert_eq!(
        report.stdout_sha256,
        writ_model::digest::sha256_hex(b"hello\n")
    );
    assert_eq!(
        report.stderr_sha256,
        writ_model::digest::sha256_hex(b"oops\n")
    );
    let index = report.receipt_index.expect("receipt recorded");

    // The ledger holds the decision for exactly this argv and a receipt naming the result digest.
    let entries = srv.entries_of(&report.execution.to_string()).await;
    let decision = entries.iter().find(|e| e["type"] == "decision").unwrap();
    assert_eq!(
        decision["request"]["intent"]["resource"],
        format!("cmd:{}", req.program.display())
    );
    let receipt = entries.iter().find(|e| e["type"] == "receipt").unwrap();
    assert_eq!(receipt["receipt"]["body"]["outcome"], "failure");
    assert_eq!(
        receipt["receipt"]["body"]["result_sha256"],
        report.result_sha256
    );
    assert_eq!(receipt["receipt"]["body"]["jti"], report.jti);
    // The exit status and output digests are in the signed receipt itself.
    let exec = &receipt["receipt"]["body"]["exec"];
    assert_eq!(exec["exit_code"], serde_json::json!(report.exit_code));
    assert_eq!(exec["stdout_sha256"], report.stdout_sha256);
    assert_eq!(exec["stderr_sha256"], report.stderr_sha256);
    assert!(index > 0);

    // A clean exit is a success; no_new_privs is set on the command.
    let ok = r
        .run(&request(
            &["grep", "NoNewPrivs", "/proc/self/status"],
            dir.path(),
        ))
        .await
        .unwrap();
    assert_eq!(
        ok.outcome,
        Outcome::Success,
        "{:?}",
        String::from_utf8_lossy(ok.stderr.as_deref().unwrap_or_default())
    );
    let out = String::from_utf8(ok.stdout.unwrap()).unwrap();
    assert_eq!(out.trim(), "NoNewPrivs:\t1");
    feed.abort();
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_command_never_runs() {
    let srv = Server::start().await;
    let token = srv.add_principal("agent:builder", "prod").await;
    // Zone prod: the default bundle permits only git there.
    let creds = srv.add_gate("gate:prod-runner", "prod").await;
    let g = gate(&creds, &srv.jwks().await, None);
    let r = runner(srv.cp(), g, config(&token, &creds.token));
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let req = request(&["touch", marker.to_str().unwrap()], dir.path());
    let err = r.run(&req).await.unwrap_err();
    assert!(err.is_denial(), "{err}");
    assert!(matches!(err, ExecError::Denied { .. }), "{err}");
    assert!(!marker.exists(), "a denied command ran");
    srv.stop().await;
}

fn system_read() -> Vec<String> {
    ["/usr", "/lib", "/lib64", "/bin", "/etc"]
        .iter()
        .filter(|p| std::path::Path::new(p).exists())
        .map(|p| (*p).to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landlock_limits_come_from_the_writ_scope() {
    if let writ_gate::exec::LandlockSupport::Unsupported(why) = writ_gate::exec::landlock_support()
    {
        // The refusal path: limits that cannot be enforced stop the command before a writ.
        let srv = Server::start().await;
        let r = srv.sandbox_runner("agent:builder", None, |_| {}).await;
        let dir = tempfile::tempdir().unwrap();
        let mut req = request(&["true"], dir.path());
        req.fs = Some(FsScope::default());
        let err = r.run(&req).await.unwrap_err();
        assert_eq!(err.reason_code(), "landlock_unsupported", "{why}");
        eprintln!(
            "skipped: Landlock not supported by this kernel ({why}); refusal checked instead"
        );
        return;
    }
    let srv = Server::start().await;
    let r = srv.sandbox_runner("agent:builder", None, |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let allowed = dir.path().join("out");
    let outside = dir.path().join("elsewhere");
    std::fs::create_dir(&allowed).unwrap();
    std::fs::create_dir(&outside).unwrap();
    let script = format!(
        "echo a > {0}/a; echo b > {1}/b; cat /proc/self/status > /dev/null 2>&1 && echo proc-readable",
        allowed.display(),
        outside.display()
    );
    let base = request(&["sh", "-c", &script], dir.path());
    let req = ExecRequest::new(
        base.argv.clone(),
        base.cwd.clone(),
        base.env.clone(),
        Some(FsScope {
            read: system_read(),
            write: vec![allowed.to_str().unwrap().to_owned()],
        }),
    )
    .unwrap();
    let report = r.run(&req).await.unwrap();
    assert!(
        allowed.join("a").exists(),
        "the writ's write path must be writable"
    );
    assert!(
        !outside.join("b").exists(),
        "Landlock let the command write outside its scope"
    );
    let stdout = String::from_utf8(report.stdout.clone().unwrap()).unwrap();
    assert!(
        !stdout.contains("proc-readable"),
        "/proc is outside the read scope"
    );
    let stderr = String::from_utf8(report.stderr.clone().unwrap()).unwrap();
    assert!(stderr.contains("Permission denied"), "{stderr}");

    // The writ binds the scope: the decision record carries args.fs exactly as asked.
    let entries = srv.entries_of(&report.execution.to_string()).await;
    let decision = entries.iter().find(|e| e["type"] == "decision").unwrap();
    assert_eq!(
        decision["request"]["intent"]["args"]["fs"]["write"],
        json!([allowed.to_str().unwrap()])
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_are_renewed_while_the_command_runs() {
    let srv = Server::start().await;
    let r = srv
        .sandbox_runner("agent:builder", None, |c| {
            c.renew_every = Duration::from_millis(500)
        })
        .await;
    let dir = tempfile::tempdir().unwrap();
    let report = r.run(&request(&["sleep", "2"], dir.path())).await.unwrap();
    assert_eq!(report.outcome, Outcome::Success);
    let entries = srv.entries_of(&report.execution.to_string()).await;
    let decisions = entries.iter().filter(|e| e["type"] == "decision").count();
    // The first decision plus at least two renewals (re-decided with the current policy).
    assert!(decisions >= 3, "{} decisions: {entries:?}", decisions);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_renewal_stops_the_command_even_without_the_feed() {
    let srv = Server::start().await;
    // No feed: only the lease can carry the news.
    let r = srv
        .sandbox_runner("agent:builder", None, |c| {
            c.renew_every = Duration::from_millis(500)
        })
        .await;
    let dir = tempfile::tempdir().unwrap();
    let req = request(&["sleep", "60"], dir.path());
    let (pid, task) = spawn_run(&r, req).await;
    wait_for_comm(pid, "sleep").await;
    srv.admin("POST", "/v1/admin/kill-switch", json!({"on": true}))
        .await;
    let report = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(process_gone(pid));
    assert_eq!(report.outcome, Outcome::TerminatedByGovernance);
    assert_eq!(report.reason_code.as_deref(), Some("lease_denied"));
    assert!(report.receipt_index.is_some(), "{:?}", report.receipt_error);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_switch_on_the_feed_stops_the_command_and_sigkill_follows_an_ignored_sigterm() {
    let srv = Server::start().await;
    let r = srv
        .sandbox_runner("agent:builder", Some(10), |c| {
            c.kill_grace = Duration::from_millis(700)
        })
        .await;
    let feed = r.follow_feed().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The shell ignores SIGTERM, and so does the sleep it starts (ignored signals survive exec).
    let ready = dir.path().join("ready");
    let script = format!("trap '' TERM; touch {}; sleep 60", ready.display());
    let req = request(&["sh", "-c", &script], dir.path());
    let (pid, task) = spawn_run(&r, req).await;
    wait_for_file(&ready).await;
    srv.admin("POST", "/v1/admin/kill-switch", json!({"on": true}))
        .await;
    let report = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(process_gone(pid));
    assert_eq!(report.outcome, Outcome::TerminatedByGovernance);
    assert_eq!(report.reason_code.as_deref(), Some("writ_kill_switch"));
    let t = report.termination.unwrap();
    assert!(
        t.killed,
        "SIGTERM was ignored, so SIGKILL must have been sent"
    );
    assert_eq!(report.signal, Some(9));
    feed.abort();
    srv.stop().await;
}
