//! Fixed keys, clocks, bundles and helpers shared by Writ's fuzz targets and by the seed
//! corpus generator (`cargo run --example make_seeds`).
//!
//! Everything here is deterministic: a crash found by one run reproduces in the next, and the
//! seed corpus the generator writes is the same on every machine.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use serde_json::json;
use writ_artifact::{
    Env, IssueRequest, Issuer, IssuerConfig, KeyRing, LedgerRef, PolicyInfo, Scope,
    VerificationKeys, Verifier, VerifierConfig, WritKey,
};
use writ_authorize::{Bundle, BundleSource};
use writ_ledger::Ed25519Signer;
use writ_model::{ExecutionId, FixedClock, GateId, Intent, Lineage, PrincipalId, ZoneId};

/// The injected time of every target (2026-01-01T00:00:00Z).
pub const NOW: i64 = 1_767_225_600;
/// The control plane's id.
pub const ISSUER: &str = "writ-fuzz";
/// The gate every writ is for.
pub const GATE: &str = "gate:fuzz";
/// The zone of that gate.
pub const ZONE: &str = "dev";
/// The log origin of every note and checkpoint.
pub const LOG_ORIGIN: &str = "writ-fuzz.example/log";
/// A fixed UUIDv7 for lineages.
pub const EXECUTION: &str = "019b7a00-0000-7000-8000-000000000001";

/// The writ signing key.
pub fn writ_key() -> WritKey {
    WritKey::from_seed(&[7; 32])
}

/// A verifier that trusts [`writ_key`], as the gate [`GATE`] in zone [`ZONE`] at [`NOW`].
pub fn verifier() -> Verifier {
    let mut config = VerifierConfig::new(gate());
    config.issuer = Some(ISSUER.to_owned());
    config.zone = Some(zone());
    Verifier::new(
        VerificationKeys::single(writ_key().verifying_key()),
        config,
        Arc::new(FixedClock::new(NOW)),
    )
}

pub fn gate() -> GateId {
    GateId::from_name("fuzz").unwrap_or_else(|_| unreachable!("a valid gate name"))
}

pub fn zone() -> ZoneId {
    ZONE.parse::<ZoneId>()
        .unwrap_or_else(|_| unreachable!("a valid zone name"))
}

pub fn execution() -> ExecutionId {
    EXECUTION
        .parse()
        .unwrap_or_else(|_| unreachable!("a valid UUIDv7"))
}

/// The call every writ of the targets authorizes.
pub fn call() -> Intent {
    Intent::new(
        "mcp.call_tool",
        "tool:github/get_issue",
        json!({"repo": "acme/api", "number": 7}),
    )
}

/// A writ for [`call`], issued at [`NOW`] by the project's own issuer.
pub fn issue_writ(intent: &Intent) -> String {
    let ring = Arc::new(KeyRing::new(writ_key(), 5));
    let issuer = Issuer::new(
        ring,
        Arc::new(FixedClock::new(NOW)),
        IssuerConfig::new(ISSUER),
    );
    let digest = intent
        .digest()
        .unwrap_or_else(|_| unreachable!("a fixture intent"));
    let request = IssueRequest {
        sub: "agent:triage-bot"
            .parse::<PrincipalId>()
            .unwrap_or_else(|_| unreachable!("a valid principal")),
        act: None,
        aud: gate(),
        intent: digest,
        env: Env {
            zone: zone(),
            attestation_sha256: "a".repeat(64),
        },
        policy: PolicyInfo {
            bundle_sha256: "b".repeat(64),
            engine: "writ-fuzz".into(),
            determining: vec!["read-only-tools".into()],
        },
        scope: Scope::default(),
        lineage: Lineage::root(execution()),
        ledger: LedgerRef {
            origin: LOG_ORIGIN.into(),
            index: 17,
        },
        lifetime_secs: None,
    };
    issuer
        .issue(request)
        .unwrap_or_else(|e| unreachable!("the fixture writ is issued: {e}"))
        .token
}

/// The log key that signs every note and checkpoint of the targets.
pub fn log_signer() -> Ed25519Signer {
    Ed25519Signer::from_seed(LOG_ORIGIN, &[9; 32])
        .unwrap_or_else(|_| unreachable!("a valid key name"))
}

