//! Committed evidence (entries v2 of DESIGN.md): an entry keeps in clear only the shape of
//! governance and commits to the rest with a salted SHA-256 commitment; the clear values travel
//! separately as a [`Disclosure`], which anyone holding it can check against the entry.
//!
//! `commitment = lowercase hex SHA-256("writ.commitment/v1\n" ‖ salt ‖ JCS(private))`, with a
//! 32-byte salt drawn for that entry. The salt is what keeps a guessable private object (a short
//! command line, a yes/no argument) from being recovered by hashing candidates.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::DisclosureError;

/// The domain separator hashed before the salt.
pub const COMMITMENT_DOMAIN: &[u8] = b"writ.commitment/v1\n";

/// Length of a commitment salt in bytes.
pub const SALT_LEN: usize = 32;

/// The member of a v2 entry that holds its commitment.
pub const COMMITMENT_FIELD: &str = "commitment";

/// A fresh random salt from the operating system's generator.
pub fn fresh_salt() -> Result<[u8; SALT_LEN], DisclosureError> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(|e| DisclosureError::Randomness(e.to_string()))?;
    Ok(salt)
}

/// The commitment to `private` under `salt`, lowercase hex.
pub fn commitment_hex(salt: &[u8; SALT_LEN], private: &Value) -> Result<String, DisclosureError> {
    let mut canonical = Vec::new();
    writ_model::canonical::write_canonical_value(private, &mut canonical)
        .map_err(|e| DisclosureError::NotCanonical(e.to_string()))?;
    Ok(commitment_of_canonical(salt, &canonical))
}

/// The commitment to a private object already in RFC 8785 canonical form.
pub fn commitment_of_canonical(salt: &[u8; SALT_LEN], canonical: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(COMMITMENT_DOMAIN);
    h.update(salt);
    h.update(canonical);
    hex::encode(h.finalize())
}

/// The clear values behind one entry's commitment: `{"index", "salt_b64", "private"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disclosure {
    /// Ledger index of the entry it discloses.
    pub index: u64,
    /// The entry's salt, standard base64 with padding.
    pub salt_b64: String,
    /// The private object.
    pub private: Value,
}

impl Disclosure {
    /// A disclosure of `private` for the entry at `index`.
    pub fn new(index: u64, salt: &[u8; SALT_LEN], private: Value) -> Disclosure {
        Disclosure {
            index,
            salt_b64: B64.encode(salt),
            private,
        }
    }

    /// The decoded salt.
    pub fn salt(&self) -> Result<[u8; SALT_LEN], DisclosureError> {
        let bytes = B64
            .decode(&self.salt_b64)
            .map_err(|_| DisclosureError::BadSalt { index: self.index })?;
        bytes
            .try_into()
            .map_err(|_| DisclosureError::BadSalt { index: self.index })
    }

    /// The commitment this disclosure recomputes to.
    pub fn commitment_hex(&self) -> Result<String, DisclosureError> {
        if !self.private.is_object() {
            return Err(DisclosureError::NotCanonical(format!(
                "disclosure {}: private is not a JSON object",
                self.index
            )));
        }
        commitment_hex(&self.salt()?, &self.private)
    }

    /// Checks the disclosure against the bytes of its entry: the entry must carry a
    /// `commitment` and this disclosure must recompute to it.
    pub fn check_entry(&self, entry: &[u8]) -> Result<(), DisclosureError> {
        let want =
            entry_commitment(entry).ok_or(DisclosureError::NoCommitment { index: self.index })?;
        let got = self.commitment_hex()?;
        if got != want {
            return Err(DisclosureError::Mismatch { index: self.index });
        }
        Ok(())
    }
}

/// The `commitment` member of an entry, if it is a JSON object that has one.
pub fn entry_commitment(entry: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(entry).ok()?;
    v.get(COMMITMENT_FIELD)?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_commitment_is_sha256_of_domain_salt_and_canonical_json() {
        let salt = [7u8; SALT_LEN];
        let private = json!({"b": 1, "a": "x"});
        let mut pre = Vec::new();
        pre.extend_from_slice(b"writ.commitment/v1\n");
        pre.extend_from_slice(&salt);
        pre.extend_from_slice(br#"{"a":"x","b":1}"#);
        assert_eq!(
            commitment_hex(&salt, &private).unwrap(),
            hex::encode(Sha256::digest(&pre))
        );
    }

    #[test]
    fn a_disclosure_checks_against_its_entry_and_nothing_else() {
        let salt = [9u8; SALT_LEN];
        let private = json!({"args": {"path": "/etc/secret"}});
        let c = commitment_hex(&salt, &private).unwrap();
        let entry =
            serde_json::to_vec(&json!({"type": "decision", "v": 2, "commitment": c})).unwrap();
        let d = Disclosure::new(4, &salt, private.clone());
        d.check_entry(&entry).unwrap();

        let mut changed = d.clone();
        changed.private = json!({"args": {"path": "/etc/other"}});
        assert!(matches!(
            changed.check_entry(&entry),
            Err(DisclosureError::Mismatch { index: 4 })
        ));

        let other_salt = Disclosure::new(4, &[8u8; SALT_LEN], private.clone());
        assert!(matches!(
            other_salt.check_entry(&entry),
            Err(DisclosureError::Mismatch { .. })
        ));

        let mut short = d.clone();
        short.salt_b64 = B64.encode([1u8; 16]);
        assert!(matches!(
            short.check_entry(&entry),
            Err(DisclosureError::BadSalt { .. })
        ));

        let v1 = br#"{"type":"decision","v":1}"#;
        assert!(matches!(
            d.check_entry(v1),
            Err(DisclosureError::NoCommitment { .. })
        ));
    }

    #[test]
    fn two_salts_give_unrelated_commitments_of_the_same_object() {
        let a = fresh_salt().unwrap();
        let b = fresh_salt().unwrap();
        assert_ne!(a, b);
        let p = json!({"cmd": ["rm", "-rf", "/"]});
        assert_ne!(
            commitment_hex(&a, &p).unwrap(),
            commitment_hex(&b, &p).unwrap()
        );
    }
}
