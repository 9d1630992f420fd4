//! Ledger entries v2 (DESIGN.md "Committed evidence"): each entry type the control plane writes
//! about an execution, as a Rust type whose clear part goes in the ledger and whose private part
//! goes to the evidence store, committed to by the clear part's `commitment`.
//!
//! The split is a property of the type: [`DecisionRecord::split`] and [`Receipt::split`] (and
//! the refusal's) return the clear entry and the private object, and the clear structs have no
//! member that could hold a payload or an unsalted digest of one. The commitment itself (a
//! salted hash) is made by `writ-ledger`, which owns the salt; here it is a string the caller
//! fills in. Readers of both versions use [`ExecutionRefs::of`], the one place an entry's
//! execution, principal and gate are read from either version.

use serde::{Deserialize, Serialize};

use crate::decision::{Decision, DecisionCode, DecisionRecord, DecisionRecordType};
use crate::env::EnvironmentClaims;
use crate::ids::{ExecutionId, GateId, PrincipalId, ZoneId};
use crate::intent::IntentDigest;
use crate::lineage::Lineage;
use crate::receipt::{Outcome, Receipt};
use crate::request::AuthorizeRequest;

/// The version of entries the control plane writes.
pub const ENTRY_VERSION: u32 = 2;

/// A v2 decision's clear part: the shape of governance, nothing said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionClear {
    #[serde(rename = "type")]
    pub kind: DecisionRecordType,
    pub v: u32,
    pub now: i64,
    /// Absent only for records of hand-written requests (policy tests, simulations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<ExecutionId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ExecutionId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<ExecutionId>,
    /// The lineage's W3C trace context: the caller's trace id when it sent one (an opaque
    /// correlation id, no payload), so children and the index stay in the caller's trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    pub principal: PrincipalId,
    pub action: String,
    /// The Cedar action the call was decided under when it is a tool's own
    /// (`call_tool:SERVER/NAME`); governance shape, so in clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cedar_action: Option<String>,
    pub resource: String,
    pub gate: GateId,
    pub zone: ZoneId,
    pub decision: Decision,
    pub reason_code: DecisionCode,
    pub determining: Vec<String>,
    pub bundle_sha256: String,
    pub engine: String,
    pub commitment: String,
}

/// A v2 decision's private part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionPrivate {
    /// The request exactly as a v1 record stores it.
    pub request: AuthorizeRequest,
    pub request_sha256: String,
    pub reasons: Vec<String>,
    pub errors: Vec<String>,
}

