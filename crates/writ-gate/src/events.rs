//! Following the control plane's event feed: revocations, quarantines and the kill switch reach
//! the gate's revocation set as they happen; every event (heartbeats too) proves the feed alive.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use writ_artifact::RevocationSet;
use writ_model::{Clock, PrincipalId, ZoneId};

use crate::client::ControlPlane;
use crate::error::GateError;
use crate::gate::FeedHealth;

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEvent {
    pub kind: String,
    pub data: Value,
}

/// Splits an SSE byte stream into events. Feed it chunks; it returns the complete events.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: String,
}

impl SseParser {
    pub fn push(&mut self, chunk: &[u8]) -> Vec<FeedEvent> {
        self.buf.push_str(&String::from_utf8_lossy(chunk));
        let mut out = Vec::new();
        while let Some(end) = self.buf.find("\n\n") {
            let block: String = self.buf.drain(..end + 2).collect();
            let mut kind = String::from("message");
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    kind = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            if data.is_empty() && kind == "message" {
                continue; // a comment or keep-alive
            }
            out.push(FeedEvent {
                kind,
                data: serde_json::from_str(&data).unwrap_or(Value::Null),
            });
        }
        if self.buf.len() > 1 << 20 {
            // A peer that never ends an event is not a feed; drop what it sent.
            self.buf.clear();
        }
        out
    }
}

/// Withdraws (`on`) or gives back a principal named in an event; a name that is no principal
/// id names nothing this gate could run.
fn withdraw_principal(revocations: &RevocationSet, id: &str, on: bool) {
    if let Ok(p) = id.parse::<PrincipalId>() {
        if on {
            revocations.revoke_principal(p)
        } else {
            revocations.restore_principal(&p)
        }
    }
}

/// Applies one event to a revocation set. A governance event that does not read as one
/// withdraws nothing (its absence would not either); a snapshot that does not read holds the
/// kill switch on.
pub fn apply(revocations: &RevocationSet, ev: &FeedEvent) {
    let governance = || writ_api::GovernanceEvent::deserialize(&ev.data).ok();
    match ev.kind.as_str() {
        "revocation" | "quarantine" => {
            let Some(g) = governance() else { return };
            let (on, id) = (g.is_on(), g.id.as_deref().unwrap_or_default());
            match (ev.kind.as_str(), g.target.as_deref()) {
                ("revocation", Some("jti")) => revocations.revoke_jti(id, i64::MAX),
                (_, Some("principal")) => withdraw_principal(revocations, id, on),
                (_, Some("zone")) => {
                    if let Ok(z) = id.parse::<ZoneId>() {
                        if on {
                            revocations.revoke_zone(z)
                        } else {
                            revocations.restore_zone(&z)
                        }
                    }
                    // The principals registered in the zone (withdrawn with it, or given back
                    // when it is released): only the control plane knows who is registered where.
                    for p in g.principals.iter().flatten() {
                        withdraw_principal(revocations, p, on)
                    }
                }
                _ => {}
            }
        }
        "kill_switch" => {
            if let Some(g) = governance() {
                revocations.set_kill_switch(g.is_on())
            }
        }
        // The state in force when the feed (re)connected: apply all of it.
        "snapshot" => {
            // A snapshot that does not read holds the kill switch on (fail closed) until the
            // next one does.
            let Ok(snap) = writ_api::RevocationSnapshot::deserialize(&ev.data) else {
                revocations.set_kill_switch(true);
                return;
            };
            for j in &snap.jtis {
                revocations.revoke_jti(j, i64::MAX);
            }
            for p in snap.principals {
                if let Ok(p) = p.parse::<PrincipalId>() {
                    revocations.revoke_principal(p);
                }
            }
            for z in snap.zones {
                if let Ok(z) = z.parse::<ZoneId>() {
                    revocations.revoke_zone(z);
                }
            }
            revocations.set_kill_switch(snap.kill_switch);
        }
        "lease.ended" => {
            if let Ok(ended) = writ_api::LeaseEndedEvent::deserialize(&ev.data) {
                revocations.revoke_jti(&ended.jti, i64::MAX);
            }
        }
        _ => {}
    }
}

