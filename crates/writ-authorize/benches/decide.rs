//! `decide` (scope index + record) against plain `cedar-policy` `is_authorized` over the same
//! policy set, at 10, 100, 1,000 and 10,000 policies. After the criterion groups it prints
//! p50 latencies measured in the same run and the ratio plain/indexed.
//!
//! Run: `cargo bench -p writ-authorize --bench decide`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use cedar_policy::Authorizer;
use criterion::{BenchmarkId, Criterion};
use writ_authorize::decide::cedar_request;
use writ_authorize::{Bundle, BundleSource, DEFAULT_SCHEMA, compile, decide};
use writ_model::AuthorizeRequest;

const NOW: i64 = 1_767_225_600;
const SIZES: [usize; 4] = [10, 100, 1_000, 10_000];

/// N policies about many tools, agents, commands and endpoints, plus two general ones.
fn bundle(n: usize) -> Bundle {
    let mut text = String::from(
        "@id(\"general-quarantine\") @reason(\"nothing runs in quarantine\")\n\
         forbid(principal, action, resource) when { context.env.zone == \"quarantine\" };\n\
         @id(\"general-readonly\") @reason(\"read-only tools\")\n\
         permit(principal is Agent, action == Action::\"call_tool\", resource) when { resource has read_only && resource.read_only };\n",
    );
    for i in 0..n.saturating_sub(2) {
        let p = match i % 4 {
            0 => format!(
                "@id(\"tool-{i}\") @reason(\"tool {i} for acme repos\")\n\
                 permit(principal is Agent, action == Action::\"call_tool\", resource == Tool::\"tool-{i}\")\n\
                 when {{ context.args has repo && context.args.repo like \"acme/*\" }};\n"
            ),
            1 => format!(
                "@id(\"agent-{i}\") @reason(\"agent {i} never runs commands in prod\")\n\
                 forbid(principal == Agent::\"agent-{i}\", action == Action::\"exec\", resource)\n\
                 when {{ context.env.zone == \"prod\" }};\n"
            ),
            2 => format!(
                "@id(\"cmd-{i}\") @reason(\"command {i} is allowed\")\n\
                 permit(principal is Agent, action == Action::\"exec\", resource == Command::\"/usr/bin/cmd-{i}\");\n"
            ),
            _ => format!(
                "@id(\"http-{i}\") @reason(\"GET on endpoint {i}\")\n\
                 permit(principal, action == Action::\"http_request\", resource == Endpoint::\"https://svc-{i}.example\")\n\
                 when {{ context.args has method && context.args.method == \"GET\" }};\n"
            ),
        };
        text.push_str(&p);
    }
    let mut src = BundleSource::default();
    src.schemas
        .insert("writ.cedarschema".into(), DEFAULT_SCHEMA.into());
    src.policies.insert("bench.cedar".into(), text);
    src.entities = Some(
        r#"[{"uid":{"type":"Gate","id":"mcp-1"},"attrs":{},"parents":[]},
            {"uid":{"type":"Tool","id":"tool-4"},"attrs":{"read_only":false},"parents":[]}]"#
            .into(),
    );
    compile(&src).unwrap()
}

/// A tool call that policy `tool-4` permits (present at every size).
fn request() -> AuthorizeRequest {
    serde_json::from_value(serde_json::json!({
        "principal": "agent:agent-5",
        "intent": {"action": "mcp.call_tool", "resource": "tool:tool-4",
                   "args": {"repo": "acme/api", "title": "crash on start"}},
        "env": {"zone": "dev", "gate": "gate:mcp-1"}
    }))
    .unwrap()
}

fn benches(c: &mut Criterion, bundles: &[(usize, Bundle)]) {
    let req = request();
    let mut group = c.benchmark_group("decide_vs_cedar");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_millis(500));
    for (n, b) in bundles {
        group.bench_with_input(BenchmarkId::new("writ_decide", n), b, |bench, b| {
            bench.iter(|| decide(b, black_box(&req), NOW))
        });
        let creq = cedar_request(b, &req, NOW).unwrap();
        let authorizer = Authorizer::new();
        group.sample_size(if *n >= 10_000 { 10 } else { 50 });
        group.bench_with_input(BenchmarkId::new("plain_cedar", n), b, |bench, b| {
            bench.iter(|| {
                authorizer.is_authorized(black_box(&creq), b.cedar_policies(), b.cedar_entities())
            })
        });
    }
    group.finish();
}

