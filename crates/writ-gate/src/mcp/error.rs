use thiserror::Error;

/// Why the MCP gateway cannot start or go on. Calls it refuses are [`super::Denial`]s instead.
#[derive(Debug, Error)]
pub enum McpError {
    #[error("cannot read the pin file {path}: {detail}; create it with `writ gateway mcp pin`")]
    PinFileUnreadable { path: String, detail: String },
    #[error(
        "the pin file {path} is not a Writ pin file: {detail}; create it with `writ gateway mcp pin`"
    )]
    PinFileInvalid { path: String, detail: String },
    #[error(
        "the pin file {path} is in format {found:?}, which pinned less than the gateway checks now (v1: part of each tool; v2: tools, but no prompt, resource or resource template); pin every definition again with `writ gateway mcp pin --upstream-name {server} --out {path}` and review what it lists"
    )]
    PinFileOutdated {
        path: String,
        found: String,
        server: String,
    },
    #[error(
        "the pin file {path} pins server {found:?}, not {expected:?}; pin this server with `writ gateway mcp pin --upstream-name {expected}`"
    )]
    PinFileServer {
        path: String,
        found: String,
        expected: String,
    },
    #[error("cannot start the upstream server {command:?}: {detail}; check the command after `--`")]
    Spawn { command: String, detail: String },
    #[error(
        "the kernel cannot contain the upstream server ({detail}): it could read or signal the gateway; enable Landlock (add it to the kernel's lsm= list), or accept a weaker gateway with --allow-uncontained"
    )]
    ContainmentUnavailable { detail: String },
    #[error("the upstream server ended ({status}) [upstream_ended]; the gateway stops with it")]
    UpstreamEnded { status: String },
    #[error("the upstream server failed: {0}")]
    Upstream(String),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl McpError {
    /// A short stable code for logs and metrics.
    pub fn reason_code(&self) -> writ_model::ReasonCode {
        match self {
            McpError::PinFileUnreadable { .. } => writ_model::ReasonCode::PinFileUnreadable,
            McpError::PinFileInvalid { .. } => writ_model::ReasonCode::PinFileInvalid,
            McpError::PinFileOutdated { .. } => writ_model::ReasonCode::PinFileOutdated,
            McpError::PinFileServer { .. } => writ_model::ReasonCode::PinFileWrongServer,
            McpError::Spawn { .. } => writ_model::ReasonCode::UpstreamSpawnFailed,
            McpError::ContainmentUnavailable { .. } => {
                writ_model::ReasonCode::ContainmentUnavailable
            }
            McpError::UpstreamEnded { .. } => writ_model::ReasonCode::UpstreamEnded,
            McpError::Upstream(_) => writ_model::ReasonCode::UpstreamFailed,
            McpError::Io(_) => writ_model::ReasonCode::IoError,
        }
    }
}
