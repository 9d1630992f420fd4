//! Calls made while an action runs and after: receipts, lease renewal, proofs and lineage.
//!
//! An execution is visible only to whoever may read it (see [`may_read`]); to everyone else it
//! is unknown, with the very answer an unknown execution gets.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ed25519_dalek::VerifyingKey;
use serde::Deserialize;
use serde_json::{Value, json};
use writ_ledger::evidence::DecisionEvidence;
use writ_model::decision::Decision;
use writ_model::entries::LeaseEnded;
use writ_model::receipt::{Receipt, ReceiptSigError};
use writ_model::{ExecutionId, ReasonCode};

use crate::attest::check_attestation;
use crate::auth::Access;
use crate::auth::{Caller, Scope};
use crate::error::ApiError;
use crate::exec::{Closing, ExecRow};
use crate::extract::ApiJson;
use crate::guard::require;
use crate::record::{index_err, record, record_entry};
use crate::state::AppState;
use crate::store::{GovernanceKind, REGISTRATION_INVALID, Role};

type St = State<Arc<AppState>>;

/// Most executions one lineage answer lists.
const LINEAGE_LIMIT: usize = 10_000;

fn parse_execution(s: &str) -> Result<ExecutionId, ApiError> {
    s.parse().map_err(|e: writ_model::IdError| {
        ApiError::bad_request(writ_model::ReasonCode::ExecutionInvalid, e.to_string())
    })
}

fn gate_key(state: &AppState, gate: &str) -> Result<VerifyingKey, ApiError> {
    let row = state
        .store
        .read(|r| r.gates.get(gate).cloned())
        .ok_or_else(|| {
            ApiError::forbidden(
                writ_model::ReasonCode::GateUnknown,
                format!("{gate} is not registered"),
            )
        })?;
    hex::decode(&row.public_key)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .and_then(|b| VerifyingKey::from_bytes(&b).ok())
        .ok_or_else(|| {
            ApiError::forbidden(
                writ_model::ReasonCode::GateKeyInvalid,
                "the gate's registered key is unusable; re-register the gate",
            )
        })
}

/// `POST /v1/receipts`: a gate reports an outcome, signed with its key.
pub async fn post_receipt(
    State(s): St,
    headers: HeaderMap,
    body: Result<ApiJson<Receipt>, ApiError>,
) -> Result<(StatusCode, Json<writ_api::Recorded>), ApiError> {
    let caller = require(&s, &headers, Access::Gate)?;
    let ApiJson(receipt) = body?;
    if caller.subject != receipt.body.gate.as_str() {
        return Err(ApiError::forbidden(
            writ_model::ReasonCode::ReceiptWrongGate,
            format!(
                "a token of {} cannot post receipts for {}",
                caller.subject, receipt.body.gate
            ),
        ));
    }
    let key = gate_key(&s, receipt.body.gate.as_str())?;
    receipt.verify(&key).map_err(|e| match e {
        ReceiptSigError::Malformed => ApiError::bad_request(
            writ_model::ReasonCode::ReceiptBadSignature,
            "sig must be a base64url Ed25519 signature",
        ),
        ReceiptSigError::Encoding(e) => {
            ApiError::bad_request(writ_model::ReasonCode::ReceiptInvalid, e)
        }
        ReceiptSigError::Mismatch => ApiError::forbidden(
            writ_model::ReasonCode::ReceiptBadSignature,
            "the receipt signature does not verify with the gate's key",
        ),
    })?;
    let execution = receipt.body.execution;
    let row = known_execution(&s, execution).await?;
    // Another gate's execution is unknown to this one, as on every read.
    if execution_gate(&s, &row)?.as_deref() != Some(caller.subject.as_str()) {
        return Err(unknown_execution(execution));
    }
    // Under the execution's closing lock: a receipt never follows the sweep's lease end (the
    // control plane took the gate for gone and closed the execution).
    let guard = s.execs.lock_closing(execution).await.map_err(index_err)?;
    if let Some(ended) = guard
        .state()
        .map_err(index_err)?
        .and_then(|l| l.expired_index)
    {
        return Err(ApiError::conflict(
            writ_model::ReasonCode::LeaseEnded,
            format!(
                "the execution's lease ran out and was ended at ledger index {ended} before this receipt arrived; it is closed and takes no receipt"
            ),
        ));
    }
    // The index links the receipt to its execution when it follows the ledger past it.
    let index = record_entry(&s, writ_ledger::evidence::receipt_entry(&receipt)).await?;
    guard.recorded(Closing::Receipt(index));
    drop(guard);
    s.events.publish(
        "receipt",
        json!({"execution": execution, "outcome": receipt.body.outcome, "ledger_index": index}),
    );
    Ok((
        StatusCode::CREATED,
        Json(writ_api::Recorded {
            recorded: true,
            ledger_index: index,
        }),
    ))
}

