//! The control store in PostgreSQL: what many nodes share (crate `postgres`, the synchronous
//! client, as the ledger's `writ_ledger::pg`).
//!
//! - Tables live in one schema ([`DEFAULT_SCHEMA`] unless told otherwise), created and migrated
//!   under an advisory lock, so concurrent openers never race the DDL; the schema's version is
//!   a row of `schema_version`, and a store newer than this build is refused.
//! - Every write bumps the single-row `control_version` counter in its own transaction and
//!   sends `NOTIFY writ_control` (payload: the new version) when it commits. Each node's
//!   watcher LISTENs, and polls the version too (a lost notification costs at most a poll);
//!   when the version moved past the node's, it reloads the whole registry in one REPEATABLE
//!   READ transaction and swaps it in.
//! - Commits return once PostgreSQL made them durable (`synchronous_commit` is forced `on`).
//! - The URL's password never appears in an error: every database message is redacted.

use std::sync::{Mutex, Weak};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, IsolationLevel, NoTls};

use crate::error::ServerError;
use crate::store::{
    ControlBackend, ControlWrite, GateRow, OnChange, Registry, Role, Shared, add_governance,
    principal_row, token_caller,
};

/// The schema version this build writes.
pub const PG_SCHEMA_VERSION: i32 = 1;

/// The default schema of the control store's tables.
pub const DEFAULT_SCHEMA: &str = "writ_control";

/// The channel every write notifies (payload: the store's new version).
pub const NOTIFY_CHANNEL: &str = "writ_control";

/// The advisory lock key that serializes schema creation and migration.
const MIGRATION_LOCK: i64 = 0x5752_4954_4354_524C; // "WRITCTRL"

/// How long the watcher waits for a notification before it polls the version anyway.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// How long the watcher sleeps after a database failure before it tries again.
const RETRY_AFTER: Duration = Duration::from_millis(100);

/// How long a connection attempt may take when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long sent data may stay unacknowledged before the connection is dropped, when the
/// URL does not say.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(10);

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    subject TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX IF NOT EXISTS tokens_subject ON tokens (subject);
CREATE TABLE IF NOT EXISTS principals (
    id TEXT PRIMARY KEY,
    zone TEXT NOT NULL,
    attrs TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    role TEXT
);
CREATE TABLE IF NOT EXISTS gates (
    id TEXT PRIMARY KEY,
    zone TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS governance (
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (kind, target)
);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS control_version (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    version BIGINT NOT NULL
);
INSERT INTO control_version (one, version) VALUES (TRUE, 0) ON CONFLICT DO NOTHING;
";

/// True for a schema name made of lowercase ASCII letters, digits and `_` (starting with a
/// letter), at most 63 bytes: it is spliced into SQL, so nothing else is accepted.
pub fn valid_schema_name(name: &str) -> bool {
    writ_ledger::pg::valid_schema_name(name)
}

/// A database failure as a server error: its text with its causes', redacted.
fn db_err(url: &str, e: impl std::error::Error) -> ServerError {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    ServerError::Config(format!(
        "control store database: {}; check the database and its URL",
        crate::config::redact(&text, url)
    ))
}

/// A stored column of an unexpected type: a damaged store, never a panic.
fn col<'a, T: postgres::types::FromSql<'a>>(
    row: &'a postgres::Row,
    i: usize,
) -> Result<T, ServerError> {
    row.try_get(i).map_err(|e| {
        ServerError::Config(format!(
            "control store database: a stored column is malformed: {e}"
        ))
    })
}

/// A new connection to `url` for the store in `schema` (durable commits; the schema on the
/// search path with `on_path`). Unless the URL names one, the connection's `application_name`
/// is `writ_control/SCHEMA`, so an operator sees the control store's sessions in
/// `pg_stat_activity`.
fn connect(url: &str, schema: &str, on_path: bool) -> Result<Client, ServerError> {
    let mut config: postgres::Config = url.parse().map_err(|e| db_err(url, e))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_tcp_user_timeout().is_none() {
        // A query sent into a network that went silent fails after this, rather than after
        // the kernel's retransmissions (many minutes): the node notices and reconnects.
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name(&format!("writ_control/{schema}"));
    }
    let mut client = config.connect(NoTls).map_err(|e| db_err(url, e))?;
    let mut setup = "SET synchronous_commit = on".to_owned();
    if on_path {
        setup.push_str(&format!("; SET search_path TO {schema}"));
    }
    client.batch_execute(&setup).map_err(|e| db_err(url, e))?;
    Ok(client)
}

fn check_schema_name(schema: &str) -> Result<(), ServerError> {
    if valid_schema_name(schema) {
        Ok(())
    } else {
        Err(ServerError::Config(format!(
            "control store schema name {schema:?} is not lowercase letters, digits and _"
        )))
    }
}

/// Creates or migrates the schema (with `create`), or checks it exists and is not newer.
/// Returns the schema's version afterwards.
fn migrate(client: &mut Client, url: &str, schema: &str, create: bool) -> Result<i32, ServerError> {
    let e = |e: postgres::Error| db_err(url, e);
    let mut tx = client.transaction().map_err(e)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(e)?;
    let exists = tx
        .query_opt(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'schema_version'",
            &[&schema],
        )
        .map_err(e)?
        .is_some();
    let found: i32 = if exists {
        match tx
            .query_opt(&format!("SELECT version FROM {schema}.schema_version"), &[])
            .map_err(e)?
        {
            Some(r) => col(&r, 0)?,
            None => 0,
        }
    } else {
        0
    };
    if found > PG_SCHEMA_VERSION {
        return Err(ServerError::Schema(writ_ledger::SchemaError::Newer {
            path: format!("the control store (postgres schema {schema})"),
            found: i64::from(found),
            supported: i64::from(PG_SCHEMA_VERSION),
        }));
    }
    if found == 0 && !create {
        return Err(ServerError::Config(format!(
            "the database holds no control store (postgres schema {schema}): create it with `writ serve --init --database …` on the first node, or `writ migrate`"
        )));
    }
    if found < PG_SCHEMA_VERSION {
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}; SET LOCAL search_path TO {schema};
             CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
             {SCHEMA_V1}
             DELETE FROM schema_version; INSERT INTO schema_version VALUES ({PG_SCHEMA_VERSION});"
        ))
        .map_err(e)?;
    }
    tx.commit().map_err(e)?;
    Ok(found.max(PG_SCHEMA_VERSION))
}

