//! Numbers in arguments: one value per number, the one every part of Writ sees.
//!
//! A JSON number reaches Writ as text (`2`, `2.0`, `20e-1`), is hashed in its RFC 8785
//! canonical form (`2`), is shown to policies (a Cedar `Long`), recorded in the ledger and
//! replayed. All of them must see the same value, and so must the program that finally runs
//! the action, whatever JSON reader it uses. Writ therefore accepts only numbers that every
//! reader reads alike, as I-JSON (RFC 7493 section 2.2) asks:
//!
//! 1. **Range.** Its magnitude is at most 2^53 − 1 ([`MAX_SAFE_INTEGER`]). Beyond that, doubles
//!    skip integers: `9007199254740993` would be hashed as `9007199254740992` and a writ for
//!    one would be good for the other. (Every double beyond 2^53 is an integer, so this is
//!    exactly "integers beyond ±(2^53 − 1)".)
//! 2. **Exactness.** Its decimal text denotes exactly the value its canonical text denotes:
//!    `2.000000000000000001` is read by a double reader as `2` and by a decimal reader as
//!    something else, so it is refused; `0.1` is accepted (its canonical text is `0.1`), and so
//!    are `2.0`, `2e0`, `20e-1` and `0.2e1`, all of which are exactly `2`.
//!
//! A refused number fails with [`NumberError`], reason code `number_out_of_range`, at every
//! door arguments come through: the control plane's request bodies ([`check_json_numbers`] on
//! the raw bytes), the gates' digest of the call they are about to run
//! ([`crate::Intent::digest`], over the parsed value), `writ verify-writ`, and the mapping to
//! Cedar. The second rule needs the original text, which a parsed value no longer has; the
//! first holds on parsed values as well ([`check_value_numbers`]).
//!
//! An accepted number has one canonical form, [`CanonicalNumber`]: an integer (however it was
//! written) or a fraction with its RFC 8785 text. The Cedar mapping starts from it, so two
//! spellings of one number cannot be told apart by a policy.

use serde_json::{Number, Value};
use thiserror::Error;

use crate::canonical::write_canonical_value;

/// The largest integer that every IEEE 754 double reader holds exactly, and its neighbours
/// too (2^53 − 1, `Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;
/// [`MAX_SAFE_INTEGER`] as a double (exactly).
const MAX_SAFE_DOUBLE: f64 = 9_007_199_254_740_991.0;

/// A number outside what every JSON reader reads alike.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NumberError {
    #[error(
        "number {text} is beyond ±(2^53 − 1), where JSON readers disagree on its value (I-JSON, RFC 7493): send it as a string"
    )]
    OutOfRange { text: String },
    #[error(
        "number {text} has more digits than a double holds, so readers would disagree on its value (a double reader sees {canonical}): send {canonical}, or the number as a string"
    )]
    Inexact { text: String, canonical: String },
}

impl NumberError {
    /// A short stable code for metrics, audit records and API responses.
    pub fn reason_code(&self) -> crate::ReasonCode {
        crate::ReasonCode::NumberOutOfRange
    }
}

/// An accepted number in its canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CanonicalNumber {
    /// An integral value, however it was written (`2`, `2.0`, `20e-1`, `-0`), within
    /// ±[`MAX_SAFE_INTEGER`].
    Integer(i64),
    /// A value with a fractional part, as its RFC 8785 text (`0.5`, `-2.25`, `1e-7`).
    Fraction(String),
}

