//! Who may call a route: a request's bearer token checked against the access level the route
//! table (`openapi.rs`) gives it, and who reads every execution. Shared by every route family;
//! imports none of them.

use axum::http::HeaderMap;
use writ_model::PrincipalId;

use crate::auth::{Access, Caller, Scope, bearer, token_hash};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::Role;

/// Authenticates a request for a route of the given access level.
pub fn require(state: &AppState, headers: &HeaderMap, access: Access) -> Result<Caller, ApiError> {
    if access == Access::Public {
        return Ok(Caller {
            scope: Scope::Admin,
            subject: "public".into(),
        });
    }
    let token = bearer(headers)?;
    let caller = state
        .store
        .caller_for_token_hash(&token_hash(token))
        .ok_or_else(|| ApiError::unauthorized("the bearer token is unknown or revoked"))?;
    if caller.scope == Scope::Gate {
        // Any request a gate's token authenticates is a contact (the Health Dashboard's
        // "last heartbeat"), whether or not the route lets it through.
        state
            .contacts
            .touch(&caller.subject, state.now(), "request");
    }
    let allowed = match access {
        Access::Public | Access::Authenticated => true,
        Access::Principal => caller.scope == Scope::Principal,
        Access::Gate => caller.scope == Scope::Gate,
        Access::GateOrAdmin => matches!(caller.scope, Scope::Gate | Scope::Admin),
        Access::Admin => caller.scope == Scope::Admin,
        Access::Reader | Access::LedgerRead => reads_every_execution(state, &caller),
        Access::GateOrReader => {
            caller.scope == Scope::Gate || reads_every_execution(state, &caller)
        }
        Access::Operator => governs(state, &caller),
    };
    if !allowed {
        return Err(ApiError::forbidden(
            writ_model::ReasonCode::ScopeInsufficient,
            format!("a {} token cannot call this route", caller.scope),
        ));
    }
    Ok(caller)
}

/// Lets a ledger read (tiles, entry bundles, consistency proofs) through: to anyone when the
/// operator made ledger reads public (`[ledger] public_reads`), else to a read role's token.
/// It yields no caller, so a public read can never be mistaken for an authenticated one.
pub fn allow_ledger_read(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if state.config.ledger.public_reads {
        return Ok(());
    }
    require(state, headers, Access::LedgerRead).map(|_| ())
}

/// Whether `caller` reads every execution and the status: the admin token, or an active person
/// (`human:`) whose role reads executions (admin, operator, auditor).
pub fn reads_every_execution(state: &AppState, caller: &Caller) -> bool {
    match caller.scope {
        Scope::Admin => true,
        Scope::Gate => false,
        Scope::Principal => person_role(state, caller).is_some_and(Role::reads_executions),
    }
}

/// The role of a person (`human:`) in good standing a principal's token stands for; `None` for
/// anyone else: agents, services, people without a role, and people revoked, quarantined or
/// registered in a withdrawn zone (a quarantined operator cannot release their own quarantine).
pub fn person_role(state: &AppState, caller: &Caller) -> Option<Role> {
    if caller.scope != Scope::Principal {
        return None;
    }
    state.store.read(|r| {
        if r.principal_withdrawn(&caller.subject).is_some() {
            return None;
        }
        r.principals
            .get(&caller.subject)
            .filter(|p| p.id.starts_with("human:") && p.status == "active")
            .and_then(|p| p.role)
    })
}

/// Whether `caller` may take governance acts: the admin token, or an active person whose
/// role is admin or operator.
pub fn governs(state: &AppState, caller: &Caller) -> bool {
    match caller.scope {
        Scope::Admin => true,
        Scope::Gate => false,
        Scope::Principal => person_role(state, caller).is_some_and(Role::governs),
    }
}

/// Authenticates a principal's token and returns the principal it stands for.
pub fn require_principal(state: &AppState, headers: &HeaderMap) -> Result<PrincipalId, ApiError> {
    require(state, headers, Access::Principal)?
        .subject
        .parse()
        .map_err(|_| {
            ApiError::forbidden(
                writ_model::ReasonCode::PrincipalInvalid,
                "the token's principal id is invalid; issue a new token with `writ principal add`",
            )
        })
}
