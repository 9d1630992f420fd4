//! The replay cache: counts how often each writ was accepted, with bounded memory.
//!
//! An entry lives until its writ can no longer be accepted anyway (`exp` + leeway). When the
//! cache is full of live entries it refuses new writs (fail closed) instead of evicting a
//! live entry, which would let that writ be replayed.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use crate::error::VerifyError;

#[derive(Default)]
struct State {
    /// jti → uses so far.
    entries: HashMap<String, u32>,
    /// `(forget_at, jti)`, ordered so expired entries are dropped from the front.
    by_expiry: BTreeSet<(i64, String)>,
}

/// Thread-safe replay cache shared by all verifications of a gate.
pub struct ReplayCache {
    capacity: usize,
    state: Mutex<State>,
}

impl std::fmt::Debug for ReplayCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayCache")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

impl ReplayCache {
    /// A cache holding at most `capacity` live writs.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent between statements; a panic elsewhere does not corrupt it.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Entries currently held (live or not yet purged).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records one use of `jti`, which may be used `max_uses` times and can be forgotten at
    /// `forget_at` (its exp plus leeway). Returns the use number (1 for the first).
    pub fn record_use(
        &self,
        jti: &str,
        max_uses: u32,
        forget_at: i64,
        now: i64,
    ) -> Result<u32, VerifyError> {
        let mut st = self.lock();
        purge(&mut st, now);
        if let Some(uses) = st.entries.get_mut(jti) {
            if *uses >= max_uses {
                return Err(VerifyError::Replayed {
                    jti: jti.to_owned(),
                    max_uses,
                });
            }
            *uses += 1;
            return Ok(*uses);
        }
        if max_uses == 0 {
            return Err(VerifyError::Replayed {
                jti: jti.to_owned(),
                max_uses,
            });
        }
        if st.entries.len() >= self.capacity {
            return Err(VerifyError::ReplayCacheFull {
                capacity: self.capacity,
            });
        }
        st.entries.insert(jti.to_owned(), 1);
        st.by_expiry.insert((forget_at, jti.to_owned()));
        Ok(1)
    }
}

fn purge(st: &mut State, now: i64) {
    while let Some(first) = st.by_expiry.first() {
        if first.0 > now {
            break;
        }
        if let Some((_, jti)) = st.by_expiry.pop_first() {
            st.entries.remove(&jti);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_uses_and_forgets_expired() {
        let c = ReplayCache::new(2);
        assert_eq!(c.record_use("a", 2, 100, 0).unwrap(), 1);
        assert_eq!(c.record_use("a", 2, 100, 0).unwrap(), 2);
        assert_eq!(
            c.record_use("a", 2, 100, 0).unwrap_err().reason_code(),
            writ_model::ReasonCode::WritReplayed
        );
        assert_eq!(c.record_use("b", 1, 50, 0).unwrap(), 1);
        // Full of live entries: refuse rather than evict.
        assert_eq!(
            c.record_use("c", 1, 100, 10).unwrap_err().reason_code(),
            writ_model::ReasonCode::WritReplayCacheFull
        );
        // Once "b" can no longer be accepted, its slot frees up.
        assert_eq!(c.record_use("c", 1, 100, 50).unwrap(), 1);
        assert_eq!(c.len(), 2);
        assert_eq!(c.record_use("d", 1, 200, 100).unwrap(), 1);
        assert_eq!(c.len(), 1);
    }
}
