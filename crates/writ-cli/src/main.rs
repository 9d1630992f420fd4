//! `writ`: the command line of the Writ control plane.
//!
//! The binary stays thin: every subcommand parses its flags, calls into a library crate and
//! prints the result as a person or a machine asked (`--format human|json`).

// Every `println!` and `print!` of the binary goes through `cli_output::write_stdout` (these
// definitions shadow std's in every module below): when the reader of stdout has gone
// (`writ demo | head -1`), the command ends quietly with 0 instead of std's panic "failed
// printing to stdout". SIGPIPE stays ignored, as Rust sets it, so sockets are unaffected.
macro_rules! println {
    () => {
        $crate::cli_output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli_output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

macro_rules! print {
    ($($arg:tt)*) => {
        $crate::cli_output::write_stdout(format_args!($($arg)*))
    };
}

mod backup_cmd;
mod bench_authorize;
mod bench_fleet;
mod bench_http;
mod bench_mcp;
mod bench_plane;
mod cli_output;
mod data_dir;
mod default_bundle;
mod demo_cmd;
mod demo_web;
mod embedded_plane;
mod exec_cmd;
mod gate_check;
mod gate_metrics;
mod gateway_cmd;
mod ledger_cmd;
mod logging;
mod operator_cmd;
mod policy_cmd;
mod proof_check;
mod proof_cmd;
mod proof_viewer;
mod serve_cmd;
mod status_cmd;
mod writ_cmd;

use std::process::ExitCode;

/// mimalloc: the authorize path allocates many small short-lived buffers (JSON, canonical
/// forms, claims); glibc malloc spent about 12% of the server's CPU on them under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

use crate::cli_output::{Exit, report_error};

/// Writ: execution governance for autonomous AI agents.
///
/// Every action an agent takes is verified, authorized by a deterministic policy, executed
/// only with a signed writ, and proved in an append-only Merkle ledger.
///
/// Exit codes: 0 allowed or ok, 2 denied, 3 invalid input, 1 failure (`writ exec`: the
/// command's own status, and 122/123/121 when it did not run; see `writ exec --help`).
#[derive(Debug, Parser)]
#[command(name = "writ", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How the logs of `serve`, `gateway mcp` and `exec` are written to stderr: `text`, or
    /// `json` (one object per line). Levels come from WRIT_LOG, else RUST_LOG (default info).
    #[arg(
        long,
        global = true,
        env = "WRIT_LOG_FORMAT",
        value_enum,
        default_value_t
    )]
    log_format: logging::LogFormat,
    /// Export the spans of `serve`, `gateway mcp` and `exec` over OTLP/HTTP (protobuf) to this
    /// collector base URL, e.g. http://127.0.0.1:4318 (spans go to URL/v1/traces). Spans
    /// carry ids, actions, resources and outcomes, never argument values or tokens.
    #[arg(
        long,
        global = true,
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        value_name = "URL"
    )]
    otlp_endpoint: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the end-to-end demonstration: a real control plane on 127.0.0.1 with the embedded
    /// SQLite ledger in a temporary directory, and a scripted agent going verify -> authorize ->
    /// execute -> prove (allowed, denied, tampered, delegated and revoked calls, then a proof).
    Demo(demo_cmd::DemoArgs),
    /// The ledger on its own: append governance entries, prove one, detect a tampered copy.
    #[command(hide = true)]
    LedgerDemo(ledger_cmd::DemoArgs),
    /// The append-only evidence ledger: init, append, checkpoints, proofs, verification, tiles.
    Ledger(ledger_cmd::LedgerArgs),
    /// Policy bundles: validate, test and simulate before activation; keygen, sign, activate.
    Policy(policy_cmd::PolicyArgs),
    /// Proof bundles: `writ proof verify FILE` checks one offline and names each check.
    Proof(proof_cmd::ProofArgs),
    /// Recompute a recorded decision and say whether it matches.
    Replay(policy_cmd::ReplayArgs),
    /// Print the decoded claims of a writ (does not verify it).
    Inspect(writ_cmd::InspectArgs),
    /// Verify a writ offline, as a gate would, against a JWKS and an intent.
    VerifyWrit(writ_cmd::VerifyWritArgs),
    /// Run the control plane (HTTP API) until SIGINT/SIGTERM.
    Serve(serve_cmd::ServeArgs),
    /// Create or bring up to date the PostgreSQL schemas of a fleet (`writ serve` does it on
    /// start; this runs it by hand, e.g. before a rolling upgrade).
    Migrate(serve_cmd::MigrateArgs),
    /// Principals on a running server: add (prints the token once), list, revoke.
    Principal(operator_cmd::PrincipalArgs),
    /// Gates on a running server: add, list; keygen makes a gate's signing key.
    Gate(operator_cmd::GateArgs),
    /// Revoke a writ (--jti), a principal or a zone on a running server.
    Revoke(operator_cmd::RevokeArgs),
    /// Quarantine (or --release) a principal or a zone on a running server.
    Quarantine(operator_cmd::QuarantineArgs),
    /// Engage or release the kill switch on a running server: `on` stops every authorization.
    KillSwitch(operator_cmd::KillSwitchArgs),
    /// Erase what was said in governed actions (disclosures, writ copies) on a running server:
    /// `writ evidence erase --execution ID` or `--principal P --before TIME`.
    Evidence(operator_cmd::EvidenceArgs),
    Status(status_cmd::StatusArgs),
    Executions(status_cmd::ExecutionsArgs),
    /// Gateways in front of agents' tools: `writ gateway mcp` (stdio or Streamable HTTP) and
    /// `writ gateway mcp pin` (approve the upstream's tool definitions).
    Gateway(gateway_cmd::GatewayArgs),
    /// Run a command only with a writ for exactly that command (argv, cwd, environment
    /// digest), sandboxed, watched while it runs, with a signed receipt.
    Exec(Box<exec_cmd::ExecArgs>),
    /// Load generators that print throughput and latency.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Copy every store, key and trust file of a data directory into a new directory while
    /// the server keeps running (a consistent snapshot of each SQLite store).
    Backup(backup_cmd::BackupArgs),
    /// Create a new data directory from a `writ backup` directory, checking every file.
    Restore(backup_cmd::RestoreArgs),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Durable appends per second and integration latency of the ledger.
    Ledger(ledger_cmd::BenchLedgerArgs),
    /// Closed-loop authorize load against a server (or --self-hosted), with a /healthz baseline.
    Authorize(Box<bench_authorize::BenchAuthorizeArgs>),
    /// One MCP tools/call, alternating: direct, through `writ gateway mcp`, through AGT.
    Mcp(Box<bench_mcp::BenchMcpArgs>),
    /// Authorizations/s, latency and CPU per authorization: one node on SQLite, one and N
    /// nodes on one PostgreSQL, in one run.
    Fleet(Box<bench_fleet::BenchFleetArgs>),
    /// `writ bench mcp`'s floor path: a bare stdio relay in front of a command.
    #[command(hide = true)]
    Relay(bench_mcp::RelayArgs),
}

