//! The server's state, opened from a data directory, and the authorize pipeline it runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use writ_artifact::{Issuer, IssuerConfig, KeyRing, WritKey};
use writ_authorize::{ActiveBundleSlot, BundleSource, BundleVerifyingKey};
use writ_ledger::Ledger;
use writ_model::{Clock, SystemClock};

use crate::auth::{Caller, Scope, new_token, token_hash};
use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::events::EventBus;
use crate::exec::ExecIndex;
use crate::metrics::Metrics;
use crate::store::ControlStore;

pub mod fleet;

/// File names inside the data directory.
pub const LEDGER_DIR: &str = "ledger";
pub const CONTROL_DB: &str = "control.db";
/// The execution index, derived from the ledger (rebuilt from it if removed).
pub const EXEC_DB: &str = "index.db";
pub const WRIT_KEY_FILE: &str = "writ-signing.key";
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
pub const BUNDLE_TRUST_FILE: &str = "bundle-trust.txt";
/// The lock its one owner holds (`flock`) while it runs (see `writ-cli/src/data_dir.rs`).
pub const LOCK_FILE: &str = "writ.lock";
/// How long a node of a fleet may go without reading its database before it stops
/// authorizing (its watcher polls every 250 ms, so this is four missed polls).
pub const GOVERNANCE_STALE_MS: i64 = 1000;
/// Settings keys in the control store.
pub const SETTING_ACTIVE_BUNDLE: &str = "active_bundle_source";
pub const SETTING_KILL_SWITCH: &str = "kill_switch";

/// Everything a request handler needs. Shared behind an `Arc`.
pub struct AppState {
    pub config: ServerConfig,
    pub clock: Arc<dyn Clock>,
    pub ledger: Arc<Ledger>,
    pub store: ControlStore,
    pub execs: ExecIndex,
    pub bundles: ActiveBundleSlot,
    /// Public keys a bundle's signature must verify with (`writ policy trust`); changed at run
    /// time through the API, saved to `bundle-trust.txt`.
    trusted_bundle_keys: std::sync::RwLock<Vec<BundleVerifyingKey>>,
    pub issuer: Issuer,
    pub events: EventBus,
    pub metrics: Metrics,
    /// Status samples of the last hour and the ledger's last failure (the Health Dashboard).
    pub history: crate::history::History,
    /// When each gate last contacted this server (in memory, since it started).
    pub contacts: Arc<crate::contact::GateContacts>,
    /// The active bundle's visibility view, built on first use per bundle digest.
    /// Attestations whose signature already verified, with their digests (bounded).
    pub attestation_cache: crate::cache::VerifiedAttestations,
    pub visibility: std::sync::Mutex<Option<(String, Arc<writ_authorize::visibility::Visibility>)>>,
}

/// What `init_data_dir` created: the admin token is shown once.
#[derive(Debug)]
pub struct InitReport {
    pub data_dir: PathBuf,
    pub admin_token: String,
    pub admin_token_file: PathBuf,
    pub vkey: String,
}

