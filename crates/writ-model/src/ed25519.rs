//! Ed25519 signing (RFC 8032) through AWS-LC, for the two keys on the authorize path: the writ
//! key (one signature per writ) and the log key (one per checkpoint).
//!
//! Ed25519 signatures are deterministic, so these are the same bytes `ed25519-dalek` produces
//! for the same key and message (a test holds them equal); AWS-LC's assembly field arithmetic
//! takes about half the time. Keys are still parsed, stored and verified with `ed25519-dalek`
//! by their owners; this only signs.

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use ed25519_dalek::{Signer as _, SigningKey};

/// An Ed25519 signing key: the `ed25519-dalek` key its owner stores and derives the public key
/// from, and the same key loaded into AWS-LC, which signs.
pub struct Ed25519Signing {
    key: SigningKey,
    /// `None` only if AWS-LC refused the key; `ed25519-dalek` signs then.
    fast: Option<Ed25519KeyPair>,
}

impl std::fmt::Debug for Ed25519Signing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed25519Signing")
            .field("public", &hex::encode(self.key.verifying_key().as_bytes()))
            .finish_non_exhaustive()
    }
}

impl Ed25519Signing {
    /// The key with this 32-byte seed (RFC 8032 private key).
    pub fn from_seed(seed: &[u8; 32]) -> Ed25519Signing {
        let key = SigningKey::from_bytes(seed);
        let public = key.verifying_key().to_bytes();
        // AWS-LC checks the public key it derives against the one given.
        let fast = Ed25519KeyPair::from_seed_and_public_key(seed, &public)
            .ok()
            .filter(|pair| pair.public_key().as_ref() == public.as_slice());
        Ed25519Signing { key, fast }
    }

    /// The key as `ed25519-dalek` holds it (public key, stored forms).
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The 64-byte signature of `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.fast
            .as_ref()
            .and_then(|pair| pair.sign(msg).as_ref().try_into().ok())
            .unwrap_or_else(|| self.key.sign(msg).to_bytes())
    }

    /// Whether AWS-LC signs (it always should; for the test).
    #[cfg(test)]
    fn is_fast(&self) -> bool {
        self.fast.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_the_bytes_ed25519_dalek_makes() {
        // Seeds and message lengths spread over what a test can afford; every pair must agree.
        let mut seed = [0u8; 32];
        let mut msg = Vec::new();
        for i in 0..200u32 {
            for (k, b) in seed.iter_mut().enumerate() {
                *b = (i.wrapping_mul(2_654_435_761).rotate_left(k as u32) >> 3) as u8 ^ k as u8;
            }
            msg.push((i * 7) as u8);
            let signing = Ed25519Signing::from_seed(&seed);
            assert!(signing.is_fast(), "AWS-LC refused seed {i}");
            let dalek = ed25519_dalek::SigningKey::from_bytes(&seed);
            assert_eq!(
                signing.sign(&msg),
                dalek.sign(&msg).to_bytes(),
                "seed {i}, message of {} bytes",
                msg.len()
            );
            assert_eq!(signing.key().to_bytes(), seed);
        }
    }
}
