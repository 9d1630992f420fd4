//! A stdio upstream, contained (issue 12, finding 12): the MCP server the gateway governs runs
//! inside the same sandbox launcher as a `writ exec` command ([`crate::exec::sandbox`]: its own
//! user, PID and mount namespaces, `no_new_privs`, Landlock filesystem rules and signal and
//! abstract-socket scoping), so it can neither read nor signal its gateway, nor reach Writ's key,
//! token and pin files, and nothing it starts outlives it or its gateway.
//!
//! ```text
//! gateway (non-dumpable) ──spawn──▶ writ __sandbox (outer, PR_SET_PDEATHSIG) ──▶ init (PID 1)
//!                                     ──▶ the server (PID 2, Landlock) ◀── stdin/stdout ──▶ gateway
//! ```
//!
//! What the server may touch by default ([`UpstreamSandbox::rules`]):
//!
//! - read (and execute): the system directories ([`SYSTEM_READ`]), the program's tree (the
//!   directory holding it, or the one above a `bin`, `sbin` or `.bin` directory; for the program
//!   as named, as resolved through symbolic links, and for a `#!` interpreter), and every
//!   absolute path named as a whole argument on its command line;
//! - write: a private, empty `TMPDIR` (mode 0700, removed when the server ends) and `/dev/null`;
//! - plus each `--fs-read` and `--fs-write` grant of the operator.
//!
//! Whatever is granted, the gate key, the token files and the pin file are covered in the
//! server's mount namespace. Where the kernel offers no Landlock or no namespaces the gateway
//! refuses to start the server, unless the operator opted into the weaker mode
//! (`--allow-uncontained`, said plainly on stderr).

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::exec::ChildEnv;
use crate::exec::sandbox::{LandlockSupport, SandboxArgs, landlock_support};

use super::error::McpError;

/// Directories every upstream may read (and execute from), when they exist.
pub const SYSTEM_READ: &[&str] = &[
    "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc", "/opt", "/dev", "/proc",
];

/// Files every upstream may write, when they exist.
pub const SYSTEM_WRITE: &[&str] = &["/dev/null"];

/// How a stdio upstream is contained: the launcher to start it through, the operator's grants,
/// and the files it must never see.
#[derive(Debug, Clone)]
pub struct UpstreamSandbox {
    /// The sandbox launcher (`writ`, or the `writ-sandbox` binary).
    pub launcher: PathBuf,
    /// The arguments that select it (`__sandbox` for `writ`, none for `writ-sandbox`).
    pub launcher_prefix: Vec<OsString>,
    /// Paths the server may read besides the defaults (`--fs-read`).
    pub fs_read: Vec<PathBuf>,
    /// Paths the server may write (and read) besides its TMPDIR (`--fs-write`).
    pub fs_write: Vec<PathBuf>,
    /// Writ's own files (gate key, token files, pin file): covered whatever is granted.
    pub hide: Vec<PathBuf>,
    /// Start the server even where the kernel cannot contain it (said plainly on stderr).
    pub allow_uncontained: bool,
}

/// A started, contained upstream: the launcher's process (ending it ends the server and
/// everything it started) and the server's stdio.
#[derive(Debug)]
pub struct ContainedUpstream {
    pub child: tokio::process::Child,
    pub stdin: tokio::process::ChildStdin,
    pub stdout: tokio::process::ChildStdout,
    /// The server's private TMPDIR, removed when this is dropped.
    pub tmp: PrivateDir,
}

/// A directory of this process's (mode 0700), removed with what it holds on drop.
#[derive(Debug)]
pub struct PrivateDir(PathBuf);

