//! Minting writs: the control plane calls [`Issuer::issue`] after a decision was allowed and
//! recorded, and [`Issuer::mint_child`] for delegation.

use std::sync::Arc;

use writ_model::{Clock, ExecutionId, GateId, IntentDigest, Lineage, PrincipalId};

use crate::claims::{Act, Env, LedgerRef, PolicyInfo, WritClaims, check_form};
use crate::error::{DelegationError, IssueError};
use crate::jws::{ALG, Header, TYP, b64};
use crate::keys::KeyRing;
use crate::scope::Scope;

/// Default writ lifetime (DESIGN.md: 60 s).
pub const DEFAULT_LIFETIME_SECS: i64 = 60;
/// Default upper bound on a requested lifetime.
pub const DEFAULT_MAX_LIFETIME_SECS: i64 = 600;

/// Issuer settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerConfig {
    /// The control plane's id (`iss`).
    pub issuer: String,
    pub default_lifetime_secs: i64,
    pub max_lifetime_secs: i64,
}

impl IssuerConfig {
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            default_lifetime_secs: DEFAULT_LIFETIME_SECS,
            max_lifetime_secs: DEFAULT_MAX_LIFETIME_SECS,
        }
    }
}

/// Everything the control plane knows about one allowed action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRequest {
    pub sub: PrincipalId,
    pub act: Option<Act>,
    pub aud: GateId,
    pub intent: IntentDigest,
    pub env: Env,
    pub policy: PolicyInfo,
    pub scope: Scope,
    pub lineage: Lineage,
    pub ledger: LedgerRef,
    /// Seconds; `None` takes the configured default.
    pub lifetime_secs: Option<i64>,
}

/// A freshly signed writ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedWrit {
    /// The JWS compact serialization handed to the agent.
    pub token: String,
    pub kid: String,
    pub claims: WritClaims,
}

/// What a delegating agent asks for its sub-agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildRequest {
    /// The sub-agent that will act.
    pub sub: PrincipalId,
    pub aud: GateId,
    pub intent: IntentDigest,
    pub env: Env,
    pub policy: PolicyInfo,
    pub scope: Scope,
    /// The child's execution; its lineage parent is the parent writ's execution.
    pub execution: ExecutionId,
    pub ledger: LedgerRef,
    /// Seconds; `None` takes the default, capped so the child ends no later than its parent.
    pub lifetime_secs: Option<i64>,
}

/// Signs writs with the active key of a [`KeyRing`]; time comes from a [`Clock`].
pub struct Issuer {
    ring: Arc<KeyRing>,
    clock: Arc<dyn Clock>,
    config: IssuerConfig,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("config", &self.config)
            .field("ring", &self.ring)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    pub fn new(ring: Arc<KeyRing>, clock: Arc<dyn Clock>, config: IssuerConfig) -> Self {
        Self {
            ring,
            clock,
            config,
        }
    }

    pub fn config(&self) -> &IssuerConfig {
        &self.config
    }

    pub fn key_ring(&self) -> &Arc<KeyRing> {
        &self.ring
    }

    /// Mints and signs a writ valid from now for the requested (or default) lifetime.
    pub fn issue(&self, req: IssueRequest) -> Result<IssuedWrit, IssueError> {
        self.issue_at(req, self.clock.now_unix())
    }

    fn issue_at(&self, req: IssueRequest, now: i64) -> Result<IssuedWrit, IssueError> {
        let lifetime = req
            .lifetime_secs
            .unwrap_or(self.config.default_lifetime_secs);
        if lifetime < 1 || lifetime > self.config.max_lifetime_secs {
            return Err(IssueError::BadLifetime {
                requested: lifetime,
                max: self.config.max_lifetime_secs,
            });
        }
        let exp = now.checked_add(lifetime).ok_or(IssueError::BadLifetime {
            requested: lifetime,
            max: self.config.max_lifetime_secs,
        })?;
        let claims = WritClaims {
            iss: self.config.issuer.clone(),
            sub: req.sub,
            act: req.act,
            aud: req.aud,
            // One writ per execution: the jti is the execution id (a UUIDv7, unique), so
            // whoever holds a jti can find the execution's records, and back.
            jti: req.lineage.execution.to_string(),
            iat: now,
            nbf: now,
            exp,
            intent: req.intent,
            env: req.env,
            policy: req.policy,
            scope: req.scope,
            lineage: req.lineage,
            ledger: req.ledger,
        };
        check_form(&claims).map_err(|(claim, detail)| IssueError::BadClaim {
            claim: claim.to_owned(),
            detail,
        })?;
        self.sign(claims)
    }

    fn sign(&self, claims: WritClaims) -> Result<IssuedWrit, IssueError> {
        let key = self.ring.active_for(claims.exp);
        let header = Header {
            alg: ALG.to_owned(),
            typ: TYP.to_owned(),
            kid: key.kid().to_owned(),
        };
        let enc = |e: serde_json::Error| IssueError::Encode(e.to_string());
        let header_json = serde_json::to_vec(&header).map_err(enc)?;
        let payload_json = serde_json::to_vec(&claims).map_err(enc)?;
        let mut token = b64(&header_json);
        token.push('.');
        token.push_str(&b64(&payload_json));
        let sig = key.sign(token.as_bytes());
        token.push('.');
        token.push_str(&b64(&sig.to_bytes()));
        Ok(IssuedWrit {
            token,
            kid: header.kid,
            claims,
        })
    }

    /// Mints a child writ for a sub-agent from `parent` (the claims of a writ the caller has
    /// verified). The child's scope must be a subset of the parent's, it must end no later
    /// than the parent, it acts on behalf of the parent's subject, and its lineage parent is
    /// the parent's execution. Any violation is a named [`DelegationError`].
    pub fn mint_child(
        &self,
        parent: &WritClaims,
        req: ChildRequest,
    ) -> Result<IssuedWrit, DelegationError> {
        let now = self.clock.now_unix();
        if now >= parent.exp {
            return Err(DelegationError::ParentExpired {
                exp: parent.exp,
                now,
            });
        }
        parent
            .scope
            .check_child(&req.scope, &req.intent, &req.env.zone)?;
        let lifetime = match req.lifetime_secs {
            Some(l) => l,
            None => self.config.default_lifetime_secs.min(parent.exp - now),
        };
        let child_exp = now.saturating_add(lifetime);
        if child_exp > parent.exp {
            return Err(DelegationError::OutlivesParent {
                child_exp,
                parent_exp: parent.exp,
            });
        }
        let act = Act {
            sub: parent.sub.clone(),
            act: parent.act.clone().map(Box::new),
        };
        Ok(self.issue_at(
            IssueRequest {
                sub: req.sub,
                act: Some(act),
                aud: req.aud,
                intent: req.intent,
                env: req.env,
                policy: req.policy,
                scope: req.scope,
                lineage: Lineage::child_of(req.execution, &parent.lineage),
                ledger: req.ledger,
                lifetime_secs: Some(lifetime),
            },
            now,
        )?)
    }
}
