//! `writ exec --as PRINCIPAL -- CMD ARGS…`: run one command under a writ (the command runner,
//! `writ_gate::exec`), and the hidden `writ __sandbox` launcher it re-executes.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use writ_artifact::FsScope;
use writ_gate::exec::{ExecError, ExecRequest, RunReport, Runner, RunnerConfig};
use writ_gate::{ControlPlane, Gate, GateConfig};
use writ_model::{GateId, PrincipalId, SystemClock, ZoneId};

use crate::cli_output::{Exit, Format, invalid_input, report_error};

const EXEC_LONG_HELP: &str = "\
How it works: the runner asks the control plane for a writ for the exact argv, working directory
and a SHA-256 of the command's environment (an allowlist: PATH, HOME, USER, LOGNAME, SHELL, LANG,
LANGUAGE, TERM, COLORTERM, TZ, TMPDIR, NO_COLOR, LC_*, plus each --pass-env NAME; never a WRIT_*
variable), verifies it as a gate, and runs the command with no_new_privs and, when
--fs-read/--fs-write/--fs-system are given, Landlock filesystem limits taken from the writ. While
it runs, its lease is renewed and the event feed is followed: a revocation, a denied renewal, the
kill switch, or a control plane unreachable past --grace stops it (SIGTERM to its process group,
SIGKILL after --kill-grace). A signed receipt with the exit status and SHA-256 of stdout and stderr
is posted at the end.

