//! Enforcement points (execute): where governance becomes real.
//!
//! A [`Gate`] runs an action only with a valid writ for exactly that action (the intent digest is
//! recomputed from the call about to be made), attests where it runs, signs receipts of outcomes,
//! and follows the control plane's event feed so revocations, quarantines and the kill switch
//! reach it at once; when the feed has been silent past its grace period it denies new work.
//! [`ControlPlane`] is the HTTP client agents and gates use to talk to `writ serve`.
//!
//! Users' own executors link this crate: see `examples/` for a minimal one.

pub mod call_log;
pub mod client;
pub mod error;
pub mod events;
pub mod exec;
pub mod gate;
mod lane;
pub mod mcp;
pub mod metrics;

pub use client::{Authorization, AuthorizeOptions, ControlPlane};
pub use error::GateError;
pub use events::{FeedEvent, SseParser, follow};
pub use gate::{FeedHealth, Gate, GateConfig};
pub use lane::{LocalAnswer, LocalApi};
