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

/// Prints `value` as pretty JSON on stdout.
#[allow(dead_code, reason = "used by the commands as they land")]
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A secret given on the command line (or its env variable), else read from a file; trimmed.
/// `missing` says how to provide it when neither is given. An empty secret is refused.
pub fn read_secret(
    value: &Option<String>,
    file: &Option<std::path::PathBuf>,
    missing: &str,
) -> anyhow::Result<String> {
    let secret = match (value, file) {
        (Some(t), _) => t.trim().to_owned(),
        (None, Some(p)) => std::fs::read_to_string(p)
            .map_err(|e| invalid_input(format!("cannot read {}: {e}", p.display())))?
            .trim()
            .to_owned(),
        (None, None) => return Err(invalid_input(missing.to_owned())),
    };
    if secret.is_empty() {
        return Err(invalid_input(format!("the secret is empty: {missing}")));
    }
    Ok(secret)
}
