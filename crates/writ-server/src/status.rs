//! Status at a glance: `GET /v1/status` (for operators: the admin token or a person with a
//! role) and `GET /readyz` (public), and the gauges `/metrics` shares with them.
//!
//! Everything here is read from state the server already keeps: the active bundle slot, the
//! control store's governance sets, the ledger's checkpoint, the execution index (which also
//! knows the last policy activation and the gates executions were authorized for), each gate's
//! last contact (`contact.rs`) and the sizes of the files in the data directory.

use std::path::Path;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::auth::Access;
use crate::error::ApiError;
use crate::guard::require;
use crate::state::{AppState, CONTROL_DB, EXEC_DB};
use crate::store::GovernanceKind;

type St = State<Arc<AppState>>;

/// How long status waits for the execution index to reach the ledger's size.
const INDEX_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /readyz`: ready once a bundle is active and the index follows the ledger; the answer
/// says whether the kill switch is on (a killed control plane is up, and denies everything).
pub async fn readyz(State(s): St) -> Response {
    let kill_switch = s.kill_switch();
    if let Some(why) = s.execs.failure() {
        return ApiError::unavailable(
            writ_model::ReasonCode::IndexUnavailable,
            format!("the execution index cannot follow the ledger (receipts, renewals and proofs may fail): {why}"),
        )
        .into_response();
    }
    if let Some(why) = s.governance_unsynced() {
        return ApiError::unavailable(writ_model::ReasonCode::GovernanceUnsynced, why)
            .into_response();
    }
    match s.bundles.current() {
        Some(b) => Json(json!({
            "status": "ready", "bundle_sha256": b.digest(), "kill_switch": kill_switch,
            "ledger_size": s.ledger.checkpoint().size(), "indexed": s.execs.indexed(),
            "store": store_view(&s)
        }))
        .into_response(),
        None => ApiError::unavailable(
            writ_model::ReasonCode::NoActiveBundle,
            "no policy bundle is active: activate one with `writ policy activate`",
        )
        .into_response(),
    }
}

/// Where this node keeps its state: `sqlite` (the data directory), or `postgres` with the
/// schema prefix, the control store's sync state and the ledger's integration on this node.
pub fn store_view(s: &AppState) -> Value {
    match &s.config.store.url {
        None => json!({"kind": "sqlite"}),
        Some(_) => {
            let sync = s.store.sync_state();
            let i = s.ledger.integration();
            json!({
                "integration": {
                    "holding_lease": i.holding,
                    "batches": i.batches,
                    "last_integrated_unix": i.last_integrated_unix,
                    "last_lock_wait_ms": i.last_lock_wait_ms,
                    "begin_failures": i.begin_failures,
                    "rejected_checkpoints": i.rejected_checkpoints,
                    "follower_error": i.follower_error,
                },
                "kind": "postgres",
                "schema": s.config.store.schema,
                "control_version": sync.as_ref().map(|x| x.version),
                "control_last_ok_unix_ms": sync.as_ref().map(|x| x.last_ok_unix_ms),
                "control_last_error": sync.and_then(|x| x.last_error),
                "lease_sweeper": s.store.lease_sweeper_last(),
            })
        }
    }
}

/// Milliseconds since the newest checkpoint was signed: from the last append this process
/// made durable, or (after a restart) the ledger files' last write, whichever is later.
pub fn checkpoint_age_ms(s: &AppState) -> u64 {
    let now_ms = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let appended_ms = s
        .metrics
        .checkpoint_unix
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_mul(1000);
    let written_ms = newest_write_ms(s.ledger.dir());
    now_ms.saturating_sub(appended_ms.max(written_ms))
}

/// The ledger's append→checkpoint latency since the server started (milliseconds): the last
/// batch's oldest entry, and p50/p99 over every entry (bucket upper bounds).
fn append_checkpoint(s: &AppState) -> Value {
    let l = s.ledger.commit_latency();
    let counts = l.histogram.bucket_counts();
    json!({
        "entries": l.histogram.count(),
        "last_ms": l.last_secs.map(|x| x * 1000.0),
        "p50_ms": crate::history::quantile_ms(counts, 0.50),
        "p99_ms": crate::history::quantile_ms(counts, 0.99),
    })
}

fn newest_write_ms(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .filter(std::fs::Metadata::is_file)
        .filter_map(|m| m.modified().ok())
        .filter_map(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .max()
        .unwrap_or(0)
}

/// Bytes of the files under `path` (a file, or a directory walked a few levels deep).
fn bytes_under(path: &Path, depth: u8) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_file() {
        return meta.len();
    }
    if !meta.is_dir() || depth == 0 {
        return 0;
    }
    std::fs::read_dir(path).map_or(0, |rd| {
        rd.filter_map(Result::ok)
            .map(|e| bytes_under(&e.path(), depth - 1))
            .sum()
    })
}

/// Bytes of an SQLite database with its `-wal` and `-shm` files.
fn sqlite_bytes(path: &Path) -> u64 {
    let mut total = bytes_under(path, 0);
    for suffix in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        total += bytes_under(Path::new(&p), 0);
    }
    total
}

/// Bytes of everything in the data directory the server writes: ledger, control store,
/// execution index and writ log.
pub fn data_bytes(s: &AppState) -> u64 {
    let dir = &s.config.data_dir;
    bytes_under(s.ledger.dir(), 2)
        + sqlite_bytes(&dir.join(CONTROL_DB))
        + sqlite_bytes(&dir.join(EXEC_DB))
        + bytes_under(&dir.join(crate::exec::WRIT_LOG), 0)
}

fn index_err(e: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable(
        writ_model::ReasonCode::IndexUnavailable,
        format!("the execution index cannot answer: {e}"),
    )
}

/// `GET /v1/status`: the control plane at a glance (see `openapi.rs` for every field).
pub async fn status(State(s): St, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    require(&s, &headers, Access::Reader)?;
    // What was recorded before the call shows, unless the index is stuck: then status still
    // answers (it is how an operator finds out) and `index` says how far behind it is.
    let _ = tokio::time::timeout(INDEX_WAIT, s.execs.caught_up()).await;
    let activation = s.execs.last_activation().map_err(index_err)?;
    let seen = s.execs.gates_seen().map_err(index_err)?;
    let bundle = s.bundles.current();
    // The activation recorded for the bundle in force (an older record says nothing of it).
    let activation = activation.filter(|a| {
        bundle
            .as_ref()
            .is_some_and(|b| b.digest() == a.bundle_sha256)
    });
    let bundle = json!({
        "sha256": bundle.as_ref().map(|b| b.digest().to_owned()),
        "engine": bundle.as_ref().map(|b| b.engine().to_owned()),
        "signed_by": bundle.as_ref().map(|b| b.signed_by().to_owned()),
        "policies": bundle.as_ref().map(|b| b.len()),
        "activated_at": activation.as_ref().map(|a| a.at),
        "activated_by": activation.as_ref().map(|a| a.by.clone()),
        "ledger_index": activation.as_ref().map(|a| a.ledger_index),
    });
    let (quarantines, revocations, mut gates) = s.store.read(|r| {
        let set = |k: GovernanceKind| -> Vec<String> {
            r.governance
                .get(&k)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default()
        };
        let quarantines = json!({
            "principals": set(GovernanceKind::QuarantinedPrincipal),
            "zones": set(GovernanceKind::QuarantinedZone),
        });
        let revocations = json!({
            "principals": set(GovernanceKind::RevokedPrincipal),
            "zones": set(GovernanceKind::RevokedZone),
            "writs": r.governance.get(&GovernanceKind::RevokedJti).map_or(0, std::collections::BTreeSet::len),
        });
        let gates: Vec<Value> = r
            .gates
            .values()
            .map(|g| json!({"gate": g.id, "zone": g.zone, "registered_at": g.created_at, "executions": 0, "last_seen": null}))
            .collect();
        (quarantines, revocations, gates)
    });
    for g in seen {
        match gates.iter_mut().find(|v| v["gate"] == g.gate.as_str()) {
            Some(v) => {
                v["executions"] = json!(g.executions);
                v["last_seen"] = json!(g.last_seen);
            }
            // Executions recorded for a gate the registry no longer holds.
            None => gates.push(json!({"gate": g.gate, "zone": null, "registered_at": null, "executions": g.executions, "last_seen": g.last_seen})),
        }
    }
    // Each gate's last contact with this server (in memory, since it started).
    for (id, _) in s.contacts.all() {
        if !gates.iter().any(|v| v["gate"] == id.as_str()) {
            gates.push(json!({"gate": id, "zone": null, "registered_at": null, "executions": 0, "last_seen": null}));
        }
    }
    for v in &mut gates {
        let c = v["gate"].as_str().and_then(|id| s.contacts.get(id));
        v["last_contact"] = json!(c.as_ref().map(|c| c.last_contact));
        v["contact_via"] = json!(c.as_ref().map(|c| c.via));
        v["connected"] = json!(c.as_ref().is_some_and(|c| c.feeds > 0));
        v["feeds"] = json!(c.as_ref().map_or(0, |c| c.feeds));
    }
    let dir = &s.config.data_dir;
    let cp = s.ledger.checkpoint();
    let ledger_bytes = bytes_under(s.ledger.dir(), 2);
    let control_bytes = sqlite_bytes(&dir.join(CONTROL_DB));
    let index_bytes = sqlite_bytes(&dir.join(EXEC_DB));
    let writ_log_bytes = bytes_under(&dir.join(crate::exec::WRIT_LOG), 0);
    let indexed = s.execs.indexed();
    let ledger = s.ledger.clone();
    let (disclosures, disclosure_bytes) =
        tokio::task::spawn_blocking(move || ledger.evidence_size())
            .await
            .map_err(|_| {
                ApiError::unavailable(
                    writ_model::ReasonCode::LedgerUnavailable,
                    "the ledger reader stopped",
                )
            })?
            .map_err(|e| {
                ApiError::unavailable(writ_model::ReasonCode::LedgerUnavailable, e.to_string())
            })?;
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "now": s.now(),
        "bundle": bundle,
        "kill_switch": s.kill_switch(),
        "quarantines": quarantines,
        "revocations": revocations,
        "gates": gates,
        "ledger": {
            "origin": s.ledger.origin(),
            "size": cp.size(),
            "bytes": ledger_bytes,
            "checkpoint_age_ms": checkpoint_age_ms(&s),
            "append_checkpoint": append_checkpoint(&s),
        },
        "evidence": {"disclosures": disclosures, "bytes": disclosure_bytes},
        "store": store_view(&s),
        "index": {
            "indexed": indexed,
            "lag": cp.size().saturating_sub(indexed),
            "failure": s.execs.failure(),
        },
        "storage": {
            "ledger_bytes": ledger_bytes,
            "control_bytes": control_bytes,
            "index_bytes": index_bytes,
            "writ_log_bytes": writ_log_bytes,
            "total_bytes": ledger_bytes + control_bytes + index_bytes + writ_log_bytes,
        },
    })))
}