/// Body of `POST /v1/leases/{jti}/renew` (in `writ-api`).
pub type RenewBody = writ_api::RenewBody<'static>;

/// `POST /v1/leases/{jti}/renew`: re-decide a running execution with the current policy and time.
pub async fn renew_lease(
    State(s): St,
    headers: HeaderMap,
    Path(jti): Path<String>,
    body: Result<ApiJson<RenewBody>, ApiError>,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let caller = require(&s, &headers, Access::Principal)?;
    let ApiJson(body) = body?;
    // A writ's jti is its execution id.
    let unknown = || {
        ApiError::not_found(
            writ_model::ReasonCode::LeaseUnknown,
            "no execution holds this jti",
        )
    };
    let execution: ExecutionId = jti.parse().map_err(|_| unknown())?;
    let row = s
        .execs
        .find(execution)
        .await
        .map_err(index_err)?
        .ok_or_else(unknown)?;
    // Only the principal the writ was issued to renews it; to anyone else the lease is
    // unknown, so the answer does not tell whether it exists.
    if row.principal != caller.subject {
        return Err(unknown());
    }
    check_attestation(&s, &body.attestation)?;
    // Under the execution's closing lock: a lease that has ended is not renewed, and the sweep
    // sees this renewal before it decides the lease ran out.
    let guard = s.execs.lock_closing(execution).await.map_err(index_err)?;
    let lease = guard.state().map_err(index_err)?;
    if let Some(ended) = lease.and_then(|l| l.ended_index) {
        s.metrics.decision(Decision::Deny, ReasonCode::LeaseEnded);
        let denied = writ_api::Denied {
            decision: Decision::Deny,
            reason_code: ReasonCode::LeaseEnded,
            principal: None,
            reasons: vec![format!(
                "the execution's lease was ended at ledger index {ended}; it cannot be renewed"
            )],
            errors: None,
            execution: Some(execution),
            ledger_index: Some(ended),
        };
        return Ok((StatusCode::FORBIDDEN, Json(denied)).into_response());
    }
    let entry = s.ledger.entry(row.decision_index).map_err(|e| {
        ApiError::unavailable(writ_model::ReasonCode::LedgerUnavailable, e.to_string())
    })?;
    let original = match writ_ledger::evidence::decision_from(
        row.decision_index,
        &entry,
        s.ledger
            .disclosures(&[row.decision_index])
            .map_err(|e| {
                ApiError::unavailable(writ_model::ReasonCode::LedgerUnavailable, e.to_string())
            })?
            .first(),
    ) {
        Ok(DecisionEvidence::Record(r)) => *r,
        Ok(DecisionEvidence::Erased(_)) => {
            return Err(ApiError::conflict(
                writ_model::ReasonCode::EvidenceErased,
                "the execution's decision record was erased; its lease cannot be renewed",
            ));
        }
        Err(e) => {
            return Err(ApiError::unavailable(
                writ_model::ReasonCode::LedgerRecordUnreadable,
                format!("the original decision record does not read back: {e}"),
            ));
        }
    };
    let now = s.now();
    let mut request = original.request.clone();
    request.env = body.attestation.claims.clone();
    // Trust as it stands now, and the principal's registration read in the same look.
    let standing = if s.kill_switch() {
        Err(writ_model::ReasonCode::KillSwitch)
    } else {
        s.store.read(|r| {
            if r.is(GovernanceKind::RevokedJti, &jti) {
                return Err(writ_model::ReasonCode::WritRevoked);
            }
            // The principal withdrawn by name or through its registered zone, or the zone the
            // gate runs it in withdrawn.
            if r.zone_withdrawn(request.env.zone.as_str()) {
                return Err(writ_model::ReasonCode::PrincipalOrZoneWithdrawn);
            }
            if r.chain_withdrawn(request.act.as_ref()).is_some() {
                return Err(writ_model::ReasonCode::PrincipalOrZoneWithdrawn);
            }
            r.standing(&row.principal).map_err(|(code, _)| match code {
                REGISTRATION_INVALID => REGISTRATION_INVALID,
                _ => writ_model::ReasonCode::PrincipalOrZoneWithdrawn,
            })
        })
    };
    let (decision, code, reasons, index) = match standing {
        Err(code) => {
            let index = record(
                &s,
                &LeaseEnded::new(execution, jti.clone(), code.as_str().to_owned(), now),
            )
            .await?;
            guard.recorded(Closing::LeaseEnded(index, false));
            (
                Decision::Deny,
                code,
                vec![format!("trust withdrawn: {code}")],
                index,
            )
        }
        Ok(registered) => {
            // Re-decided with the principal's registration as it stands now.
            request.principal_entity = Some(registered);
            let bundle = s.bundles.current().ok_or_else(|| {
                ApiError::unavailable(
                    writ_model::ReasonCode::NoActiveBundle,
                    "no policy bundle is active",
                )
            })?;
            let rec = writ_authorize::decide(&bundle, &request, now);
            let index = record_entry(&s, writ_ledger::evidence::decision_entry(&rec)).await?;
            if rec.decision == Decision::Allow {
                guard.recorded(Closing::Renewed(index, now));
            }
            (rec.decision, rec.reason_code.reason(), rec.reasons, index)
        }
    };
    drop(guard);
    crate::access_log::decision(
        &s.metrics,
        crate::access_log::DecisionKind::Renewal,
        execution,
        &row.principal,
        &request.intent.action,
        &request.intent.resource,
        decision,
        code,
        started,
    );
    Ok(match decision {
        Decision::Allow => {
            let until =
                now.saturating_add(i64::try_from(s.config.writ_lifetime_secs).unwrap_or(60));
            let renewed = writ_api::Renewed {
                decision: Decision::Allow,
                execution,
                lease_until: until,
                ledger_index: index,
            };
            (StatusCode::OK, Json(renewed)).into_response()
        }
        Decision::Deny => {
            s.events.publish(
                "lease.ended",
                serde_json::to_value(writ_api::LeaseEndedEvent {
                    execution,
                    jti,
                    reason_code: code,
                    ledger_index: None,
                })
                .unwrap_or_default(),
            );
            let denied = writ_api::Denied {
                decision: Decision::Deny,
                reason_code: code,
                principal: None,
                reasons,
                errors: None,
                execution: Some(execution),
                ledger_index: Some(index),
            };
            crate::access_log::refused((StatusCode::FORBIDDEN, Json(denied)).into_response(), code)
        }
    })
}

