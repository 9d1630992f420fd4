//! Delegation: a child writ is minted only when its scope is a subset of the parent's and it
//! ends no later; otherwise a named error.

use proptest::prelude::*;
use writ_artifact::*;
use writ_model::{ExecutionId, Intent, IntentDigest, ZoneId};

use crate::fixture::*;

fn child_request(f: &Fixture, resource: &str, scope: Scope) -> ChildRequest {
    let parent = f.request();
    ChildRequest {
        sub: "agent:sub-bot".parse().unwrap(),
        aud: GATE.parse().unwrap(),
        intent: Intent::new("exec", resource, serde_json::json!({}))
            .digest()
            .unwrap(),
        env: parent.env,
        policy: parent.policy,
        scope,
        execution: ExecutionId::new_v7(),
        ledger: LedgerRef {
            origin: "writ.example/ledger".into(),
            index: 18,
        },
        lifetime_secs: None,
    }
}

fn narrow_scope() -> Scope {
    Scope {
        max_uses: 1,
        fs: Some(FsScope {
            read: vec!["/srv/repo/src".into()],
            write: vec![],
        }),
        delegate: None,
    }
}

#[test]
fn child_within_scope_is_minted_with_lineage_and_actor_chain() {
    let f = Fixture::new();
    let parent = f.issue();
    let child = f
        .issuer
        .mint_child(
            &parent.claims,
            child_request(&f, "cmd:/usr/bin/ls", narrow_scope()),
        )
        .unwrap();
    let c = &child.claims;
    assert_eq!(c.lineage.parent, Some(parent.claims.lineage.execution));
    assert_eq!(c.lineage.root, parent.claims.lineage.root);
    assert!(c.exp <= parent.claims.exp);
    let act = c.act.as_ref().unwrap();
    let chain: Vec<String> = act.principals().map(ToString::to_string).collect();
    assert_eq!(
        chain,
        ["agent:triage-bot", "service:orchestrator", "human:alice"]
    );
    // The child verifies at its gate like any writ.
    let call = Intent::new("exec", "cmd:/usr/bin/ls", serde_json::json!({}));
    assert!(f.verifier().verify_call(&child.token, &call).is_ok());
}

