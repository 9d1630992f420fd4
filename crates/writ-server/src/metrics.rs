//! Prometheus metrics in the text exposition format, kept by hand: a few counters and histograms.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b
                && let Some(c) = self.counts.get_mut(i)
            {
                *c += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

/// Upper bounds (seconds) of the authorize latency buckets, as [`Metrics::authorize_buckets`]
/// counts them.
pub fn authorize_bucket_bounds() -> &'static [f64] {
    &BUCKETS
}

/// Values read from the server's state when metrics are rendered.
#[derive(Debug, Default, Clone, Copy)]
pub struct Gauges {
    pub ledger_entries: u64,
    pub checkpoint_age_seconds: f64,
    /// Ledger entries the execution index has yet to follow.
    pub index_lag: u64,
    pub kill_switch: bool,
}

/// The server's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    decisions: Mutex<BTreeMap<(String, String), u64>>,
    /// Requests by (route template, method, status).
    http: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// Request durations by route template.
    http_latency: Mutex<BTreeMap<String, Histogram>>,
    authorize_latency: Mutex<Histogram>,
    pub ledger_size: AtomicU64,
    pub checkpoint_unix: AtomicU64,
}

impl Metrics {
    /// Counts a decision by outcome (`allow`/`deny`/`error`) and reason code.
    pub fn decision(&self, outcome: &str, reason: &str) {
        let mut m = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry((outcome.to_owned(), reason.to_owned()))
            .or_default() += 1;
    }

    /// Counts a request by route template, method and status, and records how long it took.
    pub fn http(&self, route: &str, method: &str, status: u16, secs: f64) {
        {
            let mut m = self.http.lock().unwrap_or_else(|p| p.into_inner());
            *m.entry((route.to_owned(), method.to_owned(), status))
                .or_default() += 1;
        }
        let mut h = self.http_latency.lock().unwrap_or_else(|p| p.into_inner());
        h.entry(route.to_owned()).or_default().observe(secs);
    }

    pub fn authorize_seconds(&self, secs: f64) {
        self.authorize_latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .observe(secs);
    }

    /// Decisions counted so far: (allowed, denied); errors count as denied (fail closed).
    pub fn decision_totals(&self) -> (u64, u64) {
        let m = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().fold((0, 0), |(a, d), ((outcome, _), n)| {
            if outcome == "allow" {
                (a + n, d)
            } else {
                (a, d + n)
            }
        })
    }

    /// The authorize latency histogram so far: cumulative counts per bucket of
    /// [`authorize_bucket_bounds`] and the total count.
    pub fn authorize_buckets(&self) -> (Vec<u64>, u64) {
        let h = self
            .authorize_latency
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        (h.counts.to_vec(), h.count)
    }

    /// Renders every metric with the gauges this struct tracks itself (the ledger size and
    /// checkpoint time of the last append); `now` is used for the checkpoint age.
    pub fn render(&self, now: u64) -> String {
        let cp = self.checkpoint_unix.load(Ordering::Relaxed);
        self.render_with(&Gauges {
            ledger_entries: self.ledger_size.load(Ordering::Relaxed),
            checkpoint_age_seconds: if cp == 0 {
                0.0
            } else {
                now.saturating_sub(cp) as f64
            },
            ..Gauges::default()
        })
    }

    /// Renders every metric, with the gauges read from the state now.
    pub fn render_with(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP writ_decisions_total Authorization decisions by outcome and reason code."
        );
        let _ = writeln!(out, "# TYPE writ_decisions_total counter");
        for ((outcome, reason), n) in self
            .decisions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "writ_decisions_total{{outcome=\"{}\",reason=\"{}\"}} {n}",
                esc(outcome),
                esc(reason)
            );
        }
        let _ = writeln!(
            out,
            "# HELP writ_http_requests_total HTTP requests by route template, method and status."
        );
        let _ = writeln!(out, "# TYPE writ_http_requests_total counter");
        for ((route, method, status), n) in
            self.http.lock().unwrap_or_else(|p| p.into_inner()).iter()
        {
            let _ = writeln!(
                out,
                "writ_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                esc(route),
                esc(method)
            );
        }
        let _ = writeln!(
            out,
            "# HELP writ_http_request_duration_seconds Time to answer an HTTP request, by route template."
        );
        let _ = writeln!(out, "# TYPE writ_http_request_duration_seconds histogram");
        for (route, h) in self
            .http_latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let route = esc(route);
            for (b, c) in BUCKETS.iter().zip(h.counts.iter()) {
                let _ = writeln!(
                    out,
                    "writ_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {c}"
                );
            }
            let _ = writeln!(
                out,
                "writ_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "writ_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "writ_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        let h = self
            .authorize_latency
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(
            out,
            "# HELP writ_authorize_duration_seconds Time to decide, record and answer an authorization."
        );
        let _ = writeln!(out, "# TYPE writ_authorize_duration_seconds histogram");
        for (b, c) in BUCKETS.iter().zip(h.counts.iter()) {
            let _ = writeln!(
                out,
                "writ_authorize_duration_seconds_bucket{{le=\"{b}\"}} {c}"
            );
        }
        let _ = writeln!(
            out,
            "writ_authorize_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(out, "writ_authorize_duration_seconds_sum {}", h.sum);
        let _ = writeln!(out, "writ_authorize_duration_seconds_count {}", h.count);
        drop(h);
        let _ = writeln!(out, "# HELP writ_ledger_entries Entries in the ledger.");
        let _ = writeln!(out, "# TYPE writ_ledger_entries gauge");
        let _ = writeln!(
            out,
            "writ_ledger_entries {}",
            gauges
                .ledger_entries
                .max(self.ledger_size.load(Ordering::Relaxed))
        );
        let _ = writeln!(
            out,
            "# HELP writ_checkpoint_age_seconds Seconds since the newest signed checkpoint."
        );
        let _ = writeln!(out, "# TYPE writ_checkpoint_age_seconds gauge");
        let _ = writeln!(
            out,
            "writ_checkpoint_age_seconds {}",
            gauges.checkpoint_age_seconds
        );
        let _ = writeln!(
            out,
            "# HELP writ_index_lag_entries Ledger entries the execution index has yet to follow."
        );
        let _ = writeln!(out, "# TYPE writ_index_lag_entries gauge");
        let _ = writeln!(out, "writ_index_lag_entries {}", gauges.index_lag);
        let _ = writeln!(
            out,
            "# HELP writ_kill_switch Whether the kill switch is on (1) and every request denied."
        );
        let _ = writeln!(out, "# TYPE writ_kill_switch gauge");
        let _ = writeln!(out, "writ_kill_switch {}", u8::from(gauges.kill_switch));
        out
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let m = Metrics::default();
        m.decision("deny", "no_policy_permits");
        m.decision("deny", "no_policy_permits");
        m.authorize_seconds(0.0003);
        m.http("/v1/proofs/{execution}", "GET", 404, 0.002);
        let text = m.render_with(&Gauges::default());
        assert!(
            text.contains("writ_decisions_total{outcome=\"deny\",reason=\"no_policy_permits\"} 2")
        );
        assert!(text.contains("writ_authorize_duration_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("writ_authorize_duration_seconds_bucket{le=\"0.00025\"} 0"));
        assert!(text.contains("writ_authorize_duration_seconds_count 1"));
        assert!(text.contains(
            "writ_http_requests_total{route=\"/v1/proofs/{execution}\",method=\"GET\",status=\"404\"} 1"
        ));
        assert!(text.contains(
            "writ_http_request_duration_seconds_count{route=\"/v1/proofs/{execution}\"} 1"
        ));
    }
}
