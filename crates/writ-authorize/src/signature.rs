//! Bundle signatures and activation: an [`ActiveBundle`] exists only once its signature by a
//! trusted bundle-signing key has been checked.

use std::ops::Deref;
use std::sync::{Arc, RwLock};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use writ_model::digest::sha256_hex;

use crate::bundle::{Bundle, BundleSource, compile};
use crate::error::{BundleError, KeyError};

/// Domain separation for bundle signatures.
const SIGNING_CONTEXT: &str = "writ.bundle/v1 signature\n";

fn message(digest: &str) -> Vec<u8> {
    let mut m = SIGNING_CONTEXT.as_bytes().to_vec();
    m.extend_from_slice(digest.as_bytes());
    m
}

/// What a secret bundle-signing key's text starts with (public keys are bare hex).
pub const SECRET_KEY_PREFIX: &str = "writ-bundle-secret:";

/// An Ed25519 key that signs policy bundles.
pub struct BundleSigningKey(SigningKey);

impl std::fmt::Debug for BundleSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BundleSigningKey(kid {})", self.verifying_key().kid())
    }
}

impl BundleSigningKey {
    /// A key from 32 random bytes (the caller supplies the randomness).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(SigningKey::from_bytes(&seed))
    }
    /// Reads the seed written by [`Self::to_hex`] (also without its `writ-bundle-secret:` prefix,
    /// as releases before the prefix wrote it).
    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        let s = s.trim();
        let s = s.strip_prefix(SECRET_KEY_PREFIX).unwrap_or(s);
        let bytes = hex::decode(s).map_err(|_| KeyError::SigningKey)?;
        let seed: [u8; 32] = bytes.try_into().map_err(|_| KeyError::SigningKey)?;
        Ok(Self::from_seed(seed))
    }
    /// The seed as lowercase hex after the `writ-bundle-secret:` prefix (keep it secret). The
    /// prefix lets every reader of a public key tell a secret one passed by mistake.
    pub fn to_hex(&self) -> String {
        format!("{SECRET_KEY_PREFIX}{}", hex::encode(self.0.to_bytes()))
    }
    pub fn verifying_key(&self) -> BundleVerifyingKey {
        BundleVerifyingKey(self.0.verifying_key())
    }
    /// Signs a bundle digest.
    pub fn sign(&self, bundle_sha256: &str) -> BundleSignature {
        let sig = self.0.sign(&message(bundle_sha256));
        BundleSignature {
            format: SignatureFormat::V1,
            kid: self.verifying_key().kid(),
            bundle_sha256: bundle_sha256.to_owned(),
            sig: hex::encode(sig.to_bytes()),
        }
    }
}

/// The public half of a bundle-signing key; loading trusts a list of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleVerifyingKey(VerifyingKey);

impl BundleVerifyingKey {
    /// Reads a public key: 64 hex characters (a `.pub` file of `writ policy keygen`). A secret
    /// key is refused as one (`secret_key_given`), never taken for a public key.
    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        let s = s.trim();
        if s.starts_with(SECRET_KEY_PREFIX) {
            return Err(KeyError::SecretKeyGiven);
        }
        let bytes = hex::decode(s).map_err(|_| KeyError::VerifyingKey)?;
        let raw: [u8; 32] = bytes.try_into().map_err(|_| KeyError::VerifyingKey)?;
        VerifyingKey::from_bytes(&raw)
            .map(Self)
            .map_err(|_| KeyError::VerifyingKey)
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }
    /// Key id: the first 16 hex characters of the SHA-256 of the public key.
    pub fn kid(&self) -> String {
        sha256_hex(&self.0.to_bytes())
            .get(..16)
            .unwrap_or_default()
            .to_owned()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum SignatureFormat {
    #[serde(rename = "writ.bundle-sig/v1")]
    V1,
}

/// A detached signature over a bundle digest (the `bundle.sig` file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleSignature {
    format: SignatureFormat,
    pub kid: String,
    pub bundle_sha256: String,
    /// Hex Ed25519 signature over `"writ.bundle/v1 signature\n" || bundle_sha256`.
    pub sig: String,
}

