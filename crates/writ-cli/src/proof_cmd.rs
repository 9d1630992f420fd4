//! `writ proof verify`: check a `writ.proof/v1` bundle offline and print every check (the
//! checks themselves are in `proof_check.rs`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use ed25519_dalek::VerifyingKey;
use serde_json::json;
use writ_ledger::ProofBundle;

use crate::cli_output::{Exit, Format, invalid_input, print_json};
use crate::proof_check::{Options, check_bundle};

/// Largest bundle read (a bundle of an execution with many receipts stays far below).
const MAX_BUNDLE_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, clap::Args)]
pub struct ProofArgs {
    #[command(subcommand)]
    command: ProofCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ProofCommand {
    /// Check a proof bundle offline (from `GET /v1/proofs/{execution}` or `writ ledger proof`):
    /// the checkpoint's signature, every entry's leaf hash and inclusion, each disclosure
    /// against its commitment, the writ's signature against the bundle's JWKS and its claims
    /// against its decision, and each receipt's gate signature. An expired writ still
    /// verifies: a proof is about the past. Prints each check as pass, fail or skip; exits 0
    /// only if none failed, else 1 naming the failed checks.
    Verify(VerifyArgs),
    /// Write the Governance Proof Viewer as one self-contained HTML file: open it in a browser
    /// (from disk is fine), drop or paste a bundle, and it is verified there with no network
    /// request at all (its Content-Security-Policy allows none). The same viewer as /ui/proof.
    Viewer(ViewerArgs),
}

#[derive(Debug, clap::Args)]
struct ViewerArgs {
    /// Where to write the HTML file.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Replace the file if it exists.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    /// The proof bundle JSON file, or `-` to read standard input.
    file: PathBuf,
    /// The log's verifier key (origin+hexid+base64, from `writ ledger vkey` or
    /// GET /v1/ledger/vkey). Without it the bundle's own key is used, with a warning.
    #[arg(long, conflicts_with = "vkey_file", value_name = "VKEY")]
    vkey: Option<String>,
    /// A file holding the log's verifier key.
    #[arg(long, value_name = "FILE")]
    vkey_file: Option<PathBuf>,
    /// The control plane's writ keys, a JWKS file (GET /.well-known/jwks.json). Without it
    /// the writ is checked against the bundle's own JWKS, with a warning.
    #[arg(long, value_name = "FILE")]
    jwks: Option<PathBuf>,
    /// A gate's receipt-signing public key, GATE=HEX (the public_key of `writ gate list`);
    /// repeat for several gates. Receipts of gates without a key are skipped.
    #[arg(long = "gate-key", value_name = "GATE=HEX")]
    gate_keys: Vec<String>,
    /// Output for a person (human) or a machine (json).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

pub fn run(args: ProofArgs) -> anyhow::Result<Exit> {
    match args.command {
        ProofCommand::Verify(v) => verify(v),
        ProofCommand::Viewer(v) => viewer(v),
    }
}

/// Writes the standalone viewer: a public artifact (0644), never over a file without `--force`.
fn viewer(args: ViewerArgs) -> anyhow::Result<Exit> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let page = crate::proof_viewer::html()?;
    let mut open = std::fs::OpenOptions::new();
    open.write(true).mode(0o644);
    if args.force {
        open.create(true).truncate(true);
    } else {
        open.create_new(true);
    }
    let mut f = open.open(&args.out).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            invalid_input(format!(
                "{} exists; pass --force to replace it",
                args.out.display()
            ))
        } else {
            invalid_input(format!("cannot write {}: {e}", args.out.display()))
        }
    })?;
    f.write_all(page.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "wrote {} ({} bytes): open it in a browser and drop a proof bundle on it",
        args.out.display(),
        page.len()
    );
    Ok(Exit::Ok)
}

fn read_bundle(file: &PathBuf) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if file.as_os_str() == "-" {
        std::io::stdin()
            .take(MAX_BUNDLE_BYTES + 1)
            .read_to_end(&mut bytes)
            .context("cannot read the bundle from standard input")?;
    } else {
        std::fs::File::open(file)
            .and_then(|f| f.take(MAX_BUNDLE_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|e| invalid_input(format!("cannot read {}: {e}", file.display())))?;
    }
    if bytes.len() as u64 > MAX_BUNDLE_BYTES {
        return Err(invalid_input(format!(
            "the bundle is larger than {MAX_BUNDLE_BYTES} bytes"
        )));
    }
    Ok(bytes)
}

fn gate_key(spec: &str) -> anyhow::Result<(String, VerifyingKey)> {
    let (gate, hex_key) = spec
        .split_once('=')
        .ok_or_else(|| invalid_input(format!("--gate-key {spec:?}: expected GATE=HEX")))?;
    let key = hex::decode(hex_key.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .and_then(|b| VerifyingKey::from_bytes(&b).ok())
        .ok_or_else(|| {
            invalid_input(format!(
                "--gate-key {gate}: the key must be a 32-byte Ed25519 public key in hex"
            ))
        })?;
    Ok((gate.to_owned(), key))
}

fn verify(args: VerifyArgs) -> anyhow::Result<Exit> {
    let bytes = read_bundle(&args.file)?;
    let bundle = ProofBundle::from_json(&bytes)
        .map_err(|e| invalid_input(format!("{}: {e}", args.file.display())))?;
    let vkey = match (&args.vkey, &args.vkey_file) {
        (Some(v), _) => Some(v.trim().to_owned()),
        (None, Some(f)) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| invalid_input(format!("cannot read {}: {e}", f.display())))?
                .trim()
                .to_owned(),
        ),
        (None, None) => None,
    };
    let gate_keys = args
        .gate_keys
        .iter()
        .map(|s| gate_key(s))
        .collect::<anyhow::Result<BTreeMap<_, _>>>()?;
    let jwks = match &args.jwks {
        None => None,
        Some(f) => {
            let text = std::fs::read(f)
                .map_err(|e| invalid_input(format!("cannot read {}: {e}", f.display())))?;
            Some(
                serde_json::from_slice(&text)
                    .map_err(|e| invalid_input(format!("{}: not JSON: {e}", f.display())))?,
            )
        }
    };
    let report = check_bundle(
        &bundle,
        &Options {
            vkey,
            gate_keys,
            jwks,
        },
    );
    let failed = report.failed();
    match args.format {
        Format::Json => print_json(&json!({
            "ok": report.ok(),
            "failed": failed,
            "checks": report.checks,
            "warnings": report.warnings,
        }))?,
        Format::Human => {
            let width = report
                .checks
                .iter()
                .map(|c| c.name.len())
                .max()
                .unwrap_or(0);
            for c in &report.checks {
                println!("{:<4}  {:<width$}  {}", c.status.as_str(), c.name, c.detail);
            }
            for w in &report.warnings {
                println!("warning: {w}");
            }
            let count = |s| report.checks.iter().filter(|c| c.status == s).count();
            use crate::proof_check::Status;
            println!(
                "{}: {} passed, {} failed, {} skipped",
                if report.ok() {
                    "verified"
                } else {
                    "NOT verified"
                },
                count(Status::Pass),
                count(Status::Fail),
                count(Status::Skip)
            );
        }
    }
    if failed.is_empty() {
        Ok(Exit::Ok)
    } else {
        eprintln!("writ proof verify: failed: {}", failed.join(", "));
        Ok(Exit::Failure)
    }
}
