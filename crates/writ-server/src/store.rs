//! The control store: principals, gates, tokens and governance state, in SQLite beside the ledger
//! or, for a fleet of nodes, in PostgreSQL ([`crate::store::pg`]).
//!
//! The ledger is the evidence; this store is the working state the server needs to answer fast
//! (who holds which token, which gate has which key, what is revoked or quarantined). Every change
//! made here is also appended to the ledger by the caller. Reads on the hot path come from an
//! in-memory copy ([`Registry`]) loaded at start and updated on every change.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use rusqlite::{Connection, params};

use crate::auth::{Caller, Scope};
use crate::error::ServerError;

pub mod pg;

pub use crate::store::pg::{DEFAULT_SCHEMA as DEFAULT_PG_SCHEMA, migrate_pg};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    subject TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS principals (
    id TEXT PRIMARY KEY,
    zone TEXT NOT NULL,
    attrs TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS gates (
    id TEXT PRIMARY KEY,
    zone TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS governance (
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (kind, target)
);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// A registered principal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PrincipalRow {
    pub id: String,
    pub zone: String,
    pub attrs: serde_json::Value,
    pub status: String,
    pub created_at: i64,
    /// A person's role (`human:` principals only), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

impl PrincipalRow {
    /// What policies see of this principal: its zone and attributes (see
    /// `writ_authorize::principal`). `None` if the stored zone is not a zone id.
    pub fn entity(&self) -> Option<writ_model::PrincipalEntity> {
        Some(writ_model::PrincipalEntity {
            zone: self.zone.parse().ok()?,
            attrs: self.attrs.as_object().cloned().unwrap_or_default(),
        })
    }
}

/// What a person (a `human:` principal) may do beyond asking for writs. Today every role reads
/// every execution's proofs and lineage; the admin calls still take the admin token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything an operator may do, and managing principals, gates and bundles.
    Admin,
    /// Revoke, quarantine, the kill switch, bundle activation.
    Operator,
    /// Read only.
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "admin" => Role::Admin,
            "operator" => Role::Operator,
            "auditor" => Role::Auditor,
            _ => return None,
        })
    }

    /// Whether the role takes governance acts (revoke, quarantine, kill switch, activation).
    pub fn governs(self) -> bool {
        matches!(self, Role::Admin | Role::Operator)
    }

    /// Whether the role reads every execution's proofs and lineage.
    pub fn reads_executions(self) -> bool {
        match self {
            Role::Admin | Role::Operator | Role::Auditor => true,
        }
    }
}

/// A registered gate with its attestation key (base64 Ed25519 public key).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GateRow {
    pub id: String,
    pub zone: String,
    pub public_key: String,
    pub created_at: i64,
}

/// Kinds of governance state that can be switched on for a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GovernanceKind {
    RevokedJti,
    RevokedPrincipal,
    RevokedZone,
    QuarantinedPrincipal,
    QuarantinedZone,
}

impl GovernanceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GovernanceKind::RevokedJti => "revoked_jti",
            GovernanceKind::RevokedPrincipal => "revoked_principal",
            GovernanceKind::RevokedZone => "revoked_zone",
            GovernanceKind::QuarantinedPrincipal => "quarantined_principal",
            GovernanceKind::QuarantinedZone => "quarantined_zone",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "revoked_jti" => GovernanceKind::RevokedJti,
            "revoked_principal" => GovernanceKind::RevokedPrincipal,
            "revoked_zone" => GovernanceKind::RevokedZone,
            "quarantined_principal" => GovernanceKind::QuarantinedPrincipal,
            "quarantined_zone" => GovernanceKind::QuarantinedZone,
            _ => return None,
        })
    }
}

/// The hot-path copy of the control store.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    pub tokens: HashMap<String, Caller>,
    pub principals: BTreeMap<String, PrincipalRow>,
    pub gates: BTreeMap<String, GateRow>,
    pub governance: BTreeMap<GovernanceKind, BTreeSet<String>>,
    /// When each governance state in `governance` was switched on (Unix seconds).
    pub governance_at: BTreeMap<(GovernanceKind, String), i64>,
    pub settings: BTreeMap<String, String>,
}

impl Registry {
    pub fn is(&self, kind: GovernanceKind, target: &str) -> bool {
        self.governance
            .get(&kind)
            .is_some_and(|s| s.contains(target))
    }