/// Why a clear part and a private part do not make one record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the disclosed request does not agree with its entry's clear {0}")]
pub struct Disagrees(pub &'static str);

impl DecisionRecord {
    /// The v2 clear entry (with `commitment` to fill in) and the private object.
    pub fn split(&self) -> (DecisionClear, DecisionPrivate) {
        (
            self.clear(),
            DecisionPrivate {
                request: self.request.clone(),
                request_sha256: self.request_sha256.clone(),
                reasons: self.reasons.clone(),
                errors: self.errors.clone(),
            },
        )
    }

    /// The v2 clear entry alone (`split().0`, without copying the private part).
    pub fn clear(&self) -> DecisionClear {
        let r = &self.request;
        let lineage = r.lineage.as_ref();
        DecisionClear {
            kind: DecisionRecordType::Decision,
            v: ENTRY_VERSION,
            now: self.now,
            execution: lineage.map(|l| l.execution),
            parent: lineage.and_then(|l| l.parent),
            root: lineage.map(|l| l.root),
            traceparent: lineage.map(|l| l.traceparent.clone()),
            principal: r.principal.clone(),
            action: r.intent.action.clone(),
            cedar_action: self.cedar_action.clone(),
            resource: r.intent.resource.clone(),
            gate: r.env.gate.clone(),
            zone: r.env.zone.clone(),
            decision: self.decision,
            reason_code: self.reason_code,
            determining: self.determining.clone(),
            bundle_sha256: self.bundle_sha256.clone(),
            engine: self.engine.clone(),
            commitment: String::new(),
        }
    }

    /// The whole record (as v1 holds it) from a v2 entry and its disclosed private part;
    /// refused when the request's projections do not agree with the clear members.
    pub fn join(
        clear: &DecisionClear,
        private: DecisionPrivate,
    ) -> Result<DecisionRecord, Disagrees> {
        let r = &private.request;
        let lineage = r.lineage.as_ref();
        let checks = [
            (r.principal == clear.principal, "principal"),
            (r.intent.action == clear.action, "action"),
            (r.intent.resource == clear.resource, "resource"),
            (r.env.gate == clear.gate, "gate"),
            (r.env.zone == clear.zone, "zone"),
            (lineage.map(|l| l.execution) == clear.execution, "execution"),
            (lineage.and_then(|l| l.parent) == clear.parent, "parent"),
            (lineage.map(|l| l.root) == clear.root, "root"),
            (
                clear.traceparent.is_none()
                    || lineage.map(|l| &l.traceparent) == clear.traceparent.as_ref(),
                "traceparent",
            ),
        ];
        if let Some((_, what)) = checks.iter().find(|(ok, _)| !ok) {
            return Err(Disagrees(what));
        }
        Ok(DecisionRecord {
            kind: DecisionRecordType::Decision,
            v: crate::decision::DECISION_RECORD_VERSION,
            request: private.request,
            request_sha256: private.request_sha256,
            bundle_sha256: clear.bundle_sha256.clone(),
            engine: clear.engine.clone(),
            now: clear.now,
            decision: clear.decision,
            determining: clear.determining.clone(),
            reasons: private.reasons,
            errors: private.errors,
            reason_code: clear.reason_code,
            cedar_action: clear.cedar_action.clone(),
        })
    }
}

/// A v2 receipt's clear part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptClear {
    #[serde(rename = "type")]
    pub kind: crate::receipt::ReceiptType,
    pub v: u32,
    pub execution: ExecutionId,
    pub gate: GateId,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    pub started_at: i64,
    pub finished_at: i64,
    pub commitment: String,
}

/// A v2 receipt's private part: the gate-signed receipt exactly as v1 stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptPrivate {
    pub receipt: Receipt,
}

impl Receipt {
    /// The v2 clear entry (with `commitment` to fill in) and the private object.
    pub fn split(&self) -> (ReceiptClear, ReceiptPrivate) {
        let b = &self.body;
        (
            ReceiptClear {
                kind: crate::receipt::ReceiptType::Receipt,
                v: ENTRY_VERSION,
                execution: b.execution,
                gate: b.gate.clone(),
                outcome: b.outcome,
                reason_code: b.reason_code.clone(),
                started_at: b.started_at,
                finished_at: b.finished_at,
                commitment: String::new(),
            },
            ReceiptPrivate {
                receipt: self.clone(),
            },
        )
    }
}

/// The entry type tag of a refusal before the policy was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefusedType {
    #[serde(rename = "authorize.refused")]
    Refused,
}

/// A request refused before policy (unknown or withdrawn principal, quarantine, kill switch).
/// v1 keeps everything in clear; v2 keeps the shape in clear and the rest private.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refused {
    pub principal: PrincipalId,
    pub intent: IntentDigest,
    pub env: EnvironmentClaims,
    pub lineage: Lineage,
    pub now: i64,
    pub reason_code: String,
    pub reason: String,
}

/// A v2 refusal's clear part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusedClear {
    #[serde(rename = "type")]
    pub kind: RefusedType,
    pub v: u32,
    pub now: i64,
    pub execution: ExecutionId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ExecutionId>,
    pub root: ExecutionId,
    pub principal: PrincipalId,
    pub action: String,
    pub resource: String,
    pub gate: GateId,
    pub zone: ZoneId,
    pub decision: Decision,
    pub reason_code: String,
    pub commitment: String,
}

/// A v2 refusal's private part: the intent digest (an unsalted digest of the arguments), the
/// environment claims, the lineage with its trace context, the readable reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusedPrivate {
    pub intent: IntentDigest,
    pub env: EnvironmentClaims,
    pub lineage: Lineage,
    pub reason: String,
}

