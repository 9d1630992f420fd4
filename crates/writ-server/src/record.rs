//! Writing governance to the ledger from a request: append, wait until durable, fail closed with
//! 503 when the ledger cannot take it. Shared by every route family; imports none of them.

use crate::error::ApiError;
use crate::state::AppState;

/// Appends `entry` to the ledger and waits until it is durable. Fails closed with 503.
pub async fn record(state: &AppState, entry: &impl serde::Serialize) -> Result<u64, ApiError> {
    record_entry(state, writ_ledger::Entry::encode(entry)).await
}

/// [`record`] for an entry already encoded.
pub async fn record_entry(
    state: &AppState,
    entry: Result<writ_ledger::Entry, writ_ledger::EntryError>,
) -> Result<u64, ApiError> {
    let entry = encoded(entry)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let done: writ_ledger::AppendCallback = Box::new(move |result| {
        let _ = tx.send(result);
    });
    state
        .ledger
        .submit_entry_with(entry, done)
        .map_err(unrecorded)?;
    durable(state, rx).await
}

/// An entry whose ledger index is fixed but which is not durable yet: what refers to the index
/// may be prepared, and nothing of it may be answered before [`Staged::durable`] succeeds.
pub struct Staged {
    /// The index the entry is being written at.
    pub index: u64,
    done: tokio::sync::oneshot::Receiver<
        Result<writ_ledger::AppendReceipt, writ_ledger::LedgerError>,
    >,
}

impl Staged {
    /// Waits until the entry is durable; fails closed with 503 as [`record_entry`] does.
    pub async fn durable(self, state: &AppState) -> Result<u64, ApiError> {
        let index = durable(state, self.done).await?;
        if index != self.index {
            return Err(ApiError::unavailable(
                writ_model::ReasonCode::LedgerUnavailable,
                format!(
                    "the decision was recorded at index {index}, not at {} as announced, so no writ is issued; retry, and report this ledger fault if it repeats",
                    self.index
                ),
            ));
        }
        Ok(index)
    }
}

/// Submits an encoded entry and waits only until the ledger writer fixes its index (see
/// [`writ_ledger::AssignCallback`]), so work that names the index (signing a writ) overlaps the
/// write and sync of the entry's batch.
pub async fn stage_entry(
    state: &AppState,
    entry: Result<writ_ledger::Entry, writ_ledger::EntryError>,
) -> Result<Staged, ApiError> {
    let entry = encoded(entry)?;
    let (assigned_tx, assigned_rx) = tokio::sync::oneshot::channel();
    let (done_tx, done) = tokio::sync::oneshot::channel();
    state
        .ledger
        .submit_entry_staged(
            entry,
            Box::new(move |index| {
                let _ = assigned_tx.send(index);
            }),
            Box::new(move |result| {
                let _ = done_tx.send(result);
            }),
        )
        .map_err(unrecorded)?;
    match assigned_rx.await {
        Ok(index) => Ok(Staged { index, done }),
        // Dropped unassigned: the writer stopped; its outcome (if any) says why.
        Err(_) => Err(match durable(state, done).await {
            Err(e) => e,
            Ok(_) => writer_stopped(),
        }),
    }
}

fn encoded(
    entry: Result<writ_ledger::Entry, writ_ledger::EntryError>,
) -> Result<writ_ledger::Entry, ApiError> {
    entry.map_err(|e| match e {
        writ_ledger::EntryError::TooLarge { len } => ApiError::bad_request(
            writ_model::ReasonCode::EntryTooLarge,
            format!(
                "the ledger record of this request would be {len} bytes, over the {} a ledger entry may hold: send smaller arguments",
                writ_ledger::entry::MAX_ENTRY_BYTES
            ),
        ),
        other => ApiError::bad_request(writ_model::ReasonCode::EntryUnencodable, other.to_string()),
    })
}

fn unrecorded(e: writ_ledger::LedgerError) -> ApiError {
    ApiError::unavailable(
        writ_model::ReasonCode::LedgerUnavailable,
        format!("the decision could not be recorded: {e}"),
    )
}

fn writer_stopped() -> ApiError {
    ApiError::unavailable(
        writ_model::ReasonCode::LedgerUnavailable,
        "the ledger writer stopped",
    )
}

/// Waits for an append's outcome; on success notes the ledger's size and returns the index.
async fn durable(
    state: &AppState,
    done: tokio::sync::oneshot::Receiver<
        Result<writ_ledger::AppendReceipt, writ_ledger::LedgerError>,
    >,
) -> Result<u64, ApiError> {
    let receipt = done.await.map_err(|_| writer_stopped())?.map_err(|e| {
        ApiError::unavailable(
            writ_model::ReasonCode::LedgerUnavailable,
            format!("the decision could not be made durable: {e}"),
        )
    })?;
    state.metrics.ledger_size.fetch_max(
        receipt.checkpoint_size,
        std::sync::atomic::Ordering::Relaxed,
    );
    state.metrics.checkpoint_unix.store(
        u64::try_from(state.now()).unwrap_or(0),
        std::sync::atomic::Ordering::Relaxed,
    );
    Ok(receipt.index)
}

/// The execution index failed: 503, with what to check.
pub(crate) fn index_err(e: crate::error::ServerError) -> ApiError {
    ApiError::unavailable(
        writ_model::ReasonCode::IndexUnavailable,
        format!(
            "the execution index failed: {e}; retry shortly (GET /readyz says whether the index is healthy)"
        ),
    )
}
