//! Identifiers: principals, gates, zones and executions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::IdError;

/// Names are short, printable and free of characters that need escaping in Cedar or URLs.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@' | b'/'))
}

/// What kind of identity a principal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    Agent,
    Human,
    Service,
}

impl PrincipalKind {
    /// The prefix used in the textual id (`agent`, `human`, `service`).
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Agent => "agent",
            PrincipalKind::Human => "human",
            PrincipalKind::Service => "service",
        }
    }
}

/// An authenticated identity: `agent:NAME`, `human:NAME` or `service:NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PrincipalId {
    kind: PrincipalKind,
    name: String,
}

impl PrincipalId {
    /// Builds a principal id from its parts, checking the name.
    pub fn new(kind: PrincipalKind, name: &str) -> Result<Self, IdError> {
        if !valid_name(name) {
            return Err(IdError::Invalid {
                kind: "principal",
                value: format!("{}:{name}", kind.as_str()),
                expected: "agent:NAME, human:NAME or service:NAME with NAME of letters, digits and -_.@/",
            });
        }
        Ok(Self {
            kind,
            name: name.to_owned(),
        })
    }
    pub fn kind(&self) -> PrincipalKind {
        self.kind
    }
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl FromStr for PrincipalId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let invalid = || IdError::Invalid {
            kind: "principal",
            value: s.to_owned(),
            expected: "agent:NAME, human:NAME or service:NAME with NAME of letters, digits and -_.@/",
        };
        let (prefix, name) = s.split_once(':').ok_or_else(invalid)?;
        let kind = match prefix {
            "agent" => PrincipalKind::Agent,
            "human" => PrincipalKind::Human,
            "service" => PrincipalKind::Service,
            _ => return Err(invalid()),
        };
        Self::new(kind, name).map_err(|_| invalid())
    }
}

impl TryFrom<String> for PrincipalId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl From<PrincipalId> for String {
    fn from(p: PrincipalId) -> String {
        p.to_string()
    }
}

impl fmt::Display for PrincipalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.name)
    }
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Builds the id from its bare name (without the prefix).
            pub fn from_name(name: &str) -> Result<Self, IdError> {
                format!(concat!($prefix, ":{}"), name).parse()
            }
            /// The bare name, without the prefix.
            pub fn name(&self) -> &str {
                self.0.get($prefix.len() + 1..).unwrap_or_default()
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                match s.split_once(':') {
                    Some(($prefix, name)) if valid_name(name) => Ok(Self(s.to_owned())),
                    _ => Err(IdError::Invalid {
                        kind: $kind,
                        value: s.to_owned(),
                        expected: concat!($prefix, ":NAME with NAME of letters, digits and -_.@/"),
                    }),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(
    /// An enforcement point: `gate:NAME`.
    GateId,
    "gate",
    "gate"
);

/// A trust zone, e.g. `prod-eu` or `sandbox`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ZoneId(String);

impl ZoneId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ZoneId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if valid_name(s) && !s.contains('/') {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::Invalid {
                kind: "zone",
                value: s.to_owned(),
                expected: "a name of letters, digits and -_.@",
            })
        }
    }
}

impl TryFrom<String> for ZoneId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl From<ZoneId> for String {
    fn from(z: ZoneId) -> String {
        z.0
    }
}

impl fmt::Display for ZoneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One governed action: a UUIDv7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExecutionId(uuid::Uuid);

impl ExecutionId {
    /// A fresh UUIDv7 for the current time.
    pub fn new_v7() -> Self {
        Self(uuid::Uuid::now_v7())
    }
    pub fn as_uuid(&self) -> &uuid::Uuid {
        &self.0
    }
}

impl FromStr for ExecutionId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let invalid = || IdError::Invalid {
            kind: "execution",
            value: s.to_owned(),
            expected: "a UUIDv7 in hyphenated lowercase form",
        };
        let u = uuid::Uuid::parse_str(s).map_err(|_| invalid())?;
        if u.get_version_num() != 7 || u.hyphenated().to_string() != s {
            return Err(invalid());
        }
        Ok(Self(u))
    }
}

impl TryFrom<String> for ExecutionId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl From<ExecutionId> for String {
    fn from(e: ExecutionId) -> String {
        e.to_string()
    }
}

impl fmt::Display for ExecutionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_round_trip_and_refusals() {
        let p: PrincipalId = "agent:triage-bot".parse().unwrap();
        assert_eq!(p.kind(), PrincipalKind::Agent);
        assert_eq!(p.to_string(), "agent:triage-bot");
        for bad in ["agent:", "robot:x", "agent", "agent:a b", "agent:\"x\"", ""] {
            assert!(bad.parse::<PrincipalId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn gate_and_execution_ids() {
        let g: GateId = "gate:mcp-1".parse().unwrap();
        assert_eq!(g.name(), "mcp-1");
        assert!("mcp-1".parse::<GateId>().is_err());
        let e = ExecutionId::new_v7();
        assert_eq!(e.to_string().parse::<ExecutionId>().unwrap(), e);
        assert!(
            "00000000-0000-4000-8000-000000000000"
                .parse::<ExecutionId>()
                .is_err()
        );
    }
}
