//! Acceptance 2, the ledger half: when the ledger cannot write, authorize answers 503
//! `ledger_unavailable` and issues no writ, and grants fail closed too.
//!
//! How the ledger is made unwritable: the tests run as root, so `chmod` would not stop anything.
//! Instead the ledger's SQLite files (`ledger.db` and its `-wal`) get the immutable attribute
//! (`chattr +i`). On ext4 (this machine's /tmp) the kernel refuses every write to an immutable
//! file with EPERM, including through descriptors opened before the flag was set, so the open
//! ledger's next commit fails for real: no hook in writ-ledger, a real filesystem condition. The
//! `-shm` index is left alone (SQLite maps it; an immutable mapping would fault the process
//! instead of failing a write). Where `chattr` is unavailable (no CAP_LINUX_IMMUTABLE, or a
//! filesystem without the attribute) the test says so and skips, unless
//! WRIT_REQUIRE_FAILCLOSED=1 makes that a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::harness::TestServer;

/// Sets `chattr +i` on files and removes it again on drop (immutable files cannot be deleted,
/// so the temporary directory could not be cleaned up otherwise).
pub(crate) struct Immutable(Vec<PathBuf>);

impl Immutable {
    fn set(files: Vec<PathBuf>) -> Result<Immutable, String> {
        let mut guard = Immutable(Vec::new());
        for f in files {
            let out = Command::new("chattr")
                .arg("+i")
                .arg(&f)
                .output()
                .map_err(|e| format!("chattr: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "chattr +i {}: {}",
                    f.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            guard.0.push(f);
        }
        Ok(guard)
    }

    /// [`Immutable::set`], or `None` (the test says it skips) where the attribute cannot be
    /// set, unless WRIT_REQUIRE_FAILCLOSED=1 makes that a failure. `what` names the files.
    pub(crate) fn set_or_skip(files: Vec<PathBuf>, what: &str) -> Option<Immutable> {
        match Immutable::set(files) {
            Ok(g) => Some(g),
            Err(why) => {
                if std::env::var("WRIT_REQUIRE_FAILCLOSED").as_deref() == Ok("1") {
                    panic!("cannot make {what} unwritable here: {why}");
                }
                eprintln!("skipped: cannot make {what} unwritable here ({why})");
                None
            }
        }
    }

    pub(crate) fn release(&mut self) {
        for f in self.0.drain(..) {
            let _ = Command::new("chattr").arg("-i").arg(&f).status();
        }
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        self.release();
    }
}

pub(crate) fn ledger_files(data: &Path) -> Vec<PathBuf> {
    let dir = data.join("ledger");
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.ends_with(".db") || name.ends_with(".db-wal")
        })
        .collect()
}

