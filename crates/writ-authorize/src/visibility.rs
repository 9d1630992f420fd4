//! Which actions a principal could be allowed at all: what a gate may show it (for example the
//! MCP gateway's `tools/list`), before any arguments are known.
//!
//! The answer over-approximates on purpose: conditions that read `context.args` are dropped from
//! permits (the arguments are not known yet), so a tool whose permit depends on its arguments stays
//! visible; the actual call is still decided in full by [`crate::decide`]. Everything else a policy
//! reads (entities, time, the gate's environment) is known and evaluated. Forbids that read the
//! arguments are left out, since some arguments may escape them.

use cedar_policy::{Authorizer, Decision, Effect, Policy, PolicySet};
use serde_json::Value;
use writ_model::env::EnvironmentClaims;
use writ_model::request::AuthorizeRequest;
use writ_model::{Intent, PrincipalId};

use crate::bundle::Bundle;
use crate::error::BundleError;
use crate::mapping::to_cedar;

/// A bundle's policies reduced to what decides visibility.
#[derive(Debug)]
pub struct Visibility {
    policies: PolicySet,
}

impl Visibility {
    /// Builds the reduced policy set: permits without the conditions that read arguments, and the
    /// forbids that read none.
    pub fn new(bundle: &Bundle) -> Result<Self, BundleError> {
        let mut policies = PolicySet::new();
        for p in bundle.cedar_policies().policies() {
            let mut json = p
                .to_json()
                .map_err(|e| BundleError::Internal(e.to_string()))?;
            let conditions: Vec<Value> = json
                .get("conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let (with_args, without): (Vec<Value>, Vec<Value>) =
                conditions.into_iter().partition(reads_args);
            let keep = match p.effect() {
                Effect::Permit => {
                    if let Some(obj) = json.as_object_mut() {
                        obj.insert("conditions".into(), Value::Array(without));
                    }
                    true
                }
                Effect::Forbid => with_args.is_empty(),
            };
            if keep {
                let reduced = Policy::from_json(Some(p.id().clone()), json)
                    .map_err(|e| BundleError::Internal(e.to_string()))?;
                policies
                    .add(reduced)
                    .map_err(|e| BundleError::Internal(e.to_string()))?;
            }
        }
        Ok(Self { policies })
    }

    /// Whether `principal` could be allowed `action` on `resource` from a gate with `env` at
    /// `now`, for some arguments, against `entities` (the bundle's, completed with the
    /// principal's registration by [`crate::principal_entities`]). Anything that cannot be
    /// mapped or evaluated is not visible (fail closed).
    #[expect(
        clippy::too_many_arguments,
        reason = "one visibility question, asked per resource"
    )]
    pub fn could_allow(
        &self,
        bundle: &Bundle,
        entities: &cedar_policy::Entities,
        principal: &PrincipalId,
        action: &str,
        resource: &str,
        env: &EnvironmentClaims,
        now: i64,
    ) -> bool {
        let req = AuthorizeRequest {
            principal: principal.clone(),
            act: None,
            intent: Intent::new(action, resource, Value::Object(serde_json::Map::new())),
            env: env.clone(),
            lineage: None,
            principal_entity: None,
        };
        let Ok((_, _, _, request)) = to_cedar(bundle.names(), &req, now) else {
            return false;
        };
        let response = Authorizer::new().is_authorized(&request, &self.policies, entities);
        response.decision() == Decision::Allow && response.diagnostics().errors().next().is_none()
    }
}

/// Whether a condition clause (Cedar JSON form) reads `context.args`.
fn reads_args(condition: &Value) -> bool {
    match condition {
        Value::Object(map) => {
            map.get("attr").and_then(Value::as_str) == Some("args")
                && map
                    .get("left")
                    .and_then(|l| l.get("Var"))
                    .and_then(Value::as_str)
                    == Some("context")
                || map.values().any(reads_args)
        }
        Value::Array(items) => items.iter().any(reads_args),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{BundleSource, compile};

    fn bundle(policies: &str) -> Bundle {
        let mut src = BundleSource::default();
        src.schemas
            .insert("writ.cedarschema".into(), crate::DEFAULT_SCHEMA.into());
        src.policies.insert("p.cedar".into(), policies.into());
        src.entities = Some(
            r#"[{"uid":{"type":"Tool","id":"fs/write_file"},"attrs":{"read_only":false},"parents":[]},
                {"uid":{"type":"Tool","id":"fs/read_file"},"attrs":{"read_only":true},"parents":[]},
                {"uid":{"type":"Tool","id":"fs/delete"},"attrs":{},"parents":[]}]"#
                .into(),
        );
        compile(&src).unwrap()
    }

    #[test]
    fn argument_conditions_keep_a_tool_visible_and_unconditional_forbids_hide_it() {
        let b = bundle(
            r#"
            @id("reads") permit (principal is Agent, action == Action::"call_tool", resource)
              when { resource has read_only && resource.read_only };
            @id("writes") permit (principal is Agent, action == Action::"call_tool", resource == Tool::"fs/write_file")
              when { context.args has path && context.args.path like "/workspace/*" };
            @id("all") permit (principal, action == Action::"call_tool", resource == Tool::"fs/delete");
            @id("never-delete") forbid (principal, action == Action::"call_tool", resource == Tool::"fs/delete");
            "#,
        );
        let v = Visibility::new(&b).unwrap();
        let agent: PrincipalId = "agent:a".parse().unwrap();
        let env = EnvironmentClaims::new("dev".parse().unwrap(), "gate:g".parse().unwrap());
        assert!(v.could_allow(
            &b,
            b.cedar_entities(),
            &agent,
            "mcp.call_tool",
            "tool:fs/write_file",
            &env,
            0
        ));
        assert!(v.could_allow(
            &b,
            b.cedar_entities(),
            &agent,
            "mcp.call_tool",
            "tool:fs/read_file",
            &env,
            0
        ));
        assert!(!v.could_allow(
            &b,
            b.cedar_entities(),
            &agent,
            "mcp.call_tool",
            "tool:fs/delete",
            &env,
            0
        ));
        // The read-only permit reads only the entity, so it is evaluated: a tool without
        // read_only that no other permit names stays hidden.
        assert!(!v.could_allow(
            &b,
            b.cedar_entities(),
            &agent,
            "mcp.call_tool",
            "tool:other/thing",
            &env,
            0
        ));
        assert!(!v.could_allow(
            &b,
            b.cedar_entities(),
            &agent,
            "exec",
            "cmd:/bin/ls",
            &env,
            0
        ));
        let human: PrincipalId = "human:h".parse().unwrap();
        assert!(!v.could_allow(
            &b,
            b.cedar_entities(),
            &human,
            "mcp.call_tool",
            "tool:fs/write_file",
            &env,
            0
        ));
        assert!(!v.could_allow(
            &b,
            b.cedar_entities(),
            &agent,
            "no.such.action",
            "tool:fs/read_file",
            &env,
            0
        ));
    }
}
