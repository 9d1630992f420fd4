//! Per-tool actions (issue 15): a schema fragment generated from tool definitions gives each
//! tool an action of its own, a member of `call_tool`; a call of that tool is decided under it,
//! typed arguments are checked by strict validation, and `call_tool` policies still apply.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use writ_authorize::tool_schema::tool_actions_fragment;
use writ_authorize::{
    BundleError, BundleSource, DEFAULT_SCHEMA, ReplayOutcome, compile, decide, decide_with_entry,
    replay,
};
use writ_model::{Decision, DecisionCode};

use crate::support::{NOW, request};

/// A tool name with everything that needs escaping in a Cedar string.
const WEIRD: &str = "we\"ird\\tool\nname é \u{1}";

fn tools() -> Vec<(&'static str, Value)> {
    vec![
        (
            "read_text_file",
            json!({"name": "read_text_file", "inputSchema": {"type": "object",
                "properties": {"path": {"type": "string"}, "head": {"type": "number"}},
                "required": ["path"]}}),
        ),
        (
            "search",
            json!({"name": "search", "inputSchema": {"type": "object",
                "properties": {"limit": {"type": "integer"}, "exact": {"type": "boolean"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "filter": {"type": "object", "properties": {"owner": {"type": ["string", "null"]}},
                               "required": ["owner"]},
                    "any": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                "required": ["limit"]}}),
        ),
        (
            WEIRD,
            json!({"name": WEIRD, "inputSchema": {"type": "object",
                "properties": {"we\"ird key": {"type": "string"}}}}),
        ),
    ]
}

fn fragment() -> String {
    let tools = tools();
    tool_actions_fragment("fs", tools.iter().map(|(n, d)| (*n, d)))
}

fn bundle_source(policies: &str) -> BundleSource {
    BundleSource {
        schemas: BTreeMap::from([
            ("writ.cedarschema".to_owned(), DEFAULT_SCHEMA.to_owned()),
            ("tools.cedarschema".to_owned(), fragment()),
        ]),
        policies: BTreeMap::from([("p.cedar".to_owned(), policies.to_owned())]),
        entities: None,
        signature: None,
    }
}

fn call(tool: &str, args: Value) -> writ_model::AuthorizeRequest {
    request(json!({
        "principal": "agent:bot",
        "intent": {"action": "mcp.call_tool", "resource": format!("tool:fs/{tool}"), "args": args},
        "env": {"zone": "dev", "gate": "gate:mcp-1"}
    }))
}

const POLICIES: &str = r#"
@id("read-tmp")
permit (principal is Agent, action == Action::"call_tool:fs/read_text_file", resource)
when { context.args.path like "/tmp/*" };

@id("no-secrets")
forbid (principal, action in Action::"call_tool", resource)
when { context.args has path && context.args.path like "*secret*" };

@id("small-searches")
permit (principal, action == Action::"call_tool:fs/search", resource)
when { context.args.limit <= 10 && !(context.args has exact && context.args.exact) };
"#;

#[test]
fn a_tool_call_is_decided_under_its_own_action_and_call_tool_policies_still_apply() {
    let bundle = compile(&bundle_source(POLICIES)).unwrap();
    let allowed = decide(
        &bundle,
        &call("read_text_file", json!({"path": "/tmp/a"})),
        NOW,
    );
    assert_eq!(allowed.decision, Decision::Allow, "{allowed:?}");
    assert_eq!(allowed.determining, ["read-tmp"]);
    assert_eq!(
        allowed.cedar_action.as_deref(),
        Some("call_tool:fs/read_text_file")
    );
    // The forbid written for call_tool applies through the action hierarchy.
    let forbidden = decide(
        &bundle,
        &call("read_text_file", json!({"path": "/tmp/secret"})),
        NOW,
    );
    assert_eq!(forbidden.decision, Decision::Deny);
    assert_eq!(forbidden.determining, ["no-secrets"]);
    assert_eq!(forbidden.reason_code, DecisionCode::PolicyForbid);
    // Typed integer and boolean arguments.
    let search = |args| decide(&bundle, &call("search", args), NOW).decision;
    assert_eq!(search(json!({"limit": 5})), Decision::Allow);
    assert_eq!(search(json!({"limit": 50})), Decision::Deny);
    assert_eq!(search(json!({"limit": 5, "exact": true})), Decision::Deny);
    // A required argument missing at call time: the policy errors, and an error denies.
    let missing = decide(&bundle, &call("search", json!({})), NOW);
    assert_eq!(
        missing.reason_code,
        DecisionCode::PolicyError,
        "{missing:?}"
    );
    // The scope index finds the same policies plain Cedar does under per-tool actions (the
    // `in call_tool` forbid is indexed under every member action).
    for (tool, args) in [
        ("read_text_file", json!({"path": "/tmp/a"})),
        ("read_text_file", json!({"path": "/tmp/secret"})),
        ("search", json!({"limit": 5, "path": "secret"})),
        ("unknown", json!({"path": "secret"})),
    ] {
        let r = call(tool, args);
        let indexed = writ_authorize::decide::evaluate_indexed(&bundle, &r, NOW).unwrap();
        let plain = writ_authorize::decide::evaluate_plain(&bundle, &r, NOW).unwrap();
        assert_eq!(indexed, plain, "{tool}");
    }
    // The record (with its action) replays byte for byte, and its ledger bytes are the ones
    // the generic encoder writes.
    assert_eq!(replay(&bundle, &allowed), ReplayOutcome::Match);
    let (record, entry) = decide_with_entry(
        &bundle,
        &call("read_text_file", json!({"path": "/tmp/a"})),
        NOW,
    );
    let entry = entry.unwrap();
    assert_eq!(
        entry,
        writ_model::canonical::to_canonical_vec(&record).unwrap()
    );
    let parsed: Value = serde_json::from_slice(&entry).unwrap();
    assert_eq!(parsed["cedar_action"], "call_tool:fs/read_text_file");
}

#[test]
fn a_tool_the_schema_does_not_declare_is_decided_under_call_tool() {
    let bundle = compile(&bundle_source(
        r#"@id("all-tools") permit (principal, action in Action::"call_tool", resource);"#,
    ))
    .unwrap();
    let other = decide(&bundle, &call("not_pinned", json!({})), NOW);
    assert_eq!(other.decision, Decision::Allow);
    assert_eq!(other.cedar_action, None);
    // Without the fragment, nothing changes: no tool has its own action.
    let mut plain =
        bundle_source(r#"permit (principal, action == Action::"call_tool", resource);"#);
    plain.schemas.remove("tools.cedarschema");
    let plain = compile(&plain).unwrap();
    let r = decide(&plain, &call("read_text_file", json!({"path": "/x"})), NOW);
    assert_eq!(r.decision, Decision::Allow);
    assert_eq!(r.cedar_action, None);
    let encoded: Value =
        serde_json::from_slice(&writ_model::canonical::to_canonical_vec(&r).unwrap()).unwrap();
    assert!(encoded.get("cedar_action").is_none(), "{encoded}");
}

#[test]
fn a_weird_tool_name_gets_an_action_that_reads_back_as_itself() {
    let text = fragment();
    // Nothing of the name leaks out of its string literal (no raw line break after `name`).
    assert!(!text.contains("tool\nname"), "{text}");
    let bundle = compile(&bundle_source(&format!(
        r#"@id("weird") permit (principal, action == Action::{}, resource) when {{ context.args has "we\"ird key" }};"#,
        writ_authorize::tool_schema::cedar_string(&format!("call_tool:fs/{WEIRD}"))
    )))
    .unwrap();
    let r = decide(&bundle, &call(WEIRD, json!({"we\"ird key": "v"})), NOW);
    assert_eq!(r.decision, Decision::Allow, "{r:?}");
    assert_eq!(
        r.cedar_action.as_deref(),
        Some(format!("call_tool:fs/{WEIRD}").as_str())
    );
}

fn validation_messages(err: BundleError) -> String {
    match err {
        BundleError::Validation(d) | BundleError::Schema(d) => d
            .iter()
            .map(|d| format!("{} {}", d.message, d.help.clone().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("\n"),
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn typed_arguments_are_checked_by_strict_validation() {
    for (policy, why) in [
        (
            r#"permit (principal, action == Action::"call_tool:fs/read_text_file", resource) when { context.args.path > 3 };"#,
            "expected Long but saw String",
        ),
        // An undeclared argument (a JSON number) cannot be read.
        (
            r#"permit (principal, action == Action::"call_tool:fs/read_text_file", resource) when { context.args.head == 1 };"#,
            "head",
        ),
        (
            r#"permit (principal, action == Action::"call_tool:fs/search", resource) when { context.args.tags.contains(3) };"#,
            "",
        ),
    ] {
        let err = compile(&bundle_source(policy)).unwrap_err();
        let text = validation_messages(err);
        assert!(text.contains(why), "{policy}: {text}");
    }
}

// Regression guard: with per-tool actions declared, a forbid scoped `action == call_tool` no
// longer meets those tools' calls; it would silently stop applying, so the bundle is refused.
#[test]
fn a_forbid_scoped_to_call_tool_equality_is_refused_beside_per_tool_actions() {
    let err = compile(&bundle_source(
        r#"@id("eq") forbid (principal, action == Action::"call_tool", resource);"#,
    ))
    .unwrap_err();
    let text = validation_messages(err);
    assert!(text.contains("action in Action::\"call_tool\""), "{text}");
    // A permit scoped so is only a warning (it fails closed).
    let bundle = compile(&bundle_source(
        r#"@id("eq") permit (principal, action == Action::"call_tool", resource);"#,
    ))
    .unwrap();
    assert_eq!(bundle.warnings().len(), 1, "{:?}", bundle.warnings());
    let r = decide(&bundle, &call("read_text_file", json!({"path": "/x"})), NOW);
    assert_eq!(r.decision, Decision::Deny);
}

#[test]
fn a_per_tool_action_outside_call_tool_is_refused() {
    let mut src = bundle_source(r#"permit (principal, action, resource);"#);
    src.schemas.insert(
        "rogue.cedarschema".into(),
        r#"action "call_tool:fs/escape" appliesTo { principal: [Agent], resource: [Tool], context: Context };"#
            .into(),
    );
    let text = validation_messages(compile(&src).unwrap_err());
    assert!(text.contains("call_tool:fs/escape"), "{text}");
}

#[test]
fn the_fragment_types_arguments_and_says_what_it_left_out() {
    let text = fragment();
    for want in [
        r#"action "call_tool:fs/search" in ["call_tool"] appliesTo"#,
        r#""limit": Long,"#,
        r#""exact"?: Bool,"#,
        r#""tags"?: Set<String>,"#,
        r#""owner"?: String,"#,
        r#"// "any": not declared"#,
        r#"// "head": not declared (a JSON number"#,
        r#""path": String,"#,
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

mod generated {
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    use super::*;

    /// JSON Schemas built from the constructs tools use, and some they should not.
    fn arb_schema() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(json!({"type": "string"})),
            Just(json!({"type": "integer"})),
            Just(json!({"type": "number"})),
            Just(json!({"type": "boolean"})),
            Just(json!({"type": ["string", "null"]})),
            Just(json!({"type": "object"})),
            Just(json!({"anyOf": [{"type": "string"}]})),
            Just(json!({"type": "null"})),
            Just(json!(7)),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                inner
                    .clone()
                    .prop_map(|items| json!({"type": "array", "items": items})),
                (
                    prop::collection::btree_map(any::<String>(), inner, 0..4),
                    any::<bool>()
                )
                    .prop_map(|(props, all_required)| {
                        let required: Vec<Value> = if all_required {
                            props.keys().map(|k| json!(k)).collect()
                        } else {
                            vec![]
                        };
                        json!({"type": "object", "properties": props.into_iter().collect::<Map<String, Value>>(), "required": required})
                    }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        // Any tool name and input schema give a fragment Cedar loads beside the default schema,
        // and a call of that tool is decided under its own action.
        #[test]
        fn any_definition_gives_a_fragment_that_loads(
            server in "[a-z]{1,8}",
            name in any::<String>(),
            input in arb_schema(),
        ) {
            let definition = json!({"name": name, "inputSchema": input});
            let fragment = tool_actions_fragment(&server, [(name.as_str(), &definition)]);
            let src = BundleSource {
                schemas: BTreeMap::from([
                    ("writ.cedarschema".to_owned(), DEFAULT_SCHEMA.to_owned()),
                    ("tools.cedarschema".to_owned(), fragment.clone()),
                ]),
                policies: BTreeMap::from([(
                    "p.cedar".to_owned(),
                    r#"permit (principal, action in Action::"call_tool", resource);"#.to_owned(),
                )]),
                entities: None,
                signature: None,
            };
            let bundle = compile(&src).map_err(|e| TestCaseError::fail(format!("{e}\n{fragment}")))?;
            let r = decide(&bundle, &request(json!({
                "principal": "agent:bot",
                "intent": {"action": "mcp.call_tool", "resource": format!("tool:{server}/{name}")},
                "env": {"zone": "dev", "gate": "gate:mcp-1"}
            })), NOW);
            prop_assert_eq!(r.cedar_action, Some(format!("call_tool:{server}/{name}")));
        }
    }
}
