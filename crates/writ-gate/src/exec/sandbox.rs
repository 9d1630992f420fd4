//! The sandbox launcher: where a governed command is contained, in three stages of one
//! re-executed program (the workspace allows no `unsafe` code, so no `pre_exec` hook: each
//! stage restricts itself and starts the next one with `std::process::Command`).
//!
//! ```text
//! runner ──spawn──▶ outer   (runner's namespaces) PR_SET_PDEATHSIG=SIGKILL; unshare a user, PID
//!                    │      and mount namespace; relays the command's status to the runner
//!                    └─▶ init  (PID 1 of the new namespace) PR_SET_PDEATHSIG=SIGKILL; a private
//!                         │    /proc (hidepid=2); Writ's files hidden; reaps; forwards the
//!                         │    runner's signals to every process of the namespace
//!                         └─▶ exec (PID 2) no_new_privs + Landlock (filesystem rules, signal
//!                                  and abstract-socket scoping) ──execve──▶ the command
//! ```
//!
//! What this holds, whoever the runner runs as (root included):
//!
//! - **Nothing outlives the execution.** When the command ends, init ends, and the kernel kills
//!   every process left in the namespace (`setsid`, double forks, `nohup` and new process groups
//!   stay in it). When the runner dies, the outer stage dies of its parent-death signal, init of
//!   its own, and the namespace goes with it.
//! - **The command cannot reach its runner.** It sees no process outside its namespace (signals
//!   and `/proc` name processes by namespace), its Landlock domain forbids signalling and
//!   tracing processes outside it (so init's `/proc` entries are hidden too), the namespace's
//!   root has no capability outside its user namespace, and the mount topology is locked.
//! - **Writ's files are out of reach.** Each `--hide` path (the gate key, token files) is
//!   covered (by `/dev/null`, or an empty read-only tmpfs for a directory) in the command's
//!   mount namespace, which it cannot change.
//!
//! The command runs as user 0 of its user namespace, mapped to the runner's own user: files it
//! writes belong to the runner's user; it has no privilege outside. Where the kernel offers no
//! user or PID namespaces, or no Landlock (without which the command, root of its namespace,
//! could unmount what hides Writ's files), the launcher refuses to run the command, unless the
//! operator chose the weaker mode (`--allow-uncontained`: what the kernel offers, said on
//! stderr).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, CompatLevel, Compatible, LandlockStatus, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope, path_beneath_rules,
};
use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::error::SandboxError;

/// The Landlock ABI the rules are written for (6: signal and abstract-socket scoping); older
/// kernels enforce what they can (best effort), a kernel without Landlock enforces nothing and
/// is reported.
const TARGET_ABI: ABI = ABI::V6;

/// Exit code of the launcher when it could not set up the sandbox (the command never ran).
pub const EXIT_SANDBOX_FAILED: i32 = 125;

/// Which stage of the launcher a process is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Stage {
    /// Started by the runner: makes the namespaces and relays the status.
    #[default]
    Outer,
    /// PID 1 of the new namespace.
    Init,
    /// Restricts itself and becomes the command.
    Exec,
}

/// What the launcher was asked to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxArgs {
    pub stage: Stage,
    /// The writ names filesystem limits (even empty ones: then nothing may be touched).
    pub landlock: bool,
    pub read: Vec<PathBuf>,
    pub write: Vec<PathBuf>,
    /// Run even when the kernel cannot enforce the limits (said plainly on stderr).
    pub allow_unenforced: bool,
    /// Run without namespaces when the kernel offers none (said plainly on stderr).
    pub allow_uncontained: bool,
    /// Paths the command must not see (Writ's key and token files).
    pub hide: Vec<PathBuf>,
    /// The runner's process id: the outer stage refuses to start when its parent is already
    /// another process (the runner died before the parent-death signal was set).
    pub parent: Option<u32>,
    /// Init's end of the status pipe to the outer stage (internal).
    pub status_fd: Option<i32>,
    pub arg0: Option<OsString>,
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

