//! What a change made on another node means here. Nodes sharing one PostgreSQL control store
//! each follow it ([`crate::store::ControlStore::watch`]); when a node's registry is reloaded,
//! [`governance_changes`] says what was switched on or off since the copy it replaced, as the
//! events the admin routes publish on the node that made the change, and [`apply_remote`]
//! publishes them to this node's gates (and loads a newly activated bundle).

use serde_json::json;

use crate::state::{AppState, BundleFiles, SETTING_ACTIVE_BUNDLE, SETTING_KILL_SWITCH};
use crate::store::{GovernanceKind, Registry};

/// One governance change seen in the control store: the event admin.rs would have published
/// for it, and for a bundle activation the new bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetChange {
    /// The event's topic: `revocation`, `quarantine`, `kill_switch` or `policy`.
    pub topic: &'static str,
    /// The event's payload (a `writ_api::GovernanceEvent`; for `policy`, `{"at": …}` to which
    /// [`apply_remote`] adds `bundle_sha256` once the bundle loaded).
    pub payload: serde_json::Value,
    /// For `policy`: the new active bundle's source, as saved (JSON of its files).
    pub bundle_source: Option<String>,
}

fn now_unix() -> i64 {
    crate::store::now_unix_ms() / 1000
}

fn event(
    target: Option<&str>,
    id: Option<&str>,
    on: Option<bool>,
    at: i64,
    principals: Option<Vec<String>>,
) -> serde_json::Value {
    serde_json::to_value(writ_api::GovernanceEvent {
        target: target.map(str::to_owned),
        id: id.map(str::to_owned),
        on,
        at,
        principals,
    })
    .unwrap_or_default()
}

fn targets(r: &Registry, kind: GovernanceKind) -> impl Iterator<Item = &String> {
    r.governance.get(&kind).into_iter().flatten()
}

/// What was switched on or off between `old` and `new` (the registry before and after a
/// reload): new revocations (a jti, a principal, a zone with the principals registered in
/// it), quarantines set or lifted, the kill switch flipped, a different active bundle. Each
/// as the event the admin routes publish for it; `at` is when the state was switched on when
/// the store says, else now. Revocations are never undone, so one that disappeared yields
/// nothing. Nothing changed: empty.
pub fn governance_changes(old: &Registry, new: &Registry) -> Vec<FleetChange> {
    let now = now_unix();
    let at = |kind: GovernanceKind, target: &str| {
        new.governance_at
            .get(&(kind, target.to_owned()))
            .copied()
            .unwrap_or(now)
    };
    let mut out = Vec::new();
    for (kind, name) in [
        (GovernanceKind::RevokedJti, "jti"),
        (GovernanceKind::RevokedPrincipal, "principal"),
        (GovernanceKind::RevokedZone, "zone"),
    ] {
        for t in targets(new, kind).filter(|t| !old.is(kind, t)) {
            // Gates cannot know who is registered where: a zone's event names them.
            let principals =
                (kind == GovernanceKind::RevokedZone).then(|| new.principals_in_zone(t));
            out.push(FleetChange {
                topic: "revocation",
                payload: event(Some(name), Some(t), None, at(kind, t), principals),
                bundle_source: None,
            });
        }
    }
    for (kind, name) in [
        (GovernanceKind::QuarantinedPrincipal, "principal"),
        (GovernanceKind::QuarantinedZone, "zone"),
    ] {
        let zone = kind == GovernanceKind::QuarantinedZone;
        for t in targets(new, kind).filter(|t| !old.is(kind, t)) {
            let principals = zone.then(|| new.principals_in_zone(t));
            out.push(FleetChange {
                topic: "quarantine",
                payload: event(Some(name), Some(t), Some(true), at(kind, t), principals),
                bundle_source: None,
            });
        }
        for t in targets(old, kind).filter(|t| !new.is(kind, t)) {
            // A lifted zone quarantine gives back those of its principals now in good standing.
            let principals = zone.then(|| {
                let mut ids = new.principals_in_zone(t);
                ids.retain(|p| new.principal_withdrawn(p).is_none());
                ids
            });
            out.push(FleetChange {
                topic: "quarantine",
                payload: event(Some(name), Some(t), Some(false), now, principals),
                bundle_source: None,
            });
        }
    }
    let kill = |r: &Registry| r.settings.get(SETTING_KILL_SWITCH).map(String::as_str) == Some("on");
    if kill(old) != kill(new) {
        out.push(FleetChange {
            topic: "kill_switch",
            payload: event(None, None, Some(kill(new)), now, None),
            bundle_source: None,
        });
    }
    let new_bundle = new.settings.get(SETTING_ACTIVE_BUNDLE);
    if let Some(source) = new_bundle
        && old.settings.get(SETTING_ACTIVE_BUNDLE) != new_bundle
    {
        out.push(FleetChange {
            topic: "policy",
            payload: json!({"at": now}),
            bundle_source: Some(source.clone()),
        });
    }
    out
}

