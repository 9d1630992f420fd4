//! Acceptance 2: a policy whose condition errors turns what would be an allow into a deny,
//! and the record names the error. A forbid that errors never lets an action through.

use serde_json::json;
use writ_authorize::decide::evaluate_plain;
use writ_authorize::{NO_PERMIT_REASON, compile, decide};
use writ_model::{Decision, DecisionCode};

use crate::support::{NOW, TEST_ENTITIES, TEST_SCHEMA, request, source};

const ALLOW_EXEC: &str = r#"@id("allow-exec") @reason("exec is fine") permit(principal, action == Action::"exec", resource);"#;

fn exec_request(args: serde_json::Value, principal: &str) -> writ_model::AuthorizeRequest {
    request(json!({
        "principal": principal,
        "intent": {"action": "exec", "resource": "cmd:/bin/ls", "args": args},
        "env": {"zone": "z0", "gate": "gate:g0"}
    }))
}

#[test]
fn forbid_with_a_type_error_denies_what_cedar_alone_would_allow() {
    let forbid = r#"@id("no-etc") @reason("never under /etc")
        forbid(principal, action == Action::"exec", resource)
        when { context.args has path && context.args.path like "/etc/*" };"#;
    let bundle = compile(&source(
        TEST_SCHEMA,
        &[("p.cedar", &format!("{ALLOW_EXEC}\n{forbid}"))],
        Some(TEST_ENTITIES),
    ))
    .unwrap();
    // `path` is a Long where the policy expects a String: a type error at evaluation.
    let r = exec_request(json!({"path": 42}), "agent:a0");
    let plain = evaluate_plain(&bundle, &r, NOW).unwrap();
    assert!(plain.forbids.is_empty() && plain.permits.contains("allow-exec"));
    assert_eq!(
        plain.errors.len(),
        1,
        "plain Cedar skips the erroring forbid"
    );

    let record = decide(&bundle, &r, NOW);
    assert_eq!(record.decision, Decision::Deny);
    assert_eq!(record.reason_code, DecisionCode::PolicyError);
    assert_eq!(record.determining, ["no-etc"]);
    assert_eq!(record.errors.len(), 1);
    assert!(
        record.errors[0].starts_with("no-etc: "),
        "{:?}",
        record.errors
    );
    assert!(
        record.errors[0].contains("type error"),
        "{:?}",
        record.errors
    );

    // With a well-typed argument the same bundle allows, and denies /etc by the forbid.
    let ok = decide(
        &bundle,
        &exec_request(json!({"path": "/tmp/x"}), "agent:a0"),
        NOW,
    );
    assert_eq!(ok.decision, Decision::Allow);
    assert_eq!(ok.determining, ["allow-exec"]);
    assert_eq!(ok.reasons, ["exec is fine"]);
    let no = decide(
        &bundle,
        &exec_request(json!({"path": "/etc/passwd"}), "agent:a0"),
        NOW,
    );
    assert_eq!(no.decision, Decision::Deny);
    assert_eq!(no.reason_code, DecisionCode::PolicyForbid);
    assert_eq!(no.reasons, ["never under /etc"]);
}

#[test]
fn forbid_reading_a_missing_attribute_denies() {
    // Agent a9 is not in the entities: `principal.owner` does not exist at evaluation.
    let schema = TEST_SCHEMA.replace(
        "entity Agent in [Team] { owner?: String };",
        "entity Agent in [Team] { owner: String };",
    );
    let entities = r#"[{"uid":{"type":"Agent","id":"a0"},"attrs":{"owner":"alice"},"parents":[]}]"#;
    let forbid = r#"@id("owner-must-be-alice") forbid(principal is Agent, action == Action::"exec", resource) unless { principal.owner == "alice" };"#;
    let bundle = compile(&source(
        &schema,
        &[("p.cedar", &format!("{ALLOW_EXEC}\n{forbid}"))],
        Some(entities),
    ))
    .unwrap();
    assert_eq!(
        decide(&bundle, &exec_request(json!({}), "agent:a0"), NOW).decision,
        Decision::Allow
    );
    let record = decide(&bundle, &exec_request(json!({}), "agent:a9"), NOW);
    assert_eq!(record.decision, Decision::Deny);
    assert_eq!(record.reason_code, DecisionCode::PolicyError);
    assert!(
        record
            .errors
            .iter()
            .any(|e| e.starts_with("owner-must-be-alice: ") && e.contains("owner")),
        "{:?}",
        record.errors
    );
}

#[test]
fn permit_with_an_error_and_another_satisfied_permit_still_denies() {
    let permit = r#"@id("n-big") permit(principal, action == Action::"exec", resource) when { context.args has n && context.args.n > 3 };"#;
    let bundle = compile(&source(
        TEST_SCHEMA,
        &[("p.cedar", &format!("{ALLOW_EXEC}\n{permit}"))],
        Some(TEST_ENTITIES),
    ))
    .unwrap();
    let record = decide(
        &bundle,
        &exec_request(json!({"n": "seven"}), "agent:a0"),
        NOW,
    );
    assert_eq!(record.decision, Decision::Deny);
    assert_eq!(record.determining, ["n-big"]);
}

#[test]
fn default_deny_says_no_policy_permits_this() {
    let bundle = compile(&source(
        TEST_SCHEMA,
        &[("p.cedar", ALLOW_EXEC)],
        Some(TEST_ENTITIES),
    ))
    .unwrap();
    let r = request(json!({
        "principal": "agent:a0",
        "intent": {"action": "mcp.call_tool", "resource": "tool:x0"},
        "env": {"zone": "z0", "gate": "gate:g0"}
    }));
    let record = decide(&bundle, &r, NOW);
    assert_eq!(record.decision, Decision::Deny);
    assert_eq!(record.reason_code, DecisionCode::NoPermit);
    assert_eq!(record.reasons, [NO_PERMIT_REASON]);
    assert!(record.determining.is_empty() && record.errors.is_empty());
}

#[test]
fn unknown_action_resource_and_non_object_args_deny_by_name() {
    let bundle = compile(&source(
        TEST_SCHEMA,
        &[("p.cedar", "permit(principal, action, resource);")],
        Some(TEST_ENTITIES),
    ))
    .unwrap();
    let mk = |action: &str, resource: &str, args: serde_json::Value| {
        request(json!({
            "principal": "agent:a0",
            "intent": {"action": action, "resource": resource, "args": args},
            "env": {"zone": "z0", "gate": "gate:g0"}
        }))
    };
    let r = decide(&bundle, &mk("fs.wipe", "tool:x0", json!({})), NOW);
    assert_eq!(
        (r.decision, r.reason_code),
        (Decision::Deny, DecisionCode::UnknownAction)
    );
    assert!(r.reasons[0].contains("fs.wipe"));
    let r = decide(&bundle, &mk("exec", "blob:x", json!({})), NOW);
    assert_eq!(
        (r.decision, r.reason_code),
        (Decision::Deny, DecisionCode::UnknownResource)
    );
    let r = decide(&bundle, &mk("exec", "cmd:", json!({})), NOW);
    assert_eq!(r.reason_code, DecisionCode::UnknownResource);
    let r = decide(&bundle, &mk("exec", "cmd:/bin/ls", json!([1, 2])), NOW);
    assert_eq!(
        (r.decision, r.reason_code),
        (Decision::Deny, DecisionCode::InvalidRequest)
    );
    // The permit-all policy allows a well-formed request.
    assert_eq!(
        decide(&bundle, &mk("exec", "cmd:/bin/ls", json!({})), NOW).decision,
        Decision::Allow
    );
}
