//! The pure decision function and replay.

use std::collections::BTreeSet;

use cedar_policy::{AuthorizationError, Authorizer, Decision as CedarDecision, Effect, PolicyId};
use writ_model::canonical::to_canonical_vec;
use writ_model::decision::DECISION_RECORD_VERSION;
use writ_model::{AuthorizeRequest, Decision, DecisionCode, DecisionRecord, DecisionRecordType};

use crate::bundle::Bundle;
use crate::mapping::{MapError, to_cedar};
use crate::principal::principal_entities;
use writ_model::digest::sha256_hex;

/// The reason given for a default deny.
pub const NO_PERMIT_REASON: &str = "no policy permits this";
/// The reason given when a policy could not be evaluated.
pub const POLICY_ERROR_REASON: &str =
    "a policy could not be evaluated, so the action is denied (fail closed)";

/// What the scope-indexed evaluation found: satisfied forbids and permits, and errors.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub forbids: BTreeSet<String>,
    pub permits: BTreeSet<String>,
    /// (policy id, message), sorted.
    pub errors: BTreeSet<(String, String)>,
    /// The tool's own action the request was decided under, if any (see [`crate::tool_schema`]).
    pub tool_action: Option<String>,
}

fn error_parts(e: &AuthorizationError) -> (String, String) {
    match e {
        AuthorizationError::PolicyEvaluationError(pe) => {
            (pe.policy_id().to_string(), pe.inner().to_string())
        }
        #[allow(unreachable_patterns, reason = "the enum is non_exhaustive")]
        other => (String::new(), other.to_string()),
    }
}

/// The id of `action` when it is a tool's own action (`call_tool:SERVER/NAME`).
fn own_action(action: &cedar_policy::EntityUid) -> Option<String> {
    let id: &str = action.id().as_ref();
    id.starts_with(crate::tool_schema::TOOL_ACTION_PREFIX)
        .then(|| id.to_owned())
}

/// Evaluates only the candidate policies of the scope index and merges their results.
fn evaluate(bundle: &Bundle, req: &AuthorizeRequest, now: i64) -> Result<Evaluation, MapError> {
    let (p, a, r, request) = to_cedar(bundle.names(), req, now)?;
    let entities = principal_entities(bundle, &req.principal, req.principal_entity.as_ref())
        .map_err(MapError::Invalid)?;
    let mut ev = Evaluation {
        tool_action: own_action(&a),
        ..Evaluation::default()
    };
    for set in bundle.index().candidates(&p, &a, &r) {
        let resp = bundle.authorizer().is_authorized(&request, set, &entities);
        let diag = resp.diagnostics();
        // Cedar reports satisfied forbids on a deny, satisfied permits on an allow; merging
        // the partial answers per effect gives exactly the answer over the union.
        let target = match resp.decision() {
            CedarDecision::Deny => &mut ev.forbids,
            CedarDecision::Allow => &mut ev.permits,
        };
        for id in diag.reason() {
            target.insert(id.to_string());
        }
        for e in diag.errors() {
            ev.errors.insert(error_parts(e));
        }
    }
    Ok(ev)
}

/// Evaluates the request with the scope index, without building a record (for tests and
/// tools that compare with plain Cedar).
pub fn evaluate_indexed(
    bundle: &Bundle,
    req: &AuthorizeRequest,
    now: i64,
) -> Result<Evaluation, String> {
    evaluate(bundle, req, now).map_err(|e| format!("{e:?}"))
}

/// Evaluates the request with plain Cedar over the whole policy set (the baseline).
pub fn evaluate_plain(
    bundle: &Bundle,
    req: &AuthorizeRequest,
    now: i64,
) -> Result<Evaluation, String> {
    let (_, a, _, request) = to_cedar(bundle.names(), req, now).map_err(|e| format!("{e:?}"))?;
    let entities = principal_entities(bundle, &req.principal, req.principal_entity.as_ref())?;
    let resp = Authorizer::new().is_authorized(&request, bundle.cedar_policies(), &entities);
    let mut ev = Evaluation {
        tool_action: own_action(&a),
        ..Evaluation::default()
    };
    let target = match resp.decision() {
        CedarDecision::Deny => &mut ev.forbids,
        CedarDecision::Allow => &mut ev.permits,
    };
    for id in resp.diagnostics().reason() {
        target.insert(id.to_string());
    }
    for e in resp.diagnostics().errors() {
        ev.errors.insert(error_parts(e));
    }
    Ok(ev)
}

