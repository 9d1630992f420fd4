//! `writ backup` and `writ restore`: an online copy of every store of a data directory, taken
//! beside a running `writ serve`, and a new data directory built from one. The work is done by
//! `writ_server::backup` (where the reasons for its order and its safety are written).

use std::path::PathBuf;

use serde_json::json;
use writ_model::{Clock, SystemClock};

use crate::cli_output::{Exit, Format, invalid_input, print_json};
use crate::data_dir;

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The directory to write the backup into (created with mode 0700; must be absent or
    /// empty). Every store, key and trust file is copied with mode 0600, then a manifest
    /// `writ-backup.json` with each file's size and SHA-256.
    dir: PathBuf,
    /// The data directory to back up; the server may keep running (its SQLite stores are read
    /// as snapshots, nothing in the data directory is written).
    #[arg(long, env = "WRIT_DATA_DIR", value_name = "DIR")]
    data_dir: PathBuf,
    /// Output for a person (human) or a machine (json).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// A backup directory made by `writ backup` (with its `writ-backup.json`).
    dir: PathBuf,
    /// The data directory to create from the backup; it must not exist or be empty. Start
    /// `writ serve --data-dir` on it afterwards (the execution index catches up from the
    /// ledger on start).
    #[arg(long, env = "WRIT_DATA_DIR", value_name = "DIR")]
    data_dir: PathBuf,
    /// Output for a person (human) or a machine (json).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

fn summary(manifest: &writ_server::backup::Manifest) -> (usize, u64) {
    (
        manifest.files.len(),
        manifest.files.iter().map(|f| f.bytes).sum(),
    )
}

pub fn backup(args: BackupArgs) -> anyhow::Result<Exit> {
    let manifest = writ_server::backup::backup(&args.data_dir, &args.dir, SystemClock.now_unix())
        .map_err(|e| invalid_input(e.to_string()))?;
    let (files, bytes) = summary(&manifest);
    match args.format {
        Format::Json => print_json(&json!({"backup": args.dir, "manifest": manifest}))?,
        Format::Human => {
            println!(
                "backed up {} into {}: {files} files, {bytes} bytes",
                args.data_dir.display(),
                args.dir.display()
            );
            for f in &manifest.files {
                println!("  {:<24} {:>12}  {}", f.path, f.bytes, f.sha256);
            }
        }
    }
    Ok(Exit::Ok)
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<Exit> {
    // Built aside and renamed into place: a failed restore leaves nothing behind.
    let manifest = data_dir::init_atomically(&args.data_dir, |staged| {
        writ_server::backup::restore_into(&args.dir, staged)
            .map_err(|e| invalid_input(e.to_string()))
    })?;
    let (files, bytes) = summary(&manifest);
    match args.format {
        Format::Json => print_json(&json!({"data_dir": args.data_dir, "manifest": manifest}))?,
        Format::Human => println!(
            "restored {} into {}: {files} files, {bytes} bytes, each matching its SHA-256",
            args.dir.display(),
            args.data_dir.display()
        ),
    }
    Ok(Exit::Ok)
}