fn p50(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Per-call p50s measured here, in the same run, and their ratio.
fn ratios(bundles: &[(usize, Bundle)], quick: bool) {
    let req = request();
    println!("\np50 per call, same run (decide = scope index + Cedar + decision record):");
    println!(
        "{:>8}  {:>14}  {:>16}  {:>8}",
        "policies", "writ decide", "plain Cedar", "ratio"
    );
    for (n, b) in bundles {
        let record = decide(b, &req, NOW);
        assert_eq!(record.decision, writ_model::Decision::Allow, "{record:?}");
        let creq = cedar_request(b, &req, NOW).unwrap();
        let authorizer = Authorizer::new();
        let (iters_w, iters_c) = if quick {
            (50, 5)
        } else {
            (20_000, (2_000_000 / n).clamp(50, 20_000))
        };
        let mut w = Vec::with_capacity(iters_w);
        for _ in 0..iters_w {
            let t = Instant::now();
            black_box(decide(b, black_box(&req), NOW));
            w.push(t.elapsed());
        }
        let mut c = Vec::with_capacity(iters_c);
        for _ in 0..iters_c {
            let t = Instant::now();
            black_box(authorizer.is_authorized(
                black_box(&creq),
                b.cedar_policies(),
                b.cedar_entities(),
            ));
            c.push(t.elapsed());
        }
        let (pw, pc) = (p50(w), p50(c));
        println!(
            "{:>8}  {:>11.2} µs  {:>13.2} µs  {:>7.1}x",
            n,
            pw.as_secs_f64() * 1e6,
            pc.as_secs_f64() * 1e6,
            pc.as_secs_f64() / pw.as_secs_f64()
        );
    }
}

/// Where the time of one decide goes (WRIT_BENCH_PROFILE=1).
fn profile(b: &Bundle) {
    let req = request();
    let time = |name: &str, f: &dyn Fn()| {
        let mut v = Vec::with_capacity(20_000);
        for _ in 0..20_000 {
            let t = Instant::now();
            f();
            v.push(t.elapsed());
        }
        println!("{name:>24}: p50 {:>8.2} µs", p50(v).as_secs_f64() * 1e6);
    };
    time("decide", &|| {
        black_box(decide(b, black_box(&req), NOW));
    });
    time("cedar_request (mapping)", &|| {
        black_box(cedar_request(b, black_box(&req), NOW).unwrap());
    });
    time("generic canonical digest", &|| {
        black_box(writ_model::digest::canonical_sha256_hex(black_box(&req)).unwrap());
    });
    time("request digest (used)", &|| {
        black_box(writ_model::digest::sha256_hex(
            &black_box(&req).to_canonical().unwrap(),
        ));
    });
    time("request clone", &|| {
        black_box(black_box(&req).clone());
    });
    let three = bundle(7);
    let creq = cedar_request(&three, &req, NOW).unwrap();
    let authorizer = Authorizer::new();
    println!("  (bundle of {} policies for the next line)", three.len());
    time("plain Cedar, same few", &|| {
        black_box(authorizer.is_authorized(
            black_box(&creq),
            three.cedar_policies(),
            three.cedar_entities(),
        ));
    });
    time("evaluate_indexed", &|| {
        black_box(writ_authorize::decide::evaluate_indexed(b, black_box(&req), NOW).unwrap());
    });
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test");
    let bundles: Vec<(usize, Bundle)> = SIZES.iter().map(|&n| (n, bundle(n))).collect();
    for (n, b) in &bundles {
        assert_eq!(b.len(), (*n).max(2));
    }
    if std::env::var_os("WRIT_BENCH_PROFILE").is_some() {
        profile(&bundles[2].1);
    }
    if !quick && std::env::var_os("WRIT_BENCH_RATIOS_ONLY").is_none() {
        let mut c = Criterion::default().configure_from_args();
        benches(&mut c, &bundles);
        c.final_summary();
    }
    ratios(&bundles, quick);
}
