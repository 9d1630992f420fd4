//! The ledger: a directory with a log key and a SQLite store, a writer thread that
//! group-commits appends, and reads (checkpoints, proofs, entries, tiles) for everyone else.
//!
//! Append path: the caller validates the entry and queues it; the writer thread drains the
//! queue, integrates the batch into the tree's right edge, signs the new checkpoint and writes
//! entries, changed tiles and the checkpoint in one durable transaction; only then is every
//! appender of the batch acknowledged. So an acknowledged entry is already under a signed,
//! durable checkpoint, and reopening never replays the log: it reads the latest checkpoint and
//! the right-edge tiles (O(log n) rows).
//!
//! On a store shared by several processes (PostgreSQL, [`LogReader::shared`]) each batch first
//! takes the store's sequence lock ([`LogStore::begin_batch`]), reloading the edge under it when
//! another node appended, and a follower thread advances the latest checkpoint with the other
//! nodes' commits (signature checked); see [`crate::pg`] for the lease and its fencing.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::bundle::{BundleEntry, BundleLog, ConsistencyProof, PROOF_FORMAT, ProofBundle};
use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::entry::{Entry, Sealed, validate_entry};
use crate::error::{LedgerError, ProofError, io_error};
use crate::hash::{Hash, empty_root, leaf_hash};
use crate::integrate::{
    Edge, integrate, levels, right_edge_index, right_edge_width, row_from_tile,
};
use crate::note::{Ed25519Signer, Ed25519Verifier, NoteSigner};
use crate::proof::{consistency_proof, inclusion_proof, tree_root};
use crate::store::{BatchWrite, LogReader, LogStore, SqliteStore};
use crate::tiles::{
    ExpandedTile, TILE_HEIGHT, TILE_WIDTH, TileReader, TileSource, encode_bundle, entries_path,
    tile_bytes, tile_hashes, tile_path, tile_width,
};

/// Opens the ledger's store: called with `true` once by [`Ledger::init_with`] (create the
/// schema), and with `false` by [`Ledger::open_with`] for the writer's and the readers'
/// connections.
pub type StoreOpener<'a> = &'a dyn Fn(bool) -> Result<Box<dyn LogStore>, LedgerError>;

/// The store file inside a ledger directory.
pub const STORE_FILE: &str = "ledger.db";
/// The log key file inside a ledger directory (mode 0600).
pub const KEY_FILE: &str = "log.key";

/// Most entries gathered into one batch.
const MAX_BATCH_ENTRIES: usize = 8192;
/// Most entry bytes gathered into one batch.
const MAX_BATCH_BYTES: usize = 16 << 20;
/// Full tiles kept expanded in memory for proofs.
const TILE_CACHE_LIMIT: usize = 4096;
/// How often the follower of a shared store polls the store's latest checkpoint.
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(50);
/// "Never" in the integration atomics.
const NEVER: u64 = u64::MAX;

/// What an appender gets back once its batch is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendReceipt {
    /// The entry's index.
    pub index: u64,
    /// The size of the signed checkpoint that already covers it.
    pub checkpoint_size: u64,
}

/// A queued append: wait on it (from a blocking thread) for its receipt.
#[derive(Debug)]
pub struct AppendHandle {
    rx: Receiver<Result<AppendReceipt, String>>,
}

impl AppendHandle {
    /// Blocks until the entry's batch is durable and integrated.
    pub fn wait(self) -> Result<AppendReceipt, LedgerError> {
        match self.rx.recv() {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(LedgerError::CommitFailed(e)),
            Err(_) => Err(LedgerError::WriterStopped),
        }
    }
}

/// A function called on the writer thread with an append's outcome, once its batch is durable
/// and integrated (or failed). It must not block: hand the result over (e.g. to a oneshot).
pub type AppendCallback = Box<dyn FnOnce(Result<AppendReceipt, LedgerError>) + Send + 'static>;

/// A function called on the writer thread with the index an entry will take, when its batch is
/// formed and before the batch is written: the entry is not durable yet, and if the batch fails
/// the index is given to later entries. It lets an appender prepare what refers to the index
/// (a signed writ) while the batch is made durable; nothing prepared may leave the process
/// before the [`AppendCallback`] reports success. It must not block.
pub type AssignCallback = Box<dyn FnOnce(u64) + Send + 'static>;

enum Reply {
    Channel(SyncSender<Result<AppendReceipt, String>>),
    Callback(AppendCallback),
    Staged(Option<AssignCallback>, AppendCallback),
}

impl Reply {
    /// Tells a staged appender the index its entry is about to be written at.
    fn assign(&mut self, index: u64) {
        if let Reply::Staged(assigned, _) = self
            && let Some(f) = assigned.take()
        {
            f(index);
        }
    }

    fn send(self, result: Result<AppendReceipt, String>) {
        match self {
            Reply::Channel(tx) => {
                let _ = tx.send(result);
            }
            Reply::Callback(f) | Reply::Staged(_, f) => {
                f(result.map_err(LedgerError::CommitFailed));
            }
        }
    }
}

struct Request {
    entry: Vec<u8>,
    sealed: Option<Sealed>,
    reply: Reply,
    /// When it was queued: the append→checkpoint latency runs from here to the commit.
    queued: Instant,
}

struct Shared {
    origin: String,
    verifier: Ed25519Verifier,
    latest: RwLock<Arc<SignedCheckpoint>>,
    reader: Mutex<Box<dyn LogStore>>,
    tile_cache: Mutex<HashMap<(u8, u64, u64), Arc<ExpandedTile>>>,
    /// The committed size, for [`Ledger::wait_for_growth`].
    grown: (Mutex<u64>, Condvar),
    /// Append→checkpoint latency of every entry committed by this process.
    commit_latency: Mutex<CommitLatency>,
    /// What [`Ledger::integration`] reports.
    integration: IntegrationState,
}

