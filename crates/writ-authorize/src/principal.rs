//! The requesting principal's entity: what the control store registered about it (its zone and
//! attributes, carried by the request as [`PrincipalEntity`]) merged into the bundle's static
//! entity of the same id, so policies read `principal.zone`, `principal.owner`, … and
//! `principal in Zone::"…"`.
//!
//! Only what the bundle's schema declares reaches Cedar, typed by the schema:
//!
//! - `zone`: the registered zone, as the attribute `zone` when the principal's entity type
//!   declares it (the default schema declares `zone?: String`), and as a parent `Zone::"…"`
//!   when the type may be in a `Zone`;
//! - each registered attribute the type declares (a registered value replaces the static
//!   entity's), parsed against its declared type. Undeclared ones are left out: under strict
//!   validation no policy can read them. One that does not fit its declared type makes the
//!   decision deny (fail closed) with a reason that names it.
//!
//! The request carries the registration and the bundle the schema, so a decision stays a pure
//! function of (bundle, request, time) and replay rebuilds the same entity.
//!
//! Completing an entity copies the bundle's entity store and recomputes its transitive closure,
//! which grows with the number of static entities. Every server decision carries a
//! registration, so the completed stores are kept per registration ([`RegisteredEntities`]):
//! a principal's decisions pay for it once per bundle and registration, not once each.

use std::collections::{BTreeSet, HashMap};
use std::ops::Deref;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use cedar_policy::{Entities, Entity, EntityId, EntityTypeName, EntityUid, SchemaFragment};
use serde_json::{Value, json};
use writ_model::{PrincipalEntity, PrincipalId, PrincipalKind};

use crate::bundle::Bundle;

/// What a principal entity type of the schema declares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PrincipalShape {
    /// Declared attribute names.
    attrs: BTreeSet<String>,
    /// Whether the type may be in a `Zone` (a direct parent type).
    in_zone: bool,
}

/// Principal entity types of the schema (`Agent`, `Human`, `Service`, in the empty namespace),
/// by name.
pub(crate) type PrincipalShapes = HashMap<String, PrincipalShape>;

const PRINCIPAL_TYPES: [&str; 3] = ["Agent", "Human", "Service"];

/// Reads the principal types' declared attributes and parent types from the schema fragments.
/// A type whose shape is not a record written in place (a common type, say) declares nothing
/// this module can see: its principals get no registered attributes.
pub(crate) fn shapes(fragments: &[SchemaFragment]) -> PrincipalShapes {
    let mut out = PrincipalShapes::new();
    for fragment in fragments {
        let Ok(json) = fragment.clone().to_json_value() else {
            continue;
        };
        let Some(types) = json.get("").and_then(|ns| ns.get("entityTypes")) else {
            continue;
        };
        for name in PRINCIPAL_TYPES {
            let Some(ty) = types.get(name) else {
                continue;
            };
            let shape = out.entry(name.to_owned()).or_default();
            if let Some(attrs) = ty
                .get("shape")
                .and_then(|s| s.get("attributes"))
                .and_then(Value::as_object)
            {
                shape.attrs.extend(attrs.keys().cloned());
            }
            shape.in_zone |= ty
                .get("memberOfTypes")
                .and_then(Value::as_array)
                .is_some_and(|types| types.iter().any(|t| t == "Zone"));
        }
    }
    out
}

fn type_name(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::Agent => "Agent",
        PrincipalKind::Human => "Human",
        PrincipalKind::Service => "Service",
    }
}

/// The entities a request is decided against: the bundle's own, or those completed with the
/// requesting principal's registration (shared with the bundle's cache).
#[derive(Debug, Clone)]
pub enum PrincipalEntities<'b> {
    /// The bundle's static entities, unchanged.
    Static(&'b Entities),
    /// The bundle's entities with the principal's entity completed from its registration.
    Registered(Arc<Entities>),
}

impl Deref for PrincipalEntities<'_> {
    type Target = Entities;

    fn deref(&self) -> &Entities {
        match self {
            Self::Static(e) => e,
            Self::Registered(e) => e,
        }
    }
}

/// How many static entities the cached stores of one bundle may hold in all (an entry holds a
/// copy of every static entity): about 64 MiB of map entries.
const CACHED_ENTITIES_BUDGET: usize = 1 << 20;
/// The most registrations a bundle keeps completed stores for, however few its entities.
const CACHED_REGISTRATIONS_MAX: usize = 1024;

/// Completed entity stores (or the reason a registration does not fit the schema), by
/// registration: the principal and the canonical JSON of what was registered. A bundle holds
/// one; it is a memo of a pure function, so decisions do not depend on what it holds.
#[derive(Default)]
pub(crate) struct RegisteredEntities {
    by_registration: Mutex<HashMap<Vec<u8>, Completed>>,
}

/// A completed store, or why the registration does not fit the schema.
type Completed = Result<Arc<Entities>, String>;

impl std::fmt::Debug for RegisteredEntities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self
            .by_registration
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("RegisteredEntities")
            .field("held", &held)
            .finish()
    }
}

