//! The control store on both backends: one behavioural suite run on SQLite and on PostgreSQL
//! (the server `scripts/postgres.sh` starts; its URL in `WRIT_TEST_POSTGRES_URL`), and what
//! only a shared PostgreSQL store does: nodes following each other's writes, schema creation
//! and versions, and errors that never show the database password. Without the URL the
//! PostgreSQL tests are skipped with a message, unless `WRIT_REQUIRE_CONFORMANCE=1`, which
//! makes them fail. Every PostgreSQL test works in a schema of its own, dropped at the end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use writ_server::auth::{Caller, Scope};
use writ_server::state::fleet::{FleetChange, governance_changes};
use writ_server::store::pg as store_pg;
use writ_server::store::{ControlStore, GateRow, GovernanceKind, PrincipalRow, Role};

static SCHEMAS: AtomicU64 = AtomicU64::new(0);

fn postgres_url() -> Option<String> {
    match std::env::var("WRIT_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("WRIT_REQUIRE_CONFORMANCE").as_deref() != Ok("1"),
                "WRIT_TEST_POSTGRES_URL is unset and WRIT_REQUIRE_CONFORMANCE=1: start one with \
                 `eval \"$(bash scripts/postgres.sh start)\"`"
            );
            eprintln!(
                "control store: PostgreSQL half skipped (WRIT_TEST_POSTGRES_URL unset; \
                 `eval \"$(bash scripts/postgres.sh start)\"` starts one)"
            );
            None
        }
    }
}

/// A schema of the test's own, dropped when the test ends (pass or fail).
struct Schema {
    url: String,
    name: String,
}