#[test]
fn child_outside_scope_is_refused_with_a_named_error() {
    let f = Fixture::new();
    let parent = f.issue();
    let mut wide_fs = narrow_scope();
    wide_fs.fs = Some(FsScope {
        read: vec!["/etc".into()],
        write: vec![],
    });
    let mut no_fs = narrow_scope();
    no_fs.fs = None;
    let mut more_uses = narrow_scope();
    more_uses.max_uses = 3;
    let mut wider_grant = narrow_scope();
    wider_grant.delegate = Some(DelegationGrant {
        actions: vec![Pattern::new("*").unwrap()],
        resources: vec![],
        zones: vec![],
    });
    let cases = [
        (
            child_request(&f, "cmd:/bin/rm", narrow_scope()),
            "delegation_resource_not_in_scope",
        ),
        (
            child_request(&f, "cmd:/usr/bin/ls", wide_fs),
            "delegation_scope_not_subset",
        ),
        (
            child_request(&f, "cmd:/usr/bin/ls", no_fs),
            "delegation_scope_not_subset",
        ),
        (
            child_request(&f, "cmd:/usr/bin/ls", more_uses),
            "delegation_max_uses_exceeded",
        ),
        (
            child_request(&f, "cmd:/usr/bin/ls", wider_grant),
            "delegation_scope_not_subset",
        ),
    ];
    for (req, code) in cases {
        let err = f.issuer.mint_child(&parent.claims, req).unwrap_err();
        assert_eq!(err.reason_code(), code, "{err}");
    }
    let mut other_action = child_request(&f, "cmd:/usr/bin/ls", narrow_scope());
    other_action.intent.action = "http.request".into();
    let err = f
        .issuer
        .mint_child(&parent.claims, other_action)
        .unwrap_err();
    assert_eq!(err.reason_code(), "delegation_action_not_in_scope");
    let mut other_zone = child_request(&f, "cmd:/usr/bin/ls", narrow_scope());
    other_zone.env.zone = "prod-eu".parse().unwrap();
    let err = f.issuer.mint_child(&parent.claims, other_zone).unwrap_err();
    assert_eq!(err.reason_code(), "delegation_zone_not_in_scope");

    // Lifetime: the child may not outlive the parent (parent exp is NOW + 70).
    let mut long = child_request(&f, "cmd:/usr/bin/ls", narrow_scope());
    long.lifetime_secs = Some(71);
    let err = f.issuer.mint_child(&parent.claims, long).unwrap_err();
    assert_eq!(err.reason_code(), "delegation_outlives_parent");
    // The default lifetime (60 s) is capped to the parent's remaining time (40 s) instead.
    f.clock.set(NOW + 30);
    let capped = f
        .issuer
        .mint_child(
            &parent.claims,
            child_request(&f, "cmd:/usr/bin/ls", narrow_scope()),
        )
        .unwrap();
    assert_eq!(capped.claims.exp, parent.claims.exp);

    f.clock.set(parent.claims.exp);
    let err = f
        .issuer
        .mint_child(
            &parent.claims,
            child_request(&f, "cmd:/usr/bin/ls", narrow_scope()),
        )
        .unwrap_err();
    assert_eq!(err.reason_code(), "delegation_parent_expired");

    let mut not_delegable = parent.claims.clone();
    not_delegable.scope.delegate = None;
    f.clock.set(NOW);
    let err = f
        .issuer
        .mint_child(
            &not_delegable,
            child_request(&f, "cmd:/usr/bin/ls", narrow_scope()),
        )
        .unwrap_err();
    assert_eq!(err.reason_code(), "delegation_not_granted");
}

// ---- property test: child accepted iff it is a subset ----
//
// The oracle does not reuse `covers`: it only asks whether concrete probe strings are
// matched. Patterns are drawn over the letters "ab"; a prefix pattern `p*` is probed with
// `p` and `p` + "z" (a letter no pattern uses), which only a parent prefix of `p` can match.

fn pattern() -> impl Strategy<Value = Pattern> {
    ("[ab]{0,3}", any::<bool>()).prop_filter_map("empty exact", |(s, prefix)| {
        if prefix {
            Pattern::new(format!("{s}*")).ok()
        } else {
            Pattern::new(s).ok()
        }
    })
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![Just("a"), Just("b")], 0..3).prop_map(|parts| {
        if parts.is_empty() {
            "/".to_owned()
        } else {
            format!("/{}", parts.join("/"))
        }
    })
}

fn zone() -> impl Strategy<Value = ZoneId> {
    prop_oneof![Just("z1"), Just("z2"), Just("z3")].prop_map(|z| z.parse().unwrap())
}

fn grant() -> impl Strategy<Value = DelegationGrant> {
    (
        prop::collection::vec(pattern(), 0..3),
        prop::collection::vec(pattern(), 0..3),
        prop::collection::vec(zone(), 0..3),
    )
        .prop_map(|(actions, resources, zones)| DelegationGrant {
            actions,
            resources,
            zones,
        })
}

fn fs() -> impl Strategy<Value = Option<FsScope>> {
    prop::option::of(
        (
            prop::collection::vec(path(), 0..3),
            prop::collection::vec(path(), 0..3),
        )
            .prop_map(|(read, write)| FsScope { read, write }),
    )
}

fn scope() -> impl Strategy<Value = Scope> {
    (1u32..4, fs(), prop::option::of(grant())).prop_map(|(max_uses, fs, delegate)| Scope {
        max_uses,
        fs,
        delegate,
    })
}