impl SandboxArgs {
    /// The launcher's own arguments (after the program name or `__sandbox`), as the runner
    /// passes them.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut out: Vec<OsString> = Vec::new();
        match self.stage {
            Stage::Outer => {}
            Stage::Init => out.extend(["--stage".into(), "init".into()]),
            Stage::Exec => out.extend(["--stage".into(), "exec".into()]),
        }
        if self.landlock {
            out.push("--landlock".into());
        }
        for p in &self.read {
            out.push("--read".into());
            out.push(p.clone().into_os_string());
        }
        for p in &self.write {
            out.push("--write".into());
            out.push(p.clone().into_os_string());
        }
        for p in &self.hide {
            out.push("--hide".into());
            out.push(p.clone().into_os_string());
        }
        if self.allow_unenforced {
            out.push("--allow-unenforced-fs".into());
        }
        if self.allow_uncontained {
            out.push("--allow-uncontained".into());
        }
        if let Some(p) = self.parent {
            out.push("--parent".into());
            out.push(p.to_string().into());
        }
        if let Some(fd) = self.status_fd {
            out.push("--status-fd".into());
            out.push(fd.to_string().into());
        }
        if let Some(a) = &self.arg0 {
            out.push("--arg0".into());
            out.push(a.clone());
        }
        out.push("--".into());
        out.push(self.program.clone().into_os_string());
        out.extend(self.args.iter().cloned());
        out
    }

    /// Parses what [`SandboxArgs::to_args`] produced.
    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Self, SandboxError> {
        let mut it = args.into_iter();
        let mut out = SandboxArgs::default();
        let value = |it: &mut dyn Iterator<Item = OsString>, flag: &str| {
            it.next()
                .ok_or_else(|| SandboxError::Usage(format!("{flag} needs a value")))
        };
        let number = |v: OsString, flag: &str| {
            v.to_str()
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| SandboxError::Usage(format!("{flag} needs a number")))
        };
        loop {
            let Some(a) = it.next() else {
                return Err(SandboxError::Usage("no `--` before the command".into()));
            };
            match a.to_str() {
                Some("--landlock") => out.landlock = true,
                Some("--allow-unenforced-fs") => out.allow_unenforced = true,
                Some("--allow-uncontained") => out.allow_uncontained = true,
                Some("--read") => out.read.push(value(&mut it, "--read")?.into()),
                Some("--write") => out.write.push(value(&mut it, "--write")?.into()),
                Some("--hide") => {
                    let p: PathBuf = value(&mut it, "--hide")?.into();
                    if !p.is_absolute() {
                        return Err(SandboxError::Usage(format!(
                            "--hide {} must be an absolute path",
                            p.display()
                        )));
                    }
                    out.hide.push(p);
                }
                Some("--arg0") => out.arg0 = Some(value(&mut it, "--arg0")?),
                Some("--parent") => {
                    let n = number(value(&mut it, "--parent")?, "--parent")?;
                    out.parent = Some(
                        u32::try_from(n)
                            .map_err(|_| SandboxError::Usage("--parent is a process id".into()))?,
                    );
                }
                Some("--status-fd") => {
                    let n = number(value(&mut it, "--status-fd")?, "--status-fd")?;
                    out.status_fd = Some(i32::try_from(n).map_err(|_| {
                        SandboxError::Usage("--status-fd is a file descriptor".into())
                    })?);
                }
                Some("--stage") => {
                    out.stage = match value(&mut it, "--stage")?.to_str() {
                        Some("init") => Stage::Init,
                        Some("exec") => Stage::Exec,
                        _ => return Err(SandboxError::Usage("--stage is init or exec".into())),
                    }
                }
                Some("--") => break,
                _ => {
                    return Err(SandboxError::Usage(format!(
                        "unknown argument {}",
                        a.to_string_lossy()
                    )));
                }
            }
        }
        let program: PathBuf = it
            .next()
            .ok_or_else(|| SandboxError::Usage("no command after `--`".into()))?
            .into();
        if !program.is_absolute() {
            return Err(SandboxError::Usage(format!(
                "the command {} must be an absolute path",
                program.display()
            )));
        }
        out.program = program;
        out.args = it.collect();
        Ok(out)
    }
}

