//! The authorize request: who asks, on whose behalf, to do what, where, in which lineage.

use serde::{Deserialize, Serialize};

use crate::env::EnvironmentClaims;
use crate::ids::PrincipalId;
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