/// Creates a fresh data directory: ledger and its key, the writ signing key, the control store
/// and a first admin token (also written to `admin.token`, mode 0600). Refuses an existing ledger.
pub fn init_data_dir(
    config: &ServerConfig,
    trusted_bundle_keys: &[String],
) -> Result<InitReport, ServerError> {
    let dir = &config.data_dir;
    writ_ledger::owner_only::create_dir(dir)?;
    let ledger = match &config.store.url {
        None => Ledger::init(&dir.join(LEDGER_DIR), &config.ledger_origin),
        Some(url) => writ_ledger::pg::init_ledger(
            &dir.join(LEDGER_DIR),
            &config.ledger_origin,
            url,
            &config.store.ledger_schema(),
        ),
    }
    .map_err(|e| match (&config.store.url, e) {
        (Some(_), writ_ledger::LedgerError::AlreadyInitialized(_)) => ServerError::Config(format!(
            "the database already holds a ledger in schema {}: this is a further node, so start it without --init, with copies of the first node's {} (see docs/fleet.md); or pick another store.schema",
            config.store.ledger_schema(),
            NODE_FILES.join(", ")
        )),
        (_, e) => ServerError::Config(format!("cannot create the ledger: {e}")),
    })?;
    let vkey = ledger.vkey();
    ledger.close();
    let key = WritKey::generate().map_err(|e| ServerError::Config(e.to_string()))?;
    key.write_file(&dir.join(WRIT_KEY_FILE))
        .map_err(|e| ServerError::Config(e.to_string()))?;
    for k in trusted_bundle_keys {
        BundleVerifyingKey::from_hex(k)
            .map_err(|e| ServerError::Config(format!("bundle trust key {k:?}: {e}")))?;
    }
    write_private(
        &dir.join(BUNDLE_TRUST_FILE),
        &trust_file_text(trusted_bundle_keys.iter().map(String::as_str)),
    )?;
    let store = open_control_store(config, true)?;
    let admin_token = new_token(Scope::Admin).map_err(|e| ServerError::Config(e.to_string()))?;
    store.add_token(
        &token_hash(&admin_token),
        &Caller {
            scope: Scope::Admin,
            subject: "admin:root".into(),
        },
        SystemClock.now_unix(),
    )?;
    let admin_token_file = dir.join(ADMIN_TOKEN_FILE);
    write_private(&admin_token_file, &format!("{admin_token}\n"))?;
    Ok(InitReport {
        data_dir: dir.clone(),
        admin_token,
        admin_token_file,
        vkey,
    })
}

/// The files every node of a fleet on PostgreSQL needs in its data directory, copied from the
/// first node's (the database never holds a private key).
pub const NODE_FILES: [&str; 3] = ["ledger/log.key", WRIT_KEY_FILE, BUNDLE_TRUST_FILE];

/// The control store of `config`: `control.db` in the data directory, or the PostgreSQL schema
/// `PREFIX_control` (created with `create`).
fn open_control_store(config: &ServerConfig, create: bool) -> Result<ControlStore, ServerError> {
    match &config.store.url {
        None => ControlStore::open(&config.data_dir.join(CONTROL_DB)),
        Some(url) => ControlStore::open_pg(url, &config.store.control_schema(), create),
    }
}

/// What `writ migrate` did: each PostgreSQL schema and the version it is at now.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Migrated {
    pub ledger_schema: String,
    pub ledger_version: i32,
    pub control_schema: String,
    pub control_version: u32,
}

/// Creates or migrates the PostgreSQL schemas of `config`'s `[store]` (the ledger's and the
/// control store's), under their advisory locks, so a node starting at the same time waits.
/// What `writ serve` does on start, run by hand.
pub fn migrate_database(config: &ServerConfig) -> Result<Migrated, ServerError> {
    let Some(url) = &config.store.url else {
        return Err(ServerError::Config(
            "no database: give --database, [store] url or WRIT_DATABASE_URL (SQLite stores migrate themselves when opened)".into(),
        ));
    };
    let ledger_schema = config.store.ledger_schema();
    drop(
        writ_ledger::pg::PgStore::open(url, &ledger_schema, true)
            .map_err(|e| ServerError::Config(format!("cannot migrate the ledger schema: {e}")))?,
    );
    let control_schema = config.store.control_schema();
    let control_version = crate::store::pg::migrate_pg(url, &control_schema)?;
    Ok(Migrated {
        ledger_schema,
        ledger_version: writ_ledger::pg::SCHEMA_VERSION,
        control_schema,
        control_version,
    })
}

/// The text of `bundle-trust.txt`: one public key (hex) per line.
fn trust_file_text<'a>(keys: impl Iterator<Item = &'a str>) -> String {
    keys.map(|k| format!("{k}\n")).collect()
}

/// Writes a secret file with mode 0600 (created that way, never widened).
pub fn write_private(path: &Path, contents: &str) -> Result<(), ServerError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(writ_ledger::owner_only::FILE_MODE);
    let mut f = opts.open(path)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