/// The integration counters (atomics: the writer and the follower update them, status reads).
struct IntegrationState {
    shared: bool,
    batches: AtomicU64,
    /// Unix seconds of the last integrated batch, or [`NEVER`].
    last_integrated: AtomicU64,
    /// Milliseconds the last batch waited to begin (the sequence lock), or [`NEVER`].
    last_lock_wait_ms: AtomicU64,
    /// Inside a batch transaction (holding the sequence lock) right now.
    holding: AtomicBool,
    /// Batches that failed to begin (lock timeout, database unreachable).
    begin_failures: AtomicU64,
    /// Checkpoints of other writers the follower refused (bad signature, wrong size).
    rejected_checkpoints: AtomicU64,
    /// The follower's last failure, cleared by its next good poll.
    follower_error: Mutex<Option<String>>,
}

impl IntegrationState {
    fn new(shared: bool) -> IntegrationState {
        IntegrationState {
            shared,
            batches: AtomicU64::new(0),
            last_integrated: AtomicU64::new(NEVER),
            last_lock_wait_ms: AtomicU64::new(NEVER),
            holding: AtomicBool::new(false),
            begin_failures: AtomicU64::new(0),
            rejected_checkpoints: AtomicU64::new(0),
            follower_error: Mutex::new(None),
        }
    }

    fn set_follower_error(&self, e: Option<String>) {
        *self
            .follower_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = e;
    }
}

/// How this process takes part in integrating the log (see [`Ledger::integration`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct IntegrationInfo {
    /// The store has other writers (PostgreSQL shared by several nodes): batches are
    /// serialized through the store's sequence lock and a follower tracks others' appends.
    pub shared: bool,
    /// Batches this process integrated and committed since it opened the ledger.
    pub batches: u64,
    /// When this process last integrated a batch (unix seconds).
    pub last_integrated_unix: Option<u64>,
    /// How long the last batch waited to begin (for the sequence lock), in milliseconds
    /// (shared stores only).
    pub last_lock_wait_ms: Option<u64>,
    /// True while this process is inside a batch transaction (holds the integration lease).
    pub holding: bool,
    /// Batches that could not begin (the lock wait timed out, the store was unreachable).
    pub begin_failures: u64,
    /// Checkpoints from the store the follower refused (bad signature or size).
    pub rejected_checkpoints: u64,
    /// The follower's last failure, if its latest poll failed.
    pub follower_error: Option<String>,
}

impl Shared {
    /// Makes `cp` the latest checkpoint when it is larger than the current one and wakes
    /// [`Ledger::wait_for_growth`] waiters (the writer and the follower both advance: never
    /// backwards); returns the latest size.
    fn advance(&self, cp: SignedCheckpoint) -> u64 {
        let (size, grew) = self.publish(cp);
        if grew {
            self.wake_growth_waiters();
        }
        size
    }

    /// The first half of [`Shared::advance`]: `cp` becomes the latest checkpoint (what
    /// [`Ledger::size`] and [`Ledger::wait_for_growth`] read) when it is larger; returns the
    /// latest size and whether it grew. Waiters are not woken yet.
    fn publish(&self, cp: SignedCheckpoint) -> (u64, bool) {
        let size = cp.size();
        {
            let mut g = match self.latest.write() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            if size <= g.size() {
                return (g.size(), false);
            }
            *g = Arc::new(cp);
        }
        let mut grown = self
            .grown
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *grown = (*grown).max(size);
        (size, true)
    }

    /// The second half of [`Shared::advance`].
    fn wake_growth_waiters(&self) {
        self.grown.1.notify_all();
    }
}

/// How long entries took from their append (queued to the writer) to the durable signed
/// checkpoint that covers them. Entries and their checkpoint commit in one transaction, so
/// this is the whole wait an appender sees: queueing behind the batch in flight, integrating,
/// signing and the durable commit.
#[derive(Debug, Clone, Default)]
pub struct CommitLatency {
    /// Every committed entry's latency, in seconds, over the shared latency buckets.
    pub histogram: writ_model::prometheus::Histogram,
    /// The latency of the oldest entry of the last committed batch, in seconds.
    pub last_secs: Option<f64>,
    /// Every committed batch's own write: hashing, signing its checkpoint and the store's
    /// durable commit, in seconds. An entry's latency minus this is the time it queued.
    pub batch: writ_model::prometheus::Histogram,
}

/// An open ledger. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Ledger {
    dir: PathBuf,
    shared: Arc<Shared>,
    tx: Option<SyncSender<Request>>,
    writer: Option<JoinHandle<()>>,
    /// Dropped to stop the follower.
    follow_stop: Option<SyncSender<()>>,
    follower: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("dir", &self.dir)
            .field("origin", &self.shared.origin)
            .finish_non_exhaustive()
    }
}

