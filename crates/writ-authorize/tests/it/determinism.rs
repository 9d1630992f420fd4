//! Acceptance 1: the decision record is byte-identical whatever the policy load order, and in
//! a separate process.

use std::path::Path;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use writ_authorize::{BundleSource, compile, decide};
use writ_model::AuthorizeRequest;
use writ_model::canonical::to_canonical_vec;

use crate::support::{NOW, TEST_ENTITIES, TEST_SCHEMA, arb_policies, arb_request, source};

/// The same policies, shuffled by `perm` and dealt into three files with other names.
fn shuffled_source(policies: &[String], perm: &[usize]) -> BundleSource {
    let mut files = [String::new(), String::new(), String::new()];
    for (k, &i) in perm.iter().enumerate() {
        files[k % 3].push_str(&policies[i]);
        files[k % 3].push('\n');
    }
    source(
        TEST_SCHEMA,
        &[
            ("z.cedar", &files[0]),
            ("m.cedar", &files[1]),
            ("a.cedar", &files[2]),
        ],
        Some(TEST_ENTITIES),
    )
}

fn records(src: &BundleSource, requests: &[AuthorizeRequest], now: i64) -> Vec<Vec<u8>> {
    let bundle = compile(src).unwrap();
    requests
        .iter()
        .map(|r| to_canonical_vec(&decide(&bundle, r, now)).unwrap())
        .collect()
}

fn arb_case() -> impl Strategy<Value = (Vec<String>, Vec<usize>, Vec<AuthorizeRequest>, i64)> {
    arb_policies(24).prop_flat_map(|ps| {
        let n = ps.len();
        (
            Just(ps),
            Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
            prop::collection::vec(arb_request(), 1..8),
            NOW - 1..NOW + 4,
        )
    })
}

proptest! {
    #![proptest_config(Config { cases: 64, ..Config::default() })]
    #[test]
    fn record_bytes_do_not_depend_on_policy_order((policies, perm, requests, now) in arb_case()) {
        let ordered = source(TEST_SCHEMA, &[("all.cedar", &policies.join("\n"))], Some(TEST_ENTITIES));
        let shuffled = shuffled_source(&policies, &perm);
        prop_assert_eq!(
            compile(&ordered).unwrap().digest().to_owned(),
            compile(&shuffled).unwrap().digest().to_owned()
        );
        let a = records(&ordered, &requests, now);
        let b = records(&shuffled, &requests, now);
        prop_assert_eq!(&a, &b);
        // And twice in a row on one bundle.
        prop_assert_eq!(a, records(&ordered, &requests, now));
    }
}

const CHILD_ENV: &str = "WRIT_AUTHORIZE_DETERMINISM_CHILD_DIR";
const CHILD_BUNDLES: usize = 12;

fn write_case(dir: &Path, k: usize, policies: &[String], requests: &[AuthorizeRequest]) {
    let b = dir.join(format!("bundle-{k}"));
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(b.join("s.cedarschema"), TEST_SCHEMA).unwrap();
    std::fs::write(b.join("entities.json"), TEST_ENTITIES).unwrap();
    std::fs::write(b.join("p.cedar"), policies.join("\n")).unwrap();
    std::fs::write(
        dir.join(format!("requests-{k}.json")),
        serde_json::to_vec(requests).unwrap(),
    )
    .unwrap();
}

/// The child half: recomputes the records of every case in `$CHILD_ENV` (does nothing when
/// the variable is unset, i.e. in a normal test run).
#[test]
fn child_decides() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    for k in 0..CHILD_BUNDLES {
        let src = writ_authorize::fs::read_bundle_dir(&dir.join(format!("bundle-{k}"))).unwrap();
        let requests: Vec<AuthorizeRequest> =
            serde_json::from_slice(&std::fs::read(dir.join(format!("requests-{k}.json"))).unwrap())
                .unwrap();
        let out: Vec<u8> = records(&src, &requests, NOW)
            .into_iter()
            .flat_map(|mut r| {
                r.push(b'\n');
                r
            })
            .collect();
        std::fs::write(dir.join(format!("out-{k}.jsonl")), out).unwrap();
    }
}

