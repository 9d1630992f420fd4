//! Errors of writ issue, verification, keys and delegation, each with a stable reason code.

use thiserror::Error;

/// Why a writ was refused by [`crate::Verifier`]. Every variant maps to a stable
/// [`reason_code`](VerifyError::reason_code) that gates put in receipts, metrics and logs.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum VerifyError {
    #[error("writ is larger than {limit} bytes: a writ is a short JWS, check what was passed")]
    TooLarge { limit: usize },
    #[error("writ is not a JWS compact serialization: {0}")]
    Malformed(String),
    #[error("writ header says alg \"none\": unsigned writs are never accepted")]
    AlgNone,
    #[error("writ header alg {0:?} is not allowed: writs are signed with EdDSA (Ed25519) only")]
    AlgNotAllowed(String),
    #[error("writ header typ {0:?} is not \"writ+jwt\": this token is not a writ")]
    BadTyp(String),
    #[error("writ header is invalid: {0}")]
    BadHeader(String),
    #[error("writ key id {0:?} is not in the JWKS: refresh the JWKS from the control plane")]
    UnknownKid(String),
    #[error("writ signature does not verify: the writ was altered or signed by another key")]
    BadSignature,
    #[error("writ lacks the required claim {0:?}")]
    MissingClaim(String),
    #[error("writ claim {claim:?} is invalid: {detail}")]
    BadClaim { claim: String, detail: String },
    #[error("writ was issued by {found:?}, this gate trusts {expected:?}")]
    WrongIssuer { expected: String, found: String },
    #[error("writ expired at {exp} (now {now}): ask the control plane for a new writ")]
    Expired { exp: i64, now: i64 },
    #[error(
        "writ is not valid before {nbf} (now {now}): check the clocks of gate and control plane"
    )]
    NotYetValid { nbf: i64, now: i64 },
    #[error(
        "writ was issued in the future ({iat}, now {now}): check the clocks of gate and control plane"
    )]
    IssuedInFuture { iat: i64, now: i64 },
    #[error("writ lifetime of {lifetime} s exceeds the allowed {max} s")]
    LifetimeTooLong { lifetime: i64, max: i64 },
    #[error("writ is for gate {found:?}, not for this gate {expected:?}")]
    WrongAudience { expected: String, found: String },
    #[error("writ is for zone {found:?}, this gate runs in zone {expected:?}")]
    WrongZone { expected: String, found: String },
    #[error(
        "writ does not authorize this call: {field} differs (writ {authorized:?}, call {requested:?})"
    )]
    IntentMismatch {
        field: &'static str,
        authorized: String,
        requested: String,
    },
    #[error("intent of the call cannot be digested: {0}")]
    IntentUnencodable(String),
    /// The call's arguments hold a number JSON readers disagree on (beyond ±(2^53 − 1)): its
    /// digest would match a writ issued for a neighbouring number.
    #[error("{0}")]
    NumberOutOfRange(writ_model::NumberError),
    #[error("writ {jti:?} was already used {max_uses} time(s), its max_uses")]
    Replayed { jti: String, max_uses: u32 },
    #[error(
        "replay cache is full of unexpired writs (capacity {capacity}): refusing instead of forgetting a live writ"
    )]
    ReplayCacheFull { capacity: usize },
    #[error("writ {0:?} is revoked")]
    RevokedJti(String),
    #[error("principal {0:?} is revoked")]
    RevokedPrincipal(String),
    #[error("zone {0:?} is revoked")]
    RevokedZone(String),
    #[error("the kill switch is engaged: no writ is accepted until an administrator releases it")]
    KillSwitch,
    #[error("writ was issued at {iat}, before the revocation epoch {epoch}: ask for a new writ")]
    IssuedBeforeEpoch { iat: i64, epoch: i64 },
}

