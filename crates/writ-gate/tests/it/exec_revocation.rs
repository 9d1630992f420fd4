//! Acceptance 3: revoking a principal ends its running `sleep 60` (20 trials; p50/p99 printed,
//! never asserted: timing does not decide a test), and a gate cut off from the control plane
//! stops running work and denies new work once its grace period is over.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use writ_gate::ControlPlane;
use writ_model::Clock;
use writ_model::receipt::Outcome;

use crate::exec_harness::{
    Server, config, gate, process_gone, request, runner, spawn_run, wait_for_comm,
};

const TRIALS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_the_principal_ends_a_running_sleep_20_trials() {
    let srv = Server::start().await;
    let creds = srv.add_gate("gate:runner", "sandbox").await;
    let jwks = srv.jwks().await;
    let g = gate(&creds, &jwks, Some(10));
    let dir = tempfile::tempdir().unwrap();
    let mut latencies = Vec::with_capacity(TRIALS);
    for trial in 0..TRIALS {
        let principal = format!("agent:sleeper-{trial}");
        let token = srv.add_principal(&principal, "sandbox").await;
        let r = Arc::new(runner(srv.cp(), g.clone(), config(&token, &creds.token)));
        let feed = r.follow_feed().unwrap();
        let req = request(&["sleep", "60"], dir.path());
        let (pid, task) = spawn_run(&r, req).await;
        wait_for_comm(pid, "sleep").await;
        let t0 = Instant::now();
        srv.admin(
            "POST",
            "/v1/admin/revocations",
            json!({"principal": principal}),
        )
        .await;
        // Watch the process from outside: gone means reaped or a zombie.
        while !process_gone(pid) {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "trial {trial}: still running"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        latencies.push(t0.elapsed());
        let report = task.await.unwrap().unwrap();
        assert_eq!(
            report.outcome,
            Outcome::TerminatedByGovernance,
            "trial {trial}"
        );
        assert_eq!(
            report.reason_code.as_deref(),
            Some("writ_revoked_principal")
        );
        assert_eq!(report.signal, Some(15), "SIGTERM ended it");
        assert!(report.receipt_index.is_some(), "{:?}", report.receipt_error);
        feed.abort();
    }
    latencies.sort();
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let p = |q: f64| {
        let i = ((q * TRIALS as f64).ceil() as usize).clamp(1, TRIALS) - 1;
        ms(&latencies[i])
    };
    println!(
        "revocation latency over {TRIALS} trials (revoke call sent -> process gone): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, min {:.1} ms",
        p(0.50),
        p(0.99),
        ms(latencies.last().unwrap()),
        ms(&latencies[0])
    );
    srv.stop().await;
}

/// A TCP proxy in front of the control plane that can be cut: open connections are dropped and
/// new ones refused (closed at once), as when a network partition isolates the gate.
struct CutProxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
}

impl CutProxy {
    async fn start(upstream: &str) -> CutProxy {
        let upstream: SocketAddr = upstream.trim_start_matches("http://").parse().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let flag = cut.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is closed
                }
                let flag = flag.clone();
                tokio::spawn(async move {
                    let Ok(mut up) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let copy = tokio::io::copy_bidirectional(&mut client, &mut up);
                    let watch = async {
                        while !flag.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    };
                    tokio::select! { _ = copy => {}, _ = watch => {} }
                });
            }
        });
        CutProxy { addr, cut }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_gate_stops_running_work_and_denies_new_work_after_its_grace() {
    let srv = Server::start_with(|c| c.heartbeat_secs = 1).await;
    let token = srv.add_principal("agent:builder", "sandbox").await;
    let creds = srv.add_gate("gate:runner", "sandbox").await;
    let jwks = srv.jwks().await;
    let proxy = CutProxy::start(&srv.base).await;
    let grace = 2;
    let g = gate(&creds, &jwks, Some(grace));
    let mut cfg = config(&token, &creds.token);
    cfg.renew_every = Duration::from_millis(500);
    let cp = ControlPlane::with_timeout(proxy.url(), Duration::from_secs(1));
    let r = Arc::new(runner(cp, g.clone(), cfg.clone()));
    let feed = r.follow_feed().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let req = request(&["sleep", "60"], dir.path());
    let (pid, task) = spawn_run(&r, req.clone()).await;
    wait_for_comm(pid, "sleep").await;
    proxy.cut.store(true, Ordering::SeqCst);
    let cut_at = Instant::now();
    let report = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(process_gone(pid));
    assert_eq!(report.outcome, Outcome::TerminatedByGovernance);
    let code = report.reason_code.clone().unwrap();
    assert!(
        code == "event_feed_lost" || code == "control_plane_unreachable",
        "stopped for {code}"
    );
    println!(
        "cut-off gate stopped its command {:.1} s after the cut ({code}, grace {grace} s)",
        cut_at.elapsed().as_secs_f64()
    );
    // The receipt could not reach the control plane: reported, not hidden.
    assert!(report.receipt_error.is_some());

    // New work: the same gate, now talking to the control plane directly (which allows the
    // command), still refuses it because its event feed is silent past the grace period.
    let feed_health = g.feed().unwrap().clone();
    for _ in 0..200 {
        if feed_health
            .require_fresh(writ_model::SystemClock.now_unix())
            .is_err()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut direct_cfg = cfg.clone();
    direct_cfg.feed_wait = Duration::from_millis(300);
    let direct = runner(srv.cp(), g.clone(), direct_cfg);
    let marker = dir.path().join("ran");
    let err = direct
        .run(&request(&["touch", marker.to_str().unwrap()], dir.path()))
        .await
        .unwrap_err();
    assert!(err.is_denial());
    assert_eq!(err.reason_code(), "event_feed_lost", "{err}");
    assert!(!marker.exists());
    // And through the cut link, new work is denied with the transport's reason.
    let err = r.run(&req).await.unwrap_err();
    assert!(err.is_denial());
    assert_eq!(err.reason_code(), "control_plane_unreachable", "{err}");
    feed.abort();
    srv.stop().await;
}