/// Creates or migrates the control store's schema in the database at `url` (what `writ
/// migrate` runs); returns the schema version it is at.
pub fn migrate_pg(url: &str, schema: &str) -> Result<u32, ServerError> {
    check_schema_name(schema)?;
    let mut client = connect(url, schema, false)?;
    let v = migrate(&mut client, url, schema, true)?;
    Ok(u32::try_from(v).unwrap_or(0))
}

/// Drops the control store's schema and everything in it (tests use a schema each).
pub fn drop_schema(url: &str, schema: &str) -> Result<(), ServerError> {
    check_schema_name(schema)?;
    let mut client = connect(url, schema, false)?;
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .map_err(|e| db_err(url, e))
}

/// The store's version now.
fn read_version(client: &mut Client, url: &str) -> Result<i64, ServerError> {
    let row = client
        .query_one("SELECT version FROM control_version", &[])
        .map_err(|e| db_err(url, e))?;
    col(&row, 0)
}

/// The whole registry and the version it is at, read in one REPEATABLE READ transaction.
fn load_registry(client: &mut Client, url: &str) -> Result<(Registry, i64), ServerError> {
    let e = |e: postgres::Error| db_err(url, e);
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(e)?;
    let mut reg = Registry::default();
    let version: i64 = col(
        &tx.query_one("SELECT version FROM control_version", &[])
            .map_err(e)?,
        0,
    )?;
    for r in tx
        .query(
            "SELECT hash, scope, subject FROM tokens WHERE NOT revoked",
            &[],
        )
        .map_err(e)?
    {
        let scope: String = col(&r, 1)?;
        if let Some(caller) = token_caller(&scope, col(&r, 2)?) {
            reg.tokens.insert(col(&r, 0)?, caller);
        }
    }
    for r in tx
        .query(
            "SELECT id, zone, attrs, status, created_at, role FROM principals",
            &[],
        )
        .map_err(e)?
    {
        let attrs: String = col(&r, 2)?;
        let role: Option<String> = col(&r, 5)?;
        let row = principal_row(
            col(&r, 0)?,
            col(&r, 1)?,
            &attrs,
            col(&r, 3)?,
            col(&r, 4)?,
            role.as_deref(),
        );
        reg.principals.insert(row.id.clone(), row);
    }
    for r in tx
        .query("SELECT id, zone, public_key, created_at FROM gates", &[])
        .map_err(e)?
    {
        let row = GateRow {
            id: col(&r, 0)?,
            zone: col(&r, 1)?,
            public_key: col(&r, 2)?,
            created_at: col(&r, 3)?,
        };
        reg.gates.insert(row.id.clone(), row);
    }
    for r in tx
        .query("SELECT kind, target, at FROM governance", &[])
        .map_err(e)?
    {
        let kind: String = col(&r, 0)?;
        add_governance(&mut reg, &kind, col(&r, 1)?, col(&r, 2)?);
    }
    for r in tx
        .query("SELECT key, value FROM settings", &[])
        .map_err(e)?
    {
        reg.settings.insert(col(&r, 0)?, col(&r, 1)?);
    }
    tx.commit().map_err(e)?;
    Ok((reg, version))
}