impl VerifyError {
    /// A short stable code for metrics, receipts and API responses.
    pub fn reason_code(&self) -> writ_model::ReasonCode {
        match self {
            VerifyError::TooLarge { .. } => writ_model::ReasonCode::WritTooLarge,
            VerifyError::Malformed(_) => writ_model::ReasonCode::WritMalformed,
            VerifyError::AlgNone => writ_model::ReasonCode::WritAlgNone,
            VerifyError::AlgNotAllowed(_) => writ_model::ReasonCode::WritAlgNotAllowed,
            VerifyError::BadTyp(_) => writ_model::ReasonCode::WritBadTyp,
            VerifyError::BadHeader(_) => writ_model::ReasonCode::WritBadHeader,
            VerifyError::UnknownKid(_) => writ_model::ReasonCode::WritUnknownKid,
            VerifyError::BadSignature => writ_model::ReasonCode::WritBadSignature,
            VerifyError::MissingClaim(_) => writ_model::ReasonCode::WritMissingClaim,
            VerifyError::BadClaim { .. } => writ_model::ReasonCode::WritBadClaim,
            VerifyError::WrongIssuer { .. } => writ_model::ReasonCode::WritWrongIssuer,
            VerifyError::Expired { .. } => writ_model::ReasonCode::WritExpired,
            VerifyError::NotYetValid { .. } => writ_model::ReasonCode::WritNotYetValid,
            VerifyError::IssuedInFuture { .. } => writ_model::ReasonCode::WritIssuedInFuture,
            VerifyError::LifetimeTooLong { .. } => writ_model::ReasonCode::WritLifetimeTooLong,
            VerifyError::WrongAudience { .. } => writ_model::ReasonCode::WritWrongAudience,
            VerifyError::WrongZone { .. } => writ_model::ReasonCode::WritWrongZone,
            VerifyError::IntentMismatch { .. } => writ_model::ReasonCode::WritIntentMismatch,
            VerifyError::IntentUnencodable(_) => writ_model::ReasonCode::WritIntentUnencodable,
            VerifyError::NumberOutOfRange(e) => e.reason_code(),
            VerifyError::Replayed { .. } => writ_model::ReasonCode::WritReplayed,
            VerifyError::ReplayCacheFull { .. } => writ_model::ReasonCode::WritReplayCacheFull,
            VerifyError::RevokedJti(_) => writ_model::ReasonCode::WritRevokedJti,
            VerifyError::RevokedPrincipal(_) => writ_model::ReasonCode::WritRevokedPrincipal,
            VerifyError::RevokedZone(_) => writ_model::ReasonCode::WritRevokedZone,
            VerifyError::KillSwitch => writ_model::ReasonCode::WritKillSwitch,
            VerifyError::IssuedBeforeEpoch { .. } => writ_model::ReasonCode::WritIssuedBeforeEpoch,
        }
    }

    /// True when the token could not even be read as a JWS (as opposed to a well-formed
    /// writ that is refused). The CLI maps this to "invalid input".
    pub fn is_malformed_input(&self) -> bool {
        matches!(
            self,
            VerifyError::TooLarge { .. }
                | VerifyError::Malformed(_)
                | VerifyError::NumberOutOfRange(_)
        )
    }

    pub(crate) fn bad_claim(claim: &str, detail: impl Into<String>) -> Self {
        VerifyError::BadClaim {
            claim: claim.to_owned(),
            detail: detail.into(),
        }
    }
}

/// Keys, key files and JWKS.
#[derive(Debug, Error)]
pub enum KeyError {
    #[error("cannot get randomness from the operating system: {0}")]
    Randomness(String),
    #[error("JWKS is invalid: {0}")]
    BadJwks(String),
    #[error("JWK {kid:?} is invalid: {detail}")]
    BadJwk { kid: String, detail: String },
    #[error("JWKS holds the key id {0:?} twice: key ids must be unique")]
    DuplicateKid(String),
    #[error("key file {path} is readable by group or others (mode {mode:o}): run chmod 600 {path}")]
    InsecureKeyFile { path: String, mode: u32 },
    #[error("key file {path} is invalid: {detail}")]
    BadKeyFile { path: String, detail: String },
    #[error("cannot {action} key file {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl KeyError {
    /// A short stable code for metrics and API responses.
    pub fn reason_code(&self) -> writ_model::ReasonCode {
        match self {
            KeyError::Randomness(_) => writ_model::ReasonCode::KeyNoRandomness,
            KeyError::BadJwks(_) => writ_model::ReasonCode::JwksInvalid,
            KeyError::BadJwk { .. } => writ_model::ReasonCode::JwkInvalid,
            KeyError::DuplicateKid(_) => writ_model::ReasonCode::JwksDuplicateKid,
            KeyError::InsecureKeyFile { .. } => writ_model::ReasonCode::KeyFileInsecure,
            KeyError::BadKeyFile { .. } => writ_model::ReasonCode::KeyFileInvalid,
            KeyError::Io { .. } => writ_model::ReasonCode::KeyFileIo,
        }
    }
}