impl Refused {
    /// The v2 clear entry (with `commitment` to fill in) and the private object.
    pub fn split(&self) -> (RefusedClear, RefusedPrivate) {
        (
            RefusedClear {
                kind: RefusedType::Refused,
                v: ENTRY_VERSION,
                now: self.now,
                execution: self.lineage.execution,
                parent: self.lineage.parent,
                root: self.lineage.root,
                principal: self.principal.clone(),
                action: self.intent.action.clone(),
                resource: self.intent.resource.clone(),
                gate: self.env.gate.clone(),
                zone: self.env.zone.clone(),
                decision: Decision::Deny,
                reason_code: self.reason_code.clone(),
                commitment: String::new(),
            },
            RefusedPrivate {
                intent: self.intent.clone(),
                env: self.env.clone(),
                lineage: self.lineage.clone(),
                reason: self.reason.clone(),
            },
        )
    }
}

/// The entry type tag of a lease end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeaseEndedType {
    #[serde(rename = "lease.ended")]
    LeaseEnded,
}

/// A lease ended by governance (a renewal denied, or the sweep): nothing private, so no
/// commitment; v1 and v2 have the same members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseEnded {
    #[serde(rename = "type")]
    pub kind: LeaseEndedType,
    pub v: u32,
    pub execution: ExecutionId,
    pub jti: String,
    pub reason_code: String,
    pub now: i64,
}

impl LeaseEnded {
    pub fn new(execution: ExecutionId, jti: String, reason_code: String, now: i64) -> LeaseEnded {
        LeaseEnded {
            kind: LeaseEndedType::LeaseEnded,
            v: ENTRY_VERSION,
            execution,
            jti,
            reason_code,
            now,
        }
    }
}

/// The entry type tag of an erasure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErasedType {
    #[serde(rename = "evidence.erased")]
    Erased,
}

/// Disclosures erased from the evidence store: which ledger indexes, by whom, when. Nothing
/// private.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceErased {
    #[serde(rename = "type")]
    pub kind: ErasedType,
    pub v: u32,
    pub indexes: Vec<u64>,
    pub by: String,
    pub at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Declares the one-value enum that is an entry type's `"type"` tag, so an entry struct cannot
/// be written with another type's tag.
macro_rules! entry_tag {
    ($name:ident, $tag:literal) => {
        #[doc = concat!("The `\"type\"` tag `", $tag, "`.")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
        pub enum $name {
            #[default]
            #[serde(rename = $tag)]
            Tag,
        }
    };
}

entry_tag!(PrincipalChangedType, "principal.changed");
entry_tag!(GateChangedType, "gate.changed");
entry_tag!(RevocationType, "revocation");
entry_tag!(QuarantineType, "quarantine");
entry_tag!(KillSwitchType, "kill_switch");
entry_tag!(PolicyActivatedType, "policy.activated");
entry_tag!(TrustChangedType, "trust.changed");

/// Governance changes an operator makes: nothing private (ids, zones, roles and public keys
/// are the shape of governance), so no commitment; `v` is 2 like every entry written now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalChanged {
    #[serde(rename = "type")]
    pub kind: PrincipalChangedType,
    pub v: u32,
    pub principal: String,
    pub zone: String,
    pub change: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub by: String,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateChanged {
    #[serde(rename = "type")]
    pub kind: GateChangedType,
    pub v: u32,
    pub gate: String,
    pub zone: String,
    pub public_key: String,
    pub change: String,
    pub by: String,
    pub at: i64,
}

/// What a revocation or quarantine names: exactly one of them is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GovernanceTarget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

