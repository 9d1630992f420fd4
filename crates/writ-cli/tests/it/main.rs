//! End-to-end tests of the `writ` binary: one test binary, one module per command family.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod backup;
mod cli;
mod data_dir;
mod demo;
mod deploy;
mod gate_check;
mod gateway;
mod governed;
mod ledger;
mod logs;
mod policy;
mod readme;
mod serve;
mod serve_limits;
mod status;
mod traces;
mod upstream;
mod writ;
