//! writ-gate integration tests (one binary).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod exec_containment;
mod exec_faults;
mod exec_harness;
mod exec_revocation;
mod exec_runner;
mod exec_scope;
mod exec_zone;
mod mcp_bench;
mod mcp_conformance;
mod mcp_faults;
mod mcp_harness;
mod mcp_http;
mod mcp_receipts;
mod mcp_stdio;
mod mcp_tool_actions;
mod mcp_trace;
mod mcp_wire;
