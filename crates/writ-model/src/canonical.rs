//! RFC 8785 (JSON Canonicalization Scheme) encoding and checking.
//!
//! Everything Writ hashes or signs goes through here, so that two parties holding the
//! same JSON value always derive the same bytes.

use serde::Serialize;

use crate::error::CanonicalError;

/// Encodes `value` as RFC 8785 canonical JSON bytes.
pub fn to_canonical_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    serde_json_canonicalizer::to_vec(value).map_err(|e| CanonicalError::Encode(e.to_string()))
}

/// Encodes `value` as an RFC 8785 canonical JSON string.
pub fn to_canonical_string<T: Serialize>(value: &T) -> Result<String, CanonicalError> {
    serde_json_canonicalizer::to_string(value).map_err(|e| CanonicalError::Encode(e.to_string()))
}

/// Parses `bytes` as JSON and checks that they are already in RFC 8785 canonical form
/// (sorted keys, no insignificant whitespace, canonical numbers and strings, no duplicate
/// keys). Returns the parsed value on success.
pub fn parse_canonical(bytes: &[u8]) -> Result<serde_json::Value, CanonicalError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| CanonicalError::Parse(e.to_string()))?;
    let canonical = to_canonical_vec(&value)?;
    if canonical != bytes {
        return Err(CanonicalError::NotCanonical {
            offset: first_difference(&canonical, bytes),
        });
    }
    Ok(value)
}

fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b.iter())
        .position(|(x, y)| x != y)
        .unwrap_or_else(|| a.len().min(b.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_and_strips_whitespace() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{ "b": 1, "a": [true, null] }"#).unwrap();
        assert_eq!(
            to_canonical_string(&v).unwrap(),
            r#"{"a":[true,null],"b":1}"#
        );
    }

    #[test]
    fn rfc8785_number_forms() {
        // RFC 8785 §3.2.2.3: numbers are serialized as ECMAScript does.
        let v = json!([1.0, 1e21, 1e-7, 0.5, -0.0]);
        assert_eq!(to_canonical_string(&v).unwrap(), "[1,1e+21,1e-7,0.5,0]");
    }

    #[test]
    fn parse_canonical_accepts_canonical_and_refuses_the_rest() {
        assert!(parse_canonical(br#"{"type":"x","v":1}"#).is_ok());
        for bad in [
            &br#"{"v":1,"type":"x"}"#[..],
            br#"{"type": "x","v":1}"#,
            br#"{"type":"x","v":1.0}"#,
            br#"{"type":"x","type":"y","v":1}"#,
            br#"{"type":"x","v":1}
"#,
            b"not json",
            b"",
        ] {
            assert!(
                parse_canonical(bad).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            "[a-zA-Z0-9 \u{e9}\u{1F600}\"\\\\]{0,8}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(3, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                prop::collection::btree_map("[a-z\u{e9}]{0,4}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn canonical_round_trip(v in arb_json()) {
            let bytes = to_canonical_vec(&v).unwrap();
            let back = parse_canonical(&bytes).unwrap();
            prop_assert_eq!(&back, &v);
            prop_assert_eq!(to_canonical_vec(&back).unwrap(), bytes);
        }
    }
}
