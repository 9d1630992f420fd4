//! `writ policy …` and `writ replay`. Owned by the authorize work.
//!
//! Exit codes: 0 ok / allowed / all matched, 2 denied (simulate: at least one request denied),
//! 3 invalid input (a bundle that does not validate, a malformed file), 1 failure (a policy
//! test that fails, a replay that does not match, I/O).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use writ_authorize::fs::{read_bundle_dir, write_signature};
use writ_authorize::{
    Bundle, BundleError, BundleSigningKey, BundleVerifyingKey, ReplayOutcome, activate, compile,
    decide, parse_policy_tests, replay as replay_record, run_policy_tests,
};
use writ_model::canonical::to_canonical_vec;
use writ_model::{AuthorizeRequest, Clock, Decision, DecisionRecord, SystemClock};

use crate::cli_output::{Exit, Format, invalid_input, print_json};

/// Policy bundles: a directory with a Cedar schema (`*.cedarschema`), policies (`*.cedar`),
/// static entities (`entities.json`), optional tests (`tests.json`) and a signature
/// (`bundle.sig`).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Bundle layout: DIR/*.cedarschema, DIR/*.cedar (give each policy an @id and a @reason), DIR/entities.json, DIR/tests.json, DIR/bundle.sig.\nExit codes: 0 ok or allowed, 2 denied (simulate: any request denied), 3 invalid input or a refused bundle, 1 failure (a failing policy test, I/O)."
)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PolicyCommand {
    /// Write a starter bundle into DIR (new or empty): the default schema, example policies,
    /// entities and policy tests that pass as written.
    Init(InitArgs),
    /// Print the default Cedar schema, or with --from-pins a schema fragment giving each pinned
    /// tool an action of its own with typed arguments.
    Schema(SchemaArgs),
    /// Check a bundle strictly against its schema; print its digest or Cedar's diagnostics
    /// with file and line.
    Validate(ValidateArgs),
    /// Run the bundle's policy tests (requests with expected decisions).
    Test(TestArgs),
    /// Decide a file of requests (JSON array or JSON lines) and print decisions with reasons.
    Simulate(SimulateArgs),
    /// Sign a bundle's digest with a bundle-signing key (writes DIR/bundle.sig).
    Sign(SignArgs),
    /// Generate a bundle-signing key: FILE (secret, mode 0600) and FILE.pub (public).
    Keygen(KeygenArgs),
    /// Upload a signed bundle directory to a running server and activate it (a ledger event);
    /// a bundle that fails leaves the previous one active.
    Activate(crate::operator_cmd::PolicyActivateArgs),
    /// Manage the bundle-verifying keys a running server trusts (`add`, `list`, `remove`); each
    /// change is a ledger event and takes effect without a restart.
    Trust(crate::operator_cmd::TrustArgs),
}

/// How the bundle is trusted.
#[derive(Debug, clap::Args)]
struct TrustArgs {
    /// A trusted bundle-verifying key (a `.pub` file from `writ policy keygen`); the bundle's
    /// signature must verify with one of them. Repeat for several keys.
    #[arg(
        long = "trust",
        value_name = "KEY",
        env = "WRIT_POLICY_TRUST",
        value_delimiter = ','
    )]
    trust: Vec<PathBuf>,
    /// Load the bundle without checking its signature (for authoring only; a server never
    /// activates an unsigned bundle).
    #[arg(long)]
    allow_unsigned: bool,
}

