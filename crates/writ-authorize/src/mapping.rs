//! How a Writ [`AuthorizeRequest`] becomes a Cedar request.
//!
//! | Writ | Cedar |
//! | --- | --- |
//! | principal `agent:NAME` / `human:` / `service:` | `Agent::"NAME"` / `Human::` / `Service::` |
//! | action `mcp.call_tool`, `mcp.read_resource`, `mcp.get_prompt`, `mcp.complete`, `mcp.subscribe_resource`, `exec`, `http.request`, `delegate` | `Action::"call_tool"`, `"read_resource"`, `"get_prompt"`, `"complete"`, `"subscribe_resource"`, `"exec"`, `"http_request"`, `"delegate"` |
//! | resource `tool:X`, `mcp-resource:X`, `prompt:X`, `cmd:X`, `http:X`/`url:X`, `zone:X`, `agent:X`… | `Tool::"X"`, `McpResource::"X"`, `Prompt::"X"`, `Command::"X"`, `Endpoint::"X"`, `Zone::"X"`, `Agent::"X"`… |
//! | `mcp.call_tool` on `tool:X` when the bundle's schema declares `Action::"call_tool:X"` (see [`crate::tool_schema`]) | `Action::"call_tool:X"` (a member of `call_tool`), named by the record's `cedar_action` |
//! | time, env claims, args, lineage, act chain | `context.now`, `context.env`, `context.args`, `context.lineage`, `context.on_behalf_of` |
//!
//! Arguments: objects become records, arrays sets, strings strings, `null` is left out. A number
//! is mapped from its canonical form ([`CanonicalNumber`], the value the args digest, the ledger
//! and replay hold), so every spelling of it (`2`, `2.0`, `2e0`, `20e-1`) is the same Cedar
//! value:
//!
//! | canonical number | Cedar |
//! | --- | --- |
//! | integral, within ±(2^53 − 1) (`2`, written `2.0` or `20e-1` too) | `Long` |
//! | fractional, at most 4 decimals, within `decimal`'s range (`2.5`, `-0.0625`) | `decimal("2.5")` |
//! | any other fraction (`0.12345`, `1e-7`) | its RFC 8785 text as a `String` (`"1e-7"`) |
//! | beyond ±(2^53 − 1) | none: the request is denied, `number_out_of_range` |
//!
//! The request is not checked against the schema: a value of the wrong type (a `decimal` where
//! a policy compares a `Long`) makes the policy that reads it error, and an error denies.

use std::collections::HashSet;
use std::str::FromStr;

use cedar_policy::{Context, EntityId, EntityTypeName, EntityUid, Request, RestrictedExpression};
use writ_model::{AuthorizeRequest, CanonicalNumber, NumberError, PrincipalKind};

use crate::error::BundleError;

/// Entity type names, parsed once per bundle.
#[derive(Debug)]
pub(crate) struct CedarNames {
    agent: EntityTypeName,
    human: EntityTypeName,
    service: EntityTypeName,
    gate: EntityTypeName,
    tool: EntityTypeName,
    mcp_resource: EntityTypeName,
    prompt: EntityTypeName,
    command: EntityTypeName,
    endpoint: EntityTypeName,
    zone: EntityTypeName,
    action: EntityTypeName,
    /// The per-tool actions the bundle's schema declares (`call_tool:SERVER/NAME`), each a
    /// member of `call_tool` (checked by `compile`).
    tool_actions: HashSet<String>,
}

impl CedarNames {
    pub(crate) fn new() -> Result<Self, BundleError> {
        let n =
            |s: &str| EntityTypeName::from_str(s).map_err(|e| BundleError::Internal(e.to_string()));
        Ok(Self {
            agent: n("Agent")?,
            human: n("Human")?,
            service: n("Service")?,
            gate: n("Gate")?,
            tool: n("Tool")?,
            mcp_resource: n("McpResource")?,
            prompt: n("Prompt")?,
            command: n("Command")?,
            endpoint: n("Endpoint")?,
            zone: n("Zone")?,
            action: n("Action")?,
            tool_actions: HashSet::new(),
        })
    }

    /// The same names, deciding calls of these tools under their own actions.
    pub(crate) fn with_tool_actions(self, tool_actions: HashSet<String>) -> Self {
        Self {
            tool_actions,
            ..self
        }
    }
}

/// Why a request has no Cedar form; each becomes a deny.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MapError {
    UnknownAction(String),
    UnknownResource(String),
    Invalid(String),
    Number(NumberError),
}

fn uid(ty: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
}

