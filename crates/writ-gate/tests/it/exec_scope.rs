//! The runner refuses a writ that does not bind exactly what it asked for, even from a control
//! plane that misbehaves: a wider filesystem scope, another intent, another principal. The
//! control plane here is a fake that mints real writs (writ_artifact's issuer) with one thing
//! changed, so each refusal is the runner's own check.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use writ_artifact::{
    Env, FsScope, IssueRequest, Issuer, IssuerConfig, KeyRing, LedgerRef, PolicyInfo, Scope,
    WritKey,
};
use writ_gate::ControlPlane;
use writ_gate::exec::ExecRequest;
use writ_model::env::EnvironmentAttestation;
use writ_model::{Clock, ExecutionId, Intent, Lineage, SystemClock};

use crate::exec_harness::{GateCreds, config, gate, request, runner};

type Mutate = fn(&mut IssueRequest);

/// A fake control plane: answers authorize with a writ minted for the request, after `mutate`;
/// accepts receipts and keeps them.
async fn fake_plane(mutate: Mutate) -> (String, writ_artifact::Jwks, Arc<Mutex<Vec<Value>>>) {
    let ring = Arc::new(KeyRing::new(WritKey::from_seed(&[3; 32]), 5));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let jwks = ring.jwks(clock.now_unix());
    let issuer = Arc::new(Issuer::new(ring, clock, IssuerConfig::new("writ:fake")));
    let receipts = Arc::new(Mutex::new(Vec::new()));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let kept = receipts.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let issuer = issuer.clone();
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let (head_end, len) = loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (i + 4, len);
                    }
                };
                while buf.len() < head_end + len {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let first = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let body: Value =
                    serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or(Value::Null);
                let (status, answer) = if first.starts_with("POST /v1/authorize ") {
                    (200, mint(&issuer, &body, mutate))
                } else {
                    kept.lock().unwrap().push(body);
                    (201, json!({"ledger_index": 2}))
                };
                let text = answer.to_string();
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (url, jwks, receipts)
}

fn mint(issuer: &Issuer, body: &Value, mutate: Mutate) -> Value {
    let intent: Intent = serde_json::from_value(body["intent"].clone()).unwrap();
    let att: EnvironmentAttestation = serde_json::from_value(body["attestation"].clone()).unwrap();
    let fs: Option<FsScope> = intent
        .args
        .get("fs")
        .map(|f| serde_json::from_value(f.clone()).unwrap());
    let execution = ExecutionId::new_v7();
    let mut req = IssueRequest {
        sub: "agent:bot".parse().unwrap(),
        act: None,
        aud: att.claims.gate.clone(),
        intent: intent.digest().unwrap(),
        env: Env {
            zone: att.claims.zone.clone(),
            attestation_sha256: att.attestation_sha256().unwrap(),
        },
        policy: PolicyInfo {
            bundle_sha256: "0".repeat(64),
            engine: "fake".into(),
            determining: vec![],
        },
        scope: Scope {
            fs,
            ..Scope::default()
        },
        lineage: Lineage::root(execution),
        ledger: LedgerRef {
            origin: "fake".into(),
            index: 1,
        },
        lifetime_secs: None,
    };
    mutate(&mut req);
    let w = issuer.issue(req).unwrap();
    json!({"decision": "allow", "writ": w.token, "execution": execution, "ledger_index": 1, "expires_at": w.claims.exp})
}

async fn refused(mutate: Mutate, fs: Option<FsScope>) -> (writ_gate::exec::ExecError, Vec<Value>) {
    let (url, jwks, receipts) = fake_plane(mutate).await;
    let creds = GateCreds {
        id: "gate:runner".into(),
        zone: "sandbox".into(),
        key: SigningKey::from_bytes(&[9; 32]),
        token: "gate-token".into(),
    };
    let mut cfg = config("agent-token", &creds.token);
    cfg.expected_principal = Some("agent:bot".parse().unwrap());
    cfg.allow_unenforced_fs = true; // the refusal under test comes before any sandbox
    let r = runner(
        ControlPlane::with_timeout(url, Duration::from_secs(2)),
        gate(&creds, &jwks, None),
        cfg,
    );
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let base = request(&["touch", marker.to_str().unwrap()], dir.path());
    let req = ExecRequest::new(base.argv, base.cwd, base.env, fs).unwrap();
    let err = r.run(&req).await.expect_err("must be refused");
    assert!(err.is_denial(), "{err}");
    assert!(!marker.exists(), "ran despite {err}");
    let got = receipts.lock().unwrap().clone();
    (err, got)
}

fn asked_fs() -> Option<FsScope> {
    Some(FsScope {
        read: vec!["/usr".into()],
        write: vec!["/tmp/writ-exec-scope".into()],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writ_with_a_wider_fs_scope_is_refused() {
    let (err, receipts) = refused(
        |r| {
            r.scope.fs = Some(FsScope {
                read: vec![],
                write: vec!["/".into()],
            })
        },
        asked_fs(),
    )
    .await;
    assert_eq!(err.reason_code(), "fs_scope_mismatch", "{err}");
    // The refusal is evidence: a denied_at_gate receipt with the reason.
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0]["body"]["outcome"], "denied_at_gate");
    assert_eq!(receipts[0]["body"]["reason_code"], "fs_scope_mismatch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writ_without_the_asked_fs_scope_is_refused() {
    let (err, _) = refused(|r| r.scope.fs = None, asked_fs()).await;
    assert_eq!(err.reason_code(), "fs_scope_mismatch", "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writ_for_another_intent_is_refused() {
    let (err, _) = refused(
        |r| r.intent.args_sha256 = writ_model::digest::sha256_hex(b"{}"),
        None,
    )
    .await;
    assert_eq!(err.reason_code(), "writ_intent_mismatch", "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writ_for_another_principal_is_refused() {
    let (err, _) = refused(|r| r.sub = "agent:someone-else".parse().unwrap(), None).await;
    assert_eq!(err.reason_code(), "principal_mismatch", "{err}");
}
