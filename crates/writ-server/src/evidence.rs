//! Evidence erasure (`POST /v1/admin/evidence/erase`): the disclosures of an execution's ledger
//! entries, or of every execution of a principal decided before a time, are deleted from the
//! evidence store and the stored copies of their writs from the writ log, bytes and all (secure
//! deletion, WAL checkpointed and truncated), after an `evidence.erased` entry listing the ledger
//! indexes whose disclosures go has been recorded: no deletion happens without its entry. The entries and their commitments stay: every proof
//! still verifies, without those disclosures, and `writ replay` reports them as erased.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use writ_model::entries::{ENTRY_VERSION, ErasedType, EvidenceErased};
use writ_model::{ExecutionId, PrincipalId};

use crate::auth::Access;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::guard::require;
use crate::record::{index_err, record};
use crate::state::AppState;

/// Body of `POST /v1/admin/evidence/erase`: an execution, or a principal and a time.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EraseBody {
    pub execution: Option<ExecutionId>,
    pub principal: Option<PrincipalId>,
    /// With `principal`: executions decided before this time (Unix seconds).
    pub before: Option<i64>,
    /// Why, recorded in clear in the `evidence.erased` entry.
    pub reason: Option<String>,
}

fn ledger_err(e: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable(writ_model::ReasonCode::LedgerUnavailable, e.to_string())
}

pub async fn erase(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<ApiJson<EraseBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let admin = require(&s, &headers, Access::Admin)?;
    let ApiJson(b) = body?;
    s.execs.caught_up().await.map_err(index_err)?;
    let executions = match (b.execution, &b.principal, b.before) {
        (Some(e), None, None) => {
            if s.execs.get(e).map_err(index_err)?.is_none() {
                return Err(ApiError::not_found(
                    writ_model::ReasonCode::ExecutionUnknown,
                    format!("execution {e} is not known to this control plane"),
                ));
            }
            vec![e]
        }
        (None, Some(p), Some(before)) => s
            .execs
            .executions_of(&p.to_string(), before)
            .map_err(index_err)?,
        _ => {
            return Err(ApiError::bad_request(
                writ_model::ReasonCode::EraseTargetInvalid,
                "give either \"execution\", or \"principal\" and \"before\" (Unix seconds)",
            ));
        }
    };
    let mut indexes = Vec::new();
    for e in &executions {
        indexes.extend(s.execs.entries(*e).map_err(index_err)?);
    }
    indexes.sort_unstable();
    indexes.dedup();
    let ledger = s.ledger.clone();
    // Entries v2 commit to what they hide; a v1 entry holds it in clear and cannot be erased
    // without breaking the log, so it is reported, not touched.
    let (committed, clear) = tokio::task::spawn_blocking(move || {
        let mut committed = Vec::new();
        let mut clear = Vec::new();
        for &i in &indexes {
            let entry = ledger.entry(i)?;
            if writ_ledger::commitment::entry_commitment(&entry).is_some() {
                committed.push(i);
            } else if writ_ledger::evidence::entry_version(&entry).is_some_and(|(_, v)| v < 2) {
                clear.push(i);
            }
        }
        Ok::<_, writ_ledger::LedgerError>((committed, clear))
    })
    .await
    .map_err(|_| ledger_err("the ledger reader stopped"))?
    .map_err(ledger_err)?;
    // The erasure is a governance act: it is recorded before a byte is deleted, so no deletion
    // ever happens without its entry. A failure after the record leaves the bytes in place and
    // says so; the erasure is idempotent, so running it again finishes it.
    let ledger_index = if executions.is_empty() {
        None
    } else {
        let entry = EvidenceErased {
            kind: ErasedType::Erased,
            v: ENTRY_VERSION,
            indexes: committed.clone(),
            by: admin.subject.clone(),
            at: s.now(),
            reason: b.reason,
        };
        Some(record(&s, &entry).await?)
    };
    let unfinished = |e: String| {
        ApiError::unavailable(
            writ_model::ReasonCode::LedgerUnavailable,
            format!(
                "the erasure is recorded (ledger index {}) but deleting failed: {e}; run the same erasure again to finish it",
                ledger_index.map_or_else(|| "none".to_string(), |i| i.to_string())
            ),
        )
    };
    let ledger = s.ledger.clone();
    let to_erase = committed.clone();
    tokio::task::spawn_blocking(move || ledger.erase_disclosures(&to_erase))
        .await
        .map_err(|_| unfinished("the ledger writer stopped".to_string()))?
        .map_err(|e| unfinished(e.to_string()))?;
    let writs = s
        .execs
        .erase_writs(&executions)
        .await
        .map_err(|e| unfinished(e.to_string()))?;
    Ok(Json(json!({
        "executions": executions,
        "indexes": committed,
        "clear_entries": clear,
        "writs": writs,
        "ledger_index": ledger_index,
    })))
}