fn main() -> ExitCode {
    // The command runner's sandbox launcher, re-executed by `writ exec` (not a user command).
    if std::env::args_os().nth(1).is_some_and(|a| a == "__sandbox") {
        return exec_cmd::sandbox_main();
    }
    // Usage errors are invalid input (3), not a denial (2, clap's default); help and version are ok.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                // `writ exec` passes its command's status through: its own codes are 12x.
                if std::env::args_os().nth(1).is_some_and(|a| a == "exec") {
                    exec_cmd::not_run(Exit::InvalidInput)
                } else {
                    Exit::InvalidInput.into()
                }
            } else {
                Exit::Ok.into()
            };
        }
    };
    let service = match &cli.command {
        Command::Serve(_) => Some("writ-serve"),
        Command::Gateway(_) => Some("writ-gateway"),
        Command::Exec(_) => Some("writ-exec"),
        _ => None,
    };
    // Held to the end: dropping it flushes the spans not exported yet.
    let _traces = match service {
        Some(service) => match logging::init(cli.log_format, cli.otlp_endpoint.as_deref(), service)
        {
            Ok(t) => t,
            Err(e) => return report_error(&e).into(),
        },
        None => None,
    };
    // A closed stdout unwinds to here (cli_output::write_stdout): the reader has read enough.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dispatch(cli.command))) {
        Ok(code) => code,
        Err(payload) if payload.is::<cli_output::StdoutClosed>() => Exit::Ok.into(),
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

fn dispatch(command: Command) -> ExitCode {
    let result = match command {
        Command::Demo(args) => demo_cmd::run(args),
        Command::LedgerDemo(args) => ledger_cmd::demo(args),
        Command::Ledger(args) => ledger_cmd::run(args),
        Command::Policy(args) => policy_cmd::run(args),
        Command::Proof(args) => proof_cmd::run(args),
        Command::Replay(args) => policy_cmd::replay(args),
        Command::Inspect(args) => writ_cmd::inspect(args),
        Command::VerifyWrit(args) => writ_cmd::verify_writ(args),
        Command::Gateway(args) => gateway_cmd::run(args),
        Command::Exec(args) => return exec_cmd::run(*args),
        Command::Bench(BenchCommand::Ledger(args)) => ledger_cmd::bench(args),
        Command::Bench(BenchCommand::Authorize(args)) => bench_authorize::bench(*args),
        Command::Bench(BenchCommand::Mcp(args)) => bench_mcp::bench(*args),
        Command::Bench(BenchCommand::Fleet(args)) => bench_fleet::bench(*args),
        Command::Bench(BenchCommand::Relay(args)) => bench_mcp::relay(args),
        Command::Serve(args) => serve_cmd::serve(args),
        Command::Migrate(args) => serve_cmd::migrate(args),
        Command::Principal(args) => operator_cmd::principal(args),
        Command::Gate(args) => operator_cmd::gate(args),
        Command::Revoke(args) => operator_cmd::revoke(args),
        Command::Quarantine(args) => operator_cmd::quarantine(args),
        Command::KillSwitch(args) => operator_cmd::kill_switch(args),
        Command::Evidence(args) => operator_cmd::evidence(args),
        Command::Status(args) => status_cmd::status(args),
        Command::Executions(args) => status_cmd::executions(args),
        Command::Backup(args) => backup_cmd::backup(args),
        Command::Restore(args) => backup_cmd::restore(args),
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
