//! The decision and its record: the ledger entry that lets `writ replay` recompute it.

use serde::{Deserialize, Serialize};

use crate::reason::ReasonCode;
use crate::request::AuthorizeRequest;

/// Allow or deny. There is nothing in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Deny,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        }
    }
}

/// Why a decision came out as it did; a stable code for metrics and audit queries. These
/// are the codes of [`ReasonCode`] a decision record may carry, and they take their spelling
/// (and JSON form) from it: [`DecisionCode::reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecisionCode {
    /// At least one permit was satisfied and no forbid.
    PolicyPermit,
    /// At least one forbid was satisfied.
    PolicyForbid,
    /// No permit was satisfied: the default deny.
    NoPermit,
    /// A policy could not be evaluated; fail closed.
    PolicyError,
    /// The intent's action has no Cedar mapping.
    UnknownAction,
    /// The intent's resource has no Cedar mapping.
    UnknownResource,
    /// The request could not be turned into a Cedar request.
    InvalidRequest,
    /// The arguments hold a number beyond ±(2^53 − 1), whose value JSON readers disagree on.
    NumberOutOfRange,
}

impl DecisionCode {
    /// Every decision code.
    pub const ALL: [DecisionCode; 8] = [
        DecisionCode::PolicyPermit,
        DecisionCode::PolicyForbid,
        DecisionCode::NoPermit,
        DecisionCode::PolicyError,
        DecisionCode::UnknownAction,
        DecisionCode::UnknownResource,
        DecisionCode::InvalidRequest,
        DecisionCode::NumberOutOfRange,
    ];

    /// The reason code this decision code is.
    pub const fn reason(self) -> ReasonCode {
        match self {
            DecisionCode::PolicyPermit => ReasonCode::PolicyPermit,
            DecisionCode::PolicyForbid => ReasonCode::PolicyForbid,
            DecisionCode::NoPermit => ReasonCode::NoPermit,
            DecisionCode::PolicyError => ReasonCode::PolicyError,
            DecisionCode::UnknownAction => ReasonCode::UnknownAction,
            DecisionCode::UnknownResource => ReasonCode::UnknownResource,
            DecisionCode::InvalidRequest => ReasonCode::InvalidRequest,
            DecisionCode::NumberOutOfRange => ReasonCode::NumberOutOfRange,
        }
    }

    /// The wire spelling, [`ReasonCode::as_str`] of [`DecisionCode::reason`].
    pub const fn as_str(self) -> &'static str {
        self.reason().as_str()
    }

    /// The decision code that is `code`, if `code` is one.
    pub fn of_reason(code: ReasonCode) -> Option<DecisionCode> {
        DecisionCode::ALL.into_iter().find(|d| d.reason() == code)
    }
}

impl From<DecisionCode> for ReasonCode {
    fn from(c: DecisionCode) -> Self {
        c.reason()
    }
}

impl Serialize for DecisionCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.reason().serialize(s)
    }
}

impl<'de> Deserialize<'de> for DecisionCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = ReasonCode::deserialize(d)?;
        DecisionCode::of_reason(code).ok_or_else(|| {
            serde::de::Error::custom(format!("{code} is not a decision's reason code"))
        })
    }
}

/// The ledger entry type tag of a decision record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DecisionRecordType {
    #[serde(rename = "decision")]
    Decision,
}

/// A decision as the ledger stores it (RFC 8785 canonical JSON, `"type":"decision"`, `"v":1`).
///
/// Every set is sorted, so the same inputs always give the same bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRecord {
    #[serde(rename = "type")]
    pub kind: DecisionRecordType,
    pub v: u32,
    pub request: AuthorizeRequest,
    /// Lowercase hex SHA-256 of the canonical JSON of `request`.
    pub request_sha256: String,
    /// Canonical digest of the policy bundle that decided.
    pub bundle_sha256: String,
    /// Engine version string (the Writ mapping and the Cedar versions).
    pub engine: String,
    /// The injected time (Unix seconds) the decision was made at.
    pub now: i64,
    pub decision: Decision,
    /// Ids of the policies that determined the decision, sorted.
    pub determining: Vec<String>,
    /// Readable reasons (`@reason` annotations and fixed texts), sorted.
    pub reasons: Vec<String>,
    /// Evaluation errors, `policy id: message`, sorted.
    pub errors: Vec<String>,
    pub reason_code: DecisionCode,
    /// The Cedar action the request was decided under when it is a tool's own action
    /// (`call_tool:SERVER/NAME`, declared by the bundle's schema); absent when it is the one
    /// the intent action names (`call_tool` for `mcp.call_tool`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cedar_action: Option<String>,
}

