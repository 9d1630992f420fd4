//! What a governed command can reach (issue 12, findings 4 and 12): nothing it starts outlives
//! its execution, whatever it does to escape, and it can neither signal nor read its runner,
//! nor read Writ's key and token files. Run as root here and in CI, where containment must hold
//! too.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use writ_model::receipt::Outcome;

use crate::exec_harness::{GateCreds, Server, config, gate, request, runner, wait_for_file};

/// Each way a process can leave its parent's process group or session, started in the
/// background by the command: it waits, then writes its file.
fn escapes(dir: &Path, tag: &str) -> String {
    let f = |name: &str| dir.join(format!("{tag}-{name}")).display().to_string();
    format!(
        "setsid sh -c 'sleep 2; echo escaped > {setsid}' & \
         ( ( sleep 2; echo escaped > {double} ) & ) ; \
         nohup sh -c 'sleep 2; echo escaped > {nohup}' >/dev/null 2>&1 & \
         python3 -c 'import os, time; os.setpgid(0, 0); time.sleep(2); open(\"{pgrp}\", \"w\").write(\"escaped\")' & ",
        setsid = f("setsid"),
        double = f("double-fork"),
        nohup = f("nohup"),
        pgrp = f("new-pgrp"),
    )
}

/// Waits until no process on the host carries `marker` in its command line, then past the
/// escapees' own sleep, and checks that none of their files was written.
async fn assert_nothing_escaped(dir: &Path, tag: &str) {
    let t0 = Instant::now();
    loop {
        let alive = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.parse::<u32>().is_ok())
            })
            .any(|e| {
                std::fs::read(e.path().join("cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(tag))
            });
        if !alive {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "a process the command started outlived its execution"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The escapees are gone; wait past their sleep anyway, the files must never appear.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for name in ["setsid", "double-fork", "nohup", "new-pgrp"] {
        let f = dir.join(format!("{tag}-{name}"));
        assert!(
            !f.exists(),
            "{name}: the escaped child wrote {}",
            f.display()
        );
    }
}

// Regression (finding 4b): the kill switch ended the main command, but a `setsid` child lived on
// and wrote its file; so did double-forked, nohup'd and new-process-group children.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_escaped_child_outlives_the_kill_switch() {
    let srv = Server::start().await;
    let r = srv.sandbox_runner("agent:escaper", Some(10), |_| {}).await;
    let feed = r.follow_feed().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tag = "killswitch-escape";
    let ready = dir.path().join("ready");
    let script = format!(
        "{} touch {}; sleep 30",
        escapes(dir.path(), tag),
        ready.display()
    );
    let req = request(&["bash", "-c", &script], dir.path());
    let task = {
        let r = r.clone();
        tokio::spawn(async move { r.run(&req).await })
    };
    wait_for_file(&ready).await;
    srv.admin("POST", "/v1/admin/kill-switch", json!({"on": true}))
        .await;
    let report = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(report.outcome, Outcome::TerminatedByGovernance);
    assert_nothing_escaped(dir.path(), tag).await;
    feed.abort();
    srv.stop().await;
}

// Regression (finding 4): a command that exits at once left its background children running
// after its execution (and its receipt) had ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_escaped_child_outlives_a_command_that_ends() {
    let srv = Server::start().await;
    let r = srv.sandbox_runner("agent:escaper", None, |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let tag = "end-escape";
    let script = format!("{} exit 0", escapes(dir.path(), tag));
    let report = r
        .run(&request(&["bash", "-c", &script], dir.path()))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Success);
    assert_nothing_escaped(dir.path(), tag).await;
    srv.stop().await;
}