impl PrivateDir {
    /// Makes a fresh directory under `parent`; never reuses one that exists.
    pub fn new(parent: &Path) -> std::io::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let mut last = None;
        for _ in 0..16 {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = parent.join(format!(
                "writ-upstream-{}-{nanos:08x}-{n}",
                std::process::id()
            ));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(Self(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no free name")))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl UpstreamSandbox {
    /// Containment through `launcher` (with `launcher_prefix`), with no grant beyond the
    /// defaults and nothing hidden yet.
    pub fn new(launcher: PathBuf, launcher_prefix: Vec<OsString>) -> Self {
        Self {
            launcher,
            launcher_prefix,
            fs_read: Vec::new(),
            fs_write: Vec::new(),
            hide: Vec::new(),
            allow_uncontained: false,
        }
    }

    /// The launcher's arguments for `command` (its program resolved through `path_var`, the
    /// server's `PATH`) with `tmp` as its TMPDIR.
    pub fn rules(
        &self,
        command: &[String],
        path_var: Option<&OsStr>,
        tmp: &Path,
    ) -> Result<SandboxArgs, McpError> {
        let spawn_err = |detail: String| McpError::Spawn {
            command: command.join(" "),
            detail,
        };
        let (name, args) = command
            .split_first()
            .ok_or_else(|| spawn_err("no command given".into()))?;
        let program = resolve_program(name, path_var).ok_or_else(|| {
            spawn_err(format!(
                "{name}: no such executable file (in PATH, or as a path)"
            ))
        })?;
        for (flag, paths) in [("--fs-read", &self.fs_read), ("--fs-write", &self.fs_write)] {
            for p in paths {
                if !p.is_absolute() || !p.exists() {
                    return Err(spawn_err(format!(
                        "{flag} {}: give an absolute path that exists",
                        p.display()
                    )));
                }
            }
        }
        let mut read: Vec<PathBuf> = SYSTEM_READ.iter().map(PathBuf::from).collect();
        read.extend(program_trees(&program));
        read.extend(
            args.iter()
                .map(Path::new)
                .filter(|p| p.is_absolute() && p.exists())
                .map(Path::to_path_buf),
        );
        read.extend(self.fs_read.iter().cloned());
        let mut write: Vec<PathBuf> = SYSTEM_WRITE.iter().map(PathBuf::from).collect();
        write.push(tmp.to_path_buf());
        write.extend(self.fs_write.iter().cloned());
        dedup(&mut read);
        dedup(&mut write);
        Ok(SandboxArgs {
            landlock: true,
            read: read.into_iter().filter(|p| p.exists()).collect(),
            write: write.into_iter().filter(|p| p.exists()).collect(),
            allow_unenforced: self.allow_uncontained,
            allow_uncontained: self.allow_uncontained,
            hide: self.hide.clone(),
            parent: Some(std::process::id()),
            arg0: Some(OsString::from(name)),
            program,
            args: args.iter().map(OsString::from).collect(),
            ..SandboxArgs::default()
        })
    }

    /// Starts `command` contained, with the environment `env` lets through and a private
    /// TMPDIR. Refuses (before starting anything) where the kernel cannot contain it, unless
    /// `allow_uncontained`.
    pub fn spawn(&self, command: &[String], env: &ChildEnv) -> Result<ContainedUpstream, McpError> {
        if let LandlockSupport::Unsupported(detail) = landlock_support() {
            if !self.allow_uncontained {
                return Err(McpError::ContainmentUnavailable { detail });
            }
            eprintln!(
                "writ gateway: Landlock not enforced ({detail}): the upstream is NOT contained; running because --allow-uncontained was given"
            );
        }
        let tmp = PrivateDir::new(&std::env::temp_dir()).map_err(|e| McpError::Spawn {
            command: command.join(" "),
            detail: format!("cannot make the upstream's private TMPDIR: {e}"),
        })?;
        let mut vars = env.from_current_process();
        vars.insert("TMPDIR".into(), tmp.path().as_os_str().to_owned());
        let sandbox = self.rules(
            command,
            vars.get(OsStr::new("PATH")).map(OsString::as_os_str),
            tmp.path(),
        )?;
        let mut child = tokio::process::Command::new(&self.launcher)
            .args(&self.launcher_prefix)
            .args(sandbox.to_args())
            .env_clear()
            .envs(vars)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| McpError::Spawn {
                command: command.join(" "),
                detail: format!(
                    "cannot start the sandbox launcher {}: {e}",
                    self.launcher.display()
                ),
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(McpError::Upstream(
                "the upstream's stdio is not piped".into(),
            ));
        };
        Ok(ContainedUpstream {
            child,
            stdin,
            stdout,
            tmp,
        })
    }
}

fn dedup(paths: &mut Vec<PathBuf>) {
    let mut seen = std::collections::BTreeSet::new();
    paths.retain(|p| seen.insert(p.clone()));
}

fn is_executable_file(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `name` as an absolute path: as given when it holds a `/` (relative ones against the current
/// directory), else the first executable of that name in `path_var`.
pub fn resolve_program(name: &str, path_var: Option<&OsStr>) -> Option<PathBuf> {
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        let p = std::path::absolute(name).ok()?;
        return is_executable_file(&p).then_some(p);
    }
    std::env::split_paths(path_var?)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|p| is_executable_file(p))
}

/// The directory a program lives in, or its parent when that directory is a `bin`, `sbin` or
/// `.bin` (a prefix such as `/usr`, a virtualenv, `node_modules`); never `/`.
fn tree_of(program: &Path) -> Option<PathBuf> {
    let dir = program.parent()?;
    let up = matches!(
        dir.file_name().and_then(OsStr::to_str),
        Some("bin" | "sbin" | ".bin")
    );
    let tree = if up { dir.parent().unwrap_or(dir) } else { dir };
    let root = tree.components().all(|c| matches!(c, Component::RootDir));
    if root {
        (dir.components().count() > 1).then(|| dir.to_path_buf())
    } else {
        Some(tree.to_path_buf())
    }
}

/// The `#!` interpreter of a script, if it names an absolute one.
fn interpreter(program: &Path) -> Option<PathBuf> {
    let mut head = [0u8; 256];
    let mut f = std::fs::File::open(program).ok()?;
    let n = f.read(&mut head).ok()?;
    let line = head.get(..n)?.strip_prefix(b"#!")?;
    let line = line.split(|b| *b == b'\n').next()?;
    let text = std::str::from_utf8(line).ok()?;
    let first = text.split_whitespace().next()?;
    let p = PathBuf::from(first);
    p.is_absolute().then_some(p)
}

/// The trees of the program as named, as resolved, and of its interpreter (same two ways).
fn program_trees(program: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut add = |p: &Path| {
        out.extend(tree_of(p));
        if let Ok(real) = std::fs::canonicalize(p) {
            out.extend(tree_of(&real));
        }
    };
    add(program);
    if let Some(i) = interpreter(program) {
        add(&i);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_tree_is_its_prefix_and_never_the_root() {
        assert_eq!(tree_of(Path::new("/usr/bin/node")), Some("/usr".into()));
        assert_eq!(
            tree_of(Path::new("/srv/venv/bin/python")),
            Some("/srv/venv".into())
        );
        assert_eq!(
            tree_of(Path::new("/srv/app/node_modules/.bin/server")),
            Some("/srv/app/node_modules".into())
        );
        assert_eq!(
            tree_of(Path::new("/opt/tool/run")),
            Some("/opt/tool".into())
        );
        assert_eq!(tree_of(Path::new("/bin/sh")), Some("/bin".into()));
        assert_eq!(tree_of(Path::new("/sh")), None);
    }

    #[test]
    fn the_rules_grant_the_defaults_the_program_and_named_paths_and_hide_writs_files() {
        let dir = std::env::temp_dir();
        let mut s = UpstreamSandbox::new("/usr/bin/writ".into(), vec!["__sandbox".into()]);
        s.hide = vec!["/etc/writ/gate.key".into()];
        let cmd = ["sh".to_owned(), "-c".to_owned(), "/tmp".to_owned()];
        let a = s
            .rules(&cmd, Some(OsStr::new("/usr/bin:/bin")), &dir)
            .unwrap();
        assert!(a.landlock && !a.allow_uncontained && !a.allow_unenforced);
        assert!(a.program.is_absolute() && a.program.ends_with("sh"));
        assert!(a.read.contains(&"/usr".into()) && a.read.contains(&"/tmp".into()));
        assert!(!a.read.contains(&"/".into()));
        assert_eq!(a.write, vec![PathBuf::from("/dev/null"), dir.clone()]);
        assert_eq!(a.hide, s.hide);
        assert_eq!(a.parent, Some(std::process::id()));

        s.fs_read = vec!["relative".into()];
        assert!(matches!(
            s.rules(&cmd, Some(OsStr::new("/usr/bin:/bin")), &dir),
            Err(McpError::Spawn { .. })
        ));
        s.fs_read.clear();
        let missing = ["no-such-program-anywhere".to_owned()];
        assert!(
            s.rules(&missing, Some(OsStr::new("/usr/bin")), &dir)
                .is_err()
        );
        assert!(s.rules(&[], None, &dir).is_err());
    }
}