/// Follows the feed forever: reconnects after a drop or after a whole grace period of silence,
/// applies every event, marks the feed alive.
/// `on_event` sees each event after it is applied (for logs and tests).
///
/// A lost feed is logged at error level once per cause (with the HTTP status and reason code
/// behind it, e.g. a 401 for a wrong gate token) and its return at info level.
pub async fn follow(
    cp: ControlPlane,
    token: String,
    revocations: Arc<RevocationSet>,
    health: Arc<FeedHealth>,
    clock: Arc<dyn Clock>,
    on_event: impl Fn(&FeedEvent) + Send + Sync + 'static,
) {
    // The cause logged last while the feed is lost (`None` while it is followed).
    let mut lost: Option<String> = Some(String::new());
    let idle = Duration::from_secs(u64::try_from(health.grace_secs()).unwrap_or(1).max(1));
    loop {
        let cause = match cp.events(&token).await {
            Ok(mut resp) => {
                health.seen(clock.now_unix());
                health.set_cause(None);
                if lost.take().is_some() {
                    tracing::info!(target: "writ::feed", control_plane = cp.base(), "event feed connected");
                }
                let mut parser = SseParser::default();
                let mut why = "the control plane closed the event stream".to_owned();
                'stream: loop {
                    // A connection that stays open but carries nothing (not even the
                    // heartbeats) for the whole grace period is dead, whatever TCP says: a
                    // silently dropped flow would otherwise hold the gate denying forever.
                    let Ok(next) = tokio::time::timeout(idle, resp.chunk()).await else {
                        why = format!(
                            "the event stream carried nothing for {} s (not even a heartbeat); reconnecting",
                            idle.as_secs()
                        );
                        break;
                    };
                    match next {
                        Ok(Some(chunk)) => {
                            for ev in parser.push(&chunk) {
                                if ev.kind == "lagged" {
                                    // Events were missed: reconnect for a fresh snapshot.
                                    why = "the gate fell behind the event stream; reconnecting for a fresh snapshot".to_owned();
                                    break 'stream;
                                }
                                apply(&revocations, &ev);
                                health.seen(clock.now_unix());
                                on_event(&ev);
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            why = format!("the event stream broke: {e}");
                            break;
                        }
                    }
                }
                (0, None, why)
            }
            Err(e) => {
                let status = match &e {
                    GateError::Api { status, .. } => *status,
                    _ => 0,
                };
                let hint = match status {
                    401 => {
                        "; check the gate token (it must be the token `writ gate add` printed for this gate)"
                    }
                    403 => {
                        "; check that the token belongs to a gate, not to a principal, and that the gate is not revoked"
                    }
                    _ => "",
                };
                (status, Some(e.reason_code()), format!("{e}{hint}"))
            }
        };
        let (status, reason_code, cause) = cause;
        health.set_cause(Some(cause.clone()));
        if lost.as_deref() != Some(cause.as_str()) {
            if let (0, None) = (status, reason_code) {
                tracing::warn!(target: "writ::feed", control_plane = cp.base(), cause = %cause, "event feed lost; reconnecting (new work is denied after the grace period)");
            } else {
                tracing::error!(target: "writ::feed", control_plane = cp.base(), status, reason_code = reason_code.map_or("-", |c| c.as_str()), cause = %cause, "event feed lost; new work is denied until it is back");
            }
            lost = Some(cause);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_applies_every_withdrawal_in_force() {
        let set = RevocationSet::new();
        let ev = FeedEvent {
            kind: "snapshot".into(),
            data: serde_json::json!({"jtis": ["j1"], "principals": ["agent:a"], "zones": ["prod"], "kill_switch": false}),
        };
        apply(&set, &ev);
        let dbg = format!("{set:?}");
        assert!(
            dbg.contains("jtis: 1") && dbg.contains("principals: 1") && dbg.contains("zones: 1"),
            "{dbg}"
        );
        assert!(dbg.contains("kill_switch: false"), "{dbg}");
        // A snapshot without the field fails closed.
        apply(
            &set,
            &FeedEvent {
                kind: "snapshot".into(),
                data: serde_json::json!({}),
            },
        );
        assert!(format!("{set:?}").contains("kill_switch: true"));
    }

    #[test]
    fn a_zone_event_withdraws_and_gives_back_the_principals_it_names() {
        let set = RevocationSet::new();
        let zone = |on: bool| FeedEvent {
            kind: "quarantine".into(),
            data: serde_json::json!({"target": "zone", "id": "dev", "on": on, "principals": ["agent:a", "human:h"]}),
        };
        apply(&set, &zone(true));
        assert!(format!("{set:?}").contains("principals: 2"), "{set:?}");
        apply(&set, &zone(false));
        let dbg = format!("{set:?}");
        assert!(
            dbg.contains("principals: 0") && dbg.contains("zones: 0"),
            "{dbg}"
        );
    }

    /// The kinds a gate asks the feed for are the kinds it acts on: each withdraws something
    /// here, and a kind it does not ask for (a call's decision) changes nothing.
    #[test]
    fn the_kinds_a_gate_asks_for_are_those_it_applies() {
        let data = |kind: &str| match kind {
            "revocation" => serde_json::json!({"target": "jti", "id": "j1"}),
            "quarantine" => serde_json::json!({"target": "principal", "id": "agent:a", "on": true}),
            "kill_switch" => serde_json::json!({"on": true}),
            "lease.ended" => serde_json::json!({
                "jti": "j2",
                "execution": writ_model::ExecutionId::new_v7(),
                "reason_code": writ_model::ReasonCode::LeaseExpired,
            }),
            other => panic!("no sample event for {other}: add one and make `apply` handle it"),
        };
        for kind in writ_api::GATE_FEED_KINDS {
            let set = RevocationSet::new();
            let before = format!("{set:?}");
            apply(
                &set,
                &FeedEvent {
                    kind: kind.into(),
                    data: data(kind),
                },
            );
            assert_ne!(format!("{set:?}"), before, "{kind} changed nothing");
        }
        let set = RevocationSet::new();
        let before = format!("{set:?}");
        let decision =
            serde_json::json!({"decision": "allow", "jti": "j3", "principal": "agent:a"});
        apply(
            &set,
            &FeedEvent {
                kind: "decision".into(),
                data: decision,
            },
        );
        assert_eq!(format!("{set:?}"), before);
    }

    #[test]
    fn parses_events_across_chunks_and_skips_keepalives() {
        let mut p = SseParser::default();
        assert!(
            p.push(b":\n\nevent: revocation\nid: 3\ndata: {\"target\":\"jti\",")
                .is_empty()
        );
        let evs = p.push(b"\"id\":\"abc\"}\n\nevent: heartbeat\ndata: {\"now\":1}\n\n");
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].kind, "revocation");
        assert_eq!(evs[0].data["id"], "abc");
        assert_eq!(evs[1].kind, "heartbeat");
    }
}
