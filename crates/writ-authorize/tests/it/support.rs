//! Builders shared by the tests: requests, and random bundles that pass strict validation.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};
use writ_authorize::BundleSource;
use writ_model::AuthorizeRequest;

/// A schema for generated bundles: the Writ entity types with a small, typed `Args`.
pub const TEST_SCHEMA: &str = r#"
entity Team;
entity Zone;
entity Agent in [Team] { owner?: String };
entity Human in [Team];
entity Service;
entity Gate in [Zone];
entity Tool { read_only?: Bool };
entity Command;
entity Endpoint;
type Env = { zone: String, gate: Gate };
type Args = { n?: Long, path?: String };
type Context = { now: Long, env: Env, args: Args, on_behalf_of: Set<String> };
action tools;
action call_tool in [tools] appliesTo { principal: [Agent, Human, Service], resource: [Tool], context: Context };
action exec appliesTo { principal: [Agent, Human, Service], resource: [Command], context: Context };
action http_request appliesTo { principal: [Agent, Human, Service], resource: [Endpoint], context: Context };
action delegate appliesTo { principal: [Agent, Human, Service], resource: [Agent, Zone], context: Context };
"#;

pub const TEST_ENTITIES: &str = r#"[
 {"uid":{"type":"Team","id":"t0"},"attrs":{},"parents":[]},
 {"uid":{"type":"Team","id":"t1"},"attrs":{},"parents":[]},
 {"uid":{"type":"Agent","id":"a0"},"attrs":{"owner":"alice"},"parents":[{"type":"Team","id":"t0"}]},
 {"uid":{"type":"Agent","id":"a1"},"attrs":{},"parents":[{"type":"Team","id":"t1"}]},
 {"uid":{"type":"Agent","id":"a2"},"attrs":{"owner":"bob"},"parents":[{"type":"Team","id":"t0"},{"type":"Team","id":"t1"}]},
 {"uid":{"type":"Tool","id":"x0"},"attrs":{"read_only":true},"parents":[]},
 {"uid":{"type":"Tool","id":"x1"},"attrs":{"read_only":false},"parents":[]}
]"#;

pub const NOW: i64 = 1_767_225_600;

/// The actions of the test schema with the Writ intent action and resource prefix/type.
pub const ACTIONS: [(&str, &str, &str, &str); 4] = [
    ("call_tool", "mcp.call_tool", "tool", "Tool"),
    ("exec", "exec", "cmd", "Command"),
    ("http_request", "http.request", "http", "Endpoint"),
    ("delegate", "delegate", "agent", "Agent"),
];

pub fn request(v: Value) -> AuthorizeRequest {
    serde_json::from_value(v).unwrap()
}

/// A bundle from a schema and named policy files.
pub fn source(schema: &str, policies: &[(&str, &str)], entities: Option<&str>) -> BundleSource {
    BundleSource {
        schemas: BTreeMap::from([("s.cedarschema".to_owned(), schema.to_owned())]),
        policies: policies
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect(),
        entities: entities.map(str::to_owned),
        signature: None,
    }
}

/// One generated policy, as Cedar text with an `@id`.
pub fn arb_policy() -> impl Strategy<Value = String> {
    let effect = prop_oneof![Just("permit"), Just("forbid")];
    let principal = prop_oneof![
        Just("principal".to_owned()),
        (0..3u8).prop_map(|i| format!("principal == Agent::\"a{i}\"")),
        (0..2u8).prop_map(|i| format!("principal in Team::\"t{i}\"")),
        Just("principal is Agent".to_owned()),
    ];
    // (action scope, resource scope) pairs that are valid together.
    let scope = prop_oneof![
        Just(("action".to_owned(), "resource".to_owned())),
        (0..4usize, 0..3u8, any::<bool>()).prop_map(|(a, r, pin)| {
            let (act, _, _, ty) = ACTIONS[a];
            let res = if pin {
                let id = if ty == "Agent" {
                    format!("a{r}")
                } else {
                    format!("x{r}")
                };
                format!("resource == {ty}::\"{id}\"")
            } else {
                "resource".to_owned()
            };
            (format!("action == Action::\"{act}\""), res)
        }),
        Just((
            "action in [Action::\"call_tool\", Action::\"exec\"]".to_owned(),
            "resource".to_owned()
        )),
        Just((
            "action in Action::\"tools\"".to_owned(),
            "resource is Tool".to_owned()
        )),
        Just(("action".to_owned(), "resource is Tool".to_owned())),
    ];
    let condition = prop_oneof![
        Just(String::new()),
        (0..5i64).prop_map(|k| format!(" when {{ context.args has n && context.args.n > {k} }}")),
        Just(" when { context.args has path && context.args.path like \"/a*\" }".to_owned()),
        Just(" when { context.env.zone == \"z1\" }".to_owned()),
        (0..3i64).prop_map(|k| format!(" unless {{ context.now > {} }}", NOW + k)),
        Just(" when { principal has owner && principal.owner == \"alice\" }".to_owned()),
    ];
    (effect, principal, scope, condition)
        .prop_map(|(e, p, (a, r), c)| format!("{e}({p}, {a}, {r}){c};"))
}

/// A generated bundle: policy texts with unique ids, in order.
pub fn arb_policies(max: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(arb_policy(), 1..max).prop_map(|ps| {
        ps.into_iter()
            .enumerate()
            .map(|(i, p)| format!("@id(\"p{i:03}\")\n@reason(\"reason {i}\")\n{p}"))
            .collect()
    })
}

/// A generated request, including values of the wrong type (which make policies error).
pub fn arb_request() -> impl Strategy<Value = AuthorizeRequest> {
    let principal = prop_oneof![
        (0..4u8).prop_map(|i| format!("agent:a{i}")),
        Just("human:h0".to_owned()),
    ];
    let action = prop_oneof![
        8 => (0..4usize).prop_map(|i| ACTIONS[i].1.to_owned()),
        1 => Just("fs.unknown".to_owned()),
    ];
    let resource = prop_oneof![
        (0..4u8).prop_map(|i| format!("tool:x{i}")),
        (0..4u8).prop_map(|i| format!("cmd:x{i}")),
        (0..4u8).prop_map(|i| format!("http:x{i}")),
        (0..4u8).prop_map(|i| format!("agent:a{i}")),
    ];
    let n = prop_oneof![
        Just(None),
        (0..8i64).prop_map(|n| Some(json!(n))),
        Just(Some(json!("seven"))),
    ];
    let path = prop_oneof![
        Just(None),
        Just(Some(json!("/a/b"))),
        Just(Some(json!("/b"))),
        Just(Some(json!(42))),
    ];
    let zone = prop_oneof![Just("z0"), Just("z1")];
    (principal, action, resource, n, path, zone).prop_map(|(p, a, r, n, path, zone)| {
        let mut args = serde_json::Map::new();
        if let Some(n) = n {
            args.insert("n".into(), n);
        }
        if let Some(path) = path {
            args.insert("path".into(), path);
        }
        request(json!({
            "principal": p,
            "intent": {"action": a, "resource": r, "args": args},
            "env": {"zone": zone, "gate": "gate:g0"}
        }))
    })
}