/// A list of strings as RFC 8785 canonical JSON (the record's lists are kept sorted).
fn list(items: &[String], out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        crate::canonical::write_canonical_str(item, out);
    }
    out.push(b']');
}

impl DecisionRecord {
    /// The canonical JSON of the v2 private part (`split().1`: `errors`, `reasons`, `request`,
    /// `request_sha256`), written around `request_canonical` as
    /// [`Self::to_canonical_with_request`] is. A test holds it equal to the generic encoding.
    pub fn private_canonical_with_request(&self, request_canonical: &[u8]) -> Vec<u8> {
        use crate::canonical::write_canonical_str as string;
        let mut out = Vec::with_capacity(request_canonical.len() + 256);
        out.extend_from_slice(b"{\"errors\":");
        list(&self.errors, &mut out);
        out.extend_from_slice(b",\"reasons\":");
        list(&self.reasons, &mut out);
        out.extend_from_slice(b",\"request\":");
        out.extend_from_slice(request_canonical);
        out.extend_from_slice(b",\"request_sha256\":");
        string(&self.request_sha256, &mut out);
        out.push(b'}');
        out
    }

    /// The record's RFC 8785 canonical JSON (the bytes `to_canonical_vec` gives), written
    /// around `request_canonical`, which must be the canonical JSON of `self.request`: the
    /// decision path has it already (its hash is `request_sha256`), so the request is not
    /// encoded a second time. A test holds the two encodings equal.
    pub fn to_canonical_with_request(&self, request_canonical: &[u8]) -> Vec<u8> {
        use crate::canonical::write_canonical_str as string;
        let mut out = Vec::with_capacity(request_canonical.len() + 512);
        // Member names in RFC 8785 order (all ASCII, so byte order).
        out.extend_from_slice(b"{\"bundle_sha256\":");
        string(&self.bundle_sha256, &mut out);
        if let Some(action) = &self.cedar_action {
            out.extend_from_slice(b",\"cedar_action\":");
            string(action, &mut out);
        }
        out.extend_from_slice(b",\"decision\":");
        string(self.decision.as_str(), &mut out);
        out.extend_from_slice(b",\"determining\":");
        list(&self.determining, &mut out);
        out.extend_from_slice(b",\"engine\":");
        string(&self.engine, &mut out);
        out.extend_from_slice(b",\"errors\":");
        list(&self.errors, &mut out);
        out.extend_from_slice(b",\"now\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.now).as_bytes());
        out.extend_from_slice(b",\"reason_code\":");
        string(self.reason_code.as_str(), &mut out);
        out.extend_from_slice(b",\"reasons\":");
        list(&self.reasons, &mut out);
        out.extend_from_slice(b",\"request\":");
        out.extend_from_slice(request_canonical);
        out.extend_from_slice(b",\"request_sha256\":");
        string(&self.request_sha256, &mut out);
        out.extend_from_slice(b",\"type\":");
        string(
            match self.kind {
                DecisionRecordType::Decision => "decision",
            },
            &mut out,
        );
        out.extend_from_slice(b",\"v\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.v).as_bytes());
        out.push(b'}');
        out
    }
}

/// The version of [`DecisionRecord`] this crate writes.
pub const DECISION_RECORD_VERSION: u32 = 1;

/// The largest ledger entry (DESIGN.md: an entry is at most 65,535 bytes).
pub const MAX_LEDGER_ENTRY_BYTES: usize = 65_535;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_reason_code_and_refuse_other_codes() {
        for c in DecisionCode::ALL {
            let json = serde_json::to_value(c).unwrap();
            assert_eq!(json, serde_json::to_value(c.reason()).unwrap());
            assert_eq!(serde_json::from_value::<DecisionCode>(json).unwrap(), c);
            assert_eq!(DecisionCode::of_reason(c.reason()), Some(c));
        }
        // A reason code that is not a decision's is refused in a decision record.
        let other = serde_json::to_value(ReasonCode::WritExpired).unwrap();
        assert!(serde_json::from_value::<DecisionCode>(other).is_err());
        assert_eq!(serde_json::to_value(Decision::Deny).unwrap(), "deny");
    }
}