/// The 404 for an execution that is not known, or not the caller's to see: one answer for
/// both, so it does not tell whether the execution exists.
fn unknown_execution(execution: ExecutionId) -> ApiError {
    ApiError::not_found(
        writ_model::ReasonCode::ExecutionUnknown,
        format!("execution {execution} is not known to this control plane"),
    )
}

/// The indexed execution, or 404 `execution_unknown` (once the index has caught up with the
/// ledger, so a recorded execution is never reported unknown).
async fn known_execution(
    s: &AppState,
    execution: ExecutionId,
) -> Result<crate::exec::ExecRow, ApiError> {
    s.execs
        .find(execution)
        .await
        .map_err(index_err)?
        .ok_or_else(|| unknown_execution(execution))
}

/// The gate an execution was authorized for: from the index, or (for rows indexed before the
/// index kept gates) from its decision's ledger entry.
fn execution_gate(s: &AppState, row: &ExecRow) -> Result<Option<String>, ApiError> {
    if let Some(gate) = &row.gate {
        return Ok(Some(gate.clone()));
    }
    let entry = s.ledger.entry(row.decision_index).map_err(|e| {
        ApiError::unavailable(writ_model::ReasonCode::LedgerUnavailable, e.to_string())
    })?;
    Ok(match writ_model::entries::ExecutionRefs::of(&entry) {
        writ_model::entries::ExecutionRefs::Decided(d) => d.gate,
        _ => None,
    })
}

