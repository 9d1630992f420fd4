//! The lease sweep: the control plane closes in the ledger every execution whose gate
//! disappeared.
//!
//! An allowed execution is closed by its gate's receipt. A runner that dies (killed, its host
//! gone) never sends one; without the sweep its execution would stay open in the ledger for
//! ever. Every [`ServerConfig::lease_sweep_secs`](crate::ServerConfig) the sweep looks for
//! allowed executions with neither a receipt nor a lease end whose lease (the writ's `exp`, or
//! the last allowed renewal plus a writ's lifetime) ran out more than `lease_grace_secs` ago,
//! and records for each one entry
//! `{"type":"lease.ended","v":1,"execution":…,"jti":…,"reason_code":"lease_expired","now":…}`,
//! the shape a renewal refused for withdrawn trust records.
//!
//! The sweep reads the execution index, so it first waits until the index has caught up with
//! the ledger. Each execution is ended under its closing lock
//! ([`ExecIndex::lock_closing`](crate::exec::ExecIndex::lock_closing)), where receipts and
//! renewals are recorded too: an execution gets a receipt or a lease end from the sweep, never
//! both (a receipt after it is refused, 409 `lease_ended`), and a renewal after any lease end
//! is refused (403 `lease_ended`). A lease end for withdrawn trust (a renewal refused) is
//! followed by the gate's receipt of the termination, as before.
//! The sweep keeps no state of its own: after a restart it finds the same executions in the
//! index (rebuilt from the ledger if need be).

use std::sync::Arc;
use std::time::Duration;

use crate::exec::{Closing, LEASE_EXPIRED};
use crate::record::record;
use crate::state::AppState;

/// Most executions one sweep ends (the next sweep takes the rest).
pub const SWEEP_LIMIT: usize = 500;

/// Runs the sweep every `lease_sweep_secs` until `stop` turns true (or its sender is dropped).
pub async fn sweep_loop(state: Arc<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let every = Duration::from_secs(state.config.lease_sweep_secs.max(1));
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
                continue;
            }
        }
        // In a fleet, one node sweeps (the others would end the same leases again).
        let s = Arc::clone(&state);
        if !tokio::task::spawn_blocking(move || s.store.lease_sweeper())
            .await
            .unwrap_or(false)
        {
            continue;
        }
        match sweep_once(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(ended = n, "leases expired without a receipt: ended"),
            Err(e) => tracing::warn!(error = %e, "the lease sweep failed; it runs again"),
        }
    }
}

/// Starts [`sweep_loop`] on the current runtime; the returned handle stops it.
pub fn spawn_sweep(state: Arc<AppState>) -> SweepHandle {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(sweep_loop(state, rx));
    SweepHandle { stop: tx, task }
}

/// A running sweep.
pub struct SweepHandle {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl SweepHandle {
    /// Stops the sweep after the run in progress, if any, has finished.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// One sweep: ends (at most [`SWEEP_LIMIT`]) expired leases; returns how many it ended.
pub async fn sweep_once(state: &AppState) -> Result<usize, String> {
    // Only an index that holds the whole ledger tells which executions are still open.
    state.execs.caught_up().await.map_err(|e| e.to_string())?;
    let now = state.now();
    let grace = i64::try_from(state.config.lease_grace_secs).unwrap_or(i64::MAX);
    let lifetime = i64::try_from(state.config.writ_lifetime_secs).unwrap_or(i64::MAX);
    let max_lifetime = i64::try_from(state.config.writ_max_lifetime_secs).unwrap_or(i64::MAX);
    let before = now.saturating_sub(grace);
    let expired = state
        .execs
        .expired_leases(before, lifetime, max_lifetime, SWEEP_LIMIT)
        .map_err(|e| e.to_string())?;
    let mut ended = 0;
    for execution in expired {
        let guard = state
            .execs
            .lock_closing(execution)
            .await
            .map_err(|e| e.to_string())?;
        // Decided again under the lock: a receipt or a renewal may have landed meanwhile.
        let Some(lease) = guard.state().map_err(|e| e.to_string())? else {
            continue;
        };
        if !lease.allowed || lease.closed() || lease.lease_until(lifetime, max_lifetime) >= before {
            continue;
        }
        // A writ's jti is its execution id.
        let index = record(
            state,
            &writ_model::entries::LeaseEnded::new(
                execution,
                execution.to_string(),
                LEASE_EXPIRED.as_str().to_owned(),
                now,
            ),
        )
        .await
        .map_err(|e| format!("{}: {}", e.code, e.message))?;
        guard.recorded(Closing::LeaseEnded(index, true));
        drop(guard);
        ended += 1;
        state.events.publish(
            "lease.ended",
            serde_json::to_value(writ_api::LeaseEndedEvent {
                execution,
                jti: execution.to_string(),
                reason_code: LEASE_EXPIRED,
                ledger_index: Some(index),
            })
            .unwrap_or_default(),
        );
    }
    Ok(ended)
}
