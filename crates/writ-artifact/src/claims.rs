//! The claims of a writ, exactly as DESIGN.md ("The writ") fixes them.

use serde::{Deserialize, Serialize};
use writ_model::{GateId, IntentDigest, Lineage, PrincipalId, ZoneId};

use crate::scope::Scope;

/// Required top-level claims; a writ lacking one is refused with `writ_missing_claim`.
pub const REQUIRED_CLAIMS: [&str; 13] = [
    "iss", "sub", "aud", "jti", "iat", "nbf", "exp", "intent", "env", "policy", "scope", "lineage",
    "ledger",
];

/// The longest on-behalf-of chain accepted.
pub const MAX_ACT_DEPTH: usize = 8;

/// The payload of a writ. Unknown claims are ignored when reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WritClaims {
    /// The control plane's id.
    pub iss: String,
    /// The principal that will act.
    pub sub: PrincipalId,
    /// On-behalf-of chain (RFC 8693 `act`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Act>,
    /// The gate that may execute it.
    pub aud: GateId,
    /// Unique id; a gate accepts the writ at most `scope.max_uses` times.
    pub jti: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub intent: IntentDigest,
    pub env: Env,
    pub policy: PolicyInfo,
    pub scope: Scope,
    pub lineage: Lineage,
    pub ledger: LedgerRef,
}

/// RFC 8693 actor claim: `{"sub":"human:alice"}`, nested for more hops.
///
/// The same shape as [`writ_model::request::Actor`], kept apart on purpose: a request's actor is
/// parsed strictly (unknown fields refused), while a writ's `act` claim may carry other RFC 8693
/// members that verifiers ignore. `From` converts between them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Act {
    pub sub: PrincipalId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Act>>,
}

impl Act {
    /// An actor with no further chain.
    pub fn new(sub: PrincipalId) -> Self {
        Self { sub, act: None }
    }

    /// The principals of the chain, nearest first.
    pub fn principals(&self) -> impl Iterator<Item = &PrincipalId> {
        let mut next = Some(self);
        std::iter::from_fn(move || {
            let cur = next?;
            next = cur.act.as_deref();
            Some(&cur.sub)
        })
    }
}

impl From<&writ_model::request::Actor> for Act {
    fn from(a: &writ_model::request::Actor) -> Self {
        Act {
            sub: a.sub.clone(),
            act: a.act.as_deref().map(|inner| Box::new(Act::from(inner))),
        }
    }
}

impl From<&Act> for writ_model::request::Actor {
    fn from(a: &Act) -> Self {
        writ_model::request::Actor {
            sub: a.sub.clone(),
            act: a
                .act
                .as_deref()
                .map(|inner| Box::new(writ_model::request::Actor::from(inner))),
        }
    }
}

/// Where the action runs (`env` claim).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Env {
    pub zone: ZoneId,
    /// Lowercase hex SHA-256 of the gate-signed environment attestation.
    pub attestation_sha256: String,
}

/// The decision that allowed the action (`policy` claim).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyInfo {
    /// Lowercase hex SHA-256 of the active policy bundle.
    pub bundle_sha256: String,
    /// Engine name and version.
    pub engine: String,
    /// Sorted ids of the determining policies.
    pub determining: Vec<String>,
}

/// Where the decision record sits in the ledger (`ledger` claim).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRef {
    pub origin: String,
    pub index: u64,
}

/// Whether `s` is a lowercase hex SHA-256 digest.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_printable_id(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| (0x21..0x7f).contains(&b))
}

/// Form checks that serde types do not express. Returns `(claim, problem)`.
pub(crate) fn check_form(c: &WritClaims) -> Result<(), (&'static str, String)> {
    if !is_printable_id(&c.iss, 256) {
        return Err(("iss", "must be 1 to 256 printable characters".into()));
    }
    if !is_printable_id(&c.jti, 128) {
        return Err(("jti", "must be 1 to 128 printable characters".into()));
    }
    if let Some(act) = &c.act
        && act.principals().count() > MAX_ACT_DEPTH
    {
        return Err(("act", format!("chain is deeper than {MAX_ACT_DEPTH}")));
    }
    if c.nbf > c.exp || c.iat > c.exp {
        return Err(("exp", "must not be before iat or nbf".into()));
    }
    if c.intent.action.is_empty() || c.intent.resource.is_empty() {
        return Err(("intent", "action and resource must not be empty".into()));
    }
    if !is_sha256_hex(&c.intent.args_sha256) {
        return Err(("intent", "args_sha256 must be lowercase hex SHA-256".into()));
    }
    if !is_sha256_hex(&c.env.attestation_sha256) {
        return Err((
            "env",
            "attestation_sha256 must be lowercase hex SHA-256".into(),
        ));
    }
    if !is_sha256_hex(&c.policy.bundle_sha256) {
        return Err((
            "policy",
            "bundle_sha256 must be lowercase hex SHA-256".into(),
        ));
    }
    if c.policy.engine.is_empty() {
        return Err(("policy", "engine must not be empty".into()));
    }
    if !c.policy.determining.windows(2).all(|w| match w {
        [a, b] => a < b,
        _ => true,
    }) {
        return Err((
            "policy",
            "determining must be sorted and free of duplicates".into(),
        ));
    }
    c.scope.validate().map_err(|e| ("scope", e))?;
    check_lineage(&c.lineage).map_err(|e| ("lineage", e))?;
    if c.ledger.origin.is_empty() || c.ledger.origin.chars().any(char::is_control) {
        return Err(("ledger", "origin must be a non-empty line of text".into()));
    }
    Ok(())
}

/// A lineage is consistent: a root has no parent and is its own root; a child has a parent
/// and another root; `traceparent` is a W3C trace context whose span id is this execution's
/// low 64 bits (as `writ_model::Lineage` builds it). Its trace id is the caller's trace when the
/// caller sent one, so it is not derived from the root and not checked against it.
fn check_lineage(l: &Lineage) -> Result<(), String> {
    match l.parent {
        None if l.root != l.execution => {
            return Err("a lineage without parent must be its own root".into());
        }
        Some(p) if p == l.execution || l.root == l.execution => {
            return Err("a child lineage needs a parent and a root other than itself".into());
        }
        _ => {}
    }
    let span = Lineage::span_of(l.execution);
    match writ_model::TraceParent::parse(&l.traceparent) {
        Some(tp) if u64::from_be_bytes(tp.parent_id) == span => Ok(()),
        _ => Err(format!(
            "traceparent {:?} is not a W3C traceparent whose span id is the execution's ({span:016x})",
            l.traceparent
        )),
    }
}