/// Whether `caller` may read an execution's proofs and lineage: the admin token; the gate it
/// was authorized for; its principal and the principals of its ancestors (the executions that
/// caused it); a person (`human:`) with a role. Lineage gives no one else access: since a
/// caller may hang executions only under its own or under a delegation to it, an ancestor's
/// principal is one that caused the execution.
fn may_read(s: &AppState, caller: &Caller, row: &ExecRow) -> Result<bool, ApiError> {
    match caller.scope {
        Scope::Admin => Ok(true),
        Scope::Gate => Ok(execution_gate(s, row)?.as_deref() == Some(caller.subject.as_str())),
        Scope::Principal => {
            let role = s.store.read(|r| {
                r.principals
                    .get(&caller.subject)
                    .filter(|p| p.id.starts_with("human:") && p.status == "active")
                    .and_then(|p| p.role)
            });
            if role.is_some_and(Role::reads_executions) || row.principal == caller.subject {
                return Ok(true);
            }
            let mut seen = BTreeSet::from([row.lineage.execution]);
            let mut next = row.lineage.parent;
            while let Some(p) = next {
                if !seen.insert(p) || seen.len() > LINEAGE_LIMIT {
                    break;
                }
                let Some(ancestor) = s.execs.get(p).map_err(index_err)? else {
                    break;
                };
                if ancestor.principal == caller.subject {
                    return Ok(true);
                }
                next = ancestor.lineage.parent;
            }
            Ok(false)
        }
    }
}

/// Whether `caller` may read the indexed execution `execution` (false when it is not indexed).
pub(crate) fn may_read_execution(
    s: &AppState,
    caller: &Caller,
    execution: &str,
) -> Result<bool, ApiError> {
    let Ok(id) = execution.parse::<ExecutionId>() else {
        return Ok(false);
    };
    match s.execs.get(id).map_err(index_err)? {
        Some(row) => may_read(s, caller, &row),
        None => Ok(false),
    }
}

/// The execution if it is known and `caller` may read it; otherwise the 404 of an unknown one.
async fn readable_execution(
    s: &AppState,
    caller: &Caller,
    execution: ExecutionId,
) -> Result<ExecRow, ApiError> {
    s.execs.caught_up().await.map_err(index_err)?;
    let row = known_execution(s, execution).await?;
    if !may_read(s, caller, &row)? {
        return Err(unknown_execution(execution));
    }
    Ok(row)
}

/// `GET /v1/proofs/{execution}`: the proof bundle of everything recorded about an execution.
pub async fn proof(
    State(s): St,
    headers: HeaderMap,
    Path(execution): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let caller = require(&s, &headers, Access::Authenticated)?;
    let execution = parse_execution(&execution)?;
    readable_execution(&s, &caller, execution).await?;
    let indexes = s.execs.entries(execution).map_err(index_err)?;
    let writ = s.execs.writ(execution).map_err(index_err)?;
    let ledger = s.ledger.clone();
    // The disclosures of its entries: whoever may read the execution may read what was said.
    let mut bundle = tokio::task::spawn_blocking(move || {
        // Then the entries that registered its receipts' gates, so their signatures verify offline.
        let mut all = indexes.clone();
        all.extend(ledger.gate_key_entries(&indexes)?);
        let mut bundle = ledger.proof_bundle(&all, None)?;
        let disclosures = ledger.disclosures(&indexes)?;
        bundle.disclosures = (!disclosures.is_empty()).then_some(disclosures);
        Ok::<_, writ_ledger::LedgerError>(bundle)
    })
    .await
    .map_err(|_| {
        ApiError::unavailable(
            writ_model::ReasonCode::LedgerUnavailable,
            "the ledger reader stopped",
        )
    })?
    .map_err(|e| ApiError::unavailable(writ_model::ReasonCode::LedgerUnavailable, e.to_string()))?;
    bundle.writ = writ;
    bundle.jwks = serde_json::to_value(s.issuer.key_ring().jwks(s.now())).ok();
    Ok(Json(serde_json::to_value(&bundle).unwrap_or(Value::Null)))
}

/// Nodes per lineage page unless `limit` says otherwise, and the most a page holds.
pub const LINEAGE_PAGE: u32 = 500;
pub const LINEAGE_PAGE_MAX: u32 = 1000;