/// Why the issuer refused to mint a writ.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum IssueError {
    #[error("writ lifetime {requested} s is outside 1..={max} s: ask for a shorter writ")]
    BadLifetime { requested: i64, max: i64 },
    #[error("writ claim {claim:?} is invalid: {detail}")]
    BadClaim { claim: String, detail: String },
    #[error("cannot encode the writ: {0}")]
    Encode(String),
}

impl IssueError {
    /// A short stable code for metrics and API responses.
    pub fn reason_code(&self) -> writ_model::ReasonCode {
        match self {
            IssueError::BadLifetime { .. } => writ_model::ReasonCode::IssueBadLifetime,
            IssueError::BadClaim { .. } => writ_model::ReasonCode::IssueBadClaim,
            IssueError::Encode(_) => writ_model::ReasonCode::IssueEncodeFailed,
        }
    }
}

/// Why a child writ was not minted from its parent (DESIGN.md, "Delegation").
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DelegationError {
    #[error("the parent writ grants no delegation: its scope has no \"delegate\" part")]
    NotDelegable,
    #[error("the parent writ expired at {exp} (now {now}): a child cannot outlive it")]
    ParentExpired { exp: i64, now: i64 },
    #[error("child action {0:?} is not among the actions the parent may delegate")]
    ActionNotDelegated(String),
    #[error("child resource {0:?} is not covered by the resources the parent may delegate")]
    ResourceNotDelegated(String),
    #[error("child zone {0:?} is not among the zones the parent may delegate")]
    ZoneNotDelegated(String),
    #[error("child scope is wider than the parent's: {0}")]
    ScopeNotSubset(String),
    #[error("child max_uses {child} exceeds the parent's {parent}")]
    MaxUsesExceeded { child: u32, parent: u32 },
    #[error(
        "child would expire at {child_exp}, after its parent ({parent_exp}): ask for a shorter lifetime"
    )]
    OutlivesParent { child_exp: i64, parent_exp: i64 },
    #[error("child writ cannot be issued: {0}")]
    Issue(#[from] IssueError),
}

impl DelegationError {
    /// A short stable code for metrics and API responses.
    pub fn reason_code(&self) -> writ_model::ReasonCode {
        match self {
            DelegationError::NotDelegable => writ_model::ReasonCode::DelegationNotGranted,
            DelegationError::ParentExpired { .. } => {
                writ_model::ReasonCode::DelegationParentExpired
            }
            DelegationError::ActionNotDelegated(_) => {
                writ_model::ReasonCode::DelegationActionNotInScope
            }
            DelegationError::ResourceNotDelegated(_) => {
                writ_model::ReasonCode::DelegationResourceNotInScope
            }
            DelegationError::ZoneNotDelegated(_) => {
                writ_model::ReasonCode::DelegationZoneNotInScope
            }
            DelegationError::ScopeNotSubset(_) => writ_model::ReasonCode::DelegationScopeNotSubset,
            DelegationError::MaxUsesExceeded { .. } => {
                writ_model::ReasonCode::DelegationMaxUsesExceeded
            }
            DelegationError::OutlivesParent { .. } => {
                writ_model::ReasonCode::DelegationOutlivesParent
            }
            DelegationError::Issue(e) => e.reason_code(),
        }
    }
}
