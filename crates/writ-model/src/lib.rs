//! The vocabulary of Writ, shared by every other crate: identifiers, intents, lineage,
//! RFC 8785 canonical JSON and SHA-256 digests, the Ed25519 signing the writ and the ledger
//! share, and the [`Clock`] trait.
//!
//! This crate does no I/O. It sits under all four stages of verify → authorize → execute →
//! prove: whatever is hashed, signed or compared across parts is defined here once.
//!
//! ```
//! use writ_model::{Intent, canonical::to_canonical_string};
//! let intent = Intent::new("exec", "cmd:/usr/bin/git", serde_json::json!({"argv": ["status"]}));
//! let digest = intent.digest().unwrap();
//! assert_eq!(digest.args_sha256.len(), 64);
//! assert_eq!(to_canonical_string(&serde_json::json!({"b":1,"a":2})).unwrap(), r#"{"a":2,"b":1}"#);
//! ```

pub mod canonical;
pub mod clock;
pub mod decision;
pub mod digest;
pub mod ed25519;
pub mod entries;
pub mod env;
pub mod error;
pub mod ids;
pub mod intent;
pub mod lineage;
pub mod number;
pub mod prometheus;
pub mod reason;
pub mod receipt;
pub mod request;

pub use clock::{Clock, FixedClock, SystemClock};
pub use decision::{Decision, DecisionCode, DecisionRecord, DecisionRecordType};
pub use env::{Containment, EnvironmentAttestation, EnvironmentClaims};
pub use error::{CanonicalError, IdError};
pub use ids::{ExecutionId, GateId, PrincipalId, PrincipalKind, ZoneId};
pub use intent::{Intent, IntentDigest};
pub use lineage::{Lineage, LineageNode, LineageOutcome, TraceParent};
pub use number::{CanonicalNumber, NumberError};
pub use reason::{ReasonCode, UnknownReasonCode};
pub use receipt::{Outcome, Receipt, ReceiptBody, ReceiptType};
pub use request::{Actor, AuthorizeRequest, PrincipalEntity};