impl GovernanceTarget {
    /// The target named `name` (`jti`, `principal` or `zone`) with `value`; `None` for another
    /// name.
    pub fn named(name: &str, value: String) -> Option<GovernanceTarget> {
        let mut t = GovernanceTarget::default();
        match name {
            "jti" => t.jti = Some(value),
            "principal" => t.principal = Some(value),
            "zone" => t.zone = Some(value),
            _ => return None,
        }
        Some(t)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revocation {
    #[serde(rename = "type")]
    pub kind: RevocationType,
    pub v: u32,
    #[serde(flatten)]
    pub target: GovernanceTarget,
    pub by: String,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quarantine {
    #[serde(rename = "type")]
    pub kind: QuarantineType,
    pub v: u32,
    #[serde(flatten)]
    pub target: GovernanceTarget,
    pub on: bool,
    pub by: String,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KillSwitch {
    #[serde(rename = "type")]
    pub kind: KillSwitchType,
    pub v: u32,
    pub on: bool,
    pub by: String,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyActivated {
    #[serde(rename = "type")]
    pub kind: PolicyActivatedType,
    pub v: u32,
    pub bundle_sha256: String,
    pub engine: String,
    pub signed_by: String,
    pub by: String,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustChanged {
    #[serde(rename = "type")]
    pub kind: TrustChangedType,
    pub v: u32,
    pub kid: String,
    pub key: String,
    pub change: String,
    pub by: String,
    pub at: i64,
}

/// The clear members of a decision or refusal, of either version.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub lineage: Lineage,
    pub principal: String,
    pub gate: Option<String>,
    pub zone: Option<String>,
    pub action: String,
    pub resource: String,
    /// A decision that allowed (a refusal never does).
    pub allowed: bool,
    pub reason_code: String,
    pub now: Option<i64>,
}

/// What readers of either version need of an entry about an execution: its lineage, principal,
/// gate, zone, intent's action and resource, answer and time.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutionRefs {
    /// A decision or a refusal: it opens an execution (or, for a known one, renews its lease).
    Decided(Box<Decided>),
    Receipt(ExecutionId),
    /// A lease end, with its reason code.
    LeaseEnded(ExecutionId, String),
    /// An erasure: the indexes whose disclosures are gone.
    Erased(Vec<u64>),
    Other,
}

#[derive(Deserialize)]
struct Loose {
    #[serde(rename = "type")]
    kind: String,
    v: Option<u32>,
    // v2 clear members
    execution: Option<ExecutionId>,
    parent: Option<ExecutionId>,
    root: Option<ExecutionId>,
    traceparent: Option<String>,
    principal: Option<String>,
    gate: Option<String>,
    zone: Option<String>,
    action: Option<String>,
    resource: Option<String>,
    decision: Option<Decision>,
    reason_code: Option<String>,
    now: Option<i64>,
    indexes: Option<Vec<u64>>,
    // v1 members
    request: Option<LooseRequest>,
    lineage: Option<Lineage>,
    env: Option<LooseEnv>,
    intent: Option<LooseIntent>,
    receipt: Option<LooseReceipt>,
}

#[derive(Deserialize)]
struct LooseRequest {
    principal: String,
    intent: LooseIntent,
    env: Option<LooseEnv>,
    lineage: Option<Lineage>,
}

#[derive(Deserialize)]
struct LooseIntent {
    action: String,
    resource: String,
}

#[derive(Deserialize)]
struct LooseEnv {
    gate: Option<String>,
    zone: Option<String>,
}

#[derive(Deserialize)]
struct LooseReceipt {
    body: LooseReceiptBody,
}

#[derive(Deserialize)]
struct LooseReceiptBody {
    execution: ExecutionId,
}

impl ExecutionRefs {
    /// Reads an entry of either version; anything it does not know is [`ExecutionRefs::Other`].
    pub fn of(entry: &[u8]) -> ExecutionRefs {
        let Ok(e) = serde_json::from_slice::<Loose>(entry) else {
            return ExecutionRefs::Other;
        };
        let v2 = e.v.unwrap_or(1) >= 2;
        match (e.kind.as_str(), v2) {
            ("decision" | "authorize.refused", true) => {
                let (Some(execution), Some(root), Some(principal), Some(action), Some(resource)) =
                    (e.execution, e.root, e.principal, e.action, e.resource)
                else {
                    return ExecutionRefs::Other;
                };
                ExecutionRefs::Decided(Box::new(Decided {
                    lineage: Lineage::from_parts(execution, e.parent, root, e.traceparent),
                    principal,
                    gate: e.gate,
                    zone: e.zone,
                    action,
                    resource,
                    allowed: e.decision == Some(Decision::Allow) && e.kind == "decision",
                    reason_code: e.reason_code.unwrap_or_default(),
                    now: e.now,
                }))
            }
            ("decision", false) => match e.request {
                Some(LooseRequest {
                    principal,
                    intent,
                    env,
                    lineage: Some(lineage),
                }) => {
                    let (gate, zone) = env.map_or((None, None), |e| (e.gate, e.zone));
                    ExecutionRefs::Decided(Box::new(Decided {
                        lineage,
                        principal,
                        gate,
                        zone,
                        action: intent.action,
                        resource: intent.resource,
                        allowed: e.decision == Some(Decision::Allow),
                        reason_code: e.reason_code.unwrap_or_default(),
                        now: e.now,
                    }))
                }
                _ => ExecutionRefs::Other,
            },
            ("authorize.refused", false) => match (e.lineage, e.principal, e.intent) {
                (Some(lineage), Some(principal), Some(intent)) => {
                    let (gate, zone) = e.env.map_or((None, None), |e| (e.gate, e.zone));
                    ExecutionRefs::Decided(Box::new(Decided {
                        lineage,
                        principal,
                        gate,
                        zone,
                        action: intent.action,
                        resource: intent.resource,
                        allowed: false,
                        reason_code: e.reason_code.unwrap_or_default(),
                        now: e.now,
                    }))
                }
                _ => ExecutionRefs::Other,
            },
            ("receipt", true) => e
                .execution
                .map_or(ExecutionRefs::Other, ExecutionRefs::Receipt),
            ("receipt", false) => e.receipt.map_or(ExecutionRefs::Other, |r| {
                ExecutionRefs::Receipt(r.body.execution)
            }),
            ("lease.ended", _) => e.execution.map_or(ExecutionRefs::Other, |x| {
                ExecutionRefs::LeaseEnded(x, e.reason_code.unwrap_or_default())
            }),
            ("evidence.erased", _) => ExecutionRefs::Erased(e.indexes.unwrap_or_default()),
            _ => ExecutionRefs::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::to_canonical_vec;
    use crate::intent::Intent;

    fn record() -> DecisionRecord {
        let execution = ExecutionId::new_v7();
        let request = AuthorizeRequest {
            principal: "agent:a".parse().unwrap(),
            act: None,
            intent: Intent::new(
                "exec",
                "cmd:/usr/bin/git",
                serde_json::json!({"argv": ["CANARY"]}),
            ),
            env: serde_json::from_value(serde_json::json!({"zone": "sandbox", "gate": "gate:g"}))
                .unwrap(),
            lineage: Some(Lineage::root(execution)),
            principal_entity: None,
        };
        DecisionRecord {
            kind: DecisionRecordType::Decision,
            v: 1,
            request,
            request_sha256: "ab".repeat(32),
            bundle_sha256: "cd".repeat(32),
            engine: "e".into(),
            now: 5,
            decision: Decision::Allow,
            determining: vec!["p".into()],
            reasons: vec!["r".into()],
            errors: vec![],
            reason_code: DecisionCode::PolicyPermit,
            cedar_action: None,
        }
    }

    #[test]
    fn a_split_decision_joins_back_and_its_clear_part_holds_no_payload() {
        let rec = record();
        let (clear, private) = rec.split();
        let bytes = to_canonical_vec(&clear).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains("CANARY"), "{text}");
        assert!(!text.contains(&rec.request_sha256), "{text}");
        assert_eq!(DecisionRecord::join(&clear, private.clone()).unwrap(), rec);
        match ExecutionRefs::of(&bytes) {
            ExecutionRefs::Decided(d) => {
                assert_eq!(Some(&d.lineage), rec.request.lineage.as_ref());
                assert!(d.allowed);
            }
            other => panic!("{other:?}"),
        }
        let mut other = clear.clone();
        other.resource = "cmd:/usr/bin/rm".into();
        assert_eq!(
            DecisionRecord::join(&other, private),
            Err(Disagrees("resource"))
        );
    }
}