impl RegisteredEntities {
    /// The cached answer for `key`, or `complete()`'s, kept for next time. The lock is not
    /// held while completing; two callers may complete the same registration once each.
    fn get_or_complete(
        &self,
        key: Vec<u8>,
        static_entities: usize,
        complete: impl FnOnce() -> Result<Entities, String>,
    ) -> Completed {
        let cache = || {
            self.by_registration
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        if let Some(found) = cache().get(&key) {
            return found.clone();
        }
        let answer = complete().map(Arc::new);
        let capacity = (CACHED_ENTITIES_BUDGET / static_entities.saturating_add(1))
            .clamp(1, CACHED_REGISTRATIONS_MAX);
        let mut held = cache();
        if held.len() >= capacity {
            // Registrations change seldom: starting over is simpler than tracking use, and the
            // next decisions fill it again.
            held.clear();
        }
        held.insert(key, answer.clone());
        answer
    }
}

/// The entities to decide a request of `principal` against: the bundle's static entities, with
/// the principal's entity completed from `registered` (see the module doc). The bundle's own
/// when the registration adds nothing the schema declares.
pub fn principal_entities<'b>(
    bundle: &'b Bundle,
    principal: &PrincipalId,
    registered: Option<&PrincipalEntity>,
) -> Result<PrincipalEntities<'b>, String> {
    let unchanged = PrincipalEntities::Static(bundle.cedar_entities());
    let Some(registered) = registered else {
        return Ok(unchanged);
    };
    let ty = type_name(principal.kind());
    let Some(shape) = bundle.principal_shape(ty) else {
        return Ok(unchanged);
    };
    let declared: Vec<(&String, &Value)> = registered
        .attrs
        .iter()
        .filter(|(k, _)| k.as_str() != "zone" && shape.attrs.contains(k.as_str()))
        .collect();
    let zone_attr = shape.attrs.contains("zone");
    if declared.is_empty() && !zone_attr && !shape.in_zone {
        return Ok(unchanged);
    }
    let complete = || complete_entities(bundle, principal, ty, shape, registered, declared);
    // A registration that cannot be written canonically is completed each time, uncached.
    let Ok(mut key) = writ_model::canonical::to_canonical_vec(registered) else {
        return complete().map(|e| PrincipalEntities::Registered(Arc::new(e)));
    };
    key.push(b'\n');
    key.extend_from_slice(principal.to_string().as_bytes());
    bundle
        .registered_entities()
        .get_or_complete(key, bundle.cedar_entities().len(), complete)
        .map(PrincipalEntities::Registered)
}