impl CanonicalNumber {
    /// The canonical form of a parsed number. Checks the range; a parsed number has lost the
    /// text it was written in, so exactness is checked on the bytes ([`check_json_numbers`]).
    pub fn of(n: &Number) -> Result<Self, NumberError> {
        // The message names the number in its canonical text, so every spelling of one number
        // gets the same reason (a decision record's reasons are replayed from the canonical
        // arguments; the mapping fuzz target found `…688.588…` recorded with another text).
        let out_of_range = || {
            let mut text = Vec::with_capacity(24);
            let text = match write_canonical_value(&Value::Number(n.clone()), &mut text) {
                Ok(()) => String::from_utf8(text).unwrap_or_else(|_| n.to_string()),
                Err(_) => n.to_string(),
            };
            NumberError::OutOfRange {
                text: shorten(&text),
            }
        };
        if let Some(i) = n.as_i64() {
            return if i.unsigned_abs() <= MAX_SAFE_INTEGER.unsigned_abs() {
                Ok(Self::Integer(i))
            } else {
                Err(out_of_range())
            };
        }
        if n.is_u64() {
            // Not an i64, so beyond 2^63.
            return Err(out_of_range());
        }
        let f = n.as_f64().ok_or_else(out_of_range)?;
        if !f.is_finite() || f.abs() > MAX_SAFE_DOUBLE {
            return Err(out_of_range());
        }
        // The canonical text, from the one RFC 8785 writer Writ has.
        let mut text = Vec::with_capacity(24);
        write_canonical_value(&Value::Number(n.clone()), &mut text).map_err(|_| out_of_range())?;
        let text = String::from_utf8(text).map_err(|_| out_of_range())?;
        // ECMAScript writes every integer below 10^21 as plain digits.
        if text.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            text.parse::<i64>()
                .map(Self::Integer)
                .map_err(|_| out_of_range())
        } else {
            Ok(Self::Fraction(text))
        }
    }

    /// The canonical form of a number as written in JSON text: the range and the exactness
    /// rule of the module documentation. `text` must be a JSON number token.
    pub fn parse(text: &str) -> Result<Self, NumberError> {
        let out_of_range = || NumberError::OutOfRange {
            text: shorten(text),
        };
        let written = ExactDecimal::parse(text).ok_or_else(out_of_range)?;
        let f: f64 = text.parse().map_err(|_| out_of_range())?;
        let n = Number::from_f64(f).ok_or_else(out_of_range)?;
        let canonical = Self::of(&n).map_err(|_| out_of_range())?;
        let canonical_text = canonical.text();
        if ExactDecimal::parse(&canonical_text).as_ref() != Some(&written) {
            return Err(NumberError::Inexact {
                text: shorten(text),
                canonical: canonical_text,
            });
        }
        Ok(canonical)
    }

    /// The RFC 8785 text of the number.
    pub fn text(&self) -> String {
        match self {
            Self::Integer(i) => i.to_string(),
            Self::Fraction(t) => t.clone(),
        }
    }
}

