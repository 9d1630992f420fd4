//! Integration tests of writ-artifact: one binary, one module per concern.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod delegation;
mod fixture;
mod interop;
mod rejections;
mod verify;
