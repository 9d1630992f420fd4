//! `GET /v1/executions`: search the executions by principal, decision, reason code, action,
//! resource, gate, zone and time, newest first, a page at a time.
//!
//! A caller sees only executions it may read, by the rule proofs and lineage follow
//! (`gate_api::may_read`): the admin token and people with a role see all; a gate those it was
//! named for; a principal its own and those in lineages it acted in. The last is narrowed in
//! SQL (executions sharing a root with one of the caller's) and then checked row by row.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::auth::Access;
use crate::auth::Scope as TokenScope;
use crate::error::ApiError;
use crate::exec_search::{Filter, Found, Scope};
use crate::guard::{reads_every_execution, require};
use crate::state::AppState;

type St = State<Arc<AppState>>;

/// Rows per page unless `limit` says otherwise, and the most a page holds.
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;
/// Most rows looked at for one page when rows are checked one by one (a principal's search).
const MAX_SCANNED: u32 = 5_000;

/// The query of `GET /v1/executions`; every filter optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    pub principal: Option<String>,
    pub decision: Option<String>,
    pub reason_code: Option<String>,
    pub action: Option<String>,
    pub resource: Option<String>,
    pub gate: Option<String>,
    pub zone: Option<String>,
    /// Decided at or after (Unix seconds).
    pub since: Option<i64>,
    /// Decided before (Unix seconds).
    pub until: Option<i64>,
    /// Rows per page (1 to 500, default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of executions.
#[derive(Debug, Serialize)]
pub struct Page {
    pub executions: Vec<Found>,
    /// Pass as `cursor` for the next page; absent on the last page (as in lineage's pages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(writ_model::ReasonCode::QueryInvalid, message)
}

fn index_err(e: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable(
        writ_model::ReasonCode::IndexUnavailable,
        format!("the execution index cannot answer: {e}"),
    )
}

/// `GET /v1/executions`.
pub async fn search(
    State(s): St,
    headers: HeaderMap,
    q: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page>, ApiError> {
    let caller = require(&s, &headers, Access::Authenticated)?;
    let Query(q) = q.map_err(|e| {
        invalid(format!(
            "{e}; filters: principal, decision, reason_code, action, resource, gate, zone, since, until, limit, cursor"
        ))
    })?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(invalid(format!("limit must be 1 to {MAX_LIMIT}")));
    }
    if let Some(d) = &q.decision
        && d != "allow"
        && d != "deny"
    {
        return Err(invalid("decision is allow or deny"));
    }
    let before = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<u64>()
                .map_err(|_| invalid("cursor is not one this server gave: pass next_cursor as is"))
        })
        .transpose()?;
    let mut filter = Filter {
        principal: q.principal,
        decision: q.decision,
        reason_code: q.reason_code,
        action: q.action,
        resource: q.resource,
        gate: q.gate,
        zone: q.zone,
        since: q.since,
        until: q.until,
        before,
    };
    let scope = if reads_every_execution(&s, &caller) {
        Scope::All
    } else {
        match caller.scope {
            TokenScope::Gate => Scope::Gate(caller.subject.clone()),
            _ => Scope::Lineage(caller.subject.clone()),
        }
    };
    // Everything acknowledged before the call is searchable.
    s.execs.caught_up().await.map_err(index_err)?;
    let Scope::Lineage(_) = scope else {
        // One more row than asked tells whether there is a next page.
        let mut rows = s
            .execs
            .search(&filter, &scope, limit + 1)
            .map_err(index_err)?;
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|r| r.ledger_index.to_string())
        } else {
            None
        };
        return Ok(Json(Page {
            executions: rows,
            next_cursor: next,
        }));
    };
    // Rows of lineages the caller acted in: each checked as a proof request would be.
    let mut out = Vec::new();
    let mut scanned = 0u32;
    loop {
        let batch = s
            .execs
            .search(&filter, &scope, limit + 1)
            .map_err(index_err)?;
        let exhausted = batch.len() <= limit as usize;
        for row in batch {
            scanned += 1;
            filter.before = Some(row.ledger_index);
            if out.len() == limit as usize {
                // A further row exists: the page ends at the last one kept.
                let cursor = out.last().map(|r: &Found| r.ledger_index.to_string());
                return Ok(Json(Page {
                    executions: out,
                    next_cursor: cursor,
                }));
            }
            if crate::gate_api::may_read_execution(&s, &caller, &row.execution)? {
                out.push(row);
            }
        }
        if exhausted {
            return Ok(Json(Page {
                executions: out,
                next_cursor: None,
            }));
        }
        if scanned >= MAX_SCANNED {
            // Long runs of rows the caller may not read: hand back what was found so far.
            let cursor = filter.before.map(|b| b.to_string());
            return Ok(Json(Page {
                executions: out,
                next_cursor: cursor,
            }));
        }
    }
}