/// Publishes `changes` on this node's event feed, so the gates connected here hear of them.
/// A bundle change first loads the new bundle as startup does (its saved source, checked with
/// this node's trusted keys) and publishes `policy` with its digest; a bundle that does not
/// load here is logged, not published, and withdraws the previous one (fail closed: every
/// authorization on this node is refused until a bundle loads).
pub fn apply_remote(state: &AppState, changes: Vec<FleetChange>) {
    for change in changes {
        let Some(source) = change.bundle_source else {
            state.events.publish(change.topic, change.payload);
            continue;
        };
        let loaded = serde_json::from_str::<BundleFiles>(&source)
            .map_err(|e| e.to_string())
            .and_then(|files| crate::state::source_from_files(&files).map_err(|e| e.to_string()))
            .and_then(|source| {
                state
                    .bundles
                    .load(&source, &state.trusted_keys())
                    .map_err(|e| e.to_string())
            });
        match loaded {
            Ok(active) => {
                let at = change.payload.get("at").cloned().unwrap_or_default();
                state.events.publish(
                    change.topic,
                    json!({"bundle_sha256": active.digest(), "at": at}),
                );
            }
            Err(e) => {
                // Fail closed: the fleet replaced the old bundle, so this node must not go on
                // deciding by it; with none active every authorization is refused.
                state.bundles.clear();
                tracing::error!(
                    error = %e,
                    "the bundle another node activated does not load on this node (is its signing key trusted here? see docs/fleet.md); no bundle is active on this node until one loads"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::store::{ControlWrite, PrincipalRow};

    fn principal(id: &str, zone: &str) -> ControlWrite {
        ControlWrite::UpsertPrincipal(PrincipalRow {
            id: id.into(),
            zone: zone.into(),
            attrs: json!({}),
            status: "active".into(),
            created_at: 1,
            role: None,
        })
    }

    fn gov(kind: GovernanceKind, target: &str, on: bool, now: i64) -> ControlWrite {
        ControlWrite::SetGovernance {
            kind,
            target: target.into(),
            on,
            now,
        }
    }

    fn setting(key: &str, value: &str) -> ControlWrite {
        ControlWrite::SetSetting {
            key: key.into(),
            value: value.into(),
        }
    }

    /// A registry with agents a and b in zone prod, c in dev.
    fn base() -> Registry {
        let mut r = Registry::default();
        for w in [
            principal("agent:a", "prod"),
            principal("agent:b", "prod"),
            principal("agent:c", "dev"),
        ] {
            w.apply_to(&mut r);
        }
        r
    }

    fn after(old: &Registry, writes: &[ControlWrite]) -> Registry {
        let mut r = old.clone();
        for w in writes {
            w.apply_to(&mut r);
        }
        r
    }

    #[test]
    fn nothing_changed_is_nothing() {
        let old = after(
            &base(),
            &[
                gov(GovernanceKind::RevokedJti, "j1", true, 5),
                setting(SETTING_KILL_SWITCH, "on"),
                setting(SETTING_ACTIVE_BUNDLE, "{}"),
            ],
        );
        assert!(governance_changes(&old, &old.clone()).is_empty());
        // Changes that are not governance (a new gate, a new token) are not events.
        let new = after(
            &old,
            &[
                principal("agent:d", "dev"),
                ControlWrite::UpsertGate(crate::store::GateRow {
                    id: "gate:g".into(),
                    zone: "dev".into(),
                    public_key: "k".into(),
                    created_at: 1,
                }),
            ],
        );
        assert!(governance_changes(&old, &new).is_empty());
    }

    #[test]
    fn revocations_of_a_jti_a_principal_and_a_zone() {
        let old = base();
        let new = after(
            &old,
            &[
                gov(GovernanceKind::RevokedJti, "j1", true, 11),
                gov(GovernanceKind::RevokedPrincipal, "agent:c", true, 12),
                gov(GovernanceKind::RevokedZone, "prod", true, 13),
            ],
        );
        let got = governance_changes(&old, &new);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(
            got.iter()
                .all(|c| c.topic == "revocation" && c.bundle_source.is_none())
        );
        assert_eq!(
            got[0].payload,
            json!({"target": "jti", "id": "j1", "at": 11})
        );
        assert_eq!(
            got[1].payload,
            json!({"target": "principal", "id": "agent:c", "at": 12})
        );
        assert_eq!(
            got[2].payload,
            json!({"target": "zone", "id": "prod", "at": 13, "principals": ["agent:a", "agent:b"]})
        );
        // The payload is what gates parse.
        let e: writ_api::GovernanceEvent = serde_json::from_value(got[2].payload.clone()).unwrap();
        assert!(e.is_on());
        // Already revoked before: no event again; a revocation that disappeared: none either.
        assert!(governance_changes(&new, &new).is_empty());
        assert!(governance_changes(&new, &old).is_empty());
    }

    #[test]
    fn quarantines_set_and_lifted() {
        let old = base();
        let on = after(
            &old,
            &[
                gov(GovernanceKind::QuarantinedPrincipal, "agent:c", true, 21),
                gov(GovernanceKind::QuarantinedZone, "prod", true, 22),
            ],
        );
        let got = governance_changes(&old, &on);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.iter().all(|c| c.topic == "quarantine"));
        assert_eq!(
            got[0].payload,
            json!({"target": "principal", "id": "agent:c", "on": true, "at": 21})
        );
        assert_eq!(
            got[1].payload,
            json!({"target": "zone", "id": "prod", "on": true, "at": 22, "principals": ["agent:a", "agent:b"]})
        );
        // Lifted, while agent:b stays revoked: the zone's event gives back agent:a only.
        let off = after(
            &on,
            &[
                gov(GovernanceKind::RevokedPrincipal, "agent:b", true, 23),
                gov(GovernanceKind::QuarantinedPrincipal, "agent:c", false, 24),
                gov(GovernanceKind::QuarantinedZone, "prod", false, 24),
            ],
        );
        let got = governance_changes(&on, &off);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0].topic, "revocation");
        let p = &got[1].payload;
        assert_eq!(
            (got[1].topic, &p["target"], &p["id"], &p["on"]),
            (
                "quarantine",
                &json!("principal"),
                &json!("agent:c"),
                &json!(false)
            )
        );
        assert!(p.get("principals").is_none());
        let z = &got[2].payload;
        assert_eq!((&z["id"], &z["on"]), (&json!("prod"), &json!(false)));
        assert_eq!(z["principals"], json!(["agent:a"]));
        // `at` of a lift is now (the row is gone): a plausible time, not 0.
        assert!(z["at"].as_i64().unwrap() > 1_700_000_000);
    }

    #[test]
    fn kill_switch_flips_only_when_its_state_changes() {
        let old = base();
        let on = after(&old, &[setting(SETTING_KILL_SWITCH, "on")]);
        let got = governance_changes(&old, &on);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].topic, "kill_switch");
        assert_eq!(got[0].payload["on"], json!(true));
        assert!(got[0].payload.get("target").is_none());
        let off = after(&on, &[setting(SETTING_KILL_SWITCH, "off")]);
        let got = governance_changes(&on, &off);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].payload["on"], json!(false));
        // Unset to "off" is no flip.
        assert!(
            governance_changes(&old, &after(&old, &[setting(SETTING_KILL_SWITCH, "off")]))
                .is_empty()
        );
    }

    #[test]
    fn a_different_active_bundle_carries_its_source() {
        let old = after(
            &base(),
            &[setting(SETTING_ACTIVE_BUNDLE, r#"{"a.cedar":"x"}"#)],
        );
        let new = after(
            &old,
            &[setting(SETTING_ACTIVE_BUNDLE, r#"{"a.cedar":"y"}"#)],
        );
        let got = governance_changes(&old, &new);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].topic, "policy");
        assert_eq!(got[0].bundle_source.as_deref(), Some(r#"{"a.cedar":"y"}"#));
        assert!(got[0].payload["at"].is_i64());
        // The first activation counts too; the same source again does not.
        assert_eq!(governance_changes(&base(), &new).len(), 1);
        assert!(governance_changes(&new, &new.clone()).is_empty());
    }
}
