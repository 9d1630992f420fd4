//! A gate: the enforcement point that runs an action only with a valid writ for exactly that
//! action, attests where it runs, signs receipts, and stops accepting work when it loses the
//! control plane's event feed for longer than its grace period.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer, SigningKey};
use writ_artifact::{
    Jwks, ReplayCache, RevocationSet, VerificationKeys, VerifiedWrit, Verifier, VerifierConfig,
};
use writ_model::env::{EnvironmentAttestation, EnvironmentClaims};
use writ_model::receipt::{Outcome, Receipt, ReceiptBody, ReceiptType};
use writ_model::{Clock, ExecutionId, GateId, Intent, IntentDigest, ZoneId};

use crate::error::GateError;
use crate::metrics::{GateMetrics, MetricsView};

/// How long a gate reuses its own environment attestation (the control plane accepts attestations
/// up to five minutes old and skips re-verifying ones it has seen).
pub const ATTESTATION_REUSE_SECS: i64 = 30;

/// Writs a gate remembers for replay protection at most.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// How fresh the event feed must be: the last event (heartbeats included) seen at most `grace_secs` ago.
#[derive(Debug)]
pub struct FeedHealth {
    last_seen: AtomicI64,
    grace_secs: i64,
    /// Why the last attempt to follow the feed failed (`None` while it is followed).
    cause: Mutex<Option<String>>,
}

impl FeedHealth {
    /// A feed never seen yet: the gate denies until the first event arrives.
    pub fn new(grace_secs: i64) -> Self {
        Self {
            last_seen: AtomicI64::new(i64::MIN),
            grace_secs: grace_secs.max(1),
            cause: Mutex::new(None),
        }
    }
    /// Records why the feed cannot be followed (`None`: it is followed again), for the
    /// message of the denials while it is lost.
    pub fn set_cause(&self, cause: Option<String>) {
        if let Ok(mut c) = self.cause.lock() {
            *c = cause;
        }
    }
    fn cause(&self) -> Option<String> {
        self.cause.lock().ok().and_then(|c| c.clone())
    }
    pub fn seen(&self, now: i64) {
        self.last_seen.fetch_max(now, Ordering::SeqCst);
    }
    pub fn grace_secs(&self) -> i64 {
        self.grace_secs
    }
    /// When the last event was seen (Unix seconds), if ever.
    pub fn last_seen(&self) -> Option<i64> {
        let last = self.last_seen.load(Ordering::SeqCst);
        (last != i64::MIN).then_some(last)
    }
    /// Fails when the feed has been silent past the grace period.
    pub fn require_fresh(&self, now: i64) -> Result<(), GateError> {
        let last = self.last_seen.load(Ordering::SeqCst);
        let silent = now.saturating_sub(last);
        if last == i64::MIN || silent > self.grace_secs {
            return Err(GateError::FeedLost {
                // Never heard at all is not "silent for 9223372036854775807 s".
                silent_secs: (last != i64::MIN).then(|| u64::try_from(silent).unwrap_or(0)),
                grace_secs: u64::try_from(self.grace_secs).unwrap_or(0),
                cause: self.cause(),
            });
        }
        Ok(())
    }
}

/// Settings of a gate.
#[derive(Debug, Clone)]
pub struct GateConfig {
    pub id: GateId,
    pub zone: ZoneId,
    /// The control plane's id; writs from any other issuer are refused.
    pub issuer: Option<String>,
    /// When set, new work is refused once the event feed is silent this long (seconds).
    pub feed_grace_secs: Option<i64>,
}

