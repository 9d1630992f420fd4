//! The authorize request: who asks, on whose behalf, to do what, where, in which lineage.

use serde::{Deserialize, Serialize};

use crate::canonical::{write_canonical_str as string, write_canonical_value};
use crate::env::EnvironmentClaims;
use crate::error::CanonicalError;
use crate::ids::{PrincipalId, ZoneId};
use crate::intent::Intent;
use crate::lineage::Lineage;

/// An on-behalf-of chain, RFC 8693 style: `{"sub":"human:alice"}`, nested for more hops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    pub sub: PrincipalId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

impl Actor {
    /// Every principal in the chain, nearest first.
    pub fn chain(&self) -> Vec<&PrincipalId> {
        let mut out = vec![&self.sub];
        let mut next = self.act.as_deref();
        while let Some(a) = next {
            out.push(&a.sub);
            next = a.act.as_deref();
        }
        out
    }
}

/// Everything a decision depends on besides the bundle and the time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeRequest {
    /// The authenticated principal that will act.
    pub principal: PrincipalId,
    /// On whose behalf, if anyone's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    pub intent: Intent,
    pub env: EnvironmentClaims,
    /// Absent only for requests written by hand (policy tests); the server always sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<Lineage>,
    /// The principal as the control store registered it when the request was decided: policies
    /// see its zone and attributes on the principal entity, and replay rebuilds the same entity
    /// from the record. Absent in requests written by hand (policy tests) and in records made
    /// before principals' registrations reached policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_entity: Option<PrincipalEntity>,
}

/// What the control store holds about a principal that policies may read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalEntity {
    /// The zone the principal is registered in (`principal.zone`, and `principal in Zone::"…"`
    /// where the schema lets the principal's type be in a `Zone`).
    pub zone: ZoneId,
    /// The attributes it was registered with (`writ principal add --attrs`); those the schema
    /// declares for the principal's entity type become entity attributes.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub attrs: serde_json::Map<String, serde_json::Value>,
}

impl AuthorizeRequest {
    /// The request's RFC 8785 canonical JSON (the bytes `to_canonical_vec` gives), laid out
    /// member by member: only the arguments go through the generic writer. The decision path
    /// hashes it for every request; a property test holds the two encodings equal.
    pub fn to_canonical(&self) -> Result<Vec<u8>, CanonicalError> {
        let mut out = Vec::with_capacity(512);
        // Member names in RFC 8785 order (all ASCII, so byte order).
        out.push(b'{');
        if let Some(act) = &self.act {
            out.extend_from_slice(b"\"act\":");
            write_actor(act, &mut out);
            out.push(b',');
        }
        out.extend_from_slice(b"\"env\":{");
        let e = &self.env;
        if let Some(v) = &e.binary_sha256 {
            member("binary_sha256", v, &mut out);
        }
        if let Some(c) = e.containment {
            member("containment", c.as_str(), &mut out);
        }
        member("gate", e.gate.as_str(), &mut out);
        for (name, v) in [
            ("host", &e.host),
            ("image_sha256", &e.image_sha256),
            ("k8s_namespace", &e.k8s_namespace),
            ("k8s_pod", &e.k8s_pod),
        ] {
            if let Some(v) = v {
                member(name, v, &mut out);
            }
        }
        string("zone", &mut out);
        out.push(b':');
        string(e.zone.as_str(), &mut out);
        out.extend_from_slice(b"},\"intent\":{");
        member("action", &self.intent.action, &mut out);
        out.extend_from_slice(b"\"args\":");
        write_canonical_value(&self.intent.args, &mut out)?;
        out.extend_from_slice(b",\"resource\":");
        string(&self.intent.resource, &mut out);
        out.push(b'}');
        if let Some(l) = &self.lineage {
            out.extend_from_slice(b",\"lineage\":{");
            member("execution", &l.execution.to_string(), &mut out);
            if let Some(p) = &l.parent {
                member("parent", &p.to_string(), &mut out);
            }
            member("root", &l.root.to_string(), &mut out);
            string("traceparent", &mut out);
            out.push(b':');
            string(&l.traceparent, &mut out);
            out.push(b'}');
        }
        out.extend_from_slice(b",\"principal\":");
        string(&self.principal.to_string(), &mut out);
        if let Some(entity) = &self.principal_entity {
            out.extend_from_slice(b",\"principal_entity\":");
            out.extend_from_slice(&crate::canonical::to_canonical_vec(entity)?);
        }
        out.push(b'}');
        Ok(out)
    }
}

/// `"name":"value",`
fn member(name: &str, value: &str, out: &mut Vec<u8>) {
    string(name, out);
    out.push(b':');
    string(value, out);
    out.push(b',');
}

/// `{"act":…,"sub":…}`, nearest principal outermost.
fn write_actor(a: &Actor, out: &mut Vec<u8>) {
    out.push(b'{');
    if let Some(next) = &a.act {
        out.extend_from_slice(b"\"act\":");
        write_actor(next, out);
        out.push(b',');
    }
    out.extend_from_slice(b"\"sub\":");
    string(&a.sub.to_string(), out);
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_minimal_request_and_walks_the_act_chain() {
        let r: AuthorizeRequest = serde_json::from_str(
            r#"{"principal":"agent:bot","act":{"sub":"agent:parent","act":{"sub":"human:alice"}},
                "intent":{"action":"exec","resource":"cmd:/usr/bin/git"},
                "env":{"zone":"dev","gate":"gate:runner"}}"#,
        )
        .unwrap();
        let chain: Vec<String> = r
            .act
            .as_ref()
            .unwrap()
            .chain()
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(chain, ["agent:parent", "human:alice"]);
        assert_eq!(r.intent.args, serde_json::json!({}));
        assert!(serde_json::from_str::<AuthorizeRequest>(r#"{"principal":"robot:x"}"#).is_err());
    }
}
