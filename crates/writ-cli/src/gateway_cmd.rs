//! `writ gateway mcp`: the MCP gateway, between agents and their MCP servers.
//!
//! Over stdio it wraps a server command (`writ gateway mcp --upstream-name fs --pins fs.pins.json --
//! npx @modelcontextprotocol/server-filesystem /data`); with `--listen` it serves Streamable HTTP
//! in front of an HTTP upstream (`--upstream http://127.0.0.1:3001/mcp`). `writ gateway mcp pin`
//! is the operator's approve step: it lists the upstream's tools and writes the pin file the
//! gateway enforces.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use serde_json::json;
use writ_gate::exec::ChildEnv;
use writ_gate::mcp::enforce::EnforcerConfig;
use writ_gate::mcp::pins::PinSet;
use writ_gate::mcp::{Enforcer, UpstreamSandbox, discover};
use writ_gate::{ControlPlane, Gate, GateConfig};
use writ_model::{Clock, SystemClock};

use crate::cli_output::{Exit, Format, invalid_input, print_json};
use crate::operator_cmd::read_gate_key;

#[derive(Debug, clap::Args)]
pub struct GatewayArgs {
    #[command(subcommand)]
    command: GatewayCommand,
}

#[derive(Debug, clap::Subcommand)]
enum GatewayCommand {
    /// The MCP gateway: every tools/call is authorized with its exact arguments, checked against
    /// its writ, forwarded and receipted; tools/list shows only pinned tools the agent may call.
    ///
    /// Over stdio, stdout is the MCP channel: the gateway writes nothing else there (its messages
    /// go to stderr). With --listen it prints one JSON line on stdout once bound
    /// ({"event":"listening","url":…}).
    Mcp(Box<McpArgs>),
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct McpArgs {
    #[command(subcommand)]
    pin: Option<McpCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, clap::Subcommand)]
enum McpCommand {
    /// Approve the upstream's definitions: list its tools, prompts, resources and resource
    /// templates (every page) and write the pin file (each whole definition and its digest; a
    /// change to any member, title and annotations included, makes the gateway refuse it until
    /// it is pinned again). Prints what changed since the previous pins.
    Pin(PinArgs),
}