fn read_key(dir: &Path) -> Result<Ed25519Signer, LedgerError> {
    let path = dir.join(KEY_FILE);
    if !path.exists() {
        return Err(LedgerError::NotInitialized(dir.display().to_string()));
    }
    let meta = fs::metadata(&path).map_err(|e| io_error(&path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(LedgerError::KeyPermissions {
            path: path.display().to_string(),
            mode,
        });
    }
    let skey = fs::read_to_string(&path).map_err(|e| io_error(&path, e))?;
    Ok(Ed25519Signer::from_skey(skey.trim())?)
}

/// Reads the verifier key of the ledger in `dir` without opening the store.
pub fn read_verifier(dir: &Path) -> Result<Ed25519Verifier, LedgerError> {
    Ok(read_key(dir)?.verifier().clone())
}

fn note_string(bytes: Vec<u8>, size: u64) -> Result<String, LedgerError> {
    String::from_utf8(bytes)
        .map_err(|_| LedgerError::Tampered(format!("checkpoint at size {size} is not UTF-8")))
}

impl Ledger {
    /// Creates a ledger in `dir` (created if missing, must not already hold one): a new Ed25519
    /// log key named `origin` (file mode 0600), the store, and the signed checkpoint of the
    /// empty tree. Returns it open.
    pub fn init(dir: &Path, origin: &str) -> Result<Ledger, LedgerError> {
        crate::owner_only::create_dir(dir).map_err(|e| io_error(dir, e))?;
        if dir.join(STORE_FILE).exists() {
            return Err(LedgerError::AlreadyInitialized(dir.display().to_string()));
        }
        let db_path = dir.join(STORE_FILE);
        Ledger::init_with(dir, origin, &|create| {
            Ok(Box::new(SqliteStore::open(&db_path, create)?) as Box<dyn LogStore>)
        })
    }

    /// Creates a ledger whose log key is in `dir` and whose store `open` opens (see
    /// [`StoreOpener`]); the store must hold no checkpoint yet. Returns it open.
    pub fn init_with(
        dir: &Path,
        origin: &str,
        open: StoreOpener<'_>,
    ) -> Result<Ledger, LedgerError> {
        crate::owner_only::create_dir(dir).map_err(|e| io_error(dir, e))?;
        let key_path = dir.join(KEY_FILE);
        if key_path.exists() {
            return Err(LedgerError::AlreadyInitialized(dir.display().to_string()));
        }
        let mut store = open(true)?;
        if store.latest_checkpoint()?.is_some() {
            return Err(LedgerError::AlreadyInitialized(store.store_name()));
        }
        let signer = Ed25519Signer::generate(origin)?;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(crate::owner_only::FILE_MODE)
            .open(&key_path)
            .map_err(|e| io_error(&key_path, e))?;
        f.write_all(format!("{}\n", signer.to_skey()).as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| io_error(&key_path, e))?;
        let cp = SignedCheckpoint::sign(
            Checkpoint {
                origin: origin.to_owned(),
                size: 0,
                root: empty_root(),
                extensions: vec![],
            },
            &signer,
        )?;
        store.commit_batch(&BatchWrite {
            first_index: 0,
            entries: &[],
            disclosures: &[],
            leaf_hashes: &[],
            tiles: &[],
            checkpoint_size: 0,
            checkpoint_note: cp.note(),
        })?;
        drop(store);
        Ledger::open_with(dir, open)
    }

    /// Opens the ledger in `dir`. Reads the latest checkpoint and the right-edge tiles only,
    /// so the time does not grow with the log; refuses a key file others can read and a store
    /// whose right edge does not match its latest checkpoint.
    pub fn open(dir: &Path) -> Result<Ledger, LedgerError> {
        read_key(dir)?;
        let db_path = dir.join(STORE_FILE);
        if !db_path.exists() {
            return Err(LedgerError::NotInitialized(dir.display().to_string()));
        }
        // A ledger made by an older release may sit in a directory others can list.
        crate::owner_only::create_dir(dir).map_err(|e| io_error(dir, e))?;
        Ledger::open_with(dir, &|create| {
            Ok(Box::new(SqliteStore::open(&db_path, create)?) as Box<dyn LogStore>)
        })
    }

    /// Opens the ledger whose log key is in `dir` and whose store `open` opens (see
    /// [`StoreOpener`]), with the checks of [`Ledger::open`].
    pub fn open_with(dir: &Path, open: StoreOpener<'_>) -> Result<Ledger, LedgerError> {
        let signer = read_key(dir)?;
        let mut writer_store = open(false)?;
        let reader = open(false)?;
        let verifier = signer.verifier().clone();
        let is_shared = writer_store.shared();
        // Others may append to a shared store meanwhile: read the checkpoint, the edge and the
        // last entry from one snapshot.
        if is_shared {
            writer_store.begin_snapshot()?;
        }
        let loaded = load_latest(writer_store.as_mut(), &verifier);
        if is_shared {
            writer_store.end_snapshot()?;
        }
        let (latest, edge) = loaded?;
        let size = latest.size();
        let follower_store = if is_shared { Some(open(false)?) } else { None };
        let shared = Arc::new(Shared {
            origin: signer.name().to_owned(),
            verifier,
            latest: RwLock::new(Arc::new(latest)),
            reader: Mutex::new(reader),
            tile_cache: Mutex::new(HashMap::new()),
            grown: (Mutex::new(size), Condvar::new()),
            commit_latency: Mutex::new(CommitLatency::default()),
            integration: IntegrationState::new(is_shared),
        });
        let (follow_stop, follower) = match follower_store {
            Some(store) => {
                let (stop_tx, stop_rx) = mpsc::sync_channel::<()>(1);
                let follower_shared = Arc::clone(&shared);
                let handle = std::thread::Builder::new()
                    .name("writ-ledger-follower".into())
                    .spawn(move || follower_loop(&stop_rx, store, &follower_shared))
                    .map_err(|e| io_error(dir, e))?;
                (Some(stop_tx), Some(handle))
            }
            None => (None, None),
        };
        let (tx, rx) = mpsc::sync_channel::<Request>(MAX_BATCH_ENTRIES * 4);
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("writ-ledger-writer".into())
            .spawn(move || writer_loop(rx, writer_store, signer, edge, &writer_shared))
            .map_err(|e| io_error(dir, e));
        // Built before the writer's outcome is checked, so a failed spawn still stops the
        // follower (Drop).
        let mut ledger = Ledger {
            dir: dir.to_owned(),
            shared,
            tx: Some(tx),
            writer: None,
            follow_stop,
            follower,
        };
        ledger.writer = Some(writer?);
        Ok(ledger)
    }

    /// How this process takes part in integrating the log: whether the store is shared with
    /// other writers, the batches it integrated, when, and how long it last waited for the
    /// store's sequence lock; and whether its follower met a refused checkpoint. Cheap
    /// (atomics), for status pages.
    pub fn integration(&self) -> IntegrationInfo {
        let i = &self.shared.integration;
        let opt = |v: u64| (v != NEVER).then_some(v);
        IntegrationInfo {
            shared: i.shared,
            batches: i.batches.load(Ordering::Relaxed),
            last_integrated_unix: opt(i.last_integrated.load(Ordering::Relaxed)),
            last_lock_wait_ms: opt(i.last_lock_wait_ms.load(Ordering::Relaxed)),
            holding: i.holding.load(Ordering::Relaxed),
            begin_failures: i.begin_failures.load(Ordering::Relaxed),
            rejected_checkpoints: i.rejected_checkpoints.load(Ordering::Relaxed),
            follower_error: i
                .follower_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        }
    }

    /// The directory of the ledger.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log's origin (its key name).
    pub fn origin(&self) -> &str {
        &self.shared.origin
    }

    /// The log's verifier key in the `vkey` form.
    pub fn vkey(&self) -> String {
        self.shared.verifier.to_vkey()
    }

    /// The log's verifier.
    pub fn verifier(&self) -> &Ed25519Verifier {
        &self.shared.verifier
    }

    /// Validates and queues an entry; the handle yields its receipt once durable. Refused
    /// entries never reach the queue.
    pub fn submit(&self, entry: Vec<u8>) -> Result<AppendHandle, LedgerError> {
        validate_entry(&entry)?;
        let (reply, rx) = mpsc::sync_channel(1);
        self.enqueue(entry, None, Reply::Channel(reply))?;
        Ok(AppendHandle { rx })
    }

    /// Like [`Ledger::submit`], but `done` is called with the receipt instead of a handle being
    /// returned: async callers wake on it without parking a thread per append.
    pub fn submit_with(&self, entry: Vec<u8>, done: AppendCallback) -> Result<(), LedgerError> {
        validate_entry(&entry)?;
        self.enqueue(entry, None, Reply::Callback(done))
    }

    /// Like [`Ledger::submit_with`] for an entry encoded by [`Entry::encode`], whose canonical
    /// form needs no re-check.
    pub fn submit_entry_with(&self, entry: Entry, done: AppendCallback) -> Result<(), LedgerError> {
        let (bytes, sealed) = entry.into_parts();
        self.enqueue(bytes, sealed, Reply::Callback(done))
    }

    /// Like [`Ledger::submit_entry_with`], and `assigned` is called with the entry's index as
    /// soon as its batch is formed, before the batch is written and made durable (see
    /// [`AssignCallback`]). `done` is called after, as for [`Ledger::submit_entry_with`]; on
    /// success its receipt carries the same index.
    pub fn submit_entry_staged(
        &self,
        entry: Entry,
        assigned: AssignCallback,
        done: AppendCallback,
    ) -> Result<(), LedgerError> {
        let (bytes, sealed) = entry.into_parts();
        self.enqueue(bytes, sealed, Reply::Staged(Some(assigned), done))
    }

    /// The number of entries under the latest signed checkpoint.
    pub fn size(&self) -> u64 {
        self.checkpoint().size()
    }

    /// Blocks until the ledger holds more than `known` entries, or `timeout` passes; returns the
    /// size then. For followers that index entries as they are committed.
    pub fn wait_for_growth(&self, known: u64, timeout: std::time::Duration) -> u64 {
        let (lock, cv) = &self.shared.grown;
        let g = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (g, _) = cv
            .wait_timeout_while(g, timeout, |size| *size <= known)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *g
    }

    /// Entries `start..end` (at most the latest checkpoint's size), in order.
    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, LedgerError> {
        let size = self.checkpoint().size();
        if end > size || start > end {
            return Err(ProofError::IndexOutOfRange {
                index: end.saturating_sub(1),
                size,
            }
            .into());
        }
        if start == end {
            return Ok(Vec::new());
        }
        self.with_reader(|s| s.entries(start, end))
    }

    fn enqueue(
        &self,
        entry: Vec<u8>,
        sealed: Option<Sealed>,
        reply: Reply,
    ) -> Result<(), LedgerError> {
        self.tx
            .as_ref()
            .ok_or(LedgerError::WriterStopped)?
            .send(Request {
                entry,
                sealed,
                reply,
                queued: Instant::now(),
            })
            .map_err(|_| LedgerError::WriterStopped)
    }

    /// Appends one entry and returns its index once its batch is durable and under a signed
    /// checkpoint.
    pub fn append_durable(&self, entry: &[u8]) -> Result<u64, LedgerError> {
        Ok(self.submit(entry.to_vec())?.wait()?.index)
    }

    /// The append→checkpoint latency of the entries this process committed so far.
    pub fn commit_latency(&self) -> CommitLatency {
        self.shared
            .commit_latency
            .lock()
            .map_or_else(|p| p.into_inner().clone(), |g| g.clone())
    }

    /// The latest signed checkpoint.
    pub fn checkpoint(&self) -> Arc<SignedCheckpoint> {
        match self.shared.latest.read() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Runs `f` on the reader's connection. A shared store's (PostgreSQL's) synchronous client
    /// must not be driven from a thread running an async runtime (a request handler), so there
    /// `f` runs on a thread of its own ([`crate::off_runtime`]).
    fn with_reader<T: Send>(
        &self,
        f: impl FnOnce(&mut dyn LogStore) -> Result<T, LedgerError> + Send,
    ) -> Result<T, LedgerError> {
        let mut g = self
            .shared
            .reader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if g.shared() {
            let store: &mut dyn LogStore = g.as_mut();
            crate::off_runtime::off_runtime(move || f(store)).unwrap_or_else(|e| {
                Err(LedgerError::Database(format!(
                    "no thread to read the store with: {e}"
                )))
            })
        } else {
            f(g.as_mut())
        }
    }

    /// The entry at `index`.
    pub fn entry(&self, index: u64) -> Result<Vec<u8>, LedgerError> {
        let size = self.checkpoint().size();
        if index >= size {
            return Err(ProofError::IndexOutOfRange { index, size }.into());
        }
        self.with_reader(|s| s.entries(index, index + 1))?
            .pop()
            .ok_or_else(|| LedgerError::Tampered(format!("entry {index} is missing")))
    }

    /// The disclosures the evidence store holds for `indexes` (erased ones are left out).
    pub fn disclosures(&self, indexes: &[u64]) -> Result<Vec<crate::Disclosure>, LedgerError> {
        let rows = self.with_reader(|s| s.disclosures(indexes))?;
        rows.into_iter()
            .map(|(index, Sealed { salt, private })| {
                let private = serde_json::from_slice(&private).map_err(|e| {
                    LedgerError::Tampered(format!("disclosure {index} is not JSON: {e}"))
                })?;
                Ok(crate::Disclosure::new(index, &salt, private))
            })
            .collect()
    }

    /// The evidence store's size: disclosures held (erased ones are gone) and their bytes.
    pub fn evidence_size(&self) -> Result<(u64, u64), LedgerError> {
        self.with_reader(|s| s.evidence_size())
    }

    /// For each receipt among `indexes`, the index of the latest `gate.changed` entry of its gate
    /// at or before it: the entry that carries the gate's key, so a bundle holding it lets a
    /// verifier check the receipt's signature offline. Sorted, without duplicates or `indexes`.
    pub fn gate_key_entries(&self, indexes: &[u64]) -> Result<Vec<u64>, LedgerError> {
        let mut out = std::collections::BTreeSet::new();
        for &index in indexes {
            let entry: serde_json::Value = match serde_json::from_slice(&self.entry(index)?) {
                Ok(v) => v,
                Err(_) => continue,
            };
            if entry.get("type").and_then(|t| t.as_str()) != Some("receipt") {
                continue;
            }
            // v1 keeps the gate inside the signed receipt, v2 in clear.
            let gate = entry
                .get("gate")
                .or_else(|| entry.pointer("/receipt/body/gate"))
                .and_then(|g| g.as_str());
            let Some(gate) = gate else { continue };
            // Canonical JSON sorts keys, so a gate.changed entry spells `"gate":"id","public_key":`
            // and nothing else does; rows are parsed to confirm.
            let mut needle = serde_json::to_vec(&serde_json::json!({ "gate": gate }))
                .map_err(|e| LedgerError::Tampered(e.to_string()))?;
            needle.pop();
            needle.remove(0);
            needle.extend_from_slice(br#","public_key":"#);
            let rows = self.with_reader(|s| s.entries_containing(&needle, index + 1, 4))?;
            let found = rows.into_iter().find(|(_, data)| {
                serde_json::from_slice::<serde_json::Value>(data).is_ok_and(|v| {
                    v.get("type").and_then(|t| t.as_str()) == Some("gate.changed")
                        && v.get("gate").and_then(|g| g.as_str()) == Some(gate)
                })
            });
            if let Some((i, _)) = found {
                out.insert(i);
            }
        }
        for i in indexes {
            out.remove(i);
        }
        Ok(out.into_iter().collect())
    }

    /// The decision recorded at `index`, joined with its disclosure when it is a v2 entry.
    pub fn decision(
        &self,
        index: u64,
    ) -> Result<
        Result<crate::evidence::DecisionEvidence, crate::evidence::EvidenceError>,
        LedgerError,
    > {
        let entry = self.entry(index)?;
        let disclosure = self.disclosures(&[index])?.pop();
        Ok(crate::evidence::decision_from(
            index,
            &entry,
            disclosure.as_ref(),
        ))
    }

    /// Erases the disclosures of `indexes` from the evidence store, bytes and all (see
    /// [`LogStore::erase_disclosures`]); returns the indexes that had one.
    pub fn erase_disclosures(&self, indexes: &[u64]) -> Result<Vec<u64>, LedgerError> {
        self.with_reader(|s| s.erase_disclosures(indexes))
    }

    /// The signed checkpoint published at exactly `size`.
    pub fn checkpoint_at(&self, size: u64) -> Result<SignedCheckpoint, LedgerError> {
        let latest = self.checkpoint();
        if size == latest.size() {
            return Ok((*latest).clone());
        }
        if size > latest.size() {
            return Err(LedgerError::SizeTooLarge {
                size,
                current: latest.size(),
            });
        }
        let note = self
            .with_reader(|s| s.checkpoint_at(size))?
            .ok_or(LedgerError::NoCheckpointAtSize(size))?;
        let note = note_string(note, size)?;
        SignedCheckpoint::open(&note, &self.shared.verifier)
            .map_err(|e| LedgerError::Tampered(format!("checkpoint at size {size}: {e}")))
    }

    fn reader(&self, size: u64) -> TileReader<'_, Ledger> {
        TileReader { source: self, size }
    }

    fn check_size(&self, size: u64) -> Result<(), LedgerError> {
        let current = self.checkpoint().size();
        if size > current {
            return Err(LedgerError::SizeTooLarge { size, current });
        }
        Ok(())
    }

    /// The inclusion proof of `index` in the tree of `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LedgerError> {
        self.check_size(size)?;
        Ok(inclusion_proof(&self.reader(size), index, size)?)
    }

    /// The root of the tree of `size` leaves, from the tiles.
    pub fn root_at(&self, size: u64) -> Result<Hash, LedgerError> {
        self.check_size(size)?;
        Ok(tree_root(&self.reader(size), size)?)
    }

    /// A `writ.proof/v1` bundle for `indexes` against the checkpoint at `size` (default: the
    /// latest).
    pub fn proof_bundle(
        &self,
        indexes: &[u64],
        size: Option<u64>,
    ) -> Result<ProofBundle, LedgerError> {
        let cp = match size {
            Some(s) => self.checkpoint_at(s)?,
            None => (*self.checkpoint()).clone(),
        };
        let mut entries = Vec::with_capacity(indexes.len());
        for &index in indexes {
            if index >= cp.size() {
                return Err(ProofError::IndexOutOfRange {
                    index,
                    size: cp.size(),
                }
                .into());
            }
            let entry = self.entry(index)?;
            let proof = inclusion_proof(&self.reader(cp.size()), index, cp.size())?;
            entries.push(BundleEntry {
                index,
                entry_b64: B64.encode(&entry),
                leaf_hash_b64: B64.encode(leaf_hash(&entry)),
                inclusion_b64: proof.iter().map(|h| B64.encode(h)).collect(),
            });
        }
        Ok(ProofBundle {
            format: PROOF_FORMAT.to_owned(),
            log: BundleLog {
                origin: self.shared.origin.clone(),
                vkey: self.vkey(),
            },
            checkpoint: cp.note().to_owned(),
            entries,
            writ: None,
            jwks: None,
            disclosures: None,
        })
    }

    /// The consistency proof from `from` to `to` (both at most the current size, `from` ≥ 1).
    pub fn consistency(&self, from: u64, to: u64) -> Result<ConsistencyProof, LedgerError> {
        self.check_size(to)?;
        let reader = self.reader(to);
        let hashes = consistency_proof(&reader, from, to)?;
        let root1 = tree_root(&reader, from)?;
        let root2 = tree_root(&reader, to)?;
        Ok(ConsistencyProof::new(from, to, &root1, &root2, &hashes))
    }

    /// Recomputes the tree from storage and checks every stored tile and checkpoint (and with
    /// `full`, every entry and SQLite's integrity check). Reads one consistent snapshot.
    pub fn verify(&self, full: bool) -> Result<crate::verify::VerifyReport, LedgerError> {
        self.with_reader(|s| crate::verify::verify_reader(s, &self.shared.verifier, full))
    }

    /// Writes a static C2SP tlog-tiles tree for the latest checkpoint into `out`: `checkpoint`,
    /// `tile/L/N[.p/W]` and `tile/entries/N[.p/W]`.
    pub fn tiles_export(&self, out: &Path) -> Result<ExportReport, LedgerError> {
        let cp = self.checkpoint();
        let size = cp.size();
        let write = |rel: &str, data: &[u8]| -> Result<(), LedgerError> {
            let path = out.join(rel);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
            }
            fs::write(&path, data).map_err(|e| io_error(&path, e))
        };
        let mut report = ExportReport {
            size,
            ..ExportReport::default()
        };
        let mut level: u8 = 0;
        loop {
            let shift = u32::from(level) * TILE_HEIGHT;
            let nodes = if shift >= 64 { 0 } else { size >> shift };
            if nodes == 0 {
                break;
            }
            for index in 0..nodes.div_ceil(TILE_WIDTH) {
                let width = tile_width(level, index, size);
                let tile = TileSource::tile(self, level, index, width).map_err(|_| {
                    LedgerError::Tampered(format!(
                        "tile {} is missing",
                        tile_path(level, index, width)
                    ))
                })?;
                let data = tile_bytes(tile.base());
                write(&tile_path(level, index, width), &data)?;
                report.tiles += 1;
            }
            level = level.saturating_add(1);
        }
        for index in 0..size.div_ceil(TILE_WIDTH) {
            let width = tile_width(0, index, size);
            let start = index * TILE_WIDTH;
            let entries = self.with_reader(|s| s.entries(start, start + width))?;
            write(&entries_path(index, width), &encode_bundle(&entries)?)?;
            report.entry_bundles += 1;
        }
        write("checkpoint", cp.note().as_bytes())?;
        Ok(report)
    }

    /// The bytes of a tile or entry bundle at the current size, by its path after `tile/`, for
    /// serving the log read-only (C2SP tlog-tiles). `None` when the tree does not have it (yet).
    pub fn read_tile(&self, path: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        let size = self.checkpoint().size();
        match crate::tiles::parse_tile_path(path) {
            None => Ok(None),
            Some(crate::tiles::TileRef::Hash {
                level,
                index,
                width,
            }) => {
                let avail = tile_width(level, index, size);
                if avail == 0 || width > avail {
                    return Ok(None);
                }
                let tile = TileSource::tile(self, level, index, avail).map_err(|_| {
                    LedgerError::Tampered(format!(
                        "tile {} is missing",
                        tile_path(level, index, avail)
                    ))
                })?;
                let hashes = tile.base().get(..width as usize).ok_or_else(|| {
                    LedgerError::Tampered(format!(
                        "tile {} is short",
                        tile_path(level, index, avail)
                    ))
                })?;
                Ok(Some(tile_bytes(hashes)))
            }
            Some(crate::tiles::TileRef::Entries { index, width }) => {
                let avail = tile_width(0, index, size);
                if avail == 0 || width > avail {
                    return Ok(None);
                }
                let start = index * TILE_WIDTH;
                let entries = self.with_reader(|s| s.entries(start, start + width))?;
                Ok(Some(encode_bundle(&entries)?))
            }
        }
    }

    /// Stops the writer after the queued appends are done.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.tx = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        self.follow_stop = None;
        if let Some(f) = self.follower.take() {
            let _ = f.join();
        }
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// What `tiles_export` wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExportReport {
    /// Tree size of the exported checkpoint.
    pub size: u64,
    /// Hash tiles written.
    pub tiles: u64,
    /// Entry bundles written.
    pub entry_bundles: u64,
}

impl TileSource for Ledger {
    fn tile(&self, level: u8, index: u64, width: u64) -> Result<Arc<ExpandedTile>, ProofError> {
        let missing = ProofError::MissingNode {
            level: level.saturating_mul(TILE_HEIGHT as u8),
            index: index.saturating_mul(TILE_WIDTH),
        };
        let key = (level, index, width);
        if let Ok(cache) = self.shared.tile_cache.lock()
            && let Some(t) = cache.get(&key)
        {
            return Ok(Arc::clone(t));
        }
        let stored = self
            .with_reader(|s| s.tile(level, index))
            .map_err(|_| missing.clone())?;
        let mut hashes = match stored {
            Some(data) => tile_hashes(&data).map_err(|_| missing.clone())?,
            None => Vec::new(),
        };
        if (hashes.len() as u64) < width && level == 0 {
            // The partial level-0 tile is the leaf hashes of the entries past the last full one.
            let start = index * TILE_WIDTH;
            hashes = self
                .with_reader(|s| s.leaf_hashes(start, start + width))
                .map_err(|_| missing.clone())?;
        }
        if (hashes.len() as u64) < width {
            return Err(missing);
        }
        hashes.truncate(width as usize);
        let t = Arc::new(ExpandedTile::new(hashes));
        if let Ok(mut cache) = self.shared.tile_cache.lock() {
            // The first `width` hashes of a tile never change, so (level, index, width) is a
            // stable key.
            if cache.len() >= TILE_CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(key, Arc::clone(&t));
        }
        Ok(t)
    }
}

/// Reads the right edge of the tree of `size` leaves: the leaf hashes past the last full
/// level-0 tile and the partial tile at every level above (O(log n) rows).
fn load_edge<R: LogReader + ?Sized>(store: &mut R, size: u64) -> Result<Edge, LedgerError> {
    let mut rows = Vec::new();
    for level in 0..levels(size) {
        let width = right_edge_width(size, level);
        let index = right_edge_index(size, level);
        let row = if width == 0 {
            Vec::new()
        } else if level == 0 {
            store.leaf_hashes(size - width, size)?
        } else {
            let data = store.tile(level, index)?.ok_or_else(|| {
                LedgerError::Tampered(format!(
                    "right-edge tile {} is missing",
                    tile_path(level, index, width)
                ))
            })?;
            row_from_tile(level, index, width, &data)?
        };
        rows.push(row);
    }
    Edge::from_rows(size, rows)
}

/// Opens the checkpoint note stored under `size`: UTF-8, signed by the log's key, and saying
/// that size.
fn open_checkpoint(
    note: Vec<u8>,
    size: u64,
    verifier: &Ed25519Verifier,
) -> Result<SignedCheckpoint, LedgerError> {
    let note = note_string(note, size)?;
    let cp = SignedCheckpoint::open(&note, verifier)
        .map_err(|e| LedgerError::Tampered(format!("latest checkpoint (size {size}): {e}")))?;
    if cp.size() != size {
        return Err(LedgerError::Tampered(format!(
            "the checkpoint stored under size {size} says size {}",
            cp.size()
        )));
    }
    Ok(cp)
}

/// The store's latest checkpoint (checked as [`open_checkpoint`] does) and the right edge at
/// its size, which must give the checkpoint's root; the stored entries must end at that size.
fn load_latest(
    store: &mut dyn LogStore,
    verifier: &Ed25519Verifier,
) -> Result<(SignedCheckpoint, Edge), LedgerError> {
    let (size, note) = store
        .latest_checkpoint()?
        .ok_or_else(|| LedgerError::Tampered("the store holds no checkpoint".into()))?;
    let latest = open_checkpoint(note, size, verifier)?;
    let edge = load_edge(store, size)?;
    if edge.root() != *latest.root() {
        return Err(LedgerError::Tampered(format!(
            "the right-edge tiles do not give the root of the checkpoint at size {size}; run `writ ledger verify --full`"
        )));
    }
    let last = store.last_entry_index()?;
    if last.map_or(0, |l| l + 1) != size {
        return Err(LedgerError::Tampered(format!(
            "the store holds entries up to {last:?} but the latest checkpoint has size {size}"
        )));
    }
    Ok((latest, edge))
}

/// Takes up to the batch limits off the queue into `batch` without waiting.
fn drain_queue(rx: &Receiver<Request>, batch: &mut Vec<Request>) {
    let mut bytes: usize = batch.iter().map(|r| r.entry.len()).sum();
    while batch.len() < MAX_BATCH_ENTRIES && bytes < MAX_BATCH_BYTES {
        match rx.try_recv() {
            Ok(r) => {
                bytes += r.entry.len();
                batch.push(r);
            }
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
        }
    }
}

/// What a failed batch's appenders are told ([`AppendHandle::wait`] wraps it in
/// [`LedgerError::CommitFailed`] again, so that one is not repeated).
fn failure_message(e: LedgerError) -> String {
    match e {
        LedgerError::CommitFailed(m) => m,
        other => other.to_string(),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Begins a batch on the store (for a shared store: its transaction and sequence lock) and
/// brings `edge` to the index the store will hand out, reloading it from the store inside that
/// transaction when another writer appended. On an error the batch is rolled back.
fn begin_batch(
    store: &mut dyn LogStore,
    shared: &Shared,
    edge: &mut Edge,
) -> Result<(), LedgerError> {
    let started = Instant::now();
    let next = store.begin_batch();
    let integration = &shared.integration;
    if integration.shared {
        let waited = u64::try_from(started.elapsed().as_millis()).unwrap_or(NEVER - 1);
        integration
            .last_lock_wait_ms
            .store(waited, Ordering::Relaxed);
    }
    let next = match next {
        Ok(next) => next,
        Err(e) => {
            integration.begin_failures.fetch_add(1, Ordering::Relaxed);
            return Err(e);
        }
    };
    integration.holding.store(next.is_some(), Ordering::Relaxed);
    let Some(next) = next else {
        return Ok(());
    };
    if next == edge.size {
        return Ok(());
    }
    // Another writer appended. Nobody else can commit while this transaction holds the lock,
    // so the store's latest checkpoint and edge are consistent with `next`.
    let reloaded = load_latest(store, &shared.verifier).and_then(|(cp, e)| {
        if cp.size() == next {
            Ok((cp, e))
        } else {
            Err(LedgerError::Tampered(format!(
                "the store hands out index {next} but its latest checkpoint has size {}",
                cp.size()
            )))
        }
    });
    match reloaded {
        Ok((cp, reloaded)) if reloaded.size >= edge.size => {
            *edge = reloaded;
            shared.advance(cp);
            Ok(())
        }
        Ok((cp, _)) => {
            abort(store, shared);
            Err(LedgerError::Tampered(format!(
                "the store's latest checkpoint has size {}, behind the {} this writer committed",
                cp.size(),
                edge.size
            )))
        }
        Err(e) => {
            abort(store, shared);
            Err(e)
        }
    }
}

/// Rolls back a begun batch.
fn abort(store: &mut dyn LogStore, shared: &Shared) {
    store.abort_batch();
    shared.integration.holding.store(false, Ordering::Relaxed);
}

fn writer_loop(
    rx: Receiver<Request>,
    mut store: Box<dyn LogStore>,
    signer: Ed25519Signer,
    mut edge: Edge,
    shared: &Shared,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        drain_queue(&rx, &mut batch);
        // Sequencing: a shared store's lock is taken before any index is assigned.
        if let Err(e) = begin_batch(store.as_mut(), shared, &mut edge) {
            let msg = failure_message(e);
            for r in batch {
                r.reply.send(Err(msg.clone()));
            }
            continue;
        }
        // What queued while this writer waited for the lock joins the batch.
        drain_queue(&rx, &mut batch);
        let first_index = edge.size;
        let mut entries = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        let mut sealed = Vec::new();
        let mut queued = Vec::with_capacity(batch.len());
        for (i, r) in batch.into_iter().enumerate() {
            if let Some(d) = r.sealed {
                sealed.push((first_index + i as u64, d));
            }
            queued.push(r.queued);
            entries.push(r.entry);
            replies.push(r.reply);
        }
        for (i, reply) in replies.iter_mut().enumerate() {
            reply.assign(first_index + i as u64);
        }
        let writing = Instant::now();
        let published = publish(
            store.as_mut(),
            &signer,
            &edge,
            first_index,
            &entries,
            &sealed,
            &shared.origin,
        );
        // commit_batch ended the transaction either way; a rollback is a no-op then.
        abort(store.as_mut(), shared);
        match published {
            Ok((new_edge, cp)) => {
                let committed = Instant::now();
                edge = new_edge;
                let size = cp.size();
                // The batch is visible (size, latest checkpoint, counters) before anyone is
                // answered; waking the growth waiters (the execution index's follower: a
                // futex wake, costly on a virtual machine) waits until the appenders, whose
                // calls are held on this batch, have their answers.
                let (_, grew) = shared.publish(cp);
                let integration = &shared.integration;
                integration.batches.fetch_add(1, Ordering::Relaxed);
                integration
                    .last_integrated
                    .store(unix_now(), Ordering::Relaxed);
                {
                    let mut l = shared
                        .commit_latency
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    let mut oldest = 0.0f64;
                    for q in &queued {
                        let secs = committed.duration_since(*q).as_secs_f64();
                        oldest = oldest.max(secs);
                        l.histogram.observe(secs);
                    }
                    l.last_secs = Some(oldest);
                    l.batch
                        .observe(committed.duration_since(writing).as_secs_f64());
                }
                for (i, reply) in replies.into_iter().enumerate() {
                    reply.send(Ok(AppendReceipt {
                        index: first_index + i as u64,
                        checkpoint_size: size,
                    }));
                }
                if grew {
                    shared.wake_growth_waiters();
                }
            }
            Err(e) => {
                let msg = failure_message(e);
                // The batch may have committed all the same (the connection dropped after the
                // commit), or another writer appended: go on from what the store holds, never
                // from a guess. If the store cannot be read, the edge stays and the next
                // batch fails too (fail closed). (A shared store is also reloaded under its
                // lock when the next batch begins.)
                if let Ok(Some((reloaded, cp))) = reload_edge(store.as_mut(), shared, edge.size) {
                    edge = reloaded;
                    shared.advance(cp);
                }
                // Refused only now, so an appender that retries meets the reloaded edge.
                for reply in replies {
                    reply.send(Err(msg.clone()));
                }
            }
        }
    }
}

/// Follows a shared store: every [`FOLLOW_INTERVAL`] reads the store's largest checkpoint size
/// and, when it is past the latest this process knows, that checkpoint's note; advances the
/// latest checkpoint (waking [`Ledger::wait_for_growth`]) only for a note signed by the log's
/// key that says its size. A refused checkpoint is counted and reported, never followed; a
/// failed poll is reported until the next good one. Stops when `stop` is dropped.
fn follower_loop(stop: &Receiver<()>, mut store: Box<dyn LogStore>, shared: &Shared) {
    let integration = &shared.integration;
    loop {
        match stop.recv_timeout(FOLLOW_INTERVAL) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let known = match shared.latest.read() {
            Ok(g) => g.size(),
            Err(p) => p.into_inner().size(),
        };
        let polled = store.latest_checkpoint_size().and_then(|size| match size {
            Some(size) if size > known => {
                let note = store
                    .checkpoint_at(size)?
                    .ok_or(LedgerError::NoCheckpointAtSize(size))?;
                open_checkpoint(note, size, &shared.verifier).map(Some)
            }
            _ => Ok(None),
        });
        match polled {
            Ok(Some(cp)) => {
                shared.advance(cp);
                integration.set_follower_error(None);
            }
            Ok(None) => integration.set_follower_error(None),
            Err(e) => {
                if matches!(e, LedgerError::Tampered(_)) {
                    integration
                        .rejected_checkpoints
                        .fetch_add(1, Ordering::Relaxed);
                }
                integration.set_follower_error(Some(e.to_string()));
            }
        }
    }
}

/// The right edge at the store's latest checkpoint when that is past `known` (signature and
/// root checked); `None` when the store is not ahead.
fn reload_edge(
    store: &mut dyn LogStore,
    shared: &Shared,
    known: u64,
) -> Result<Option<(Edge, SignedCheckpoint)>, LedgerError> {
    let Some((size, note)) = store.latest_checkpoint()? else {
        return Ok(None);
    };
    if size <= known {
        return Ok(None);
    }
    let cp = open_checkpoint(note, size, &shared.verifier)?;
    let edge = load_edge(store, size)?;
    if edge.root() != *cp.root() {
        return Err(LedgerError::Tampered(format!(
            "the right-edge tiles do not give the root of the checkpoint at size {size}"
        )));
    }
    Ok(Some((edge, cp)))
}

/// Integrates a batch (the pure step, on a copy of the edge), signs the checkpoint of the new
/// tree and commits entries, tiles and checkpoint in one durable transaction. The caller's
/// edge only moves forward if the commit succeeded.
fn publish(
    store: &mut dyn LogStore,
    signer: &Ed25519Signer,
    edge: &Edge,
    first_index: u64,
    entries: &[Vec<u8>],
    disclosures: &[(u64, Sealed)],
    origin: &str,
) -> Result<(Edge, SignedCheckpoint), LedgerError> {
    let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
    let step = integrate(edge, &leaves);
    let cp = SignedCheckpoint::sign(
        Checkpoint {
            origin: origin.to_owned(),
            size: step.edge.size,
            root: step.root,
            extensions: vec![],
        },
        signer,
    )?;
    store.commit_batch(&BatchWrite {
        first_index,
        entries,
        disclosures,
        leaf_hashes: &leaves,
        tiles: &step.tiles,
        checkpoint_size: step.edge.size,
        checkpoint_note: cp.note(),
    })?;
    Ok((step.edge, cp))
}

/// Time spent in the phases of one open, for the open-time benchmark.
#[derive(Debug, Clone, Copy)]
pub struct OpenTiming {
    /// Wall time of [`Ledger::open`].
    pub open: std::time::Duration,
}

/// Opens the ledger and reports how long it took.
pub fn timed_open(dir: &Path) -> Result<(Ledger, OpenTiming), LedgerError> {
    let start = Instant::now();
    let l = Ledger::open(dir)?;
    Ok((
        l,
        OpenTiming {
            open: start.elapsed(),
        },
    ))
}