/// How many policies the scope index evaluates for `req` (the rest cannot apply).
pub fn candidate_policy_count(
    bundle: &Bundle,
    req: &AuthorizeRequest,
    now: i64,
) -> Result<usize, String> {
    let (p, a, r, _) = to_cedar(bundle.names(), req, now).map_err(|e| format!("{e:?}"))?;
    Ok(bundle
        .index()
        .candidates(&p, &a, &r)
        .iter()
        .map(|s| s.policies().count())
        .sum())
}

/// The Cedar request a Writ request maps to (for benchmarks against plain Cedar).
pub fn cedar_request(
    bundle: &Bundle,
    req: &AuthorizeRequest,
    now: i64,
) -> Result<cedar_policy::Request, String> {
    to_cedar(bundle.names(), req, now)
        .map(|(_, _, _, r)| r)
        .map_err(|e| format!("{e:?}"))
}

fn reasons_of(bundle: &Bundle, ids: &BTreeSet<String>, verb: &str) -> Vec<String> {
    let set: BTreeSet<String> = ids
        .iter()
        .map(|id| {
            bundle
                .meta(&PolicyId::new(id))
                .and_then(|m| m.reason.clone())
                .unwrap_or_else(|| format!("{verb} by policy {id}"))
        })
        .collect();
    set.into_iter().collect()
}

/// Decides `request` under `bundle` at the injected time `now` (Unix seconds).
///
/// Pure: no I/O, no clock, no randomness. The record lists the sorted determining policy
/// ids, their `@reason` annotations, and sorted errors; any evaluation error denies.
pub fn decide(bundle: &Bundle, request: &AuthorizeRequest, now: i64) -> DecisionRecord {
    decide_inner(bundle, request, now).0
}

/// [`decide`], with the record's RFC 8785 canonical JSON (its ledger entry) as well, written
/// without encoding the request a second time.
pub fn decide_with_entry(
    bundle: &Bundle,
    request: &AuthorizeRequest,
    now: i64,
) -> (DecisionRecord, Result<Vec<u8>, writ_model::CanonicalError>) {
    let (record, request_canonical) = decide_inner(bundle, request, now);
    let entry = match request_canonical {
        Some(r) => Ok(record.to_canonical_with_request(&r)),
        None => to_canonical_vec(&record),
    };
    (record, entry)
}

/// [`decide`], with the request's RFC 8785 canonical JSON it hashed for `request_sha256`
/// (`None` when the request has none), for the ledger entry.
pub fn decide_with_request(
    bundle: &Bundle,
    request: &AuthorizeRequest,
    now: i64,
) -> (DecisionRecord, Option<Vec<u8>>) {
    decide_inner(bundle, request, now)
}

