//! What a ledger entry may be: RFC 8785 canonical JSON, an object with a string `type` and an
//! integer `v`, at most 65,535 bytes.

use crate::error::EntryError;

/// The largest entry, in bytes: the uint16 length prefix of a tile entry bundle.
pub const MAX_ENTRY_BYTES: usize = 65_535;

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
}
