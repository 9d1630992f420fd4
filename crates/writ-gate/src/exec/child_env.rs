//! The environment a governed process starts with: an allowlist, never an inheritance.
//!
//! A gate holds secrets (its signing key path, its token, the acting principal's token) and
//! often receives them through its environment. Whatever the gate starts on an agent's behalf
//! (the `writ exec` command, an MCP server over stdio) starts from an empty environment plus:
//!
//! - the variables named in [`BASE_VARS`] and every `LC_*` locale variable, when set;
//! - each variable the operator names explicitly (`--pass-env NAME`), when set.
//!
//! No `WRIT_*` variable ever passes: the allowlist holds none, and naming one with
//! `--pass-env` is refused ([`ChildEnvError::WritVariable`]). Anything else the command needs
//! (an API key for an MCP server, say) the operator passes by name, so what a governed process
//! can see is a decision someone made, not whatever the gate happened to hold.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

use thiserror::Error;

/// Variables a governed process gets when the gate has them: where programs are, who and where
/// the user is, how to print. None of them is a credential.
pub const BASE_VARS: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TERM",
    "COLORTERM",
    "TZ",
    "TMPDIR",
    "NO_COLOR",
];

/// Locale variables (`LC_ALL`, `LC_CTYPE`, …) pass too.
const LOCALE_PREFIX: &str = "LC_";

/// Writ's own settings and secrets; never passed to a governed process.
const WRIT_PREFIX: &str = "WRIT_";

/// Why a `--pass-env` name was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChildEnvError {
    #[error(
        "--pass-env {0}: Writ's own variables (WRIT_*) never reach a governed process; pass the value under another name if the command really needs it"
    )]
    WritVariable(String),
    #[error(
        "--pass-env {0:?}: not a variable name; give a name such as GITHUB_TOKEN (no `=`, not empty)"
    )]
    InvalidName(String),
}

impl ChildEnvError {
    /// A short stable code for logs and scripts.
    pub fn reason_code(&self) -> writ_model::ReasonCode {
        match self {
            ChildEnvError::WritVariable(_) => writ_model::ReasonCode::PassEnvWritVariable,
            ChildEnvError::InvalidName(_) => writ_model::ReasonCode::PassEnvInvalidName,
        }
    }
}

/// Which variables of the gate's environment a governed process receives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildEnv {
    pass: Vec<String>,
}

/// Whether a variable is one of Writ's own (never passed, whatever it holds).
fn is_writ_var(name: &str) -> bool {
    name.starts_with(WRIT_PREFIX)
}

impl ChildEnv {
    /// The allowlist plus the variables named in `pass` (refused: `WRIT_*` names and names
    /// that are not names).
    pub fn new(pass: impl IntoIterator<Item = String>) -> Result<Self, ChildEnvError> {
        let mut out = Vec::new();
        for name in pass {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(ChildEnvError::InvalidName(name));
            }
            if is_writ_var(&name) {
                return Err(ChildEnvError::WritVariable(name));
            }
            if !out.contains(&name) {
                out.push(name);
            }
        }
        Ok(Self { pass: out })
    }

    /// Whether a variable of this name reaches the governed process.
    pub fn allows(&self, name: &str) -> bool {
        if is_writ_var(name) {
            return false;
        }
        BASE_VARS.contains(&name)
            || name.starts_with(LOCALE_PREFIX)
            || self.pass.iter().any(|p| p == name)
    }

    /// The variables of `vars` (normally [`std::env::vars_os`]) that pass, in name order.
    pub fn select<I, K, V>(&self, vars: I) -> BTreeMap<OsString, OsString>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        vars.into_iter()
            .filter(|(k, _)| k.as_ref().to_str().is_some_and(|k| self.allows(k)))
            .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
            .collect()
    }

    /// [`ChildEnv::select`] over this process's own environment.
    pub fn from_current_process(&self) -> BTreeMap<OsString, OsString> {
        self.select(std::env::vars_os())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_allowlist_and_named_variables_pass() {
        let env = ChildEnv::new(["GITHUB_TOKEN".to_owned()]).unwrap();
        let vars = [
            ("PATH", "/bin"),
            ("LC_ALL", "C"),
            ("GITHUB_TOKEN", "g"),
            ("AWS_SECRET_ACCESS_KEY", "a"),
            ("WRIT_TOKEN", "t"),
            ("WRIT_GATE_TOKEN", "g"),
            ("WRIT_GATE_KEY", "/k"),
            ("WRIT_SERVER", "http://x"),
        ];
        let got: Vec<String> = env
            .select(vars)
            .into_keys()
            .map(|k| k.into_string().unwrap())
            .collect();
        assert_eq!(got, ["GITHUB_TOKEN", "LC_ALL", "PATH"]);
    }

    #[test]
    fn writ_variables_cannot_be_passed_by_name() {
        let e = ChildEnv::new(["WRIT_GATE_TOKEN".to_owned()]).unwrap_err();
        assert_eq!(e.reason_code(), writ_model::ReasonCode::PassEnvWritVariable);
        assert!(ChildEnv::new(["A=B".to_owned()]).is_err());
        assert!(ChildEnv::new([String::new()]).is_err());
    }
}
