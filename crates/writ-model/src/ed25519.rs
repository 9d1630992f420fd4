//! Ed25519 signing (RFC 8032) through AWS-LC, for the two keys on the authorize path: the writ
//! key (one signature per writ) and the log key (one per checkpoint).
//!
//! Ed25519 signatures are deterministic, so these are the same bytes `ed25519-dalek` produces
//! for the same key and message (a test holds them equal); AWS-LC's assembly field arithmetic
//! takes about half the time. Keys are still parsed, stored and verified with `ed25519-dalek`
//! by their owners; this only signs.

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};

/// A signing key held by AWS-LC.
pub struct Ed25519Signing {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for Ed25519Signing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed25519Signing")
            .field("public", &hex::encode(self.pair.public_key().as_ref()))
            .finish_non_exhaustive()
    }
}

impl Ed25519Signing {
    /// The key with this 32-byte seed, checked against the `public` key its owner derived;
    /// `None` if AWS-LC refuses the seed or derives another public key (the owner then signs
    /// with its own implementation).
    pub fn new(seed: &[u8; 32], public: &[u8; 32]) -> Option<Ed25519Signing> {
        let pair = Ed25519KeyPair::from_seed_and_public_key(seed, public).ok()?;
        (pair.public_key().as_ref() == public.as_slice()).then_some(Ed25519Signing { pair })
    }

    /// The 64-byte signature of `msg`.
    pub fn sign(&self, msg: &[u8]) -> Option<[u8; 64]> {
        self.pair.sign(msg).as_ref().try_into().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Signer as _;

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
            let dalek = ed25519_dalek::SigningKey::from_bytes(&seed);
            let public = dalek.verifying_key().to_bytes();
            let fast = Ed25519Signing::new(&seed, &public).expect("a valid seed");
            assert_eq!(
                fast.sign(&msg).expect("a signature"),
                dalek.sign(&msg).to_bytes(),
                "seed {i}, message of {} bytes",
                msg.len()
            );
        }
    }

    #[test]
    fn a_public_key_that_does_not_match_the_seed_is_refused() {
        let dalek = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let other = ed25519_dalek::SigningKey::from_bytes(&[8; 32]);
        assert!(Ed25519Signing::new(&[7; 32], &dalek.verifying_key().to_bytes()).is_some());
        assert!(Ed25519Signing::new(&[7; 32], &other.verifying_key().to_bytes()).is_none());
    }
}
