//! Output format and exit codes shared by every subcommand.

use std::fmt;

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Readable text for a person.
    #[default]
    Human,
    /// One JSON document on stdout, stable for machines.
    Json,
}

/// Exit codes (cedar-policy-cli style): they mean something to scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Allowed, or the command succeeded.
    Ok = 0,
    /// Something failed (I/O, a store that does not verify, ...).
    Failure = 1,
    /// Denied.
    Denied = 2,
    /// The input was invalid.
    InvalidInput = 3,
}

/// Marks an error as caused by the user's input (exit code 3) rather than a failure (1).
#[derive(Debug)]
pub struct InvalidInput(pub String);

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidInput {}

/// Returns an `anyhow::Error` that exits with code 3.
pub fn invalid_input(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(InvalidInput(msg.into()))
}

/// Prints an error chain to stderr and picks the exit code.
pub fn report_error(err: &anyhow::Error) -> Exit {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    if err.chain().any(|c| c.is::<InvalidInput>()) {
        Exit::InvalidInput
    } else {
        Exit::Failure
    }
}

/// What a closed stdout unwinds the main thread with (see [`write_stdout`]); `main` catches
/// it and exits 0. `resume_unwind` does not run the panic hook: nothing is printed.
pub struct StdoutClosed;

/// Writes to stdout (what `println!` and `print!` expand to in this binary, see `main.rs`).
/// A closed pipe is how a reader says it has read enough: the command ends with 0, silently.
/// On the main thread it unwinds to `main`, so temporary directories (the demo's keys and
/// ledger) are removed on the way; elsewhere the process exits at once. Any other write
/// error ends the command with 1 and says so on stderr.
pub fn write_stdout(args: fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args) {
        drop(out);
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            if std::thread::current().name() == Some("main") {
                std::panic::resume_unwind(Box::new(StdoutClosed));
            }
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// Prints `value` as pretty JSON on stdout.
#[allow(dead_code, reason = "used by the commands as they land")]
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Refuses a group- or world-accessible secret file (as ssh refuses such a private key), naming
/// the fix.
pub fn ensure_private(path: &std::path::Path, what: &str) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)
            .map_err(|e| invalid_input(format!("cannot read {what} {}: {e}", path.display())))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(invalid_input(format!(
                "{what} {} has mode {mode:03o}: other users may read it; run `chmod 600 {}`",
                path.display(),
                path.display()
            )));
        }
    }
    Ok(())
}

/// A secret read from `file` (which must be private: [`ensure_private`]), else `value` (its
/// environment variable, or a flag); trimmed. `None` when neither is given; an empty secret is
/// refused. The one reader of every command's tokens.
pub fn secret(
    value: Option<&str>,
    file: Option<&std::path::Path>,
    what: &str,
) -> anyhow::Result<Option<String>> {
    let secret = match (file, value) {
        (Some(path), _) => {
            ensure_private(path, what)?;
            std::fs::read_to_string(path)
                .map_err(|e| invalid_input(format!("cannot read {what} {}: {e}", path.display())))?
        }
        (None, Some(v)) => v.to_owned(),
        (None, None) => return Ok(None),
    };
    let secret = secret.trim();
    if secret.is_empty() {
        let from = file.map_or_else(|| "its variable".to_owned(), |p| p.display().to_string());
        return Err(invalid_input(format!("{what} is empty: check {from}")));
    }
    Ok(Some(secret.to_owned()))
}

/// A secret from its file (`--NAME-file`, also `WRIT_NAME_FILE` through clap) or its environment
/// variable `env` ([`secret`]); never from the command line: `inline` (a hidden `--NAME` flag)
/// is refused with a message naming the file flag and the variable. One scheme for every
/// command: `--token-file`/`WRIT_TOKEN_FILE`/`WRIT_TOKEN`,
/// `--gate-token-file`/`WRIT_GATE_TOKEN_FILE`/`WRIT_GATE_TOKEN`.
pub fn file_or_env_secret(
    inline: Option<&String>,
    file: Option<&std::path::PathBuf>,
    flag: &str,
    env: &str,
    what: &str,
) -> anyhow::Result<Option<String>> {
    if inline.is_some() {
        return Err(invalid_input(format!(
            "--{flag} puts {what} on the command line, where every local user sees it (ps); write it to a file with mode 0600 and pass --{flag}-file FILE, or set {env}"
        )));
    }
    secret(
        std::env::var(env).ok().as_deref(),
        file.map(std::path::PathBuf::as_path),
        what,
    )
}

/// Creates `path` for a secret: mode 0600 from the start, never replacing a file. An existing
/// file is invalid input that says to pick another name (`what`: "tokens", "keys").
pub fn create_private(path: &std::path::Path, what: &str) -> anyhow::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            invalid_input(format!(
                "{} already exists; pick another file ({what} are never overwritten)",
                path.display()
            ))
        } else {
            anyhow::anyhow!("cannot create {}: {e}", path.display())
        }
    })
}