Exit status: when the command ran, its own status (128+N when killed by signal N, also when
governance stopped it: the report on stderr says why). When it did not run, Writ's own outcome is
120 plus the code every other writ command uses, so it cannot be mistaken for the command's own
1, 2 or 3: 122 denied (no writ; also, fail-closed, an unreachable control plane or a kernel that
cannot contain the command), 123 invalid input (flags, secrets, the command line), 121 failure
(the sandbox launcher could not start, or Writ itself failed). The sandbox launcher keeps the
shell's 126 (cannot execute) and 127 (not found). With --format json the closing report on stderr says it plainly:
{\"ran\":true,\"exit_code\":…} or {\"ran\":false,\"decision\":\"deny\",\"reason_code\":…}.

Example:
  writ exec --as agent:build-bot --gate-id gate:runner --gate-key gate.key \\
      --gate-token-file gate.token --token-file agent.token --fs-system --fs-write ./out -- make";

/// Directories `--fs-system` adds to the read scope (so dynamically linked programs start).
const SYSTEM_READ: &[&str] = &["/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc"];

/// Run a command only with a writ for exactly that command.
///
/// The runner asks the control plane for a writ for the exact argv, working directory and a
/// SHA-256 of the command's environment (an allowlist plus --pass-env names; never a WRIT_*
/// variable), verifies it as a gate, and runs the command with
/// no_new_privs and, when --fs-read/--fs-write are given, Landlock filesystem limits. While it
/// runs, the lease is renewed and the event feed is followed: a revocation, a denied renewal,
/// the kill switch or a control plane silent past --grace stops it (SIGTERM, then SIGKILL after
/// --kill-grace). A signed receipt with the exit status and SHA-256 of stdout and stderr is
/// posted at the end.
///
/// Exit status: the command's own when it ran (128+N for signal N); when it did not, 122
/// denied, 123 invalid input, 121 failure (120 + Writ's usual code, so never the command's 1/2/3).
#[derive(Debug, clap::Args)]
#[command(after_long_help = EXEC_LONG_HELP)]
pub struct ExecArgs {
    /// The principal that acts (e.g. agent:build-bot); a writ for anyone else is refused.
    #[arg(long = "as", env = "WRIT_AS", value_name = "PRINCIPAL")]
    pub principal: String,
    /// The caller's W3C trace context (`00-TRACEID-SPANID-FLAGS`, as an agent's OpenTelemetry
    /// SDK propagates it): the writ's lineage and the exported spans join that trace.
    #[arg(long, env = "TRACEPARENT", value_name = "TRACEPARENT")]
    pub traceparent: Option<String>,
    /// Base URL of the control plane.
    #[arg(
        long = "control-plane",
        env = "WRIT_SERVER",
        default_value = "http://127.0.0.1:8787",
        value_name = "URL"
    )]
    pub server: String,
    /// Refused: a token on the command line is visible to every local user (`ps`).
    #[arg(long = "token", hide = true, value_name = "TOKEN")]
    pub token: Option<String>,
    /// A file (mode 0600) holding the principal's bearer token (from `writ principal add`);
    /// or set WRIT_TOKEN.
    #[arg(long, env = "WRIT_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// This runner's gate id (registered with `writ gate add`).
    #[arg(long, env = "WRIT_GATE_ID", value_name = "GATE")]
    pub gate_id: String,
    /// The gate's secret key file (from `writ gate keygen`; mode 0600).
    #[arg(long, env = "WRIT_GATE_KEY_FILE", value_name = "FILE")]
    pub gate_key: PathBuf,
    /// Refused: a token on the command line is visible to every local user (`ps`).
    #[arg(long = "gate-token", hide = true, value_name = "TOKEN")]
    pub gate_token: Option<String>,
    /// A file (mode 0600) holding the gate's bearer token (printed by `writ gate add`); or set
    /// WRIT_GATE_TOKEN.
    #[arg(long, env = "WRIT_GATE_TOKEN_FILE", value_name = "FILE")]
    pub gate_token_file: Option<PathBuf>,
    /// The zone this runner attests (must be the gate's registered zone).
    #[arg(
        long,
        env = "WRIT_GATE_ZONE",
        default_value = "sandbox",
        value_name = "ZONE"
    )]
    pub zone: String,
    /// The control plane's issuer id; writs from another issuer are refused when set.
    #[arg(long, env = "WRIT_ISSUER", value_name = "ID")]
    pub issuer: Option<String>,
    /// Seconds the control plane (event feed, lease renewal) may stay unreachable before the
    /// command is stopped and new commands are denied.
    #[arg(
        long,
        env = "WRIT_GRACE_SECS",
        default_value_t = 15,
        value_name = "SECS"
    )]
    pub grace: u64,
    /// Seconds between SIGTERM and SIGKILL when governance stops the command.
    #[arg(
        long,
        env = "WRIT_KILL_GRACE_SECS",
        default_value_t = 5,
        value_name = "SECS"
    )]
    pub kill_grace: u64,
    /// Seconds between lease renewals.
    #[arg(
        long,
        env = "WRIT_RENEW_SECS",
        default_value_t = 10,
        value_name = "SECS"
    )]
    pub renew_every: u64,
    /// Seconds a control-plane call may take before the command is denied.
    #[arg(
        long,
        env = "WRIT_TIMEOUT_SECS",
        default_value_t = 5,
        value_name = "SECS"
    )]
    pub timeout: u64,
    /// A path (and its subtree) the command may read; with --fs-write, everything else is denied
    /// by Landlock.
    #[arg(long = "fs-read", value_name = "PATH")]
    pub fs_read: Vec<String>,
    /// A path (and its subtree) the command may write (and read).
    #[arg(long = "fs-write", value_name = "PATH")]
    pub fs_write: Vec<String>,
    /// Add the system directories (/usr, /lib, /lib64, /bin, /sbin, /etc) to --fs-read.
    #[arg(long)]
    pub fs_system: bool,
    /// Run even when the kernel cannot enforce the filesystem limits (printed plainly).
    #[arg(long)]
    pub allow_unenforced_fs: bool,
    /// Run even when the kernel offers no user and PID namespaces or no Landlock to contain
    /// the command (printed plainly): processes it starts may then outlive it, and it may
    /// reach Writ's key and token files.
    #[arg(long)]
    pub allow_uncontained: bool,
    /// Pass this variable of the runner's environment to the command (repeat for several).
    /// The command otherwise gets only PATH, HOME, USER, LOGNAME, SHELL, LANG, LANGUAGE, TERM,
    /// COLORTERM, TZ, TMPDIR, NO_COLOR and LC_*; WRIT_* variables are refused.
    #[arg(long = "pass-env", value_name = "NAME")]
    pub pass_env: Vec<String>,
    /// Serve this runner's own Prometheus metrics at http://ADDR/metrics while the command
    /// runs (with port 0 the bound address is logged as `metrics_url` on stderr).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// How the closing report is printed (on stderr: stdout belongs to the command).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// `writ __sandbox …`: restricts this process, then execs the command (see writ_gate::exec::sandbox).
pub fn sandbox_main() -> ExitCode {
    let code = writ_gate::exec::sandbox::main_with_args(std::env::args_os().skip(2));
    ExitCode::from(u8::try_from(code).unwrap_or(125))
}

/// Added to Writ's usual exit code (2 denied, 3 invalid input, 1 failure) when the command did
/// not run, so that Writ's own outcome never reads as the command's own 1, 2 or 3.
pub const NOT_RUN_BASE: u8 = 120;

