//! A bounded set of 32-byte fingerprints of things already verified (attestation signatures).
//! When full it starts over: forgetting only costs a verification, never a wrong acceptance.

use std::collections::HashSet;
use std::sync::Mutex;

pub struct FingerprintCache {
    set: Mutex<HashSet<[u8; 32]>>,
    capacity: usize,
}

impl FingerprintCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            set: Mutex::new(HashSet::new()),
            capacity: capacity.max(1),
        }
    }

    pub fn contains(&self, fp: &[u8; 32]) -> bool {
        self.set
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(fp)
    }

    pub fn insert(&self, fp: [u8; 32]) {
        let mut set = self.set.lock().unwrap_or_else(|p| p.into_inner());
        if set.len() >= self.capacity {
            set.clear();
        }
        set.insert(fp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_forgetful() {
        let c = FingerprintCache::new(2);
        c.insert([1; 32]);
        c.insert([2; 32]);
        assert!(c.contains(&[1; 32]));
        c.insert([3; 32]);
        assert!(c.contains(&[3; 32]));
        assert!(!c.contains(&[1; 32]));
    }
}
