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

Exit code: the command's own (128+N when killed by signal N), 2 when denied, 3 for invalid input,
1 on failure.

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
/// Exit code: the command's own (128+N for signal N), 2 when denied, 3 for invalid input, 1 on
/// failure.
#[derive(Debug, clap::Args)]
#[command(after_long_help = EXEC_LONG_HELP)]
pub struct ExecArgs {
    /// The principal that acts (e.g. agent:build-bot); a writ for anyone else is refused.
    #[arg(long = "as", env = "WRIT_AS", value_name = "PRINCIPAL")]
    pub principal: String,
    /// Base URL of the control plane.
    #[arg(
        long,
        env = "WRIT_SERVER",
        default_value = "http://127.0.0.1:8787",
        value_name = "URL"
    )]
    pub server: String,
    /// The principal's bearer token (from `writ principal add`).
    #[arg(long, env = "WRIT_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Read the principal's token from this file instead (mode 0600: one others may read is
    /// refused).
    #[arg(
        long,
        env = "WRIT_TOKEN_FILE",
        value_name = "FILE",
        conflicts_with = "token"
    )]
    pub token_file: Option<PathBuf>,
    /// This runner's gate id (registered with `writ gate add`).
    #[arg(long, env = "WRIT_GATE_ID", value_name = "GATE")]
    pub gate_id: String,
    /// The gate's signing key (from `writ gate keygen`).
    #[arg(long, env = "WRIT_GATE_KEY_FILE", value_name = "FILE")]
    pub gate_key: PathBuf,
    /// The gate's bearer token (printed by `writ gate add`).
    #[arg(
        long,
        env = "WRIT_GATE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub gate_token: Option<String>,
    /// Read the gate's token from this file instead (mode 0600).
    #[arg(
        long,
        env = "WRIT_GATE_TOKEN_FILE",
        value_name = "FILE",
        conflicts_with = "gate_token"
    )]
    pub gate_token_file: Option<PathBuf>,
    /// The zone this runner attests (must be the gate's registered zone).
    #[arg(
        long,
        env = "WRIT_ZONE",
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

/// Runs `writ exec`; the exit code is the command's own or 2/3/1.
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
                let doc = serde_json::json!({"decision": if e.is_denial() {"deny"} else {"error"}, "reason_code": e.reason_code(), "message": e.to_string()});
                eprintln!("{doc}");
            }
            ExitCode::from(code as u8)
        }
        Err(e) => ExitCode::from(report_error(&e) as u8),
    }
}

fn print_report(r: &RunReport, format: Format) {
    if format == Format::Json {
        eprintln!("{}", serde_json::to_string(r).unwrap_or_default());
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
    let token = crate::cli_output::read_secret(
        &args.token,
        &args.token_file,
        "no principal token: pass --token or --token-file (see `writ exec --help`)",
    )?;
    let gate_token = crate::cli_output::read_secret(
        &args.gate_token,
        &args.gate_token_file,
        "no gate token: pass --gate-token or --gate-token-file (printed by `writ gate add`)",
    )?;
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
        crate::gate_check::control_plane_answers(&cp, "--server").await?;
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
        config.renew_every = Duration::from_secs(args.renew_every.max(1));
        config.feed_wait = Duration::from_secs(args.timeout.max(1));
        config.expected_principal = Some(principal);
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
