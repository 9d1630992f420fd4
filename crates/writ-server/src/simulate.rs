//! A candidate bundle simulated against the last N recorded requests
//! (`POST /v1/admin/bundles/simulate` with `last`), read back from the ledger whole.
//!
//! The execution index knows each execution's clear fields only; the request a policy decides
//! on (arguments, the principal's registered attributes, the actor, the lineage) is in the
//! decision record. A v1 record keeps it in clear; a v2 record commits it, and the evidence
//! store holds its disclosure, checked against the entry's commitment when read. A request
//! whose disclosure was erased (or does not match its entry) cannot be rebuilt: it is listed
//! as not simulated, with why, rather than decided on made-up (empty) arguments.

use serde_json::{Value, json};
use writ_authorize::Bundle;
use writ_ledger::evidence::{DecisionEvidence, EvidenceError, decision_from, entry_version};

use crate::error::ApiError;
use crate::exec_search::{Filter, Found, Scope};
use crate::state::AppState;

/// Most recorded requests one simulation replays.
pub const MAX_LAST: u32 = 1000;

/// Replays the last `last` recorded requests under `bundle`; each is decided at `now` when
/// given, else at the time it was recorded. Blocking (ledger and index reads).
pub fn recorded(
    s: &AppState,
    bundle: &Bundle,
    last: u32,
    now: Option<i64>,
) -> Result<Value, ApiError> {
    let unavailable = |e: String| {
        ApiError::unavailable(
            writ_model::ReasonCode::IndexUnavailable,
            format!("the recorded requests cannot be read: {e}"),
        )
    };
    let found = s
        .execs
        .search(&Filter::default(), &Scope::All, last)
        .map_err(|e| unavailable(e.to_string()))?;
    let mut out = Vec::with_capacity(found.len());
    let (mut simulated, mut changed, mut missing) = (0u64, 0u64, 0u64);
    for f in &found {
        let entry = s
            .ledger
            .entry(f.ledger_index)
            .map_err(|e| unavailable(e.to_string()))?;
        let disclosure = s
            .ledger
            .disclosures(&[f.ledger_index])
            .map_err(|e| unavailable(e.to_string()))?
            .pop();
        // A v2 entry's request comes from its disclosure (checked against the commitment).
        let committed = entry_version(&entry).is_some_and(|(_, v)| v >= 2);
        let evidence = decision_from(f.ledger_index, &entry, disclosure.as_ref());
        let row = replay(bundle, f, evidence, committed, now);
        match row.get("changed").and_then(Value::as_bool) {
            Some(c) => {
                simulated += 1;
                changed += u64::from(c);
            }
            None => missing += 1,
        }
        out.push(row);
    }
    Ok(json!({
        "bundle_sha256": bundle.digest(),
        "recorded": out,
        "summary": {
            "requests": found.len(),
            "simulated": simulated,
            "changed": changed,
            "not_simulated": missing,
        },
    }))
}

/// One recorded request replayed, or why it could not be.
fn replay(
    bundle: &Bundle,
    f: &Found,
    evidence: Result<DecisionEvidence, EvidenceError>,
    committed: bool,
    now: Option<i64>,
) -> Value {
    let (arguments, recorded, simulated, changed, note) = match evidence {
        Ok(DecisionEvidence::Record(r)) => {
            let sim = writ_authorize::decide(bundle, &r.request, now.unwrap_or(r.now));
            (
                json!(if committed { "disclosed" } else { "recorded" }),
                json!({"decision": r.decision, "reason_code": r.reason_code, "now": r.now}),
                serde_json::to_value(&sim).unwrap_or(Value::Null),
                json!(sim.decision != r.decision),
                Value::Null,
            )
        }
        Ok(DecisionEvidence::Erased(_)) => (
            json!("erased"),
            json!({"decision": f.decision, "reason_code": f.reason_code}),
            Value::Null,
            Value::Null,
            json!(
                "not simulated: the request's disclosure (its arguments and the principal's attributes) was erased from the evidence store; the ledger keeps only its commitment"
            ),
        ),
        Err(e) => (
            json!("unreadable"),
            json!({"decision": f.decision, "reason_code": f.reason_code}),
            Value::Null,
            Value::Null,
            json!(format!("not simulated: {e}")),
        ),
    };
    json!({
        "execution": f.execution,
        "ledger_index": f.ledger_index,
        "principal": f.principal,
        "action": f.action,
        "resource": f.resource,
        "gate": f.gate,
        "zone": f.zone,
        "recorded": recorded,
        "arguments": arguments,
        "simulated": simulated,
        "changed": changed,
        "note": note,
    })
}
