//! The recent past the Health Dashboard draws: a ring buffer of status samples (the last hour
//! at 10 s) kept in memory, and the ledger's last write failure. `health.rs` takes the samples
//! (a task beside the server) and serves them with each component's state.
//!
//! A sample holds rates over the interval before it (decisions allowed and denied per second,
//! authorize latency and the ledger's append→checkpoint latency p50/p99 from their histograms'
//! growth), gauges (checkpoint age, index lag,
//! event-feed subscribers, process memory and CPU, data size, free disk) and the ledger's size.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

/// Seconds between samples.
pub const INTERVAL_SECS: u64 = 10;
/// Samples kept: one hour.
pub const CAPACITY: usize = 360;

/// One status sample.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sample {
    /// Unix seconds.
    pub t: i64,
    pub allowed_per_s: f64,
    pub denied_per_s: f64,
    /// Authorize latency over the interval (milliseconds; bucket upper bounds), if any call.
    pub authorize_p50_ms: Option<f64>,
    pub authorize_p99_ms: Option<f64>,
    pub ledger_size: u64,
    /// Append→checkpoint latency of the entries committed over the interval (milliseconds;
    /// bucket upper bounds), if any was.
    pub append_checkpoint_p50_ms: Option<f64>,
    pub append_checkpoint_p99_ms: Option<f64>,
    /// The oldest entry's latency in the last batch committed so far (milliseconds).
    pub append_checkpoint_last_ms: Option<f64>,
    pub checkpoint_age_ms: u64,
    pub index_lag: u64,
    pub subscribers: usize,
    pub rss_bytes: Option<u64>,
    /// Share of one CPU used over the interval, in percent.
    pub cpu_percent: Option<f64>,
    pub data_bytes: u64,
    pub disk_free_bytes: Option<u64>,
    pub disk_total_bytes: Option<u64>,
}

/// What the sampler remembers between samples, to turn totals into rates.
#[derive(Debug, Default)]
struct Previous {
    at: Option<std::time::Instant>,
    decisions: (u64, u64),
    buckets: Vec<u64>,
    commit_buckets: Vec<u64>,
    cpu_ticks: Option<u64>,
}

/// A failed ledger write: the ledger is unavailable until it grows past `size`.
#[derive(Debug, Clone)]
struct LedgerFailure {
    size: u64,
    reason: String,
}

/// The ring buffer and the ledger's last failure.
#[derive(Debug, Default)]
pub struct History {
    samples: Mutex<VecDeque<Sample>>,
    previous: Mutex<Previous>,
    ledger_failure: Mutex<Option<LedgerFailure>>,
}

impl History {
    /// Notes that a ledger write failed at ledger size `size`, and why.
    pub fn ledger_failed(&self, size: u64, reason: &str) {
        *self
            .ledger_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(LedgerFailure {
            size,
            reason: reason.to_owned(),
        });
    }

    /// The reason the ledger is unavailable, while no append succeeded since it failed.
    pub fn ledger_unavailable(&self, size: u64) -> Option<String> {
        let mut f = self
            .ledger_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match f.as_ref() {
            Some(failure) if size <= failure.size => Some(failure.reason.clone()),
            Some(_) => {
                *f = None;
                None
            }
            None => None,
        }
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Keeps a sample made of `raw` (dropping the oldest past an hour): totals become rates
    /// over the time since the previous sample.
    pub fn record(&self, raw: Raw) {
        let now = std::time::Instant::now();
        let mut prev = self.previous.lock().unwrap_or_else(|p| p.into_inner());
        let secs = prev
            .at
            .map_or(0.0, |at| now.duration_since(at).as_secs_f64());
        let rate = |now: u64, before: u64| {
            if secs > 0.0 {
                now.saturating_sub(before) as f64 / secs
            } else {
                0.0
            }
        };
        let allowed_per_s = rate(raw.decisions.0, prev.decisions.0);
        let denied_per_s = rate(raw.decisions.1, prev.decisions.1);
        let growth = |now: &[u64], before: &[u64]| -> Vec<u64> {
            now.iter()
                .enumerate()
                .map(|(i, c)| c.saturating_sub(before.get(i).copied().unwrap_or(0)))
                .collect()
        };
        let delta = growth(&raw.buckets, &prev.buckets);
        let commit_delta = growth(&raw.commit_buckets, &prev.commit_buckets);
        let cpu_percent = match (raw.cpu_ticks, prev.cpu_ticks) {
            (Some(a), Some(b)) if secs > 0.0 => {
                Some(a.saturating_sub(b) as f64 / CLOCK_TICKS / secs * 100.0)
            }
            _ => None,
        };
        *prev = Previous {
            at: Some(now),
            decisions: raw.decisions,
            buckets: raw.buckets,
            commit_buckets: raw.commit_buckets,
            cpu_ticks: raw.cpu_ticks,
        };
        drop(prev);
        let mut sample = raw.gauges;
        sample.allowed_per_s = allowed_per_s;
        sample.denied_per_s = denied_per_s;
        sample.authorize_p50_ms = quantile_ms(&delta, 0.50);
        sample.authorize_p99_ms = quantile_ms(&delta, 0.99);
        sample.append_checkpoint_p50_ms = quantile_ms(&commit_delta, 0.50);
        sample.append_checkpoint_p99_ms = quantile_ms(&commit_delta, 0.99);
        sample.cpu_percent = cpu_percent;
        let mut q = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() >= CAPACITY {
            q.pop_front();
        }
        q.push_back(sample);
    }
}

/// What a sample is made of: totals so far (turned into rates by [`History::record`]) and
/// the gauges read now (the rate fields of `gauges` are filled in by `record`).
#[derive(Debug, Clone)]
pub struct Raw {
    /// Decisions so far: (allowed, denied).
    pub decisions: (u64, u64),
    /// The authorize latency histogram's cumulative bucket counts so far.
    pub buckets: Vec<u64>,
    /// The ledger's append→checkpoint latency histogram's cumulative bucket counts so far.
    pub commit_buckets: Vec<u64>,
    /// The process's CPU time so far, in clock ticks.
    pub cpu_ticks: Option<u64>,
    pub gauges: Sample,
}

/// Kernel clock ticks per second for `/proc/self/stat` (USER_HZ, 100 on Linux).
const CLOCK_TICKS: f64 = 100.0;

/// The upper bound (ms) of the bucket holding quantile `q` of cumulative-per-bucket counts.
pub fn quantile_ms(cumulative: &[u64], q: f64) -> Option<f64> {
    let bounds = crate::metrics::authorize_bucket_bounds();
    // Buckets are cumulative (`le`); the last one is not +Inf, so the count of calls slower
    // than every bound is unknown here: take the largest bucket count as the total.
    let total = cumulative.iter().copied().max().unwrap_or(0);
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil().max(1.0) as u64;
    cumulative
        .iter()
        .zip(bounds)
        .find(|(c, _)| **c >= rank)
        .map(|(_, b)| b * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_take_the_bucket_holding_the_rank() {
        let bounds = crate::metrics::authorize_bucket_bounds();
        let mut c = vec![0u64; bounds.len()];
        assert_eq!(quantile_ms(&c, 0.5), None);
        // 100 calls: 90 within the 4th bucket (1 ms), all within the 7th (10 ms).
        for (i, v) in c.iter_mut().enumerate() {
            *v = if i >= 6 {
                100
            } else if i >= 3 {
                90
            } else {
                0
            };
        }
        assert_eq!(quantile_ms(&c, 0.5), Some(1.0));
        assert_eq!(quantile_ms(&c, 0.99), Some(10.0));
    }
}