#[test]
fn record_bytes_are_identical_in_a_separate_process() {
    let dir = tempfile::tempdir().unwrap();
    let mut runner = TestRunner::deterministic();
    let mut expected = Vec::new();
    for k in 0..CHILD_BUNDLES {
        let (policies, _, requests, _) = arb_case().new_tree(&mut runner).unwrap().current();
        write_case(dir.path(), k, &policies, &requests);
        // In this process, read back from disk exactly as the child will.
        let src =
            writ_authorize::fs::read_bundle_dir(&dir.path().join(format!("bundle-{k}"))).unwrap();
        expected.push(records(&src, &requests, NOW));
    }
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "determinism::child_decides", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "child process failed: {status}");
    for (k, want) in expected.iter().enumerate() {
        let got = std::fs::read(dir.path().join(format!("out-{k}.jsonl"))).unwrap();
        let got: Vec<&[u8]> = got
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(got.len(), want.len(), "bundle {k}");
        for (a, b) in got.iter().zip(want) {
            assert_eq!(
                *a,
                b.as_slice(),
                "bundle {k}: records differ between processes"
            );
        }
    }
}

/// Argument values the generic canonicalizer treats specially: fractions, integers past 2^53,
/// escapes, non-BMP characters (sorted by UTF-16 code units as member names).
fn arb_odd_value() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::json!(1.5)),
        Just(serde_json::json!(-0.000_001)),
        Just(serde_json::json!(9_007_199_254_740_993u64)),
        Just(serde_json::json!(1e21)),
        "[a-z\u{0}-\u{1f}\"\\\\\u{e9}\u{2028}\u{ffff}\u{1F600}]{0,6}"
            .prop_map(serde_json::Value::String),
        Just(serde_json::json!({"\u{1F600}": 1, "\u{ff61}": 2, "a": [null, true]})),
    ]
}

proptest! {
    #![proptest_config(Config { cases: 128, ..Config::default() })]
    /// The request's own canonical writer and the ledger entry written around its bytes give
    /// the generic canonical JSON, byte for byte, whatever the request holds and whichever way
    /// it was decided.
    #[test]
    fn the_spliced_entry_is_the_canonical_record(
        policies in arb_policies(12),
        request in arb_request(),
        odd in arb_odd_value(),
        with_act in any::<bool>(),
        with_lineage in any::<bool>(),
        with_parent in any::<bool>(),
        with_entity in any::<bool>(),
        env_extras in proptest::collection::vec(any::<bool>(), 6),
    ) {
        let bundle = compile(&source(TEST_SCHEMA, &[("p.cedar", &policies.join("\n"))], Some(TEST_ENTITIES))).unwrap();
        let mut v = serde_json::to_value(&request).unwrap();
        v["intent"]["args"]["odd \u{1F600}"] = odd;
        if with_act {
            v["act"] = serde_json::json!({"sub": "human:h.e", "act": {"sub": "service:s"}});
        }
        if with_lineage {
            v["lineage"] = serde_json::json!({
                "execution": "0190f2c4-1b2a-7c3d-8e4f-5a6b7c8d9e0f",
                "root": "0190f2c4-1b2a-7c3d-8e4f-5a6b7c8d9e01",
                "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            });
            if with_parent {
                v["lineage"]["parent"] = "0190f2c4-1b2a-7c3d-8e4f-5a6b7c8d9e01".into();
            }
        }
        // The principal's registration (issue 12, finding 6), with an escape and an astral key.
        if with_entity {
            v["principal_entity"] = serde_json::json!({"zone": "dev", "attrs": {"owner": "h\u{1}b", "\u{1F600}": [1, {"b": null}]}});
        }
        // The optional environment claims, each present or not (one with an escape).
        for (on, (name, value)) in env_extras.iter().zip([
            ("host", "h\u{1}\"st"),
            ("image_sha256", "ab"),
            ("binary_sha256", "cd"),
            ("k8s_namespace", "ns"),
            ("k8s_pod", "pod-\u{e9}"),
            ("containment", "uncontained"),
        ]) {
            if *on {
                v["env"][name] = value.into();
            }
        }
        let request: AuthorizeRequest = serde_json::from_value(v).unwrap();
        prop_assert_eq!(request.to_canonical().unwrap(), to_canonical_vec(&request).unwrap());
        let (record, entry) = writ_authorize::decide_with_entry(&bundle, &request, NOW);
        prop_assert_eq!(&record, &decide(&bundle, &request, NOW));
        prop_assert_eq!(entry.unwrap(), to_canonical_vec(&record).unwrap());
        // The v2 private part written around the same bytes equals the generic encoding.
        let (again, request_canonical) =
            writ_authorize::decide_with_request(&bundle, &request, NOW);
        prop_assert_eq!(&again, &record);
        let request_canonical = request_canonical.unwrap();
        prop_assert_eq!(
            record.private_canonical_with_request(&request_canonical),
            to_canonical_vec(&record.split().1).unwrap()
        );
        prop_assert_eq!(record.clear(), record.split().0);
    }
}
