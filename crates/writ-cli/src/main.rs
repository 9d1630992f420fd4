//! `writ`: the command line of the Writ control plane.
//!
//! The binary stays thin: every subcommand parses its flags, calls into a library crate and
//! prints the result as a person or a machine asked (`--format human|json`).

mod cli_output;
mod ledger_cmd;
mod policy_cmd;
mod writ_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cli_output::{Exit, report_error};

/// Writ: execution governance for autonomous AI agents.
///
/// Every action an agent takes is verified, authorized by a deterministic policy, executed
/// only with a signed writ, and proved in an append-only Merkle ledger.
///
/// Exit codes: 0 allowed or ok, 2 denied, 3 invalid input, 1 failure.
#[derive(Debug, Parser)]
#[command(name = "writ", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a short end-to-end demonstration in a temporary directory.
    Demo(ledger_cmd::DemoArgs),
    /// The append-only evidence ledger: init, append, checkpoints, proofs, verification, tiles.
    Ledger(ledger_cmd::LedgerArgs),
    /// Policy bundles: validate, test and simulate before activation.
    Policy(policy_cmd::PolicyArgs),
    /// Recompute a recorded decision and say whether it matches.
    Replay(policy_cmd::ReplayArgs),
    /// Print the decoded claims of a writ (does not verify it).
    Inspect(writ_cmd::InspectArgs),
    /// Verify a writ offline, as a gate would, against a JWKS and an intent.
    VerifyWrit(writ_cmd::VerifyWritArgs),
    /// Load generators that print throughput and latency.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Durable appends per second and integration latency of the ledger.
    Ledger(ledger_cmd::BenchLedgerArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => ledger_cmd::demo(args),
        Command::Ledger(args) => ledger_cmd::run(args),
        Command::Policy(args) => policy_cmd::run(args),
        Command::Replay(args) => policy_cmd::replay(args),
        Command::Inspect(args) => writ_cmd::inspect(args),
        Command::VerifyWrit(args) => writ_cmd::verify_writ(args),
        Command::Bench(BenchCommand::Ledger(args)) => ledger_cmd::bench(args),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(err) => report_error(&err).into(),
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}