/// The query of `GET /v1/lineage/{execution}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineageQuery {
    /// Nodes per page (1 to 1000, default 500).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// What a receipt entry of either version says of how its execution ended.
#[derive(Deserialize)]
struct ReceiptSeen {
    outcome: Option<writ_model::receipt::Outcome>,
    reason_code: Option<String>,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    receipt: Option<ReceiptSeenV1>,
}

#[derive(Deserialize)]
struct ReceiptSeenV1 {
    body: ReceiptSeenBody,
}

#[derive(Deserialize)]
struct ReceiptSeenBody {
    outcome: writ_model::receipt::Outcome,
    reason_code: Option<String>,
    started_at: i64,
    finished_at: i64,
}

/// A tree row as the caller may see it: everything for an execution it may read, its place in
/// the tree for any other.
fn lineage_node(
    s: &AppState,
    row: crate::exec_search::TreeRow,
    readable: bool,
) -> Result<writ_model::LineageNode, ApiError> {
    use writ_model::{LineageNode, LineageOutcome};
    let f = row.found;
    let (Ok(execution), parent) = (
        f.execution.parse::<ExecutionId>(),
        f.parent
            .as_deref()
            .and_then(|p| p.parse::<ExecutionId>().ok()),
    ) else {
        return Err(ApiError::unavailable(
            writ_model::ReasonCode::IndexUnavailable,
            "the execution index holds an id that does not parse; rebuild the index",
        ));
    };
    if !readable {
        return Ok(LineageNode::redacted(execution, parent, f.ledger_index));
    }
    let decision = match f.decision.as_str() {
        "allow" => writ_model::Decision::Allow,
        _ => writ_model::Decision::Deny,
    };
    let ledger_err = |e: writ_ledger::LedgerError| {
        ApiError::unavailable(writ_model::ReasonCode::LedgerUnavailable, e.to_string())
    };
    let (mut outcome, mut outcome_reason, mut started_at, mut finished_at) =
        (None, None, None, None);
    if let Some(i) = row.receipt_index {
        let entry = s.ledger.entry(i).map_err(ledger_err)?;
        if let Ok(r) = serde_json::from_slice::<ReceiptSeen>(&entry) {
            let body = match (r.outcome, r.receipt) {
                (Some(o), _) => Some((o, r.reason_code, r.started_at, r.finished_at)),
                (None, Some(v1)) => Some((
                    v1.body.outcome,
                    v1.body.reason_code,
                    Some(v1.body.started_at),
                    Some(v1.body.finished_at),
                )),
                (None, None) => None,
            };
            if let Some((o, reason, start, finish)) = body {
                outcome = Some(LineageOutcome::from(o));
                outcome_reason = reason;
                started_at = start;
                finished_at = finish;
            }
        }
    }
    if outcome.is_none()
        && let Some(i) = row.ended_index
        && let Ok(end) =
            serde_json::from_slice::<LeaseEnded>(&s.ledger.entry(i).map_err(ledger_err)?)
    {
        outcome = Some(if end.reason_code == crate::exec::LEASE_EXPIRED {
            LineageOutcome::LeaseExpired
        } else {
            LineageOutcome::TerminatedByGovernance
        });
        outcome_reason = Some(end.reason_code);
        finished_at = Some(end.now);
    }
    let outcome = outcome.or(Some(match decision {
        writ_model::Decision::Deny => LineageOutcome::NotRun,
        writ_model::Decision::Allow => LineageOutcome::Open,
    }));
    // The on-behalf-of chain is private in the ledger; the writ, which whoever may read the
    // execution receives in its proof bundle, carries it.
    let on_behalf_of = match decision {
        writ_model::Decision::Allow => s
            .execs
            .writ(execution)
            .map_err(index_err)?
            .and_then(|w| {
                use base64::Engine as _;
                let payload = w.split('.').nth(1)?;
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(payload)
                    .ok()?;
                let claims: Value = serde_json::from_slice(&bytes).ok()?;
                Some(writ_model::lineage::on_behalf_of_chain(claims.get("act")))
            })
            .unwrap_or_default(),
        writ_model::Decision::Deny => Vec::new(),
    };
    Ok(LineageNode {
        execution,
        parent,
        ledger_index: f.ledger_index,
        redacted: false,
        principal: Some(f.principal),
        on_behalf_of,
        action: Some(f.action),
        resource: Some(f.resource),
        decision: Some(decision),
        reason_code: Some(f.reason_code),
        outcome,
        outcome_reason,
        zone: f.zone,
        gate: f.gate,
        decided_at: Some(f.time),
        started_at,
        finished_at,
    })
}