/// The Cedar action id of a Writ intent action.
pub fn cedar_action(action: &str) -> Option<&'static str> {
    match action {
        "mcp.call_tool" => Some("call_tool"),
        "mcp.read_resource" => Some("read_resource"),
        "mcp.get_prompt" => Some("get_prompt"),
        "mcp.complete" => Some("complete"),
        "mcp.subscribe_resource" => Some("subscribe_resource"),
        "exec" => Some("exec"),
        "http.request" => Some("http_request"),
        "delegate" => Some("delegate"),
        _ => None,
    }
}

fn principal_type(names: &CedarNames, kind: PrincipalKind) -> &EntityTypeName {
    match kind {
        PrincipalKind::Agent => &names.agent,
        PrincipalKind::Human => &names.human,
        PrincipalKind::Service => &names.service,
    }
}

fn resource_uid(names: &CedarNames, resource: &str) -> Option<EntityUid> {
    let (prefix, rest) = resource.split_once(':')?;
    if rest.is_empty() {
        return None;
    }
    let ty = match prefix {
        "tool" => &names.tool,
        "mcp-resource" => &names.mcp_resource,
        "prompt" => &names.prompt,
        "cmd" => &names.command,
        "http" | "url" => &names.endpoint,
        "zone" => &names.zone,
        "agent" => &names.agent,
        "human" => &names.human,
        "service" => &names.service,
        _ => return None,
    };
    Some(uid(ty, rest))
}

/// A JSON value as a Cedar value; `None` for `null`.
fn json_to_cedar(v: &serde_json::Value) -> Result<Option<RestrictedExpression>, MapError> {
    Ok(match v {
        serde_json::Value::Null => None,
        serde_json::Value::Bool(b) => Some(RestrictedExpression::new_bool(*b)),
        serde_json::Value::Number(n) => Some(number(n)?),
        serde_json::Value::String(s) => Some(RestrictedExpression::new_string(s.clone())),
        serde_json::Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                if let Some(x) = json_to_cedar(i)? {
                    out.push(x);
                }
            }
            Some(RestrictedExpression::new_set(out))
        }
        serde_json::Value::Object(map) => Some(record(map)?),
    })
}

/// A JSON number as a Cedar value, from its canonical form (see the module documentation).
fn number(n: &serde_json::Number) -> Result<RestrictedExpression, MapError> {
    Ok(match CanonicalNumber::of(n).map_err(MapError::Number)? {
        CanonicalNumber::Integer(i) => RestrictedExpression::new_long(i),
        CanonicalNumber::Fraction(text) if is_cedar_decimal(&text) => {
            RestrictedExpression::new_decimal(text)
        }
        CanonicalNumber::Fraction(text) => RestrictedExpression::new_string(text),
    })
}

/// Whether a canonical fraction's text is one Cedar's `decimal` holds exactly: plain notation
/// with 1 to 4 decimals, and at most `i64::MAX` ten-thousandths in magnitude.
fn is_cedar_decimal(text: &str) -> bool {
    let Some((int, frac)) = text.split_once('.') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let magnitude = int.strip_prefix('-').unwrap_or(int);
    if !digits(magnitude) || !digits(frac) || frac.len() > 4 {
        return false;
    }
    let (Ok(whole), Ok(part)) = (magnitude.parse::<i128>(), frac.parse::<i128>()) else {
        return false;
    };
    let scale = [1, 1000, 100, 10, 1].get(frac.len()).copied().unwrap_or(1);
    // The negative side holds one more ten-thousandth; the positive bound is the tighter one.
    whole
        .checked_mul(10_000)
        .and_then(|w| w.checked_add(part * scale))
        .is_some_and(|v| v <= i128::from(i64::MAX))
}

fn record(
    map: &serde_json::Map<String, serde_json::Value>,
) -> Result<RestrictedExpression, MapError> {
    let mut fields = Vec::with_capacity(map.len());
    // Members in RFC 8785 order, as the ledger holds them: the first refused number (and so the
    // reason recorded) is the same whatever order the request listed them in. Found by the
    // cedar_mapping fuzz target: serde_json keeps insertion order here (preserve_order).
    let mut members: Vec<_> = map.iter().collect();
    members.sort_by(|(a, _), (b, _)| writ_model::canonical::utf16_cmp(a, b));
    for (k, v) in members {
        if let Some(x) = json_to_cedar(v)? {
            fields.push((k.clone(), x));
        }
    }
    RestrictedExpression::new_record(fields).map_err(|e| MapError::Invalid(e.to_string()))
}