/// Whether this kernel enforces Landlock, probed without restricting anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LandlockSupport {
    Supported,
    Unsupported(String),
}

/// Probes Landlock by creating (and dropping) a ruleset that must be fully supported.
pub fn landlock_support() -> LandlockSupport {
    let created = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(ABI::V1))
        .and_then(|r| r.create());
    match created {
        Ok(_) => LandlockSupport::Supported,
        Err(e) => LandlockSupport::Unsupported(e.to_string()),
    }
}

/// How the filesystem limits ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsEnforcement {
    /// The writ names no filesystem limits.
    NotRequested,
    Full,
    /// An older kernel enforces part of the rules (e.g. not `truncate`).
    Partial,
    /// The kernel has no Landlock and `--allow-unenforced-fs` was given.
    NotEnforced,
}

/// Sets `no_new_privs` and the Landlock rules on the calling process: the writ's filesystem
/// limits when it names any (otherwise every path stays reachable, but the mount topology is
/// locked), and always the signal and abstract-socket scoping.
pub fn restrict(args: &SandboxArgs) -> Result<FsEnforcement, SandboxError> {
    nix::sys::prctl::set_no_new_privs().map_err(|e| SandboxError::NoNewPrivs(e.to_string()))?;
    let err = |e: landlock::RulesetError| SandboxError::Landlock(e.to_string());
    let root = [PathBuf::from("/")];
    // Writing implies reading; reading includes executing (the command must start).
    let (read, write): (&[PathBuf], &[PathBuf]) = if args.landlock {
        (&args.read, &args.write)
    } else {
        (&[], &root)
    };
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(TARGET_ABI))
        .map_err(err)?
        .scope(Scope::from_all(TARGET_ABI))
        .map_err(err)?
        .create()
        .map_err(err)?
        .add_rules(path_beneath_rules(read, AccessFs::from_read(TARGET_ABI)))
        .map_err(err)?
        .add_rules(path_beneath_rules(write, AccessFs::from_all(TARGET_ABI)))
        .map_err(err)?
        .restrict_self()
        .map_err(err)?;
    let enforced = match status.ruleset {
        RulesetStatus::FullyEnforced => FsEnforcement::Full,
        RulesetStatus::PartiallyEnforced => FsEnforcement::Partial,
        RulesetStatus::NotEnforced => FsEnforcement::NotEnforced,
    };
    if enforced != FsEnforcement::NotEnforced {
        return Ok(if args.landlock {
            enforced
        } else {
            FsEnforcement::NotRequested
        });
    }
    let detail = match status.landlock {
        LandlockStatus::NotEnabled => "Landlock is built in but not enabled".to_owned(),
        LandlockStatus::NotImplemented => "the kernel has no Landlock".to_owned(),
        other => format!("{other:?}"),
    };
    without_landlock(args, detail)
}

/// What the launcher does on a kernel that enforces no Landlock rule at all.
fn without_landlock(args: &SandboxArgs, detail: String) -> Result<FsEnforcement, SandboxError> {
    if args.landlock && !args.allow_unenforced {
        return Err(SandboxError::LandlockUnsupported(detail));
    }
    // Without Landlock the command, root of its user namespace, could unmount what hides
    // Writ's files and trace init: the namespaces alone do not contain it.
    if !args.allow_uncontained {
        return Err(SandboxError::ContainmentUnavailable(format!(
            "Landlock not enforced ({detail}), and without it the command could undo the mounts that hide Writ's files; enable Landlock (add it to the kernel's lsm= list)"
        )));
    }
    eprintln!(
        "writ: Landlock not enforced ({detail}): the command is NOT fully contained (it may undo the mounts that hide Writ's files); running because --allow-uncontained was given"
    );
    if !args.landlock {
        return Ok(FsEnforcement::NotRequested);
    }
    eprintln!(
        "writ: Landlock not supported by this kernel: filesystem limits NOT enforced ({detail})"
    );
    Ok(FsEnforcement::NotEnforced)
}

