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
    let ledger = Ledger::init(&dir.join(LEDGER_DIR), &config.ledger_origin)
        .map_err(|e| ServerError::Config(format!("cannot create the ledger: {e}")))?;
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
    let store = ControlStore::open(&dir.join(CONTROL_DB))?;
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
        let ledger = Ledger::open(&dir.join(LEDGER_DIR))
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
        let store = ControlStore::open(&dir.join(CONTROL_DB))?;
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
        Ok(Arc::new(AppState {
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
        }))
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
