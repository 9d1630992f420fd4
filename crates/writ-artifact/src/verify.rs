//! Offline verification, as a gate does it before executing anything.
//!
//! Order matters: size and form, then `alg`/`typ` pinned, then the key id, then the strict
//! Ed25519 signature, and only then the claims (issuer, time, audience, zone, intent,
//! revocation) and last the replay cache, so a writ is counted only when it is otherwise
//! acceptable.

use std::sync::{Arc, RwLock};

use writ_model::{Clock, GateId, Intent, IntentDigest, ZoneId};

use crate::claims::{REQUIRED_CLAIMS, WritClaims, check_form};
use crate::error::VerifyError;
use crate::jws::{Header, split, unb64};
use crate::keys::VerificationKeys;
use crate::replay::ReplayCache;
use crate::revocation::RevocationSet;

/// Default clock leeway a verifier allows (DESIGN.md: "a configured few seconds").
pub const DEFAULT_LEEWAY_SECS: i64 = 5;

/// What a gate expects of the writs it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    /// This gate's id: `aud` must equal it.
    pub gate: GateId,
    /// The control plane's id; when set, `iss` must equal it.
    pub issuer: Option<String>,
    /// This gate's zone; when set, `env.zone` must equal it.
    pub zone: Option<ZoneId>,
    /// Clock leeway for `nbf`, `iat` and `exp` (seconds, default 5).
    pub leeway_secs: i64,
    /// Longest accepted `exp - iat` (seconds).
    pub max_lifetime_secs: i64,
}

impl VerifierConfig {
    pub fn new(gate: GateId) -> Self {
        Self {
            gate,
            issuer: None,
            zone: None,
            leeway_secs: DEFAULT_LEEWAY_SECS,
            max_lifetime_secs: crate::issue::DEFAULT_MAX_LIFETIME_SECS,
        }
    }
}

/// A writ that passed every check. Only [`Verifier`] makes one, so code holding a
/// `VerifiedWrit` never needs to check again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedWrit {
    claims: WritClaims,
    kid: String,
    use_number: Option<u32>,
}

impl VerifiedWrit {
    pub fn claims(&self) -> &WritClaims {
        &self.claims
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Which use of the writ this was (1 for the first), when a replay cache is attached.
    pub fn use_number(&self) -> Option<u32> {
        self.use_number
    }

    pub fn into_claims(self) -> WritClaims {
        self.claims
    }
}

/// Verifies writs offline against a key set. Shareable across threads.
pub struct Verifier {
    /// Swapped whole when the JWKS is refreshed, so verifications in flight keep their set.
    keys: RwLock<Arc<VerificationKeys>>,
    config: VerifierConfig,
    clock: Arc<dyn Clock>,
    replay: Option<Arc<ReplayCache>>,
    revocations: Option<Arc<RevocationSet>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("config", &self.config)
            .field("keys", &self.keys().len())
            .field("replay", &self.replay)
            .field("revocations", &self.revocations)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    pub fn new(keys: VerificationKeys, config: VerifierConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            keys: RwLock::new(Arc::new(keys)),
            config,
            clock,
            replay: None,
            revocations: None,
        }
    }

    /// Enforces `max_uses` with `cache` (share one cache per gate).
    pub fn with_replay_cache(mut self, cache: Arc<ReplayCache>) -> Self {
        self.replay = Some(cache);
        self
    }

    /// Consults `set` on every verification.
    pub fn with_revocations(mut self, set: Arc<RevocationSet>) -> Self {
        self.revocations = Some(set);
        self
    }

    /// Replaces the trusted keys (after fetching a new JWKS); safe while other threads
    /// verify.
    pub fn replace_keys(&self, keys: VerificationKeys) {
        *self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(keys);
    }

    /// Replaces the trusted keys; the `&mut` form of [`Verifier::replace_keys`].
    pub fn set_keys(&mut self, keys: VerificationKeys) {
        self.replace_keys(keys);
    }

