//! The sandbox launcher: a process that restricts itself (`no_new_privs`, then Landlock rules
//! from the writ's `scope.fs`) and then replaces itself with the authorized command.
//!
//! Restricting happens in a separate, re-executed process because the workspace allows no
//! `unsafe` code, and a `pre_exec` hook is unsafe: the runner spawns `writ __sandbox …` (or the
//! standalone `writ-sandbox` binary), which calls [`launch`]. Landlock rules and
//! `no_new_privs` survive `execve`, so the command runs under them and cannot lift them.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, CompatLevel, Compatible, LandlockStatus, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, path_beneath_rules,
};

use super::error::SandboxError;

/// The Landlock ABI the rules are written for; older kernels enforce what they can
/// (best effort), a kernel without Landlock enforces nothing and is reported.
const TARGET_ABI: ABI = ABI::V5;

/// Exit code of the launcher when it could not set up the sandbox (the command never ran).
pub const EXIT_SANDBOX_FAILED: i32 = 125;

/// What the launcher was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxArgs {
    /// The writ names filesystem limits (even empty ones: then nothing may be touched).
    pub landlock: bool,
    pub read: Vec<PathBuf>,
    pub write: Vec<PathBuf>,
    /// Run even when the kernel cannot enforce the limits (said plainly on stderr).
    pub allow_unenforced: bool,
    pub arg0: Option<OsString>,
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

impl SandboxArgs {
    /// The launcher's own arguments (after the program name or `__sandbox`), as the runner
    /// passes them.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut out: Vec<OsString> = Vec::new();
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
        if self.allow_unenforced {
            out.push("--allow-unenforced-fs".into());
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
        let mut out = SandboxArgs {
            landlock: false,
            read: Vec::new(),
            write: Vec::new(),
            allow_unenforced: false,
            arg0: None,
            program: PathBuf::new(),
            args: Vec::new(),
        };
        let value = |it: &mut dyn Iterator<Item = OsString>, flag: &str| {
            it.next()
                .ok_or_else(|| SandboxError::Usage(format!("{flag} needs a value")))
        };
        loop {
            let Some(a) = it.next() else {
                return Err(SandboxError::Usage("no `--` before the command".into()));
            };
            match a.to_str() {
                Some("--landlock") => out.landlock = true,
                Some("--allow-unenforced-fs") => out.allow_unenforced = true,
                Some("--read") => out.read.push(value(&mut it, "--read")?.into()),
                Some("--write") => out.write.push(value(&mut it, "--write")?.into()),
                Some("--arg0") => out.arg0 = Some(value(&mut it, "--arg0")?),
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

/// Sets `no_new_privs` and the Landlock rules on the calling process.
pub fn restrict(args: &SandboxArgs) -> Result<FsEnforcement, SandboxError> {
    nix::sys::prctl::set_no_new_privs().map_err(|e| SandboxError::NoNewPrivs(e.to_string()))?;
    if !args.landlock {
        return Ok(FsEnforcement::NotRequested);
    }
    let err = |e: landlock::RulesetError| SandboxError::Landlock(e.to_string());
    // Writing implies reading; reading includes executing (the command must start).
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(TARGET_ABI))
        .map_err(err)?
        .create()
        .map_err(err)?
        .add_rules(path_beneath_rules(
            &args.read,
            AccessFs::from_read(TARGET_ABI),
        ))
        .map_err(err)?
        .add_rules(path_beneath_rules(
            &args.write,
            AccessFs::from_all(TARGET_ABI),
        ))
        .map_err(err)?
        .restrict_self()
        .map_err(err)?;
    match status.ruleset {
        RulesetStatus::FullyEnforced => Ok(FsEnforcement::Full),
        RulesetStatus::PartiallyEnforced => Ok(FsEnforcement::Partial),
        RulesetStatus::NotEnforced => {
            let detail = match status.landlock {
                LandlockStatus::NotEnabled => "Landlock is built in but not enabled".to_owned(),
                LandlockStatus::NotImplemented => "the kernel has no Landlock".to_owned(),
                other => format!("{other:?}"),
            };
            if args.allow_unenforced {
                eprintln!(
                    "writ: Landlock not supported by this kernel: filesystem limits NOT enforced ({detail})"
                );
                Ok(FsEnforcement::NotEnforced)
            } else {
                Err(SandboxError::LandlockUnsupported(detail))
            }
        }
    }
}

/// Restricts this process and replaces it with the command. Returns only on failure.
pub fn launch(args: &SandboxArgs) -> SandboxError {
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

/// The whole launcher for a `main`: parse, restrict, exec; on failure print why and return
/// the exit code (125 setup failed, 126 not executable, 127 not found).
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> i32 {
    let err = match SandboxArgs::parse(args) {
        Ok(a) => launch(&a),
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

    #[test]
    fn args_round_trip() {
        let a = SandboxArgs {
            landlock: true,
            read: vec!["/usr".into(), "/etc".into()],
            write: vec!["/tmp/x".into()],
            allow_unenforced: false,
            arg0: Some("ls".into()),
            program: "/usr/bin/ls".into(),
            args: vec!["--".into(), "-l".into()],
        };
        assert_eq!(SandboxArgs::parse(a.to_args()).unwrap(), a);
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
