//! Writ issue and verify against bare ed25519-dalek sign and verify_strict over a message of
//! the same length, measured in the same run; the ratios are printed at the end
//! (target: at most 1.25, i.e. 25% overhead).
//!
//! Run: `cargo bench -p writ-artifact --bench writ`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{BatchSize, Criterion};
use ed25519_dalek::{Signer as _, SigningKey};
use writ_artifact::*;
use writ_model::{ExecutionId, FixedClock, Intent, Lineage};

const NOW: i64 = 1_800_000_000;

fn request(call: &Intent) -> IssueRequest {
    IssueRequest {
        sub: "agent:triage-bot".parse().unwrap(),
        act: Some(Act::new("human:alice".parse().unwrap())),
        aud: "gate:runner".parse().unwrap(),
        intent: call.digest().unwrap(),
        env: Env {
            zone: "sandbox".parse().unwrap(),
            attestation_sha256: "a".repeat(64),
        },
        policy: PolicyInfo {
            bundle_sha256: "b".repeat(64),
            engine: "cedar-policy 4.14".into(),
            determining: vec!["allow-git".into()],
        },
        scope: Scope {
            // Large, so the replay-cache variant can verify the same writ repeatedly.
            max_uses: u32::MAX,
            ..Scope::default()
        },
        lineage: Lineage::root(ExecutionId::new_v7()),
        ledger: LedgerRef {
            origin: "writ.example/ledger".into(),
            index: 17,
        },
        lifetime_secs: None,
    }
}

fn out_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
        .join("criterion")
}

fn mean_ns(dir: &Path, group: &str, name: &str) -> Option<f64> {
    let path = dir.join(group).join(name).join("new/estimates.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

/// Median over rounds of (time of `ours` / time of `base`), the two run back to back in each
/// round, so that load changes on a shared machine hit both sides alike. `ours` gets the
/// iteration's input, prepared outside the timed part.
fn paired_ratio<I>(
    mut base: impl FnMut(),
    mut prepare: impl FnMut() -> I,
    mut ours: impl FnMut(I),
) -> f64 {
    const ROUNDS: usize = 41;
    const ITERS: u32 = 200;
    let mut ratios = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = std::time::Instant::now();
        for _ in 0..ITERS {
            base();
        }
        let b = t.elapsed().as_secs_f64();
        let inputs: Vec<I> = (0..ITERS).map(|_| prepare()).collect();
        let t = std::time::Instant::now();
        for input in inputs {
            ours(input);
        }
        ratios.push(t.elapsed().as_secs_f64() / b);
    }
    ratios.sort_by(f64::total_cmp);
    ratios[ROUNDS / 2]
}

fn main() {
    let dir = out_dir();
    let mut c = Criterion::default()
        .output_directory(&dir)
        .configure_from_args();

    let clock = Arc::new(FixedClock::new(NOW));
    let ring = Arc::new(KeyRing::new(WritKey::from_seed(&[7; 32]), 5));
    let issuer = Issuer::new(ring.clone(), clock.clone(), IssuerConfig::new("writ:cp"));
    let call = Intent::new(
        "exec",
        "cmd:/usr/bin/git",
        serde_json::json!({"argv": ["git", "status"]}),
    );
    let req = request(&call);
    let digest = call.digest().unwrap();
    let writ = issuer.issue(req.clone()).unwrap();
    let cfg = VerifierConfig::new("gate:runner".parse().unwrap());
    let verifier = Verifier::new(ring.verification_keys(NOW), cfg.clone(), clock.clone());
    let with_state = Verifier::new(ring.verification_keys(NOW), cfg, clock.clone())
        .with_replay_cache(Arc::new(ReplayCache::new(100_000)))
        .with_revocations(Arc::new(RevocationSet::new()));

    // Baseline: bare Ed25519 over a message as long as the writ's signing input.
    let bare = SigningKey::from_bytes(&[7; 32]);
    let vk = bare.verifying_key();
    let msg = writ.token.rsplit_once('.').unwrap().0.as_bytes().to_vec();
    let sig = bare.sign(&msg);

    let mut g = c.benchmark_group("writ");
    g.bench_function("bare_sign", |b| b.iter(|| bare.sign(black_box(&msg))));
    // The request is cloned outside the timed part: the baseline does not build its message
    // either.
    g.bench_function("issue", |b| {
        b.iter_batched(
            || req.clone(),
            |r| issuer.issue(black_box(r)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("bare_verify_strict", |b| {
        b.iter(|| vk.verify_strict(black_box(&msg), black_box(&sig)).unwrap())
    });
    g.bench_function("verify", |b| {
        b.iter(|| {
            verifier
                .verify(black_box(&writ.token), black_box(&digest))
                .unwrap()
        })
    });
    g.bench_function("verify_replay_revocation", |b| {
        b.iter(|| {
            with_state
                .verify(black_box(&writ.token), black_box(&digest))
                .unwrap()
        })
    });
    g.finish();
    c.final_summary();

    let m = |n| mean_ns(&dir, "writ", n);
    println!("\nwrit signing input: {} bytes", msg.len());
    for (what, base, ours) in [
        ("issue / bare sign", "bare_sign", "issue"),
        (
            "verify / bare verify_strict",
            "bare_verify_strict",
            "verify",
        ),
        (
            "verify+replay+revocation / bare verify_strict",
            "bare_verify_strict",
            "verify_replay_revocation",
        ),
    ] {
        match (m(base), m(ours)) {
            (Some(b), Some(o)) => println!(
                "ratio {what}: {:.3} ({:.2} us vs {:.2} us, overhead {:+.1}%)",
                o / b,
                o / 1000.0,
                b / 1000.0,
                (o / b - 1.0) * 100.0
            ),
            _ => println!("ratio {what}: not measured in this run (filtered out?)"),
        }
    }
    let issue_paired = paired_ratio(
        || {
            black_box(bare.sign(black_box(&msg)));
        },
        || req.clone(),
        |r| {
            black_box(issuer.issue(black_box(r)).unwrap());
        },
    );
    let verify_paired = paired_ratio(
        || vk.verify_strict(black_box(&msg), black_box(&sig)).unwrap(),
        || (),
        |()| {
            black_box(
                verifier
                    .verify(black_box(&writ.token), black_box(&digest))
                    .unwrap(),
            );
        },
    );
    let state_paired = paired_ratio(
        || vk.verify_strict(black_box(&msg), black_box(&sig)).unwrap(),
        || (),
        |()| {
            black_box(
                with_state
                    .verify(black_box(&writ.token), black_box(&digest))
                    .unwrap(),
            );
        },
    );
    println!(
        "paired ratio issue / bare sign (median of 41 back-to-back rounds): {issue_paired:.3}"
    );
    println!("paired ratio verify / bare verify_strict: {verify_paired:.3}");
    println!("paired ratio verify+replay+revocation / bare verify_strict: {state_paired:.3}");
}
