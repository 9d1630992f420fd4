//! The Writ control plane: the HTTP API agents and gates talk to.
//!
//! Each authorize request is authenticated (verify), decided by the active policy bundle
//! (authorize), recorded durably in the ledger (prove) and only then answered with a writ that a
//! gate checks before it runs the action (execute). The server is a library function so tests start
//! a real one on `127.0.0.1:0`; `writ serve` is a thin wrapper.

pub mod auth;
pub mod config;
pub mod error;
pub mod events;
pub mod extract;
pub mod metrics;
pub mod store;

pub use config::ServerConfig;
pub use error::{ApiError, ServerError};
