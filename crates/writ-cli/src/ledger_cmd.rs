//! `writ ledger …`, `writ bench ledger` and the ledger-only demo. Owned by the ledger work.
//!
//! Every command opens the ledger directory (`--dir`, or `WRIT_LEDGER_DIR`), calls one method
//! of [`writ_ledger::Ledger`] and prints the result for a person or, with `--format json`, for
//! a machine.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::json;
use writ_ledger::{Ledger, LedgerError, ProofBundle, verify_dir};

use crate::cli_output::{Exit, Format, invalid_input, print_json};

/// The default origin (and log key name) of a new ledger.
const DEFAULT_ORIGIN: &str = "writ.local/ledger";

#[derive(Debug, clap::Args)]
pub struct LedgerArgs {
    #[command(subcommand)]
    command: LedgerCommand,
}

/// Where the ledger lives and how to print.
#[derive(Debug, Clone, clap::Args)]
struct Common {
    /// The ledger directory (made by `writ ledger init`).
    #[arg(long, env = "WRIT_LEDGER_DIR", default_value = ".")]
    dir: PathBuf,
    /// Output for a person (human) or a machine (json).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Debug, clap::Subcommand)]
enum LedgerCommand {
    /// Create a ledger in DIR: the SQLite store and a new Ed25519 log key (file mode 0600).
    Init {
        /// The directory to create the ledger in (created if missing, must not hold one).
        dir: PathBuf,
        /// The log's origin: the first line of every checkpoint and the key's name.
        #[arg(long, env = "WRIT_LEDGER_ORIGIN", default_value = DEFAULT_ORIGIN)]
        origin: String,
        /// Output for a person (human) or a machine (json).
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Append entries read from stdin, one RFC 8785 canonical JSON object per line, each with
    /// a string "type" and an integer "v". Prints their indexes once they are durable. If any
    /// line is refused, nothing is written.
    Append(Common),
    /// Print the latest signed checkpoint (C2SP tlog-checkpoint, signed note).
    Checkpoint(Common),
    /// Print the log's verifier key (vkey form origin+hexid+base64).
    Vkey(Common),
    /// Print a writ.proof/v1 proof bundle: entries, inclusion proofs, checkpoint, log key, and
    /// the disclosures the evidence store holds for those entries.
    Proof {
        #[command(flatten)]
        common: Common,
        /// Index of an entry to prove (repeat for several).
        #[arg(long = "index", required = true)]
        indexes: Vec<u64>,
        /// Prove against the checkpoint published at this size (default: the latest).
        #[arg(long)]
        size: Option<u64>,
    },
    /// Print a consistency proof between two tree sizes.
    Consistency {
        #[command(flatten)]
        common: Common,
        /// The older size (at least 1).
        #[arg(long)]
        from: u64,
        /// The newer size (at most the current size).
        #[arg(long)]
        to: u64,
    },
    /// Check the whole ledger: rehash every entry, recompute the tree, check every tile and
    /// checkpoint and run SQLite's integrity check; names the first bad entry, tile or
    /// checkpoint and exits 1.
    Verify {
        #[command(flatten)]
        common: Common,
        /// Structural check only: tiles and checkpoints against the stored hashes, without
        /// rehashing the entries (faster; an altered entry whose stored hash was left alone is
        /// NOT found).
        #[arg(long, conflicts_with = "full")]
        quick: bool,
        /// The full check (the default; kept so older scripts run).
        #[arg(long, hide = true)]
        full: bool,
        /// Verify a ledger stored in PostgreSQL (postgres://…; prefer the environment variable,
        /// so a password never shows on a command line) instead of DIR's SQLite store; DIR
        /// still holds the log key.
        #[arg(long, env = "WRIT_DATABASE_URL", hide_env_values = true)]
        database: Option<String>,
        /// The PostgreSQL schema holding the ledger's tables.
        #[arg(long, default_value = writ_ledger::pg::DEFAULT_SCHEMA, requires = "database")]
        schema: String,
    },
    /// Static C2SP tlog-tiles trees.
    #[command(subcommand)]
    Tiles(TilesCommand),
}

#[derive(Debug, clap::Subcommand)]
enum TilesCommand {
    /// Write checkpoint, tile/L/N[.p/W] and tile/entries/N[.p/W] into OUT, ready for any
    /// static web server (serve it under /ledger/).
    Export {
        #[command(flatten)]
        common: Common,
        /// The output directory.
        out: PathBuf,
    },
}

/// Maps a ledger error to exit code 3 when the user's input was at fault.
fn ledger_error(e: LedgerError) -> anyhow::Error {
    if e.is_invalid_input() {
        invalid_input(format!("{e} [{}]", e.reason_code()))
    } else {
        anyhow::Error::new(e)
    }
}

fn open(dir: &Path) -> anyhow::Result<Ledger> {
    Ledger::open(dir).map_err(ledger_error)
}

pub fn run(args: LedgerArgs) -> anyhow::Result<Exit> {
    match args.command {
        LedgerCommand::Init {
            dir,
            origin,
            format,
        } => init(&dir, &origin, format),
        LedgerCommand::Append(c) => append(&c),
        LedgerCommand::Checkpoint(c) => {
            let l = open(&c.dir)?;
            let cp = l.checkpoint();
            match c.format {
                Format::Human => print!("{}", cp.note()),
                Format::Json => print_json(&json!({
                    "origin": cp.checkpoint().origin,
                    "size": cp.size(),
                    "root_b64": B64.encode(cp.root()),
                    "note": cp.note(),
                }))?,
            }
            Ok(Exit::Ok)
        }
        LedgerCommand::Vkey(c) => {
            let l = open(&c.dir)?;
            match c.format {
                Format::Human => println!("{}", l.vkey()),
                Format::Json => print_json(&json!({"origin": l.origin(), "vkey": l.vkey()}))?,
            }
            Ok(Exit::Ok)
        }
        LedgerCommand::Proof {
            common,
            indexes,
            size,
        } => {
            let l = open(&common.dir)?;
            // With the entries that registered its receipts' gates, so their signatures verify offline.
            let mut all = indexes.clone();
            all.extend(l.gate_key_entries(&indexes).map_err(ledger_error)?);
            let mut bundle = l.proof_bundle(&all, size).map_err(ledger_error)?;
            // Whoever reads the ledger directory may read its evidence store.
            let disclosures = l.disclosures(&indexes).map_err(ledger_error)?;
            bundle.disclosures = (!disclosures.is_empty()).then_some(disclosures);
            // The bundle is a JSON format either way; people get it pretty-printed.
            print_json(&bundle)?;
            Ok(Exit::Ok)
        }
        LedgerCommand::Consistency { common, from, to } => {
            let l = open(&common.dir)?;
            let proof = l.consistency(from, to).map_err(ledger_error)?;
            print_json(&proof)?;
            Ok(Exit::Ok)
        }
        LedgerCommand::Verify {
            common,
            quick,
            database,
            schema,
            ..
        } => verify(
            &common,
            !quick,
            database.as_deref().map(|d| (d, schema.as_str())),
        ),
        LedgerCommand::Tiles(TilesCommand::Export { common, out }) => {
            let l = open(&common.dir)?;
            let report = l.tiles_export(&out).map_err(ledger_error)?;
            match common.format {
                Format::Human => println!(
                    "exported the tree of size {} to {}: {} hash tiles, {} entry bundles, checkpoint",
                    report.size,
                    out.display(),
                    report.tiles,
                    report.entry_bundles
                ),
                Format::Json => print_json(&report)?,
            }
            Ok(Exit::Ok)
        }
    }
}

fn init(dir: &Path, origin: &str, format: Format) -> anyhow::Result<Exit> {
    let l = Ledger::init(dir, origin).map_err(|e| match e {
        LedgerError::AlreadyInitialized(_) | LedgerError::Note(_) => {
            invalid_input(format!("{e} [{}]", e.reason_code()))
        }
        e => anyhow::Error::new(e),
    })?;
    match format {
        Format::Human => {
            println!("created ledger {} in {}", l.origin(), dir.display());
            println!("log key: {} (mode 0600)", dir.join("log.key").display());
            println!("vkey: {}", l.vkey());
        }
        Format::Json => print_json(&json!({
            "dir": dir.display().to_string(),
            "origin": l.origin(),
            "vkey": l.vkey(),
            "size": l.checkpoint().size(),
        }))?,
    }
    Ok(Exit::Ok)
}

fn append(c: &Common) -> anyhow::Result<Exit> {
    let mut input = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut input)
        .context("reading entries from stdin")?;
    let mut entries = Vec::new();
    for (n, line) in input.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Err(e) = writ_ledger::entry::validate_entry(line) {
            return Err(invalid_input(format!(
                "stdin line {}: {e} [{}]; nothing was written",
                n + 1,
                e.reason_code()
            )));
        }
        entries.push(line.to_vec());
    }
    let l = open(&c.dir)?;
    let handles = entries
        .into_iter()
        .map(|e| l.submit(e))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ledger_error)?;
    let mut indexes = Vec::with_capacity(handles.len());
    for h in handles {
        indexes.push(h.wait().map_err(ledger_error)?.index);
    }
    let cp = l.checkpoint();
    match c.format {
        Format::Human => {
            for i in &indexes {
                println!("{i}");
            }
        }
        Format::Json => print_json(&json!({"indexes": indexes, "checkpoint_size": cp.size()}))?,
    }
    Ok(Exit::Ok)
}

