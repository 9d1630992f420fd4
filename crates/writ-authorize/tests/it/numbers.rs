//! Issue 12, findings 1 and 2: one value per number.
//!
//! A `forbid … when { context.args.b == 2 }` was walked around by writing 2 as `2.0`, `2e0`,
//! `20e-1` or `2.000000000000000001`: the Cedar mapping turned every number that was not an
//! i64 into a string, while the digest and the ledger held the canonical `2`; `writ replay`
//! then disagreed with the recorded decision. These tests re-spell random arguments in every
//! legal JSON number form and hold decide, the args digest, the ledger entry and replay to one
//! answer, and check that numbers readers disagree on are refused.

use proptest::prelude::*;
use serde_json::{Value, json};
use writ_authorize::{Bundle, ReplayOutcome, compile, decide, decide_with_entry, replay};
use writ_model::canonical::to_canonical_string;
use writ_model::number::check_json_numbers;
use writ_model::{AuthorizeRequest, Decision, DecisionCode, DecisionRecord};

use crate::support::{NOW, source};

const SCHEMA: &str = r#"
entity Agent;
entity Gate;
entity Tool;
type Env = { zone: String, gate: Gate };
type Inner = { b?: Long, d?: decimal };
type Args = { b?: Long, d?: decimal, s?: String, inner?: Inner, list?: Set<Long> };
type Context = { now: Long, env: Env, args: Args, on_behalf_of: Set<String> };
action call_tool appliesTo { principal: [Agent], resource: [Tool], context: Context };
"#;

const POLICIES: &str = r#"
@id("allow") permit(principal, action, resource);
@id("no-b-2") forbid(principal, action, resource)
  when { context.args has b && context.args.b == 2 };
@id("no-inner-b-2") forbid(principal, action, resource)
  when { context.args has inner && context.args.inner has b && context.args.inner.b == 2 };
@id("no-list-2") forbid(principal, action, resource)
  when { context.args has list && context.args.list.contains(2) };
@id("no-small-d") forbid(principal, action, resource)
  when { context.args has d && context.args.d.lessThan(decimal("0.5")) };
"#;

fn bundle() -> Bundle {
    compile(&source(SCHEMA, &[("p.cedar", POLICIES)], None)).unwrap()
}

/// The authorize request around `args` (already JSON text), as a body would carry it.
fn request_text(args: &str) -> String {
    format!(
        r#"{{"principal":"agent:a","intent":{{"action":"mcp.call_tool","resource":"tool:t","args":{args}}},"env":{{"zone":"dev","gate":"gate:g"}}}}"#
    )
}

