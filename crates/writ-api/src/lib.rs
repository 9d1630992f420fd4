//! The bodies of the control plane's HTTP API that both sides of a call hold: the server
//! (`writ-server`) writes or reads them, the gates' client (`writ_gate::ControlPlane`) reads or
//! writes them. Each is written once, here, so the two cannot drift apart; the OpenAPI
//! document (`GET /v1/openapi.json`) describes the same JSON, and its schema test holds the
//! request bodies' fields to these types.
//!
//! Request bodies borrow what they can ([`Cow`]): the client serializes its parts in place,
//! the server deserializes owned values (`'static`). Request bodies refuse unknown fields;
//! answers accept them, so a client keeps working against a newer server.
//!
//! | route | request | answer |
//! |---|---|---|
//! | `POST /v1/authorize` | [`AuthorizeBody`] | 200 [`Allowed`], 403 [`Denied`] |
//! | `POST /v1/authorize/visible` | [`VisibleBody`] | 200 [`Visible`] |
//! | `POST /v1/leases/{jti}/renew` | [`RenewBody`] | 200 [`Renewed`], 403 [`Denied`] |
//! | `POST /v1/receipts` | `writ_model::Receipt` | 201 [`Recorded`] |
//! | `GET /v1/events` (`?kinds=a,b`: only those, see [`GATE_FEED_KINDS`]) | | `snapshot` [`RevocationSnapshot`], `lease.ended` [`LeaseEndedEvent`], `revocation`, `quarantine`, `kill_switch` [`GovernanceEvent`] |
//! | any, on failure | | 4xx/5xx [`ErrorBody`] |

use std::borrow::Cow;

use serde::{Deserialize, Deserializer, Serialize};
use writ_artifact::Scope;
use writ_model::env::EnvironmentAttestation;
use writ_model::request::Actor;
use writ_model::{Decision, ExecutionId, Intent, ReasonCode};

/// Body of `POST /v1/authorize`: a writ for `intent`, to run where `attestation` says.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeBody<'a> {
    pub intent: Cow<'a, Intent>,
    /// The gate's signed statement of where the action will run.
    pub attestation: Cow<'a, EnvironmentAttestation>,
    /// On whose behalf the caller acts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    /// The execution that caused this one (lineage parent), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ExecutionId>,
    /// Requested lifetime in seconds (capped by the server's upper bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_secs: Option<i64>,
    /// Mint a child writ from this delegation writ (one the caller obtained for the intent
    /// `{"action":"delegate","resource":"agent:SUB","args":GRANT}`): the child acts as SUB on
    /// behalf of the caller, within GRANT, and ends no later than the parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_writ: Option<Cow<'a, str>>,
    /// The child writ's scope (only with `from_writ`); it must be a subset of the parent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Cow<'a, Scope>>,
}

/// 200 answer to `POST /v1/authorize`: the writ, and where its decision is recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Allowed<'a> {
    /// Always [`Decision::Allow`].
    pub decision: Decision,
    /// The signed writ (compact JWS).
    pub writ: Cow<'a, str>,
    pub execution: ExecutionId,
    /// Ledger index of the decision record.
    pub ledger_index: u64,
    /// When the writ expires (Unix seconds).
    pub expires_at: i64,
}

/// 403 answer to `POST /v1/authorize` and to a lease renewal: a decision to deny, recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Denied {
    /// Always [`Decision::Deny`].
    pub decision: Decision,
    /// Why. Read leniently: a code this build does not know is [`ReasonCode::Unrecognized`].
    #[serde(deserialize_with = "lenient_code")]
    pub reason_code: ReasonCode,
    /// The principal the control plane decided for (authorize only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Readable reasons (policies' `@reason` annotations and fixed texts).
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Evaluation errors, `policy id: message` (when a policy could not be evaluated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<String>>,
    #[serde(default)]
    pub execution: Option<ExecutionId>,
    /// Ledger index of the record of the denial.
    #[serde(default)]
    pub ledger_index: Option<u64>,
}

fn lenient_code<'de, D: Deserializer<'de>>(d: D) -> Result<ReasonCode, D::Error> {
    let s = <Cow<'de, str>>::deserialize(d)?;
    Ok(ReasonCode::parse_lossy(&s))
}

/// Body of `POST /v1/authorize/visible`: which of `resources` the caller could be allowed
/// `action` on at all (for tool and resource lists).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisibleBody<'a> {
    pub action: Cow<'a, str>,
    pub resources: Cow<'a, [String]>,
    pub attestation: Cow<'a, EnvironmentAttestation>,
}

/// 200 answer to `POST /v1/authorize/visible`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visible {
    pub visible: Vec<String>,
}

/// Body of `POST /v1/leases/{jti}/renew`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewBody<'a> {
    /// A fresh attestation from the gate running the execution.
    pub attestation: Cow<'a, EnvironmentAttestation>,
}

/// 200 answer to `POST /v1/leases/{jti}/renew`: the lease goes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Renewed {
    /// Always [`Decision::Allow`].
    pub decision: Decision,
    pub execution: ExecutionId,
    /// Until when the execution may run without another renewal (Unix seconds).
    pub lease_until: i64,
    /// Ledger index of the renewal's decision record.
    pub ledger_index: u64,
}