#[derive(Debug, clap::Args)]
struct InitArgs {
    /// The directory to create the bundle in; it must not exist yet or be empty.
    dir: PathBuf,
    /// Output format: `human` (text) or `json` (one JSON document on stdout).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Debug, clap::Args)]
struct SchemaArgs {
    /// A pin file from `writ gateway mcp pin` (format writ.mcp-pins/v3); print a Cedar schema
    /// fragment with an action `call_tool:SERVER/NAME` per pinned tool, a member of
    /// `call_tool`, whose `context.args` is typed from the tool's input schema. Save it as a
    /// `.cedarschema` file beside the default schema in a bundle. Repeat for several upstreams.
    #[arg(long = "from-pins", value_name = "PINS.json")]
    from_pins: Vec<PathBuf>,
    /// Output format: `human` (the schema text) or `json` (`{"schema": TEXT}`).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// The starter bundle `writ policy init` writes (file name, text).
const STARTER: [(&str, &str); 4] = [
    ("writ.cedarschema", writ_authorize::DEFAULT_SCHEMA),
    (
        "policies.cedar",
        include_str!("../../../examples/policy/starter/policies.cedar"),
    ),
    (
        "entities.json",
        include_str!("../../../examples/policy/starter/entities.json"),
    ),
    (
        "tests.json",
        include_str!("../../../examples/policy/starter/tests.json"),
    ),
];

fn init(a: InitArgs) -> anyhow::Result<Exit> {
    match std::fs::read_dir(&a.dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(invalid_input(format!(
                    "{} is not empty: give a new or empty directory (nothing was written)",
                    a.dir.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&a.dir)
                .with_context(|| format!("cannot create {}", a.dir.display()))?;
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("cannot read {}", a.dir.display())));
        }
    }
    let mut written = Vec::new();
    for (name, text) in STARTER {
        let path = a.dir.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        f.write_all(text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push(name);
    }
    match a.format {
        Format::Json => print_json(&serde_json::json!({
            "dir": a.dir.display().to_string(),
            "files": written,
        }))?,
        Format::Human => {
            println!(
                "wrote a starter bundle to {}: {}",
                a.dir.display(),
                written.join(", ")
            );
            println!(
                "next: writ policy test {0} --allow-unsigned, then writ policy sign {0} --key KEY",
                a.dir.display()
            );
        }
    }
    Ok(Exit::Ok)
}

fn schema(a: SchemaArgs) -> anyhow::Result<Exit> {
    let text = if a.from_pins.is_empty() {
        writ_authorize::DEFAULT_SCHEMA.to_owned()
    } else {
        let mut parts = Vec::new();
        for path in &a.from_pins {
            let pins = read_pins(path)?;
            parts.push(writ_authorize::tool_schema::tool_actions_fragment(
                &pins.server,
                pins.tools.iter().map(|(n, p)| (n.as_str(), &p.definition)),
            ));
        }
        parts.join("\n")
    };
    match a.format {
        Format::Json => print_json(&serde_json::json!({ "schema": text }))?,
        Format::Human => print!("{text}"),
    }
    Ok(Exit::Ok)
}

/// Reads and checks a pin file (format, digests) for the server it names.
fn read_pins(path: &Path) -> anyhow::Result<writ_gate::mcp::PinSet> {
    #[derive(serde::Deserialize)]
    struct Named {
        server: String,
    }
    let text = read_text(path)?;
    let named: Named = serde_json::from_str(&text).map_err(|e| {
        invalid_input(format!(
            "{}: not a pin file from `writ gateway mcp pin`: {e}",
            path.display()
        ))
    })?;
    writ_gate::mcp::PinSet::load(path, &named.server)
        .map_err(|e| invalid_input(format!("{}: {e}", path.display())))
}

#[derive(Debug, clap::Args)]
struct ValidateArgs {
    /// The bundle directory.
    dir: PathBuf,
    #[command(flatten)]
    trust: TrustArgs,
    /// Output format: `human` (text) or `json` (one JSON document on stdout).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Debug, clap::Args)]
struct TestArgs {
    /// The bundle directory.
    dir: PathBuf,
    /// The test file (default: DIR/tests.json).
    #[arg(long, value_name = "FILE")]
    tests: Option<PathBuf>,
    #[command(flatten)]
    trust: TrustArgs,
    /// Output format: `human` (text) or `json` (one JSON document on stdout).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Debug, clap::Args)]
struct SimulateArgs {
    /// The bundle directory.
    dir: PathBuf,
    /// Requests: a JSON array or one JSON request per line.
    #[arg(long, value_name = "FILE")]
    requests: PathBuf,
    /// The decision time, Unix seconds (default: now).
    #[arg(long, value_name = "SECS")]
    now: Option<i64>,
    /// Also write every decision record, one canonical JSON per line (input for `writ replay`).
    #[arg(long, value_name = "FILE")]
    records: Option<PathBuf>,
    #[command(flatten)]
    trust: TrustArgs,
    /// Output format: `human` (text) or `json` (one JSON document on stdout).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Debug, clap::Args)]
struct SignArgs {
    /// The bundle directory.
    dir: PathBuf,
    /// The secret bundle-signing key file from `writ policy keygen` (mode 0600).
    #[arg(long, value_name = "FILE", env = "WRIT_POLICY_SIGNING_KEY_FILE")]
    key: PathBuf,
    /// Output format: `human` (text) or `json` (one JSON document on stdout).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Debug, clap::Args)]
struct KeygenArgs {
    /// Where to write the secret key; the public key goes to FILE.pub. Never overwrites.
    file: PathBuf,
    /// Output format: `human` (text) or `json` (one JSON document on stdout).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Recompute recorded decisions under a bundle and say whether each matches.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Records come from the ledger or `writ policy simulate --records FILE`.\nExit codes: 0 every record matches, 1 a record does not match (or names another bundle), 3 invalid input."
)]
pub struct ReplayArgs {
    /// A decision record (JSON) or a file of records, one per line.
    #[arg(required_unless_present = "ledger", conflicts_with = "ledger")]
    record: Option<PathBuf>,
    /// Replay every decision in a ledger directory (or a data directory's `ledger/`), v1
    /// entries and v2 entries joined with their disclosures from its evidence store; decisions
    /// whose disclosures were erased are reported as erased, not as mismatches.
    #[arg(long, value_name = "DIR")]
    ledger: Option<PathBuf>,
    /// The bundle directory the decisions were made with.
    #[arg(long, value_name = "DIR")]
    bundle: PathBuf,
    #[command(flatten)]
    trust: TrustArgs,
    /// Output format: `human` (text) or `json` (one JSON document on stdout).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

pub fn run(args: PolicyArgs) -> anyhow::Result<Exit> {
    match args.command {
        PolicyCommand::Init(a) => init(a),
        PolicyCommand::Schema(a) => schema(a),
        PolicyCommand::Validate(a) => validate(a),
        PolicyCommand::Test(a) => test(a),
        PolicyCommand::Simulate(a) => simulate(a),
        PolicyCommand::Sign(a) => sign(a),
        PolicyCommand::Keygen(a) => keygen(a),
        PolicyCommand::Activate(a) => crate::operator_cmd::policy_activate(a),
        PolicyCommand::Trust(a) => crate::operator_cmd::trust(a),
    }
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Loads a bundle as the flags ask: verified against --trust keys, or unsigned when allowed.
/// A refused bundle becomes exit 3 (or a JSON report with --format json).
fn load(dir: &Path, trust: &TrustArgs) -> Result<Bundle, BundleError> {
    let source = read_bundle_dir(dir)?;
    if trust.allow_unsigned && trust.trust.is_empty() {
        return compile(&source);
    }
    let mut keys = Vec::new();
    for path in &trust.trust {
        keys.push(read_public_key(path).map_err(BundleError::Io)?);
    }
    activate(&source, &keys).map(|a| a.into_bundle())
}

/// Reads a bundle-verifying (public) key file. A secret key is refused as one: by its
/// `writ-bundle-secret:` prefix, or (as older releases wrote it, bare hex) by the `FILE.pub`
/// that `writ policy keygen` wrote beside it.
pub fn read_public_key(path: &Path) -> Result<BundleVerifyingKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let sibling = PathBuf::from(format!("{}.pub", path.display()));
    if sibling.is_file() {
        return Err(format!(
            "{} is a secret bundle-signing key (its public half {} is beside it): pass the .pub file",
            path.display(),
            sibling.display()
        ));
    }
    BundleVerifyingKey::from_hex(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn refused(dir: &Path, err: &BundleError, format: Format) -> anyhow::Result<Exit> {
    if format == Format::Json {
        print_json(&serde_json::json!({
            "ok": false,
            "bundle": dir.display().to_string(),
            "reason_code": err.reason_code(),
            "error": err.to_string(),
            "diagnostics": err.diagnostics(),
        }))?;
        return Ok(Exit::InvalidInput);
    }
    Err(invalid_input(format!(
        "bundle {} refused [{}]: {err}",
        dir.display(),
        err.reason_code()
    )))
}

fn validate(a: ValidateArgs) -> anyhow::Result<Exit> {
    let bundle = match load(&a.dir, &a.trust) {
        Ok(b) => b,
        Err(e) => return refused(&a.dir, &e, a.format),
    };
    match a.format {
        Format::Json => print_json(&serde_json::json!({
            "ok": true,
            "bundle": a.dir.display().to_string(),
            "bundle_sha256": bundle.digest(),
            "engine": bundle.engine(),
            "policies": bundle.len(),
            "warnings": bundle.warnings(),
        }))?,
        Format::Human => {
            println!(
                "ok: {} is valid: {} policies, bundle_sha256 {}, engine {}",
                a.dir.display(),
                bundle.len(),
                bundle.digest(),
                bundle.engine()
            );
            for w in bundle.warnings() {
                println!("warning: {w}");
            }
        }
    }
    Ok(Exit::Ok)
}

fn test(a: TestArgs) -> anyhow::Result<Exit> {
    let bundle = match load(&a.dir, &a.trust) {
        Ok(b) => b,
        Err(e) => return refused(&a.dir, &e, a.format),
    };
    let path = a
        .tests
        .clone()
        .unwrap_or_else(|| a.dir.join(writ_authorize::bundle::TESTS_FILE));
    let file = parse_policy_tests(&read_text(&path)?)
        .map_err(|e| invalid_input(format!("{}: {e}", path.display())))?;
    let results = run_policy_tests(&bundle, &file);
    let failed = results.iter().filter(|r| !r.passed).count();
    match a.format {
        Format::Json => print_json(&serde_json::json!({
            "passed": results.len() - failed,
            "failed": failed,
            "results": results,
        }))?,
        Format::Human => {
            for r in &results {
                if r.passed {
                    println!("ok    {}", r.name);
                } else {
                    println!("FAIL  {}", r.name);
                    for f in &r.failures {
                        println!("        {f}");
                    }
                }
            }
            println!(
                "{} passed, {failed} failed ({})",
                results.len() - failed,
                path.display()
            );
        }
    }
    Ok(if failed == 0 { Exit::Ok } else { Exit::Failure })
}

/// Reads a JSON array of items or one item per non-empty line.
fn read_many<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    let text = read_text(path)?;
    if text.trim_start().starts_with('[') {
        return serde_json::from_str(&text)
            .map_err(|e| invalid_input(format!("{}: {e}", path.display())));
    }
    if let Ok(one) = serde_json::from_str::<T>(&text) {
        return Ok(vec![one]);
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(line)
                .map_err(|e| invalid_input(format!("{}:{}: {e}", path.display(), i + 1)))?,
        );
    }
    Ok(out)
}

/// Records labelled with their ledger index, the indexes of erased decisions, and the
/// decisions that cannot be read back (a disclosure that does not check, or one missing
/// without an `evidence.erased` entry saying so) as mismatches.
type LedgerRecords = (
    PathBuf,
    Vec<(serde_json::Value, DecisionRecord)>,
    Vec<u64>,
    Vec<serde_json::Value>,
);

fn ledger_records(dir: &Path) -> anyhow::Result<LedgerRecords> {
    use writ_ledger::evidence::{DecisionEvidence, decision_from, entry_version};
    let dir = if dir.join(writ_ledger::ledger::STORE_FILE).exists() {
        dir.to_path_buf()
    } else {
        dir.join("ledger")
    };
    let ledger = writ_ledger::Ledger::open(&dir)
        .with_context(|| format!("cannot open the ledger in {}", dir.display()))?;
    let size = ledger.size();
    let mut labelled = Vec::new();
    let mut unread = Vec::new();
    let mut declared = std::collections::BTreeSet::new();
    let mut missing = Vec::new();
    let mut at = 0;
    while at < size {
        let end = size.min(at + 4096);
        let entries = ledger.entries(at, end)?;
        let indexes: Vec<u64> = (at..end).collect();
        let disclosures: std::collections::HashMap<u64, writ_ledger::Disclosure> = ledger
            .disclosures(&indexes)?
            .into_iter()
            .map(|d| (d.index, d))
            .collect();
        for (index, entry) in (at..).zip(&entries) {
            match entry_version(entry) {
                Some((kind, _)) if kind == "decision" => {}
                Some((kind, _)) if kind == "evidence.erased" => {
                    if let writ_model::entries::ExecutionRefs::Erased(list) =
                        writ_model::entries::ExecutionRefs::of(entry)
                    {
                        declared.extend(list);
                    }
                    continue;
                }
                _ => continue,
            }
            match decision_from(index, entry, disclosures.get(&index)) {
                Ok(DecisionEvidence::Record(r)) => {
                    labelled.push((serde_json::json!({"ledger_index": index}), *r));
                }
                Ok(DecisionEvidence::Erased(_)) => missing.push(index),
                Err(e) => unread.push(serde_json::json!({
                    "record": {"ledger_index": index},
                    "kind": "unreadable",
                    "error": e.to_string(),
                })),
            }
        }
        at = end;
    }
    let mut erased = Vec::new();
    for index in missing {
        if declared.contains(&index) {
            erased.push(index);
        } else {
            unread.push(serde_json::json!({
                "record": {"ledger_index": index},
                "kind": "disclosure_missing",
                "error": "the evidence store has no disclosure for this decision and no evidence.erased entry names it",
            }));
        }
    }
    Ok((dir, labelled, erased, unread))
}

fn simulate(a: SimulateArgs) -> anyhow::Result<Exit> {
    let bundle = match load(&a.dir, &a.trust) {
        Ok(b) => b,
        Err(e) => return refused(&a.dir, &e, a.format),
    };
    let requests: Vec<AuthorizeRequest> = read_many(&a.requests)?;
    let now = a.now.unwrap_or_else(|| SystemClock.now_unix());
    let records: Vec<DecisionRecord> = requests.iter().map(|r| decide(&bundle, r, now)).collect();
    if let Some(path) = &a.records {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        );
        for r in &records {
            out.write_all(&to_canonical_vec(r)?)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
    }
    match a.format {
        Format::Json => print_json(&records)?,
        Format::Human => {
            for (i, r) in records.iter().enumerate() {
                println!(
                    "#{} {} {} {} {}: {}",
                    i + 1,
                    r.decision.as_str(),
                    r.request.principal,
                    r.request.intent.action,
                    r.request.intent.resource,
                    r.reasons.join("; ")
                );
                for e in &r.errors {
                    println!("     error: {e}");
                }
            }
        }
    }
    let denied = records.iter().any(|r| r.decision == Decision::Deny);
    Ok(if denied { Exit::Denied } else { Exit::Ok })
}

fn sign(a: SignArgs) -> anyhow::Result<Exit> {
    crate::cli_output::ensure_private(&a.key, "the bundle-signing key")?;
    let key = BundleSigningKey::from_hex(&read_text(&a.key)?)
        .map_err(|e| invalid_input(format!("{}: {e}", a.key.display())))?;
    let source = match read_bundle_dir(&a.dir) {
        Ok(s) => s,
        Err(e) => return refused(&a.dir, &e, a.format),
    };
    // Only a bundle that validates is worth a signature.
    let bundle = match compile(&source) {
        Ok(b) => b,
        Err(e) => return refused(&a.dir, &e, a.format),
    };
    let sig = key.sign(bundle.digest());
    write_signature(&a.dir, &sig)?;
    match a.format {
        Format::Json => print_json(&sig)?,
        Format::Human => println!(
            "signed {}: bundle_sha256 {} with key {}",
            a.dir.display(),
            sig.bundle_sha256,
            sig.kid
        ),
    }
    Ok(Exit::Ok)
}

fn keygen(a: KeygenArgs) -> anyhow::Result<Exit> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    let key = BundleSigningKey::from_seed(seed);
    let public = key.verifying_key();
    let pub_path = PathBuf::from(format!("{}.pub", a.file.display()));
    for p in [&a.file, &pub_path] {
        if p.exists() {
            return Err(invalid_input(format!(
                "{} exists: choose another file name (keygen never overwrites a key)",
                p.display()
            )));
        }
    }
    write_secret(&a.file, &format!("{}\n", key.to_hex()))?;
    std::fs::write(&pub_path, format!("{}\n", public.to_hex()))
        .with_context(|| format!("cannot write {}", pub_path.display()))?;
    match a.format {
        Format::Json => print_json(&serde_json::json!({
            "kid": public.kid(),
            "key": a.file.display().to_string(),
            "public": pub_path.display().to_string(),
        }))?,
        Format::Human => println!(
            "wrote {} (secret, mode 0600) and {} (public), kid {}",
            a.file.display(),
            pub_path.display(),
            public.kid()
        ),
    }
    Ok(Exit::Ok)
}

fn write_secret(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = crate::cli_output::create_private(path, "keys")?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

pub fn replay(a: ReplayArgs) -> anyhow::Result<Exit> {
    let bundle = match load(&a.bundle, &a.trust) {
        Ok(b) => b,
        Err(e) => return refused(&a.bundle, &e, a.format),
    };
    let (source, labelled, erased, mut mismatches) = match (&a.record, &a.ledger) {
        (_, Some(dir)) => ledger_records(dir)?,
        (Some(path), None) => {
            let records: Vec<DecisionRecord> = read_many(path)?;
            let labelled = records
                .into_iter()
                .enumerate()
                .map(|(i, r)| (serde_json::json!(i + 1), r))
                .collect();
            (path.clone(), labelled, Vec::new(), Vec::new())
        }
        (None, None) => return Err(invalid_input("give a record file or --ledger DIR")),
    };
    if labelled.is_empty() && erased.is_empty() {
        return Err(invalid_input(format!(
            "{}: no decision records found",
            source.display()
        )));
    }
    let records: Vec<&DecisionRecord> = labelled.iter().map(|(_, r)| r).collect();
    // Decisions that could not be read back count as recorded and not matched.
    let total = records.len() + mismatches.len();
    for ((label, _), rec) in labelled.iter().zip(&records) {
        match replay_record(&bundle, rec) {
            ReplayOutcome::Match => {}
            ReplayOutcome::BundleMismatch { recorded, actual } => {
                mismatches.push(serde_json::json!({
                    "record": label,
                    "kind": "bundle_mismatch",
                    "recorded": recorded,
                    "actual": actual,
                }));
            }
            ReplayOutcome::Mismatch { recomputed } => {
                mismatches.push(serde_json::json!({
                    "record": label,
                    "kind": "decision_mismatch",
                    "recorded": {"decision": rec.decision, "determining": rec.determining,
                                 "reason_code": rec.reason_code},
                    "recomputed": {"decision": recomputed.decision,
                                   "determining": recomputed.determining,
                                   "reason_code": recomputed.reason_code},
                }));
            }
        }
    }
    let matched = total - mismatches.len();
    match a.format {
        Format::Json => print_json(&serde_json::json!({
            "result": if mismatches.is_empty() { "match" } else { "mismatch" },
            "records": total,
            "matched": matched,
            "mismatches": mismatches,
            "erased": erased,
        }))?,
        Format::Human => {
            for m in &mismatches {
                println!("mismatch: {m}");
            }
            let verdict = if mismatches.is_empty() {
                "match"
            } else {
                "MISMATCH"
            };
            println!(
                "{verdict}: {matched} of {total} recorded decisions recomputed identically under bundle {}",
                bundle.digest()
            );
            if !erased.is_empty() {
                println!(
                    "erased: {} decisions at ledger indexes {erased:?} have their disclosures erased (evidence.erased); their commitments stay in the ledger",
                    erased.len()
                );
            }
        }
    }
    Ok(if mismatches.is_empty() {
        Exit::Ok
    } else {
        Exit::Failure
    })
}