/// What the control plane does with a body: refuse numbers readers disagree on, then parse.
fn intake(text: &str) -> Result<AuthorizeRequest, String> {
    check_json_numbers(text.as_bytes()).map_err(|e| e.reason_code().to_string())?;
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// A small deterministic generator for the spelling choices (seeded by proptest).
struct Choices(u64);

impl Choices {
    fn next(&mut self, n: usize) -> usize {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

/// The exact value of a canonical number text as (negative, digits, exponent): digits without
/// leading or trailing zeros, value = digits × 10^exponent.
fn exact(text: &str) -> (bool, String, i64) {
    let (neg, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (mantissa, exp) = match rest.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().unwrap()),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all = format!("{int}{frac}");
    let lead = all.trim_start_matches('0');
    let digits = lead.trim_end_matches('0');
    let exp = exp - frac.len() as i64 + (lead.len() - digits.len()) as i64;
    (neg, digits.to_owned(), exp)
}

/// Another legal JSON spelling of the number whose canonical text is `text`, with exactly its
/// value: leading and trailing zeros, the decimal point anywhere, any exponent marker and sign.
fn respell(text: &str, c: &mut Choices) -> String {
    let (neg, digits, exp) = exact(text);
    let lead = c.next(3);
    let trail = c.next(5);
    let s = format!(
        "{}{}{}",
        "0".repeat(lead),
        if digits.is_empty() { "0" } else { &digits },
        "0".repeat(trail)
    );
    let point = c.next(s.len() + 1);
    let (int, frac) = s.split_at(point);
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let x = exp - trail as i64 + frac.len() as i64;
    let sign = if neg || (digits.is_empty() && c.next(2) == 0) {
        "-"
    } else {
        ""
    };
    let point = if frac.is_empty() {
        String::new()
    } else {
        format!(".{frac}")
    };
    let exponent = match (x, c.next(4)) {
        (0, 0) => String::new(),
        (0, 1) => "e0".to_owned(),
        (0, 2) => "E+0".to_owned(),
        (0, _) => "e-00".to_owned(),
        (x, 0) => format!("e{x}"),
        (x, 1) => format!("E{x}"),
        (x, 2) if x > 0 => format!("e+{x}"),
        (x, _) if x > 0 => format!("E+0{x}"),
        (x, _) => format!("e-0{}", -x),
    };
    format!("{sign}{int}{point}{exponent}")
}

/// `v` as JSON text, each number re-spelled, members in either order, with some whitespace.
fn spell(v: &Value, c: &mut Choices, out: &mut String) {
    let ws = |c: &mut Choices| [" ", "", "\n ", ""][c.next(4)];
    match v {
        Value::Number(_) => out.push_str(&respell(&to_canonical_string(v).unwrap(), c)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(ws(c));
                spell(item, c, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<_> = map.iter().collect();
            if c.next(2) == 0 {
                members.reverse();
            }
            out.push('{');
            for (i, (k, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap());
                out.push(':');
                out.push_str(ws(c));
                spell(item, c, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Numbers inside ±(2^53 − 1): integers (2 often), decimals Cedar holds, and any double.
fn arb_number() -> impl Strategy<Value = Value> {
    const MAX: i64 = (1 << 53) - 1;
    prop_oneof![
        (-3i64..4).prop_map(|n| json!(n)),
        Just(json!(2)),
        Just(json!(2.0)),
        (-MAX..=MAX).prop_map(|n| json!(n)),
        (-MAX..=MAX).prop_map(|n| json!(n as f64)),
        (-1_000_000i64..1_000_000, 1u32..5)
            .prop_map(|(n, k)| json!(n as f64 / 10f64.powi(k as i32))),
        any::<f64>()
            .prop_filter("in range", |f| f.is_finite() && f.abs() <= MAX as f64)
            .prop_map(|f| json!(f)),
        (-1e-5f64..1e-5).prop_map(|f| json!(f)),
    ]
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        4 => arb_number(),
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => "[a-z0-9 .e\"\\\\-]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("(b|d|s|x|list|inner)", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_args() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("(b|d|s|x|list|inner)", arb_value(), 0..5)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn entry(bundle: &Bundle, req: &AuthorizeRequest) -> (DecisionRecord, Vec<u8>) {
    let (record, entry) = decide_with_entry(bundle, req, NOW);
    (record, entry.unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    /// Every spelling of the same arguments gets the same decision, args digest, ledger entry,
    /// and replays to a match, from the record in memory and from the ledger's bytes.
    #[test]
    fn decide_digest_and_replay_agree_on_every_spelling_of_the_arguments(
        args in arb_args(),
        seed in any::<u64>(),
    ) {
        let bundle = bundle();
        let canonical = to_canonical_string(&args).unwrap();
        let reference = intake(&request_text(&canonical)).unwrap();
        let (reference_record, reference_entry) = entry(&bundle, &reference);
        let digest = reference.intent.digest().unwrap();
        if args.get("b") == Some(&json!(2)) || args.get("b") == Some(&json!(2.0)) {
            prop_assert_eq!(reference_record.decision, Decision::Deny);
            prop_assert!(reference_record.determining.contains(&"no-b-2".to_owned()));
        }
        let mut c = Choices(seed);
        for _ in 0..8 {
            let mut text = String::new();
            spell(&args, &mut c, &mut text);
            let req = intake(&request_text(&text))
                .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(&req.intent.digest().unwrap(), &digest, "{}", text);
            let (record, bytes) = entry(&bundle, &req);
            prop_assert_eq!(
                String::from_utf8_lossy(&bytes),
                String::from_utf8_lossy(&reference_entry),
                "{}", text
            );
            prop_assert_eq!(replay(&bundle, &record), ReplayOutcome::Match, "{}", text);
            let stored: DecisionRecord = serde_json::from_slice(&bytes).unwrap();
            prop_assert_eq!(replay(&bundle, &stored), ReplayOutcome::Match, "{}", text);
        }
    }

    /// A spelling with more digits than a double holds reads as another number to a decimal
    /// reader: it is refused, never rounded to what the digest and the policy would see.
    #[test]
    fn spellings_with_digits_a_double_drops_are_refused(
        n in arb_number(),
        extra in 1u32..1_000_000,
        seed in any::<u64>(),
    ) {
        // (Digits appended to a zero make a small number a double holds well.)
        prop_assume!(to_canonical_string(&n).unwrap() != "0");
        let mut c = Choices(seed);
        let text = respell(&to_canonical_string(&n).unwrap(), &mut c);
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(at) => text.split_at(at),
            None => (text.as_str(), ""),
        };
        let point = if mantissa.contains('.') { "" } else { "." };
        let inexact = format!("{mantissa}{point}00000000000000000000{extra}{exponent}");
        let body = request_text(&format!(r#"{{"b":{inexact}}}"#));
        prop_assert_eq!(intake(&body).unwrap_err(), "number_out_of_range", "{}", inexact);
    }
}

/// Regression (finding 1): the issue's own spellings of 2 were allowed past `== 2`.
#[test]
fn forbid_on_a_number_holds_for_every_spelling_of_it() {
    let bundle = bundle();
    for b in [
        "2", "2.0", "2e0", "20e-1", "0.2e1", "2E+0", "2.000", "200e-2",
    ] {
        let req = intake(&request_text(&format!(r#"{{"b":{b}}}"#))).unwrap();
        let record = decide(&bundle, &req, NOW);
        assert_eq!(record.decision, Decision::Deny, "b = {b}");
        assert_eq!(record.reason_code, DecisionCode::PolicyForbid, "b = {b}");
        assert_eq!(record.determining, ["no-b-2"], "b = {b}");
        assert_eq!(replay(&bundle, &record), ReplayOutcome::Match, "b = {b}");
    }
    // Where it appears nested, in a set, or as a decimal the policy compares.
    for args in [
        r#"{"inner":{"b":20e-1}}"#,
        r#"{"list":[1,2.0]}"#,
        r#"{"d":0.25e0}"#,
    ] {
        let req = intake(&request_text(args)).unwrap();
        assert_eq!(
            decide(&bundle, &req, NOW).decision,
            Decision::Deny,
            "{args}"
        );
    }
    // More digits than a double holds: refused at the door, and if a parser rounded it anyway
    // (a gate that only has the parsed value), it is the 2 the policy forbids.
    let text = request_text(r#"{"b":2.000000000000000001}"#);
    assert_eq!(intake(&text).unwrap_err(), "number_out_of_range");
    let parsed: AuthorizeRequest = serde_json::from_str(&text).unwrap();
    assert_eq!(decide(&bundle, &parsed, NOW).determining, ["no-b-2"]);
    // Other numbers are allowed.
    for b in ["3", "2.5", "1.9999"] {
        let req = intake(&request_text(&format!(r#"{{"b":{b}}}"#))).unwrap();
        assert_eq!(
            decide(&bundle, &req, NOW).decision,
            Decision::Allow,
            "b = {b}"
        );
    }
}

/// Regression (finding 2): 2^53 and 2^53 + 1 had one canonical form, so one digest.
#[test]
fn integers_beyond_2_53_are_refused_by_decide() {
    let bundle = bundle();
    for a in [
        "9007199254740992",
        "9007199254740993",
        "-9007199254740993",
        "1e300",
    ] {
        let text = request_text(&format!(r#"{{"s":"x","x":[{a}]}}"#));
        assert_eq!(intake(&text).unwrap_err(), "number_out_of_range", "{a}");
        // A request that reaches decide without the byte check is denied all the same.
        let parsed: AuthorizeRequest = serde_json::from_str(&text).unwrap();
        let record = decide(&bundle, &parsed, NOW);
        assert_eq!(record.decision, Decision::Deny, "{a}");
        assert_eq!(record.reason_code, DecisionCode::NumberOutOfRange, "{a}");
        assert_eq!(replay(&bundle, &record), ReplayOutcome::Match, "{a}");
        assert_eq!(
            parsed.intent.digest().unwrap_err().reason_code(),
            "number_out_of_range"
        );
    }
    let max = intake(&request_text(r#"{"b":9007199254740991}"#)).unwrap();
    assert_eq!(decide(&bundle, &max, NOW).decision, Decision::Allow);
}

/// Regression (found by the cedar_mapping fuzz target): with two out-of-range numbers listed out
/// of RFC 8785 order, decide named the first in the request's order while replay, from the
/// ledger's canonical (sorted) entry, named the other: `decision_mismatch`.
#[test]
fn the_refused_number_named_is_the_same_in_any_member_order() {
    let bundle = bundle();
    let text = request_text(
        r#"{"n":[2,7111111111111111111111111111111111111111111111111286],"B":111111111111111111111111111111111111111111111111111110}"#,
    );
    let parsed: AuthorizeRequest = serde_json::from_str(&text).unwrap();
    let (record, entry) = decide_with_entry(&bundle, &parsed, NOW);
    assert_eq!(record.reason_code, DecisionCode::NumberOutOfRange);
    let stored: DecisionRecord = serde_json::from_slice(&entry.unwrap()).unwrap();
    assert_eq!(replay(&bundle, &stored), ReplayOutcome::Match);
}
