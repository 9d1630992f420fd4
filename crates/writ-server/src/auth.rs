//! Bearer tokens: generated once, shown once, stored only as SHA-256 hashes.
//!
//! A token carries a scope: `admin` (operators), `principal` (an agent, human or service that asks
//! for writs) or `gate` (an enforcement point that posts receipts and follows events). Agent and gate
//! tokens never carry the admin scope.

use std::fmt;
use std::str::FromStr;

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::ApiError;

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Admin,
    Principal,
    Gate,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::Principal => "principal",
            Scope::Gate => "gate",
        }
    }
}

impl FromStr for Scope {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "admin" => Ok(Scope::Admin),
            "principal" => Ok(Scope::Principal),
            "gate" => Ok(Scope::Gate),
            _ => Err(()),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a request comes from, once its token checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub scope: Scope,
    /// `admin:NAME`, a principal id or a gate id.
    pub subject: String,
}

/// A fresh secret token: `writ_` + scope + 32 random bytes in base64url.
pub fn new_token(scope: Scope) -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!(
        "writ_{}_{}",
        scope.as_str(),
        URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// The hash under which a token is stored and looked up.
pub fn token_hash(token: &str) -> String {
    writ_model::digest::sha256_hex(token.as_bytes())
}

/// Reads the bearer token of a request; a missing or malformed header is a 401.
pub fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("send `Authorization: Bearer <token>`; tokens come from `writ principal add` or `writ gate add`"))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not ASCII"))?;
    let token = value
        .strip_prefix("Bearer ")
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer <token>`"))?
        .trim();
    if token.is_empty() || token.len() > 256 {
        return Err(ApiError::unauthorized(
            "the bearer token is empty or too long",
        ));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hash_stably() {
        let a = new_token(Scope::Principal).unwrap();
        let b = new_token(Scope::Principal).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("writ_principal_"));
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
    }

    #[test]
    fn bearer_header_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(
            bearer(&h).unwrap_err().code,
            writ_model::ReasonCode::Unauthenticated
        );
        h.insert("authorization", "Basic abc".parse().unwrap());
        assert!(bearer(&h).is_err());
        h.insert("authorization", "Bearer writ_admin_x".parse().unwrap());
        assert_eq!(bearer(&h).unwrap(), "writ_admin_x");
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Health, keys, the OpenAPI document and public ledger reads.
    Public,
    /// Any valid token (principal, gate or admin).
    Authenticated,
    /// A principal's token (agents, humans, services).
    Principal,
    /// A gate's token.
    Gate,
    /// A gate's or an admin's token.
    GateOrAdmin,
    /// A gate's token, or a reader's (the admin token, a person with a role): the event feed,
    /// which the console follows too.
    GateOrReader,
    /// An admin token; agent and gate tokens never reach these.
    Admin,
    /// The admin token or a person (`human:`) with a role (admin, operator, auditor): reads
    /// of the whole control plane's state.
    Reader,
    /// Ledger tiles, entry bundles and consistency proofs: [`Access::Reader`], or anyone when
    /// the operator made ledger reads public (`[ledger] public_reads`).
    LedgerRead,
    /// The admin token or a person whose role governs (admin, operator): revoke, quarantine,
    /// the kill switch, bundle checks and activation. Agent and gate tokens never reach these.
    Operator,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Authenticated => "authenticated",
            Access::Principal => "principal",
            Access::Gate => "gate",
            Access::GateOrAdmin => "gate_or_admin",
            Access::GateOrReader => "gate_or_reader",
            Access::Admin => "admin",
            Access::Reader => "reader",
            Access::LedgerRead => "ledger_read",
            Access::Operator => "operator",
        }
    }
}