fn verify(c: &Common, full: bool, database: Option<(&str, &str)>) -> anyhow::Result<Exit> {
    let report = match database {
        None => verify_dir(&c.dir, full),
        Some((url, schema)) => writ_ledger::pg::verify_ledger(&c.dir, url, schema, full),
    }
    .map_err(ledger_error)?;
    match c.format {
        Format::Json => print_json(&report)?,
        Format::Human => match &report.problem {
            None => println!(
                "ok: size {}, {} entries rehashed, {} tiles, {} checkpoints and {} disclosures verified{}",
                report.size,
                report.entries_checked,
                report.tiles_checked,
                report.checkpoints_checked,
                report.disclosures_checked,
                if full {
                    " (full)"
                } else {
                    " (quick: entries not rehashed; run without --quick for the full check)"
                }
            ),
            Some(p) => eprintln!(
                "the ledger does NOT verify: {} {}: {}",
                p.kind, p.at, p.detail
            ),
        },
    }
    Ok(if report.ok { Exit::Ok } else { Exit::Failure })
}

// ---------------------------------------------------------------------------------------------
// writ ledger-demo

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Output for a person (human) or a machine (json).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

fn canonical(v: &serde_json::Value) -> anyhow::Result<Vec<u8>> {
    Ok(writ_model::canonical::to_canonical_vec(v)?)
}

