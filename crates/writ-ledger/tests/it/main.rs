//! Integration tests of writ-ledger: one binary, one module per concern.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod api;
mod conformance;
mod crash;
mod evidence;
mod fleet;
mod props;
mod storage;
mod tamper;

/// A canonical test entry of about `pad` bytes of padding.
pub fn entry(kind: &str, n: u64, pad: usize) -> Vec<u8> {
    let v = serde_json::json!({"type": kind, "v": 1, "n": n, "pad": "x".repeat(pad)});
    writ_model::canonical::to_canonical_vec(&v).unwrap()
}

/// A tiny deterministic generator (xorshift64*), so failures can be replayed from the seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn from_time() -> Rng {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        eprintln!("rng seed {seed}");
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}
