//! SHA-256 digests as Writ writes them: lowercase hex.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::canonical::to_canonical_vec;
use crate::error::CanonicalError;

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha256(bytes))
}

/// Lowercase hex SHA-256 of the RFC 8785 canonical JSON of `value`.
pub fn canonical_sha256_hex<T: Serialize>(value: &T) -> Result<String, CanonicalError> {
    Ok(sha256_hex(&to_canonical_vec(value)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_object_digest() {
        // args_sha256 of a call without arguments is the digest of `{}`.
        assert_eq!(
            canonical_sha256_hex(&serde_json::json!({})).unwrap(),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }
}
