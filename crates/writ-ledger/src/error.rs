//! Errors of the ledger, one enum per concern, each with a stable `reason_code()`.

use thiserror::Error;

/// A proof could not be generated or did not verify.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is outside a tree of size {size}; ask for an index below the size")]
    IndexOutOfRange {
        /// The leaf index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The two sizes of a consistency proof are not in order, or the first is zero.
    #[error(
        "cannot prove consistency from size {size1} to size {size2}; the first size must be at least 1 and at most the second"
    )]
    BadSizes {
        /// The older tree size.
        size1: u64,
        /// The newer tree size.
        size2: u64,
    },
    /// The proof has the wrong number of hashes for the sizes.
    #[error(
        "the proof has {got} hashes where {want} are needed; it does not belong to these sizes"
    )]
    WrongProofSize {
        /// Hashes in the proof.
        got: usize,
        /// Hashes the sizes require.
        want: usize,
    },
    /// A hash does not have 32 bytes.
    #[error("a hash has {len} bytes instead of 32; the proof or leaf hash is malformed")]
    BadHashLength {
        /// The length found.
        len: usize,
    },
    /// The recomputed root differs from the expected root.
    #[error(
        "the proof does not lead to the expected root; the entry or the checkpoint is not genuine"
    )]
    RootMismatch,
    /// The hash reader could not provide a node.
    #[error(
        "the tree node at level {level}, index {index} is not available; the tree is smaller than asked"
    )]
    MissingNode {
        /// Tree level (0 = leaves).
        level: u8,
        /// Node index at that level.
        index: u64,
    },
}

impl ProofError {
    /// A short, stable code for metrics, audit records and API responses.
    pub fn reason_code(&self) -> writ_model::ReasonCode {
        match self {
            ProofError::IndexOutOfRange { .. } => writ_model::ReasonCode::ProofIndexOutOfRange,
            ProofError::BadSizes { .. } => writ_model::ReasonCode::ProofBadSizes,
            ProofError::WrongProofSize { .. } => writ_model::ReasonCode::ProofWrongSize,
            ProofError::BadHashLength { .. } => writ_model::ReasonCode::ProofBadHashLength,
            ProofError::RootMismatch => writ_model::ReasonCode::ProofRootMismatch,
            ProofError::MissingNode { .. } => writ_model::ReasonCode::ProofMissingNode,
        }
    }
}

/// A signed note, verifier key, signing key or checkpoint is malformed or does not verify.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NoteError {
    /// The note text or its signature block is malformed.
    #[error("malformed signed note: {0}")]
    Malformed(String),
    /// A verifier key (`name+hexid+base64`) is malformed.
    #[error("malformed verifier key: {0}; expected the vkey form name+hexid+base64")]
    BadVerifierKey(String),
    /// A signer key is malformed.
    #[error("malformed signer key: {0}; expected PRIVATE+KEY+name+hexid+base64")]
    BadSignerKey(String),
    /// No signature in the note was made by the expected key.
    #[error("the note carries no signature by {name}+{key_id:08x}; check the verifier key")]
    NoSignatureByKey {
        /// The key name expected.
        name: String,
        /// The key id expected.
        key_id: u32,
    },
    /// A signature line by the expected key does not verify.
    #[error(
        "the signature by {name} does not verify; the note was altered or signed by another key"
    )]
    BadSignature {
        /// The key name.
        name: String,
    },
    /// The checkpoint body is not a C2SP tlog-checkpoint.
    #[error("malformed checkpoint: {0}")]
    BadCheckpoint(String),
    /// The checkpoint's origin is not the expected log's.
    #[error("the checkpoint is for origin {got:?}, not {want:?}")]
    WrongOrigin {
        /// Origin found.
        got: String,
        /// Origin expected.
        want: String,
    },
}

