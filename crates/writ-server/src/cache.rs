//! A bounded memory of gate attestations already verified, with the digest a writ binds.
//! Gates reuse an attestation for a while, so most requests carry one seen before: it is then
//! neither verified nor canonicalized again. When full the memory starts over: forgetting only
//! costs a verification, never a wrong acceptance.

use std::collections::HashMap;
use std::sync::Mutex;

use writ_model::env::EnvironmentAttestation;

/// An attestation verified with `key`, and its `attestation_sha256`.
struct Verified {
    key: [u8; 32],
    attestation: EnvironmentAttestation,
    sha256: String,
}

pub struct VerifiedAttestations {
    /// By signature; an entry counts only for exactly the same attestation and key.
    map: Mutex<HashMap<String, Verified>>,
    capacity: usize,
}

impl VerifiedAttestations {
    pub fn new(capacity: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// The digest of `att` if exactly this attestation (claims, time, key id and signature)
    /// was verified with exactly this gate key.
    pub fn get(&self, key: &[u8; 32], att: &EnvironmentAttestation) -> Option<String> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&att.sig)
            .filter(|v| v.key == *key && v.attestation == *att)
            .map(|v| v.sha256.clone())
    }

    /// Remembers that `att`, whose digest is `sha256`, verified with `key`.
    pub fn insert(&self, key: [u8; 32], att: &EnvironmentAttestation, sha256: &str) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.capacity {
            map.clear();
        }
        map.insert(
            att.sig.clone(),
            Verified {
                key,
                attestation: att.clone(),
                sha256: sha256.to_owned(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use writ_model::env::EnvironmentClaims;

    fn att(sig: &str, iat: i64) -> EnvironmentAttestation {
        EnvironmentAttestation {
            claims: EnvironmentClaims::new("dev".parse().unwrap(), "gate:g".parse().unwrap()),
            iat,
            kid: "gate:g".into(),
            sig: sig.into(),
        }
    }

    #[test]
    fn only_the_same_attestation_and_key_count() {
        let c = VerifiedAttestations::new(8);
        let a = att("s1", 100);
        c.insert([1; 32], &a, "d1");
        assert_eq!(c.get(&[1; 32], &a).as_deref(), Some("d1"));
        // Same signature, different key, time or claims: not verified.
        assert_eq!(c.get(&[2; 32], &a), None);
        assert_eq!(c.get(&[1; 32], &att("s1", 101)), None);
        let mut other_zone = a.clone();
        other_zone.claims.zone = "prod".parse().unwrap();
        assert_eq!(c.get(&[1; 32], &other_zone), None);
        let mut other_kid = a.clone();
        other_kid.kid = "gate:h".into();
        assert_eq!(c.get(&[1; 32], &other_kid), None);
    }

    #[test]
    fn bounded_and_forgetful() {
        let c = VerifiedAttestations::new(2);
        let (a, b, d) = (att("a", 1), att("b", 1), att("d", 1));
        c.insert([1; 32], &a, "da");
        c.insert([1; 32], &b, "db");
        assert!(c.get(&[1; 32], &a).is_some());
        c.insert([1; 32], &d, "dd");
        assert!(c.get(&[1; 32], &d).is_some());
        assert!(c.get(&[1; 32], &a).is_none());
    }
}