/// `writ exec`'s exit status when the command did not run: 120 + Writ's usual code.
pub fn not_run(exit: Exit) -> ExitCode {
    ExitCode::from(NOT_RUN_BASE + exit as u8)
}

/// Runs `writ exec`; the exit status is the command's own when it ran, else [`not_run`].
pub fn run(args: ExecArgs) -> ExitCode {
    let format = args.format;
    match run_inner(args) {
        Ok(Ok(report)) => {
            print_report(&report, format);
            ExitCode::from(report.shell_exit_code())
        }
        Ok(Err(e)) => {
            let code = if e.is_denial() {
                eprintln!("writ exec: denied [{}]: {e}", e.reason_code());
                Exit::Denied
            } else if matches!(e, ExecError::InvalidCommand(_)) {
                eprintln!("writ exec: {e}");
                Exit::InvalidInput
            } else {
                eprintln!("writ exec: failed [{}]: {e}", e.reason_code());
                Exit::Failure
            };
            if format == Format::Json {
                let doc = serde_json::json!({"ran": false, "decision": if e.is_denial() {"deny"} else {"error"}, "reason_code": e.reason_code(), "message": e.to_string(), "exit_status": NOT_RUN_BASE + code as u8});
                eprintln!("{doc}");
            }
            not_run(code)
        }
        Err(e) => not_run(report_error(&e)),
    }
}

fn print_report(r: &RunReport, format: Format) {
    if format == Format::Json {
        let mut doc = serde_json::to_value(r).unwrap_or_default();
        if let Some(o) = doc.as_object_mut() {
            o.insert("ran".into(), true.into());
            o.insert("exit_status".into(), r.shell_exit_code().into());
        }
        eprintln!("{doc}");
        return;
    }
    if let Some(t) = &r.termination {
        eprintln!(
            "writ exec: stopped by governance [{}]: {}{}",
            t.reason_code,
            t.message,
            if t.killed {
                " (SIGKILL after the grace period)"
            } else {
                ""
            }
        );
    }
    match &r.receipt_error {
        Some(e) => eprintln!(
            "writ exec: warning: the receipt for execution {} was not recorded: {e}",
            r.execution
        ),
        None => {
            if let Some(i) = r.receipt_index {
                note(&format!(
                    "execution {} receipt at ledger index {i}",
                    r.execution
                ));
            }
        }
    }
}

fn note(msg: &str) {
    if std::env::var_os("WRIT_EXEC_QUIET").is_none() {
        eprintln!("writ exec: {msg}");
    }
}