impl NoteError {
    /// A short, stable code for metrics, audit records and API responses.
    pub fn reason_code(&self) -> writ_model::ReasonCode {
        match self {
            NoteError::Malformed(_) => writ_model::ReasonCode::NoteMalformed,
            NoteError::BadVerifierKey(_) => writ_model::ReasonCode::NoteBadVkey,
            NoteError::BadSignerKey(_) => writ_model::ReasonCode::NoteBadSkey,
            NoteError::NoSignatureByKey { .. } => writ_model::ReasonCode::NoteNoSignature,
            NoteError::BadSignature { .. } => writ_model::ReasonCode::NoteBadSignature,
            NoteError::BadCheckpoint(_) => writ_model::ReasonCode::CheckpointMalformed,
            NoteError::WrongOrigin { .. } => writ_model::ReasonCode::CheckpointWrongOrigin,
        }
    }
}

/// An entry was refused before anything was written.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EntryError {
    /// The entry is larger than the 65,535 bytes a tile entry bundle can hold.
    #[error(
        "the entry has {len} bytes, over the limit of 65535; store large values by digest, not inline"
    )]
    TooLarge {
        /// Length of the refused entry.
        len: usize,
    },
    /// The entry is not RFC 8785 canonical JSON.
    #[error("the entry is not RFC 8785 canonical JSON ({0}); canonicalize it before appending")]
    NotCanonical(String),
    /// The entry is JSON but not an object with a string `type` and an integer `v`.
    #[error("the entry must be a JSON object with a string \"type\" and an integer \"v\": {0}")]
    BadShape(String),
    /// The private part of a v2 entry could not be committed to.
    #[error("the entry's private part cannot be committed to: {0}")]
    Commitment(String),
}

impl EntryError {
    /// A short, stable code for metrics, audit records and API responses.
    pub fn reason_code(&self) -> writ_model::ReasonCode {
        match self {
            EntryError::TooLarge { .. } => writ_model::ReasonCode::LedgerEntryTooLarge,
            EntryError::NotCanonical(_) => writ_model::ReasonCode::EntryNotCanonical,
            EntryError::BadShape(_) => writ_model::ReasonCode::EntryBadShape,
            EntryError::Commitment(_) => writ_model::ReasonCode::EntryCommitment,
        }
    }
}

/// A tile, tile path or entry bundle is malformed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TileError {
    /// A tile's bytes are not a whole number of hashes, or too many.
    #[error("a hash tile has {len} bytes; it must be 32 × width with width 1..=256")]
    BadTileLength {
        /// Length found.
        len: usize,
    },
    /// An entry bundle is truncated or over-long.
    #[error("malformed entry bundle: {0}")]
    BadBundle(String),
    /// An entry cannot be put in a bundle.
    #[error("an entry of {len} bytes does not fit the uint16 length prefix of an entry bundle")]
    EntryTooLarge {
        /// Length of the entry.
        len: usize,
    },
}

impl TileError {
    /// A short, stable code for metrics, audit records and API responses.
    pub fn reason_code(&self) -> writ_model::ReasonCode {
        match self {
            TileError::BadTileLength { .. } => writ_model::ReasonCode::TileBadLength,
            TileError::BadBundle(_) => writ_model::ReasonCode::TileBadBundle,
            TileError::EntryTooLarge { .. } => writ_model::ReasonCode::TileEntryTooLarge,
        }
    }
}

