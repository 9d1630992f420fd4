//! `writ serve`: run the control plane until SIGINT or SIGTERM, then shut down gracefully.
//!
//! Configuration comes from a TOML file (`--config`), then `WRIT_*` environment variables, then
//! the flags here. The data directory holds the ledger, the keys and the control store; `--init`
//! creates it on first start. Every acknowledged record is already durable in the ledger, so a
//! shutdown (graceful or not) loses nothing that was answered.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;
use writ_server::{AppState, ServerConfig};

use crate::cli_output::{Exit, Format, invalid_input};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// A TOML configuration file (keys: listen, data_dir, issuer, ledger_origin,
    /// writ_lifetime_secs, writ_max_lifetime_secs, max_body_bytes, heartbeat_secs,
    /// max_connections, header_read_timeout_secs, body_read_timeout_secs, [tls] cert/key,
    /// [ledger] public_reads: serve tiles and consistency proofs without a token, [store] url
    /// and schema: PostgreSQL instead of SQLite).
    /// `WRIT_*` environment variables override it; flags override both.
    #[arg(long, env = "WRIT_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// The data directory (ledger, keys, control store).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Keep the ledger, its evidence and the control store in this PostgreSQL database
    /// (postgres://user@host:port/db) instead of SQLite files in the data directory; nodes
    /// given the same database form one fleet (docs/fleet.md). Also `[store] url` in the
    /// config file or WRIT_DATABASE_URL, which is where a URL with a password belongs: one on
    /// the command line is refused.
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// The address to listen on, e.g. 127.0.0.1:8787 (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Most connections served at once (default 1024, `WRIT_MAX_CONNECTIONS`); at the cap the
    /// oldest connection waiting for a request is closed to make room. Lowered to fit the
    /// open-file limit.
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Create the data directory first if it is not initialized yet (new ledger, keys and a
    /// first admin token written to DATA_DIR/admin.token).
    #[arg(long)]
    init: bool,
    /// With --init: a trusted bundle-signing public key (hex); bundles must be signed by one
    /// of them to be activated. Repeat for several keys.
    #[arg(long = "trust-bundle-key", value_name = "HEX")]
    trust_bundle_key: Vec<String>,
    /// With --init: also print the new admin token on stdout (it is always in admin.token).
    #[arg(long)]
    print_admin_token: bool,
    /// Seconds to let in-flight requests finish after SIGINT/SIGTERM before closing
    /// connections that are still open (event streams never finish on their own).
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    grace_secs: u64,
    /// How the startup lines are printed (`json`: one JSON object per line).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

fn emit(format: Format, human: &str, value: serde_json::Value) {
    use std::io::Write;
    match format {
        Format::Human => println!("{human}"),
        Format::Json => println!("{value}"),
    }
    let _ = std::io::stdout().flush();
}

pub fn serve(args: ServeArgs) -> anyhow::Result<Exit> {
    let mut config = ServerConfig::load(args.config.as_deref(), |k| std::env::var(k).ok())
        .map_err(|e| invalid_input(format!("{e}; fix the file or the WRIT_* variable")))?;
    if let Some(d) = &args.data_dir {
        config.data_dir.clone_from(d);
    }
    database_flag(&mut config, args.database.as_deref())?;
    if let Some(l) = &args.listen {
        config.listen.clone_from(l);
    }
    if let Some(n) = args.max_connections {
        if n == 0 {
            return Err(invalid_input(
                "--max-connections must be at least 1".to_owned(),
            ));
        }
        config.max_connections = n;
    }
    let files = raise_open_file_limit();
    config.max_connections = fit_connections(config.max_connections, files);
    // Check the TLS files before touching the data directory.
    let tls = match &config.tls {
        Some(t) => {
            Some(writ_server::tls::load_acceptor(t).map_err(|e| invalid_input(e.to_string()))?)
        }
        None => None,
    };
    let initialized = config
        .data_dir
        .join(writ_server::state::LEDGER_DIR)
        .exists();
    if !initialized {
        if !args.init {
            return Err(invalid_input(format!(
                "{} is not a Writ data directory: start with `writ serve --init` to create it (or pass --data-dir)",
                config.data_dir.display()
            )));
        }
        // Built aside and renamed into place: a failed init leaves nothing behind.
        let report = crate::data_dir::init_atomically(&config.data_dir, |staged| {
            let mut staged_config = config.clone();
            staged_config.data_dir = staged.to_owned();
            let mut report = writ_server::init_data_dir(&staged_config, &args.trust_bundle_key)
                .map_err(|e| invalid_input(e.to_string()))?;
            // Where the files will be once the directory is in place.
            report.admin_token_file = config.data_dir.join(writ_server::state::ADMIN_TOKEN_FILE);
            report.data_dir.clone_from(&config.data_dir);
            Ok(report)
        })?;
        let token_note = if args.print_admin_token {
            format!("\nadmin token: {}", report.admin_token)
        } else {
            String::new()
        };
        let mut value = json!({
            "event": "initialized",
            "data_dir": report.data_dir.display().to_string(),
            "admin_token_file": report.admin_token_file.display().to_string(),
            "ledger_vkey": report.vkey,
        });
        if args.print_admin_token
            && let Some(m) = value.as_object_mut()
        {
            m.insert("admin_token".into(), json!(report.admin_token));
        }
        emit(
            args.format,
            &format!(
                "initialized {}\nadmin token written to {} (mode 0600)\nledger verifier key: {}{token_note}",
                report.data_dir.display(),
                report.admin_token_file.display(),
                report.vkey
            ),
            value,
        );
        if args.trust_bundle_key.is_empty() {
            eprintln!(
                "note: no bundle-signing key is trusted, so no policy bundle can be activated; once the server runs, trust one with `writ policy trust add KEY.pub`"
            );
        }
    } else if !args.trust_bundle_key.is_empty() {
        return Err(invalid_input(format!(
            "{} is already initialized: --trust-bundle-key only applies with a new data directory; start it without, then trust keys with `writ policy trust add KEY.pub`",
            config.data_dir.display(),
        )));
    }
    // Held until this function returns: one control plane per data directory.
    let _lock = crate::data_dir::lock(&config.data_dir)?;
    let state = AppState::open(config.clone(), Arc::new(writ_model::SystemClock))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("writ-serve")
        .build()
        .context("cannot start the async runtime")?;
    let grace = Duration::from_secs(args.grace_secs);
    let result = runtime.block_on(serve_until_signal(
        config,
        state.clone(),
        tls,
        args.format,
        grace,
    ));
    // Connections still open after the grace period are dropped with the runtime; then the
    // last reference to the state goes and the ledger writer finishes its queue and stops.
    runtime.shutdown_timeout(Duration::from_secs(2));
    drop(state);
    result?;
    eprintln!("stopped");
    Ok(Exit::Ok)
}

/// Applies `--database` over the configuration: refused when the URL carries a password (the
/// process list would show it).
fn database_flag(config: &mut ServerConfig, url: Option<&str>) -> anyhow::Result<()> {
    let Some(url) = url else {
        return Ok(());
    };
    refuse_password_flag(url)?;
    config.store.url = Some(url.to_owned());
    config
        .check()
        .map_err(|e| invalid_input(format!("{e}; fix --database")))
}

/// Refuses a `--database` URL that carries a password (see
/// [`writ_server::config::url_secrets`]): the process list would show it.
pub(crate) fn refuse_password_flag(url: &str) -> anyhow::Result<()> {
    if writ_server::config::url_secrets(url).is_empty() {
        return Ok(());
    }
    Err(invalid_input(
        "--database carries a password, which would show in the process list: pass the URL in WRIT_DATABASE_URL or as [store] url in the config file (mode 0600) instead",
    ))
}

/// File descriptors kept free of connections: the ledger, stores, logs and the runtime.
const RESERVED_FILES: u64 = 64;

/// Raises the open-file soft limit to the hard limit, as Go's runtime does at start: the cap on
/// connections, not a default soft limit (often 1024), should decide how many clients are
/// served. Returns the soft limit now in force (`None` when it cannot be read).
fn raise_open_file_limit() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard {
        if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            eprintln!(
                "note: cannot raise the open-file limit from {soft} to {hard} ({e}); connections are capped to fit {soft}"
            );
            return Some(soft);
        }
        return Some(hard);
    }
    Some(soft)
}