    /// Whether the zone is revoked or quarantined.
    pub fn zone_withdrawn(&self, zone: &str) -> bool {
        self.is(GovernanceKind::RevokedZone, zone) || self.is(GovernanceKind::QuarantinedZone, zone)
    }

    /// Why `principal` may not act now, as (reason code, message): not registered, revoked,
    /// quarantined, or registered in a zone that is revoked or quarantined. `None` when it is
    /// in good standing.
    pub fn principal_withdrawn(&self, principal: &str) -> Option<(writ_model::ReasonCode, String)> {
        let row = match self.principals.get(principal) {
            None => {
                return Some((
                    writ_model::ReasonCode::PrincipalUnknown,
                    format!("{principal} is not registered"),
                ));
            }
            Some(row) => row,
        };
        if row.status != "active" || self.is(GovernanceKind::RevokedPrincipal, principal) {
            return Some((
                writ_model::ReasonCode::PrincipalRevoked,
                format!("{principal} is revoked"),
            ));
        }
        if self.is(GovernanceKind::QuarantinedPrincipal, principal) {
            return Some((
                writ_model::ReasonCode::PrincipalQuarantined,
                format!("{principal} is quarantined"),
            ));
        }
        if self.zone_withdrawn(&row.zone) {
            return Some((
                writ_model::ReasonCode::ZoneQuarantined,
                format!(
                    "{principal} is registered in zone {}, which is revoked or quarantined",
                    row.zone
                ),
            ));
        }
        None
    }

    /// The registration policies see of `principal` when it is in good standing; otherwise why
    /// it may not act (see [`Registry::principal_withdrawn`]), or, for a registration policies
    /// could not be given (a stored zone that is no zone id), `principal_registration_invalid`:
    /// deciding without it would walk around policies on its zone and attributes.
    pub fn standing(
        &self,
        principal: &str,
    ) -> Result<writ_model::PrincipalEntity, (writ_model::ReasonCode, String)> {
        if let Some(refusal) = self.principal_withdrawn(principal) {
            return Err(refusal);
        }
        self.principals
            .get(principal)
            .and_then(PrincipalRow::entity)
            .ok_or_else(|| {
                (
                    REGISTRATION_INVALID,
                    format!(
                        "{principal}'s registered zone is not a zone id: register it again with `writ principal add {principal} --zone ZONE`"
                    ),
                )
            })
    }

    /// Principals registered in `zone`, sorted.
    pub fn principals_in_zone(&self, zone: &str) -> Vec<String> {
        self.principals
            .values()
            .filter(|p| p.zone == zone)
            .map(|p| p.id.clone())
            .collect()
    }

    /// Why an action taken on behalf of `chain` (the `act` chain, RFC 8693 style) may not go
    /// ahead: a principal in it that is registered and may not act now, or that is revoked or
    /// quarantined by name. Revoking a person stops what agents do in their name, at the
    /// control plane as at the gates. A principal in the chain that is not registered is left
    /// to policy (`context` names the chain).
    pub fn chain_withdrawn(
        &self,
        chain: Option<&writ_model::Actor>,
    ) -> Option<(writ_model::ReasonCode, String)> {
        let chain = chain?;
        for p in chain.chain() {
            let p = &p.to_string();
            let refusal = if self.principals.contains_key(p) {
                self.principal_withdrawn(p)
            } else if self.is(GovernanceKind::RevokedPrincipal, p) {
                Some((
                    writ_model::ReasonCode::PrincipalRevoked,
                    format!("{p} is revoked"),
                ))
            } else if self.is(GovernanceKind::QuarantinedPrincipal, p) {
                Some((
                    writ_model::ReasonCode::PrincipalQuarantined,
                    format!("{p} is quarantined"),
                ))
            } else {
                None
            };
            if let Some((code, why)) = refusal {
                return Some((code, format!("the action is taken on behalf of {p}: {why}")));
            }
        }
        None
    }

    /// Every registered principal that may not act now (see
    /// [`Registry::principal_withdrawn`]) and every one revoked or quarantined by name, sorted:
    /// what gates must refuse.
    pub fn withdrawn_principals(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = self
            .principals
            .keys()
            .filter(|p| self.principal_withdrawn(p).is_some())
            .cloned()
            .collect();
        for kind in [
            GovernanceKind::RevokedPrincipal,
            GovernanceKind::QuarantinedPrincipal,
        ] {
            out.extend(self.governance.get(&kind).into_iter().flatten().cloned());
        }
        out
    }
}

