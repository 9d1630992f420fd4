//! `writ demo --web` in a real browser (issue 17, acceptance 4): the built binary serves the
//! demo; `ui/tests/demo.mjs` (node, playwright-core, Debian's Chromium) reads the printed URL
//! on its stdin — never its command line — and plays every step with the keyboard, to a proof
//! verified in the browser. This test then checks what the browser cannot see: the revoked
//! command's process is gone, the demo stops cleanly on SIGTERM without logging the token, and
//! its ledger verifies in full with `writ ledger verify`.
//!
//! Needs node with `playwright-core` and `axe-core` (WRIT_UI_NODE_MODULES) and Chromium
//! (WRIT_CHROMIUM, default /usr/bin/chromium); without them the test says so and skips, unless
//! WRIT_REQUIRE_UI=1.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The demo process, stopped with SIGTERM when the test ends early.
struct Demo(std::process::Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Demo {
    /// Sends SIG`signal` (`TERM`, `INT`), waits for the demo to exit, asserts it exited 0, and
    /// returns its stderr.
    fn stop_with(&mut self, signal: &str) -> String {
        let pid = self.0.id().to_string();
        let killed = Command::new("kill")
            .args([format!("-{signal}"), pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let started = Instant::now();
        let code = loop {
            if let Some(s) = self.0.try_wait().unwrap() {
                break s.code();
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the demo did not stop on SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        self.0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert_eq!(code, Some(0), "stderr: {stderr}");
        stderr
    }
}

fn process_gone(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

#[test]
fn the_web_demo_in_chromium() {
    let Some(crate::browser::BrowserEnv {
        root,
        modules,
        chromium,
        screenshots: shots,
    }) = crate::browser::browser_env("the web demo's browser test")
    else {
        return;
    };

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut demo = Demo(
        Command::new(env!("CARGO_BIN_EXE_writ"))
            .args(["demo", "--web", "--format", "json", "--dir"])
            .arg(&data)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(demo.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let printed: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    let url = printed["url"].as_str().unwrap().to_owned();
    let base = printed["server"].as_str().unwrap();
    assert!(url.starts_with(&format!("{base}/ui/demo#token=writ_principal_")));
    let token = url.split_once("#token=").unwrap().1.to_owned();
    assert_eq!(printed["data_dir"], json!(data));

    let mut node = Command::new("node")
        .arg(root.join("ui/tests/demo.mjs"))
        .env("NODE_PATH", &modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node");
    let config = json!({
        "url": url, "vkey": printed["vkey"], "chromium": chromium, "modules": modules,
        "screenshots": shots.display().to_string(),
    });
    node.stdin
        .take()
        .unwrap()
        .write_all(format!("{config}\n").as_bytes())
        .unwrap();
    let mut out = String::new();
    node.stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let status = node.wait().unwrap();
    eprint!("{out}");
    assert!(status.success(), "ui/tests/demo.mjs failed: {out}");
    let result: Value = out
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("RESULT "))
        .map(|l| serde_json::from_str(l).unwrap())
        .expect("the browser script's RESULT line");

    // Measured, printed, never asserted.
    let steps = &result["steps"];
    eprintln!(
        "web demo in Chromium: page ready {} ms; steps (ms in the browser, click to answer): {}; proof verified in the browser in {} ms ({} checks); {} Tab presses for 6 steps; axe violations (none serious): {}",
        result["page_ready_ms"],
        (1..=6)
            .map(|n| format!("{n}: {}", steps[n.to_string()]["ms"]))
            .collect::<Vec<_>>()
            .join(", "),
        result["verify_ms"],
        result["checks"],
        result["tab_presses"],
        result["axe_violations"],
    );

    // The revoked command really ended: terminated by governance, its process gone.
    let cmd = &result["revocation"];
    assert_eq!(cmd["outcome"], "terminated_by_governance", "{cmd}");
    assert_eq!(cmd["reason_code"], "writ_revoked_principal", "{cmd}");
    assert_eq!(cmd["signal"], 15, "{cmd}");
    assert!(cmd["receipt_index"].is_u64(), "{cmd}");
    let pid = cmd["pid"].as_u64().unwrap();
    assert!(
        process_gone(pid),
        "the revoked command (pid {pid}) still runs"
    );
    eprintln!(
        "revocation -> command stopped in {:.0} ms (contained: {})",
        cmd["stopped_ms"].as_f64().unwrap_or(f64::NAN),
        cmd["contained"]
    );
    assert_eq!(
        steps["5"]["execution"], cmd["execution"],
        "step 5 links to the stopped command's execution"
    );

    // SIGTERM: a clean exit; the token never reached the logs.
    let stderr = demo.stop_with("TERM");
    assert!(!stderr.contains(&token), "the token is in the demo's log");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");

    // The demo's ledger verifies in full, as an operator would check it, and holds every step.
    let ledger = data.join("ledger");
    let verified = Command::new(env!("CARGO_BIN_EXE_writ"))
        .args(["ledger", "verify", "--full", "--format", "json", "--dir"])
        .arg(&ledger)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&verified.stdout);
    assert!(
        verified.status.success(),
        "writ ledger verify: {report}{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let report: Value = serde_json::from_str(&report).unwrap();
    let size = report["size"]
        .as_u64()
        .or_else(|| report["checkpoint"]["size"].as_u64())
        .unwrap_or_else(|| panic!("no size in {report}"));
    let last = steps["6"]["ledger_after"].as_u64().unwrap();
    assert!(
        size >= last,
        "the ledger ({size}) holds every step ({last})"
    );
}

/// Without a browser: the human output names the URL and says how to stop; the demo routes
/// answer only the printed token, in order and once; Ctrl-C ends it with 0 and removes its
/// temporary data directory.
#[test]
fn the_web_demo_routes_refuse_out_of_order_and_stop_on_ctrl_c() {
    let tmp = tempfile::tempdir().unwrap();
    let mut demo = Demo(
        Command::new(env!("CARGO_BIN_EXE_writ"))
            .args(["demo", "--web"])
            .env("TMPDIR", tmp.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(demo.0.stdout.take().unwrap());
    let mut printed = String::new();
    let url = loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "no URL printed: {printed}"
        );
        printed.push_str(&line);
        if let Some(u) = line.trim().strip_prefix("http://") {
            break format!("http://{u}");
        }
    };
    let mut rest = String::new();
    out.read_line(&mut rest).unwrap();
    out.read_line(&mut rest).unwrap();
    assert!(rest.contains("Ctrl-C"), "{printed}{rest}");
    assert!(printed.contains("keep it to yourself"), "{printed}");
    let (base, token) = url.split_once("/ui/demo#token=").unwrap();

    let http = crate::serve::http();
    let (st, _) = http.call("GET", &format!("{base}/v1/demo"), None, None);
    assert_eq!(st, 401);
    let (st, body) = http.call("GET", &format!("{base}/v1/demo"), Some(token), None);
    assert_eq!(st, 200, "{body}");
    let states: Vec<&str> = body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["pending"; 6]);
    assert_eq!(body["next"], 1);
    let size0 = body["ledger_size"].as_u64().unwrap();
    let step = |n: &str| {
        http.call(
            "POST",
            &format!("{base}/v1/demo/steps/{n}"),
            Some(token),
            None,
        )
    };
    let (st, body) = step("2");
    assert_eq!(
        (st, body["code"].as_str()),
        (409, Some("demo_step_out_of_order"))
    );
    let (st, body) = step("1");
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["state"], "done");
    assert_eq!(body["ledger_before"].as_u64(), Some(size0));
    assert!(body["ledger_after"].as_u64().unwrap() > size0, "{body}");
    assert!(body["execution"].is_string(), "{body}");
    let (st, body) = step("1");
    assert_eq!((st, body["code"].as_str()), (409, Some("demo_step_done")));
    let (st, _) = step("0");
    assert_eq!(st, 404);
    let (st, _) = step("18446744073709551616");
    assert_eq!(st, 404);
    let (_, body) = http.call("GET", &format!("{base}/v1/demo"), Some(token), None);
    assert_eq!(body["next"], 2);

    // Ctrl-C: a clean exit, the temporary data directory removed.
    let stderr = demo.stop_with("INT");
    assert!(!stderr.contains(token));
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "the demo left {left:?} behind");
}