impl Schema {
    fn new(url: &str) -> Schema {
        let name = format!(
            "ctl{}_{}_{}",
            std::process::id(),
            SCHEMAS.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        Schema {
            url: url.to_owned(),
            name,
        }
    }

    fn open(&self, create: bool) -> Result<ControlStore, writ_server::ServerError> {
        ControlStore::open_pg(&self.url, &self.name, create)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = store_pg::drop_schema(&self.url, &self.name);
    }
}

fn caller(scope: Scope, subject: &str) -> Caller {
    Caller {
        scope,
        subject: subject.into(),
    }
}

fn principal(id: &str, zone: &str) -> PrincipalRow {
    PrincipalRow {
        id: id.into(),
        zone: zone.into(),
        attrs: serde_json::json!({"owner": "human:bob"}),
        status: "active".into(),
        created_at: 7,
        role: None,
    }
}

/// The behaviour every backend must have. `open` opens the same store again each call.
fn behaviour(open: &dyn Fn() -> ControlStore) {
    {
        let s = open();
        assert!(s.caller_for_token_hash("h1").is_none());
        s.add_token("h1", &caller(Scope::Principal, "agent:a"), 1)
            .unwrap();
        s.add_token("h2", &caller(Scope::Gate, "gate:g"), 1)
            .unwrap();
        s.add_token("h3", &caller(Scope::Principal, "agent:b"), 1)
            .unwrap();
        assert_eq!(
            s.caller_for_token_hash("h1"),
            Some(caller(Scope::Principal, "agent:a"))
        );
        // A token hash twice is refused and changes nothing.
        assert!(
            s.add_token("h1", &caller(Scope::Admin, "admin:x"), 2)
                .is_err()
        );
        assert_eq!(
            s.caller_for_token_hash("h1").unwrap().scope,
            Scope::Principal
        );

        s.upsert_principal(&principal("agent:a", "prod")).unwrap();
        let mut human = principal("human:ann", "prod");
        human.role = Some(Role::Operator);
        s.upsert_principal(&human).unwrap();
        let mut moved = principal("agent:a", "dev");
        moved.attrs = serde_json::json!({"team": "x"});
        s.upsert_principal(&moved).unwrap();
        s.upsert_gate(&GateRow {
            id: "gate:g".into(),
            zone: "dev".into(),
            public_key: "k1".into(),
            created_at: 3,
        })
        .unwrap();
        s.upsert_gate(&GateRow {
            id: "gate:g".into(),
            zone: "dev".into(),
            public_key: "k2".into(),
            created_at: 4,
        })
        .unwrap();

        s.set_governance(GovernanceKind::RevokedJti, "j1", true, 10)
            .unwrap();
        s.set_governance(GovernanceKind::QuarantinedZone, "prod", true, 11)
            .unwrap();
        s.set_governance(GovernanceKind::QuarantinedPrincipal, "agent:a", true, 12)
            .unwrap();
        s.set_governance(GovernanceKind::QuarantinedPrincipal, "agent:a", false, 13)
            .unwrap();
        assert!(s.read(|r| r.is(GovernanceKind::QuarantinedZone, "prod")));
        assert!(!s.read(|r| r.is(GovernanceKind::QuarantinedPrincipal, "agent:a")));

        s.set_setting("kill_switch", "on").unwrap();
        s.set_setting("kill_switch", "off").unwrap();
        s.set_setting("active_bundle_source", r#"{"a.cedar":"x"}"#)
            .unwrap();
        assert_eq!(s.setting("kill_switch").as_deref(), Some("off"));

        // Revoked tokens are refused at once.
        s.revoke_tokens_of("agent:b").unwrap();
        assert!(s.caller_for_token_hash("h3").is_none());
        assert!(s.caller_for_token_hash("h1").is_some());
    }
    // Reopened: everything is still there, as it was left.
    let s = open();
    assert_eq!(
        s.caller_for_token_hash("h2"),
        Some(caller(Scope::Gate, "gate:g"))
    );
    assert!(s.caller_for_token_hash("h3").is_none());
    let a = s.read(|r| r.principals.get("agent:a").cloned()).unwrap();
    assert_eq!(
        (a.zone.as_str(), &a.attrs),
        ("dev", &serde_json::json!({"team": "x"}))
    );
    assert_eq!(a.created_at, 7);
    assert_eq!(
        s.read(|r| r.principals.get("human:ann").and_then(|p| p.role)),
        Some(Role::Operator)
    );
    assert_eq!(
        s.read(|r| r.gates.get("gate:g").map(|g| g.public_key.clone())),
        Some("k2".into())
    );
    assert!(s.read(|r| r.is(GovernanceKind::RevokedJti, "j1")));
    assert!(s.read(|r| r.is(GovernanceKind::QuarantinedZone, "prod")));
    assert!(!s.read(|r| r.is(GovernanceKind::QuarantinedPrincipal, "agent:a")));
    assert_eq!(
        s.read(|r| r
            .governance_at
            .get(&(GovernanceKind::QuarantinedZone, "prod".into()))
            .copied()),
        Some(11)
    );
    assert_eq!(
        s.read(|r| r.principal_withdrawn("human:ann").map(|w| w.0)),
        Some(writ_model::ReasonCode::ZoneQuarantined)
    );
    assert_eq!(s.setting("kill_switch").as_deref(), Some("off"));
    assert_eq!(
        s.setting("active_bundle_source").as_deref(),
        Some(r#"{"a.cedar":"x"}"#)
    );
    s.revoke_tokens_of("agent:a").unwrap();
    drop(s);
    assert!(open().caller_for_token_hash("h1").is_none());
}

#[test]
fn control_store_behaves_the_same_on_sqlite_and_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.db");
    behaviour(&|| ControlStore::open(&path).unwrap());
    assert!(ControlStore::open(&path).unwrap().sync_state().is_none());
    if let Some(url) = postgres_url() {
        let schema = Schema::new(&url);
        let first = schema.open(true).unwrap();
        behaviour(&|| schema.open(false).unwrap());
        let sync = first.sync_state().unwrap();
        assert!(sync.last_error.is_none(), "{sync:?}");
        assert!(sync.last_ok_unix_ms > 0);
    }
}

/// Waits (30 s at most) for a batch of changes on `rx` that satisfies `want`; returns every
/// batch received until then.
fn wait_for(
    rx: &mpsc::Receiver<Vec<FleetChange>>,
    want: impl Fn(&FleetChange) -> bool,
) -> Vec<Vec<FleetChange>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(batch) => {
                let done = batch.iter().any(&want);
                seen.push(batch);
                if done {
                    return seen;
                }
            }
            Err(_) => panic!("no change as wanted within 30 s; received {seen:?}"),
        }
    }
}

