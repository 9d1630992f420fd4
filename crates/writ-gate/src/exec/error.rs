//! Why the command runner did not run a command, or could not finish running it.

use thiserror::Error;
use writ_model::ReasonCode;

use crate::error::GateError;

/// Every variant but [`ExecError::InvalidCommand`], [`ExecError::Spawn`] and
/// [`ExecError::Output`] is a denial: the command did not run.
#[derive(Debug, Error)]
pub enum ExecError {
    #[error("{0}")]
    InvalidCommand(String),
    #[error("the control plane denied the command ({code}): {}", reasons.join("; "))]
    Denied {
        code: ReasonCode,
        reasons: Vec<String>,
    },
    #[error("denied: {0}")]
    ControlPlane(GateError),
    #[error("the gate refused the writ: {0}")]
    Refused(GateError),
    #[error(
        "the writ's filesystem scope {granted} differs from the one asked for {asked}; not running a command under limits nobody asked for"
    )]
    FsScopeMismatch { asked: String, granted: String },
    #[error(
        "the writ was issued to {granted}, not to {expected}; check which token --token-file (or WRIT_TOKEN) holds"
    )]
    PrincipalMismatch { expected: String, granted: String },
    #[error(
        "Landlock not supported by this kernel: filesystem limits NOT enforced ({detail}); refusing to run because the writ names filesystem limits (pass --allow-unenforced-fs to run without them)"
    )]
    LandlockUnsupported { detail: String },
    #[error(
        "cannot contain the command: Landlock not supported by this kernel ({detail}), and without it the command could reach Writ's files; enable Landlock (add it to the kernel's lsm= list), or pass --allow-uncontained to run it without"
    )]
    ContainmentUnavailable { detail: String },
    #[error("cannot start the sandbox launcher {program}: {source}; check --sandbox-program")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("cannot pass the command's output through: {0}")]
    Output(std::io::Error),
}

impl ExecError {
    /// A short stable code for receipts, logs and scripts.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            ExecError::InvalidCommand(_) => ReasonCode::CommandInvalid,
            ExecError::Denied { code, .. } => *code,
            ExecError::ControlPlane(e) | ExecError::Refused(e) => e.reason_code(),
            ExecError::FsScopeMismatch { .. } => ReasonCode::FsScopeMismatch,
            ExecError::PrincipalMismatch { .. } => ReasonCode::PrincipalMismatch,
            ExecError::LandlockUnsupported { .. } => ReasonCode::LandlockUnsupported,
            ExecError::ContainmentUnavailable { .. } => ReasonCode::ContainmentUnavailable,
            ExecError::Spawn { .. } => ReasonCode::SpawnFailed,
            ExecError::Output(_) => ReasonCode::OutputFailed,
        }
    }

    /// True when the command was refused (exit code 2), false for invalid input or local failures.
    pub fn is_denial(&self) -> bool {
        !matches!(
            self,
            ExecError::InvalidCommand(_) | ExecError::Spawn { .. } | ExecError::Output(_)
        )
    }
}

/// Why the sandbox launcher could not restrict itself or start the command.
#[derive(Debug, Error)]
pub enum SandboxError {
    #[error(
        "usage: writ-sandbox [--landlock] [--read PATH]... [--write PATH]... [--hide PATH]... [--allow-unenforced-fs] [--allow-uncontained] [--parent PID] [--arg0 NAME] -- /abs/program [ARGS]...: {0}"
    )]
    Usage(String),
    #[error("cannot set no_new_privs: {0}")]
    NoNewPrivs(String),
    #[error("Landlock not supported by this kernel: filesystem limits NOT enforced ({0})")]
    LandlockUnsupported(String),
    #[error(
        "cannot apply the Landlock rules: {0}; check that every path in the writ's scope exists"
    )]
    Landlock(String),
    #[error("cannot execute {program}: {source}")]
    Exec {
        program: String,
        source: std::io::Error,
    },
    #[error(
        "cannot contain the command: {0}; or pass --allow-uncontained to run it without (processes it starts may then outlive it, and it may reach Writ's files)"
    )]
    ContainmentUnavailable(String),
    #[error("cannot set up the command's namespace: {0}")]
    Mount(String),
    #[error("cannot start the command's sandbox: {0}")]
    Setup(String),
}

impl SandboxError {
    pub fn reason_code(&self) -> writ_model::ReasonCode {
        match self {
            SandboxError::Usage(_) => writ_model::ReasonCode::SandboxUsage,
            SandboxError::NoNewPrivs(_) => writ_model::ReasonCode::NoNewPrivsFailed,
            SandboxError::LandlockUnsupported(_) => writ_model::ReasonCode::LandlockUnsupported,
            SandboxError::Landlock(_) => writ_model::ReasonCode::LandlockFailed,
            SandboxError::Exec { .. } => writ_model::ReasonCode::ExecFailed,
            SandboxError::ContainmentUnavailable(_) => {
                writ_model::ReasonCode::ContainmentUnavailable
            }
            SandboxError::Mount(_) => writ_model::ReasonCode::SandboxMountFailed,
            SandboxError::Setup(_) => writ_model::ReasonCode::SandboxSetupFailed,
        }
    }
}
