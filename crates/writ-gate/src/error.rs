use thiserror::Error;
use writ_model::ReasonCode;

/// Why a gate or the control-plane client could not do what was asked. Every variant denies.
#[derive(Debug, Error)]
pub enum GateError {
    #[error(
        "the control plane at {url} is unreachable: {detail}; check that `writ serve` runs and the URL is right"
    )]
    Unreachable { url: String, detail: String },
    #[error("the control plane did not answer within {secs} s; it may be overloaded")]
    Timeout { secs: u64 },
    #[error("the control plane answered {status} {code}: {message}")]
    Api {
        status: u16,
        /// The control plane's code; one this build does not know is
        /// [`ReasonCode::Unrecognized`], its spelling kept in `message`.
        code: ReasonCode,
        message: String,
    },
    #[error("the control plane's answer is not what the API promises: {0}")]
    Garbage(String),
    #[error("the writ was refused at the gate ({code}): {message}")]
    WritRefused { code: ReasonCode, message: String },
    #[error("{}", feed_lost(*silent_secs, *grace_secs, cause.as_deref()))]
    FeedLost {
        /// `None`: the feed was never received since the gate started.
        silent_secs: Option<u64>,
        grace_secs: u64,
        /// Why following the feed fails, when known (e.g. the 401 and its reason).
        cause: Option<String>,
    },
    #[error("cannot sign: {0}")]
    Signing(String),
}

fn feed_lost(silent_secs: Option<u64>, grace_secs: u64, cause: Option<&str>) -> String {
    let since = match silent_secs {
        Some(s) => format!("for {s} s (grace {grace_secs} s)"),
        None => "since the gate started".to_owned(),
    };
    let cause = cause.map_or(String::new(), |c| format!("; the feed fails: {c}"));
    format!(
        "the gate has not heard from the control plane's event feed {since}{cause}: no new work until the event feed is back"
    )
}

impl GateError {
    /// Whether trying again later may succeed: the control plane was unreachable, slow, or
    /// answered a 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            GateError::Unreachable { .. } | GateError::Timeout { .. } => true,
            GateError::Api { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// A short stable code for receipts, metrics and MCP errors.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            GateError::Unreachable { .. } => ReasonCode::ControlPlaneUnreachable,
            GateError::Timeout { .. } => ReasonCode::ControlPlaneTimeout,
            GateError::Api { code, .. } | GateError::WritRefused { code, .. } => *code,
            GateError::Garbage(_) => ReasonCode::ControlPlaneGarbage,
            GateError::FeedLost { .. } => ReasonCode::EventFeedLost,
            GateError::Signing(_) => ReasonCode::GateSigningFailed,
        }
    }
}