#[derive(Debug, clap::Args)]
struct PinArgs {
    /// The upstream's name in resource ids (`tool:UPSTREAM/NAME`).
    #[arg(
        long = "upstream-name",
        env = "WRIT_MCP_SERVER",
        value_name = "UPSTREAM"
    )]
    server: Option<String>,
    /// Refused: renamed --upstream-name (--control-plane is the control plane's URL).
    #[arg(long = "server", hide = true, value_name = "NAME")]
    server_old: Option<String>,
    /// The pin file to write (replaced).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// A Streamable HTTP upstream instead of a command.
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Pass this variable to the upstream command (repeat for several); see `writ gateway mcp
    /// --help`.
    #[arg(long = "pass-env", value_name = "NAME")]
    pass_env: Vec<String>,
    /// The upstream server command (stdio), after `--`.
    #[arg(last = true)]
    command: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The upstream's name in resource ids: its tool NAME is `tool:UPSTREAM/NAME` in policies.
    #[arg(
        long = "upstream-name",
        env = "WRIT_MCP_SERVER",
        value_name = "UPSTREAM"
    )]
    server: Option<String>,
    /// Refused: renamed --upstream-name (--control-plane is the control plane's URL).
    #[arg(long = "server", hide = true, value_name = "NAME")]
    server_old: Option<String>,
    /// The pin file written by `writ gateway mcp pin` (required: unpinned tools never run).
    #[arg(long, env = "WRIT_MCP_PINS", value_name = "FILE")]
    pins: Option<PathBuf>,
    /// Base URL of the control plane.
    #[arg(
        long = "control-plane",
        env = "WRIT_SERVER",
        default_value = "http://127.0.0.1:8787",
        value_name = "URL"
    )]
    control_plane: String,
    /// Run the control plane in this process, on the Writ data directory DIR (made once with
    /// `writ serve --init --data-dir DIR`; no `writ serve` may hold it at the same time):
    /// authorize and receipts then cross no socket. Its API (console, CLI) is served on
    /// --embedded-listen.
    #[arg(long, value_name = "DIR", conflicts_with = "control_plane")]
    embedded_plane: Option<PathBuf>,
    /// Where the embedded control plane serves its API.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:0",
        requires = "embedded_plane"
    )]
    embedded_listen: String,
    /// A file (mode 0600) holding the agent's token, the identity every call is made as over
    /// stdio; or set WRIT_TOKEN. Over HTTP each client sends its own `Authorization: Bearer`
    /// token; this one then only serves clients that send none.
    #[arg(long, env = "WRIT_TOKEN_FILE", value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Refused: a token on the command line is visible to every local user (`ps`).
    #[arg(long = "token", hide = true, value_name = "TOKEN")]
    token_inline: Option<String>,
    /// This gate's id (`gate:NAME`), as registered with `writ gate add`.
    #[arg(long, env = "WRIT_GATE_ID")]
    gate_id: Option<String>,
    /// The zone this gate runs in.
    #[arg(long, env = "WRIT_GATE_ZONE")]
    zone: Option<String>,
    /// The gate's secret key file (from `writ gate keygen`; mode 0600).
    #[arg(long, env = "WRIT_GATE_KEY_FILE", value_name = "FILE")]
    gate_key: Option<PathBuf>,
    /// A file (mode 0600) holding the gate's token (receipts and the event feed); or set
    /// WRIT_GATE_TOKEN.
    #[arg(long, env = "WRIT_GATE_TOKEN_FILE", value_name = "FILE")]
    gate_token_file: Option<PathBuf>,
    /// Refused: a token on the command line is visible to every local user (`ps`).
    #[arg(long = "gate-token", hide = true, value_name = "TOKEN")]
    gate_token_inline: Option<String>,
    /// The control plane's issuer id; writs from any other issuer are refused.
    #[arg(long, env = "WRIT_ISSUER")]
    issuer: Option<String>,
    /// New calls are denied once the event feed has been silent this long.
    #[arg(long, default_value_t = 30)]
    feed_grace_secs: i64,
    /// A control-plane call taking longer than this denies the tool call.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
    /// Serve Streamable HTTP on this address (e.g. 127.0.0.1:8900) instead of stdio. Once
    /// bound, one JSON line goes to stdout: {"event":"listening","url":…,"upstream":…,
    /// "upstream_name":…,"control_plane":…,"gate":…,"zone":…,"pins":…}. Over stdio nothing but
    /// MCP is ever written to stdout (it is the MCP channel); messages go to stderr.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Serve the gate's own Prometheus metrics at http://ADDR/metrics (governed calls by
    /// decision and reason code, admission latency, event-feed age, revocations held). With
    /// port 0 the bound address is logged (`metrics_url`) and, with --listen, put in the
    /// listening line.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
    /// The HTTP upstream's MCP endpoint (with --listen).
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// The HTTP path the gateway serves MCP on.
    #[arg(long, default_value = "/mcp")]
    path: String,
    /// With --listen: a browser origin (e.g. https://app.example.com) allowed to call the
    /// gateway besides loopback ones; repeat for several. Requests from other origins get 403.
    #[arg(long, value_name = "ORIGIN")]
    allow_origin: Vec<String>,
    /// Pass this variable of the gateway's environment to the stdio upstream (repeat for
    /// several, e.g. the server's own API key). The upstream otherwise gets only PATH, HOME,
    /// USER, LOGNAME, SHELL, LANG, LANGUAGE, TERM, COLORTERM, TZ, TMPDIR, NO_COLOR and LC_*;
    /// WRIT_* variables are refused.
    #[arg(long = "pass-env", value_name = "NAME")]
    pass_env: Vec<String>,
    /// A path (and its subtree) the stdio upstream may read, besides the system directories,
    /// its program's tree and the absolute paths on its command line (repeat for several).
    #[arg(long = "fs-read", value_name = "PATH")]
    fs_read: Vec<PathBuf>,
    /// A path (and its subtree) the stdio upstream may write, besides its private TMPDIR.
    #[arg(long = "fs-write", value_name = "PATH")]
    fs_write: Vec<PathBuf>,
    /// Start the stdio upstream even where the kernel offers no Landlock or no user and PID
    /// namespaces to contain it (printed plainly): it may then read the gate's key and token
    /// files and outlive the gateway.
    #[arg(long)]
    allow_uncontained: bool,
    /// The upstream server command (stdio), after `--`.
    #[arg(last = true)]
    command: Vec<String>,
}

