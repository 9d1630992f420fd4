//! What a ledger entry may be: RFC 8785 canonical JSON, an object with a string `type` and an
//! integer `v`, at most 65,535 bytes.

use crate::error::EntryError;

/// The largest entry, in bytes: the uint16 length prefix of a tile entry bundle.
pub const MAX_ENTRY_BYTES: usize = 65_535;

/// An entry known to be valid: encoded here, by the canonicalizer, from a value of the caller's,
/// so appending it skips the canonical-form re-check that raw bytes from elsewhere get
/// ([`validate_entry`]). Only the shape (an object with a string `type` and an integer `v`) and
/// the size are checked, on the encoded bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    bytes: Vec<u8>,
    /// A v2 entry's disclosure (salt and canonical private object), stored in the evidence
    /// store in the same transaction as the entry.
    sealed: Option<Sealed>,
}

/// The salt and the canonical JSON of the private object behind a v2 entry's commitment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub salt: [u8; crate::commitment::SALT_LEN],
    pub private: Vec<u8>,
}

impl Entry {
    /// Encodes `value` as RFC 8785 canonical JSON and checks the entry's shape and size.
    pub fn encode<T: serde::Serialize>(value: &T) -> Result<Entry, EntryError> {
        let bytes = writ_model::canonical::to_canonical_vec(value)
            .map_err(|e| EntryError::NotCanonical(e.to_string()))?;
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge { len: bytes.len() });
        }
        check_shape(&bytes)?;
        Ok(Entry {
            bytes,
            sealed: None,
        })
    }

    /// An entry from bytes already in RFC 8785 canonical form, made by a writer a test holds
    /// to [`writ_model::canonical::to_canonical_vec`] (such as
    /// `DecisionRecord::to_canonical_with_request`). Checks the shape and size, not the form.
    pub fn from_canonical(bytes: Vec<u8>) -> Result<Entry, EntryError> {
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge { len: bytes.len() });
        }
        check_shape(&bytes)?;
        Ok(Entry {
            bytes,
            sealed: None,
        })
    }

    /// A v2 entry (DESIGN.md "Committed evidence"): draws a fresh salt, commits to `private`,
    /// lets `set` put the commitment into the clear part, and encodes the clear part. The
    /// disclosure travels with the entry and is stored in the same transaction.
    pub fn committed<C: serde::Serialize, P: serde::Serialize>(
        clear: C,
        private: &P,
        set: impl FnOnce(&mut C, String),
    ) -> Result<Entry, EntryError> {
        let private = writ_model::canonical::to_canonical_vec(private)
            .map_err(|e| EntryError::NotCanonical(e.to_string()))?;
        Self::committed_canonical(clear, private, set)
    }

    /// [`Entry::committed`] with the private part already in RFC 8785 canonical form, made by
    /// a writer a test holds to [`writ_model::canonical::to_canonical_vec`].
    pub fn committed_canonical<C: serde::Serialize>(
        mut clear: C,
        private: Vec<u8>,
        set: impl FnOnce(&mut C, String),
    ) -> Result<Entry, EntryError> {
        let salt =
            crate::commitment::fresh_salt().map_err(|e| EntryError::Commitment(e.to_string()))?;
        let commitment = crate::commitment::commitment_of_canonical(&salt, &private);
        set(&mut clear, commitment);
        let mut entry = Entry::encode(&clear)?;
        entry.sealed = Some(Sealed { salt, private });
        Ok(entry)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The disclosure sealed with a v2 entry, if any.
    pub fn sealed(&self) -> Option<&Sealed> {
        self.sealed.as_ref()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The bytes and the disclosure.
    pub fn into_parts(self) -> (Vec<u8>, Option<Sealed>) {
        (self.bytes, self.sealed)
    }
}

/// The `type` and `v` members, read without building the whole document.
#[derive(serde::Deserialize)]
struct Shape<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<std::borrow::Cow<'a, str>>,
    v: Option<serde_json::Number>,
}

