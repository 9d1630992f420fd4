//! A gate's own Prometheus metrics (`writ gateway mcp --metrics-listen`, `writ exec
//! --metrics-listen`): governed calls by decision and reason code and how long each took to
//! admit, the event feed's age, and what the gate holds revoked. Rendered with the same pieces
//! as the control plane's ([`writ_model::prometheus`]).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use writ_artifact::revocation::RevocationCounts;
use writ_model::prometheus::{Exposition, Histogram, Kind};
use writ_model::{Decision, ReasonCode};

/// Counters a gate keeps; read through [`crate::Gate::render_metrics`].
#[derive(Debug, Default)]
pub struct GateMetrics {
    calls: Mutex<BTreeMap<(Decision, ReasonCode), u64>>,
    admit_latency: Mutex<Histogram>,
    /// The authorize round trip alone, as the gate sees it (part of the admit time).
    authorize_latency: Mutex<Histogram>,
}

/// The gauges read from the gate when the page is rendered.
#[derive(Debug, Clone, Copy)]
pub struct MetricsView<'a> {
    pub gate: &'a str,
    pub zone: &'a str,
    pub now: i64,
    /// `None`: the gate follows no feed; `Some(None)`: never heard from it.
    pub feed_last_seen: Option<Option<i64>>,
    pub revocations: RevocationCounts,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl GateMetrics {
    /// Counts one governed call and the seconds it took to admit or refuse.
    pub fn call(&self, decision: Decision, reason_code: ReasonCode, secs: f64) {
        *lock(&self.calls)
            .entry((decision, reason_code))
            .or_default() += 1;
        lock(&self.admit_latency).observe(secs);
    }

    /// Records one authorize round trip to the control plane (request sent to answer read).
    pub fn authorize_round_trip(&self, secs: f64) {
        lock(&self.authorize_latency).observe(secs);
    }

    /// The metrics page.
    pub fn render(&self, v: &MetricsView<'_>) -> String {
        let mut e = Exposition::default();
        e.family("writ_gate_info", "The gate's id and zone.", Kind::Gauge)
            .sample("writ_gate_info", &[("gate", v.gate), ("zone", v.zone)], 1)
            .family(
                "writ_gate_calls_total",
                "Governed calls by decision and reason code.",
                Kind::Counter,
            );
        for ((decision, reason), n) in lock(&self.calls).iter() {
            e.sample(
                "writ_gate_calls_total",
                &[
                    ("decision", decision.as_str()),
                    ("reason_code", reason.as_str()),
                ],
                n,
            );
        }
        e.family(
            "writ_gate_admit_duration_seconds",
            "Time from a call's arrival to its admission or refusal (authorize, verify).",
            Kind::Histogram,
        )
        .histogram(
            "writ_gate_admit_duration_seconds",
            &[],
            &lock(&self.admit_latency),
        )
        .family(
            "writ_gate_authorize_duration_seconds",
            "The authorize round trip to the control plane, as the gate sees it (part of admit).",
            Kind::Histogram,
        )
        .histogram(
            "writ_gate_authorize_duration_seconds",
            &[],
            &lock(&self.authorize_latency),
        );
        if let Some(last) = v.feed_last_seen {
            e.family(
                "writ_gate_event_feed_age_seconds",
                "Seconds since the control plane's event feed was last heard (-1: never).",
                Kind::Gauge,
            )
            .sample(
                "writ_gate_event_feed_age_seconds",
                &[],
                last.map_or(-1, |t| v.now.saturating_sub(t).max(0)),
            );
        }
        let r = v.revocations;
        e.family(
            "writ_gate_revoked",
            "What the gate holds revoked, by kind (writs, principals, zones).",
            Kind::Gauge,
        )
        .sample("writ_gate_revoked", &[("kind", "writ")], r.jtis)
        .sample("writ_gate_revoked", &[("kind", "principal")], r.principals)
        .sample("writ_gate_revoked", &[("kind", "zone")], r.zones)
        .family(
            "writ_gate_kill_switch",
            "Whether the gate holds the kill switch on (1).",
            Kind::Gauge,
        )
        .sample("writ_gate_kill_switch", &[], u8::from(r.kill_switch));
        e.finish()
    }
}

/// Serves `GET /metrics` (nothing else) on `listener` until `shutdown` resolves, each page
/// from `render` (a gate's [`crate::Gate::render_metrics`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    render: impl Fn() -> String + Clone + Send + Sync + 'static,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::http::header;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let page = render();
            async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], page) }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
