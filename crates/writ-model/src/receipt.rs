//! A gate's record of what happened to one execution.

use serde::{Deserialize, Serialize};

use crate::canonical::to_canonical_vec;
use crate::error::CanonicalError;
use crate::ids::{ExecutionId, GateId};
use crate::intent::IntentDigest;

/// How an execution ended, as the gate saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    /// The gate refused to run it (writ invalid, intent mismatch, ...).
    DeniedAtGate,
    /// Governance stopped it while it ran (lease denied, revocation, kill switch).
    TerminatedByGovernance,
}

/// The ledger entry type tag of a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReceiptType {
    #[serde(rename = "receipt")]
    Receipt,
}

/// The signed body of a receipt (`"type":"receipt"`, `"v":1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBody {
    #[serde(rename = "type")]
    pub kind: ReceiptType,
    pub v: u32,
    pub execution: ExecutionId,
    /// The `jti` of the writ the gate executed under (absent when denied before one existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    pub gate: GateId,
    pub intent: IntentDigest,
    pub outcome: Outcome,
    /// Lowercase hex SHA-256 of the canonical JSON of the result, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_sha256: Option<String>,
    /// A short stable code for why it failed or was denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    pub started_at: i64,
    pub finished_at: i64,
    /// For commands: what the runner saw of the finished process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecOutcome>,
}

/// How a governed process ended, as the command runner observed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecOutcome {
    /// The exit status, when the process exited on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Lowercase hex SHA-256 of everything it wrote to stdout and stderr.
    pub stdout_sha256: String,
    pub stderr_sha256: String,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
}

impl ReceiptBody {
    /// The bytes the gate signs: the canonical JSON of the body.
    pub fn signing_input(&self) -> Result<Vec<u8>, CanonicalError> {
        to_canonical_vec(self)
    }
}

/// A receipt with the gate's Ed25519 signature over [`ReceiptBody::signing_input`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub body: ReceiptBody,
    pub kid: String,
    /// Base64url (no padding) signature.
    pub sig: String,
}

/// Why a receipt's signature does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptSigError {
    #[error("sig must be a base64url Ed25519 signature")]
    Malformed,
    #[error("the receipt body cannot be encoded: {0}")]
    Encoding(String),
    #[error("the receipt signature does not verify with the gate's key")]
    Mismatch,
}

impl Receipt {
    /// Checks the gate's Ed25519 signature (strict) over the canonical body with `public_key`.
    pub fn verify(&self, public_key: &ed25519_dalek::VerifyingKey) -> Result<(), ReceiptSigError> {
        use base64::Engine as _;
        let sig: [u8; 64] = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(self.sig.as_bytes())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(ReceiptSigError::Malformed)?;
        let input = self
            .body
            .signing_input()
            .map_err(|e| ReceiptSigError::Encoding(e.to_string()))?;
        public_key
            .verify_strict(&input, &ed25519_dalek::Signature::from_bytes(&sig))
            .map_err(|_| ReceiptSigError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_accepts_the_gates_signature_and_nothing_else() {
        use base64::Engine as _;
        use ed25519_dalek::{Signer, SigningKey};
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let body: ReceiptBody = serde_json::from_value(serde_json::json!({
            "type": "receipt", "v": 1, "execution": crate::ExecutionId::new_v7(),
            "gate": "gate:mcp-1", "outcome": "success", "started_at": 1, "finished_at": 2,
            "intent": {"action": "a", "resource": "r", "args_sha256": "00"}
        }))
        .unwrap();
        let key = SigningKey::from_bytes(&[3; 32]);
        let sig = key.sign(&body.signing_input().unwrap()).to_bytes();
        let receipt = Receipt {
            body,
            kid: "gate:mcp-1".into(),
            sig: b64.encode(sig),
        };
        assert_eq!(receipt.verify(&key.verifying_key()), Ok(()));
        let other = SigningKey::from_bytes(&[4; 32]).verifying_key();
        assert_eq!(receipt.verify(&other), Err(ReceiptSigError::Mismatch));
        let mut changed = receipt.clone();
        changed.body.outcome = Outcome::Failure;
        assert_eq!(
            changed.verify(&key.verifying_key()),
            Err(ReceiptSigError::Mismatch)
        );
        let mut garbled = receipt;
        garbled.sig = "%%".into();
        assert_eq!(
            garbled.verify(&key.verifying_key()),
            Err(ReceiptSigError::Malformed)
        );
    }

    #[test]
    fn outcome_codes_are_snake_case() {
        assert_eq!(
            serde_json::to_value(Outcome::TerminatedByGovernance).unwrap(),
            "terminated_by_governance"
        );
        assert_eq!(
            serde_json::to_value(Outcome::DeniedAtGate).unwrap(),
            "denied_at_gate"
        );
    }
}