/// Checks every number in a JSON text (a request body, a message, a file) against the range
/// and exactness rules. Strings are skipped; bytes that are not JSON are left for the JSON
/// parser to refuse.
pub fn check_json_numbers(bytes: &[u8]) -> Result<(), NumberError> {
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                i += 1;
                while let Some(&c) = bytes.get(i) {
                    i += match c {
                        b'\\' => 2,
                        b'"' => break,
                        _ => 1,
                    };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while bytes
                    .get(i)
                    .is_some_and(|c| matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                {
                    i += 1;
                }
                let token = bytes.get(start..i).unwrap_or_default();
                if is_short_integer(token) {
                    continue;
                }
                let token = std::str::from_utf8(token).unwrap_or_default();
                // A token that is not a JSON number is a syntax error the parser reports.
                if ExactDecimal::parse(token).is_some() {
                    CanonicalNumber::parse(token)?;
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Whether a number token is an integer of at most 15 digits, so exact and within range
/// (10^15 < 2^53) with nothing to compute: most numbers in arguments, and the scan runs on
/// every request body. A leading zero is left to the full check, which leaves it to the parser.
fn is_short_integer(token: &[u8]) -> bool {
    let digits = token.strip_prefix(b"-").unwrap_or(token);
    (1..=15).contains(&digits.len())
        && digits.iter().all(u8::is_ascii_digit)
        && (digits.len() == 1 || digits.first() != Some(&b'0'))
}

/// Checks every number in a parsed value against the range rule (the exactness rule needs the
/// text: see [`check_json_numbers`]).
pub fn check_value_numbers(value: &Value) -> Result<(), NumberError> {
    match value {
        Value::Number(n) => CanonicalNumber::of(n).map(|_| ()),
        Value::Array(items) => items.iter().try_for_each(check_value_numbers),
        Value::Object(map) => map.values().try_for_each(check_value_numbers),
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
    }
}

/// The first characters of a number's text, for messages (a number may be megabytes long).
fn shorten(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or_default()),
        None => text.to_owned(),
    }
}

/// The exact value of a decimal text: `digits × 10^exponent`, `digits` without leading or
/// trailing zeros (empty for zero, whose sign and exponent are dropped).
#[derive(Debug, PartialEq, Eq)]
struct ExactDecimal {
    negative: bool,
    digits: String,
    exponent: i64,
}

impl ExactDecimal {
    /// Parses a JSON number token (RFC 8259 section 6); `None` for anything else.
    fn parse(text: &str) -> Option<Self> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, text),
        };
        let (mantissa, exp) = match rest.find(['e', 'E']) {
            Some(at) => (rest.get(..at)?, Some(rest.get(at + 1..)?)),
            None => (rest, None),
        };
        let (int, frac) = match mantissa.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (mantissa, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int) || (int.len() > 1 && int.starts_with('0')) {
            return None;
        }
        if frac.is_some_and(|f| !all_digits(f)) {
            return None;
        }
        let exponent = match exp {
            None => 0,
            Some(e) => {
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                if !all_digits(digits) {
                    return None;
                }
                // Beyond 10^18 every non-zero value is out of range or underflows to zero,
                // which the comparison with the canonical text then refuses.
                let magnitude = digits.trim_start_matches('0').parse::<i64>().unwrap_or(
                    if digits.trim_start_matches('0').is_empty() {
                        0
                    } else {
                        i64::MAX / 4
                    },
                );
                if e.starts_with('-') {
                    -magnitude
                } else {
                    magnitude
                }
            }
        };
        let frac = frac.unwrap_or("");
        let all = format!("{int}{frac}");
        let trimmed = all.trim_start_matches('0');
        let digits = trimmed.trim_end_matches('0');
        if digits.is_empty() {
            return Some(Self {
                negative: false,
                digits: String::new(),
                exponent: 0,
            });
        }
        let trailing = i64::try_from(trimmed.len() - digits.len()).ok()?;
        let frac_len = i64::try_from(frac.len()).ok()?;
        Some(Self {
            negative,
            digits: digits.to_owned(),
            exponent: exponent.saturating_sub(frac_len).saturating_add(trailing),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Regression (found by the cedar_mapping fuzz target): an out-of-range number's reason
    /// named it as parsed (`888888888888888700.0`) while its replay from the canonical arguments
    /// named it `888888888888888700`, so replay reported a mismatch.
    #[test]
    fn an_out_of_range_number_is_named_by_its_canonical_text() {
        let written: Value = serde_json::from_str("888888888888888688.5888888888882").unwrap();
        let canonical: Value = serde_json::from_str("888888888888888700").unwrap();
        let (Value::Number(a), Value::Number(b)) = (written, canonical) else {
            unreachable!()
        };
        let ea = CanonicalNumber::of(&a).unwrap_err();
        assert_eq!(ea, CanonicalNumber::of(&b).unwrap_err());
        assert_eq!(
            ea.to_string(),
            CanonicalNumber::of(&b).unwrap_err().to_string()
        );
    }

    #[test]
    fn every_spelling_of_two_is_the_integer_two() {
        for t in [
            "2", "2.0", "2e0", "2E+0", "20e-1", "0.2e1", "2.000", "200E-2", "0.002e3",
        ] {
            assert_eq!(
                CanonicalNumber::parse(t),
                Ok(CanonicalNumber::Integer(2)),
                "{t}"
            );
        }
        assert_eq!(
            CanonicalNumber::parse("-0.0"),
            Ok(CanonicalNumber::Integer(0))
        );
        assert_eq!(
            CanonicalNumber::parse("25e-1"),
            Ok(CanonicalNumber::Fraction("2.5".into()))
        );
        assert_eq!(
            CanonicalNumber::parse("0.1"),
            Ok(CanonicalNumber::Fraction("0.1".into()))
        );
        assert_eq!(
            CanonicalNumber::parse("1E-7"),
            Ok(CanonicalNumber::Fraction("1e-7".into()))
        );
    }

    #[test]
    fn numbers_readers_disagree_on_are_refused() {
        for t in [
            "9007199254740992",
            "9007199254740993",
            "-9007199254740993",
            "9007199254740993.0",
            "1e300",
            "1e400",
            "18446744073709551616",
        ] {
            assert!(
                matches!(
                    CanonicalNumber::parse(t),
                    Err(NumberError::OutOfRange { .. })
                ),
                "{t}"
            );
        }
        for t in [
            "2.000000000000000001",
            "0.30000000000000001",
            "1e-400",
            "9007199254740990.5",
        ] {
            assert!(
                matches!(CanonicalNumber::parse(t), Err(NumberError::Inexact { .. })),
                "{t}: {:?}",
                CanonicalNumber::parse(t)
            );
        }
        assert_eq!(
            CanonicalNumber::parse("9007199254740991"),
            Ok(CanonicalNumber::Integer(MAX_SAFE_INTEGER))
        );
        assert_eq!(
            CanonicalNumber::parse("0e99999999999999999999999"),
            Ok(CanonicalNumber::Integer(0))
        );
    }

    #[test]
    fn parsed_values_beyond_the_range_are_refused() {
        for v in [
            json!(9_007_199_254_740_992u64),
            json!(-9_007_199_254_740_992i64),
            json!(u64::MAX),
            json!(9_007_199_254_740_992f64),
            json!(1e300),
        ] {
            let Value::Number(n) = &v else { panic!() };
            assert!(CanonicalNumber::of(n).is_err(), "{v}");
        }
        assert!(check_value_numbers(&json!({"a": [1, {"b": 9_007_199_254_740_993u64}]})).is_err());
        assert!(
            check_value_numbers(&json!({"a": [1, {"b": 2.5}], "c": "9007199254740993"})).is_ok()
        );
    }

    #[test]
    fn the_scan_skips_strings_and_finds_nested_numbers() {
        assert!(check_json_numbers(br#"{"a":"9007199254740993","b\"1e400":[1,2.5]}"#).is_ok());
        assert!(check_json_numbers(br#"{"a":{"b":[0, 9007199254740993]}}"#).is_err());
        assert!(check_json_numbers(br#"{"a":"\\","b":2.000000000000000001}"#).is_err());
        // Not JSON: left to the parser.
        assert!(check_json_numbers(b"{\"a\":01}").is_ok());
        assert!(check_json_numbers(b"\"unterminated").is_ok());
        let err = check_json_numbers(format!("[{}]", "1".repeat(100_000)).as_bytes()).unwrap_err();
        assert!(err.to_string().len() < 300);
        assert_eq!(err.reason_code(), crate::ReasonCode::NumberOutOfRange);
    }

    #[test]
    fn short_integers_skip_the_full_check_and_agree_with_it() {
        for t in ["0", "-0", "7", "-42", "999999999999999", "-100000000000000"] {
            assert!(is_short_integer(t.as_bytes()), "{t}");
            assert!(CanonicalNumber::parse(t).is_ok(), "{t}");
        }
        for t in [
            "",
            "-",
            "01",
            "-01",
            "1000000000000000",
            "2.0",
            "2e0",
            "1-2",
        ] {
            assert!(!is_short_integer(t.as_bytes()), "{t}");
        }
        assert!(check_json_numbers(b"[999999999999999,9007199254740993]").is_err());
    }
}