/// An enforcement point with its own Ed25519 key.
pub struct Gate {
    config: GateConfig,
    key: SigningKey,
    clock: Arc<dyn Clock>,
    verifier: RwLock<Verifier>,
    revocations: Arc<RevocationSet>,
    feed: Option<Arc<FeedHealth>>,
    attestation: std::sync::Mutex<Option<EnvironmentAttestation>>,
    metrics: GateMetrics,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Gate {
    /// A gate trusting the writ keys in `jwks`.
    pub fn new(
        config: GateConfig,
        key: SigningKey,
        jwks: &Jwks,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, GateError> {
        let keys = VerificationKeys::from_jwks(jwks)
            .map_err(|e| GateError::Garbage(format!("JWKS: {e}")))?;
        let revocations = Arc::new(RevocationSet::new());
        let mut vcfg = VerifierConfig::new(config.id.clone());
        vcfg.issuer = config.issuer.clone();
        vcfg.zone = Some(config.zone.clone());
        let verifier = Verifier::new(keys, vcfg, clock.clone())
            .with_replay_cache(Arc::new(ReplayCache::new(DEFAULT_REPLAY_CAPACITY)))
            .with_revocations(revocations.clone());
        let feed = config.feed_grace_secs.map(|g| Arc::new(FeedHealth::new(g)));
        Ok(Self {
            config,
            key,
            clock,
            verifier: RwLock::new(verifier),
            revocations,
            feed,
            attestation: std::sync::Mutex::new(None),
            metrics: GateMetrics::default(),
        })
    }

    pub fn id(&self) -> &GateId {
        &self.config.id
    }

    pub fn zone(&self) -> &ZoneId {
        &self.config.zone
    }

    /// The hex public key to register with `writ gate add`.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }

    pub fn revocations(&self) -> &Arc<RevocationSet> {
        &self.revocations
    }

    /// The gate's own metrics (governed calls by decision and reason, their latency).
    pub fn metrics(&self) -> &GateMetrics {
        &self.metrics
    }

    /// The gate's `/metrics` page.
    pub fn render_metrics(&self) -> String {
        self.metrics.render(&MetricsView {
            gate: self.config.id.as_str(),
            zone: self.config.zone.as_str(),
            now: self.clock.now_unix(),
            feed_last_seen: self.feed.as_ref().map(|f| f.last_seen()),
            revocations: self.revocations.counts(),
        })
    }

    pub fn feed(&self) -> Option<&Arc<FeedHealth>> {
        self.feed.as_ref()
    }

    /// Replaces the trusted writ keys (after a key rotation).
    pub fn set_jwks(&self, jwks: &Jwks) -> Result<(), GateError> {
        let keys = VerificationKeys::from_jwks(jwks)
            .map_err(|e| GateError::Garbage(format!("JWKS: {e}")))?;
        self.verifier
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .set_keys(keys);
        Ok(())
    }

    /// Signs the gate's statement of where it runs, for an authorize request. The same
    /// attestation is reused for [`ATTESTATION_REUSE_SECS`].
    pub fn attest(&self) -> Result<EnvironmentAttestation, GateError> {
        let now = self.clock.now_unix();
        let mut cached = self.attestation.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = cached.as_ref()
            && (0..ATTESTATION_REUSE_SECS).contains(&(now - a.iat))
        {
            return Ok(a.clone());
        }
        let fresh = self.attest_claims(EnvironmentClaims::new(
            self.config.zone.clone(),
            self.config.id.clone(),
        ))?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    /// Signs the given claims (which must name this gate).
    pub fn attest_claims(
        &self,
        claims: EnvironmentClaims,
    ) -> Result<EnvironmentAttestation, GateError> {
        let iat = self.clock.now_unix();
        let kid = self.config.id.to_string();
        let input = EnvironmentAttestation::signing_input(&claims, iat, &kid)
            .map_err(|e| GateError::Signing(e.to_string()))?;
        let sig = URL_SAFE_NO_PAD.encode(self.key.sign(&input).to_bytes());
        Ok(EnvironmentAttestation {
            claims,
            iat,
            kid,
            sig,
        })
    }

    /// Checks a writ for exactly the call about to be made. Any failure denies.
    pub fn check(&self, writ: &str, call: &Intent) -> Result<VerifiedWrit, GateError> {
        self.verify_fresh(|v| v.verify_call(writ, call))
    }

    /// Like [`Gate::check`], for a caller that already recomputed the intent digest of the
    /// call it is about to make (from that call, never from the writ).
    pub fn check_digest(&self, writ: &str, call: &IntentDigest) -> Result<VerifiedWrit, GateError> {
        self.verify_fresh(|v| v.verify(writ, call))
    }

    /// Refuses while the event feed is stale, then runs `verify` with the current verifier.
    fn verify_fresh(
        &self,
        verify: impl FnOnce(&Verifier) -> Result<VerifiedWrit, writ_artifact::VerifyError>,
    ) -> Result<VerifiedWrit, GateError> {
        if let Some(feed) = &self.feed {
            feed.require_fresh(self.clock.now_unix())?;
        }
        verify(&self.verifier.read().unwrap_or_else(|p| p.into_inner())).map_err(|e| {
            GateError::WritRefused {
                code: e.reason_code(),
                message: e.to_string(),
            }
        })
    }

    /// Signs a receipt for an outcome. `result` is digested, never sent.
    #[allow(clippy::too_many_arguments, reason = "a receipt has this many facts")]
    pub fn receipt(
        &self,
        execution: ExecutionId,
        jti: Option<String>,
        intent: IntentDigest,
        outcome: Outcome,
        result: Option<&[u8]>,
        reason_code: Option<String>,
        started_at: i64,
    ) -> Result<Receipt, GateError> {
        self.sign_receipt(self.receipt_body(
            execution,
            jti,
            intent,
            outcome,
            result,
            reason_code,
            started_at,
        ))
    }

    /// The body of a receipt finished now, for callers that add more facts before signing.
    #[allow(clippy::too_many_arguments, reason = "a receipt has this many facts")]
    pub fn receipt_body(
        &self,
        execution: ExecutionId,
        jti: Option<String>,
        intent: IntentDigest,
        outcome: Outcome,
        result: Option<&[u8]>,
        reason_code: Option<String>,
        started_at: i64,
    ) -> ReceiptBody {
        ReceiptBody {
            kind: ReceiptType::Receipt,
            v: 1,
            execution,
            jti,
            gate: self.config.id.clone(),
            intent,
            outcome,
            result_sha256: result.map(writ_model::digest::sha256_hex),
            reason_code,
            started_at,
            finished_at: self.clock.now_unix(),
            exec: None,
        }
    }

    /// Signs a receipt body with the gate's key.
    pub fn sign_receipt(&self, body: ReceiptBody) -> Result<Receipt, GateError> {
        let input = body
            .signing_input()
            .map_err(|e| GateError::Signing(e.to_string()))?;
        let sig = URL_SAFE_NO_PAD.encode(self.key.sign(&input).to_bytes());
        Ok(Receipt {
            body,
            kid: self.config.id.to_string(),
            sig,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::FeedHealth;

    // Regression (issue 14): a feed never received was reported as silent "for
    // 9223372036854775807 s", and the 401 behind it was never shown.
    #[test]
    fn a_feed_never_received_says_so_and_names_its_cause() {
        let feed = FeedHealth::new(5);
        let Err(e) = feed.require_fresh(1_000) else {
            panic!("a feed never seen is not fresh");
        };
        let text = e.to_string();
        assert!(text.contains("since the gate started"), "{text}");
        assert!(!text.contains("9223372036854775807"), "{text}");
        feed.set_cause(Some(
            "the control plane answered 401 unauthenticated".into(),
        ));
        let Err(e) = feed.require_fresh(1_000) else {
            panic!("still not fresh");
        };
        assert!(e.to_string().contains("401 unauthenticated"), "{e}");
        feed.seen(1_000);
        assert!(feed.require_fresh(1_003).is_ok());
        let Err(e) = feed.require_fresh(1_010) else {
            panic!("silent past the grace period");
        };
        assert!(e.to_string().contains("for 10 s (grace 5 s)"), "{e}");
    }
}