pub fn run(args: GatewayArgs) -> anyhow::Result<Exit> {
    let GatewayCommand::Mcp(mcp) = args.command;
    // Over stdio the gateway serves one client: one thread runs every task of a call (client
    // line, authorize, upstream relay, answer), so no step waits for a wake-up on another
    // core (`writ bench mcp` measured it; see ARCHITECTURE.md). Streamable HTTP serves many
    // clients and keeps two workers. Blocking work (stdin) has its own pool either way.
    let stdio = mcp.pin.is_none() && mcp.run.listen.is_none();
    let mut builder = if stdio {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    };
    let runtime = builder
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = match *mcp {
        McpArgs {
            pin: Some(McpCommand::Pin(p)),
            ..
        } => runtime.block_on(pin(p)),
        McpArgs { run, .. } => runtime.block_on(serve(run)),
    };
    // A thread may still wait on stdin for a client that stays: the gateway is done anyway.
    runtime.shutdown_background();
    result
}

async fn pin(args: PinArgs) -> anyhow::Result<Exit> {
    let server = upstream_name(args.server.clone(), args.server_old.as_ref())?;
    let listing = match (&args.upstream, args.command.is_empty()) {
        (Some(url), true) => discover::list_all_http(url).await?,
        (None, false) => {
            let env =
                ChildEnv::new(args.pass_env.clone()).map_err(|e| invalid_input(e.to_string()))?;
            discover::list_all_stdio(&args.command, &env).await?
        }
        _ => {
            return Err(invalid_input(
                "name the upstream either with --upstream URL or as a command after `--`",
            ));
        }
    };
    let pins = PinSet::from_listing(&server, &listing);
    let changes = match PinSet::load(&args.out, &server) {
        Ok(previous) => previous.changes_to(&pins),
        Err(e) if args.out.exists() => {
            // An old (v1, v2) or unreadable file: nothing to compare with, so all is new.
            eprintln!(
                "note: the previous pins in {} were not compared ({}); review every definition below",
                args.out.display(),
                e.reason_code()
            );
            PinSet::from_tools(&server, &[]).changes_to(&pins)
        }
        Err(_) => Vec::new(),
    };
    let text = serde_json::to_string_pretty(&pins)?;
    write_private(&args.out, format!("{text}\n").as_bytes())
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    match args.format {
        Format::Json => print_json(&json!({"pins": pins, "changes": changes}))?,
        Format::Human => {
            println!(
                "pinned {} tools, {} prompts, {} resources and {} resource templates of {} in {}",
                pins.tools.len(),
                pins.prompts.len(),
                pins.resources.len(),
                pins.resource_templates.len(),
                server,
                args.out.display()
            );
            for c in &changes {
                println!("  {} {} {}", c.change, c.kind, c.tool);
            }
        }
    }
    Ok(Exit::Ok)
}

