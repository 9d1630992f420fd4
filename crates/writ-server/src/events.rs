//! The event feed gates follow: decisions, revocations, quarantines, the kill switch, heartbeats.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use serde::Serialize;
use tokio::sync::broadcast;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::IntervalStream;

/// One event on the feed. Serialized as the SSE `data` (JSON); its `kind` is the SSE `event` name.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub seq: u64,
    pub kind: &'static str,
    pub data: serde_json::Value,
}

/// Says whether heartbeats must be held back now (see [`EventBus::hold_heartbeats_while`]).
pub type HoldHeartbeats = std::sync::Arc<dyn Fn() -> bool + Send + Sync>;

/// Fan-out of events to every connected subscriber.
pub struct EventBus {
    tx: broadcast::Sender<Event>,
    seq: AtomicU64,
    hold: std::sync::OnceLock<HoldHeartbeats>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(16));
        Self {
            tx,
            seq: AtomicU64::new(1),
            hold: std::sync::OnceLock::new(),
        }
    }

    /// From now on, no heartbeat is sent while `hold()` is true: a node that cannot vouch for
    /// the fleet's governance (it lost its database, so a revocation made on another node may
    /// not reach it) stops vouching for its gates' feeds, and they deny once their grace period
    /// is over. Set once; later calls are ignored.
    pub fn hold_heartbeats_while(&self, hold: HoldHeartbeats) {
        let _ = self.hold.set(hold);
    }

    /// Publishes an event; having no subscriber is not an error.
    pub fn publish(&self, kind: &'static str, data: serde_json::Value) {
        self.publish_with(kind, || data);
    }

    /// Like [`EventBus::publish`], but the event is only built when someone is listening (for
    /// events on the authorize path).
    pub fn publish_with(&self, kind: &'static str, data: impl FnOnce() -> serde_json::Value) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(Event {
            seq,
            kind,
            data: data(),
        });
    }

    /// How many subscribers follow the feed now.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// An SSE response: first a `snapshot` event (the governance state in force, so a gate that
    /// connects late or reconnects misses nothing), then the events as they happen, plus a
    /// `heartbeat` event every `heartbeat`. A subscriber that falls behind gets a `lagged` event
    /// (it must reconnect for a fresh snapshot: it may have missed a revocation) rather than a
    /// silent gap.
    pub fn sse(
        &self,
        heartbeat: Duration,
        snapshot: serde_json::Value,
    ) -> Sse<impl tokio_stream::Stream<Item = Result<SseEvent, Infallible>> + use<>> {
        self.sse_watched(heartbeat, snapshot, None, None)
    }

    /// [`EventBus::sse`], with a gate's [`crate::contact::FeedWatch`] kept as long as the
    /// stream lives and told of each heartbeat, and, with `kinds`, only the events of those
    /// kinds (besides the snapshot, heartbeats and `lagged`), dropped before they are encoded.
    pub fn sse_watched(
        &self,
        heartbeat: Duration,
        snapshot: serde_json::Value,
        watch: Option<crate::contact::FeedWatch>,
        kinds: Option<Vec<String>>,
    ) -> Sse<impl tokio_stream::Stream<Item = Result<SseEvent, Infallible>> + use<>> {
        // Subscribe before the snapshot is sent, so nothing falls between the two.
        let first = tokio_stream::once(Ok(SseEvent::default()
            .event("snapshot")
            .data(serde_json::to_string(&snapshot).unwrap_or_else(|_| "{}".into()))));
        let events = BroadcastStream::new(self.subscribe()).filter_map(move |item| {
            Some(Ok(match item {
                Ok(ev) => {
                    if kinds
                        .as_ref()
                        .is_some_and(|k| !k.iter().any(|k| k == ev.kind))
                    {
                        return None;
                    }
                    SseEvent::default()
                        .event(ev.kind)
                        .id(ev.seq.to_string())
                        .data(serde_json::to_string(&ev.data).unwrap_or_else(|_| "{}".into()))
                }
                Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                    SseEvent::default()
                        .event("lagged")
                        .data(format!("{{\"missed\":{n}}}"))
                }
            }))
        });
        let hold = self.hold.get().cloned();
        let beats = IntervalStream::new(tokio::time::interval(heartbeat)).filter_map(move |_| {
            if hold.as_ref().is_some_and(|h| h()) {
                return None;
            }
            if let Some(w) = &watch {
                w.beat();
            }
            let now = writ_model::Clock::now_unix(&writ_model::SystemClock);
            Some(Ok(SseEvent::default()
                .event("heartbeat")
                .data(format!("{{\"now\":{now}}}"))))
        });
        Sse::new(first.chain(events.merge(beats))).keep_alive(KeepAlive::default())
    }
}
