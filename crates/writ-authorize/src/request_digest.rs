//! The request digest on the decision path.
//!
//! `request_sha256` must equal `writ_model::digest::canonical_sha256_hex(request)`; this writer
//! produces the same RFC 8785 bytes without the generic canonicalizer's per-key re-parsing, which
//! was a sixth of a decision's time. It handles what requests contain (strings, booleans, null,
//! integers of magnitude at most 2^53) and hands anything else (fractions, huge integers) to the
//! generic canonicalizer. A property test holds the two to the same bytes.

use serde::Serialize;
use serde_json::Value;
use writ_model::canonical::to_canonical_vec;
use writ_model::digest::sha256_hex;

/// Largest integer RFC 8785 (ECMAScript) prints exactly as Rust does.
const MAX_EXACT: u64 = 1 << 53;

fn write_string(s: &str, out: &mut Vec<u8>) -> Option<()> {
    // serde_json escapes exactly as ECMAScript JSON.stringify does for valid UTF-8:
    // `"` `\` \b \f \n \r \t and other controls as lowercase \u00xx.
    serde_json::to_writer(&mut *out, s).ok()
}

/// UTF-16 code unit order, as RFC 8785 sorts object keys.
fn utf16_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

fn write_value(v: &Value, out: &mut Vec<u8>) -> Option<()> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                if i.unsigned_abs() > MAX_EXACT {
                    return None;
                }
                out.extend_from_slice(i.to_string().as_bytes());
            } else if let Some(u) = n.as_u64() {
                if u > MAX_EXACT {
                    return None;
                }
                out.extend_from_slice(u.to_string().as_bytes());
            } else {
                return None;
            }
        }
        Value::String(s) => write_string(s, out)?,
        Value::Array(items) => {
            out.push(b'[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                write_value(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| utf16_cmp(a.0, b.0));
            out.push(b'{');
            for (k, (key, value)) in entries.into_iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                write_string(key, out)?;
                out.push(b':');
                write_value(value, out)?;
            }
            out.push(b'}');
        }
    }
    Some(())
}

/// The RFC 8785 canonical JSON of `value`; `None` if it cannot be encoded.
pub fn canonical_bytes<T: Serialize>(value: &T) -> Option<Vec<u8>> {
    let v = serde_json::to_value(value).ok()?;
    let mut out = Vec::with_capacity(512);
    match write_value(&v, &mut out) {
        Some(()) => Some(out),
        None => to_canonical_vec(&v).ok(),
    }
}

/// Lowercase hex SHA-256 of the RFC 8785 canonical JSON of `value`; `None` if it cannot be
/// encoded.
pub fn canonical_sha256<T: Serialize>(value: &T) -> Option<String> {
    canonical_bytes(value).map(|b| sha256_hex(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use writ_model::digest::canonical_sha256_hex;

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            (-1_000_000i64..1_000_000).prop_map(|n| json!(n)),
            prop::num::f64::NORMAL.prop_map(|f| json!(f)),
            "[a-zA-Z0-9 \u{0}-\u{1f}\u{7f}\u{e9}\u{2028}\u{ffff}\u{1F600}\"\\\\/]{0,8}"
                .prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    "[a-zA-Z\u{e9}\u{ff61}\u{1F600}\u{10000}\u{0}-\u{1f}]{0,4}",
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn equals_the_generic_canonicalizer(v in arb_json()) {
            prop_assert_eq!(canonical_sha256(&v), canonical_sha256_hex(&v).ok());
        }
    }

    #[test]
    fn a_typical_request_takes_the_fast_path() {
        let v = json!({"principal": "agent:a", "intent": {"action": "exec", "resource": "cmd:/x",
                       "args": {"argv": ["-l", "\u{1}"], "n": -9007199254740992i64, "o": null}},
                       "env": {"zone": "z", "gate": "gate:g"}});
        let mut out = Vec::new();
        assert!(write_value(&v, &mut out).is_some());
        assert_eq!(out, to_canonical_vec(&v).unwrap());
        assert!(write_value(&json!(1.5), &mut Vec::new()).is_none());
        assert!(write_value(&json!(9007199254740993u64), &mut Vec::new()).is_none());
    }

    #[test]
    fn astral_keys_sort_by_utf16() {
        // U+FF61 sorts after U+1F600 in UTF-16 (0xFF61 > 0xD83D) but before it in UTF-8.
        let v = json!({"\u{ff61}": 1, "\u{1F600}": 2, "a": [1.5, 9007199254740993u64]});
        assert_eq!(canonical_sha256(&v), canonical_sha256_hex(&v).ok());
    }
}