/// Writes `bytes` to `path` (replaced), readable by its owner only.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// The upstream's name from --upstream-name (or WRIT_MCP_SERVER); the old `--server` is refused
/// so that `--server` never means two things (the control plane is `--control-plane`).
fn upstream_name(name: Option<String>, old: Option<&String>) -> anyhow::Result<String> {
    if old.is_some() {
        return Err(invalid_input(
            "--server was renamed --upstream-name (the upstream's name in tool:UPSTREAM/NAME); the control plane's URL is --control-plane",
        ));
    }
    required(
        name,
        "--upstream-name NAME (or WRIT_MCP_SERVER: the upstream's name in tool:NAME/TOOL)",
    )
}

fn required<T>(v: Option<T>, what: &str) -> anyhow::Result<T> {
    v.ok_or_else(|| invalid_input(format!("missing {what}")))
}

/// A secret from its file (`--NAME-file`) or its environment variable; never from the command
/// line ([`crate::cli_output::file_or_env_secret`]).
fn gateway_secret(
    inline: Option<&String>,
    file: Option<&PathBuf>,
    flag: &str,
    env: &str,
    what: &str,
) -> anyhow::Result<Option<String>> {
    crate::cli_output::file_or_env_secret(inline, file, flag, env, what)
}

async fn serve(args: RunArgs) -> anyhow::Result<Exit> {
    // Not dumpable: the upstream (or any unprivileged process) cannot read this process's
    // environment or memory, where the tokens are.
    let _ = nix::sys::prctl::set_dumpable(false);
    let token = gateway_secret(
        args.token_inline.as_ref(),
        args.token_file.as_ref(),
        "token",
        "WRIT_TOKEN",
        "the agent's token",
    )?;
    let gate_token = gateway_secret(
        args.gate_token_inline.as_ref(),
        args.gate_token_file.as_ref(),
        "gate-token",
        "WRIT_GATE_TOKEN",
        "the gate's token",
    )?;
    let server = upstream_name(args.server, args.server_old.as_ref())?;
    let upstream_name = server.clone();
    let pins_path = required(
        args.pins,
        "--pins FILE (write it with `writ gateway mcp pin`)",
    )?;
    let pins = PinSet::load(&pins_path, &server).map_err(|e| invalid_input(e.to_string()))?;
    let child_env = ChildEnv::new(args.pass_env).map_err(|e| invalid_input(e.to_string()))?;
    let gate_id = required(args.gate_id, "--gate-id gate:NAME (or WRIT_GATE_ID)")?;
    let zone = required(args.zone, "--zone ZONE (or WRIT_GATE_ZONE)")?;
    let key_file = required(
        args.gate_key,
        "--gate-key FILE (or WRIT_GATE_KEY_FILE; WRIT_GATE_KEY is not read)",
    )?;
    let gate_token = required(
        gate_token,
        "the gate's token: --gate-token-file FILE (or WRIT_GATE_TOKEN_FILE, or WRIT_GATE_TOKEN)",
    )?;
    let key = read_gate_key(&key_file)?;
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let embedded = match &args.embedded_plane {
        Some(dir) => Some(crate::embedded_plane::start(dir, &args.embedded_listen).await?),
        None => None,
    };
    let control_plane = embedded
        .as_ref()
        .map_or_else(|| args.control_plane.clone(), |e| e.base.clone());
    let mut cp = ControlPlane::with_timeout(&control_plane, timeout);
    if let Some(e) = &embedded {
        eprintln!("writ gateway: embedded control plane on {}", e.base);
        cp = cp.with_local(e.api());
    }
    crate::gate_check::control_plane_answers(&cp, "--control-plane").await?;
    let jwks: writ_artifact::Jwks = serde_json::from_value(
        cp.get_json("/.well-known/jwks.json", None)
            .await
            .map_err(|e| anyhow!("cannot fetch the writ keys: {e}"))?,
    )
    .context("the control plane's JWKS is not valid")?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let gate = Arc::new(Gate::new(
        GateConfig {
            id: gate_id
                .parse()
                .map_err(|e| invalid_input(format!("--gate-id: {e}")))?,
            zone: zone
                .parse()
                .map_err(|e| invalid_input(format!("--zone: {e}")))?,
            issuer: args.issuer,
            feed_grace_secs: Some(args.feed_grace_secs),
        },
        key,
        &jwks,
        clock.clone(),
    )?);
    crate::gate_check::SelfCheck {
        cp: &cp,
        gate: &gate,
        gate_token: &gate_token,
        agent_token: token.as_deref(),
        action: writ_gate::mcp::enforce::CALL_TOOL,
    }
    .run()
    .await?;
    // Before the feed is followed, so the metrics line is logged before "event feed connected".
    let metrics_url = crate::gate_metrics::start(args.metrics_listen.as_deref(), &gate).await?;
    // Followed until the gateway ends: its stream (to an embedded control plane too) is
    // closed before that control plane stops.
    let follower = gate.feed().cloned().map(|feed| {
        tokio::spawn(writ_gate::follow(
            cp.clone(),
            gate_token.clone(),
            gate.revocations().clone(),
            feed,
            clock.clone(),
            |_| {},
        ))
    });
    let enforcer = Arc::new(Enforcer::new(
        gate,
        cp,
        EnforcerConfig {
            server,
            gate_token,
            pins,
            timeout,
        },
        clock,
    ));
    match (args.listen, args.upstream) {
        (Some(addr), Some(upstream)) => {
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            let url = format!("http://{}{}", listener.local_addr()?, args.path);
            eprintln!("writ gateway: MCP on {url} -> {upstream}");
            // One JSON line on stdout for scripts and supervisors (stdout carries nothing else
            // over HTTP; over stdio it is the MCP channel and this line is never printed).
            println!(
                "{}",
                json!({
                    "event": "listening",
                    "url": url,
                    "upstream": upstream,
                    "upstream_name": upstream_name,
                    "control_plane": control_plane,
                    "gate": gate_id,
                    "zone": zone,
                    "pins": pins_path,
                    "metrics": metrics_url,
                })
            );
            std::io::Write::flush(&mut std::io::stdout())
                .context("cannot write the listening line to stdout")?;
            let app = writ_gate::mcp::http::router(
                enforcer,
                upstream,
                &args.path,
                token,
                args.allow_origin,
            );
            writ_gate::mcp::http::serve(listener, app, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("the gateway's HTTP server failed")?;
        }
        (None, None) if !args.command.is_empty() => {
            let mut sandbox = UpstreamSandbox::new(
                std::env::current_exe().context("cannot find the writ binary")?,
                vec!["__sandbox".into()],
            );
            sandbox.fs_read = args.fs_read;
            sandbox.fs_write = args.fs_write;
            sandbox.allow_uncontained = args.allow_uncontained;
            // Writ's own files are hidden from the upstream, whatever --fs-read grants: with
            // an embedded control plane, its whole data directory (keys, ledger, tokens) too.
            sandbox.hide = [
                Some(&key_file),
                args.token_file.as_ref(),
                args.gate_token_file.as_ref(),
                Some(&pins_path),
                args.embedded_plane.as_ref(),
            ]
            .into_iter()
            .flatten()
            .filter_map(|p| std::fs::canonicalize(p).ok())
            .collect();
            // The client's pipes on the runtime's reactor, not tokio's blocking-thread stdio.
            let (client_in, client_out) = writ_gate::mcp::stdio::client_stdio();
            writ_gate::mcp::stdio::run_stdio_contained(
                enforcer,
                token,
                &args.command,
                &child_env,
                &sandbox,
                client_in,
                client_out,
            )
            .await?;
        }
        _ => {
            return Err(invalid_input(
                "give either `--listen ADDR --upstream URL` (Streamable HTTP) or the server command after `--` (stdio)",
            ));
        }
    }
    if let Some(f) = follower {
        f.abort();
    }
    if let Some(e) = embedded {
        e.stop().await;
    }
    Ok(Exit::Ok)
}
