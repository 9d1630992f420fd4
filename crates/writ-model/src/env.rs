//! Environment claims: where an action runs, as the gate states it, and the signed
//! attestation that carries them.

use serde::{Deserialize, Serialize};

use crate::canonical::to_canonical_vec;
use crate::digest::sha256_hex;
use crate::error::CanonicalError;
use crate::ids::{GateId, ZoneId};

/// Claims about the place an action runs. Policies see them as `context.env`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentClaims {
    /// The trust zone the gate runs in.
    pub zone: ZoneId,
    /// The gate that will execute the action.
    pub gate: GateId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Lowercase hex SHA-256 of the container image the gate runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_sha256: Option<String>,
    /// Lowercase hex SHA-256 of the binary that will run (the command runner sets it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_pod: Option<String>,
    /// Whether the gate contains what it runs (the command runner attests it): absent when the
    /// gate says nothing about it, so attestations and writs made before the claim existed
    /// still verify.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_containment"
    )]
    pub containment: Option<Containment>,
}

/// `containment`, when the field is there, must be one of its two values (`null` included
/// in what is refused: the claim is absent or says something).
fn present_containment<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Containment>, D::Error> {
    Containment::deserialize(d).map(Some)
}

/// How far a gate contains the process it runs, as the gate attests it (`context.env.containment`).
/// Spelled in lowercase only; any other spelling is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Containment {
    /// Fully in force: namespaces, Landlock scoping, nothing outlives the execution.
    Contained,
    /// The operator opted into a weaker mode (`writ exec --allow-uncontained`) and containment
    /// is not fully in force.
    Uncontained,
}

impl Containment {
    /// The claim's value: `contained` or `uncontained`.
    pub fn as_str(self) -> &'static str {
        match self {
            Containment::Contained => "contained",
            Containment::Uncontained => "uncontained",
        }
    }
}

impl EnvironmentClaims {
    /// Claims with only the required zone and gate.
    pub fn new(zone: ZoneId, gate: GateId) -> Self {
        Self {
            zone,
            gate,
            host: None,
            image_sha256: None,
            binary_sha256: None,
            k8s_namespace: None,
            k8s_pod: None,
            containment: None,
        }
    }
}

/// Environment claims signed by the gate's Ed25519 key. The signature covers
/// [`EnvironmentAttestation::signing_input`]; checking it is the verifier's job (this crate
/// holds no keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentAttestation {
    pub claims: EnvironmentClaims,
    /// When the gate made the attestation (Unix seconds).
    pub iat: i64,
    /// Key id of the gate key that signed.
    pub kid: String,
    /// Base64url (no padding) Ed25519 signature over the signing input.
    pub sig: String,
}

/// The part of an attestation that is signed: claims and time.
#[derive(Serialize)]
struct SignedPart<'a> {
    claims: &'a EnvironmentClaims,
    iat: i64,
    kid: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

impl EnvironmentAttestation {
    /// The bytes the gate signs: RFC 8785 canonical JSON of
    /// `{"claims","iat","kid","type":"writ.env/v1"}`.
    pub fn signing_input(
        claims: &EnvironmentClaims,
        iat: i64,
        kid: &str,
    ) -> Result<Vec<u8>, CanonicalError> {
        to_canonical_vec(&SignedPart {
            claims,
            iat,
            kid,
            kind: "writ.env/v1",
        })
    }

    /// `attestation_sha256` of a writ's `env` claim: SHA-256 of the canonical JSON of the
    /// whole attestation, signature included.
    pub fn attestation_sha256(&self) -> Result<String, CanonicalError> {
        Ok(sha256_hex(&to_canonical_vec(self)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_claims_are_omitted_and_unknown_ones_refused() {
        let c = EnvironmentClaims::new("dev".parse().unwrap(), "gate:mcp-1".parse().unwrap());
        let s = crate::canonical::to_canonical_string(&c).unwrap();
        assert_eq!(s, r#"{"gate":"gate:mcp-1","zone":"dev"}"#);
        assert!(
            serde_json::from_str::<EnvironmentClaims>(r#"{"gate":"gate:g","zone":"z","x":1}"#)
                .is_err()
        );
    }

    #[test]
    fn containment_is_optional_spelled_in_lowercase_and_nothing_else() {
        // Absent: claims (and attestations) made before the claim existed read as before.
        let c: EnvironmentClaims = serde_json::from_str(r#"{"gate":"gate:g","zone":"z"}"#).unwrap();
        assert_eq!(c.containment, None);
        for (text, want) in [
            ("contained", Containment::Contained),
            ("uncontained", Containment::Uncontained),
        ] {
            let json = format!(r#"{{"containment":"{text}","gate":"gate:g","zone":"z"}}"#);
            let c: EnvironmentClaims = serde_json::from_str(&json).unwrap();
            assert_eq!(c.containment, Some(want));
            assert_eq!(want.as_str(), text);
            assert_eq!(crate::canonical::to_canonical_string(&c).unwrap(), json);
        }
        for bad in [
            r#""Contained""#,
            r#""UNCONTAINED""#,
            r#""partial""#,
            r#""""#,
            r#"" contained""#,
            "true",
            "null",
            "1",
        ] {
            let json = format!(r#"{{"containment":{bad},"gate":"gate:g","zone":"z"}}"#);
            assert!(
                serde_json::from_str::<EnvironmentClaims>(&json).is_err(),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn signing_input_depends_on_every_claim() {
        let a = EnvironmentClaims::new("dev".parse().unwrap(), "gate:g".parse().unwrap());
        let mut b = a.clone();
        b.host = Some("h1".into());
        assert_ne!(
            EnvironmentAttestation::signing_input(&a, 1, "k").unwrap(),
            EnvironmentAttestation::signing_input(&b, 1, "k").unwrap()
        );
        let mut u = a.clone();
        u.containment = Some(Containment::Uncontained);
        assert_ne!(
            EnvironmentAttestation::signing_input(&a, 1, "k").unwrap(),
            EnvironmentAttestation::signing_input(&u, 1, "k").unwrap()
        );
        assert_ne!(
            EnvironmentAttestation::signing_input(&a, 1, "k").unwrap(),
            EnvironmentAttestation::signing_input(&a, 2, "k").unwrap()
        );
    }
}