fn watched(store: &ControlStore) -> mpsc::Receiver<Vec<FleetChange>> {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    store
        .watch(Box::new(move |old, new| {
            let changes = governance_changes(old, new);
            if !changes.is_empty() {
                let _ = tx.lock().unwrap().send(changes);
            }
        }))
        .unwrap();
    rx
}

#[test]
fn a_change_on_one_node_reaches_the_other_through_its_watcher() {
    let Some(url) = postgres_url() else { return };
    let schema = Schema::new(&url);
    let a = schema.open(true).unwrap();
    let b = schema.open(false).unwrap();
    // SQLite has nothing to follow: watching is a no-op.
    let dir = tempfile::tempdir().unwrap();
    ControlStore::open(&dir.path().join("c.db"))
        .unwrap()
        .watch(Box::new(|_, _| panic!("a SQLite store has no watcher")))
        .unwrap();
    let from_a = watched(&a);
    let from_b = watched(&b);
    assert!(a.watch(Box::new(|_, _| {})).is_err(), "watched twice");

    a.upsert_principal(&principal("agent:x", "prod")).unwrap();
    a.upsert_principal(&principal("agent:y", "prod")).unwrap();
    a.add_token("hx", &caller(Scope::Principal, "agent:x"), 1)
        .unwrap();
    a.set_governance(GovernanceKind::RevokedZone, "prod", true, 42)
        .unwrap();
    let got = wait_for(&from_b, |c| c.topic == "revocation");
    let rev = got
        .last()
        .unwrap()
        .iter()
        .find(|c| c.topic == "revocation")
        .unwrap();
    assert_eq!(
        rev.payload,
        serde_json::json!({"target": "zone", "id": "prod", "at": 42, "principals": ["agent:x", "agent:y"]})
    );
    assert!(b.read(|r| r.is(GovernanceKind::RevokedZone, "prod")));
    assert_eq!(
        b.caller_for_token_hash("hx").map(|c| c.subject),
        Some("agent:x".into())
    );

    // The kill switch, flipped on B, reaches A; A's own writes never came back to it as
    // changes: the first batch A hears of is B's.
    b.set_setting("kill_switch", "on").unwrap();
    let got = wait_for(&from_a, |c| c.topic == "kill_switch");
    assert_eq!(got.len(), 1, "A heard of its own writes: {got:?}");
    assert_eq!(got[0].len(), 1, "{got:?}");
    assert_eq!(got[0][0].payload["on"], serde_json::json!(true));
    assert!(a.read(|r| r.settings.get("kill_switch").map(String::as_str) == Some("on")));

    // Revoked tokens are refused on the other node too.
    a.revoke_tokens_of("agent:x").unwrap();
    a.set_governance(GovernanceKind::QuarantinedPrincipal, "agent:y", true, 50)
        .unwrap();
    wait_for(&from_b, |c| {
        c.topic == "quarantine" && c.payload["on"] == true
    });
    assert!(b.caller_for_token_hash("hx").is_none());

    let (sa, sb) = (a.sync_state().unwrap(), b.sync_state().unwrap());
    assert_eq!(sb.version, sa.version, "{sa:?} {sb:?}");
    assert!(sb.last_error.is_none(), "{sb:?}");
}

#[test]
fn an_uncreated_schema_is_refused_with_how_to_create_it() {
    let Some(url) = postgres_url() else { return };
    let schema = Schema::new(&url);
    let e = schema.open(false).unwrap_err().to_string();
    assert!(e.contains("writ migrate") && e.contains("--init"), "{e}");
    assert!(e.contains(&schema.name), "{e}");
    // `writ migrate` creates it; then it opens without create, and migrating again is a no-op.
    assert_eq!(store_pg::migrate_pg(&url, &schema.name).unwrap(), 1);
    assert_eq!(store_pg::migrate_pg(&url, &schema.name).unwrap(), 1);
    schema.open(false).unwrap();
    // A schema name that would be spliced into SQL unchecked is refused.
    assert!(ControlStore::open_pg(&url, "x; DROP TABLE y", true).is_err());
}

#[test]
fn a_newer_schema_is_refused() {
    let Some(url) = postgres_url() else { return };
    let schema = Schema::new(&url);
    drop(schema.open(true).unwrap());
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!(
            "UPDATE {}.schema_version SET version = 99",
            schema.name
        ))
        .unwrap();
    for create in [false, true] {
        let e = schema.open(create).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("99") && msg.contains("newer writ"), "{msg}");
        assert_eq!(e.reason_code(), writ_model::ReasonCode::StoreNewerSchema);
    }
    assert!(store_pg::migrate_pg(&url, &schema.name).is_err());
}