fn check_shape(bytes: &[u8]) -> Result<(), EntryError> {
    if bytes.first() != Some(&b'{') {
        return Err(EntryError::BadShape("it is not an object".into()));
    }
    let shape: Shape<'_> =
        serde_json::from_slice(bytes).map_err(|e| EntryError::BadShape(e.to_string()))?;
    match shape.kind {
        Some(t) if !t.is_empty() => {}
        _ => {
            return Err(EntryError::BadShape(
                "\"type\" is missing or not a string".into(),
            ));
        }
    }
    match shape.v {
        Some(n) if n.is_u64() || n.is_i64() => Ok(()),
        _ => Err(EntryError::BadShape(
            "\"v\" is missing or not an integer".into(),
        )),
    }
}

/// Checks an entry before anything is written.
pub fn validate_entry(bytes: &[u8]) -> Result<(), EntryError> {
    if bytes.len() > MAX_ENTRY_BYTES {
        return Err(EntryError::TooLarge { len: bytes.len() });
    }
    let value = writ_model::canonical::parse_canonical(bytes)
        .map_err(|e| EntryError::NotCanonical(e.to_string()))?;
    let obj = value
        .as_object()
        .ok_or_else(|| EntryError::BadShape("it is not an object".into()))?;
    match obj.get("type") {
        Some(serde_json::Value::String(t)) if !t.is_empty() => {}
        _ => {
            return Err(EntryError::BadShape(
                "\"type\" is missing or not a string".into(),
            ));
        }
    }
    match obj.get("v") {
        Some(serde_json::Value::Number(n)) if n.is_u64() || n.is_i64() => {}
        _ => {
            return Err(EntryError::BadShape(
                "\"v\" is missing or not an integer".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_refuses() {
        assert!(validate_entry(br#"{"type":"decision","v":1}"#).is_ok());
        assert!(matches!(
            validate_entry(br#"{"v":1,"type":"decision"}"#),
            Err(EntryError::NotCanonical(_))
        ));
        assert!(matches!(
            validate_entry(br#"{"type":"decision"}"#),
            Err(EntryError::BadShape(_))
        ));
        assert!(matches!(
            validate_entry(br#"{"type":1,"v":1}"#),
            Err(EntryError::BadShape(_))
        ));
        assert!(matches!(
            validate_entry(b"[1]"),
            Err(EntryError::BadShape(_))
        ));
        let big = format!(r#"{{"pad":"{}","type":"x","v":1}}"#, "a".repeat(65_536));
        assert!(matches!(
            validate_entry(big.as_bytes()),
            Err(EntryError::TooLarge { .. })
        ));
    }

    #[test]
    fn encoded_entries_are_what_validate_entry_accepts() {
        use serde_json::json;
        let values = [
            json!({"v": 1, "type": "decision", "z": {"type": 5}, "a": "\u{e9}\n"}),
            json!({"type": "t\"q", "v": -3, "n": 1.5e3}),
        ];
        for v in &values {
            let e = Entry::encode(v).unwrap();
            validate_entry(e.as_bytes()).unwrap();
            assert_eq!(
                e.as_bytes(),
                writ_model::canonical::to_canonical_vec(v).unwrap()
            );
        }
        let refused = [
            json!({"type": "decision"}),
            json!({"type": 1, "v": 1}),
            json!({"type": "", "v": 1}),
            json!({"type": "x", "v": 1.5}),
            json!({"nested": {"type": "x", "v": 1}}),
            json!([1]),
        ];
        for v in &refused {
            assert!(
                matches!(Entry::encode(v), Err(EntryError::BadShape(_))),
                "{v}"
            );
        }
        let big = json!({"pad": "a".repeat(65_536), "type": "x", "v": 1});
        assert!(matches!(
            Entry::encode(&big),
            Err(EntryError::TooLarge { .. })
        ));
    }
}
