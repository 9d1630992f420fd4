//! The default schema and the demo bundle under examples/policy/default.

use std::path::PathBuf;

use serde_json::json;
use writ_authorize::fs::read_bundle_dir;
use writ_authorize::{DEFAULT_SCHEMA, compile, decide, parse_policy_tests, run_policy_tests};
use writ_model::canonical::to_canonical_vec;
use writ_model::decision::MAX_LEDGER_ENTRY_BYTES;

fn default_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy/default")
}

fn read_default() -> writ_authorize::BundleSource {
    read_bundle_dir(&default_dir()).unwrap_or_else(|e| panic!("{}: {e}", default_dir().display()))
}

#[test]
fn shipped_schema_is_the_examples_schema() {
    let path = default_dir().join("writ.cedarschema");
    let on_disk =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        on_disk, DEFAULT_SCHEMA,
        "copy src/writ.cedarschema to examples/policy/default"
    );
}

#[test]
fn default_bundle_passes_its_policy_tests() {
    let bundle = compile(&read_default()).unwrap();
    let tests =
        parse_policy_tests(&std::fs::read_to_string(default_dir().join("tests.json")).unwrap())
            .unwrap();
    assert!(tests.cases.len() >= 10);
    let results = run_policy_tests(&bundle, &tests);
    let failed: Vec<_> = results.iter().filter(|r| !r.passed).collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn a_normal_record_fits_a_ledger_entry() {
    let bundle = compile(&read_default()).unwrap();
    let execution = writ_model::ExecutionId::new_v7();
    let lineage = writ_model::Lineage::root(execution);
    let r: writ_model::AuthorizeRequest = serde_json::from_value(json!({
        "principal": "agent:triage-bot",
        "act": {"sub": "human:alice"},
        "intent": {"action": "mcp.call_tool", "resource": "tool:github/create_issue",
                   "args": {"repo": "acme/api", "title": "crash on start", "body": "x".repeat(4000)}},
        "env": {"zone": "dev", "gate": "gate:mcp-1", "host": "node-1",
                "image_sha256": "ab".repeat(32)},
        "lineage": lineage,
    }))
    .unwrap();
    let record = decide(&bundle, &r, 1_767_225_600);
    let bytes = to_canonical_vec(&record).unwrap();
    assert!(
        bytes.len() < MAX_LEDGER_ENTRY_BYTES,
        "{} bytes",
        bytes.len()
    );
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    // The record's fields are a public format (a ledger entry): a change here is a review item.
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "bundle_sha256",
            "decision",
            "determining",
            "engine",
            "errors",
            "now",
            "reason_code",
            "reasons",
            "request",
            "request_sha256",
            "type",
            "v"
        ]
    );
    assert_eq!(v["type"], "decision");
    assert_eq!(v["v"], 1);
    assert_eq!(v["decision"], "allow");
    assert_eq!(
        v["request_sha256"].as_str().unwrap(),
        writ_model::digest::canonical_sha256_hex(&r).unwrap()
    );
    assert_eq!(v["bundle_sha256"], bundle.digest());
}

// Issue 12, finding 4: the runner's weaker mode (`--allow-uncontained`) shows in its attested
// environment, and a policy can refuse to run anything there.
#[test]
fn a_policy_can_refuse_commands_the_runner_does_not_contain() {
    let mut files: std::collections::BTreeMap<String, Vec<u8>> =
        ["writ.cedarschema", "policies.cedar", "entities.json"]
            .iter()
            .map(|n| {
                (
                    (*n).to_owned(),
                    std::fs::read(default_dir().join(n)).unwrap(),
                )
            })
            .collect();
    files.insert(
        "contained.cedar".into(),
        br#"@id("only-contained-commands")
@reason("commands run only where the runner contains them")
forbid (principal, action == Action::"exec", resource)
when { context.env has containment && context.env.containment == "uncontained" };
"#
        .to_vec(),
    );
    // Validated strictly against the shipped schema: `context.env.containment` is declared.
    let bundle = compile(&writ_authorize::BundleSource::from_files(files).unwrap())
        .unwrap_or_else(|e| panic!("{e}"));
    let decide_with = |containment: Option<&str>| {
        let mut env = json!({"zone": "sandbox", "gate": "gate:sandbox-runner"});
        if let Some(c) = containment {
            env["containment"] = json!(c);
        }
        let r: writ_model::AuthorizeRequest = serde_json::from_value(json!({
            "principal": "agent:triage-bot",
            "intent": {"action": "exec", "resource": "cmd:/usr/bin/make", "args": {"argv": ["test"]}},
            "env": env,
        }))
        .unwrap();
        decide(&bundle, &r, 1_767_225_600)
    };
    for allowed in [None, Some("contained")] {
        let d = decide_with(allowed);
        assert_eq!(
            d.decision,
            writ_model::Decision::Allow,
            "{allowed:?}: {d:?}"
        );
    }
    let d = decide_with(Some("uncontained"));
    assert_eq!(d.decision, writ_model::Decision::Deny, "{d:?}");
    assert_eq!(d.determining, ["only-contained-commands"]);
    assert!(d.errors.is_empty(), "{:?}", d.errors);
}