    fn keys(&self) -> Arc<VerificationKeys> {
        // A poisoned lock still holds a complete key set: the write is one assignment.
        Arc::clone(
            &self
                .keys
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// Verifies `token` for the call the gate is about to make, digesting its arguments.
    pub fn verify_call(&self, token: &str, call: &Intent) -> Result<VerifiedWrit, VerifyError> {
        let digest = call.digest().map_err(|e| match e {
            writ_model::CanonicalError::Number(n) => VerifyError::NumberOutOfRange(n),
            other => VerifyError::IntentUnencodable(other.to_string()),
        })?;
        self.verify(token, &digest)
    }

    /// Verifies `token` for the call whose intent digest the gate recomputed as `call`.
    /// On success, one use is recorded in the replay cache (if any).
    pub fn verify(&self, token: &str, call: &IntentDigest) -> Result<VerifiedWrit, VerifyError> {
        let (claims, header) = self.authenticate(token)?;
        let now = self.clock.now_unix();
        self.check_claims(&claims, call, now)?;
        let use_number = match &self.replay {
            Some(cache) => Some(cache.record_use(
                &claims.jti,
                claims.scope.max_uses,
                claims.exp.saturating_add(self.config.leeway_secs),
                now,
            )?),
            None => None,
        };
        Ok(VerifiedWrit {
            claims,
            kid: header.kid,
            use_number,
        })
    }

    /// Header pins, key lookup, strict signature, claims parsing.
    fn authenticate(&self, token: &str) -> Result<(WritClaims, Header), VerifyError> {
        authenticate(&self.keys(), token)
    }

    fn check_claims(
        &self,
        c: &WritClaims,
        call: &IntentDigest,
        now: i64,
    ) -> Result<(), VerifyError> {
        let cfg = &self.config;
        check_form(c).map_err(|(claim, detail)| VerifyError::bad_claim(claim, detail))?;
        if let Some(iss) = &cfg.issuer
            && &c.iss != iss
        {
            return Err(VerifyError::WrongIssuer {
                expected: iss.clone(),
                found: c.iss.clone(),
            });
        }
        let leeway = cfg.leeway_secs;
        if now >= c.exp.saturating_add(leeway) {
            return Err(VerifyError::Expired { exp: c.exp, now });
        }
        if now.saturating_add(leeway) < c.nbf {
            return Err(VerifyError::NotYetValid { nbf: c.nbf, now });
        }
        if now.saturating_add(leeway) < c.iat {
            return Err(VerifyError::IssuedInFuture { iat: c.iat, now });
        }
        let lifetime = c.exp.saturating_sub(c.iat);
        if lifetime > cfg.max_lifetime_secs {
            return Err(VerifyError::LifetimeTooLong {
                lifetime,
                max: cfg.max_lifetime_secs,
            });
        }
        if c.aud != cfg.gate {
            return Err(VerifyError::WrongAudience {
                expected: cfg.gate.to_string(),
                found: c.aud.to_string(),
            });
        }
        if let Some(zone) = &cfg.zone
            && &c.env.zone != zone
        {
            return Err(VerifyError::WrongZone {
                expected: zone.to_string(),
                found: c.env.zone.to_string(),
            });
        }
        check_intent(&c.intent, call)?;
        if let Some(rev) = &self.revocations {
            rev.check(c)?;
        }
        Ok(())
    }
}

/// Header pins, key lookup, strict signature, claims parsing.
fn authenticate(keys: &VerificationKeys, token: &str) -> Result<(WritClaims, Header), VerifyError> {
    let parts = split(token)?;
    let key = keys
        .get(&parts.header.kid)
        .ok_or_else(|| VerifyError::UnknownKid(parts.header.kid.clone()))?;
    let sig = ed25519_dalek::Signature::from_bytes(&parts.signature);
    key.verify_strict(parts.signing_input.as_bytes(), &sig)
        .map_err(|_| VerifyError::BadSignature)?;
    let payload = unb64(parts.payload_b64, "payload")?;
    let claims = parse_claims(&payload)?;
    Ok((claims, parts.header))
}

/// Verifies a writ as evidence of the past (a proof bundle's writ): the same pins, key lookup,
/// strict signature and claim form as [`Verifier::verify`], but no time, audience, zone,
/// intent, revocation or replay check. A writ that expired long ago still verifies here; what
/// it authorized is for the caller to compare with the record it points at. Never use this to
/// admit an execution.
pub fn verify_as_evidence(
    keys: &VerificationKeys,
    token: &str,
) -> Result<VerifiedWrit, VerifyError> {
    let (claims, header) = authenticate(keys, token)?;
    check_form(&claims).map_err(|(claim, detail)| VerifyError::bad_claim(claim, detail))?;
    Ok(VerifiedWrit {
        claims,
        kid: header.kid,
        use_number: None,
    })
}

fn check_intent(authorized: &IntentDigest, call: &IntentDigest) -> Result<(), VerifyError> {
    let fields = [
        ("action", &authorized.action, &call.action),
        ("resource", &authorized.resource, &call.resource),
        ("args", &authorized.args_sha256, &call.args_sha256),
    ];
    for (field, a, r) in fields {
        if a != r {
            return Err(VerifyError::IntentMismatch {
                field,
                authorized: a.clone(),
                requested: r.clone(),
            });
        }
    }
    Ok(())
}

/// Parses the payload: one strict pass (catches duplicate claims and wrong types); on
/// failure a second look says which required claim is missing, if any.
fn parse_claims(payload: &[u8]) -> Result<WritClaims, VerifyError> {
    match serde_json::from_slice::<WritClaims>(payload) {
        Ok(c) => Ok(c),
        Err(err) => {
            let value: serde_json::Value = serde_json::from_slice(payload)
                .map_err(|e| VerifyError::Malformed(format!("payload is not JSON: {e}")))?;
            let obj = value
                .as_object()
                .ok_or_else(|| VerifyError::Malformed("payload is not a JSON object".into()))?;
            if let Some(missing) = REQUIRED_CLAIMS.iter().find(|k| !obj.contains_key(**k)) {
                return Err(VerifyError::MissingClaim((*missing).to_owned()));
            }
            let claim = REQUIRED_CLAIMS
                .iter()
                .chain(["act"].iter())
                .find(|k| obj.get(**k).is_some_and(|v| !claim_parses(k, v)))
                .copied()
                .unwrap_or("payload");
            Err(VerifyError::bad_claim(claim, err.to_string()))
        }
    }
}

/// Whether one claim's value has the type its claim requires.
fn claim_parses(name: &str, v: &serde_json::Value) -> bool {
    use serde_json::from_value as fv;
    let v = v.clone();
    match name {
        "iss" | "jti" => fv::<String>(v).is_ok(),
        "sub" => fv::<writ_model::PrincipalId>(v).is_ok(),
        "act" => fv::<crate::claims::Act>(v).is_ok(),
        "aud" => fv::<GateId>(v).is_ok(),
        "iat" | "nbf" | "exp" => fv::<i64>(v).is_ok(),
        "intent" => fv::<IntentDigest>(v).is_ok(),
        "env" => fv::<crate::claims::Env>(v).is_ok(),
        "policy" => fv::<crate::claims::PolicyInfo>(v).is_ok(),
        "scope" => fv::<crate::scope::Scope>(v).is_ok(),
        "lineage" => fv::<writ_model::Lineage>(v).is_ok(),
        "ledger" => fv::<crate::claims::LedgerRef>(v).is_ok(),
        _ => true,
    }
}
