//! The Writ control plane: the HTTP API agents and gates talk to.
//!
//! Each authorize request is authenticated (verify), decided by the active policy bundle
//! (authorize), recorded durably in the ledger (prove) and only then answered with a writ that a
//! gate checks before it runs the action (execute). The server is a library function so tests start
//! a real one on `127.0.0.1:0`; `writ serve` is a thin wrapper.

pub mod access_log;
pub mod admin;
pub mod api;
pub mod attest;
pub mod auth;
pub mod backup;
pub mod cache;
pub mod config;
pub mod contact;
pub mod error;
pub mod events;
pub mod evidence;
pub mod exec;
pub mod exec_search;
pub mod executions;
pub mod extract;
pub mod gate_api;
pub mod guard;
pub mod health;
pub mod history;
pub mod lease;
pub mod metrics;
pub mod openapi;
pub mod record;
pub mod serve;
pub mod simulate;
pub mod state;
pub mod status;
pub mod store;
pub mod tls;
pub mod ui;

pub use config::ServerConfig;
pub use error::{ApiError, ServerError};

use std::future::Future;
use std::sync::Arc;

pub use state::{AppState, init_data_dir};

/// Serves the API on `listener` until `shutdown` resolves, then finishes in-flight requests.
/// Every acknowledged ledger record is already durable, so nothing acknowledged is lost.
/// Connections are served within the limits of the configuration (see [`serve`]). The lease
/// sweep ([`lease`]) and the status sampler ([`health`]) run alongside until then.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with_routes(listener, state, axum::Router::new(), shutdown).await
}

/// The API's router with its access log and HTTP metrics, as [`run`] serves it, for requests
/// made inside this process: a gateway that embeds its control plane (`writ gateway mcp
/// --embedded-plane`) sends its authorize and receipt requests through it without a socket.
pub fn in_process_router(state: Arc<AppState>) -> axum::Router {
    access_log::layer(api::router(state))
}

/// [`run`], with `extra` routes merged into the API's router (they must not overlap it): how a
/// process that embeds the control plane adds its own routes, such as `writ demo --web`'s demo
/// steps, which exist only in that process.
pub async fn run_with_routes(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    extra: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = serve::Limits::from_config(&state.config);
    let sweep = lease::spawn_sweep(Arc::clone(&state));
    let sampler = health::spawn_sampler(Arc::clone(&state));
    let app = api::router(state).merge(extra);
    let served = serve::serve(
        listener,
        app,
        limits,
        shutdown,
        |tcp| async move { Some(tcp) },
    )
    .await;
    sweep.stop().await;
    sampler.abort();
    served
}