/// 201 answer to `POST /v1/receipts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub recorded: bool,
    pub ledger_index: u64,
}

/// The body of every error answer (4xx, 5xx) but a decision to deny ([`Denied`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody<'a> {
    /// A [`ReasonCode`] spelling. Kept as text so a client can show one it does not know.
    pub code: Cow<'a, str>,
    /// What went wrong and, where it helps, what to do.
    pub message: Cow<'a, str>,
}

impl<'a> ErrorBody<'a> {
    pub fn new(code: ReasonCode, message: &'a str) -> Self {
        ErrorBody {
            code: Cow::Borrowed(code.as_str()),
            message: Cow::Borrowed(message),
        }
    }
}

/// The feed's event kinds a gate acts on (`GET /v1/events?kinds=…`): a gate asks for these
/// only, so the decisions and receipts of every call are not written to every gate. The
/// `snapshot`, `heartbeat` and `lagged` events are always sent.
pub const GATE_FEED_KINDS: [&str; 4] = ["revocation", "quarantine", "kill_switch", "lease.ended"];

/// The `snapshot` event: what is withdrawn when the feed (re)connects; a gate applies all of
/// it. A member missing from the JSON reads as nothing withdrawn, except `kill_switch`, which
/// reads as on (fail closed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationSnapshot {
    /// Revoked writ ids.
    #[serde(default)]
    pub jtis: Vec<String>,
    /// Principals revoked or quarantined, and those registered in a withdrawn zone.
    #[serde(default)]
    pub principals: Vec<String>,
    /// Zones revoked or quarantined.
    #[serde(default)]
    pub zones: Vec<String>,
    #[serde(default = "on")]
    pub kill_switch: bool,
}

fn on() -> bool {
    true
}

/// The `revocation`, `quarantine` and `kill_switch` events (and the answers of the admin
/// routes that cause them): something was withdrawn (`on`) or given back. `target` and `id`
/// name it (`jti`, `principal`, `zone`); the kill switch has neither.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GovernanceEvent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Absent (a revocation, which is never undone): on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<bool>,
    /// When (Unix seconds; read as 0 when absent: a withdrawal applies all the same).
    #[serde(default)]
    pub at: i64,
    /// For a zone: the principals registered in it that the event withdraws (on) or gives
    /// back (off), as gates cannot know registrations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principals: Option<Vec<String>>,
}

impl GovernanceEvent {
    /// Withdrawn (true) or given back (false).
    pub fn is_on(&self) -> bool {
        self.on.unwrap_or(true)
    }
}

/// The `lease.ended` event: an execution's lease ended (denied renewal, or it ran out); gates
/// refuse its writ from then on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseEndedEvent {
    pub execution: ExecutionId,
    pub jti: String,
    #[serde(deserialize_with = "lenient_code")]
    pub reason_code: ReasonCode,
    /// Ledger index of the lease end, when the event says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_index: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_denial_reads_an_unknown_code_as_unrecognized_and_a_known_one_as_itself() {
        let d: Denied = serde_json::from_value(json!({
            "decision": "deny", "reason_code": ReasonCode::NoPermit, "reasons": ["r"],
            "execution": null, "ledger_index": 4, "something_newer": 1
        }))
        .unwrap();
        assert_eq!(d.reason_code, ReasonCode::NoPermit);
        assert_eq!(d.ledger_index, Some(4));
        let d: Denied = serde_json::from_value(json!({
            "decision": "deny", "reason_code": "from_a_newer_server"
        }))
        .unwrap();
        assert_eq!(d.reason_code, ReasonCode::Unrecognized);
        // Written back, a denial without principal or errors has neither member.
        let v = serde_json::to_value(&d).unwrap();
        assert!(
            v.get("principal").is_none() && v.get("errors").is_none(),
            "{v}"
        );
    }

    #[test]
    fn request_bodies_round_trip_refuse_unknown_fields_and_skip_absent_options() {
        let attestation = json!({"claims": {"zone": "dev", "gate": "gate:g1"},
            "iat": 1, "kid": "k", "sig": "s"});
        let good = json!({"intent": {"action": "exec", "resource": "cmd:/bin/true", "args": {}},
            "attestation": attestation});
        let body: AuthorizeBody<'static> = serde_json::from_value(good.clone()).unwrap();
        assert_eq!(body.intent.action, "exec");
        // Nothing absent is written back: the JSON is the JSON that was read.
        assert_eq!(serde_json::to_value(&body).unwrap(), good);
        let mut bad = good;
        bad["surprise"] = json!(true);
        assert!(serde_json::from_value::<AuthorizeBody<'static>>(bad).is_err());
        let renew = json!({"attestation": attestation});
        assert!(serde_json::from_value::<RenewBody<'static>>(renew.clone()).is_ok());
        let mut bad = renew;
        bad["x"] = json!(1);
        assert!(serde_json::from_value::<RenewBody<'static>>(bad).is_err());
    }

    #[test]
    fn a_snapshot_without_the_kill_switch_reads_it_as_on() {
        let s: RevocationSnapshot = serde_json::from_value(json!({"jtis": ["j"]})).unwrap();
        assert!(s.kill_switch);
        assert_eq!(s.jtis, ["j"]);
    }
}
