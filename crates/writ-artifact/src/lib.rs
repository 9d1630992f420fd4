//! Writs: the signed, short-lived authorization for one allowed action, and the offline
//! verifier every gate links.
//!
//! In the flow verify → authorize → **writ** → execute → prove, the control plane calls
//! [`Issuer::issue`] once a decision is allowed and recorded; a gate calls
//! [`Verifier::verify`] (or [`Verifier::verify_call`]) with the call it is about to make and
//! runs it only on `Ok`. A writ is a JWS compact serialization (RFC 7515) signed with
//! Ed25519 (RFC 8037), header `{"alg":"EdDSA","typ":"writ+jwt","kid":KID}`, with the claims
//! of DESIGN.md ("The writ"). Keys rotate with overlap in a [`KeyRing`] and are published as
//! a [`Jwks`]. Every refusal is a [`VerifyError`] with a stable `reason_code()`.
//!
//! This crate does no network I/O and reads time only through [`writ_model::Clock`]; the
//! only file access is the optional key file helpers ([`WritKey::write_file`]).
//!
//! ```
//! use std::sync::Arc;
//! use writ_artifact::*;
//! use writ_model::{FixedClock, Intent, Lineage, ExecutionId};
//!
//! let clock = Arc::new(FixedClock::new(1_700_000_000));
//! let ring = Arc::new(KeyRing::new(WritKey::from_seed(&[7; 32]), DEFAULT_LEEWAY_SECS));
//! let issuer = Issuer::new(ring.clone(), clock.clone(), IssuerConfig::new("writ:cp"));
//! let call = Intent::new("exec", "cmd:/usr/bin/git", serde_json::json!({"argv": ["status"]}));
//! let writ = issuer.issue(IssueRequest {
//!     sub: "agent:triage".parse().unwrap(),
//!     act: None,
//!     aud: "gate:runner".parse().unwrap(),
//!     intent: call.digest().unwrap(),
//!     env: Env { zone: "sandbox".parse().unwrap(), attestation_sha256: "0".repeat(64) },
//!     policy: PolicyInfo { bundle_sha256: "1".repeat(64), engine: "cedar-4".into(), determining: vec!["p1".into()] },
//!     scope: Scope::default(),
//!     lineage: Lineage::root(ExecutionId::new_v7()),
//!     ledger: LedgerRef { origin: "writ.example/log".into(), index: 17 },
//!     lifetime_secs: None,
//! }).unwrap();
//!
//! let gate = Verifier::new(ring.verification_keys(1_700_000_000),
//!     VerifierConfig::new("gate:runner".parse().unwrap()), clock)
//!     .with_replay_cache(Arc::new(ReplayCache::new(10_000)));
//! assert!(gate.verify_call(&writ.token, &call).is_ok());
//! // max_uses is 1: the same writ is refused the second time.
//! let err = gate.verify_call(&writ.token, &call).unwrap_err();
//! assert_eq!(err.reason_code(), "writ_replayed");
//! ```

pub mod claims;
pub mod error;
pub mod issue;
pub mod jws;
pub mod keys;
pub mod replay;
pub mod revocation;
pub mod scope;
pub mod verify;

pub use claims::{Act, Env, LedgerRef, PolicyInfo, WritClaims};
pub use error::{DelegationError, IssueError, KeyError, VerifyError};
pub use issue::{ChildRequest, IssueRequest, IssuedWrit, Issuer, IssuerConfig};
pub use jws::{Header, UnverifiedWrit, decode_unverified};
pub use keys::{Jwk, Jwks, KeyRing, Rotation, VerificationKeys, WritKey, thumbprint};
pub use replay::ReplayCache;
pub use revocation::RevocationSet;
pub use scope::{DelegationGrant, FsScope, Pattern, Scope};
pub use verify::{DEFAULT_LEEWAY_SECS, VerifiedWrit, Verifier, VerifierConfig, verify_as_evidence};