/// `GET /v1/lineage/{execution}`: the execution's whole tree from its root, a page at a time
/// (`nodes` in ledger order, parents first; `next_cursor` absent on the last page), and, as
/// before, its ancestors (nearest first) and descendants (breadth first). Of the executions
/// the caller may not read, `nodes` holds only this one's ancestors, redacted; a page may thus
/// hold fewer nodes than `limit` and still have a next one.
pub async fn lineage(
    State(s): St,
    headers: HeaderMap,
    Path(execution): Path<String>,
    q: Result<axum::extract::Query<LineageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let caller = require(&s, &headers, Access::Authenticated)?;
    let invalid = |m: String| ApiError::bad_request(writ_model::ReasonCode::QueryInvalid, m);
    let axum::extract::Query(q) =
        q.map_err(|e| invalid(format!("{e}; parameters: limit, cursor")))?;
    let limit = q.limit.unwrap_or(LINEAGE_PAGE);
    if limit == 0 || limit > LINEAGE_PAGE_MAX {
        return Err(invalid(format!("limit must be 1 to {LINEAGE_PAGE_MAX}")));
    }
    let after = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<u64>().map_err(|_| {
                invalid("cursor is not one this server gave: pass next_cursor as is".into())
            })
        })
        .transpose()?;
    let execution = parse_execution(&execution)?;
    let row = readable_execution(&s, &caller, execution).await?;
    let mut ancestor_ids = BTreeSet::new();
    let mut ancestors = Vec::new();
    let mut seen = BTreeSet::from([execution]);
    let mut next = row.lineage.parent;
    while let Some(p) = next {
        if !seen.insert(p) || ancestors.len() >= LINEAGE_LIMIT {
            break;
        }
        ancestor_ids.insert(p.to_string());
        let prow = s.execs.get(p).map_err(index_err)?;
        ancestors
            .push(json!({"execution": p, "principal": prow.as_ref().map(|r| r.principal.clone())}));
        next = prow.and_then(|r| r.lineage.parent);
    }
    let mut descendants = Vec::new();
    let mut queue = VecDeque::from([execution]);
    while let Some(e) = queue.pop_front() {
        for c in s.execs.children(e).map_err(index_err)? {
            if descendants.len() >= LINEAGE_LIMIT || !seen.insert(c) {
                continue;
            }
            descendants.push(json!({"execution": c, "parent": e}));
            queue.push_back(c);
        }
    }
    // The tree: one more row than asked tells whether there is a next page.
    let mut rows = s
        .execs
        .tree(row.lineage.root, after, limit + 1)
        .map_err(index_err)?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.found.ledger_index.to_string())
    } else {
        None
    };
    let reads_all = crate::guard::reads_every_execution(&s, &caller);
    let mut nodes = Vec::with_capacity(rows.len());
    for r in rows {
        let readable = reads_all
            || r.found.execution == execution.to_string()
            || match r.found.execution.parse::<ExecutionId>() {
                Ok(id) => match s.execs.get(id).map_err(index_err)? {
                    Some(er) => may_read(&s, &caller, &er)?,
                    None => false,
                },
                Err(_) => false,
            };
        // An execution the caller may not read is shown (as its place only) when it is an
        // ancestor of this one, which this answer names anyway; any other is left out.
        if readable || ancestor_ids.contains(&r.found.execution) {
            nodes.push(lineage_node(&s, r, readable)?);
        }
    }
    let mut answer = json!({
        "execution": execution, "root": row.lineage.root, "traceparent": row.lineage.traceparent,
        "principal": row.principal, "ancestors": ancestors, "descendants": descendants,
        "nodes": nodes
    });
    if let (Some(c), Some(obj)) = (next_cursor, answer.as_object_mut()) {
        obj.insert("next_cursor".into(), Value::String(c));
    }
    Ok(Json(answer))
}