/// Restricts this process and replaces it with the command. Returns only on failure.
pub fn launch(args: &SandboxArgs) -> SandboxError {
    // The stages before block the signals they watch, and a child inherits its parent's
    // mask (through `execve` too): the command starts with none blocked.
    if let Err(e) = SigSet::empty().thread_set_mask() {
        return SandboxError::Setup(format!("cannot reset the signal mask: {e}"));
    }
    // A session of its own: the command has no controlling terminal, so it cannot push
    // input into the terminal of the shell that started the runner (TIOCSTI), to be run
    // there, ungoverned, once the execution is over. (The outer stage, running the command
    // itself only with --allow-uncontained, leads its process group and cannot do this.)
    if args.stage == Stage::Exec
        && let Err(e) = nix::unistd::setsid()
    {
        return SandboxError::Setup(format!("cannot start a new session: {e}"));
    }
    if let Err(e) = restrict(args) {
        return e;
    }
    let mut cmd = std::process::Command::new(&args.program);
    cmd.args(&args.args);
    if let Some(a) = &args.arg0 {
        cmd.arg0(a);
    }
    let source = cmd.exec();
    SandboxError::Exec {
        program: args.program.display().to_string(),
        source,
    }
}

/// This program again, with the arguments that select the launcher (`__sandbox` for `writ`)
/// and then `tail`.
fn relaunch(
    prefix: &[OsString],
    tail: &SandboxArgs,
) -> Result<std::process::Command, SandboxError> {
    let exe = std::env::current_exe()
        .map_err(|e| SandboxError::Setup(format!("cannot find the launcher itself: {e}")))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(prefix).args(tail.to_args());
    Ok(cmd)
}

/// The signals that end a command: the runner sends them to the launcher's process group,
/// which init is in; init passes them on to the whole namespace.
fn ending_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        set.add(s);
    }
    set
}

/// How the outer stage tells init which paths to hide: in init's environment (which the
/// command cannot read: init is outside its Landlock domain), not on init's command line
/// (which any process of the namespace can read).
const HIDE_ENV: &str = "WRIT_SANDBOX_HIDE";

fn join_paths(paths: &[PathBuf]) -> Result<OsString, SandboxError> {
    let mut out = String::new();
    for p in paths {
        let text = p.to_str().filter(|t| !t.contains('\n')).ok_or_else(|| {
            SandboxError::Usage(format!(
                "--hide {}: only UTF-8 paths without newlines can be hidden",
                p.display()
            ))
        })?;
        out.push_str(text);
        out.push('\n');
    }
    Ok(out.into())
}

/// How the command ended, as init reports it to the outer stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Exit(i32),
    Signal(i32),
}

impl Ended {
    fn line(self) -> String {
        match self {
            Ended::Exit(c) => format!("exit {c}\n"),
            Ended::Signal(s) => format!("signal {s}\n"),
        }
    }

    /// The exit code a shell shows for it: the command's own, or 128 + the signal.
    fn code(self) -> i32 {
        match self {
            Ended::Exit(c) => c,
            Ended::Signal(n) => 128_i32.saturating_add(n),
        }
    }

    fn parse(text: &str) -> Option<Self> {
        let (kind, n) = text.trim().split_once(' ')?;
        let n: i32 = n.parse().ok()?;
        match kind {
            "exit" => Some(Ended::Exit(n)),
            "signal" => Some(Ended::Signal(n)),
            _ => None,
        }
    }
}

/// Ends this process the way the command ended: its exit code, or the same signal.
fn mirror(ended: Ended) -> i32 {
    if let Ended::Signal(n) = ended
        && let Ok(sig) = Signal::try_from(n)
    {
        let _ = SigSet::from(sig).thread_unblock();
        let _ = nix::sys::signal::raise(sig);
    }
    // Still here for a signal: one whose default is not to end a process.
    ended.code()
}