/// A proof bundle (`writ.proof/v1`) or consistency proof JSON is malformed or does not verify.
#[derive(Debug, Error)]
pub enum BundleError {
    /// The JSON is not a proof bundle.
    #[error("malformed proof bundle: {0}")]
    Malformed(String),
    /// The bundle's log key is not the key the caller trusts.
    #[error(
        "the bundle names log key {got:?}, not the trusted {want:?}; fetch the log's vkey out of band"
    )]
    UntrustedKey {
        /// Key in the bundle.
        got: String,
        /// Key trusted by the caller.
        want: String,
    },
    /// The checkpoint does not verify.
    #[error("the bundle's checkpoint does not verify: {0}")]
    Checkpoint(#[from] NoteError),
    /// An entry's leaf hash is not the hash of its bytes.
    #[error("entry {index}: leaf_hash_b64 is not the hash of entry_b64")]
    LeafHashMismatch {
        /// The entry's index.
        index: u64,
    },
    /// An entry's inclusion proof does not verify.
    #[error("entry {index}: the inclusion proof does not verify: {source}")]
    Inclusion {
        /// The entry's index.
        index: u64,
        /// Why.
        source: ProofError,
    },
    /// A consistency proof does not verify.
    #[error("the consistency proof does not verify: {0}")]
    Consistency(ProofError),
    /// A disclosure does not match its entry's commitment.
    #[error(transparent)]
    Disclosure(#[from] DisclosureError),
}

impl BundleError {
    /// A short, stable code for metrics, audit records and API responses.
    pub fn reason_code(&self) -> writ_model::ReasonCode {
        match self {
            BundleError::Malformed(_) => writ_model::ReasonCode::BundleMalformed,
            BundleError::UntrustedKey { .. } => writ_model::ReasonCode::BundleUntrustedKey,
            BundleError::Checkpoint(_) => writ_model::ReasonCode::BundleBadCheckpoint,
            BundleError::LeafHashMismatch { .. } => writ_model::ReasonCode::BundleLeafHashMismatch,
            BundleError::Inclusion { .. } => writ_model::ReasonCode::BundleBadInclusion,
            BundleError::Consistency(_) => writ_model::ReasonCode::BundleBadConsistency,
            BundleError::Disclosure(e) => e.reason_code(),
        }
    }
}

/// What the ledger (storage, key, integration) can fail with.
#[derive(Debug, Error)]
pub enum LedgerError {
    /// The entry was refused; nothing was written.
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// A proof could not be generated.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// A note or key problem.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// A tile problem.
    #[error(transparent)]
    Tile(#[from] TileError),
    /// The SQLite store failed.
    #[error("ledger storage failed: {0}; check the disk and the store directory")]
    Storage(#[from] rusqlite::Error),
    /// The PostgreSQL store failed (connection, query or commit).
    #[error("ledger database failed: {0}; check the database and its URL")]
    Database(String),
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The directory holds no ledger.
    #[error("{0} holds no ledger; create one with `writ ledger init {0}`")]
    NotInitialized(String),
    /// The directory already holds a ledger.
    #[error("{0} already holds a ledger; pick an empty directory")]
    AlreadyInitialized(String),
    /// The log key file can be read by others.
    #[error(
        "the log key {path} has mode {mode:o}; it must be readable by its owner only (chmod 600 {path})"
    )]
    KeyPermissions {
        /// The key file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The store does not verify.
    #[error("the ledger does not verify: {0}")]
    Tampered(String),
    /// A size beyond the current tree was asked for.
    #[error("size {size} is beyond the ledger's current size {current}")]
    SizeTooLarge {
        /// Size asked for.
        size: u64,
        /// The ledger's size.
        current: u64,
    },
    /// No signed checkpoint was published at exactly this size.
    #[error("no checkpoint was published at size {0}; pick the size of a published checkpoint")]
    NoCheckpointAtSize(u64),
    /// The writer thread has stopped (after a storage failure or on shutdown).
    #[error("the ledger writer has stopped; reopen the ledger")]
    WriterStopped,
    /// A batch commit failed; the entries of the batch were not recorded.
    #[error("the batch was not recorded: {0}")]
    CommitFailed(String),
    /// The store's schema version cannot be read or is newer than this release's.
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

impl LedgerError {
    /// A short, stable code for metrics, audit records and API responses.
    pub fn reason_code(&self) -> writ_model::ReasonCode {
        match self {
            LedgerError::Entry(e) => e.reason_code(),
            LedgerError::Proof(e) => e.reason_code(),
            LedgerError::Note(e) => e.reason_code(),
            LedgerError::Tile(e) => e.reason_code(),
            LedgerError::Storage(_) | LedgerError::Database(_) => {
                writ_model::ReasonCode::LedgerStorage
            }
            LedgerError::Io { .. } => writ_model::ReasonCode::LedgerIo,
            LedgerError::NotInitialized(_) => writ_model::ReasonCode::LedgerNotInitialized,
            LedgerError::AlreadyInitialized(_) => writ_model::ReasonCode::LedgerAlreadyInitialized,
            LedgerError::KeyPermissions { .. } => writ_model::ReasonCode::LedgerKeyPermissions,
            LedgerError::Tampered(_) => writ_model::ReasonCode::LedgerTampered,
            LedgerError::SizeTooLarge { .. } => writ_model::ReasonCode::LedgerSizeTooLarge,
            LedgerError::NoCheckpointAtSize(_) => writ_model::ReasonCode::LedgerNoCheckpointAtSize,
            LedgerError::WriterStopped => writ_model::ReasonCode::LedgerWriterStopped,
            LedgerError::CommitFailed(_) => writ_model::ReasonCode::LedgerCommitFailed,
            LedgerError::Schema(e) => e.reason_code(),
        }
    }

    /// True when the caller's input was at fault (a refused entry, a bad size or index).
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            LedgerError::Entry(_)
                | LedgerError::SizeTooLarge { .. }
                | LedgerError::NoCheckpointAtSize(_)
                | LedgerError::Proof(
                    ProofError::IndexOutOfRange { .. } | ProofError::BadSizes { .. }
                )
        )
    }
}

pub(crate) fn io_error(path: &std::path::Path, source: std::io::Error) -> LedgerError {
    LedgerError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A disclosure (committed evidence) is malformed or does not match its entry's commitment.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DisclosureError {
    /// The salt is not 32 bytes of standard base64.
    #[error("disclosure {index}: salt_b64 is not 32 bytes of standard base64")]
    BadSalt {
        /// The entry's index.
        index: u64,
    },
    /// The private object cannot be canonicalized.
    #[error("{0}")]
    NotCanonical(String),
    /// The entry has no commitment to check against.
    #[error("entry {index} carries no commitment, so nothing can be disclosed for it")]
    NoCommitment {
        /// The entry's index.
        index: u64,
    },
    /// The disclosure does not recompute to the entry's commitment.
    #[error("disclosure {index} does not match its entry's commitment")]
    Mismatch {
        /// The entry's index.
        index: u64,
    },
    /// The operating system's random generator failed.
    #[error("cannot draw a salt: {0}")]
    Randomness(String),
}

impl DisclosureError {
    /// A short, stable code for metrics, audit records and API responses.
    pub fn reason_code(&self) -> writ_model::ReasonCode {
        match self {
            DisclosureError::BadSalt { .. } => writ_model::ReasonCode::DisclosureBadSalt,
            DisclosureError::NotCanonical(_) => writ_model::ReasonCode::DisclosureNotCanonical,
            DisclosureError::NoCommitment { .. } => writ_model::ReasonCode::DisclosureNoCommitment,
            DisclosureError::Mismatch { .. } => writ_model::ReasonCode::DisclosureMismatch,
            DisclosureError::Randomness(_) => writ_model::ReasonCode::DisclosureRandomness,
        }
    }
}

/// A SQLite store's schema version (`PRAGMA user_version`) is unusable.
#[derive(Debug, Error)]
pub enum SchemaError {
    /// The store was written by a newer release.
    #[error(
        "{path} is at schema version {found}, but this release of writ reads stores up to schema version {supported}: it was written by a newer writ. Run that release (or a newer one) on this data directory, or restore a backup taken before the upgrade with `writ restore`"
    )]
    Newer {
        /// The store's file.
        path: String,
        /// The version recorded in the store.
        found: i64,
        /// The newest version this release reads.
        supported: i64,
    },
    /// The version could not be read.
    #[error("cannot read the schema version of {path}: {source}; check the file is a Writ store")]
    Unreadable {
        /// The store's file.
        path: String,
        /// The SQLite error.
        source: rusqlite::Error,
    },
}

impl SchemaError {
    /// A short, stable code for metrics, audit records and API responses.
    pub fn reason_code(&self) -> writ_model::ReasonCode {
        match self {
            SchemaError::Newer { .. } => writ_model::ReasonCode::StoreNewerSchema,
            SchemaError::Unreadable { .. } => writ_model::ReasonCode::StoreSchemaUnreadable,
        }
    }
}
