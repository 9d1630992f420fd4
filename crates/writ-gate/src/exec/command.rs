//! The exact command a runner asks a writ for: the resolved program, argv, working directory,
//! a digest of the environment and the filesystem reach, as an `exec` intent.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value, json};
use writ_artifact::FsScope;
use writ_model::Intent;

use super::child_env::ChildEnv;
use super::error::ExecError;

/// The intent action of a command.
pub const EXEC_ACTION: &str = "exec";

/// One command, exactly as it will run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    /// Absolute, symlinks resolved: the binary that will be executed (`cmd:` + this path).
    pub program: PathBuf,
    /// The argument vector as given, `argv[0]` included (the name the user typed).
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    /// The child's whole environment (nothing else is passed to it).
    pub env: BTreeMap<String, String>,
    /// Filesystem reach asked for; it becomes the writ's `scope.fs` and the Landlock rules.
    pub fs: Option<FsScope>,
}

impl ExecRequest {
    /// Resolves `argv[0]` through `PATH` (from `env`) relative to `cwd`, and normalizes the
    /// filesystem paths (relative ones are taken from `cwd`).
    pub fn new(
        argv: Vec<String>,
        cwd: PathBuf,
        env: BTreeMap<String, String>,
        fs: Option<FsScope>,
    ) -> Result<Self, ExecError> {
        if !cwd.is_absolute() {
            return Err(ExecError::InvalidCommand(format!(
                "the working directory {} must be absolute",
                cwd.display()
            )));
        }
        let Some(cmd) = argv.first() else {
            return Err(ExecError::InvalidCommand(
                "no command given: put it after `--`, e.g. `writ exec --as agent:bot -- ls -l`"
                    .into(),
            ));
        };
        let program = resolve_program(cmd, env.get("PATH").map(String::as_str), &cwd)?;
        let fs = match fs {
            None => None,
            Some(f) => Some(FsScope {
                read: normalize_all(&f.read, &cwd)?,
                write: normalize_all(&f.write, &cwd)?,
            }),
        };
        Ok(Self {
            program,
            argv,
            cwd,
            env,
            fs,
        })
    }

