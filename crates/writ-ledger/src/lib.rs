//! The append-only evidence ledger of Writ: the **prove** stage of
//! verify → authorize → execute → prove.
//!
//! - Pure math, no I/O: [`hash`] (RFC 6962 / RFC 9162 tree hashing), [`proof`] (inclusion and
//!   consistency proofs generated from any [`proof::HashReader`] and verified with the edge
//!   rules of the shared conformance vectors), [`note`] (C2SP signed-note with Ed25519, `vkey`
//!   keys), [`checkpoint`] (C2SP tlog-checkpoint), [`tiles`] (C2SP tlog-tiles paths, hash tiles,
//!   entry bundles), [`bundle`] (the `writ.proof/v1` proof bundle and consistency proof JSON).
//! - Storage: [`store::LogStore`] / [`store::LogReader`], on SQLite ([`store::SqliteStore`]) or
//!   PostgreSQL ([`pg::PgStore`]); [`integrate`] is the pure Merkle step; [`Ledger`] group-commits
//!   appends from many threads, integrates each batch and signs a checkpoint in the same
//!   durable transaction, and serves proofs, tiles and verification.
//!
//! ```
//! use writ_ledger::{Ledger, bundle::ProofBundle};
//! let dir = tempfile::tempdir().unwrap();
//! let ledger = Ledger::init(dir.path(), "example.com/ledger").unwrap();
//! let index = ledger.append_durable(br#"{"type":"decision","v":1}"#).unwrap();
//! let bundle = ledger.proof_bundle(&[index], None).unwrap();
//! let json = serde_json::to_vec(&bundle).unwrap();
//! let checked = ProofBundle::from_json(&json).unwrap().verify(Some(&ledger.vkey())).unwrap();
//! assert_eq!(checked.entries[0].index, index);
//! ```

pub mod bundle;
pub mod checkpoint;
pub mod commitment;
pub mod entry;
pub mod error;
pub mod evidence;
pub mod hash;
pub mod integrate;
pub mod ledger;
pub mod note;
pub mod off_runtime;
pub mod owner_only;
pub mod pg;
pub mod proof;
pub mod schema_version;
pub mod store;
pub mod tiles;
pub mod verify;

pub use bundle::{ConsistencyProof, ProofBundle, VerifiedBundle};
pub use checkpoint::{Checkpoint, SignedCheckpoint};
pub use commitment::Disclosure;
pub use entry::Entry;
pub use error::{
    BundleError, DisclosureError, EntryError, LedgerError, NoteError, ProofError, SchemaError,
    TileError,
};
pub use hash::{Hash, leaf_hash, node_hash};
pub use ledger::{
    AppendCallback, AppendHandle, AppendReceipt, AssignCallback, CommitLatency, ExportReport,
    IntegrationInfo, Ledger,
};
pub use note::{Ed25519Signer, Ed25519Verifier, NoteSigner, NoteVerifier};
pub use verify::{VerifyReport, verify_dir};