#[test]
fn the_database_password_never_appears_in_an_error() {
    let Some(url) = postgres_url() else { return };
    let schema = Schema::new(&url);
    let (head, tail) = url.split_once('@').unwrap();
    let (user_part, password) = head.rsplit_once(':').unwrap();
    assert!(!password.is_empty(), "the test URL carries a password");
    let wrong = "Wr0ng-Passw0rd-4711";
    // A wrong password: authentication fails.
    let bad = format!("{user_part}:{wrong}@{tail}");
    let e = ControlStore::open_pg(&bad, &schema.name, true)
        .unwrap_err()
        .to_string();
    assert!(!e.contains(wrong), "{e}");
    // The right password, nothing listening: connection refused.
    let (hostport, _) = tail.split_once('/').unwrap();
    let (host, _) = hostport.rsplit_once(':').unwrap();
    let closed = format!("{head}@{host}:1/postgres");
    let e = ControlStore::open_pg(&closed, &schema.name, true)
        .unwrap_err()
        .to_string();
    assert!(!e.contains(password), "{e}");
    let e = store_pg::migrate_pg(&closed, &schema.name)
        .unwrap_err()
        .to_string();
    assert!(!e.contains(password), "{e}");
    // A URL that does not parse.
    let garbled = format!("{head}@{host}:notaport/postgres");
    let e = ControlStore::open_pg(&garbled, &schema.name, true)
        .unwrap_err()
        .to_string();
    assert!(!e.contains(password), "{e}");
    // A key=value string with a wrong password.
    let kv = format!("host={host} port=1 user=writ password={wrong} dbname=postgres");
    let e = ControlStore::open_pg(&kv, &schema.name, true)
        .unwrap_err()
        .to_string();
    assert!(!e.contains(wrong), "{e}");
}

/// Ends every database session of the stores on `schema` (as a database restart or an
/// administrator would); returns how many it ended.
fn terminate_sessions(url: &str, schema: &str) -> i64 {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            &[&format!("writ_control/{schema}")],
        )
        .unwrap()
        .get(0)
}

#[test]
fn nodes_recover_by_themselves_when_their_sessions_end() {
    let Some(url) = postgres_url() else { return };
    let schema = Schema::new(&url);
    let a = schema.open(true).unwrap();
    let b = schema.open(false).unwrap();
    let from_b = watched(&b);
    a.set_governance(GovernanceKind::RevokedJti, "j1", true, 1)
        .unwrap();
    wait_for(&from_b, |c| c.payload["id"] == "j1");

    // A's connection and B's watcher's (at least).
    assert!(terminate_sessions(&url, &schema.name) >= 2);
    // The write that meets the closed connection fails (and so denies); the next reconnects.
    let mut wrote = false;
    for _ in 0..3 {
        if a.set_governance(GovernanceKind::RevokedJti, "j2", true, 2)
            .is_ok()
        {
            wrote = true;
            break;
        }
    }
    assert!(wrote, "the store did not reconnect");
    // B's watcher noticed, reconnected, and follows again.
    wait_for(&from_b, |c| c.payload["id"] == "j2");
    assert!(b.read(|r| r.is(GovernanceKind::RevokedJti, "j2")));
    let sync = b.sync_state().unwrap();
    let error = sync.last_error.expect("the watcher remembers its failure");
    let password = url.split_once('@').unwrap().0.rsplit_once(':').unwrap().1;
    assert!(!error.contains(password), "{error}");
}