fn probes(p: &Pattern) -> Vec<String> {
    match p.as_str().strip_suffix('*') {
        Some(prefix) => vec![prefix.to_owned(), format!("{prefix}z")],
        None => vec![p.as_str().to_owned()],
    }
}

fn any_matches(set: &[Pattern], s: &str) -> bool {
    set.iter().any(|p| p.matches(s))
}

fn path_probe_ok(parents: &[&String], child: &str) -> bool {
    // A path covers its subtree: probe the path itself and a fresh child below it.
    let inside = |parent: &str, probe: &str| {
        parent == "/"
            || probe == parent
            || (probe.starts_with(parent) && probe.as_bytes().get(parent.len()) == Some(&b'/'))
    };
    let deep = format!("{}/zz", child.trim_end_matches('/'));
    [child, deep.as_str()]
        .iter()
        .all(|probe| parents.iter().any(|p| inside(p, probe)))
}

fn oracle(parent: &Scope, child: &Scope, intent: &IntentDigest, zone: &ZoneId) -> bool {
    let Some(g) = &parent.delegate else {
        return false;
    };
    let intent_ok = any_matches(&g.actions, &intent.action)
        && any_matches(&g.resources, &intent.resource)
        && g.zones.contains(zone);
    let grant_ok = child.delegate.as_ref().is_none_or(|c| {
        c.actions
            .iter()
            .all(|p| probes(p).iter().all(|s| any_matches(&g.actions, s)))
            && c.resources
                .iter()
                .all(|p| probes(p).iter().all(|s| any_matches(&g.resources, s)))
            && c.zones.iter().all(|z| g.zones.contains(z))
    });
    let fs_ok = match (&parent.fs, &child.fs) {
        (None, None) => true,
        (Some(p), Some(c)) => {
            let writable: Vec<&String> = p.write.iter().collect();
            let readable: Vec<&String> = p.read.iter().chain(p.write.iter()).collect();
            c.write.iter().all(|w| path_probe_ok(&writable, w))
                && c.read.iter().all(|r| path_probe_ok(&readable, r))
        }
        _ => false,
    };
    intent_ok && child.max_uses <= parent.max_uses && grant_ok && fs_ok
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn child_accepted_iff_subset(
        parent in scope(),
        child in scope(),
        action in "[ab]{0,3}z?",
        resource in "[ab]{0,3}z?",
        zone in zone(),
    ) {
        let intent = IntentDigest { action, resource, args_sha256: "0".repeat(64) };
        let accepted = parent.check_child(&child, &intent, &zone).is_ok();
        prop_assert_eq!(accepted, oracle(&parent, &child, &intent, &zone));
    }

    /// Children derived from the parent by dropping parts are always accepted.
    #[test]
    fn narrowed_children_are_accepted(parent in scope(), keep in any::<u8>()) {
        let Some(g) = parent.delegate.clone() else { return Ok(()); };
        let (Some(a), Some(r), Some(z)) = (g.actions.first(), g.resources.first(), g.zones.first()) else {
            return Ok(());
        };
        let intent = IntentDigest {
            action: probes(a)[0].clone(),
            resource: probes(r)[0].clone(),
            args_sha256: "0".repeat(64),
        };
        let sub = |v: &Vec<Pattern>| v.iter().enumerate().filter(|(i, _)| keep & (1 << (i % 8)) != 0).map(|(_, p)| p.clone()).collect();
        let child = Scope {
            max_uses: 1,
            fs: parent.fs.as_ref().map(|f| FsScope {
                read: f.read.iter().take(usize::from(keep % 3)).cloned().collect(),
                write: f.write.iter().take(usize::from(keep % 2)).cloned().collect(),
            }),
            delegate: Some(DelegationGrant {
                actions: sub(&g.actions),
                resources: sub(&g.resources),
                zones: g.zones.iter().take(usize::from(keep % 4)).cloned().collect(),
            }),
        };
        prop_assert!(parent.check_child(&child, &intent, z).is_ok());
    }
}
