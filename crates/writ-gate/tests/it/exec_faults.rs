//! Acceptance 4 for the runner: with the control plane down, slow past the timeout, answering
//! garbage, or unable to write its ledger, every command is denied with a clear reason and
//! never runs. "Slow" and "garbage" are tiny fault-injecting servers in this file.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use writ_gate::ControlPlane;
use writ_gate::exec::{ExecError, Runner};

use crate::exec_harness::{Server, config, gate, request, runner};

async fn runner_against(srv: &Server, url: String) -> Runner {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let token = srv
        .add_principal(&format!("agent:builder-{n}"), "sandbox")
        .await;
    let creds = srv.add_gate(&format!("gate:runner-{n}"), "sandbox").await;
    let g = gate(&creds, &srv.jwks().await, None);
    runner(
        ControlPlane::with_timeout(url, Duration::from_secs(1)),
        g,
        config(&token, &creds.token),
    )
}

/// Runs `touch marker` and returns the error; the marker must not exist afterwards.
async fn denied(r: &Runner) -> ExecError {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let err = r
        .run(&request(&["touch", marker.to_str().unwrap()], dir.path()))
        .await
        .expect_err("the command must be denied");
    assert!(err.is_denial(), "{err}");
    assert!(!marker.exists(), "the command ran despite: {err}");
    assert!(!err.to_string().is_empty());
    err
}

/// A server answering every connection with `answer` (after reading the request), or never
/// answering when `answer` is None.
async fn fault_server(answer: Option<&'static [u8]>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut s, _)) = l.accept().await {
            match answer {
                Some(bytes) => {
                    tokio::spawn(async move {
                        let mut buf = [0u8; 8192];
                        let _ = s.read(&mut buf).await;
                        let _ = s.write_all(bytes).await;
                        let _ = s.shutdown().await;
                    });
                }
                None => held.push(s), // slow: accept, read nothing, answer never
            }
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_down_denies() {
    let srv = Server::start().await;
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let err = denied(&runner_against(&srv, url).await).await;
    assert_eq!(err.reason_code(), "control_plane_unreachable", "{err}");
    assert!(err.to_string().contains("unreachable"), "{err}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_slow_past_the_timeout_denies() {
    let srv = Server::start().await;
    let url = fault_server(None).await;
    let err = denied(&runner_against(&srv, url).await).await;
    assert_eq!(err.reason_code(), "control_plane_timeout", "{err}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_garbage_denies() {
    let srv = Server::start().await;
    let not_json = fault_server(Some(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot json!",
    ))
    .await;
    let err = denied(&runner_against(&srv, not_json).await).await;
    assert_eq!(err.reason_code(), "control_plane_garbage", "{err}");
    // JSON, but not an allow: no writ to run under.
    let wrong_shape = fault_server(Some(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 20\r\nconnection: close\r\n\r\n{\"decision\":\"allow\"}",
    ))
    .await;
    let err = denied(&runner_against(&srv, wrong_shape).await).await;
    assert_eq!(err.reason_code(), "control_plane_garbage", "{err}");
    // Not HTTP at all.
    let noise = fault_server(Some(b"\x00\x01garbage\r\n\r\n")).await;
    let err = denied(&runner_against(&srv, noise).await).await;
    assert!(
        ["control_plane_unreachable", "control_plane_garbage"].contains(&err.reason_code()),
        "{err}"
    );
    srv.stop().await;
}

/// `chattr +i` on the ledger's SQLite files (as crates/writ-server/tests/it/failclosed.rs
/// explains: root ignores chmod, the immutable attribute fails every write for real).
struct Immutable(Vec<PathBuf>);

impl Drop for Immutable {
    fn drop(&mut self) {
        for f in &self.0 {
            let _ = Command::new("chattr").arg("-i").arg(f).status();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_unwritable_denies() {
    let srv = Server::start().await;
    let r = Arc::new(runner_against(&srv, srv.base.clone()).await);
    let files: Vec<PathBuf> = std::fs::read_dir(srv.dir.path().join("data/ledger"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".db") || n.ends_with(".db-wal")
        })
        .collect();
    let mut guard = Immutable(Vec::new());
    for f in files {
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(&f)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            drop(guard);
            if std::env::var("WRIT_REQUIRE_FAILCLOSED").as_deref() == Ok("1") {
                panic!(
                    "chattr +i {} failed and WRIT_REQUIRE_FAILCLOSED=1",
                    f.display()
                );
            }
            eprintln!("skipped: chattr +i unavailable here, cannot make the ledger unwritable");
            srv.stop().await;
            return;
        }
        guard.0.push(f);
    }
    let err = denied(&r).await;
    assert_eq!(err.reason_code(), "ledger_unavailable", "{err}");
    drop(guard);
    srv.stop().await;
}
