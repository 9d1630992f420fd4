//! One owner per data directory (issue 14): a second `writ serve` on a directory another one
//! holds refuses at once naming the holder, and a failed `serve --init` leaves nothing behind.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::serve::Served;

const BIN: &str = env!("CARGO_BIN_EXE_writ");

/// Runs `writ serve` on `data` with `extra` flags until it exits (at most 20 s); returns
/// (exit code, stderr). A serve that keeps running fails the test.
fn serve_once(data: &Path, extra: &[&str]) -> (i32, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--format", "json"])
        .arg("--data-dir")
        .arg(data)
        .args(extra)
        .env_remove("WRIT_CONFIG")
        .env_remove("WRIT_DATA_DIR")
        .env_remove("WRIT_LISTEN")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..400 {
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return (st.code().unwrap_or(-1), err);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("writ serve {extra:?} kept running on a data directory another serve holds");
}

/// Regression (issue 14): a second `writ serve` on the same data directory started, wrote the
/// same ledger as the first and diverged (`503 … UNIQUE constraint failed: entries.idx`).
#[test]
fn a_second_serve_on_a_held_data_directory_exits_naming_the_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let first = Served::start(&data, true);
    let (code, err) = serve_once(&data, &[]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains(&format!("process {}", first.child.id())),
        "names the holder's pid: {err}"
    );
    assert!(err.contains("writ.lock"), "{err}");
    // The lock goes with its holder, however it ends: a new serve then starts.
    drop(first);
    let again = Served::start(&data, false);
    assert!(again.url.starts_with("http://"));
}

/// Regression (issue 14): `serve --init` that failed half-way (here: a trusted key that is not
/// hex, checked after the ledger and the writ key were written) left a directory that was
/// neither new nor usable, and the retry refused it as "already initialized".
#[test]
fn a_failed_init_leaves_nothing_and_a_retry_works() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (code, err) = serve_once(&data, &["--init", "--trust-bundle-key", "not-a-key"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        !data.exists(),
        "a failed init left {}: {err}",
        data.display()
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "a failed init left {left:?}");
    // The retry initializes and serves.
    let served = Served::start(&data, true);
    assert!(served.url.starts_with("http://"));
    assert!(data.join("admin.token").exists());
}
