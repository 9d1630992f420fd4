//! Gates check themselves at start (`writ gateway mcp`, `writ exec`): before serving anything
//! they verify that the control plane answers, that the gate token and the agent token are
//! accepted, that the gate key is the one registered for the gate and that the zone is the
//! gate's, and stop (exit code 3) naming exactly which setting is wrong with the HTTP status
//! and reason code behind it, instead of starting and then denying every call.

use writ_gate::{ControlPlane, Gate, GateError};
use writ_model::ReasonCode;

use crate::cli_output::invalid_input;

/// What a gate checks about its settings.
pub struct SelfCheck<'a> {
    pub cp: &'a ControlPlane,
    pub gate: &'a Gate,
    pub gate_token: &'a str,
    /// The agent's token when the gate has one (over HTTP, clients may bring their own).
    pub agent_token: Option<&'a str>,
    /// The action the gate asks about (what it governs), for the attestation check.
    pub action: &'a str,
}

/// " (401 unauthenticated: …)": the status and reason behind a refusal.
fn behind(e: &GateError) -> String {
    match e {
        GateError::Api {
            status,
            code,
            message,
        } => format!("{status} {code}: {message}"),
        GateError::Unreachable { detail, .. } => format!("control_plane_unreachable: {detail}"),
        GateError::Timeout { secs } => format!("control_plane_timeout: no answer within {secs} s"),
        other => other.to_string(),
    }
}

fn stop(cause: String) -> anyhow::Error {
    invalid_input(format!("gate self-check failed: {cause}"))
}

/// The control plane answers `GET /healthz`. Checked first, before anything is fetched from it.
pub async fn control_plane_answers(cp: &ControlPlane, url_flag: &str) -> anyhow::Result<()> {
    cp.get_json("/healthz", None).await.map(|_| ()).map_err(|e| {
        stop(format!(
            "the control plane at {} does not answer ({}); check that `writ serve` runs there and that {url_flag} names it",
            cp.base(),
            behind(&e)
        ))
    })
}

impl SelfCheck<'_> {
    /// The gate token opens the event feed; the agent token and the gate's attestation (its key
    /// and zone) are accepted by `POST /v1/authorize/visible`.
    pub async fn run(&self) -> anyhow::Result<()> {
        let gate_id = self.gate.id();
        match self.cp.events(self.gate_token).await {
            Ok(feed) => drop(feed),
            Err(e @ GateError::Api { status: 401, .. }) => {
                return Err(stop(format!(
                    "the gate token is not accepted ({}); pass the token `writ gate add` printed for {gate_id}",
                    behind(&e)
                )));
            }
            Err(e @ GateError::Api { status: 403, .. }) => {
                return Err(stop(format!(
                    "the gate token is not a gate's token ({}); pass the token `writ gate add` printed for {gate_id}, not a principal's",
                    behind(&e)
                )));
            }
            Err(e) => {
                return Err(stop(format!(
                    "the event feed cannot be opened with the gate token ({})",
                    behind(&e)
                )));
            }
        }
        let Some(agent_token) = self.agent_token else {
            tracing::warn!(
                target: "writ::gate",
                gate = %gate_id,
                "no agent token: the gate key and the zone are checked at the first call"
            );
            return Ok(());
        };
        let attestation = self
            .gate
            .attest()
            .map_err(|e| stop(format!("the gate cannot attest: {e}")))?;
        match self
            .cp
            .visible(agent_token, self.action, &[], &attestation)
            .await
        {
            Ok(_) => Ok(()),
            // Tokens and attestation passed; there is just nothing to decide with yet.
            Err(GateError::Api {
                code: ReasonCode::NoActiveBundle,
                ..
            }) => Ok(()),
            Err(e) => {
                let cause = match &e {
                    GateError::Api { status: 401, .. } => {
                        "the agent token is not accepted".to_owned()
                    }
                    GateError::Api {
                        code: ReasonCode::ScopeInsufficient,
                        ..
                    } => "the agent token is not a principal's token".to_owned(),
                    GateError::Api {
                        code: ReasonCode::AttestationUnknownGate,
                        ..
                    } => {
                        format!("the gate id {gate_id} is not registered (`writ gate add`)")
                    }
                    GateError::Api {
                        code: ReasonCode::AttestationZoneMismatch,
                        ..
                    } => format!(
                        "the zone {} is not the zone {gate_id} is registered in",
                        self.gate.zone()
                    ),
                    GateError::Api {
                        code: ReasonCode::AttestationBadSignature | ReasonCode::AttestationBadKey,
                        ..
                    } => {
                        format!(
                            "the gate key does not match the public key registered for {gate_id}"
                        )
                    }
                    _ => "the control plane refused the gate's first check".to_owned(),
                };
                Err(stop(format!("{cause} ({})", behind(&e))))
            }
        }
    }
}