/// The PostgreSQL backend of a [`crate::store::ControlStore`].
pub(crate) struct PgBackend {
    client: Client,
    schema: String,
    /// Kept to reconnect after the server closed the connection (never printed).
    url: String,
}

impl PgBackend {
    /// Connects, creates or checks the schema, and loads the registry with its version.
    pub(crate) fn open(
        url: &str,
        schema: &str,
        create: bool,
    ) -> Result<(PgBackend, Registry, i64), ServerError> {
        check_schema_name(schema)?;
        let mut client = connect(url, schema, false)?;
        migrate(&mut client, url, schema, create)?;
        client
            .batch_execute(&format!("SET search_path TO {schema}"))
            .map_err(|e| db_err(url, e))?;
        let (registry, version) = load_registry(&mut client, url)?;
        Ok((
            PgBackend {
                client,
                schema: schema.to_owned(),
                url: url.to_owned(),
            },
            registry,
            version,
        ))
    }

    /// The connection, made anew when the server closed the old one (a restart, a terminated
    /// backend): the write that met the closed connection failed, the next one reconnects.
    fn conn(&mut self) -> Result<&mut Client, ServerError> {
        if self.client.is_closed() {
            self.client = connect(&self.url, &self.schema, true)?;
        }
        Ok(&mut self.client)
    }
}

impl ControlBackend for PgBackend {
    fn commit(&mut self, write: &ControlWrite) -> Result<Option<i64>, ServerError> {
        // Called from request handlers, on threads that drive the async runtime, where the
        // synchronous client would panic: the transaction runs on a thread of its own.
        writ_ledger::off_runtime::off_runtime(|| self.commit_here(write)).unwrap_or_else(|e| {
            Err(ServerError::Config(format!(
                "control store database: no thread to write with: {e}"
            )))
        })
    }
}

impl PgBackend {
    fn commit_here(&mut self, write: &ControlWrite) -> Result<Option<i64>, ServerError> {
        let url = self.url.clone();
        let e = |e: postgres::Error| db_err(&url, e);
        let mut tx = self.conn()?.transaction().map_err(e)?;
        match write {
            ControlWrite::AddToken { hash, caller, now } => tx.execute(
                "INSERT INTO tokens (hash, scope, subject, created_at) VALUES ($1, $2, $3, $4)",
                &[hash, &caller.scope.as_str(), &caller.subject, now],
            ),
            ControlWrite::RevokeTokensOf { subject } => tx.execute(
                "UPDATE tokens SET revoked = TRUE WHERE subject = $1",
                &[subject],
            ),
            ControlWrite::UpsertPrincipal(row) => tx.execute(
                "INSERT INTO principals (id, zone, attrs, status, created_at, role) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (id) DO UPDATE SET zone = excluded.zone, attrs = excluded.attrs, status = excluded.status, role = excluded.role",
                &[
                    &row.id,
                    &row.zone,
                    &row.attrs.to_string(),
                    &row.status,
                    &row.created_at,
                    &row.role.map(Role::as_str),
                ],
            ),
            ControlWrite::UpsertGate(row) => tx.execute(
                "INSERT INTO gates (id, zone, public_key, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET zone = excluded.zone, public_key = excluded.public_key",
                &[&row.id, &row.zone, &row.public_key, &row.created_at],
            ),
            ControlWrite::SetGovernance {
                kind,
                target,
                on: true,
                now,
            } => tx.execute(
                "INSERT INTO governance (kind, target, at) VALUES ($1, $2, $3)
                 ON CONFLICT (kind, target) DO UPDATE SET at = excluded.at",
                &[&kind.as_str(), target, now],
            ),
            ControlWrite::SetGovernance {
                kind,
                target,
                on: false,
                ..
            } => tx.execute(
                "DELETE FROM governance WHERE kind = $1 AND target = $2",
                &[&kind.as_str(), target],
            ),
            ControlWrite::SetSetting { key, value } => tx.execute(
                "INSERT INTO settings (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[key, value],
            ),
        }
        .map_err(e)?;
        let version: i64 = col(
            &tx.query_one(
                "UPDATE control_version SET version = version + 1 RETURNING version",
                &[],
            )
            .map_err(e)?,
            0,
        )?;
        // Delivered when (and only if) the transaction commits.
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&NOTIFY_CHANNEL, &version.to_string()],
        )
        .map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(Some(version))
    }
}