/// Makes the user, PID and mount namespaces the command will live in. The new user
/// namespace's user 0 is this process's own user: no privilege outside the namespace.
fn unshare_namespaces() -> Result<(), String> {
    let uid = nix::unistd::getuid();
    let gid = nix::unistd::getgid();
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("unshare(user, pid, mount): {e}"))?;
    let write = |file: &str, text: String| {
        std::fs::write(file, text).map_err(|e| format!("cannot write {file}: {e}"))
    };
    match std::fs::write("/proc/self/setgroups", "deny") {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("cannot write /proc/self/setgroups: {e}"));
        }
        _ => {}
    }
    write("/proc/self/uid_map", format!("0 {uid} 1"))?;
    write("/proc/self/gid_map", format!("0 {gid} 1"))?;
    Ok(())
}

/// The outer stage: namespaces, init, and the command's status for the runner.
fn outer(args: &SandboxArgs, prefix: &[OsString]) -> Result<i32, SandboxError> {
    // This stage must outlive the command to report how it ended: the runner's ending signals
    // reach init (same process group), so here they stay blocked.
    ending_signals()
        .thread_block()
        .map_err(|e| SandboxError::Setup(format!("cannot block signals: {e}")))?;
    if let Err(why) = unshare_namespaces() {
        if !args.allow_uncontained {
            return Err(SandboxError::ContainmentUnavailable(format!(
                "{why}; this kernel must allow user and PID namespaces (check kernel.unprivileged_userns_clone / user.max_user_namespaces)"
            )));
        }
        eprintln!(
            "writ: no namespaces for the command ({why}): it is NOT contained (processes it starts may outlive it); running because --allow-uncontained was given"
        );
        return Err(launch(args));
    }
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(|e| SandboxError::Setup(format!("cannot set the parent-death signal: {e}")))?;
    if let Some(p) = args.parent
        && u32::try_from(nix::unistd::getppid().as_raw()).ok() != Some(p)
    {
        return Err(SandboxError::Setup(
            "the runner ended before the command started".into(),
        ));
    }
    let (mut reader, writer) = std::io::pipe()
        .map_err(|e| SandboxError::Setup(format!("cannot make the status pipe: {e}")))?;
    // Init inherits the writing end (and closes it once it has its own).
    nix::fcntl::fcntl(
        &writer,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .map_err(|e| SandboxError::Setup(format!("cannot pass the status pipe: {e}")))?;
    let init = SandboxArgs {
        stage: Stage::Init,
        parent: None,
        hide: Vec::new(),
        status_fd: Some(writer.as_raw_fd()),
        ..args.clone()
    };
    let mut child = relaunch(prefix, &init)?
        .env(HIDE_ENV, join_paths(&args.hide)?)
        .spawn()
        .map_err(|e| SandboxError::Setup(format!("cannot start the namespace's init: {e}")))?;
    drop(writer);
    let status = child
        .wait()
        .map_err(|e| SandboxError::Setup(format!("cannot wait for init: {e}")))?;
    let mut text = String::new();
    let _ = reader.read_to_string(&mut text);
    let ended = Ended::parse(&text).unwrap_or(match (status.code(), status.signal()) {
        // Init never reported: it was killed (the runner's SIGKILL) or failed to set up.
        (_, Some(s)) => Ended::Signal(s),
        (Some(c), None) => Ended::Exit(c),
        (None, None) => Ended::Exit(EXIT_SANDBOX_FAILED),
    });
    Ok(mirror(ended))
}

/// Mounts a private `/proc` (only this namespace's processes; those the caller may not trace,
/// such as init for the sandboxed command, hidden) and covers each hidden path.
fn private_mounts(hide: &[PathBuf]) -> Result<(), SandboxError> {
    let none: Option<&str> = None;
    let fail = |what: String| move |e: Errno| SandboxError::Mount(format!("{what}: {e}"));
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)
        .map_err(fail("cannot make the mounts private".into()))?;
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("hidepid=2"),
    )
    .map_err(fail("cannot mount a private /proc".into()))?;
    for path in hide {
        // Only a path that is not there has nothing to hide: any other failure leaves the
        // file where the command could reach it, so the command does not run.
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(SandboxError::Mount(format!(
                    "cannot hide {}: {e}",
                    path.display()
                )));
            }
        };
        if meta.is_dir() {
            mount(
                Some("tmpfs"),
                path.as_path(),
                Some("tmpfs"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("size=4k,mode=0"),
            )
            .map_err(fail(format!("cannot hide {}", path.display())))?;
        } else {
            mount(
                Some(Path::new("/dev/null")),
                path.as_path(),
                none,
                MsFlags::MS_BIND,
                none,
            )
            .map_err(fail(format!("cannot hide {}", path.display())))?;
        }
    }
    Ok(())
}