fn run_inner(args: ExecArgs) -> anyhow::Result<Result<RunReport, ExecError>> {
    // Not dumpable: a process of another user (or an unprivileged one) cannot read this one's
    // environment or memory, where the tokens are.
    let _ = nix::sys::prctl::set_dumpable(false);
    let principal: PrincipalId = args
        .principal
        .parse()
        .map_err(|e| invalid_input(format!("--as {}: {e}", args.principal)))?;
    let gate_id: GateId = args
        .gate_id
        .parse()
        .map_err(|e| invalid_input(format!("--gate-id {}: {e}", args.gate_id)))?;
    let zone: ZoneId = args
        .zone
        .parse()
        .map_err(|e| invalid_input(format!("--zone {}: {e}", args.zone)))?;
    let token = crate::cli_output::file_or_env_secret(
        args.token.as_ref(),
        args.token_file.as_ref(),
        "token",
        "WRIT_TOKEN",
        "the principal's token",
    )?
    .ok_or_else(|| {
        invalid_input(
            "no principal token: pass --token-file FILE or set WRIT_TOKEN_FILE or WRIT_TOKEN (see `writ exec --help`)",
        )
    })?;
    let gate_token = crate::cli_output::file_or_env_secret(
        args.gate_token.as_ref(),
        args.gate_token_file.as_ref(),
        "gate-token",
        "WRIT_GATE_TOKEN",
        "the gate's token",
    )?
    .ok_or_else(|| {
        invalid_input(
            "no gate token: pass --gate-token-file FILE or set WRIT_GATE_TOKEN_FILE or WRIT_GATE_TOKEN (printed by `writ gate add`)",
        )
    })?;
    let key = crate::operator_cmd::read_gate_key(&args.gate_key)?;
    let grace = i64::try_from(args.grace.max(1)).unwrap_or(i64::MAX);
    let fs = if args.fs_read.is_empty() && args.fs_write.is_empty() && !args.fs_system {
        None
    } else {
        let mut read = args.fs_read.clone();
        if args.fs_system {
            read.extend(
                SYSTEM_READ
                    .iter()
                    .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()))
                    .map(|p| (*p).to_owned()),
            );
        }
        Some(FsScope {
            read,
            write: args.fs_write.clone(),
        })
    };
    let child_env = writ_gate::exec::ChildEnv::new(args.pass_env.clone())
        .map_err(|e| invalid_input(e.to_string()))?;
    let request = match ExecRequest::from_current_process(args.command.clone(), fs, &child_env) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let sandbox = std::env::current_exe()
        .map_err(|e| anyhow::anyhow!("cannot find the writ binary to launch the sandbox: {e}"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let cp = ControlPlane::with_timeout(
            args.server.clone(),
            Duration::from_secs(args.timeout.max(1)),
        );
        crate::gate_check::control_plane_answers(&cp, "--control-plane").await?;
        let jwks = match cp.get_json("/.well-known/jwks.json", None).await {
            Ok(v) => serde_json::from_value::<writ_artifact::Jwks>(v).map_err(|e| {
                ExecError::ControlPlane(writ_gate::GateError::Garbage(format!("JWKS: {e}")))
            }),
            Err(e) => Err(ExecError::ControlPlane(e)),
        };
        let jwks = match jwks {
            Ok(j) => j,
            Err(e) => return Ok(Err(e)),
        };
        let clock = Arc::new(SystemClock);
        let gate = match Gate::new(
            GateConfig {
                id: gate_id,
                zone,
                issuer: args.issuer.clone(),
                feed_grace_secs: Some(grace),
            },
            key,
            &jwks,
            clock.clone(),
        ) {
            Ok(g) => Arc::new(g),
            Err(e) => return Ok(Err(ExecError::ControlPlane(e))),
        };
        crate::gate_check::SelfCheck {
            cp: &cp,
            gate: &gate,
            gate_token: &gate_token,
            agent_token: Some(&token),
            action: "exec",
        }
        .run()
        .await?;
        let mut config = RunnerConfig::new(token, gate_token, sandbox);
        config.sandbox_prefix = vec!["__sandbox".into()];
        config.allow_unenforced_fs = args.allow_unenforced_fs;
        config.allow_uncontained = args.allow_uncontained;
        // Writ's own files are hidden from the command, whatever --fs grants.
        config.hide = [
            Some(&args.gate_key),
            args.token_file.as_ref(),
            args.gate_token_file.as_ref(),
        ]
        .into_iter()
        .flatten()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
        config.kill_grace = Duration::from_secs(args.kill_grace);
        config.traceparent = match args.traceparent.as_deref() {
            None => None,
            Some(tp) => Some(writ_model::TraceParent::parse(tp).ok_or_else(|| {
                invalid_input(format!(
                    "--traceparent (or TRACEPARENT) {tp:?} is not a W3C traceparent: 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>, lowercase, ids not all zero"
                ))
            })?),
        };
        config.renew_every = Duration::from_secs(args.renew_every.max(1));
        config.feed_wait = Duration::from_secs(args.timeout.max(1));
        config.expected_principal = Some(principal);
        crate::gate_metrics::start(args.metrics_listen.as_deref(), &gate).await?;
        let runner = Runner::new(cp, gate, clock, config);
        let feed = runner.follow_feed();
        // The command runs in its own process group, so a terminal's Ctrl-C reaches only this
        // process: pass SIGINT/SIGTERM/SIGHUP on to the command's group.
        let child = Arc::new(AtomicI32::new(0));
        let forward = tokio::spawn(forward_signals(child.clone()));
        let result = runner
            .run_with(&request, |pid| {
                child.store(i32::try_from(pid).unwrap_or(0), Ordering::SeqCst);
            })
            .await;
        forward.abort();
        if let Some(f) = feed {
            f.abort();
        }
        Ok(result)
    })
}

async fn forward_signals(child: Arc<AtomicI32>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return;
    };
    loop {
        let sig = tokio::select! {
            _ = int.recv() => nix::sys::signal::Signal::SIGINT,
            _ = term.recv() => nix::sys::signal::Signal::SIGTERM,
            _ = hup.recv() => nix::sys::signal::Signal::SIGHUP,
        };
        let pid = child.load(Ordering::SeqCst);
        if pid > 0 {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), sig);
        }
    }
}
