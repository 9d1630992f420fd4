//! Prometheus metrics of the control plane, in the text exposition format of
//! [`writ_model::prometheus`] (the gates use the same pieces).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use writ_model::prometheus::{Exposition, Histogram, Kind};
use writ_model::{Decision, ReasonCode};

/// Upper bounds (seconds) of the authorize latency buckets, as [`Metrics::authorize_buckets`]
/// counts them.
pub fn authorize_bucket_bounds() -> &'static [f64] {
    &writ_model::prometheus::LATENCY_BUCKETS
}

/// Values read from the server's state when metrics are rendered.
#[derive(Debug, Default, Clone)]
pub struct Gauges {
    pub ledger_entries: u64,
    /// The ledger's append latency (submitted to durable, per entry) and its batches' own
    /// write time (see [`writ_ledger::CommitLatency`]); absent where no ledger is read.
    pub ledger_commit: Option<writ_ledger::CommitLatency>,
    pub checkpoint_age_seconds: f64,
    /// Ledger entries the execution index has yet to follow.
    pub index_lag: u64,
    pub kill_switch: bool,
}

/// The server's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    decisions: Mutex<BTreeMap<(Decision, ReasonCode), u64>>,
    /// Requests by (route template, method, status).
    http: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// Request durations by route template.
    http_latency: Mutex<BTreeMap<String, Histogram>>,
    authorize_latency: Mutex<Histogram>,
    pub ledger_size: AtomicU64,
    pub checkpoint_unix: AtomicU64,
}

impl Metrics {
    /// Counts a decision by outcome (`allow`/`deny`) and reason code.
    pub fn decision(&self, outcome: Decision, reason: ReasonCode) {
        *lock(&self.decisions).entry((outcome, reason)).or_default() += 1;
    }

    /// Counts a request by route template, method and status, and records how long it took.
    pub fn http(&self, route: &str, method: &str, status: u16, secs: f64) {
        *lock(&self.http)
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default() += 1;
        lock(&self.http_latency)
            .entry(route.to_owned())
            .or_default()
            .observe(secs);
    }

    pub fn authorize_seconds(&self, secs: f64) {
        lock(&self.authorize_latency).observe(secs);
    }

    /// Decisions counted so far: (allowed, denied); errors count as denied (fail closed).
    pub fn decision_totals(&self) -> (u64, u64) {
        let m = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().fold((0, 0), |(a, d), ((outcome, _), n)| {
            if *outcome == Decision::Allow {
                (a + n, d)
            } else {
                (a, d + n)
            }
        })
    }

    /// The authorize latency histogram so far: cumulative counts per bucket of
    /// [`authorize_bucket_bounds`] and the total count.
    pub fn authorize_buckets(&self) -> (Vec<u64>, u64) {
        let h = lock(&self.authorize_latency);
        (h.bucket_counts().to_vec(), h.count())
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
        let mut e = Exposition::default();
        e.family(
            "writ_decisions_total",
            "Authorization decisions by outcome and reason code.",
            Kind::Counter,
        );
        for ((outcome, reason), n) in lock(&self.decisions).iter() {
            e.sample(
                "writ_decisions_total",
                &[("outcome", outcome.as_str()), ("reason", reason.as_str())],
                n,
            );
        }
        e.family(
            "writ_http_requests_total",
            "HTTP requests by route template, method and status.",
            Kind::Counter,
        );
        for ((route, method, status), n) in lock(&self.http).iter() {
            e.sample(
                "writ_http_requests_total",
                &[
                    ("route", route),
                    ("method", method),
                    ("status", &status.to_string()),
                ],
                n,
            );
        }
        e.family(
            "writ_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            Kind::Histogram,
        );
        for (route, h) in lock(&self.http_latency).iter() {
            e.histogram("writ_http_request_duration_seconds", &[("route", route)], h);
        }
        e.family(
            "writ_authorize_duration_seconds",
            "Time to decide, record and answer an authorization.",
            Kind::Histogram,
        )
        .histogram(
            "writ_authorize_duration_seconds",
            &[],
            &lock(&self.authorize_latency),
        );
        if let Some(l) = &gauges.ledger_commit {
            e.family(
                "writ_ledger_append_duration_seconds",
                "Time from an entry's submission to its durable commit (queue and batch).",
                Kind::Histogram,
            )
            .histogram("writ_ledger_append_duration_seconds", &[], &l.histogram)
            .family(
                "writ_ledger_batch_duration_seconds",
                "Time to write one batch: hashing, signing its checkpoint and the durable commit.",
                Kind::Histogram,
            )
            .histogram("writ_ledger_batch_duration_seconds", &[], &l.batch);
        }
        e.family("writ_ledger_entries", "Entries in the ledger.", Kind::Gauge)
            .sample(
                "writ_ledger_entries",
                &[],
                gauges
                    .ledger_entries
                    .max(self.ledger_size.load(Ordering::Relaxed)),
            )
            .family(
                "writ_checkpoint_age_seconds",
                "Seconds since the newest signed checkpoint.",
                Kind::Gauge,
            )
            .sample(
                "writ_checkpoint_age_seconds",
                &[],
                gauges.checkpoint_age_seconds,
            )
            .family(
                "writ_index_lag_entries",
                "Ledger entries the execution index has yet to follow.",
                Kind::Gauge,
            )
            .sample("writ_index_lag_entries", &[], gauges.index_lag)
            .family(
                "writ_kill_switch",
                "Whether the kill switch is on (1) and every request denied.",
                Kind::Gauge,
            )
            .sample("writ_kill_switch", &[], u8::from(gauges.kill_switch));
        e.finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let m = Metrics::default();
        m.decision(Decision::Deny, ReasonCode::NoPermit);
        m.decision(Decision::Deny, ReasonCode::NoPermit);
        m.authorize_seconds(0.0003);
        m.http("/v1/proofs/{execution}", "GET", 404, 0.002);
        let text = m.render_with(&Gauges::default());
        assert!(!text.contains("writ_ledger_append_duration_seconds"));
        assert!(text.contains("writ_decisions_total{outcome=\"deny\",reason=\"no_permit\"} 2"));
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

    #[test]
    fn renders_the_ledger_append_and_batch_histograms() {
        let mut l = writ_ledger::CommitLatency::default();
        l.histogram.observe(0.0007);
        l.histogram.observe(0.0003);
        l.batch.observe(0.0004);
        let text = Metrics::default().render_with(&Gauges {
            ledger_commit: Some(l),
            ..Gauges::default()
        });
        assert!(text.contains("# TYPE writ_ledger_append_duration_seconds histogram"));
        assert!(text.contains("writ_ledger_append_duration_seconds_count 2"));
        assert!(text.contains("writ_ledger_append_duration_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("writ_ledger_batch_duration_seconds_count 1"));
        assert!(text.contains("writ_ledger_batch_duration_seconds_bucket{le=\"0.00025\"} 0"));
    }
}