// Regression (findings 4a and 12): `kill -9 $PPID` killed the runner, and
// `/proc/$PPID/environ` and `cmdline` showed the runner's tokens and key path; the gate key was
// readable without any --fs grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_can_neither_signal_nor_read_its_runner_or_writs_files() {
    let srv = Server::start().await;
    let token = srv.add_principal("agent:snoop", "sandbox").await;
    let creds = srv.add_gate("gate:runner", "sandbox").await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("gate.key");
    std::fs::write(&key, "canary-gate-key").unwrap();
    let token_file = dir.path().join("agent.token");
    std::fs::write(&token_file, "canary-token-file").unwrap();
    let mut cfg = config(&token, &creds.token);
    cfg.hide = vec![key.clone(), token_file.clone()];
    let r = runner(srv.cp(), gate(&creds, &srv.jwks().await, None), cfg);
    let me = std::process::id();
    // Every read that succeeds prints its name; every signal that lands, too.
    let script = format!(
        "for p in $PPID {me}; do \
           for f in environ cmdline mem; do \
             if [ -r /proc/$p/$f ] && head -c 1 /proc/$p/$f >/dev/null 2>&1 && \
                [ $f != cmdline -o $p = {me} ]; then echo READ:$p/$f; fi; \
           done; \
           tr '\\0' ' ' < /proc/$p/cmdline > {seen}/cmdline-$p 2>/dev/null; \
           kill -0 $p 2>/dev/null && echo SIGNAL:$p; \
         done; \
         cat {key} {token_file} 2>/dev/null; \
         kill -9 $PPID {me} 2>/dev/null; sleep 0.2; echo done",
        key = key.display(),
        token_file = token_file.display(),
        seen = dir.path().display(),
    );
    let report = r
        .run(&request(&["sh", "-c", &script], dir.path()))
        .await
        .unwrap();
    let out = String::from_utf8(report.stdout.clone().unwrap()).unwrap();
    assert!(out.trim_end().ends_with("done"), "{out}");
    assert!(
        !out.contains("READ:"),
        "the command read a runner's /proc entry: {out}"
    );
    assert!(
        !out.contains("SIGNAL:"),
        "the command can signal its runner: {out}"
    );
    // What the command could see of the command lines around it (init's, its own namespace's).
    let mut seen = out.clone();
    for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("cmdline-") {
            seen.push_str(&std::fs::read_to_string(e.path()).unwrap());
        }
    }
    for secret in [
        "canary-gate-key",
        "canary-token-file",
        token.as_str(),
        creds.token.as_str(),
    ] {
        assert!(
            !seen.contains(secret),
            "{secret} reached the command: {seen}"
        );
    }
    assert_eq!(report.outcome, Outcome::Success, "{out}");
    srv.stop().await;
}

// Regression (finding 4a): once the runner was killed, its command (and what it started) ran on
// unwatched and wrote its file. Here a shell stands in for the runner: it starts the launcher
// exactly as the runner does (`--parent` its own pid) and is then killed with SIGKILL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_the_command_started_outlives_its_runner() {
    let dir = tempfile::tempdir().unwrap();
    let tag = "runner-death-escape";
    let ready = dir.path().join("ready");
    let launcher = env!("CARGO_BIN_EXE_writ-sandbox");
    let inner = format!(
        "{} touch {}; sleep 2; echo escaped > {}/{tag}-main",
        escapes(dir.path(), tag),
        ready.display(),
        dir.path().display()
    );
    let mut fake_runner = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{launcher} --parent $$ -- /bin/bash -c \"$0\"; echo runner-survived",
            launcher = launcher
        ))
        .arg(&inner)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for_file(&ready).await;
    fake_runner.start_kill().unwrap();
    let _ = fake_runner.wait().await;
    assert_nothing_escaped(dir.path(), tag).await;
    assert!(!dir.path().join(format!("{tag}-main")).exists());
}

// Regression: the command shared the session, and so the controlling terminal, of the shell that
// started the runner; with TIOCSTI it could type a command into that shell, to run there
// ungoverned once the execution was over. In a session of its own it has no terminal to type
// into.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_leads_its_own_session_without_a_terminal() {
    let srv = Server::start().await;
    let r = srv.sandbox_runner("agent:typist", None, |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let probe = "import os; print(os.getsid(0) == os.getpid())";
    let report = r
        .run(&request(&["python3", "-c", probe], dir.path()))
        .await
        .unwrap();
    let out = String::from_utf8(report.stdout.clone().unwrap()).unwrap();
    assert_eq!(report.outcome, Outcome::Success, "{out}");
    assert_eq!(out.trim(), "True", "not a session leader");
    srv.stop().await;
}