fn string(s: impl Into<String>) -> RestrictedExpression {
    RestrictedExpression::new_string(s.into())
}

/// The tool's own action (`call_tool:SERVER/NAME`) when the bundle declares it for a
/// `call_tool` on `tool:SERVER/NAME`; otherwise `None` and the call is decided under
/// `call_tool` itself.
pub(crate) fn tool_action(names: &CedarNames, action_id: &str, resource: &str) -> Option<String> {
    if action_id != "call_tool" || names.tool_actions.is_empty() {
        return None;
    }
    let tool = resource.strip_prefix("tool:")?;
    let own = crate::tool_schema::tool_action_id(tool);
    names.tool_actions.contains(&own).then_some(own)
}

/// Builds the Cedar (principal, action, resource, context) of a Writ request at time `now`.
pub(crate) fn to_cedar(
    names: &CedarNames,
    req: &AuthorizeRequest,
    now: i64,
) -> Result<(EntityUid, EntityUid, EntityUid, Request), MapError> {
    let principal = uid(
        principal_type(names, req.principal.kind()),
        req.principal.name(),
    );
    let action_id = cedar_action(&req.intent.action)
        .ok_or_else(|| MapError::UnknownAction(req.intent.action.clone()))?;
    let resource = resource_uid(names, &req.intent.resource)
        .ok_or_else(|| MapError::UnknownResource(req.intent.resource.clone()))?;
    let action = match tool_action(names, action_id, &req.intent.resource) {
        Some(own) => uid(&names.action, &own),
        None => uid(&names.action, action_id),
    };

    let args = match &req.intent.args {
        serde_json::Value::Object(map) => record(map)?,
        _ => {
            return Err(MapError::Invalid(
                "intent args must be a JSON object".into(),
            ));
        }
    };

    let e = &req.env;
    let mut env = vec![
        ("zone".to_owned(), string(e.zone.as_str())),
        (
            "gate".to_owned(),
            RestrictedExpression::new_entity_uid(uid(&names.gate, e.gate.name())),
        ),
    ];
    for (k, v) in [
        ("host", &e.host),
        ("image_sha256", &e.image_sha256),
        ("binary_sha256", &e.binary_sha256),
        ("k8s_namespace", &e.k8s_namespace),
        ("k8s_pod", &e.k8s_pod),
    ] {
        if let Some(v) = v {
            env.push((k.to_owned(), string(v.as_str())));
        }
    }
    if let Some(c) = e.containment {
        env.push(("containment".to_owned(), string(c.as_str())));
    }
    let env =
        RestrictedExpression::new_record(env).map_err(|e| MapError::Invalid(e.to_string()))?;

    let on_behalf_of = RestrictedExpression::new_set(
        req.act
            .iter()
            .flat_map(|a| a.chain())
            .map(|p| string(p.to_string())),
    );

    let mut ctx = vec![
        ("now".to_owned(), RestrictedExpression::new_long(now)),
        ("env".to_owned(), env),
        ("args".to_owned(), args),
        ("on_behalf_of".to_owned(), on_behalf_of),
    ];
    if let Some(l) = &req.lineage {
        let mut fields = vec![
            ("execution".to_owned(), string(l.execution.to_string())),
            ("root".to_owned(), string(l.root.to_string())),
            ("traceparent".to_owned(), string(l.traceparent.as_str())),
        ];
        if let Some(p) = &l.parent {
            fields.push(("parent".to_owned(), string(p.to_string())));
        }
        ctx.push((
            "lineage".to_owned(),
            RestrictedExpression::new_record(fields)
                .map_err(|e| MapError::Invalid(e.to_string()))?,
        ));
    }
    let context = Context::from_pairs(ctx).map_err(|e| MapError::Invalid(e.to_string()))?;
    let request = Request::new(
        principal.clone(),
        action.clone(),
        resource.clone(),
        context,
        None,
    )
    .map_err(|e| MapError::Invalid(e.to_string()))?;
    Ok((principal, action, resource, request))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names() -> CedarNames {
        CedarNames::new().unwrap()
    }

    #[test]
    fn actions_map_to_cedar_ids_and_unknown_ones_do_not() {
        assert_eq!(cedar_action("mcp.call_tool"), Some("call_tool"));
        assert_eq!(cedar_action("http.request"), Some("http_request"));
        assert_eq!(cedar_action("exec"), Some("exec"));
        assert_eq!(cedar_action("delegate"), Some("delegate"));
        assert_eq!(cedar_action("mcp.read_resource"), Some("read_resource"));
        assert_eq!(cedar_action("mcp.get_prompt"), Some("get_prompt"));
        assert_eq!(cedar_action("mcp.complete"), Some("complete"));
        assert_eq!(
            cedar_action("mcp.subscribe_resource"),
            Some("subscribe_resource")
        );
        assert_eq!(cedar_action("call_tool"), None);
        assert_eq!(cedar_action(""), None);
    }

    #[test]
    fn resources_map_by_prefix() {
        let n = names();
        let r = |s: &str| resource_uid(&n, s).map(|u| u.to_string());
        assert_eq!(
            r("tool:github/create_issue").as_deref(),
            Some(r#"Tool::"github/create_issue""#)
        );
        assert_eq!(
            r("cmd:/usr/bin/git").as_deref(),
            Some(r#"Command::"/usr/bin/git""#)
        );
        assert_eq!(
            r("http:https://api.github.com").as_deref(),
            Some(r#"Endpoint::"https://api.github.com""#)
        );
        assert_eq!(r("url:x").as_deref(), Some(r#"Endpoint::"x""#));
        assert_eq!(r("zone:prod").as_deref(), Some(r#"Zone::"prod""#));
        assert_eq!(r("agent:sub").as_deref(), Some(r#"Agent::"sub""#));
        assert_eq!(
            r("mcp-resource:everything/test://static/resource/1").as_deref(),
            Some(r#"McpResource::"everything/test://static/resource/1""#)
        );
        assert_eq!(
            r("prompt:everything/simple_prompt").as_deref(),
            Some(r#"Prompt::"everything/simple_prompt""#)
        );
        assert_eq!(r("tool:"), None);
        assert_eq!(r("file:/etc"), None);
        assert_eq!(r("noprefix"), None);
    }

    #[test]
    fn json_values_become_cedar_values() {
        use cedar_policy::EvalResult;
        // null disappears, fractions with at most 4 decimals decimals, other fractions their
        // canonical text, integral numbers Longs, arrays sets.
        let e = json_to_cedar(&json!({"a": null, "f": 1.5, "g": 0.12345, "i": 2.0, "n": 3, "s": ["x", null], "b": true}))
            .unwrap()
            .unwrap();
        let ctx = Context::from_pairs([("v".to_owned(), e)]).unwrap();
        let Some(EvalResult::Record(r)) = ctx.get("v") else {
            panic!("not a record")
        };
        assert!(r.get("a").is_none());
        assert!(
            matches!(r.get("f"), Some(EvalResult::ExtensionValue(d)) if d == r#"decimal("1.5")"#),
            "{:?}",
            r.get("f")
        );
        assert_eq!(r.get("g"), Some(&EvalResult::String("0.12345".into())));
        assert_eq!(r.get("i"), Some(&EvalResult::Long(2)));
        assert_eq!(r.get("n"), Some(&EvalResult::Long(3)));
        assert_eq!(r.get("b"), Some(&EvalResult::Bool(true)));
        let Some(EvalResult::Set(set)) = r.get("s") else {
            panic!("not a set")
        };
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [&EvalResult::String("x".into())]
        );
        assert!(json_to_cedar(&json!(null)).unwrap().is_none());
    }

    #[test]
    fn decimals_are_fractions_cedar_holds_exactly() {
        for t in [
            "0.5",
            "-0.5",
            "2.25",
            "1.0625",
            "922337203685477.5",
            "-922337203685477.5",
        ] {
            assert!(is_cedar_decimal(t), "{t}");
        }
        for t in [
            "0.12345",
            "1e-7",
            "922337203685477.625",
            "-922337203685477.625",
            "5",
            "1.",
            ".5",
            "--1.5",
        ] {
            assert!(!is_cedar_decimal(t), "{t}");
        }
        assert!(is_cedar_decimal("922337203685477.5807"));
        assert!(!is_cedar_decimal("922337203685477.5808"));
    }

    #[test]
    fn request_maps_principal_action_resource() {
        let req: AuthorizeRequest = serde_json::from_value(json!({
            "principal": "service:ci",
            "act": {"sub": "human:alice"},
            "intent": {"action": "exec", "resource": "cmd:/usr/bin/git"},
            "env": {"zone": "dev", "gate": "gate:runner", "host": "h1"}
        }))
        .unwrap();
        let (p, a, r, _) = to_cedar(&names(), &req, 5).unwrap();
        assert_eq!(p.to_string(), r#"Service::"ci""#);
        assert_eq!(a.to_string(), r#"Action::"exec""#);
        assert_eq!(r.to_string(), r#"Command::"/usr/bin/git""#);
    }
}
