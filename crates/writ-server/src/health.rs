//! The Health Dashboard's server side: the sampler that fills the status history
//! (`history.rs`) every 10 s, each component's state (green, amber, red) with its reason in
//! words, and `GET /v1/status/history`, which serves both.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::auth::Access;
use crate::error::ApiError;
use crate::guard::require;
use crate::history::{CAPACITY, INTERVAL_SECS, Raw, Sample};
use crate::state::AppState;

/// A gate that neither follows the feed nor contacted the server for this long is reported
/// silent (amber).
pub const GATE_SILENT_SECS: i64 = 15 * 60;

/// Gates silent past their grace period: not following the event feed, and no contact (a
/// request, an attestation, a heartbeat) for [`GATE_SILENT_SECS`]. A gate counts once it was
/// active — it contacted this server, or executions were authorized for it — and a restarted
/// server gives every gate a grace period from its start before calling it silent (contacts
/// are kept in memory). Registered gates never active are not silent: they never started.
pub fn silent_gates(s: &AppState) -> Vec<String> {
    let now = s.now();
    let mut last: std::collections::BTreeMap<String, (i64, bool)> = Default::default();
    for g in s.execs.gates_seen().unwrap_or_default() {
        let e = last.entry(g.gate.clone()).or_insert((i64::MIN, false));
        e.0 = e.0.max(g.last_seen);
    }
    for (gate, c) in s.contacts.all() {
        let e = last.entry(gate).or_insert((i64::MIN, false));
        e.0 = e.0.max(c.last_contact);
        e.1 |= c.feeds > 0;
    }
    let started = s.contacts.started_at();
    last.into_iter()
        .filter(|(_, (at, connected))| {
            !connected && now.saturating_sub((*at).max(started)) > GATE_SILENT_SECS
        })
        .map(|(gate, _)| gate)
        .collect()
}

/// Samples `s` now into its history.
pub fn sample(s: &AppState) {
    let cp = s.ledger.checkpoint();
    let indexed = s.execs.indexed();
    let (free, total) = disk(&s.config.data_dir);
    let (buckets, _) = s.metrics.authorize_buckets();
    let commit = s.ledger.commit_latency();
    s.history.record(Raw {
        decisions: s.metrics.decision_totals(),
        buckets,
        commit_buckets: commit.histogram.bucket_counts().to_vec(),
        cpu_ticks: process_cpu_ticks(),
        gauges: Sample {
            t: s.now(),
            ledger_size: cp.size(),
            append_checkpoint_last_ms: commit.last_secs.map(|s| s * 1000.0),
            checkpoint_age_ms: crate::status::checkpoint_age_ms(s),
            index_lag: cp.size().saturating_sub(indexed),
            subscribers: s.events.subscribers(),
            rss_bytes: process_rss(),
            data_bytes: crate::status::data_bytes(s),
            disk_free_bytes: free,
            disk_total_bytes: total,
            ..Sample::default()
        },
    });
}

fn process_rss() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn process_cpu_ticks() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = text.get(text.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line; 12 and 13 after the state field's
    // predecessors are dropped.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn disk(dir: &std::path::Path) -> (Option<u64>, Option<u64>) {
    match nix::sys::statvfs::statvfs(dir) {
        Ok(v) => {
            let frag = v.fragment_size();
            (
                Some(v.blocks_available().saturating_mul(frag)),
                Some(v.blocks().saturating_mul(frag)),
            )
        }
        Err(_) => (None, None),
    }
}

/// Samples `state` now and every [`INTERVAL_SECS`] until the returned task is aborted.
pub fn spawn_sampler(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(INTERVAL_SECS));
        loop {
            tick.tick().await;
            let s = Arc::clone(&state);
            let _ = tokio::task::spawn_blocking(move || sample(&s)).await;
        }
    })
}

/// A component's state: `green`, `amber` or `red`, with the reason in words.
fn component(name: &str, state: &str, reason: impl Into<String>) -> Value {
    json!({"component": name, "state": state, "reason": reason.into()})
}

/// Each component's state now.
pub fn components(s: &AppState, latest: Option<&Sample>) -> Vec<Value> {
    let cp = s.ledger.checkpoint();
    let mut out = Vec::new();
    out.push(match s.history.ledger_unavailable(cp.size()) {
        Some(why) => component(
            "ledger",
            "red",
            format!("ledger unavailable: {why}; every authorize is denied until it can write"),
        ),
        None => component(
            "ledger",
            "green",
            format!("{} entries, writable", cp.size()),
        ),
    });
    let lag = cp.size().saturating_sub(s.execs.indexed());
    out.push(match s.execs.failure() {
        Some(why) => component("index", "red", format!("index stalled: {why}")),
        None if lag > 1000 => component(
            "index",
            "amber",
            format!("index behind the ledger by {lag} entries"),
        ),
        None => component(
            "index",
            "green",
            format!("following the ledger (lag {lag})"),
        ),
    });
    out.push(match s.bundles.current() {
        Some(b) => component(
            "policy",
            "green",
            format!("bundle {} active", b.digest().get(..12).unwrap_or("")),
        ),
        None => component(
            "policy",
            "red",
            "no policy bundle is active: every authorize is denied",
        ),
    });
    out.push(if s.kill_switch() {
        component(
            "kill_switch",
            "red",
            "kill switch on: every authorize is denied",
        )
    } else {
        component("kill_switch", "green", "kill switch off")
    });
    let silent = silent_gates(s);
    out.push(if silent.is_empty() {
        component("gates", "green", "no gate silent past its grace period")
    } else {
        component(
            "gates",
            "amber",
            format!(
                "silent past {} min: {}",
                GATE_SILENT_SECS / 60,
                silent.join(", ")
            ),
        )
    });
    let disk = latest
        .and_then(|l| l.disk_free_bytes.zip(l.disk_total_bytes))
        .or_else(|| {
            let (f, t) = disk(&s.config.data_dir);
            f.zip(t)
        });
    out.push(match disk {
        Some((free, total)) if total > 0 => {
            let pct = free as f64 * 100.0 / total as f64;
            let state = if pct < 2.0 {
                "red"
            } else if pct < 10.0 {
                "amber"
            } else {
                "green"
            };
            let words = if state == "green" {
                format!("{pct:.0}% free")
            } else {
                format!("disk nearly full: {pct:.1}% free")
            };
            component("disk", state, words)
        }
        _ => component("disk", "amber", "free disk space unknown"),
    });
    out
}

/// `GET /v1/status/history`: the samples of the last hour and each component's state now.
pub async fn history(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    require(&s, &headers, Access::Reader)?;
    let st = Arc::clone(&s);
    let (samples, components) = tokio::task::spawn_blocking(move || {
        let samples = st.history.samples();
        let components = components(&st, samples.last());
        (samples, components)
    })
    .await
    .map_err(|_| {
        ApiError::unavailable(
            writ_model::ReasonCode::HistoryUnavailable,
            "the sampler stopped; retry",
        )
    })?;
    Ok(Json(json!({
        "interval_secs": INTERVAL_SECS,
        "capacity": CAPACITY,
        "now": s.now(),
        "samples": samples,
        "components": components,
    })))
}