/// The connection cap that fits in `files` open files, keeping [`RESERVED_FILES`] for the rest.
fn fit_connections(wanted: usize, files: Option<u64>) -> usize {
    let Some(files) = files else {
        return wanted;
    };
    let room = usize::try_from(files.saturating_sub(RESERVED_FILES).max(1)).unwrap_or(usize::MAX);
    if wanted > room {
        eprintln!(
            "note: the open-file limit is {files}: serving at most {room} connections instead of {wanted}; raise the hard limit (ulimit -Hn) to serve more"
        );
        return room;
    }
    wanted
}

async fn serve_until_signal(
    config: ServerConfig,
    state: Arc<AppState>,
    tls: Option<writ_server::tls::TlsAcceptor>,
    format: Format,
    grace: Duration,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}: {e}; pick another address with --listen or WRIT_LISTEN, or stop what uses it",
                config.listen
            )
        })?;
    let addr = listener
        .local_addr()
        .context("the listener has no address")?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{addr}");
    emit(
        format,
        &format!("listening on {url}"),
        json!({"event": "listening", "url": url, "addr": addr.to_string(), "ledger_vkey": state.ledger.vkey(), "max_connections": config.max_connections}),
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stop_rx.await;
    };
    let mut server = match tls {
        Some(acceptor) => tokio::spawn(writ_server::tls::run_tls(
            listener,
            acceptor,
            state.clone(),
            shutdown,
        )),
        None => tokio::spawn(writ_server::run(listener, state.clone(), shutdown)),
    };
    tokio::select! {
        ended = &mut server => {
            return match ended {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(anyhow::anyhow!("the server stopped: {e}")),
                Err(e) => Err(anyhow::anyhow!("the server task failed: {e}")),
            };
        }
        signal = shutdown_signal() => {
            signal?;
        }
    }
    eprintln!(
        "shutting down: finishing in-flight requests (up to {}s)",
        grace.as_secs()
    );
    let _ = stop_tx.send(());
    match tokio::time::timeout(grace, &mut server).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(anyhow::anyhow!("the server stopped with an error: {e}")),
        Ok(Err(e)) => Err(anyhow::anyhow!("the server task failed: {e}")),
        Err(_) => {
            eprintln!(
                "connections still open after {}s (event streams); closing them",
                grace.as_secs()
            );
            server.abort();
            Ok(())
        }
    }
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .context("cannot watch Ctrl-C")?;
        Ok(())
    }
}

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// A TOML configuration file whose `[store]` table names the database (see `writ serve`).
    #[arg(long, env = "WRIT_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// The PostgreSQL database (postgres://user@host:port/db); with a password, give it in
    /// WRIT_DATABASE_URL or the config file instead (one here is refused).
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Output for a person (human) or a machine (json).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// `writ migrate`: creates or brings up to date the PostgreSQL schemas of a fleet by hand
/// (`writ serve` does it on start; one node migrates, the others wait on its lock).
pub fn migrate(args: MigrateArgs) -> anyhow::Result<Exit> {
    let mut config = ServerConfig::load(args.config.as_deref(), |k| std::env::var(k).ok())
        .map_err(|e| invalid_input(format!("{e}; fix the file or the WRIT_* variable")))?;
    database_flag(&mut config, args.database.as_deref())?;
    let done = writ_server::state::migrate_database(&config).map_err(|e| match e {
        writ_server::ServerError::Config(m) if config.store.url.is_none() => invalid_input(m),
        other => anyhow::anyhow!("{other}"),
    })?;
    emit(
        args.format,
        &format!(
            "migrated: {} at version {}, {} at version {}",
            done.ledger_schema, done.ledger_version, done.control_schema, done.control_version
        ),
        serde_json::to_value(&done).unwrap_or_default(),
    );
    Ok(Exit::Ok)
}