/// [`log_signer`], made once per process (setting up the key is not what a target fuzzes).
pub fn shared_log_signer() -> &'static Ed25519Signer {
    static S: std::sync::OnceLock<Ed25519Signer> = std::sync::OnceLock::new();
    S.get_or_init(log_signer)
}

/// A text target's input: its first byte picks which of `modes` inputs the rest is (`byte %
/// modes`), the rest is the text; `None` when there is no first byte or the rest is not UTF-8.
pub fn mode_and_text(data: &[u8], modes: u8) -> Option<(u8, &str)> {
    let (&mode, rest) = data.split_first()?;
    let text = std::str::from_utf8(rest).ok()?;
    Some((mode.checked_rem(modes)?, text))
}

/// The default example bundle's files (the ones `writ demo` uses).
pub fn default_bundle_files() -> Vec<(String, String)> {
    vec![
        (
            "writ.cedarschema".into(),
            include_str!("../../examples/policy/default/writ.cedarschema").into(),
        ),
        (
            "policies.cedar".into(),
            include_str!("../../examples/policy/default/policies.cedar").into(),
        ),
        (
            "entities.json".into(),
            include_str!("../../examples/policy/default/entities.json").into(),
        ),
    ]
}

/// Policies that read numbers in the arguments (issue 12, finding 1): a forbid on `b == 2`
/// and a permit on a list of numbers. The schema declares the arguments they read.
pub const NUMBER_POLICIES: &str = r#"
@id("no-b-2")
@reason("b must never be 2")
forbid (principal, action == Action::"call_tool", resource)
when { context.args has b && context.args.b == 2 };

@id("small-n")
@reason("n may hold small numbers")
permit (principal is Agent, action == Action::"call_tool", resource == Tool::"calc/add")
when { context.args has n && context.args.n.contains(1) };
"#;

/// The default bundle plus [`NUMBER_POLICIES`], with `b` and `n` declared in `Args`.
pub fn mapping_bundle() -> Bundle {
    let mut files = default_bundle_files();
    for (name, text) in &mut files {
        if name == "writ.cedarschema" {
            *text = text.replacen(
                "type Args = {",
                "type Args = {\n  b?: Long,\n  n?: Set<Long>,",
                1,
            );
        }
    }
    files.push(("numbers.cedar".into(), NUMBER_POLICIES.into()));
    compile_files(files).unwrap_or_else(|e| unreachable!("the fixture bundle compiles: {e}"))
}

/// Sorts named files into a bundle source and compiles it, as `POST /v1/admin/bundles`
/// does.
pub fn compile_files(files: Vec<(String, String)>) -> Result<Bundle, writ_authorize::BundleError> {
    let source = BundleSource::from_files(files.into_iter().map(|(n, t)| (n, t.into_bytes())))?;
    writ_authorize::compile(&source)
}

/// Runs a future that never waits on I/O (the gateway's list filter without a token, the
/// server's body extractor over bytes in memory) to completion on this thread.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// Splits `data` at the first `0xff` byte (never part of UTF-8 text), for targets that take
/// two inputs.
pub fn split2(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0xff) {
        Some(i) => (
            data.get(..i).unwrap_or_default(),
            data.get(i + 1..).unwrap_or_default(),
        ),
        None => (data, &[]),
    }
}

/// The gate [`GATE`] with a fixed key, trusting [`writ_key`], at [`NOW`].
pub fn fixture_gate() -> writ_gate::Gate {
    let jwks = writ_artifact::Jwks {
        keys: vec![writ_key().public_jwk()],
    };
    writ_gate::Gate::new(
        writ_gate::GateConfig {
            id: gate(),
            zone: zone(),
            issuer: Some(ISSUER.to_owned()),
            feed_grace_secs: None,
        },
        ed25519_dalek::SigningKey::from_bytes(&[5; 32]),
        &jwks,
        Arc::new(FixedClock::new(NOW)),
    )
    .unwrap_or_else(|e| unreachable!("the fixture gate: {e}"))
}