    /// A request from this process's arguments and working directory; the command's
    /// environment is what `child_env` lets through of this process's (an allowlist: no
    /// `WRIT_*` variable, no credential the runner holds, ever reaches the command).
    pub fn from_current_process(
        argv: Vec<OsString>,
        fs: Option<FsScope>,
        child_env: &ChildEnv,
    ) -> Result<Self, ExecError> {
        let argv = argv
            .into_iter()
            .map(|a| {
                a.into_string().map_err(|a| {
                    ExecError::InvalidCommand(format!(
                        "argument {} is not UTF-8; the runner authorizes text arguments only",
                        a.to_string_lossy()
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let cwd = std::env::current_dir().map_err(|e| {
            ExecError::InvalidCommand(format!("cannot read the working directory: {e}"))
        })?;
        let mut env = BTreeMap::new();
        for (k, v) in child_env.from_current_process() {
            let (Some(k), Some(v)) = (k.to_str(), v.to_str()) else {
                return Err(ExecError::InvalidCommand(format!(
                    "environment variable {} is not UTF-8; unset it or fix it",
                    k.to_string_lossy()
                )));
            };
            env.insert(k.to_owned(), v.to_owned());
        }
        Self::new(argv, cwd, env, fs)
    }

    /// Lowercase hex SHA-256 of the RFC 8785 canonical JSON of the environment map.
    pub fn env_sha256(&self) -> Result<String, ExecError> {
        writ_model::digest::canonical_sha256_hex(&self.env)
            .map_err(|e| ExecError::InvalidCommand(format!("environment: {e}")))
    }

    /// The intent: `{action:"exec", resource:"cmd:/abs/path", args:{argv, cwd, env_sha256, fs?}}`.
    pub fn intent(&self) -> Result<Intent, ExecError> {
        let mut args = Map::new();
        args.insert("argv".into(), json!(self.argv));
        args.insert("cwd".into(), json!(path_str(&self.cwd)?));
        args.insert("env_sha256".into(), json!(self.env_sha256()?));
        if let Some(fs) = &self.fs {
            args.insert("fs".into(), json!({"read": fs.read, "write": fs.write}));
        }
        Ok(Intent {
            action: EXEC_ACTION.into(),
            resource: format!("cmd:{}", path_str(&self.program)?),
            args: Value::Object(args),
        })
    }
}

fn path_str(p: &Path) -> Result<&str, ExecError> {
    p.to_str().ok_or_else(|| {
        ExecError::InvalidCommand(format!("path {} is not UTF-8", p.to_string_lossy()))
    })
}

/// Finds the program: a name with a `/` is taken relative to `cwd`; a bare name is looked up
/// in `PATH`. Symlinks are resolved, so the writ names the binary that really runs.
pub fn resolve_program(cmd: &str, path: Option<&str>, cwd: &Path) -> Result<PathBuf, ExecError> {
    let candidates: Vec<PathBuf> = if cmd.contains('/') {
        vec![cwd.join(cmd)]
    } else {
        path.unwrap_or("/usr/local/bin:/usr/bin:/bin")
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| cwd.join(d).join(cmd))
            .collect()
    };
    for c in candidates {
        let Ok(meta) = std::fs::metadata(&c) else {
            continue;
        };
        if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
            return std::fs::canonicalize(&c).map_err(|e| {
                ExecError::InvalidCommand(format!("cannot resolve {}: {e}", c.display()))
            });
        }
    }
    Err(ExecError::InvalidCommand(format!(
        "command {cmd:?} not found (or not executable) in PATH; give its absolute path"
    )))
}

fn normalize_all(paths: &[String], cwd: &Path) -> Result<Vec<String>, ExecError> {
    let mut out = Vec::with_capacity(paths.len());
    for p in paths {
        let n = normalize(&cwd.join(p));
        let s = path_str(&n)?.to_owned();
        writ_artifact::scope::validate_path(&s).map_err(ExecError::InvalidCommand)?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

/// Lexical normalization: drops `.` and empty components, applies `..` to the text.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn resolves_through_path_and_builds_the_exact_intent() {
        let r = ExecRequest::new(
            vec!["sh".into(), "-c".into(), "true".into()],
            "/tmp".into(),
            env(&[("PATH", "/nonexistent:/bin:/usr/bin"), ("A", "1")]),
            Some(FsScope {
                read: vec!["/usr/".into(), "./x/../y".into()],
                write: vec![],
            }),
        )
        .unwrap();
        assert!(r.program.is_absolute());
        let i = r.intent().unwrap();
        assert_eq!(i.action, "exec");
        assert_eq!(i.resource, format!("cmd:{}", r.program.display()));
        assert_eq!(i.args["argv"], json!(["sh", "-c", "true"]));
        assert_eq!(i.args["cwd"], "/tmp");
        assert_eq!(i.args["fs"]["read"], json!(["/usr", "/tmp/y"]));
        // The digest is over the canonical JSON of the map, so it changes with any value.
        assert_eq!(
            i.args["env_sha256"],
            writ_model::digest::sha256_hex(br#"{"A":"1","PATH":"/nonexistent:/bin:/usr/bin"}"#)
        );
        let mut other = r.clone();
        other.env.insert("A".into(), "2".into());
        assert_ne!(other.env_sha256().unwrap(), r.env_sha256().unwrap());
    }

    #[test]
    fn refuses_unknown_commands_and_empty_argv() {
        let e = ExecRequest::new(
            vec!["no-such-command-xyz".into()],
            "/".into(),
            env(&[("PATH", "/bin")]),
            None,
        )
        .unwrap_err();
        assert_eq!(e.reason_code(), writ_model::ReasonCode::CommandInvalid);
        assert!(ExecRequest::new(vec![], "/".into(), BTreeMap::new(), None).is_err());
    }
}
