//! The command runner (`writ exec`): a gate for processes.
//!
//! ```text
//! ExecRequest (program, argv, cwd, env digest, fs) ──authorize──▶ writ ──Gate::check──▶
//!   sandbox launcher (own user/PID/mount namespace, no_new_privs, Landlock) ──▶ command
//!   while it runs: lease renewal + event feed ──deny/revoke/feed lost──▶ SIGTERM … SIGKILL
//!   when it ends: signed receipt (outcome, exit status, stdout/stderr SHA-256)
//! ```
//!
//! [`Runner`] does the work; [`ExecRequest`] is the exact command; [`sandbox`] is what the
//! re-executed launcher (`writ __sandbox`, or the `writ-sandbox` binary) calls.

pub mod child_env;
pub mod command;
pub mod error;
pub mod runner;
pub mod sandbox;

pub use child_env::{ChildEnv, ChildEnvError};
pub use command::{EXEC_ACTION, ExecRequest};
pub use error::{ExecError, SandboxError};
pub use runner::{RunReport, Runner, RunnerConfig, Termination};
pub use sandbox::{FsEnforcement, LandlockSupport, SandboxArgs, landlock_support};
