//! writ-gate integration tests (one binary).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod exec_faults;
mod exec_harness;
mod exec_revocation;
mod exec_runner;
mod exec_scope;