impl AppState {
    /// Opens an initialized data directory. Refuses to start on anything it cannot check.
    pub fn open(config: ServerConfig, clock: Arc<dyn Clock>) -> Result<Arc<AppState>, ServerError> {
        let dir = config.data_dir.clone();
        if !dir.join(LEDGER_DIR).exists() {
            return Err(ServerError::Config(format!(
                "{} is not a Writ data directory: run `writ serve --init` (or `writ demo`) first",
                dir.display()
            )));
        }
        // Keys, tokens and evidence: a directory made by an older release is narrowed too.
        writ_ledger::owner_only::create_dir(&dir)?;
        if config.store.url.is_some() {
            let ledger_dir = dir.join(LEDGER_DIR);
            if ledger_dir.join(writ_ledger::ledger::STORE_FILE).exists() {
                return Err(ServerError::Config(format!(
                    "{} holds a SQLite ledger, but a database is configured: a node of a fleet on PostgreSQL keeps only key files in its data directory (docs/fleet.md); start without --database to serve this one",
                    ledger_dir.display()
                )));
            }
            let missing: Vec<&str> = NODE_FILES
                .iter()
                .copied()
                .filter(|f| !dir.join(f).exists())
                .collect();
            if !missing.is_empty() {
                return Err(ServerError::Config(format!(
                    "{} lacks {} : a further node of a fleet needs copies of the first node's {} (mode 0600; see docs/fleet.md)",
                    dir.display(),
                    missing.join(", "),
                    NODE_FILES.join(", ")
                )));
            }
        }
        let ledger = match &config.store.url {
            None => Ledger::open(&dir.join(LEDGER_DIR)),
            Some(url) => writ_ledger::pg::open_ledger(
                &dir.join(LEDGER_DIR),
                url,
                &config.store.ledger_schema(),
            ),
        }
        .map_err(|e| ServerError::Config(format!("cannot open the ledger: {e}")))?;
        let key = WritKey::read_file(&dir.join(WRIT_KEY_FILE))
            .map_err(|e| ServerError::Config(e.to_string()))?;
        let ring = Arc::new(KeyRing::new(key, writ_artifact::DEFAULT_LEEWAY_SECS));
        let mut issuer_cfg = IssuerConfig::new(config.issuer.clone());
        issuer_cfg.default_lifetime_secs = i64::try_from(config.writ_lifetime_secs).unwrap_or(60);
        issuer_cfg.max_lifetime_secs = i64::try_from(config.writ_max_lifetime_secs).unwrap_or(600);
        let issuer = Issuer::new(ring, clock.clone(), issuer_cfg);
        let trust_text = std::fs::read_to_string(dir.join(BUNDLE_TRUST_FILE)).unwrap_or_default();
        let trusted_bundle_keys = trust_text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| {
                BundleVerifyingKey::from_hex(l).map_err(|e| {
                    ServerError::Config(format!("{}: {e}", dir.join(BUNDLE_TRUST_FILE).display()))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let store = open_control_store(&config, false)?;
        let bundles = ActiveBundleSlot::new();
        if let Some(saved) = store.setting(SETTING_ACTIVE_BUNDLE) {
            let source = source_from_json(&saved).map_err(|e| {
                ServerError::Config(format!("the saved active bundle is unreadable: {e}"))
            })?;
            bundles.load(&source, &trusted_bundle_keys).map_err(|e| {
                ServerError::Config(format!("the saved active bundle no longer loads: {e}"))
            })?;
        }
        let metrics = Metrics::default();
        let cp = ledger.checkpoint();
        metrics
            .ledger_size
            .store(cp.size(), std::sync::atomic::Ordering::Relaxed);
        let ledger = Arc::new(ledger);
        let index_path = dir.join(EXEC_DB);
        let execs = ExecIndex::open(&index_path, Arc::clone(&ledger)).map_err(|e| {
            ServerError::Config(format!(
                "cannot open the execution index {}: {e}; it is derived from the ledger: move it away (with its -wal and -shm files) and start again to rebuild it",
                index_path.display()
            ))
        })?;
        let contacts = Arc::new(crate::contact::GateContacts::new(clock.clone()));
        let state = Arc::new(AppState {
            config,
            clock,
            ledger,
            store,
            execs,
            bundles,
            trusted_bundle_keys: std::sync::RwLock::new(trusted_bundle_keys),
            issuer,
            events: EventBus::default(),
            metrics,
            history: crate::history::History::default(),
            contacts,
            attestation_cache: crate::cache::VerifiedAttestations::new(16_384),
            visibility: std::sync::Mutex::new(None),
        });
        if state.config.store.url.is_some() {
            // Governance changed on another node: reload, then tell this node's gates.
            let weak = Arc::downgrade(&state);
            state.store.watch(Box::new(move |old, new| {
                if let Some(s) = weak.upgrade() {
                    crate::state::fleet::apply_remote(
                        &s,
                        crate::state::fleet::governance_changes(old, new),
                    );
                }
            }))?;
            let weak = Arc::downgrade(&state);
            state.events.hold_heartbeats_while(Arc::new(move || {
                weak.upgrade()
                    .is_some_and(|s| s.governance_unsynced().is_some())
            }));
        }
        Ok(state)
    }

    /// Why this node cannot vouch that it knows the fleet's governance, if so: with a shared
    /// database, when its control store has not read the database for over
    /// [`GOVERNANCE_STALE_MS`] (a revocation made on another node might not have reached it).
    /// Authorizations are then refused (503) and the gates' feeds get no heartbeat. Always
    /// `None` on SQLite, where this node is the only writer.
    pub fn governance_unsynced(&self) -> Option<String> {
        // On every authorization: one timestamp read; the message only when stale.
        let last_read = self.store.last_read_unix_ms()?;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let age = now_ms.saturating_sub(last_read);
        if age <= GOVERNANCE_STALE_MS {
            return None;
        }
        let last_error = self.store.sync_state().and_then(|s| s.last_error);
        Some(format!(
            "this node has not reached its database for {age} ms{}, so it cannot vouch for the fleet's governance: retry (another node may answer), and check the database",
            last_error
                .map(|e| format!(" (last error: {e})"))
                .unwrap_or_default()
        ))
    }

    pub fn now(&self) -> i64 {
        self.clock.now_unix()
    }

    /// The bundle-verifying keys trusted now.
    pub fn trusted_keys(&self) -> Vec<BundleVerifyingKey> {
        self.trusted_bundle_keys
            .read()
            .map(|k| k.clone())
            .unwrap_or_default()
    }

    /// Changes the trusted keys: `change` edits the list, which is then saved (atomically, 0600)
    /// before it takes effect. Returns what `change` returned; nothing changes when it fails.
    pub fn change_trust<T>(
        &self,
        change: impl FnOnce(&mut Vec<BundleVerifyingKey>) -> Result<T, ServerError>,
    ) -> Result<T, ServerError> {
        let mut keys = self
            .trusted_bundle_keys
            .write()
            .map_err(|_| ServerError::Config("the trusted key list is poisoned".into()))?;
        let mut next = keys.clone();
        let out = change(&mut next)?;
        let path = self.config.data_dir.join(BUNDLE_TRUST_FILE);
        let tmp = self
            .config
            .data_dir
            .join(format!("{BUNDLE_TRUST_FILE}.tmp"));
        let hex: Vec<String> = next.iter().map(BundleVerifyingKey::to_hex).collect();
        write_private(&tmp, &trust_file_text(hex.iter().map(String::as_str)))?;
        std::fs::rename(&tmp, &path)?;
        *keys = next;
        Ok(out)
    }

    pub fn kill_switch(&self) -> bool {
        self.store.setting(SETTING_KILL_SWITCH).as_deref() == Some("on")
    }
}

/// A bundle as uploaded or saved: file name → text.
pub type BundleFiles = std::collections::BTreeMap<String, String>;

pub fn source_from_files(files: &BundleFiles) -> Result<BundleSource, writ_authorize::BundleError> {
    BundleSource::from_files(
        files
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into_bytes())),
    )
}

fn source_from_json(text: &str) -> Result<BundleSource, String> {
    let files: BundleFiles = serde_json::from_str(text).map_err(|e| e.to_string())?;
    source_from_files(&files).map_err(|e| e.to_string())
}