/// The bundle's entities with `principal`'s entity completed from `registered` (`declared`:
/// the registered attributes the schema declares for its type `ty`).
fn complete_entities(
    bundle: &Bundle,
    principal: &PrincipalId,
    ty: &str,
    shape: &PrincipalShape,
    registered: &PrincipalEntity,
    declared: Vec<(&String, &Value)>,
) -> Result<Entities, String> {
    let type_name = EntityTypeName::from_str(ty).map_err(|e| e.to_string())?;
    let uid = EntityUid::from_type_name_and_id(type_name, EntityId::new(principal.name()));
    // Start from the bundle's own entity of this principal (its parents, attributes and tags).
    let mut entity = match bundle.cedar_entities().get(&uid) {
        Some(e) => e.to_json_value().map_err(|e| e.to_string())?,
        None => json!({"uid": {"type": ty, "id": principal.name()}, "attrs": {}, "parents": []}),
    };
    if let Some(attrs) = entity.get_mut("attrs").and_then(Value::as_object_mut) {
        for (k, v) in declared {
            attrs.insert(k.clone(), v.clone());
        }
        if shape.attrs.contains("zone") {
            attrs.insert("zone".into(), Value::String(registered.zone.to_string()));
        }
    }
    if shape.in_zone
        && let Some(parents) = entity.get_mut("parents").and_then(Value::as_array_mut)
    {
        let zone = json!({"type": "Zone", "id": registered.zone.as_str()});
        if !parents.contains(&zone) {
            parents.push(zone);
        }
    }
    let schema = bundle.cedar_schema();
    let entity = Entity::from_json_value(entity, Some(schema)).map_err(|e| {
        format!("{principal} as registered (zone and attributes) does not fit the policy schema: {e}; fix the principal's attributes or the schema")
    })?;
    bundle
        .cedar_entities()
        .clone()
        .upsert_entities([entity], None)
        .map_err(|e| format!("{principal}'s entity cannot join the bundle's entities: {e}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use writ_model::{AuthorizeRequest, Decision, DecisionCode};

    use crate::{BundleSource, DEFAULT_SCHEMA, ReplayOutcome, compile, decide, replay};

    fn bundle(policies: &str) -> crate::Bundle {
        let mut src = BundleSource::default();
        src.schemas
            .insert("writ.cedarschema".into(), DEFAULT_SCHEMA.into());
        src.policies.insert("p.cedar".into(), policies.into());
        src.entities = Some(
            r#"[{"uid":{"type":"Agent","id":"bot"},"attrs":{"owner":"human:alice"},"parents":[{"type":"Team","id":"triage"}]}]"#
                .into(),
        );
        compile(&src).unwrap()
    }

    fn request(principal: &str, registered: Option<serde_json::Value>) -> AuthorizeRequest {
        let mut v = json!({
            "principal": principal,
            "intent": {"action": "exec", "resource": "cmd:/usr/bin/git"},
            "env": {"zone": "dev", "gate": "gate:runner"}
        });
        if let Some(r) = registered {
            v["principal_entity"] = r;
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_default_schema_declares_zone_and_owner_and_zone_parents() {
        let b = bundle("");
        let agent = b.principal_shape("Agent").unwrap();
        assert!(agent.attrs.contains("zone") && agent.attrs.contains("owner"));
        assert!(agent.in_zone);
        for ty in ["Human", "Service"] {
            let shape = b.principal_shape(ty).unwrap();
            assert!(shape.attrs.contains("zone") && shape.in_zone, "{ty}");
        }
    }

    // Finding 6 of issue 12: registered attributes and zone never reached Cedar.
    #[test]
    fn a_registration_completes_the_static_entity_and_replays() {
        let b = bundle(
            r#"@id("p") permit (principal in Team::"triage", action == Action::"exec", resource)
               when { principal has zone && principal.zone == "prod" && principal in Zone::"prod"
                      && principal has owner && principal.owner == "human:bob" };"#,
        );
        // Without a registration, the static entity alone: no zone.
        assert_eq!(
            decide(&b, &request("agent:bot", None), 0).decision,
            Decision::Deny
        );
        let registered =
            json!({"zone": "prod", "attrs": {"owner": "human:bob", "undeclared": {"x": 1}}});
        let record = decide(&b, &request("agent:bot", Some(registered)), 0);
        // The Team parent of entities.json is kept; the registered owner replaces alice.
        assert_eq!(record.decision, Decision::Allow, "{record:?}");
        assert_eq!(replay(&b, &record), ReplayOutcome::Match);
        let elsewhere = json!({"zone": "dev", "attrs": {"owner": "human:bob"}});
        assert_eq!(
            decide(&b, &request("agent:bot", Some(elsewhere)), 0).decision,
            Decision::Deny
        );
    }

    // The completed store was rebuilt (a copy of every static entity and a transitive closure
    // over all of them) on every decision of every registered principal.
    #[test]
    fn a_registration_is_completed_once_per_bundle() {
        use std::sync::Arc;

        use super::{PrincipalEntities, principal_entities};

        let b = bundle("");
        let bot: writ_model::PrincipalId = "agent:bot".parse().unwrap();
        let registered = |zone: &str| -> writ_model::PrincipalEntity {
            serde_json::from_value(json!({"zone": zone, "attrs": {"owner": "human:bob"}})).unwrap()
        };
        let completed = |zone: &str| match principal_entities(&b, &bot, Some(&registered(zone))) {
            Ok(PrincipalEntities::Registered(e)) => e,
            other => panic!("{other:?}"),
        };
        let first = completed("prod");
        assert!(Arc::ptr_eq(&first, &completed("prod")));
        // Another registration is another store.
        let elsewhere = completed("dev");
        assert!(!Arc::ptr_eq(&first, &elsewhere));
        let uid = r#"Agent::"bot""#.parse().unwrap();
        let zone_of = |e: &cedar_policy::Entities| {
            e.get(&uid)
                .unwrap()
                .attr("zone")
                .unwrap()
                .unwrap()
                .to_string()
        };
        assert_eq!(zone_of(&first), r#""prod""#);
        assert_eq!(zone_of(&elsewhere), r#""dev""#);
        // Nothing registered: the bundle's own store.
        assert!(matches!(
            principal_entities(&b, &bot, None),
            Ok(PrincipalEntities::Static(_))
        ));
        // A registration that does not fit is refused every time, from the cache too.
        let bad: writ_model::PrincipalEntity =
            serde_json::from_value(json!({"zone": "dev", "attrs": {"owner": 7}})).unwrap();
        let first_refusal = principal_entities(&b, &bot, Some(&bad)).unwrap_err();
        assert_eq!(
            principal_entities(&b, &bot, Some(&bad)).unwrap_err(),
            first_refusal
        );
    }

    #[test]
    fn a_registered_attribute_of_the_wrong_type_denies() {
        let b = bundle(r#"@id("all") permit (principal, action, resource);"#);
        let bad = json!({"zone": "dev", "attrs": {"owner": 7}});
        let record = decide(&b, &request("agent:new", Some(bad)), 0);
        assert_eq!(record.decision, Decision::Deny);
        assert_eq!(record.reason_code, DecisionCode::InvalidRequest);
        assert!(
            record.reasons.iter().any(|r| r.contains("agent:new")),
            "{record:?}"
        );
    }
}