/// Init: PID 1 of the command's namespace. Starts the exec stage, reaps every process,
/// passes the runner's ending signals to all of them, and when the command ends reports how
/// and exits, which ends everything else in the namespace.
fn init(args: &SandboxArgs, prefix: &[OsString]) -> Result<i32, SandboxError> {
    let setup = |what: &str| {
        let what = what.to_owned();
        move |e: Errno| SandboxError::Setup(format!("{what}: {e}"))
    };
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(setup("cannot set the parent-death signal"))?;
    let fd = args
        .status_fd
        .ok_or_else(|| SandboxError::Usage("init needs --status-fd".into()))?;
    // Its own handle on the pipe (close-on-exec, so the command never holds it). Opening a
    // pipe without a reader fails: the outer stage is already gone, and so is the runner.
    let mut status = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(format!("/proc/self/fd/{fd}"))
        .map_err(|e| SandboxError::Setup(format!("the launcher's parent is gone ({e})")))?;
    let _ = nix::unistd::close(fd);
    let hide: Vec<PathBuf> = std::env::var_os(HIDE_ENV)
        .map(|v| {
            v.as_encoded_bytes()
                .split(|b| *b == b'\n')
                .filter(|p| !p.is_empty())
                .map(|p| PathBuf::from(OsString::from(String::from_utf8_lossy(p).into_owned())))
                .collect()
        })
        .unwrap_or_default();
    private_mounts(&hide)?;
    let mut watched = ending_signals();
    watched.add(Signal::SIGCHLD);
    watched
        .thread_block()
        .map_err(setup("cannot block signals"))?;
    let signals = SignalFd::new(&watched).map_err(setup("cannot watch signals"))?;
    let exec = SandboxArgs {
        stage: Stage::Exec,
        status_fd: None,
        ..args.clone()
    };
    // The exec stage clears the mask it inherits before it becomes the command.
    let child = relaunch(prefix, &exec)?
        .env_remove(HIDE_ENV)
        .spawn()
        .map_err(|e| SandboxError::Setup(format!("cannot start the command: {e}")))?;
    let main = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    let ended = loop {
        let info = match signals.read_signal() {
            Ok(Some(info)) => info,
            Ok(None) | Err(Errno::EINTR) => continue,
            Err(e) => {
                let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
                return Err(SandboxError::Setup(format!("cannot read signals: {e}")));
            }
        };
        let Ok(sig) = Signal::try_from(i32::try_from(info.ssi_signo).unwrap_or(0)) else {
            continue;
        };
        if sig == Signal::SIGCHLD {
            if let Some(e) = reap(main) {
                break e;
            }
        } else if info.ssi_pid == 0 {
            // From outside the namespace (the runner, through the process group): pass it on
            // to every process in it. A signal sent from inside is ignored.
            let _ = kill(Pid::from_raw(-1), sig);
        }
    };
    // The execution is over: nothing it started may go on.
    let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
    let _ = status.write_all(ended.line().as_bytes());
    // Should the report be lost, the outer stage still sees a failure as a failure.
    Ok(ended.code())
}

/// Reaps every child that has ended; returns how `main` ended once it has.
fn reap(main: Pid) -> Option<Ended> {
    let mut ended = None;
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == main => ended = Some(Ended::Exit(code)),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == main => {
                ended = Some(Ended::Signal(sig as i32));
            }
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return ended,
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return ended,
        }
    }
}