/// Where [`a_killed_runner_s_execution_is_ended_by_the_control_plane`] tells its runner process
/// what to run (JSON); without it, [`killed_runner_child`] does nothing.
const RUNNER_CHILD_ENV: &str = "WRIT_TEST_KILLED_RUNNER";

// Regression (finding 4a): once its runner was killed, an execution stayed open in the ledger
// for ever, with neither receipt nor lease end. A runner in a process of its own (this test
// binary, running `killed_runner_child`) runs a long command with two-second writs and is killed
// with SIGKILL; the control plane then ends the execution's lease in the ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_runner_s_execution_is_ended_by_the_control_plane() {
    let srv = Server::start_with(|c| {
        c.writ_lifetime_secs = 2;
        c.lease_sweep_secs = 1;
        c.lease_grace_secs = 1;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let mut spec = runner_spec(&srv, "agent:doomed").await;
    spec["dir"] = json!(dir.path());
    spec["ready"] = json!(ready);
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "exec_containment::killed_runner_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(RUNNER_CHILD_ENV, spec.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !ready.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the runner never started its command"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the runner ended early"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The execution the runner was allowed (its only one).
    let execution = entry_views(&srv)
        .into_iter()
        .find(|e| {
            e["type"] == "decision"
                && e["decision"] == "allow"
                && e["request"]["principal"] == "agent:doomed"
        })
        .map(|e| {
            e["request"]["lineage"]["execution"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .unwrap();

    child.start_kill().unwrap(); // SIGKILL
    let _ = child.wait().await;

    // Polled with a generous bound: the lease (renewed for two seconds at a time) runs out,
    // the grace passes, and a sweep ends it.
    let t0 = Instant::now();
    let ended = loop {
        let entries = srv.entries_of(&execution).await;
        if let Some(e) = entries.iter().find(|e| e["type"] == "lease.ended") {
            assert!(
                !entries.iter().any(|e| e["type"] == "receipt"),
                "{entries:?}"
            );
            break e.clone();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no lease.ended for {execution}: {entries:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(ended["reason_code"], "lease_expired", "{ended}");
    assert_eq!(ended["execution"], execution.as_str());
    srv.stop().await;
}

/// The runner process of [`a_killed_runner_s_execution_is_ended_by_the_control_plane`]: runs a
/// long command through a real runner until it is killed. Does nothing when run otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the runner process of a_killed_runner_s_execution_is_ended_by_the_control_plane"]
async fn killed_runner_child() {
    let Ok(spec) = std::env::var(RUNNER_CHILD_ENV) else {
        return;
    };
    let (spec, r) = runner_from_spec(&spec, |cfg| {
        cfg.lifetime_secs = Some(2);
        cfg.renew_every = Duration::from_millis(500);
    });
    let s = |k: &str| spec[k].as_str().unwrap().to_owned();
    let cmd = format!("touch {}; sleep 600", s("ready"));
    let dir = std::path::PathBuf::from(s("dir"));
    let report = r.run(&request(&["sh", "-c", &cmd], &dir)).await;
    panic!("the runner was to be killed while its command ran, yet it ended: {report:?}");
}

/// What a test hands a runner in a process of its own: the server, the principal's and the
/// gate's credentials, the keys.
async fn runner_spec(srv: &Server, principal: &str) -> serde_json::Value {
    let token = srv.add_principal(principal, "sandbox").await;
    let creds = srv.add_gate("gate:runner", "sandbox").await;
    json!({
        "base": srv.base, "token": token, "gate_token": creds.token, "gate": creds.id,
        "zone": creds.zone, "key": hex::encode(creds.key.to_bytes()), "jwks": srv.jwks().await,
    })
}

/// The runner a [`runner_spec`] describes (in the process that runs it), with [`config`]'s
/// settings changed by `tweak`.
fn runner_from_spec(
    spec: &str,
    tweak: impl FnOnce(&mut writ_gate::exec::RunnerConfig),
) -> (serde_json::Value, writ_gate::exec::Runner) {
    let spec: serde_json::Value = serde_json::from_str(spec).unwrap();
    let s = |k: &str| spec[k].as_str().unwrap().to_owned();
    let key: [u8; 32] = hex::decode(s("key")).unwrap().try_into().unwrap();
    let creds = GateCreds {
        id: s("gate"),
        zone: s("zone"),
        key: ed25519_dalek::SigningKey::from_bytes(&key),
        token: s("gate_token"),
    };
    let jwks: writ_artifact::Jwks = serde_json::from_value(spec["jwks"].clone()).unwrap();
    let mut cfg = config(&s("token"), &creds.token);
    tweak(&mut cfg);
    let r = runner(
        writ_gate::ControlPlane::with_timeout(s("base"), Duration::from_secs(5)),
        gate(&creds, &jwks, None),
        cfg,
    );
    (spec, r)
}

/// Where [`an_uncontained_runner_says_so_and_a_policy_can_refuse_it`] tells its runner process
/// what to run (JSON); without it, [`uncontained_runner_child`] does nothing.
const UNCONTAINED_CHILD_ENV: &str = "WRIT_TEST_UNCONTAINED_RUNNER";

/// Activates the default bundle plus a policy that refuses commands the runner does not
/// contain.
async fn activate_contained_only(srv: &Server) {
    let key = writ_authorize::BundleSigningKey::from_seed([7; 32]);
    let root =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy/default");
    let mut raw = std::collections::BTreeMap::new();
    for name in ["writ.cedarschema", "policies.cedar", "entities.json"] {
        raw.insert(name.to_owned(), std::fs::read(root.join(name)).unwrap());
    }
    raw.insert(
        "contained.cedar".to_owned(),
        br#"@id("only-contained-commands")
@reason("commands run only where the runner contains them")
forbid (principal, action == Action::"exec", resource)
when { context.env has containment && context.env.containment == "uncontained" };
"#
        .to_vec(),
    );
    let bundle =
        writ_authorize::compile(&writ_authorize::BundleSource::from_files(raw.clone()).unwrap())
            .unwrap();
    let mut files = serde_json::Map::new();
    for (name, bytes) in raw {
        files.insert(name, json!(String::from_utf8(bytes).unwrap()));
    }
    files.insert(
        "bundle.sig".into(),
        json!(key.sign(bundle.digest()).to_json()),
    );
    srv.admin(
        "POST",
        "/v1/admin/bundles/activate",
        json!({"files": files}),
    )
    .await;
}

/// The decision records about `principal`'s executions, oldest first.
fn decisions_of(srv: &Server, principal: &str) -> Vec<serde_json::Value> {
    entry_views(srv)
        .into_iter()
        .filter(|e| e["type"] == "decision" && e["request"]["principal"] == principal)
        .collect()
}

/// Every ledger entry with what its disclosure says (v2 keeps the request in the evidence
/// store).
fn entry_views(srv: &Server) -> Vec<serde_json::Value> {
    let ledger = &srv.state.ledger;
    let size = ledger.size();
    let indexes: Vec<u64> = (0..size).collect();
    let disclosures = ledger.disclosures(&indexes).unwrap();
    ledger
        .entries(0, size)
        .unwrap()
        .iter()
        .zip(0..)
        .map(|(e, i)| {
            let d = disclosures.iter().find(|d| d.index == i);
            writ_ledger::evidence::entry_view(e, d)
        })
        .collect()
}

// Issue 12, finding 4: the weaker mode (`--allow-uncontained`) was not visible to policies. The
// runner attests `containment`: `contained` where the kernel contains the command (here),
// `uncontained` where it cannot and the operator allowed the weaker mode — shown by a runner in
// a user namespace of its own where namespaces are switched off (`user.max_user_namespaces` 0),
// which a policy then refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncontained_runner_says_so_and_a_policy_can_refuse_it() {
    let srv = Server::start().await;
    activate_contained_only(&srv).await;
    let spec = runner_spec(&srv, "agent:loose").await;
    let dir = tempfile::tempdir().unwrap();

    // This kernel contains the command: with --allow-uncontained too, the runner says so.
    let (_, r) = runner_from_spec(&spec.to_string(), |c| c.allow_uncontained = true);
    assert_eq!(r.containment(), writ_model::env::Containment::Contained);
    let report = r.run(&request(&["true"], dir.path())).await.unwrap();
    assert_eq!(report.outcome, Outcome::Success);
    let decisions = decisions_of(&srv, "agent:loose");
    assert_eq!(decisions.len(), 1);
    assert_eq!(
        decisions[0]["request"]["env"]["containment"], "contained",
        "{}",
        decisions[0]
    );
    assert_eq!(decisions[0]["decision"], "allow");
    // Renewals carry the claim too (the policy sees it on every re-decision).

    // Where namespaces are switched off, the weaker mode shows and the policy refuses it.
    let result = dir.path().join("result.json");
    let mut child_spec = spec.clone();
    child_spec["dir"] = json!(dir.path());
    child_spec["result"] = json!(result);
    let status = tokio::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "sh", "-c"])
        .arg("echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\" \"$@\"")
        .arg(std::env::current_exe().unwrap())
        .args([
            "exec_containment::uncontained_runner_child",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env(UNCONTAINED_CHILD_ENV, child_spec.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .status()
        .await
        .unwrap();
    assert!(status.success(), "the runner process failed: {status}");
    let answer: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap();
    assert_eq!(answer["containment"], "uncontained", "{answer}");
    assert_eq!(answer["denied"], "policy_forbid", "{answer}");
    let decisions = decisions_of(&srv, "agent:loose");
    assert_eq!(decisions.len(), 2);
    let refused = &decisions[1];
    assert_eq!(refused["request"]["env"]["containment"], "uncontained");
    assert_eq!(refused["decision"], "deny");
    assert_eq!(refused["determining"], json!(["only-contained-commands"]));
    srv.stop().await;
}

/// The runner process of [`an_uncontained_runner_says_so_and_a_policy_can_refuse_it`]: asks to
/// run a command with `--allow-uncontained` and writes what happened. Does nothing when run
/// otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the runner process of an_uncontained_runner_says_so_and_a_policy_can_refuse_it"]
async fn uncontained_runner_child() {
    let Ok(spec) = std::env::var(UNCONTAINED_CHILD_ENV) else {
        return;
    };
    let (spec, r) = runner_from_spec(&spec, |c| c.allow_uncontained = true);
    let dir = std::path::PathBuf::from(spec["dir"].as_str().unwrap());
    let containment = r.containment().as_str();
    let answer = match r.run(&request(&["true"], &dir)).await {
        Err(writ_gate::exec::ExecError::Denied { code, .. }) => {
            json!({"containment": containment, "denied": code})
        }
        Ok(report) => {
            json!({"containment": containment, "outcome": format!("{:?}", report.outcome)})
        }
        Err(e) => json!({"containment": containment, "error": e.to_string()}),
    };
    std::fs::write(spec["result"].as_str().unwrap(), answer.to_string()).unwrap();
}

/// Regression: with `--allow-uncontained` on a kernel that contains commands, the runner
/// claimed `contained` (the policy saw that) yet still let the launcher fall back to running
/// uncontained if namespaces failed at launch. The launcher must be held to the claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contained_claim_forbids_the_launcher_an_uncontained_fallback() {
    let srv = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("launcher-args");
    let launcher = dir.path().join("launcher.sh");
    std::fs::write(
        &launcher,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '{}'\nexit 0\n",
            seen.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &launcher,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let r = srv
        .sandbox_runner("agent:claims", None, |c| {
            c.allow_uncontained = true;
            c.sandbox_program = launcher.clone();
        })
        .await;
    if r.containment() != writ_model::env::Containment::Contained {
        println!("skipped: this kernel cannot contain commands, so the claim is uncontained");
        return;
    }
    let _ = r.run(&request(&["true"], dir.path())).await;
    let args = std::fs::read_to_string(&seen).expect("the launcher ran");
    assert!(args.lines().any(|a| a == "true"), "{args}");
    assert!(
        !args.lines().any(|a| a == "--allow-uncontained"),
        "a contained claim let the launcher fall back: {args}"
    );
}