pub fn demo(args: DemoArgs) -> anyhow::Result<Exit> {
    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    let dir = tmp.path().join("ledger");
    let human = args.format == Format::Human;
    let say = |s: String| {
        if human {
            println!("{s}");
        }
    };
    let ledger = Ledger::init(&dir, "demo.writ.local/ledger")?;
    say(format!("1. created a ledger in {}", dir.display()));
    say(format!("   log key (vkey): {}", ledger.vkey()));
    let entries = [
        json!({"type": "policy.activated", "v": 1, "bundle_sha256": "9f2c", "by": "human:alice"}),
        json!({"type": "decision", "v": 1, "decision": "allow", "principal": "agent:triage",
               "intent": {"action": "mcp.call_tool", "resource": "tool:github/create_issue"}}),
        json!({"type": "receipt", "v": 1, "outcome": "success", "gate": "gate:mcp-1"}),
        json!({"type": "decision", "v": 1, "decision": "deny", "principal": "agent:triage",
               "intent": {"action": "exec", "resource": "cmd:/usr/bin/rm"}}),
        json!({"type": "key.rotated", "v": 1, "kid": "k2"}),
    ];
    let mut indexes = Vec::new();
    for e in &entries {
        indexes.push(ledger.append_durable(&canonical(e)?)?);
    }
    say(format!(
        "2. appended {} governance entries (durable before acknowledged): indexes {:?}",
        indexes.len(),
        indexes
    ));
    let cp = ledger.checkpoint();
    say("3. the signed checkpoint:".into());
    if human {
        for line in cp.note().lines() {
            println!("   | {line}");
        }
    }
    let bundle = ledger.proof_bundle(&[1], None)?;
    let bundle_json = serde_json::to_vec(&bundle)?;
    let checked = ProofBundle::from_json(&bundle_json)?.verify(Some(&ledger.vkey()))?;
    let entry = String::from_utf8_lossy(
        &checked
            .entries
            .first()
            .map(|e| e.entry.clone())
            .unwrap_or_default(),
    )
    .into_owned();
    say(format!(
        "4. proof bundle for entry 1 verified offline against the vkey: {entry}"
    ));
    drop(ledger);

    // A tampered copy: change one byte of a stored decision, then verify.
    let copy = tmp.path().join("tampered");
    std::fs::create_dir_all(&copy)?;
    std::fs::copy(dir.join("log.key"), copy.join("log.key"))?;
    tampered_copy(&dir, &copy)?;
    let honest = verify_dir(&dir, true)?;
    let tampered = verify_dir(&copy, true)?;
    let problem = tampered
        .problem
        .as_ref()
        .map(|p| format!("{} {}: {}", p.kind, p.at, p.detail))
        .unwrap_or_default();
    say(format!(
        "5. verify --full: original ok = {}; tampered copy (\"allow\" rewritten to \"alloW\" in entry 1) ok = {} -> {problem}",
        honest.ok, tampered.ok
    ));
    if !human {
        print_json(&json!({
            "vkey": bundle.log.vkey,
            "indexes": indexes,
            "checkpoint": cp.note(),
            "proof_bundle": bundle,
            "bundle_verified": true,
            "original_verifies": honest.ok,
            "tampered_verifies": tampered.ok,
            "tampered_problem": tampered.problem,
        }))?;
    }
    Ok(if honest.ok && !tampered.ok {
        Exit::Ok
    } else {
        Exit::Failure
    })
}

