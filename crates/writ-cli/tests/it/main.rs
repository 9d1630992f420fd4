//! End-to-end tests of the `writ` binary: one test binary, one module per command family.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod backup;
mod bench_mcp;
mod browser;
mod cli;
mod data_dir;
mod demo;
mod demo_web;
mod deploy;
mod evidence;
mod fleet;
mod gate_check;
mod gateway;
mod governed;
mod ledger;
mod logs;
mod policy;
mod policy_authoring;
mod proof;
mod readme;
mod serve;
mod serve_limits;
mod status;
mod traces;
mod ui_proof;
mod upstream;
mod verify_js;
mod writ;
