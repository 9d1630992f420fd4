//! RFC 8785 (JSON Canonicalization Scheme) encoding and checking.
//!
//! Everything Writ hashes or signs goes through here, so that two parties holding the
//! same JSON value always derive the same bytes.

use serde::Serialize;
use serde_json::Value;

use crate::error::CanonicalError;

/// Encodes `value` as RFC 8785 canonical JSON bytes.
///
/// The value is first built as a `serde_json::Value`, then written with RFC 8785's rules:
/// object members sorted by the UTF-16 code units of their names, numbers formatted as
/// ECMAScript formats doubles (integers up to 2^53 digit by digit, everything else through
/// `ryu-js`), strings with only `"`, `\\` and control characters escaped (`\b \f \n \r \t`,
/// else `\u00xx`), no whitespace. A test checks it byte for byte against the
/// `serde_json_canonicalizer` crate on random documents. (A non-finite float becomes `null`,
/// as in `serde_json::Value`; no JSON input can hold one.)
pub fn to_canonical_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    let value = serde_json::to_value(value).map_err(|e| CanonicalError::Encode(e.to_string()))?;
    let mut out = Vec::with_capacity(512);
    write_value(&value, &mut out)?;
    Ok(out)
}

/// Appends the RFC 8785 canonical JSON of `value` to `out` (for writers that lay out their
/// own members and embed a JSON value).
pub fn write_canonical_value(value: &Value, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    write_value(value, out)
}

/// Encodes `value` as an RFC 8785 canonical JSON string.
pub fn to_canonical_string<T: Serialize>(value: &T) -> Result<String, CanonicalError> {
    String::from_utf8(to_canonical_vec(value)?).map_err(|e| CanonicalError::Encode(e.to_string()))
}

/// The largest integer every double represents exactly (2^53).
const SAFE_INTEGER: u64 = 1 << 53;

fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out)?,
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|(a, _), (b, _)| utf16_cmp(a, b));
            out.push(b'{');
            for (i, (name, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(name, out);
                out.push(b':');
                write_value(v, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// Orders names by their UTF-16 code units (RFC 8785 section 3.2.3). UTF-8 byte order is the
/// same except between characters at or above U+E000 and those outside the BMP.
pub fn utf16_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.as_bytes().cmp(b.as_bytes())
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

fn write_number(n: &serde_json::Number, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    let mut int = itoa::Buffer::new();
    if let Some(u) = n.as_u64()
        && u <= SAFE_INTEGER
    {
        out.extend_from_slice(int.format(u).as_bytes());
    } else if let Some(i) = n.as_i64()
        && i.unsigned_abs() <= SAFE_INTEGER
    {
        out.extend_from_slice(int.format(i).as_bytes());
    } else {
        #[allow(
            clippy::cast_precision_loss,
            reason = "JSON numbers are doubles (RFC 8785)"
        )]
        let f = match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => u as f64,
            (_, Some(i), _) => i as f64,
            (_, _, Some(f)) => f,
            _ => {
                return Err(CanonicalError::Encode(format!(
                    "unrepresentable number {n}"
                )));
            }
        };
        if !f.is_finite() {
            return Err(CanonicalError::Encode(
                "NaN and +/-Infinity are not permitted in JSON".into(),
            ));
        }
        out.extend_from_slice(ryu_js::Buffer::new().format_finite(f).as_bytes());
    }
    Ok(())
}

fn hex_digit(n: u8) -> u8 {
    if n < 10 { b'0' + n } else { b'a' + (n - 10) }
}

/// Appends `s` as an RFC 8785 JSON string, for writers that lay out a known document by hand.
pub fn write_canonical_str(s: &str, out: &mut Vec<u8>) {
    write_string(s, out);
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => &[],
            _ => continue,
        };
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        start = i + 1;
        if escape.is_empty() {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                hex_digit(b >> 4),
                hex_digit(b & 0xf),
            ]);
        } else {
            out.extend_from_slice(escape);
        }
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
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

    /// Documents with every kind of number, control and non-BMP characters, and names whose
    /// UTF-16 order differs from their UTF-8 order.
    fn arb_rich_json() -> impl Strategy<Value = serde_json::Value> {
        let text =
            "[a-z\u{0}-\u{1f}\u{7f}\"\\\\/\u{e9}\u{2028}\u{e000}\u{ffee}\u{10000}\u{1F600}]{0,6}";
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            (-(1i64 << 54)..(1i64 << 54)).prop_map(|n| json!(n)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            (-1e25f64..1e25).prop_map(|f| json!(f)),
            (-1e-5f64..1e-5).prop_map(|f| json!(f)),
            text.prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 48, 5, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
                prop::collection::btree_map(text, inner, 0..5)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]
        #[test]
        fn matches_the_reference_canonicalizer(v in arb_rich_json()) {
            let ours = to_canonical_vec(&v).unwrap();
            let reference = serde_json_canonicalizer::to_vec(&v).unwrap();
            prop_assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&reference)
            );
        }
    }

    #[test]
    fn names_sort_by_utf16_code_units() {
        // U+E000 is one code unit, U+10000 two starting with 0xD800: UTF-16 puts the latter
        // first, UTF-8 the former.
        let v = json!({"\u{e000}": 1, "\u{10000}": 2, "a": 3});
        assert_eq!(
            to_canonical_string(&v).unwrap(),
            "{\"a\":3,\"\u{10000}\":2,\"\u{e000}\":1}"
        );
        let big = json!([
            9_007_199_254_740_993u64,
            -9_007_199_254_740_993i64,
            "\u{1}\u{7f}"
        ]);
        assert_eq!(
            to_canonical_string(&big).unwrap(),
            "[9007199254740992,-9007199254740992,\"\\u0001\u{7f}\"]"
        );
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