/// The refusal code of a principal whose stored registration policies cannot be given.
pub const REGISTRATION_INVALID: writ_model::ReasonCode =
    writ_model::ReasonCode::PrincipalRegistrationInvalid;

/// The control store's schema version (`PRAGMA user_version`). Version 1 is the first
/// recorded; [`migrate`] brings a store of version 0 (made before versions were recorded) to it.
pub const SCHEMA_VERSION: i64 = 1;

/// One change to the control store. A backend commits it in one transaction; only then is it
/// applied to the registry ([`ControlWrite::apply_to`], the same for every backend).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlWrite {
    /// A new token (its hash) for `caller`.
    AddToken {
        hash: String,
        caller: Caller,
        now: i64,
    },
    /// Every token of `subject` is revoked.
    RevokeTokensOf {
        subject: String,
    },
    UpsertPrincipal(PrincipalRow),
    UpsertGate(GateRow),
    /// Governance state switched on (`on = true`, at `now`) or off for `target`.
    SetGovernance {
        kind: GovernanceKind,
        target: String,
        on: bool,
        now: i64,
    },
    SetSetting {
        key: String,
        value: String,
    },
}

impl ControlWrite {
    /// What the committed write changes in the registry.
    pub fn apply_to(&self, r: &mut Registry) {
        match self {
            ControlWrite::AddToken { hash, caller, .. } => {
                r.tokens.insert(hash.clone(), caller.clone());
            }
            ControlWrite::RevokeTokensOf { subject } => {
                r.tokens.retain(|_, c| &c.subject != subject);
            }
            ControlWrite::UpsertPrincipal(row) => {
                r.principals.insert(row.id.clone(), row.clone());
            }
            ControlWrite::UpsertGate(row) => {
                r.gates.insert(row.id.clone(), row.clone());
            }
            ControlWrite::SetGovernance {
                kind,
                target,
                on,
                now,
            } => {
                let set = r.governance.entry(*kind).or_default();
                if *on {
                    set.insert(target.clone());
                    r.governance_at.insert((*kind, target.clone()), *now);
                } else {
                    set.remove(target);
                    r.governance_at.remove(&(*kind, target.clone()));
                }
            }
            ControlWrite::SetSetting { key, value } => {
                r.settings.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Where the control store keeps its rows: SQLite in the data directory, or PostgreSQL
/// ([`crate::store::pg`]). No SQL outside the backends.
pub(crate) trait ControlBackend: Send {
    /// Commits `write` in one transaction. Returns the store's new version when the backend
    /// keeps one (PostgreSQL), `None` otherwise.
    fn commit(&mut self, write: &ControlWrite) -> Result<Option<i64>, ServerError>;
}

/// The SQLite backend: the control store of a single node, beside its ledger.
struct SqliteBackend {
    conn: Connection,
}

impl ControlBackend for SqliteBackend {
    fn commit(&mut self, write: &ControlWrite) -> Result<Option<i64>, ServerError> {
        let tx = self.conn.transaction()?;
        match write {
            ControlWrite::AddToken { hash, caller, now } => tx.execute(
                "INSERT INTO tokens (hash, scope, subject, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![hash, caller.scope.as_str(), caller.subject, now],
            ),
            ControlWrite::RevokeTokensOf { subject } => tx.execute(
                "UPDATE tokens SET revoked = 1 WHERE subject = ?1",
                params![subject],
            ),
            ControlWrite::UpsertPrincipal(row) => tx.execute(
                "INSERT INTO principals (id, zone, attrs, status, created_at, role) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(id) DO UPDATE SET zone = excluded.zone, attrs = excluded.attrs, status = excluded.status, role = excluded.role",
                params![
                    row.id,
                    row.zone,
                    row.attrs.to_string(),
                    row.status,
                    row.created_at,
                    row.role.map(Role::as_str)
                ],
            ),
            ControlWrite::UpsertGate(row) => tx.execute(
                "INSERT INTO gates (id, zone, public_key, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(id) DO UPDATE SET zone = excluded.zone, public_key = excluded.public_key",
                params![row.id, row.zone, row.public_key, row.created_at],
            ),
            ControlWrite::SetGovernance {
                kind,
                target,
                on: true,
                now,
            } => tx.execute(
                "INSERT OR REPLACE INTO governance (kind, target, at) VALUES (?1, ?2, ?3)",
                params![kind.as_str(), target, now],
            ),
            ControlWrite::SetGovernance {
                kind,
                target,
                on: false,
                ..
            } => tx.execute(
                "DELETE FROM governance WHERE kind = ?1 AND target = ?2",
                params![kind.as_str(), target],
            ),
            ControlWrite::SetSetting { key, value } => tx.execute(
                "INSERT OR REPLACE INTO settings (key, value) VALUES (?1, ?2)",
                params![key, value],
            ),
        }?;
        tx.commit()?;
        Ok(None)
    }
}

/// How a node's copy of a shared (PostgreSQL) control store keeps up with the other nodes:
/// for `/readyz` and `writ status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SyncState {
    /// The store version this node's registry reflects.
    pub version: i64,
    /// When this node last read the database successfully (Unix milliseconds): at open, on
    /// each of its own writes and on each poll of the watcher.
    pub last_ok_unix_ms: i64,
    /// The most recent database failure (kept after recovery: compare `last_ok_unix_ms`).
    /// Never contains the database password.
    pub last_error: Option<String>,
}

/// What the watcher calls after it swapped in a registry reloaded from the database: the
/// registry before and after (see [`crate::state::fleet::governance_changes`]).
pub type OnChange = Box<dyn Fn(&Registry, &Registry) + Send + Sync>;

/// The registry and the store version it reflects (0 for SQLite, which keeps none).
pub(crate) struct Current {
    pub(crate) registry: Registry,
    pub(crate) version: i64,
}

/// What the store shares with its watcher thread (which holds it weakly, so the thread ends
/// when the store is dropped).
pub(crate) struct Shared {
    /// Held from a write's commit until the registry has it, and by the watcher while it
    /// swaps a reloaded registry in: a reload never sees a write of this store half done
    /// (committed, not yet applied), so no write comes back to its own store as a change.
    backend: Mutex<Box<dyn ControlBackend>>,
    pub(crate) current: RwLock<Current>,
    /// `Some` for a PostgreSQL store.
    pub(crate) sync: Option<Mutex<SyncState>>,
}

impl Shared {
    pub(crate) fn sync_ok(&self, version: i64) {
        if let Some(sync) = &self.sync {
            let mut s = sync.lock().unwrap_or_else(|p| p.into_inner());
            s.version = s.version.max(version);
            s.last_ok_unix_ms = now_unix_ms();
        }
    }

    pub(crate) fn sync_failed(&self, error: String) {
        if let Some(sync) = &self.sync {
            sync.lock().unwrap_or_else(|p| p.into_inner()).last_error = Some(error);
        }
    }

    /// Swaps in `registry`, read from the database at `version`, unless the registry already
    /// reflects that version or a later one. Returns the registry it replaced.
    pub(crate) fn swap_in(&self, registry: Registry, version: i64) -> Option<Registry> {
        let _writes = self.backend.lock().unwrap_or_else(|p| p.into_inner());
        let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
        if version <= cur.version {
            return None;
        }
        cur.version = version;
        Some(std::mem::replace(&mut cur.registry, registry))
    }
}

pub(crate) fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The control store (SQLite or PostgreSQL) with its in-memory registry.
pub struct ControlStore {
    shared: Arc<Shared>,
    /// Where a PostgreSQL store lives, for its watcher: (url, schema).
    pg: Option<(String, String)>,
    watching: std::sync::atomic::AtomicBool,
    /// PostgreSQL: the role of the one node that runs the lease sweep.
    sweeper: Option<crate::store::pg::FleetRole>,
}

impl std::fmt::Debug for ControlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlStore")
            .field("schema", &self.pg.as_ref().map(|(_, s)| s))
            .finish_non_exhaustive()
    }
}

impl ControlStore {
    /// Opens (creating if needed) the control store at `path`.
    pub fn open(path: &Path) -> Result<Self, ServerError> {
        // Token hashes, settings and governance state: the owner's only (0600 before SQLite
        // opens it, so the -wal and -shm files it creates are 0600 too).
        writ_ledger::owner_only::prepare_sqlite(path)?;
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        let found = writ_ledger::schema_version::refuse_newer(&conn, path, SCHEMA_VERSION)?;
        conn.execute_batch(SCHEMA)?;
        migrate(&conn)?;
        if found < SCHEMA_VERSION {
            writ_ledger::schema_version::record(&conn, SCHEMA_VERSION)?;
        }
        let registry = load_registry(&conn)?;
        Ok(Self::with_backend(
            Box::new(SqliteBackend { conn }),
            registry,
            0,
            None,
        ))
    }

