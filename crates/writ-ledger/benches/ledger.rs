//! Benchmarks (placeholder, filled below).
fn main() {}
