//! Authorize: Writ's deterministic, fail-closed policy decision.
//!
//! A [`Bundle`] is a Cedar schema, policies and static entities, strictly validated by
//! [`compile`] and identified by a canonical SHA-256 digest that includes the engine version.
//! [`activate`] additionally checks a detached Ed25519 signature by a trusted bundle-signing
//! key and yields an [`ActiveBundle`]; an [`ActiveBundleSlot`] keeps the previous bundle when a
//! new one is refused. [`decide`] is a pure function of (bundle, request, time): it evaluates
//! only the policies the scope index says can apply, denies on any evaluation error, and
//! returns a [`DecisionRecord`](writ_model::DecisionRecord) that [`replay`] recomputes byte for
//! byte.
//!
//! In the flow verify → **authorize** → execute → prove, this crate takes a verified request
//! and says allow or deny; the server records the decision and mints the writ.
//!
//! ```
//! use writ_authorize::{BundleSource, DEFAULT_SCHEMA, compile, decide};
//! use writ_model::{AuthorizeRequest, Decision};
//!
//! let mut src = BundleSource::default();
//! src.schemas.insert("writ.cedarschema".into(), DEFAULT_SCHEMA.into());
//! src.policies.insert("p.cedar".into(), r#"
//!     @id("git") @reason("agents may run git")
//!     permit(principal is Agent, action == Action::"exec", resource == Command::"/usr/bin/git");
//! "#.into());
//! let bundle = compile(&src).unwrap();
//! let req: AuthorizeRequest = serde_json::from_value(serde_json::json!({
//!     "principal": "agent:bot",
//!     "intent": {"action": "exec", "resource": "cmd:/usr/bin/git", "args": {"argv": ["status"]}},
//!     "env": {"zone": "dev", "gate": "gate:runner"}
//! })).unwrap();
//! let record = decide(&bundle, &req, 1_767_225_600);
//! assert_eq!(record.decision, Decision::Allow);
//! assert_eq!(record.determining, ["git"]);
//! assert_eq!(record.reasons, ["agents may run git"]);
//! ```
//!
//! The only I/O is in [`fs`] (reading a bundle directory), outside the decision path.

pub mod bundle;
pub mod decide;
pub mod error;
pub mod fs;
mod index;
pub mod mapping;
pub mod policy_tests;
pub mod principal;
pub mod signature;
pub mod tool_schema;
pub mod visibility;

pub use bundle::{Bundle, BundleSource, DEFAULT_SCHEMA, compile, engine_version};
pub use decide::{
    NO_PERMIT_REASON, ReplayOutcome, decide, decide_with_entry, decide_with_request, replay,
};
pub use error::{BundleDiagnostic, BundleError, KeyError, TestFileError};
pub use policy_tests::{PolicyTestFile, PolicyTestResult, parse_policy_tests, run_policy_tests};
pub use principal::{PrincipalEntities, principal_entities};
pub use signature::{
    ActiveBundle, ActiveBundleSlot, BundleSignature, BundleSigningKey, BundleVerifyingKey,
    SECRET_KEY_PREFIX, activate,
};
