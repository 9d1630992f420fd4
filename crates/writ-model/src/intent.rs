//! What an agent asks to do, and the digest a writ binds it by.

use serde::{Deserialize, Serialize};

use crate::digest::canonical_sha256_hex;
use crate::error::CanonicalError;
use crate::number::check_value_numbers;

/// What is asked: an action on a resource with JSON arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intent {
    /// e.g. `mcp.call_tool`, `exec`, `http.request`, `delegate`.
    pub action: String,
    /// e.g. `tool:github/create_issue`, `cmd:/usr/bin/git`.
    pub resource: String,
    /// The exact arguments; `{}` when there are none.
    #[serde(default = "empty_args")]
    pub args: serde_json::Value,
}

fn empty_args() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// The intent as a writ carries it: the arguments only by digest (DESIGN.md, "The writ").
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentDigest {
    pub action: String,
    pub resource: String,
    /// Lowercase hex SHA-256 of the RFC 8785 canonical JSON of the arguments.
    pub args_sha256: String,
}

impl Intent {
    pub fn new(
        action: impl Into<String>,
        resource: impl Into<String>,
        args: serde_json::Value,
    ) -> Self {
        Self {
            action: action.into(),
            resource: resource.into(),
            args,
        }
    }

    /// The digest form a gate recomputes from the call it is about to make.
    ///
    /// Refuses arguments holding a number beyond ±(2^53 − 1) (`number_out_of_range`): such a
    /// number shares its canonical form, so its digest, with its neighbours (see
    /// [`crate::number`]).
    pub fn digest(&self) -> Result<IntentDigest, CanonicalError> {
        check_value_numbers(&self.args)?;
        Ok(IntentDigest {
            action: self.action.clone(),
            resource: self.resource.clone(),
            args_sha256: canonical_sha256_hex(&self.args)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn digest_ignores_key_order_but_not_values() {
        let a = Intent::new("exec", "cmd:/usr/bin/git", json!({"b": 1, "a": "x"}));
        let b = Intent::new("exec", "cmd:/usr/bin/git", json!({"a": "x", "b": 1}));
        let c = Intent::new("exec", "cmd:/usr/bin/git", json!({"a": "x", "b": 2}));
        assert_eq!(a.digest().unwrap(), b.digest().unwrap());
        assert_ne!(a.digest().unwrap(), c.digest().unwrap());
    }
}
