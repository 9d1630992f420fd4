//! Logs of the long-running commands (`serve`, `gateway mcp`, `exec`): a `tracing` subscriber
//! writing to stderr (stdout stays for data), filtered by `WRIT_LOG`, else `RUST_LOG`, else
//! `info`, as text or as one JSON object per line (`--log-format` / `WRIT_LOG_FORMAT`).
//!
//! What is logged never holds a secret: tokens, writs and argument values stay out of every
//! event by construction (the events name executions, principals, actions and resources only).

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-01-01T00:00:00Z  INFO writ::call: governed call execution=… decision=allow …`
    #[default]
    Text,
    /// One JSON object per line, the event's fields under `fields`.
    Json,
}

/// The filter in force: `WRIT_LOG`, then `RUST_LOG` (the `EnvFilter` syntax, e.g.
/// `info,writ::access=warn`), then `info`. A filter that does not parse falls back to `info`
/// with a note, rather than silencing the logs.
fn filter() -> EnvFilter {
    for var in ["WRIT_LOG", "RUST_LOG"] {
        if let Ok(spec) = std::env::var(var)
            && !spec.trim().is_empty()
        {
            match EnvFilter::try_new(&spec) {
                Ok(f) => return f,
                Err(e) => {
                    eprintln!("note: {var}={spec:?} is not a log filter ({e}); logging at info");
                    return EnvFilter::new("info");
                }
            }
        }
    }
    EnvFilter::new("info")
}

/// Installs the subscriber for the rest of the process. Called once by each long-running
/// command before it starts; a second call (tests in one process) keeps the first.
pub fn init(format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_target(true);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(false)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
}
