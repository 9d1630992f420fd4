//! One log line per governed call, written by the MCP gateway and the command runner when the
//! call is allowed or denied, with the fields `execution`, `principal`, `action`, `resource`,
//! `decision`, `reason_code`, `latency_ms` (the same as the control plane's decision lines).
//!
//! Only the shape of governance is logged: never argument values, tokens, or the writ. A field
//! the gate does not know (no execution when the control plane was not reached, no principal
//! when it did not answer) is `-`.

use std::time::Instant;

use writ_model::ReasonCode;

/// What the gate decided about one call: the control plane's two decisions.
pub type CallDecision = writ_model::Decision;

/// One governed call, as logged.
#[derive(Debug, Clone)]
pub struct GovernedCall<'a> {
    pub execution: Option<String>,
    pub principal: Option<&'a str>,
    pub action: &'a str,
    pub resource: &'a str,
    pub decision: CallDecision,
    pub reason_code: ReasonCode,
    /// When the call reached the gate.
    pub started: Instant,
}

impl GovernedCall<'_> {
    /// Writes the line (allowed calls at info, denied ones at warn) and counts the call in
    /// the gate's metrics.
    pub fn log(&self, metrics: &crate::metrics::GateMetrics) {
        metrics.call(
            self.decision,
            self.reason_code,
            self.started.elapsed().as_secs_f64(),
        );
        let execution = self.execution.as_deref().unwrap_or("-");
        let principal = self.principal.unwrap_or("-");
        let latency_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (action, resource) = (self.action, self.resource);
        let reason_code = self.reason_code.as_str();
        let decision = self.decision.as_str();
        match self.decision {
            CallDecision::Allow => tracing::info!(
                target: "writ::call",
                execution, principal, action, resource, decision, reason_code, latency_ms,
                "governed call"
            ),
            CallDecision::Deny => tracing::warn!(
                target: "writ::call",
                execution, principal, action, resource, decision, reason_code, latency_ms,
                "governed call"
            ),
        }
    }
}
