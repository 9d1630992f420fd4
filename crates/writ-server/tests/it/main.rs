//! Integration tests: a real server on 127.0.0.1:0 with a real SQLite ledger in a temp dir.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod access;
mod api_document;
mod control_pg;
mod failclosed;
mod flows;
mod harness;
mod health;
mod leases;
mod lineage_tree;
mod modules;
mod numbers;
mod routes;
mod schema;
mod status;
mod traces;
mod trust;
mod ui;
mod ui_browser;
mod ui_lineage;