impl BundleSignature {
    pub fn parse(text: &str) -> Result<Self, BundleError> {
        serde_json::from_str(text).map_err(|e| BundleError::SignatureMalformed(e.to_string()))
    }
    /// Pretty JSON for the `bundle.sig` file.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Checks this signature for `bundle` against the trusted keys.
    pub fn verify(
        &self,
        bundle_sha256: &str,
        trusted: &[BundleVerifyingKey],
    ) -> Result<String, BundleError> {
        if self.bundle_sha256 != bundle_sha256 {
            return Err(BundleError::DigestMismatch {
                signed: self.bundle_sha256.clone(),
                actual: bundle_sha256.to_owned(),
            });
        }
        let key = trusted
            .iter()
            .find(|k| k.kid() == self.kid)
            .ok_or_else(|| BundleError::UntrustedKey {
                kid: self.kid.clone(),
            })?;
        let raw =
            hex::decode(&self.sig).map_err(|e| BundleError::SignatureMalformed(e.to_string()))?;
        let sig = Signature::from_slice(&raw)
            .map_err(|e| BundleError::SignatureMalformed(e.to_string()))?;
        key.0
            .verify_strict(&message(bundle_sha256), &sig)
            .map_err(|_| BundleError::BadSignature {
                kid: self.kid.clone(),
            })?;
        Ok(self.kid.clone())
    }
}

/// A bundle whose signature by a trusted key has been checked: the only kind a server
/// activates. Dereferences to [`Bundle`].
#[derive(Debug)]
pub struct ActiveBundle {
    bundle: Bundle,
    signed_by: String,
}

impl ActiveBundle {
    /// Key id of the key that signed it.
    pub fn signed_by(&self) -> &str {
        &self.signed_by
    }
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }
    /// The verified bundle, for callers that only decide.
    pub fn into_bundle(self) -> Bundle {
        self.bundle
    }
}

impl Deref for ActiveBundle {
    type Target = Bundle;
    fn deref(&self) -> &Bundle {
        &self.bundle
    }
}

/// Compiles, strictly validates and checks the signature of a bundle for activation.
pub fn activate(
    source: &BundleSource,
    trusted: &[BundleVerifyingKey],
) -> Result<ActiveBundle, BundleError> {
    if trusted.is_empty() {
        return Err(BundleError::NoTrustedKey);
    }
    let bundle = compile(source)?;
    let sig = BundleSignature::parse(source.signature.as_deref().ok_or(BundleError::Unsigned)?)?;
    let signed_by = sig.verify(bundle.digest(), trusted)?;
    Ok(ActiveBundle { bundle, signed_by })
}

/// Holds the active bundle. A load that fails leaves the previous bundle active.
#[derive(Debug, Default)]
pub struct ActiveBundleSlot {
    current: RwLock<Option<Arc<ActiveBundle>>>,
}

impl ActiveBundleSlot {
    pub fn new() -> Self {
        Self::default()
    }

    /// The active bundle, if one was ever loaded.
    pub fn current(&self) -> Option<Arc<ActiveBundle>> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Withdraws the active bundle: every authorization is then refused (no active bundle)
    /// until one loads. For a node that learns another node activated a bundle it cannot
    /// verify: serving the old one would not be what the fleet decided.
    pub fn clear(&self) {
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }

    /// Activates `source` if it compiles, validates and verifies; otherwise returns the error
    /// and keeps the previous bundle.
    pub fn load(
        &self,
        source: &BundleSource,
        trusted: &[BundleVerifyingKey],
    ) -> Result<Arc<ActiveBundle>, BundleError> {
        let fresh = Arc::new(activate(source, trusted)?);
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(fresh.clone());
        Ok(fresh)
    }
}
