//! A valid writ and the means to re-sign altered copies of it independently of the crate.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{Value, json};
use writ_artifact::*;
use writ_model::{ExecutionId, FixedClock, Intent, Lineage};

/// The time verification happens at.
pub const NOW: i64 = 1_800_000_000;
/// The writ was issued 50 s earlier, for 120 s: valid from NOW-50 to NOW+70.
pub const ISSUED: i64 = NOW - 50;
pub const LIFETIME: i64 = 120;
pub const SEED: [u8; 32] = [42; 32];
pub const ISSUER: &str = "writ:control-plane";
pub const GATE: &str = "gate:runner";

pub struct Fixture {
    pub clock: Arc<FixedClock>,
    pub ring: Arc<KeyRing>,
    pub issuer: Issuer,
    pub call: Intent,
    pub revocations: Arc<RevocationSet>,
    pub replay: Arc<ReplayCache>,
}

impl Fixture {
    pub fn new() -> Self {
        let clock = Arc::new(FixedClock::new(ISSUED));
        let ring = Arc::new(KeyRing::new(WritKey::from_seed(&SEED), 5));
        let issuer = Issuer::new(ring.clone(), clock.clone(), IssuerConfig::new(ISSUER));
        Self {
            clock,
            ring,
            issuer,
            call: Intent::new(
                "exec",
                "cmd:/usr/bin/git",
                json!({"argv": ["git", "status"], "cwd": "/srv/repo"}),
            ),
            revocations: Arc::new(RevocationSet::new()),
            replay: Arc::new(ReplayCache::new(1_000)),
        }
    }

    /// A request exercising every claim, including the optional ones.
    pub fn request(&self) -> IssueRequest {
        let root = Lineage::root(ExecutionId::new_v7());
        IssueRequest {
            sub: "agent:triage-bot".parse().unwrap(),
            act: Some(Act {
                sub: "service:orchestrator".parse().unwrap(),
                act: Some(Box::new(Act::new("human:alice".parse().unwrap()))),
            }),
            aud: GATE.parse().unwrap(),
            intent: self.call.digest().unwrap(),
            env: Env {
                zone: "sandbox".parse().unwrap(),
                attestation_sha256: writ_model::digest::sha256_hex(b"attestation"),
            },
            policy: PolicyInfo {
                bundle_sha256: writ_model::digest::sha256_hex(b"bundle"),
                engine: "cedar-policy 4.14".into(),
                determining: vec!["allow-git-status".into(), "base".into()],
            },
            scope: Scope {
                max_uses: 2,
                fs: Some(FsScope {
                    read: vec!["/srv/repo".into()],
                    write: vec!["/tmp/work".into()],
                }),
                delegate: Some(DelegationGrant {
                    actions: vec![Pattern::new("exec").unwrap()],
                    resources: vec![Pattern::new("cmd:/usr/bin/*").unwrap()],
                    zones: vec!["sandbox".parse().unwrap()],
                }),
            },
            lineage: Lineage::child_of(ExecutionId::new_v7(), &root),
            ledger: LedgerRef {
                origin: "writ.example/ledger".into(),
                index: 17,
            },
            lifetime_secs: Some(LIFETIME),
        }
    }

    /// Issues the valid writ (at ISSUED) and moves the clock to NOW.
    pub fn issue(&self) -> IssuedWrit {
        self.clock.set(ISSUED);
        let w = self.issuer.issue(self.request()).unwrap();
        self.clock.set(NOW);
        w
    }

    pub fn config(&self) -> VerifierConfig {
        let mut cfg = VerifierConfig::new(GATE.parse().unwrap());
        cfg.issuer = Some(ISSUER.into());
        cfg.zone = Some("sandbox".parse().unwrap());
        cfg
    }

    /// A gate's verifier with this fixture's replay cache and revocations.
    pub fn verifier(&self) -> Verifier {
        Verifier::new(
            self.ring.verification_keys(NOW),
            self.config(),
            self.clock.clone(),
        )
        .with_replay_cache(self.replay.clone())
        .with_revocations(self.revocations.clone())
    }

    pub fn kid(&self) -> String {
        self.ring.active_kid()
    }
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Builds a JWS by hand (not through the crate) from any header and payload bytes.
pub fn sign_raw(header: &[u8], payload: &[u8], seed: &[u8; 32]) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let sig = SigningKey::from_bytes(seed).sign(input.as_bytes());
    format!("{input}.{}", b64(&sig.to_bytes()))
}

/// Re-signs `claims` with the fixture key under a correct header.
pub fn resign(claims: &Value, kid: &str) -> String {
    let header = json!({"alg": "EdDSA", "typ": "writ+jwt", "kid": kid});
    sign_raw(
        &serde_json::to_vec(&header).unwrap(),
        &serde_json::to_vec(claims).unwrap(),
        &SEED,
    )
}

/// The claims of a token as JSON.
pub fn claims_of(token: &str) -> Value {
    decode_unverified(token).unwrap().claims
}

/// Every leaf path of a JSON value as `a/b/c` (arrays count as leaves).
pub fn leaf_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}/{k}")
                };
                leaf_paths(child, &p, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

/// Mutable access to the value at `a/b/c`.
pub fn at<'a>(v: &'a mut Value, path: &str) -> &'a mut Value {
    path.split('/').fold(v, |v, k| {
        v.get_mut(k).unwrap_or_else(|| panic!("no {path}"))
    })
}