    /// Opens the control store in PostgreSQL (`url`, a `postgres://` URL or key=value string;
    /// its password never appears in an error), in `schema` (see
    /// [`crate::store::pg::DEFAULT_SCHEMA`]). With `create` the schema is created or migrated;
    /// without, a missing schema is an error saying how to create it.
    pub fn open_pg(url: &str, schema: &str, create: bool) -> Result<ControlStore, ServerError> {
        let (backend, registry, version) = crate::store::pg::PgBackend::open(url, schema, create)?;
        Ok(Self::with_backend(
            Box::new(backend),
            registry,
            version,
            Some((url.to_owned(), schema.to_owned())),
        ))
    }

    fn with_backend(
        backend: Box<dyn ControlBackend>,
        registry: Registry,
        version: i64,
        pg: Option<(String, String)>,
    ) -> Self {
        let sync = pg.as_ref().map(|_| {
            Mutex::new(SyncState {
                version,
                last_ok_unix_ms: now_unix_ms(),
                last_error: None,
            })
        });
        Self {
            shared: Arc::new(Shared {
                backend: Mutex::new(backend),
                current: RwLock::new(Current { registry, version }),
                sync,
            }),
            sweeper: pg
                .as_ref()
                .map(|(url, schema)| crate::store::pg::FleetRole::new(url, schema, "lease sweep")),
            pg,
            watching: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether this node runs the lease sweep now: always on SQLite (one node); on PostgreSQL
    /// only the one node holding the sweep's role, so an expired lease is ended once, not once
    /// per node (blocks for a database round trip: call it off the async runtime).
    pub fn lease_sweeper(&self) -> bool {
        self.sweeper
            .as_ref()
            .is_none_or(crate::store::pg::FleetRole::held)
    }

    /// Whether this node ran the lease sweep at its last turn (`None` on SQLite).
    pub fn lease_sweeper_last(&self) -> Option<bool> {
        self.sweeper
            .as_ref()
            .map(crate::store::pg::FleetRole::last_held)
    }

    /// Follows the changes other nodes make to a PostgreSQL store: a thread LISTENs for them
    /// and polls the store's version (so a lost notification costs at most a poll), reloads
    /// the whole registry when the version moved past this store's, swaps it in and calls
    /// `on_change(old, new)`. The thread ends when the store is dropped, so `on_change` must
    /// not keep the store alive (hold a `Weak` of what owns it). A no-op for SQLite. Refused
    /// when already watching.
    pub fn watch(&self, on_change: OnChange) -> Result<(), ServerError> {
        let Some((url, schema)) = &self.pg else {
            return Ok(());
        };
        if self
            .watching
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return Err(ServerError::Config(
                "the control store is already watched".into(),
            ));
        }
        crate::store::pg::spawn_watcher(
            url.clone(),
            schema.clone(),
            Arc::downgrade(&self.shared),
            on_change,
        )
        .map_err(ServerError::Io)
    }

    /// When this node last read a shared (PostgreSQL) store, in Unix milliseconds, without
    /// copying the rest of [`SyncState`] (for the authorize path); `None` for SQLite.
    pub fn last_read_unix_ms(&self) -> Option<i64> {
        self.shared
            .sync
            .as_ref()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).last_ok_unix_ms)
    }