/// Starts the watcher of a PostgreSQL store (see [`crate::store::ControlStore::watch`]). It
/// holds `shared` weakly and ends once the store is gone.
pub(crate) fn spawn_watcher(
    url: String,
    schema: String,
    shared: Weak<Shared>,
    on_change: OnChange,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("writ-control-watch".into())
        .spawn(move || {
            let mut client: Option<Client> = None;
            loop {
                let Some(store) = shared.upgrade() else {
                    return;
                };
                if let Err(e) = watch_step(&mut client, &url, &schema, &store, &on_change) {
                    tracing::warn!(error = %e, "control store: cannot follow the database; retrying");
                    store.sync_failed(e.to_string());
                    client = None;
                    drop(store);
                    std::thread::sleep(RETRY_AFTER);
                }
            }
        })
        .map(|_| ())
}

/// One round of the watcher: wait for a notification (at most [`POLL_INTERVAL`]), then poll
/// the version and reload when it moved.
fn watch_step(
    client: &mut Option<Client>,
    url: &str,
    schema: &str,
    store: &Shared,
    on_change: &OnChange,
) -> Result<(), ServerError> {
    let c = match client {
        Some(c) if !c.is_closed() => c,
        _ => {
            let mut c = connect(url, schema, true)?;
            c.batch_execute(&format!("LISTEN {NOTIFY_CHANNEL}"))
                .map_err(|e| db_err(url, e))?;
            client.insert(c)
        }
    };
    {
        let mut notes = c.notifications();
        // Any notification (whichever store sent it) only makes the poll come sooner.
        notes
            .timeout_iter(POLL_INTERVAL)
            .next()
            .map_err(|e| db_err(url, e))?;
        let mut pending = notes.iter();
        while pending.next().map_err(|e| db_err(url, e))?.is_some() {}
    }
    let version = read_version(c, url)?;
    let seen = store
        .current
        .read()
        .map(|cur| cur.version)
        .unwrap_or_else(|p| p.into_inner().version);
    if version > seen {
        let (registry, at) = load_registry(c, url)?;
        let new = registry.clone();
        if let Some(old) = store.swap_in(registry, at) {
            store.sync_ok(at);
            on_change(&old, &new);
            return Ok(());
        }
    }
    store.sync_ok(seen);
    Ok(())
}

/// A role one node of a fleet holds at a time (the lease sweep): a PostgreSQL session-level
/// advisory lock on a connection of its own. The lock lives as long as the session: a node
/// that dies or loses its connection loses the role, and another node takes it at its next
/// try. Whether it is held is checked with a round trip every time it is asked.
pub struct FleetRole {
    url: String,
    schema: String,
    key: i64,
    client: Mutex<Option<(Client, bool)>>,
    /// What the last [`FleetRole::held`] found.
    last: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for FleetRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetRole")
            .field("schema", &self.schema)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl FleetRole {
    /// The role `name` among the nodes whose control store is `schema` at `url`.
    pub fn new(url: &str, schema: &str, name: &str) -> FleetRole {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("writ fleet role {schema} {name}").as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
        FleetRole {
            url: url.to_owned(),
            schema: schema.to_owned(),
            key: i64::from_be_bytes(first),
            client: Mutex::new(None),
            last: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// True when this node holds the role now (taking it if free). False when another node
    /// holds it or the database cannot be reached (fail safe: the role's work is skipped).
    pub fn held(&self) -> bool {
        let mut slot = self.client.lock().unwrap_or_else(|p| p.into_inner());
        let slot: &mut Option<(Client, bool)> = &mut slot;
        let held = writ_ledger::off_runtime::off_runtime(|| self.check(slot)).unwrap_or(false);
        self.last.store(held, std::sync::atomic::Ordering::Relaxed);
        held
    }

    /// What the last [`FleetRole::held`] found, without asking the database.
    pub fn last_held(&self) -> bool {
        self.last.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn check(&self, slot: &mut Option<(Client, bool)>) -> bool {
        if slot.as_ref().is_some_and(|(c, _)| c.is_closed()) {
            *slot = None;
        }
        if slot.is_none() {
            match connect(&self.url, &self.schema, false) {
                Ok(c) => *slot = Some((c, false)),
                Err(_) => return false,
            }
        }
        let Some((client, held)) = slot.as_mut() else {
            return false;
        };
        // Held by this live session: a round trip proves the session (and so the lock) is
        // still there. Not held yet: try to take it (false while another session has it).
        let asked = if *held {
            client.query_one("SELECT TRUE", &[])
        } else {
            client.query_one("SELECT pg_try_advisory_lock($1)", &[&self.key])
        };
        match asked.and_then(|row| row.try_get::<_, bool>(0)) {
            Ok(now) => {
                *held = now;
                now
            }
            Err(_) => {
                // The session is gone or broken: so is the lock; a new one tries next time.
                *slot = None;
                false
            }
        }
    }
}
