//! RFC 8785 canonical JSON: what every digest, signature and ledger entry of Writ is made of.
//!
//! Properties: canonical bytes are accepted by `parse_canonical` and canonicalize to
//! themselves (the encoding is idempotent); input that `parse_canonical` accepts is exactly
//! its own canonical form; the ledger's two entry checks agree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use writ_model::canonical::{parse_canonical, to_canonical_vec};

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = parse_canonical(data) {
        let again = to_canonical_vec(&value)
            .unwrap_or_else(|e| panic!("accepted canonical input does not encode: {e}"));
        assert_eq!(again, data, "parse_canonical accepted a non-canonical form");
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(canonical) = to_canonical_vec(&value) else {
        return;
    };
    let reparsed = parse_canonical(&canonical).unwrap_or_else(|e| {
        panic!(
            "canonical output is refused by parse_canonical ({e}): {}",
            String::from_utf8_lossy(&canonical)
        )
    });
    let twice = to_canonical_vec(&reparsed)
        .unwrap_or_else(|e| panic!("canonical output does not encode again: {e}"));
    assert_eq!(twice, canonical, "canonicalization is not idempotent");
    // The ledger's two entry checks agree: an entry encoded from a value (`Entry::encode`)
    // passes the check raw bytes get before they are appended (`validate_entry`), and back.
    let encoded = writ_ledger::Entry::encode(&value);
    let raw = writ_ledger::entry::validate_entry(&canonical);
    assert_eq!(
        encoded.is_ok(),
        raw.is_ok(),
        "Entry::encode and validate_entry disagree: {encoded:?} / {raw:?}"
    );
});
