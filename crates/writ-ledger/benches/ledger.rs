//! Ledger benchmarks, each next to a baseline measured in the same run:
//! - inclusion proof generation and verification in a 1,000,000-leaf tree (in memory and from
//!   the SQLite tiles), against one bare SHA-256 of 64 bytes;
//! - `Ledger::open` at 1,000,000 entries, against `Ledger::open` at 1,000 entries (open time
//!   must not grow with the log), and bytes on disk per entry.
//!
//! `cargo bench -p writ-ledger` (set `WRIT_BENCH_ENTRIES` to change the 1,000,000).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use sha2::{Digest, Sha256};
use writ_ledger::Ledger;
use writ_ledger::hash::leaf_hash;
use writ_ledger::proof::{MemoryTree, inclusion_proof, tree_root, verify_inclusion};

fn entries() -> u64 {
    std::env::var("WRIT_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// A 300-byte canonical entry.
fn entry(i: u64) -> Vec<u8> {
    let skeleton = format!(r#"{{"n":{i},"pad":"","type":"decision","v":1}}"#);
    format!(
        r#"{{"n":{i},"pad":"{}","type":"decision","v":1}}"#,
        "x".repeat(300 - skeleton.len())
    )
    .into_bytes()
}

fn fill(dir: &Path, n: u64) -> Ledger {
    let ledger = Ledger::init(dir, "bench.example/log").unwrap();
    let start = Instant::now();
    let mut handles = Vec::with_capacity(65_536);
    for i in 0..n {
        handles.push(ledger.submit(entry(i)).unwrap());
        if handles.len() == 65_536 {
            handles.drain(..).for_each(|h| {
                h.wait().unwrap();
            });
        }
    }
    handles.into_iter().for_each(|h| {
        h.wait().unwrap();
    });
    eprintln!(
        "filled {n} entries in {:.1} s (single submitter, deep queue)",
        start.elapsed().as_secs_f64()
    );
    ledger
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

fn benches(c: &mut Criterion) {
    let n = entries();
    let big_dir = tempfile::tempdir().unwrap();
    let small_dir = tempfile::tempdir().unwrap();
    let ledger = fill(big_dir.path(), n);
    drop(fill(small_dir.path(), 1_000));

    let mem = MemoryTree::from_leaf_hashes((0..n).map(|i| leaf_hash(&entry(i))).collect());
    assert_eq!(&mem.root(), ledger.checkpoint().root());
    let root = tree_root(&mem, n).unwrap();

    let mut g = c.benchmark_group("proof");
    let block = [7u8; 64];
    g.bench_function("baseline_sha256_64B", |b| {
        b.iter(|| Sha256::digest(black_box(&block)))
    });
    let mut i = 0u64;
    g.bench_function("inclusion_generate_memory_1M", |b| {
        b.iter(|| {
            i = (i + 7_919) % n;
            inclusion_proof(&mem, black_box(i), n).unwrap()
        })
    });
    g.bench_function("inclusion_generate_tiles_1M", |b| {
        b.iter(|| {
            i = (i + 7_919) % n;
            ledger.inclusion_proof(black_box(i), n).unwrap()
        })
    });
    let proofs: Vec<(u64, Vec<[u8; 32]>)> = (0..1024u64)
        .map(|k| {
            let idx = (k * 977) % n;
            (idx, inclusion_proof(&mem, idx, n).unwrap())
        })
        .collect();
    let mut k = 0usize;
    g.bench_function("inclusion_verify_1M", |b| {
        b.iter(|| {
            k = (k + 1) % proofs.len();
            let (idx, p) = &proofs[k];
            let leaf = mem.level(0)[*idx as usize];
            verify_inclusion(*idx, n, &leaf, p, &root).unwrap()
        })
    });
    g.finish();
    drop(ledger);

    let disk = dir_bytes(big_dir.path());
    eprintln!(
        "on disk: {disk} bytes for {n} entries of 300 bytes = {:.1} bytes/entry",
        disk as f64 / n as f64
    );
    let mut g = c.benchmark_group("open");
    g.sample_size(20);
    g.bench_function("baseline_open_1k", |b| {
        b.iter(|| Ledger::open(small_dir.path()).unwrap())
    });
    g.bench_function("open_1M", |b| {
        b.iter(|| Ledger::open(big_dir.path()).unwrap())
    });
    g.finish();
}

criterion_group!(ledger_benches, benches);
criterion_main!(ledger_benches);
