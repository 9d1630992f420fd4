//! Integration tests of writ-authorize: one binary, one module per concern.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod bundles;
mod default_bundle;
mod determinism;
mod errors_deny;
mod index_equivalence;
mod numbers;
mod support;
mod tool_actions;