fn intent() -> Value {
    json!({"action": "mcp.call_tool", "resource": "tool:github/get_issue", "args": {"repo": "acme/api"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwritable_ledger_refuses_writs_and_grants_with_503() {
    let (srv, agent, gate) = TestServer::provisioned().await;
    let req = || json!({"intent": intent(), "attestation": gate.attest()});
    srv.authorize_ok(&agent, req()).await;
    let size_before = srv.state.ledger.checkpoint().size();
    let files = ledger_files(&srv.state.config.data_dir);
    assert!(files.iter().any(|f| f.ends_with("ledger.db")), "{files:?}");

    let Some(mut frozen) = Immutable::set_or_skip(files, "the ledger") else {
        srv.stop().await;
        return;
    };

    // Authorize: 503 with the reason code, and no writ anywhere in the answer.
    for _ in 0..3 {
        let (st, body) = srv.authorize(&agent, req()).await;
        assert_eq!(st, 503, "{body}");
        assert_eq!(body["code"], "ledger_unavailable", "{body}");
        assert!(body.get("writ").is_none(), "{body}");
        assert!(!body.to_string().contains("eyJ"), "a JWS leaked: {body}");
    }
    // Grants fail closed: nothing is added that the ledger does not record.
    let (st, body) = srv
        .call(
            "POST",
            "/v1/admin/principals",
            Some(&srv.admin),
            Some(json!({"id": "agent:new", "zone": "dev"})),
        )
        .await;
    assert_eq!(
        (st, body["code"].clone()),
        (503, json!("ledger_unavailable")),
        "{body}"
    );
    assert!(body.get("token").is_none());
    let (_, list) = srv
        .call("GET", "/v1/admin/principals", Some(&srv.admin), None)
        .await;
    assert!(
        !list.to_string().contains("agent:new"),
        "an unrecorded principal was added: {list}"
    );
    let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]).verifying_key();
    let (st, body) = srv
        .call(
            "POST",
            "/v1/admin/gates",
            Some(&srv.admin),
            Some(
                json!({"id": "gate:new", "zone": "dev", "public_key": hex::encode(key.to_bytes())}),
            ),
        )
        .await;
    assert_eq!(
        (st, body["code"].clone()),
        (503, json!("ledger_unavailable")),
        "{body}"
    );
    let (_, gates) = srv
        .call("GET", "/v1/admin/gates", Some(&srv.admin), None)
        .await;
    assert!(!gates.to_string().contains("gate:new"), "{gates}");
    // Restrictions still take effect, and say they are not recorded.
    let (st, body) = srv
        .call(
            "POST",
            "/v1/admin/kill-switch",
            Some(&srv.admin),
            Some(json!({"on": true})),
        )
        .await;
    assert_eq!(
        (st, body["code"].clone()),
        (503, json!("applied_not_recorded")),
        "{body}"
    );
    assert!(srv.state.kill_switch());
    assert_eq!(srv.state.ledger.checkpoint().size(), size_before);

    // Once the filesystem accepts writes again, the ledger carries on where it was.
    frozen.release();
    let (st, body) = srv
        .call(
            "POST",
            "/v1/admin/kill-switch",
            Some(&srv.admin),
            Some(json!({"on": false})),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let body = srv.authorize_ok(&agent, req()).await;
    assert_eq!(body["ledger_index"].as_u64(), Some(size_before + 1));
    let (dir, _, _) = srv.stop().await;
    let report = writ_ledger::verify_dir(&dir.path().join("data").join("ledger"), true).unwrap();
    assert!(report.ok, "{report:?}");
}

/// The execution index cannot write: authorize goes on (the ledger is the evidence), readiness
/// says why it is degraded, and once the index can write again it catches up with everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_execution_index_shows_in_readiness_and_catches_up() {
    let (srv, agent, gate) = TestServer::provisioned().await;
    let req = || json!({"intent": intent(), "attestation": gate.attest()});
    let first = srv.authorize_ok(&agent, req()).await;
    srv.state.execs.caught_up().await.unwrap();
    let data = srv.state.config.data_dir.clone();
    let files = vec![data.join("index.db"), data.join("index.db-wal")];
    let Some(mut frozen) = Immutable::set_or_skip(files, "the execution index") else {
        srv.stop().await;
        return;
    };
    let (st, second) = srv.authorize(&agent, req()).await;
    assert_eq!(st, 200, "authorize does not depend on the index: {second}");
    // The follower fails on its next commit (within its commit interval); poll for it.
    let mut ready = Value::Null;
    for _ in 0..200 {
        let (st, body) = srv.call("GET", "/readyz", None, None).await;
        ready = body;
        if st == 503 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(ready["code"], "index_unavailable", "{ready}");
    frozen.release();
    // Writable again: it catches up, readiness recovers, the new execution is provable.
    srv.state.execs.caught_up().await.unwrap();
    let (st, body) = srv.call("GET", "/readyz", None, None).await;
    assert_eq!(st, 200, "{body}");
    let execution = second["execution"].as_str().unwrap();
    let (st, proof) = srv.proof(&agent, execution).await;
    assert_eq!(st, 200, "{proof}");
    assert_eq!(proof["writ"], second["writ"]);
    // Retries while stalled wrote the second writ once: the log holds exactly two records
    // (36-byte execution id, 4-byte length, token).
    let record = |v: &Value| 40 + v["writ"].as_str().unwrap().len() as u64;
    assert_eq!(
        std::fs::metadata(data.join("writs.log")).unwrap().len(),
        record(&first) + record(&second)
    );
    srv.stop().await;
}