    /// How this node keeps up with a shared (PostgreSQL) store; `None` for SQLite.
    pub fn sync_state(&self) -> Option<SyncState> {
        self.shared
            .sync
            .as_ref()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// Runs `f` with a read view of the registry.
    pub fn read<R>(&self, f: impl FnOnce(&Registry) -> R) -> R {
        match self.shared.current.read() {
            Ok(c) => f(&c.registry),
            Err(poisoned) => f(&poisoned.into_inner().registry),
        }
    }

    /// Commits `write` through the backend, then applies it to the registry (only if it
    /// committed). A write of this store does not make its watcher reload: the version it
    /// committed becomes the registry's when it directly follows it; when other nodes wrote in
    /// between, the registry keeps its version and the watcher reloads it all.
    pub fn apply(&self, write: &ControlWrite) -> Result<(), ServerError> {
        let mut backend = self
            .shared
            .backend
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let version = match backend.commit(write) {
            Ok(v) => v,
            Err(e) => {
                self.shared.sync_failed(e.to_string());
                return Err(e);
            }
        };
        let mut cur = self
            .shared
            .current
            .write()
            .unwrap_or_else(|p| p.into_inner());
        match version {
            None => write.apply_to(&mut cur.registry),
            // A registry reloaded at `v` or later already holds this write.
            Some(v) if v <= cur.version => {}
            Some(v) => {
                write.apply_to(&mut cur.registry);
                if v == cur.version + 1 {
                    cur.version = v;
                }
            }
        }
        let reflected = cur.version;
        drop(cur);
        if version.is_some() {
            self.shared.sync_ok(reflected);
        }
        Ok(())
    }

    pub fn caller_for_token_hash(&self, hash: &str) -> Option<Caller> {
        self.read(|r| r.tokens.get(hash).cloned())
    }

    pub fn add_token(&self, hash: &str, caller: &Caller, now: i64) -> Result<(), ServerError> {
        self.apply(&ControlWrite::AddToken {
            hash: hash.to_owned(),
            caller: caller.clone(),
            now,
        })
    }

    /// Revokes every token of `subject`.
    pub fn revoke_tokens_of(&self, subject: &str) -> Result<(), ServerError> {
        self.apply(&ControlWrite::RevokeTokensOf {
            subject: subject.to_owned(),
        })
    }

    pub fn upsert_principal(&self, row: &PrincipalRow) -> Result<(), ServerError> {
        self.apply(&ControlWrite::UpsertPrincipal(row.clone()))
    }

    pub fn upsert_gate(&self, row: &GateRow) -> Result<(), ServerError> {
        self.apply(&ControlWrite::UpsertGate(row.clone()))
    }

    /// Switches governance state on (`on = true`) or off for `target`.
    pub fn set_governance(
        &self,
        kind: GovernanceKind,
        target: &str,
        on: bool,
        now: i64,
    ) -> Result<(), ServerError> {
        self.apply(&ControlWrite::SetGovernance {
            kind,
            target: target.to_owned(),
            on,
            now,
        })
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), ServerError> {
        self.apply(&ControlWrite::SetSetting {
            key: key.to_owned(),
            value: value.to_owned(),
        })
    }

    pub fn setting(&self, key: &str) -> Option<String> {
        self.read(|r| r.settings.get(key).cloned())
    }
}

/// Brings a control store made by an earlier version up to this one's schema.
fn migrate(conn: &Connection) -> Result<(), ServerError> {
    let has_role = conn
        .prepare("SELECT 1 FROM pragma_table_info('principals') WHERE name = 'role'")?
        .exists([])?;
    if !has_role {
        conn.execute_batch("ALTER TABLE principals ADD COLUMN role TEXT")?;
    }
    Ok(())
}

/// The caller a stored token grants; a row with an unknown scope grants nothing.
pub(crate) fn token_caller(scope: &str, subject: String) -> Option<Caller> {
    scope
        .parse::<Scope>()
        .ok()
        .map(|scope| Caller { scope, subject })
}

/// A principal row from its stored columns.
pub(crate) fn principal_row(
    id: String,
    zone: String,
    attrs: &str,
    status: String,
    created_at: i64,
    role: Option<&str>,
) -> PrincipalRow {
    PrincipalRow {
        id,
        zone,
        attrs: serde_json::from_str(attrs).unwrap_or(serde_json::Value::Null),
        status,
        created_at,
        // An unknown role grants nothing.
        role: role.and_then(Role::parse),
    }
}

/// Adds a stored governance row to `reg` (a row of an unknown kind is ignored).
pub(crate) fn add_governance(reg: &mut Registry, kind: &str, target: String, at: i64) {
    if let Some(kind) = GovernanceKind::parse(kind) {
        reg.governance_at.insert((kind, target.clone()), at);
        reg.governance.entry(kind).or_default().insert(target);
    }
}

fn load_registry(conn: &Connection) -> Result<Registry, ServerError> {
    let mut reg = Registry::default();
    let mut stmt = conn.prepare("SELECT hash, scope, subject FROM tokens WHERE revoked = 0")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    for row in rows {
        let (hash, scope, subject) = row?;
        if let Some(caller) = token_caller(&scope, subject) {
            reg.tokens.insert(hash, caller);
        }
    }
    let mut stmt =
        conn.prepare("SELECT id, zone, attrs, status, created_at, role FROM principals")?;
    let rows = stmt.query_map([], |r| {
        Ok(principal_row(
            r.get(0)?,
            r.get(1)?,
            &r.get::<_, String>(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get::<_, Option<String>>(5)?.as_deref(),
        ))
    })?;
    for row in rows {
        let row = row?;
        reg.principals.insert(row.id.clone(), row);
    }
    let mut stmt = conn.prepare("SELECT id, zone, public_key, created_at FROM gates")?;
    let rows = stmt.query_map([], |r| {
        Ok(GateRow {
            id: r.get(0)?,
            zone: r.get(1)?,
            public_key: r.get(2)?,
            created_at: r.get(3)?,
        })
    })?;
    for row in rows {
        let row = row?;
        reg.gates.insert(row.id.clone(), row);
    }
    let mut stmt = conn.prepare("SELECT kind, target, at FROM governance")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (kind, target, at) = row?;
        add_governance(&mut reg, &kind, target, at);
    }
    let mut stmt = conn.prepare("SELECT key, value FROM settings")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (k, v) = row?;
        reg.settings.insert(k, v);
    }
    Ok(reg)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A registration policies could not be given was left out of the request, so a policy on
    // principal.zone or its attributes (a forbid, say) was walked around.
    #[test]
    fn standing_refuses_a_registration_policies_cannot_be_given() {
        let mut reg = Registry::default();
        let row = |id: &str, zone: &str| PrincipalRow {
            id: id.into(),
            zone: zone.into(),
            attrs: serde_json::json!({"owner": "human:bob"}),
            status: "active".into(),
            created_at: 0,
            role: None,
        };
        reg.principals
            .insert("agent:a".into(), row("agent:a", "prod"));
        reg.principals
            .insert("agent:b".into(), row("agent:b", "not a zone"));
        let a = reg.standing("agent:a").unwrap();
        assert_eq!(a.zone.as_str(), "prod");
        assert_eq!(a.attrs["owner"], "human:bob");
        assert_eq!(reg.standing("agent:b").unwrap_err().0, REGISTRATION_INVALID);
        assert_eq!(
            reg.standing("agent:c").unwrap_err().0,
            writ_model::ReasonCode::PrincipalUnknown
        );
        reg.governance
            .entry(GovernanceKind::QuarantinedZone)
            .or_default()
            .insert("prod".into());
        assert_eq!(
            reg.standing("agent:a").unwrap_err().0,
            writ_model::ReasonCode::ZoneQuarantined
        );
    }

    #[test]
    fn state_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.db");
        {
            let s = ControlStore::open(&path).unwrap();
            let caller = Caller {
                scope: Scope::Principal,
                subject: "agent:a".into(),
            };
            s.add_token("h1", &caller, 1).unwrap();
            s.upsert_gate(&GateRow {
                id: "gate:g".into(),
                zone: "dev".into(),
                public_key: "k".into(),
                created_at: 1,
            })
            .unwrap();
            s.set_governance(GovernanceKind::RevokedPrincipal, "agent:b", true, 2)
                .unwrap();
            s.set_setting("kill_switch", "on").unwrap();
        }
        let s = ControlStore::open(&path).unwrap();
        assert_eq!(s.caller_for_token_hash("h1").unwrap().subject, "agent:a");
        assert!(s.read(|r| r.gates.contains_key("gate:g")));
        assert!(s.read(|r| r.is(GovernanceKind::RevokedPrincipal, "agent:b")));
        assert_eq!(s.setting("kill_switch").as_deref(), Some("on"));
        s.revoke_tokens_of("agent:a").unwrap();
        drop(s);
        let s = ControlStore::open(&path).unwrap();
        assert!(s.caller_for_token_hash("h1").is_none());
    }
}