/// Copies the store of `src` into `dst` with one byte of entry 1 changed, the way an attacker
/// with file access would.
fn tampered_copy(src: &Path, dst: &Path) -> anyhow::Result<()> {
    let db = src.join(writ_ledger::ledger::STORE_FILE);
    // Fold the WAL into the main file so the copy holds everything.
    {
        let store = writ_ledger::store::SqliteStore::open(&db, false)?;
        store
            .connection()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    }
    let mut bytes = std::fs::read(&db)?;
    let needle = br#""decision":"allow""#;
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .context("the demo entry was not found in the store file")?;
    if let Some(b) = bytes.get_mut(at + needle.len() - 2) {
        *b = b'W';
    }
    std::fs::write(dst.join(writ_ledger::ledger::STORE_FILE), bytes)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// writ bench ledger

#[derive(Debug, clap::Args)]
pub struct BenchLedgerArgs {
    /// Concurrent appender threads.
    #[arg(long, default_value_t = 8)]
    appenders: usize,
    /// Appends each appender keeps in flight (1 = each waits for its ack before the next).
    #[arg(long, default_value_t = 1)]
    in_flight: usize,
    /// Entry size in bytes (canonical JSON, padded).
    #[arg(long, default_value_t = 300)]
    entry_size: usize,
    /// How long to append, in seconds.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Ledger directory (default: a new temporary directory, removed afterwards).
    #[arg(long, conflicts_with = "database")]
    dir: Option<PathBuf>,
    /// Benchmark a ledger in PostgreSQL instead (postgres://…, preferably from the
    /// environment): a new schema, dropped afterwards, against a plain batched insert into the
    /// same database.
    #[arg(long, env = "WRIT_DATABASE_URL", hide_env_values = true)]
    database: Option<String>,
    /// Output for a person (human) or a machine (json).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

/// A canonical entry of exactly `size` bytes (when `size` is at least the skeleton's size).
fn bench_entry(appender: usize, seq: u64, size: usize) -> Vec<u8> {
    let skeleton = format!(r#"{{"a":{appender},"pad":"","seq":{seq},"type":"bench","v":1}}"#);
    let pad = size.saturating_sub(skeleton.len());
    format!(
        r#"{{"a":{appender},"pad":"{}","seq":{seq},"type":"bench","v":1}}"#,
        "x".repeat(pad)
    )
    .into_bytes()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(std::fs::Metadata::is_file)
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

pub fn bench(args: BenchLedgerArgs) -> anyhow::Result<Exit> {
    if args.appenders == 0
        || args.in_flight == 0
        || !args.duration.is_finite()
        || args.duration <= 0.0
    {
        return Err(invalid_input(
            "--appenders, --in-flight and --duration must be positive",
        ));
    }
    let tmp = tempfile::tempdir()?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| tmp.path().join("ledger"));
    let pg = args
        .database
        .as_deref()
        .map(|url| (url, format!("writ_bench_{}", std::process::id())));
    let ledger = Arc::new(if let Some((url, schema)) = &pg {
        writ_ledger::pg::PgStore::drop_schema(url, schema)?;
        writ_ledger::pg::init_ledger(&dir, "bench.writ.local/ledger", url, schema)?
    } else if dir.join(writ_ledger::ledger::KEY_FILE).exists() {
        Ledger::open(&dir)?
    } else {
        Ledger::init(&dir, "bench.writ.local/ledger")?
    });
    let start_size = ledger.checkpoint().size();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let threads: Vec<_> = (0..args.appenders)
        .map(|a| {
            let (ledger, stop) = (Arc::clone(&ledger), Arc::clone(&stop));
            let (size, in_flight) = (args.entry_size, args.in_flight);
            std::thread::spawn(move || -> anyhow::Result<Vec<Duration>> {
                let mut lat = Vec::new();
                let mut queue = std::collections::VecDeque::new();
                let mut seq = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    while queue.len() < in_flight {
                        let t = Instant::now();
                        queue.push_back((t, ledger.submit(bench_entry(a, seq, size))?));
                        seq += 1;
                    }
                    if let Some((t, h)) = queue.pop_front() {
                        h.wait()?;
                        lat.push(t.elapsed());
                    }
                }
                for (t, h) in queue {
                    h.wait()?;
                    lat.push(t.elapsed());
                }
                Ok(lat)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(args.duration));
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    for t in threads {
        lat.extend(
            t.join()
                .map_err(|_| anyhow::anyhow!("an appender thread panicked"))??,
        );
    }
    let elapsed = started.elapsed();
    let appends = lat.len() as u64;
    lat.sort();
    let end_size = ledger.checkpoint().size();
    let mut pg_bytes = 0;
    let checkpoints = if let Some((url, schema)) = &pg {
        use writ_ledger::store::LogReader;
        let mut store = writ_ledger::pg::PgStore::open(url, schema, false)?;
        pg_bytes = store.bytes()?;
        let n = store
            .all_checkpoints()?
            .iter()
            .filter(|(s, _)| *s > start_size)
            .count();
        n.max(1) as u64
    } else {
        let store = writ_ledger::store::SqliteStore::open(
            &dir.join(writ_ledger::ledger::STORE_FILE),
            false,
        )?;
        let n: i64 = store.connection().query_row(
            "SELECT count(*) FROM checkpoints WHERE size > ?1",
            [start_size as i64],
            |r| r.get(0),
        )?;
        n.max(1) as u64
    };
    match Arc::try_unwrap(ledger) {
        Ok(l) => l.close(),
        Err(_) => anyhow::bail!("the ledger is still shared"),
    }
    let rate = appends as f64 / elapsed.as_secs_f64();
    let mean_batch = appends as f64 / checkpoints as f64;
    let disk = if pg.is_some() {
        pg_bytes
    } else {
        dir_bytes(&dir)
    };

    // Baseline: the same entries as plain batched SQLite inserts, same durability, one thread,
    // transactions as large as our mean batch.
    let base_dir = tmp.path().join("baseline");
    std::fs::create_dir_all(&base_dir)?;
    let base_entries: Vec<Vec<u8>> = (0..appends.min(2_000_000))
        .map(|i| bench_entry((i % args.appenders as u64) as usize, i, args.entry_size))
        .collect();
    let batch = mean_batch.round().max(1.0) as usize;
    let base_time = match &pg {
        Some((url, schema)) => {
            writ_ledger::pg::PgStore::drop_schema(url, schema)?;
            writ_ledger::pg::baseline_pg_insert(
                url,
                &format!("{schema}_base"),
                &base_entries,
                batch,
            )?
        }
        None => writ_ledger::store::baseline_sqlite_insert(
            &base_dir.join("baseline.db"),
            &base_entries,
            batch,
        )?,
    };
    let store_kind = if pg.is_some() { "postgres" } else { "sqlite" };
    let base_what = if pg.is_some() {
        "plain batched PostgreSQL INSERT (unnest), synchronous_commit=on, one connection, same entries"
    } else {
        "plain batched SQLite INSERT, WAL, synchronous=FULL, one thread, same entries"
    };
    let base_rate = base_entries.len() as f64 / base_time.as_secs_f64();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let result = json!({
        "store": store_kind,
        "appenders": args.appenders,
        "in_flight": args.in_flight,
        "entry_size": args.entry_size,
        "duration_s": elapsed.as_secs_f64(),
        "appends": appends,
        "appends_per_s": rate,
        "batches": checkpoints,
        "mean_batch": mean_batch,
        "integration_latency_ms": {
            "p50": ms(percentile(&lat, 0.50)),
            "p90": ms(percentile(&lat, 0.90)),
            "p99": ms(percentile(&lat, 0.99)),
            "max": ms(lat.last().copied().unwrap_or_default()),
        },
        "size": end_size,
        "bytes_on_disk": disk,
        "bytes_per_entry": if end_size > 0 { disk as f64 / end_size as f64 } else { 0.0 },
        "baseline": {
            "what": base_what,
            "batch": batch,
            "inserts_per_s": base_rate,
        },
        "ratio_to_baseline": rate / base_rate,
    });
    match args.format {
        Format::Json => print_json(&result)?,
        Format::Human => {
            println!(
                "ledger: {appends} durable appends of {} bytes in {:.2} s with {} appenders × {} in flight",
                args.entry_size,
                elapsed.as_secs_f64(),
                args.appenders,
                args.in_flight
            );
            println!("  appends/s        {rate:.0}");
            println!(
                "  batches          {checkpoints} (mean {mean_batch:.1} entries per commit and checkpoint)"
            );
            println!(
                "  append → signed checkpoint latency  p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
                ms(percentile(&lat, 0.50)),
                ms(percentile(&lat, 0.90)),
                ms(percentile(&lat, 0.99)),
                ms(lat.last().copied().unwrap_or_default())
            );
            println!(
                "  on disk          {disk} bytes for {end_size} entries ({:.0} bytes/entry)",
                if end_size > 0 {
                    disk as f64 / end_size as f64
                } else {
                    0.0
                }
            );
            println!("  store            {store_kind}");
            println!(
                "baseline: {base_what} ({batch} rows per transaction): {base_rate:.0} inserts/s"
            );
            println!("ratio: ledger / baseline = {:.2}", rate / base_rate);
        }
    }
    Ok(Exit::Ok)
}