/// The record, and the canonical request it hashed (`None` if the request has none).
fn decide_inner(
    bundle: &Bundle,
    request: &AuthorizeRequest,
    now: i64,
) -> (DecisionRecord, Option<Vec<u8>>) {
    let evaluation = evaluate(bundle, request, now);
    let cedar_action = evaluation
        .as_ref()
        .ok()
        .and_then(|ev| ev.tool_action.clone());
    let (decision, code, determining, reasons, errors) = match evaluation {
        Err(MapError::UnknownAction(a)) => (
            Decision::Deny,
            DecisionCode::UnknownAction,
            vec![],
            vec![format!(
                "unknown action {a:?}: expected mcp.call_tool, exec, http.request or delegate"
            )],
            vec![],
        ),
        Err(MapError::UnknownResource(r)) => (
            Decision::Deny,
            DecisionCode::UnknownResource,
            vec![],
            vec![format!(
                "unknown resource {r:?}: expected tool:, cmd:, http:, url:, zone:, agent:, human: or service: followed by a name"
            )],
            vec![],
        ),
        Err(MapError::Number(e)) => (
            Decision::Deny,
            DecisionCode::NumberOutOfRange,
            vec![],
            vec![e.to_string()],
            vec![],
        ),
        Err(MapError::Invalid(m)) => (
            Decision::Deny,
            DecisionCode::InvalidRequest,
            vec![],
            vec![format!("invalid request: {m}")],
            vec![],
        ),
        Ok(ev) => {
            let errors: Vec<String> = ev
                .errors
                .iter()
                .map(|(id, m)| format!("{id}: {m}"))
                .collect();
            if !ev.forbids.is_empty() {
                let reasons = reasons_of(bundle, &ev.forbids, "forbidden");
                (
                    Decision::Deny,
                    DecisionCode::PolicyForbid,
                    ev.forbids.into_iter().collect(),
                    reasons,
                    errors,
                )
            } else if !ev.errors.is_empty() {
                let ids: BTreeSet<String> = ev.errors.iter().map(|(id, _)| id.clone()).collect();
                (
                    Decision::Deny,
                    DecisionCode::PolicyError,
                    ids.into_iter().collect(),
                    vec![POLICY_ERROR_REASON.to_owned()],
                    errors,
                )
            } else if !ev.permits.is_empty() {
                let reasons = reasons_of(bundle, &ev.permits, "permitted");
                (
                    Decision::Allow,
                    DecisionCode::PolicyPermit,
                    ev.permits.into_iter().collect(),
                    reasons,
                    errors,
                )
            } else {
                (
                    Decision::Deny,
                    DecisionCode::NoPermit,
                    vec![],
                    vec![NO_PERMIT_REASON.to_owned()],
                    errors,
                )
            }
        }
    };
    // The request's own writer (held to the generic one by a property test); its bytes are
    // hashed here and kept for the ledger entry.
    let request_canonical = request.to_canonical().ok();
    let request_sha256 = request_canonical
        .as_deref()
        .map(sha256_hex)
        .unwrap_or_default();
    let (decision, code) = if request_sha256.is_empty() {
        (Decision::Deny, DecisionCode::InvalidRequest)
    } else {
        (decision, code)
    };
    let record = DecisionRecord {
        kind: DecisionRecordType::Decision,
        v: DECISION_RECORD_VERSION,
        request: request.clone(),
        request_sha256,
        bundle_sha256: bundle.digest().to_owned(),
        engine: bundle.engine().to_owned(),
        now,
        decision,
        determining,
        reasons,
        errors,
        reason_code: code,
        cedar_action,
    };
    (record, request_canonical)
}

/// The outcome of recomputing a recorded decision.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplayOutcome {
    /// Recomputed byte for byte.
    Match,
    /// The record names another bundle or engine; nothing was recomputed.
    BundleMismatch { recorded: String, actual: String },
    /// Recomputed differently: the fresh record is attached.
    Mismatch { recomputed: Box<DecisionRecord> },
}

/// Recomputes `record` under `bundle` and compares the canonical bytes.
pub fn replay(bundle: &Bundle, record: &DecisionRecord) -> ReplayOutcome {
    if record.bundle_sha256 != bundle.digest() || record.engine != bundle.engine() {
        return ReplayOutcome::BundleMismatch {
            recorded: format!("{} ({})", record.bundle_sha256, record.engine),
            actual: format!("{} ({})", bundle.digest(), bundle.engine()),
        };
    }
    let fresh = decide(bundle, &record.request, record.now);
    match (to_canonical_vec(&fresh), to_canonical_vec(record)) {
        (Ok(a), Ok(b)) if a == b => ReplayOutcome::Match,
        _ => ReplayOutcome::Mismatch {
            recomputed: Box::new(fresh),
        },
    }
}

/// The effect of a satisfied policy, for display.
pub fn effect_name(e: Effect) -> &'static str {
    match e {
        Effect::Permit => "permit",
        Effect::Forbid => "forbid",
    }
}
