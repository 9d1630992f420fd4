//! The scope index evaluates fewer policies but decides exactly as plain Cedar does.

use proptest::prelude::*;
use writ_authorize::compile;
use writ_authorize::decide::{
    Evaluation, candidate_policy_count, evaluate_indexed, evaluate_plain,
};

use crate::support::{NOW, TEST_ENTITIES, TEST_SCHEMA, arb_policies, arb_request, request, source};

/// (allowed, determining policies, erroring policies) as Cedar defines them.
fn verdict(ev: &Evaluation) -> (bool, Vec<String>, Vec<(String, String)>) {
    let errors = ev.errors.iter().cloned().collect();
    if !ev.forbids.is_empty() {
        (false, ev.forbids.iter().cloned().collect(), errors)
    } else if !ev.permits.is_empty() {
        (true, ev.permits.iter().cloned().collect(), errors)
    } else {
        (false, vec![], errors)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    #[test]
    fn indexed_decision_equals_plain_cedar(
        policies in arb_policies(40),
        requests in prop::collection::vec(arb_request(), 1..10),
    ) {
        let bundle = compile(&source(TEST_SCHEMA, &[("p.cedar", &policies.join("\n"))], Some(TEST_ENTITIES))).unwrap();
        for r in &requests {
            let indexed = evaluate_indexed(&bundle, r, NOW).map(|e| verdict(&e));
            let plain = evaluate_plain(&bundle, r, NOW).map(|e| verdict(&e));
            prop_assert_eq!(indexed, plain, "request {:?}", r);
        }
    }
}

#[test]
fn unrelated_policies_are_not_evaluated() {
    // 5,000 policies for other tools and agents, two that can apply.
    let mut text = String::new();
    for i in 0..2_500 {
        text.push_str(&format!(
            "@id(\"tool-{i}\") permit(principal, action == Action::\"call_tool\", resource == Tool::\"other-{i}\");\n\
             @id(\"agent-{i}\") forbid(principal == Agent::\"other-{i}\", action == Action::\"exec\", resource);\n"
        ));
    }
    text.push_str("@id(\"mine\") permit(principal, action == Action::\"call_tool\", resource == Tool::\"x0\");\n");
    text.push_str("@id(\"all-tools\") permit(principal is Agent, action == Action::\"call_tool\", resource) when { context.env.zone == \"z1\" };\n");
    let bundle = compile(&source(
        TEST_SCHEMA,
        &[("p.cedar", &text)],
        Some(TEST_ENTITIES),
    ))
    .unwrap();
    assert_eq!(bundle.len(), 5_002);
    let r = request(serde_json::json!({
        "principal": "agent:a0",
        "intent": {"action": "mcp.call_tool", "resource": "tool:x0"},
        "env": {"zone": "z0", "gate": "gate:g0"}
    }));
    assert_eq!(candidate_policy_count(&bundle, &r, NOW).unwrap(), 2);
    let record = writ_authorize::decide(&bundle, &r, NOW);
    assert_eq!(record.determining, ["mine"]);
}