/// A change another node made is published on this node's feed as that node's admin route
/// publishes it, and a bundle it activated is loaded here with this node's trusted keys.
#[tokio::test]
async fn remote_changes_reach_this_nodes_feed_and_bundle() {
    use crate::harness::{TestServer, bundle_files, sign_files};
    use writ_server::state::SETTING_ACTIVE_BUNDLE;
    use writ_server::store::ControlWrite;

    let srv = TestServer::start().await;
    let mut events = srv.state.events.subscribe();
    let old = srv.state.store.read(|r| r.clone());
    let mut files = bundle_files(None);
    sign_files(&srv.bundle_key, &mut files);
    let mut new = old.clone();
    for w in [
        ControlWrite::SetGovernance {
            kind: GovernanceKind::RevokedJti,
            target: "j9".into(),
            on: true,
            now: 77,
        },
        ControlWrite::SetSetting {
            key: SETTING_ACTIVE_BUNDLE.into(),
            value: serde_json::to_string(&files).unwrap(),
        },
    ] {
        w.apply_to(&mut new);
    }
    assert!(srv.state.bundles.current().is_none());
    writ_server::state::fleet::apply_remote(&srv.state, governance_changes(&old, &new));
    let e = events.try_recv().unwrap();
    assert_eq!(e.kind, "revocation");
    assert_eq!(
        e.data,
        serde_json::json!({"target": "jti", "id": "j9", "at": 77})
    );
    let e = events.try_recv().unwrap();
    assert_eq!(e.kind, "policy");
    let active = srv
        .state
        .bundles
        .current()
        .expect("the bundle is loaded here");
    assert_eq!(e.data["bundle_sha256"], active.digest());
    assert!(e.data["at"].is_i64());
    assert!(events.try_recv().is_err());

    // A bundle this node does not trust: not loaded, not published, and the previous one is
    // withdrawn (fail closed: the fleet decided it is no longer the policy).
    let mut other = bundle_files(Some(
        "@id(\"no-writes\")\nforbid (principal, action == Action::\"call_tool\", resource == Tool::\"fs/write_file\");\n",
    ));
    sign_files(
        &writ_authorize::BundleSigningKey::from_seed([9; 32]),
        &mut other,
    );
    let mut newer = new.clone();
    ControlWrite::SetSetting {
        key: SETTING_ACTIVE_BUNDLE.into(),
        value: serde_json::to_string(&other).unwrap(),
    }
    .apply_to(&mut newer);
    writ_server::state::fleet::apply_remote(&srv.state, governance_changes(&new, &newer));
    assert!(events.try_recv().is_err());
    assert!(
        srv.state.bundles.current().is_none(),
        "a node kept serving a bundle the fleet replaced"
    );
    srv.stop().await;
}

/// Two nodes writing at once end up with the same registry as the database's: a node's own
/// writes interleaved with the other's never leave it behind.
#[test]
fn nodes_writing_at_once_converge_on_the_databases_state() {
    let Some(url) = postgres_url() else { return };
    let schema = Schema::new(&url);
    let a = schema.open(true).unwrap();
    let b = schema.open(false).unwrap();
    for s in [&a, &b] {
        s.watch(Box::new(|_, _| {})).unwrap();
    }
    std::thread::scope(|scope| {
        for (name, s) in [("a", &a), ("b", &b)] {
            scope.spawn(move || {
                for i in 0..40 {
                    s.set_governance(GovernanceKind::RevokedJti, &format!("{name}{i}"), true, i)
                        .unwrap();
                    s.add_token(
                        &format!("h{name}{i}"),
                        &caller(Scope::Principal, &format!("agent:{name}{i}")),
                        i,
                    )
                    .unwrap();
                    if i % 3 == 0 {
                        s.set_governance(
                            GovernanceKind::RevokedJti,
                            &format!("{name}{}", i / 2),
                            false,
                            i,
                        )
                        .unwrap();
                    }
                    s.set_setting("last", &format!("{name}{i}")).unwrap();
                }
            });
        }
    });
    let truth = schema.open(false).unwrap();
    let version = truth.sync_state().unwrap().version;
    assert!(version >= 2 * (40 * 3 + 14), "{version}");
    let deadline = Instant::now() + Duration::from_secs(30);
    for s in [&a, &b] {
        while s.sync_state().unwrap().version < version {
            assert!(Instant::now() < deadline, "{:?}", s.sync_state());
            std::thread::sleep(Duration::from_millis(20));
        }
        let view = |s: &ControlStore| {
            s.read(|r| {
                let mut tokens: Vec<_> = r
                    .tokens
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                tokens.sort_by(|x, y| x.0.cmp(&y.0));
                (
                    r.governance.clone(),
                    r.governance_at.clone(),
                    r.settings.clone(),
                    tokens,
                )
            })
        };
        assert!(view(s) == view(&truth));
    }
}
