//! Gates' environment attestations: checked against the gate's registered key and zone, with a
//! bounded clock skew; shared by authorize, lease renewal and receipts.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use writ_model::env::EnvironmentAttestation;

use crate::error::ApiError;
use crate::state::AppState;

/// How far a gate's attestation time may be from the server's clock, in seconds.
pub const ATTESTATION_MAX_SKEW_SECS: i64 = 300;

/// Checks a gate's environment attestation against the gate's registered key; returns its
/// `attestation_sha256` (what a writ's `env` binds).
pub fn check_attestation(
    state: &AppState,
    att: &EnvironmentAttestation,
) -> Result<String, ApiError> {
    let gate = state
        .store
        .read(|r| r.gates.get(att.claims.gate.as_str()).cloned())
        .ok_or_else(|| {
            ApiError::forbidden(
                writ_model::ReasonCode::AttestationUnknownGate,
                format!(
                    "{} is not a registered gate: register it with `writ gate add`",
                    att.claims.gate
                ),
            )
        })?;
    if gate.zone != att.claims.zone.as_str() {
        return Err(ApiError::forbidden(
            writ_model::ReasonCode::AttestationZoneMismatch,
            format!(
                "{} is registered in zone {}, not {}",
                gate.id, gate.zone, att.claims.zone
            ),
        ));
    }
    let key_bytes: [u8; 32] = hex::decode(&gate.public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            ApiError::forbidden(
                writ_model::ReasonCode::AttestationBadKey,
                "the gate's registered key is unusable; re-register the gate",
            )
        })?;
    // Gates reuse an attestation for a while: one already verified with this key (the same
    // claims, time, key id and signature) is neither verified nor canonicalized again.
    let attestation_sha256 = match state.attestation_cache.get(&key_bytes, att) {
        Some(sha256) => sha256,
        None => {
            let sha256 = verify_attestation(&key_bytes, att)?;
            state.attestation_cache.insert(key_bytes, att, &sha256);
            sha256
        }
    };
    if (state.now() - att.iat).abs() > ATTESTATION_MAX_SKEW_SECS {
        return Err(ApiError::forbidden(
            writ_model::ReasonCode::AttestationStale,
            format!(
                "the attestation was made at {} and the server time is {}; attest again",
                att.iat,
                state.now()
            ),
        ));
    }
    // A fresh attestation that verified with the gate's key: the gate is in contact.
    state
        .contacts
        .touch(att.claims.gate.as_str(), state.now(), "attestation");
    Ok(attestation_sha256)
}

/// An Ed25519 signature sent as base64url without padding; `None` if it is not one.
pub(crate) fn ed25519_signature(b64: &str) -> Option<Signature> {
    let bytes: [u8; 64] = URL_SAFE_NO_PAD
        .decode(b64.as_bytes())
        .ok()?
        .try_into()
        .ok()?;
    Some(Signature::from_bytes(&bytes))
}

/// Verifies `att`'s signature with the gate key `key_bytes`; returns its `attestation_sha256`.
fn verify_attestation(
    key_bytes: &[u8; 32],
    att: &EnvironmentAttestation,
) -> Result<String, ApiError> {
    let sha256 = att.attestation_sha256().map_err(|e| {
        ApiError::bad_request(writ_model::ReasonCode::AttestationInvalid, e.to_string())
    })?;
    let input =
        EnvironmentAttestation::signing_input(&att.claims, att.iat, &att.kid).map_err(|e| {
            ApiError::bad_request(writ_model::ReasonCode::AttestationInvalid, e.to_string())
        })?;
    let key = VerifyingKey::from_bytes(key_bytes).map_err(|_| {
        ApiError::forbidden(
            writ_model::ReasonCode::AttestationBadKey,
            "the gate's registered key is unusable; re-register the gate",
        )
    })?;
    let sig = ed25519_signature(&att.sig).ok_or_else(|| {
        ApiError::forbidden(
            writ_model::ReasonCode::AttestationBadSignature,
            "the attestation signature is not base64url Ed25519",
        )
    })?;
    key.verify_strict(&input, &sig).map_err(|_| {
        ApiError::forbidden(
            writ_model::ReasonCode::AttestationBadSignature,
            "the attestation signature does not verify with the gate's key",
        )
    })?;
    Ok(sha256)
}
