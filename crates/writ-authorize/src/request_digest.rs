//! The request digest on the decision path: `request_sha256` is the SHA-256 of the request's
//! RFC 8785 canonical JSON, written by `writ_model::canonical` (the one canonical writer, held
//! byte for byte to a reference implementation by its own property test). The decision path
//! keeps the canonical bytes, so the ledger entry can be written around them
//! (`decide_with_entry`).

use serde::Serialize;
use writ_model::canonical::to_canonical_vec;
use writ_model::digest::sha256_hex;

/// The RFC 8785 canonical JSON of `value`; `None` if it cannot be encoded.
pub fn canonical_bytes<T: Serialize>(value: &T) -> Option<Vec<u8>> {
    to_canonical_vec(value).ok()
}

/// The RFC 8785 canonical JSON of a request (its own writer, equal to [`canonical_bytes`]);
/// `None` if it cannot be encoded.
pub fn request_canonical(request: &writ_model::AuthorizeRequest) -> Option<Vec<u8>> {
    request.to_canonical().ok()
}

/// Lowercase hex SHA-256 of the RFC 8785 canonical JSON of `value`; `None` if it cannot be
/// encoded.
pub fn canonical_sha256<T: Serialize>(value: &T) -> Option<String> {
    canonical_bytes(value).map(|b| sha256_hex(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use writ_model::digest::canonical_sha256_hex;

    #[test]
    fn is_the_model_digest_of_the_canonical_form() {
        let v = json!({"principal": "agent:a", "intent": {"action": "exec", "resource": "cmd:/x",
                       "args": {"argv": ["-l", "\u{1}"], "n": -9007199254740992i64, "f": 1.5}},
                       "env": {"zone": "z", "gate": "gate:g"}});
        assert_eq!(canonical_sha256(&v), canonical_sha256_hex(&v).ok());
        assert_eq!(
            canonical_bytes(&json!({"b": 1, "a": [true, null]})).unwrap(),
            br#"{"a":[true,null],"b":1}"#
        );
    }
}
