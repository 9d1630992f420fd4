//! `writ backup` beside a running `writ serve` under load, then `writ restore`: every record
//! acknowledged before the backup began is in the restored copy, its ledger verifies, and a
//! server started on it answers for them; a damaged backup and a used target are refused.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use writ_ledger::Ed25519Verifier;

use crate::serve::{
    Returned, Served, admin_token, authorize_body, check_after_restart, provision, writ,
};

/// Every file under `dir`, relative, with its mode; and every directory's mode.
fn modes(dir: &Path, rel: &Path, out: &mut Vec<(String, u32, bool)>) {
    for e in std::fs::read_dir(dir.join(rel)).unwrap() {
        let e = e.unwrap();
        let r = rel.join(e.file_name());
        let meta = e.metadata().unwrap();
        out.push((
            r.to_str().unwrap().to_owned(),
            meta.permissions().mode() & 0o777,
            meta.is_dir(),
        ));
        if meta.is_dir() {
            modes(dir, &r, out);
        }
    }
}

#[test]
fn backup_under_load_restores_every_acknowledged_record() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let srv = Served::start(&data, true);
    let admin = admin_token(&data);
    let (agent, key) = provision(&srv.url, &admin, tmp.path());
    let verifier = Ed25519Verifier::from_vkey(&srv.vkey).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let got = Arc::new(Mutex::new(Vec::<Returned>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (client, url, got, stop, agent, key) = (
            client.clone(),
            srv.url.clone(),
            got.clone(),
            stop.clone(),
            agent.clone(),
            key.clone(),
        );
        tasks.push(rt.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(resp) = client
                    .post(format!("{url}/v1/authorize"))
                    .bearer_auth(&agent)
                    .json(&authorize_body(&key))
                    .send()
                    .await
                else {
                    break;
                };
                assert_eq!(resp.status().as_u16(), 200);
                let v: Value = resp.json().await.unwrap();
                got.lock().unwrap().push(Returned {
                    execution: v["execution"].as_str().unwrap().to_owned(),
                    writ: v["writ"].as_str().unwrap().to_owned(),
                    ledger_index: v["ledger_index"].as_u64().unwrap(),
                });
            }
        }));
    }
    let start = Instant::now();
    while got.lock().unwrap().len() < 200 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let checkpoint_before = rt.block_on(async {
        client
            .get(format!("{}/ledger/checkpoint", srv.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    // Every writ acknowledged before the backup begins must be in the restored copy.
    let before = got.lock().unwrap().clone();
    assert!(
        before.len() >= 200,
        "only {} writs under load",
        before.len()
    );
    let out = tmp.path().join("backup");
    let (code, stdout, stderr) = writ(&[
        "backup",
        out.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let during = got.lock().unwrap().len() - before.len();
    stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        for t in tasks {
            t.await.unwrap();
        }
    });
    let all = got.lock().unwrap().len();
    println!(
        "{} writs acknowledged before the backup began, {during} while it ran, {all} in all",
        before.len()
    );
    // The server was never stopped: the backup ran beside it.
    assert!(srv.child.id() > 0);

    // Every store, key and trust file, 0600 in 0700 directories, listed in the manifest.
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let listed: Vec<&str> = report["manifest"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    for want in [
        "control.db",
        "index.db",
        "writs.log",
        "writ-signing.key",
        "admin.token",
        "bundle-trust.txt",
        "ledger/log.key",
        "ledger/ledger.db",
    ] {
        assert!(listed.contains(&want), "{want} not backed up: {listed:?}");
    }
    assert_eq!(
        listed.last(),
        Some(&"ledger/ledger.db"),
        "the ledger is copied last"
    );
    let mut found = Vec::new();
    modes(&out, Path::new(""), &mut found);
    for (path, mode, is_dir) in &found {
        assert_eq!(*mode, if *is_dir { 0o700 } else { 0o600 }, "{path}");
        assert!(!path.ends_with("-wal") && !path.ends_with("-shm") && path != "writ.lock");
    }

    // Restore into a new directory; its ledger verifies on its own.
    let restored = tmp.path().join("restored");
    let (code, out_text, err) = writ(&[
        "restore",
        out.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out_text}{err}");
    let (code, out_text, err) = writ(&[
        "ledger",
        "verify",
        "--dir",
        restored.join("ledger").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out_text}{err}");
    println!(
        "writ ledger verify on the restored copy: {}",
        out_text.trim()
    );
    drop(srv);

    // A server on the restored copy answers for every record acknowledged before the backup
    // (its proof, from the restored ledger, verifies) with the same log key and tokens.
    let again = Served::start(&restored, false);
    assert_eq!(again.vkey, verifier.to_vkey());
    let missing = check_after_restart(
        &again.url,
        &agent,
        &admin,
        &verifier,
        &before,
        &[checkpoint_before],
    );
    println!(
        "restored: {} acknowledged records checked, {missing} proof bundles without their writ copy",
        before.len()
    );
}

#[test]
fn restore_refuses_a_damaged_backup_and_a_used_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let srv = Served::start(&data, true);
    let out = tmp.path().join("backup");
    let (code, o, e) = writ(&[
        "backup",
        out.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{o}{e}");
    drop(srv);

    // Into a directory that already holds something: refused, left as it was.
    let used = tmp.path().join("used");
    std::fs::create_dir(&used).unwrap();
    std::fs::write(used.join("keep"), "x").unwrap();
    let (code, _, err) = writ(&[
        "restore",
        out.to_str().unwrap(),
        "--data-dir",
        used.to_str().unwrap(),
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(used.join("keep").exists());

    // A second backup into the same directory is refused too.
    let (code, _, err) = writ(&[
        "backup",
        out.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("not empty"), "{err}");

    // One changed byte in a store: refused naming the file, nothing left behind.
    let key = out.join("writ-signing.key");
    let mut bytes = std::fs::read(&key).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&key, bytes).unwrap();
    let target = tmp.path().join("restored");
    let (code, _, err) = writ(&[
        "restore",
        out.to_str().unwrap(),
        "--data-dir",
        target.to_str().unwrap(),
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("writ-signing.key") && err.contains("does not match the manifest"),
        "{err}"
    );
    assert!(!target.exists());

    // Without its manifest (an interrupted backup): refused.
    std::fs::remove_file(out.join("writ-backup.json")).unwrap();
    let (code, _, err) = writ(&[
        "restore",
        out.to_str().unwrap(),
        "--data-dir",
        target.to_str().unwrap(),
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("incomplete"), "{err}");
}
