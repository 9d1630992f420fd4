//! When each gate last contacted this server, kept in memory (per node, since it started):
//! any request a gate authenticated (its token: receipts, the event feed, reads) or signed
//! (an attestation that verified with its key: authorize, visibility, lease renewal), and,
//! while it follows the event feed, every heartbeat the server sends it — a connected
//! subscriber is in contact. `GET /v1/status` reports it per gate (`last_contact`,
//! `contact_via`, `connected`) and the Health Dashboard's "gates" component reads it to find a
//! gate silent past its grace period.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use writ_model::Clock;

/// One gate's last contact.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Contact {
    /// Unix seconds of the last contact.
    pub last_contact: i64,
    /// What it was: `request` (a gate-token request), `attestation` (a signed attestation on
    /// authorize, visibility or renewal), `feed` (a feed subscription or a heartbeat on it)
    /// or `feed_closed` (its feed connection ended).
    pub via: &'static str,
    /// Event-feed subscriptions the gate holds open now.
    pub feeds: u32,
}

/// Every gate's last contact since the server started.
pub struct GateContacts {
    clock: Arc<dyn Clock>,
    started_at: i64,
    gates: Mutex<HashMap<String, Contact>>,
}

impl std::fmt::Debug for GateContacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GateContacts")
            .field("started_at", &self.started_at)
            .finish_non_exhaustive()
    }
}

impl GateContacts {
    /// Contacts known from now on, timed by `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            started_at: clock.now_unix(),
            clock,
            gates: Mutex::new(HashMap::new()),
        }
    }

    /// Unix seconds the server started at: the gates' contacts are known since then.
    pub fn started_at(&self) -> i64 {
        self.started_at
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Contact>) -> T) -> T {
        f(&mut self.gates.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Notes a contact from `gate` at `now` (on the authorize path: no allocation once the
    /// gate is known).
    pub fn touch(&self, gate: &str, now: i64, via: &'static str) {
        self.with(|m| {
            let c = match m.get_mut(gate) {
                Some(c) => c,
                None => m.entry(gate.to_owned()).or_default(),
            };
            c.last_contact = c.last_contact.max(now);
            c.via = via;
        });
    }

    /// The contact of `gate`, if it made one since the server started.
    pub fn get(&self, gate: &str) -> Option<Contact> {
        self.with(|m| m.get(gate).cloned())
    }

    /// Every gate's contact.
    pub fn all(&self) -> Vec<(String, Contact)> {
        let mut v: Vec<_> = self.with(|m| m.iter().map(|(k, c)| (k.clone(), c.clone())).collect());
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    fn feed_opened(&self, gate: &str, now: i64) {
        self.with(|m| {
            let c = m.entry(gate.to_owned()).or_default();
            c.last_contact = c.last_contact.max(now);
            c.via = "feed";
            c.feeds = c.feeds.saturating_add(1);
        });
    }

    fn feed_closed(&self, gate: &str, now: i64) {
        self.with(|m| {
            let c = m.entry(gate.to_owned()).or_default();
            c.last_contact = c.last_contact.max(now);
            c.via = "feed_closed";
            c.feeds = c.feeds.saturating_sub(1);
        });
    }
}

/// A gate's event-feed subscription: counts it connected from creation until dropped (when
/// the response stream ends: the client went away or the server stops), and notes each
/// heartbeat sent on it as a contact.
pub struct FeedWatch {
    contacts: Arc<GateContacts>,
    gate: String,
}

impl FeedWatch {
    pub fn open(contacts: Arc<GateContacts>, gate: String) -> Self {
        contacts.feed_opened(&gate, contacts.clock.now_unix());
        Self { contacts, gate }
    }

    /// A heartbeat went out on the feed.
    pub fn beat(&self) {
        self.contacts
            .touch(&self.gate, self.contacts.clock.now_unix(), "feed");
    }
}

impl Drop for FeedWatch {
    fn drop(&mut self) {
        self.contacts
            .feed_closed(&self.gate, self.contacts.clock.now_unix());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_keep_the_latest_time_and_count_feeds() {
        let c = GateContacts::new(Arc::new(writ_model::FixedClock::new(100)));
        assert_eq!(c.get("gate:a"), None);
        c.touch("gate:a", 200, "request");
        c.touch("gate:a", 150, "attestation");
        let a = c.get("gate:a").unwrap();
        assert_eq!((a.last_contact, a.via, a.feeds), (200, "attestation", 0));
        c.feed_opened("gate:a", 210);
        c.feed_opened("gate:a", 211);
        assert_eq!(c.get("gate:a").unwrap().feeds, 2);
        c.feed_closed("gate:a", 220);
        c.feed_closed("gate:a", 221);
        c.feed_closed("gate:a", 222);
        let a = c.get("gate:a").unwrap();
        assert_eq!((a.last_contact, a.via, a.feeds), (222, "feed_closed", 0));
        assert_eq!(c.all().len(), 1);
    }
}
