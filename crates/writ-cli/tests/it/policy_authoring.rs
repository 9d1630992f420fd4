//! Policy authoring (issue 15): `writ policy init` scaffolds a bundle that validates and whose
//! tests pass; `writ policy schema` prints the default schema, and with `--from-pins` a typed
//! per-tool schema fragment from real server-filesystem pins that strict validation uses.

use std::path::Path;
use std::process::Command;

use crate::gateway::node_modules;
use crate::policy::{s, writ};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn policy_init_scaffolds_a_bundle_whose_tests_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    let init = writ(&["policy", "init", s(&dir), "--format", "json"]);
    assert_eq!(init.status.code(), Some(0), "{}", text(&init.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&init.stdout).unwrap();
    assert_eq!(
        printed["files"],
        serde_json::json!([
            "writ.cedarschema",
            "policies.cedar",
            "entities.json",
            "tests.json"
        ])
    );
    let validate = writ(&["policy", "validate", s(&dir), "--allow-unsigned"]);
    assert_eq!(
        validate.status.code(),
        Some(0),
        "{}",
        text(&validate.stderr)
    );
    let test = writ(&[
        "policy",
        "test",
        s(&dir),
        "--allow-unsigned",
        "--format",
        "json",
    ]);
    assert_eq!(test.status.code(), Some(0), "{}", text(&test.stdout));
    let report: serde_json::Value = serde_json::from_slice(&test.stdout).unwrap();
    assert_eq!(report["failed"], 0, "{report}");
    assert!(report["passed"].as_u64().unwrap() >= 8, "{report}");
    // The schema written is the default schema, as `writ policy schema` prints it.
    let schema = writ(&["policy", "schema"]);
    assert_eq!(schema.status.code(), Some(0));
    assert_eq!(
        text(&schema.stdout),
        std::fs::read_to_string(dir.join("writ.cedarschema")).unwrap()
    );

    // A directory that is not empty is refused, and nothing in it is touched.
    std::fs::write(dir.join("policies.cedar"), "// mine").unwrap();
    let again = writ(&["policy", "init", s(&dir)]);
    assert_eq!(again.status.code(), Some(3));
    assert!(
        text(&again.stderr).contains("not empty"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("policies.cedar")).unwrap(),
        "// mine"
    );
}

#[test]
fn schema_from_filesystem_pins_types_arguments_for_validation() {
    let Some(modules) = node_modules() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let pins = tmp.path().join("fs.pins.json");
    let pin = Command::new(env!("CARGO_BIN_EXE_writ"))
        .args(["gateway", "mcp", "pin", "--upstream-name", "fs", "--out"])
        .arg(&pins)
        .arg("--")
        .arg(modules.join(".bin/node"))
        .arg(modules.join("@modelcontextprotocol/server-filesystem/dist/index.js"))
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(pin.status.code(), Some(0), "{}", text(&pin.stderr));

    let schema = writ(&["policy", "schema", "--from-pins", s(&pins)]);
    assert_eq!(schema.status.code(), Some(0), "{}", text(&schema.stderr));
    let fragment = text(&schema.stdout);
    assert!(
        fragment.contains(r#"action "call_tool:fs/read_text_file" in ["call_tool"] appliesTo"#),
        "{fragment}"
    );
    assert!(fragment.contains(r#""path": String,"#), "{fragment}");

    let dir = tmp.path().join("bundle");
    let init = writ(&["policy", "init", s(&dir)]);
    assert_eq!(init.status.code(), Some(0));
    std::fs::write(dir.join("fs-tools.cedarschema"), &fragment).unwrap();
    let typed = dir.join("typed.cedar");
    std::fs::write(
        &typed,
        r#"@id("read-tmp")
permit (principal is Agent, action == Action::"call_tool:fs/read_text_file", resource)
when { context.args.path like "/tmp/*" };
"#,
    )
    .unwrap();
    let ok = writ(&["policy", "validate", s(&dir), "--allow-unsigned"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    // The starter's tests still pass beside the per-tool actions (its tool policies are
    // written `action in Action::"call_tool"`).
    let test = writ(&["policy", "test", s(&dir), "--allow-unsigned"]);
    assert_eq!(test.status.code(), Some(0), "{}", text(&test.stdout));

    // Comparing the string argument with a number: refused with Cedar's diagnostic, located.
    std::fs::write(
        &typed,
        r#"@id("read-tmp")
permit (principal is Agent, action == Action::"call_tool:fs/read_text_file", resource)
when { context.args.path > 3 };
"#,
    )
    .unwrap();
    let bad = writ(&["policy", "validate", s(&dir), "--allow-unsigned"]);
    assert_eq!(bad.status.code(), Some(3));
    let err = text(&bad.stderr);
    assert!(
        err.contains("typed.cedar:3:") && err.contains("expected Long but saw String"),
        "{err}"
    );
}

#[test]
fn schema_from_pins_refuses_a_file_that_is_not_a_pin_file() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("pins.json");
    std::fs::write(
        &bad,
        r#"{"format":"writ.mcp-pins/v2","server":"fs","tools":{}}"#,
    )
    .unwrap();
    let out = writ(&["policy", "schema", "--from-pins", s(&bad)]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("pin"), "{}", text(&out.stderr));
    std::fs::write(&bad, "not json").unwrap();
    let out = writ(&["policy", "schema", "--from-pins", s(&bad)]);
    assert_eq!(out.status.code(), Some(3));
}

// docs/policy.md's policy examples stay true: every ```cedar block validates strictly against
// the default schema (with the starter's entities).
#[test]
fn the_policy_examples_in_docs_validate() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/policy.md"))
            .unwrap();
    let blocks: Vec<&str> = doc
        .split("```cedar\n")
        .skip(1)
        .filter_map(|b| b.split_once("\n```").map(|(code, _)| code))
        .collect();
    assert!(blocks.len() >= 5, "{blocks:?}");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    assert_eq!(writ(&["policy", "init", s(&dir)]).status.code(), Some(0));
    std::fs::remove_file(dir.join("tests.json")).unwrap();
    std::fs::write(dir.join("policies.cedar"), blocks.join("\n")).unwrap();
    let out = writ(&["policy", "validate", s(&dir), "--allow-unsigned"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}