/// The whole launcher for a `main` (`args` are its arguments after the program name, or
/// after `__sandbox`): parse, then run this process's stage. On failure it prints why and
/// returns the exit code (125 setup failed, 126 not executable, 127 not found); otherwise
/// the command's own exit code (or it ends by the command's signal).
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    let all: Vec<OsString> = std::env::args_os().skip(1).collect();
    let prefix = all
        .get(..all.len().saturating_sub(args.len()))
        .unwrap_or_default()
        .to_vec();
    let result = match SandboxArgs::parse(args) {
        Ok(a) => match a.stage {
            Stage::Outer => outer(&a, &prefix),
            Stage::Init => init(&a, &prefix),
            Stage::Exec => Err(launch(&a)),
        },
        Err(e) => Err(e),
    };
    let err = match result {
        Ok(code) => return code,
        Err(e) => e,
    };
    eprintln!("writ sandbox: {err} [{}]", err.reason_code());
    match &err {
        SandboxError::Exec { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 127,
        SandboxError::Exec { .. } => 126,
        _ => EXIT_SANDBOX_FAILED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Without Landlock the command could unmount what hides Writ's files: the launcher ran it
    // anyway unless the writ named filesystem limits.
    #[test]
    fn no_landlock_refuses_unless_the_operator_allows_an_uncontained_command() {
        let code = |a: &SandboxArgs| {
            without_landlock(a, "the kernel has no Landlock".to_owned())
                .map_err(|e| e.reason_code())
        };
        let limits = SandboxArgs {
            landlock: true,
            ..SandboxArgs::default()
        };
        assert_eq!(
            code(&SandboxArgs::default()),
            Err(writ_model::ReasonCode::ContainmentUnavailable)
        );
        assert_eq!(
            code(&limits),
            Err(writ_model::ReasonCode::LandlockUnsupported)
        );
        let fs_only = SandboxArgs {
            allow_unenforced: true,
            ..limits.clone()
        };
        assert_eq!(
            code(&fs_only),
            Err(writ_model::ReasonCode::ContainmentUnavailable)
        );
        let uncontained = SandboxArgs {
            allow_uncontained: true,
            ..SandboxArgs::default()
        };
        assert_eq!(code(&uncontained), Ok(FsEnforcement::NotRequested));
        let limits_uncontained = SandboxArgs {
            allow_uncontained: true,
            ..limits
        };
        assert_eq!(
            code(&limits_uncontained),
            Err(writ_model::ReasonCode::LandlockUnsupported)
        );
        let both = SandboxArgs {
            allow_unenforced: true,
            ..limits_uncontained
        };
        assert_eq!(code(&both), Ok(FsEnforcement::NotEnforced));
    }

    #[test]
    fn status_lines_round_trip() {
        for e in [Ended::Exit(0), Ended::Exit(143), Ended::Signal(15)] {
            assert_eq!(Ended::parse(&e.line()), Some(e));
        }
        assert_eq!(Ended::Signal(15).code(), 143);
        assert_eq!(Ended::parse(""), None);
        assert_eq!(Ended::parse("exit x"), None);
    }

    #[test]
    fn args_round_trip() {
        let a = SandboxArgs {
            landlock: true,
            read: vec!["/usr".into(), "/etc".into()],
            write: vec!["/tmp/x".into()],
            hide: vec!["/etc/writ/gate.key".into()],
            parent: Some(42),
            arg0: Some("ls".into()),
            program: "/usr/bin/ls".into(),
            args: vec!["--".into(), "-l".into()],
            ..SandboxArgs::default()
        };
        assert_eq!(SandboxArgs::parse(a.to_args()).unwrap(), a);
        for stage in [Stage::Init, Stage::Exec] {
            let b = SandboxArgs {
                stage,
                status_fd: Some(3),
                allow_uncontained: true,
                allow_unenforced: true,
                ..a.clone()
            };
            assert_eq!(SandboxArgs::parse(b.to_args()).unwrap(), b);
        }
    }

    #[test]
    fn refuses_relative_programs_and_missing_separator() {
        let rel: Vec<OsString> = vec!["--".into(), "ls".into()];
        assert!(matches!(
            SandboxArgs::parse(rel),
            Err(SandboxError::Usage(_))
        ));
        let none: Vec<OsString> = vec!["--read".into(), "/x".into()];
        assert!(matches!(
            SandboxArgs::parse(none),
            Err(SandboxError::Usage(_))
        ));
    }
}
