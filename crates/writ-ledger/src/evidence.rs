//! Entries v2 encoded and read back in one place: the clear part goes in the ledger with its
//! commitment, the private part (salted) goes to the evidence store in the same transaction
//! ([`Entry::committed`]); reading a decision back joins the two, checking the disclosure
//! against the entry's commitment first. v1 entries read as they always did.

use writ_model::entries::{DecisionClear, DecisionPrivate, Refused};
use writ_model::{DecisionRecord, Receipt};

use crate::commitment::Disclosure;
use crate::entry::Entry;
use crate::error::EntryError;

/// A decision's v2 entry, with its disclosure sealed in.
pub fn decision_entry(record: &DecisionRecord) -> Result<Entry, EntryError> {
    let (clear, private) = record.split();
    Entry::committed(clear, &private, |c, x| c.commitment = x)
}

/// [`decision_entry`] around `request_canonical`, the canonical JSON of `record.request` the
/// decision path already wrote to hash it: the request is not encoded a second time.
pub fn decision_entry_with_request(
    record: &DecisionRecord,
    request_canonical: &[u8],
) -> Result<Entry, EntryError> {
    let private = record.private_canonical_with_request(request_canonical);
    Entry::committed_canonical(record.clear(), private, |c, x| c.commitment = x)
}

/// A receipt's v2 entry, with its disclosure sealed in.
pub fn receipt_entry(receipt: &Receipt) -> Result<Entry, EntryError> {
    let (clear, private) = receipt.split();
    Entry::committed(clear, &private, |c, x| c.commitment = x)
}

/// A refusal's v2 entry, with its disclosure sealed in.
pub fn refused_entry(refused: &Refused) -> Result<Entry, EntryError> {
    let (clear, private) = refused.split();
    Entry::committed(clear, &private, |c, x| c.commitment = x)
}

/// A decision read back from the ledger.
#[derive(Debug, Clone, PartialEq)]
pub enum DecisionEvidence {
    /// The whole record: a v1 entry, or a v2 entry joined with its disclosure.
    Record(Box<DecisionRecord>),
    /// A v2 decision whose disclosure was erased (or is missing): only its clear part is known.
    Erased(Box<DecisionClear>),
}

/// Why a decision entry and its disclosure do not read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    #[error("ledger entry {index} is not a decision record: {reason}")]
    NotADecision { index: u64, reason: String },
    #[error("the disclosure of ledger entry {index} does not match it: {reason}")]
    BadDisclosure { index: u64, reason: String },
}

#[derive(serde::Deserialize)]
struct Version<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    v: u32,
}

/// The `type` of an entry and its version, when it has them.
pub fn entry_version(entry: &[u8]) -> Option<(String, u32)> {
    let v: Version<'_> = serde_json::from_slice(entry).ok()?;
    Some((v.kind.into_owned(), v.v))
}

/// The decision at `index` from its entry and (for v2) its disclosure, if there is one.
pub fn decision_from(
    index: u64,
    entry: &[u8],
    disclosure: Option<&Disclosure>,
) -> Result<DecisionEvidence, EvidenceError> {
    let not = |reason: String| EvidenceError::NotADecision { index, reason };
    let (kind, v) = entry_version(entry).ok_or_else(|| not("no type and version".into()))?;
    if kind != "decision" {
        return Err(not(format!("it is a {kind}")));
    }
    if v < 2 {
        return serde_json::from_slice::<DecisionRecord>(entry)
            .map(|r| DecisionEvidence::Record(Box::new(r)))
            .map_err(|e| not(e.to_string()));
    }
    let clear: DecisionClear = serde_json::from_slice(entry).map_err(|e| not(e.to_string()))?;
    let Some(d) = disclosure else {
        return Ok(DecisionEvidence::Erased(Box::new(clear)));
    };
    let bad = |reason: String| EvidenceError::BadDisclosure { index, reason };
    d.check_entry(entry).map_err(|e| bad(e.to_string()))?;
    let private: DecisionPrivate =
        serde_json::from_value(d.private.clone()).map_err(|e| bad(e.to_string()))?;
    DecisionRecord::join(&clear, private)
        .map(|r| DecisionEvidence::Record(Box::new(r)))
        .map_err(|e| bad(e.to_string()))
}

/// An entry as one JSON object with everything its disclosure says: the private members merged
/// into the clear ones (a v2 decision then reads like a v1 record, with `request`). Without a
/// disclosure (or for a v1 entry), the entry alone. For display and tests, never for hashing.
pub fn entry_view(entry: &[u8], disclosure: Option<&Disclosure>) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_slice(entry).unwrap_or(serde_json::Value::Null);
    if let (Some(obj), Some(serde_json::Value::Object(private))) =
        (v.as_object_mut(), disclosure.map(|d| &d.private))
    {
        for (k, x) in private {
            obj.entry(k.clone()).or_insert_with(|| x.clone());
        }
    }
    v
}

/// [`entry_view`] of each entry of a proof bundle (JSON), with the bundle's disclosures.
pub fn bundle_entry_views(bundle: &serde_json::Value) -> Vec<(u64, serde_json::Value)> {
    use base64::Engine;
    let disclosures: Vec<Disclosure> = bundle
        .get("disclosures")
        .and_then(|d| serde_json::from_value(d.clone()).ok())
        .unwrap_or_default();
    bundle
        .get("entries")
        .and_then(serde_json::Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| {
                    let index = e.get("index")?.as_u64()?;
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(e.get("entry_b64")?.as_str()?)
                        .ok()?;
                    let d = disclosures.iter().find(|d| d.index == index);
                    Some((index, entry_view(&bytes, d)))
                })
                .collect()
        })
        .unwrap_or_default()
}
