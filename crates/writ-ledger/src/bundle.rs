//! The proof bundle (`writ.proof/v1`) and consistency proof JSON of DESIGN.md, and their
//! offline verification.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::checkpoint::SignedCheckpoint;
use crate::commitment::Disclosure;
use crate::error::{BundleError, ProofError};
use crate::hash::{Hash, leaf_hash};
use crate::note::Ed25519Verifier;
use crate::proof::{verify_consistency, verify_inclusion};

/// The `format` value of a proof bundle.
pub const PROOF_FORMAT: &str = "writ.proof/v1";

/// The log a bundle belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleLog {
    /// The log's origin.
    pub origin: String,
    /// The log's verifier key, `origin+hexid+base64`.
    pub vkey: String,
}

/// One entry of a bundle with its audit path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleEntry {
    /// Leaf index.
    pub index: u64,
    /// The entry bytes, standard base64.
    pub entry_b64: String,
    /// RFC 6962 leaf hash, standard base64.
    pub leaf_hash_b64: String,
    /// Audit path against the bundle's checkpoint.
    pub inclusion_b64: Vec<String>,
}

/// A `writ.proof/v1` proof bundle: everything needed to check entries offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProofBundle {
    /// Always `writ.proof/v1`.
    pub format: String,
    /// The log.
    pub log: BundleLog,
    /// The signed checkpoint note.
    pub checkpoint: String,
    /// The entries with inclusion proofs.
    pub entries: Vec<BundleEntry>,
    /// The writ (JWS compact), when the bundle is about an execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writ: Option<String>,
    /// The JWKS that verifies the writ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// The clear values behind entries' commitments that the caller may read (entries v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disclosures: Option<Vec<Disclosure>>,
}

/// One verified entry of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEntry {
    /// Leaf index.
    pub index: u64,
    /// The entry bytes.
    pub entry: Vec<u8>,
}

/// A bundle whose checkpoint signature and every inclusion proof checked out.
#[derive(Debug, Clone)]
pub struct VerifiedBundle {
    /// The verified checkpoint.
    pub checkpoint: SignedCheckpoint,
    /// The verified entries.
    pub entries: Vec<VerifiedEntry>,
    /// The disclosures, each checked against its entry's commitment.
    pub disclosures: Vec<Disclosure>,
}

fn b64(s: &str, what: &str) -> Result<Vec<u8>, BundleError> {
    B64.decode(s)
        .map_err(|_| BundleError::Malformed(format!("{what} is not standard base64")))
}

impl ProofBundle {
    /// Parses bundle JSON.
    pub fn from_json(bytes: &[u8]) -> Result<ProofBundle, BundleError> {
        let b: ProofBundle =
            serde_json::from_slice(bytes).map_err(|e| BundleError::Malformed(e.to_string()))?;
        if b.format != PROOF_FORMAT {
            return Err(BundleError::Malformed(format!(
                "format is {:?}, expected {PROOF_FORMAT:?}",
                b.format
            )));
        }
        Ok(b)
    }

    /// Verifies the bundle offline. `trusted_vkey` pins the log key; without it the bundle's own
    /// key is used, which only proves internal consistency.
    pub fn verify(&self, trusted_vkey: Option<&str>) -> Result<VerifiedBundle, BundleError> {
        if self.format != PROOF_FORMAT {
            return Err(BundleError::Malformed(format!(
                "format is {:?}, expected {PROOF_FORMAT:?}",
                self.format
            )));
        }
        if let Some(t) = trusted_vkey
            && t.trim() != self.log.vkey
        {
            return Err(BundleError::UntrustedKey {
                got: self.log.vkey.clone(),
                want: t.trim().to_owned(),
            });
        }
        let verifier = Ed25519Verifier::from_vkey(&self.log.vkey)?;
        let cp = SignedCheckpoint::open(&self.checkpoint, &verifier)?;
        if cp.checkpoint().origin != self.log.origin {
            return Err(BundleError::Malformed(format!(
                "log.origin {:?} differs from the checkpoint's origin {:?}",
                self.log.origin,
                cp.checkpoint().origin
            )));
        }
        let mut entries = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            let entry = b64(&e.entry_b64, "entry_b64")?;
            let lh = b64(&e.leaf_hash_b64, "leaf_hash_b64")?;
            if lh.as_slice() != leaf_hash(&entry).as_slice() {
                return Err(BundleError::LeafHashMismatch { index: e.index });
            }
            let proof = e
                .inclusion_b64
                .iter()
                .map(|p| b64(p, "inclusion_b64"))
                .collect::<Result<Vec<_>, _>>()?;
            verify_inclusion(e.index, cp.size(), &lh, &proof, cp.root()).map_err(|source| {
                BundleError::Inclusion {
                    index: e.index,
                    source,
                }
            })?;
            entries.push(VerifiedEntry {
                index: e.index,
                entry,
            });
        }
        let disclosures = self.disclosures.clone().unwrap_or_default();
        for d in &disclosures {
            let entry = entries.iter().find(|e| e.index == d.index).ok_or_else(|| {
                BundleError::Malformed(format!(
                    "disclosure {} names no entry of the bundle",
                    d.index
                ))
            })?;
            d.check_entry(&entry.entry)?;
        }
        Ok(VerifiedBundle {
            checkpoint: cp,
            entries,
            disclosures,
        })
    }
}

/// A consistency proof between two tree sizes, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    /// The older size.
    pub size1: u64,
    /// The newer size.
    pub size2: u64,
    /// Root at `size1`, base64.
    pub root1_b64: String,
    /// Root at `size2`, base64.
    pub root2_b64: String,
    /// The proof hashes, base64.
    pub hashes_b64: Vec<String>,
}

impl ConsistencyProof {
    /// Builds the JSON form.
    pub fn new(size1: u64, size2: u64, root1: &Hash, root2: &Hash, hashes: &[Hash]) -> Self {
        ConsistencyProof {
            size1,
            size2,
            root1_b64: B64.encode(root1),
            root2_b64: B64.encode(root2),
            hashes_b64: hashes.iter().map(|h| B64.encode(h)).collect(),
        }
    }

    /// Checks the proof between its own roots. Pair it with checkpoints you trust: the roots
    /// here are only as good as where they came from.
    pub fn verify(&self) -> Result<(), BundleError> {
        let r1 = b64(&self.root1_b64, "root1_b64")?;
        let r2 = b64(&self.root2_b64, "root2_b64")?;
        let hashes = self
            .hashes_b64
            .iter()
            .map(|h| b64(h, "hashes_b64"))
            .collect::<Result<Vec<_>, _>>()?;
        verify_consistency(self.size1, self.size2, &r1, &r2, &hashes)
            .map_err(BundleError::Consistency)
    }

    /// Checks the proof between two checkpoints (sizes and roots must be theirs).
    pub fn verify_between(
        &self,
        old: &SignedCheckpoint,
        new: &SignedCheckpoint,
    ) -> Result<(), BundleError> {
        if old.size() != self.size1
            || new.size() != self.size2
            || self.root1_b64 != B64.encode(old.root())
            || self.root2_b64 != B64.encode(new.root())
        {
            return Err(BundleError::Consistency(ProofError::RootMismatch));
        }
        self.verify()
    }
}
