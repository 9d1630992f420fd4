//! Acceptance 3: every claim of a valid writ is changed in turn, the writ re-signed with the
//! right key (so only the claim check can catch it), and the verifier must refuse it with
//! the expected stable reason code. Header tampering and strict-signature cases follow.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use writ_artifact::*;
use writ_model::{ExecutionId, Intent};

use crate::fixture::*;

enum Change {
    Set(Value),
    /// Set to the value found at another path of the same writ.
    CopyFrom(&'static str),
    Remove,
}

enum Setup {
    Nothing,
    RevokePrincipal(&'static str),
    RevokeJti(&'static str),
    Epoch(i64),
}

struct Case {
    path: &'static str,
    change: Change,
    setup: Setup,
    expect: &'static str,
}

fn set(path: &'static str, v: Value, expect: &'static str) -> Case {
    Case {
        path,
        change: Change::Set(v),
        setup: Setup::Nothing,
        expect,
    }
}

fn set_with(path: &'static str, v: Value, setup: Setup, expect: &'static str) -> Case {
    Case {
        path,
        change: Change::Set(v),
        setup,
        expect,
    }
}

fn remove(path: &'static str, expect: &'static str) -> Case {
    Case {
        path,
        change: Change::Remove,
        setup: Setup::Nothing,
        expect,
    }
}

fn other_exec() -> Value {
    json!(ExecutionId::new_v7().to_string())
}

fn cases(f: &Fixture) -> Vec<Case> {
    let other_args = Intent::new(
        f.call.action.clone(),
        f.call.resource.clone(),
        json!({"argv": ["git", "push"], "cwd": "/srv/repo"}),
    )
    .digest()
    .unwrap()
    .args_sha256;
    let upper = "A".repeat(64);
    vec![
        set("iss", json!("writ:impostor"), "writ_wrong_issuer"),
        set("iss", json!(""), "writ_bad_claim"),
        set("iss", json!(7), "writ_bad_claim"),
        set("sub", json!("robot:x"), "writ_bad_claim"),
        set_with(
            "sub",
            json!("agent:mallory"),
            Setup::RevokePrincipal("agent:mallory"),
            "writ_revoked_principal",
        ),
        set_with(
            "act/sub",
            json!("service:rogue"),
            Setup::RevokePrincipal("service:rogue"),
            "writ_revoked_principal",
        ),
        set("act/sub", json!(""), "writ_bad_claim"),
        set_with(
            "act/act/sub",
            json!("human:mallory"),
            Setup::RevokePrincipal("human:mallory"),
            "writ_revoked_principal",
        ),
        set("act/act/sub", json!(["human:alice"]), "writ_bad_claim"),
        set("aud", json!("gate:other"), "writ_wrong_audience"),
        set("aud", json!(["gate:runner"]), "writ_bad_claim"),
        set_with(
            "jti",
            json!("revoked-jti"),
            Setup::RevokeJti("revoked-jti"),
            "writ_revoked_jti",
        ),
        set("jti", json!(""), "writ_bad_claim"),
        set("jti", json!("has space"), "writ_bad_claim"),
        set("iat", json!(NOW + 30), "writ_issued_in_future"),
        set("iat", json!(NOW - 1_000), "writ_lifetime_too_long"),
        set_with(
            "iat",
            json!(NOW - 60),
            Setup::Epoch(NOW - 55),
            "writ_issued_before_epoch",
        ),
        set("iat", json!((NOW - 50) as f64 + 0.5), "writ_bad_claim"),
        set("nbf", json!(NOW + 30), "writ_not_yet_valid"),
        set("nbf", json!(NOW + 100), "writ_bad_claim"),
        set("nbf", json!("soon"), "writ_bad_claim"),
        set("exp", json!(NOW - 10), "writ_expired"),
        set("exp", json!(NOW - 5), "writ_expired"),
        set("exp", json!(NOW + 10_000), "writ_lifetime_too_long"),
        set("exp", json!(NOW - 100), "writ_bad_claim"),
        set("intent/action", json!("exec.sudo"), "writ_intent_mismatch"),
        set(
            "intent/resource",
            json!("cmd:/usr/bin/rm"),
            "writ_intent_mismatch",
        ),
        set(
            "intent/args_sha256",
            json!(other_args),
            "writ_intent_mismatch",
        ),
        set("intent/args_sha256", json!(upper.clone()), "writ_bad_claim"),
        set("env/zone", json!("prod-eu"), "writ_wrong_zone"),
        set("env/zone", json!("bad/zone"), "writ_bad_claim"),
        set(
            "env/attestation_sha256",
            json!(upper.clone()),
            "writ_bad_claim",
        ),
        set("env/attestation_sha256", json!("abc"), "writ_bad_claim"),
        set("policy/bundle_sha256", json!(upper), "writ_bad_claim"),
        set("policy/engine", json!(""), "writ_bad_claim"),
        set(
            "policy/determining",
            json!(["base", "allow-git-status"]),
            "writ_bad_claim",
        ),
        set(
            "policy/determining",
            json!(["base", "base"]),
            "writ_bad_claim",
        ),
        set("scope/max_uses", json!(0), "writ_bad_claim"),
        set("scope/max_uses", json!(-1), "writ_bad_claim"),
        set("scope/fs/read", json!(["srv/repo"]), "writ_bad_claim"),
        set("scope/fs/write", json!(["/tmp/../etc"]), "writ_bad_claim"),
        set("scope/delegate/actions", json!(["ex*ec"]), "writ_bad_claim"),
        set("scope/delegate/resources", json!([""]), "writ_bad_claim"),
        set(
            "scope/delegate/zones",
            json!(["no/slash"]),
            "writ_bad_claim",
        ),
        set("lineage/execution", other_exec(), "writ_bad_claim"),
        Case {
            path: "lineage/parent",
            change: Change::CopyFrom("lineage/execution"),
            setup: Setup::Nothing,
            expect: "writ_bad_claim",
        },
        set(
            "lineage/parent",
            json!("00000000-0000-4000-8000-000000000000"),
            "writ_bad_claim",
        ),
        // A child whose root is itself (a root other than the parent's cannot be told offline:
        // the trace id is the caller's, not derived from the root).
        Case {
            path: "lineage/root",
            change: Change::CopyFrom("lineage/execution"),
            setup: Setup::Nothing,
            expect: "writ_bad_claim",
        },
        set(
            "lineage/traceparent",
            json!("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            "writ_bad_claim",
        ),
        set("ledger/origin", json!(""), "writ_bad_claim"),
        set("ledger/index", json!(-1), "writ_bad_claim"),
        set("ledger/index", json!("17"), "writ_bad_claim"),
        remove("iss", "writ_missing_claim"),
        remove("sub", "writ_missing_claim"),
        remove("aud", "writ_missing_claim"),
        remove("jti", "writ_missing_claim"),
        remove("iat", "writ_missing_claim"),
        remove("nbf", "writ_missing_claim"),
        remove("exp", "writ_missing_claim"),
        remove("intent", "writ_missing_claim"),
        remove("env", "writ_missing_claim"),
        remove("policy", "writ_missing_claim"),
        remove("scope", "writ_missing_claim"),
        remove("lineage", "writ_missing_claim"),
        remove("ledger", "writ_missing_claim"),
        remove("lineage/parent", "writ_bad_claim"),
        remove("intent/args_sha256", "writ_bad_claim"),
    ]
}

fn apply(claims: &mut Value, path: &str, change: &Change) {
    match change {
        Change::Set(v) => *at(claims, path) = v.clone(),
        Change::CopyFrom(from) => {
            let v = at(claims, from).clone();
            *at(claims, path) = v;
        }
        Change::Remove => {
            let (parent, key) = path.rsplit_once('/').map_or(("", path), |(p, k)| (p, k));
            let obj = if parent.is_empty() {
                claims
            } else {
                at(claims, parent)
            };
            assert!(obj.as_object_mut().unwrap().remove(key).is_some(), "{path}");
        }
    }
}

#[test]
fn resigned_unchanged_claims_verify() {
    // The control for the table: re-signing by hand alone does not make a writ fail.
    let f = Fixture::new();
    let w = f.issue();
    let token = resign(&claims_of(&w.token), &f.kid());
    let v = f.verifier().verify_call(&token, &f.call).unwrap();
    assert_eq!(v.claims(), &w.claims);
}

#[test]
fn every_claim_changed_and_resigned_is_refused() {
    let probe = Fixture::new();
    let valid = claims_of(&probe.issue().token);
    let mut leaves = Vec::new();
    leaf_paths(&valid, "", &mut leaves);
    let table = cases(&probe);
    // Every leaf of the valid writ is changed by at least one case.
    let covered: BTreeSet<&str> = table.iter().map(|c| c.path).collect();
    let missing: Vec<&String> = leaves
        .iter()
        .filter(|l| !covered.contains(l.as_str()))
        .collect();
    assert!(missing.is_empty(), "claims no case changes: {missing:?}");

    for case in table {
        let f = Fixture::new();
        let w = f.issue();
        let mut claims = claims_of(&w.token);
        apply(&mut claims, case.path, &case.change);
        match case.setup {
            Setup::Nothing => {}
            Setup::RevokePrincipal(p) => f.revocations.revoke_principal(p.parse().unwrap()),
            Setup::RevokeJti(j) => f.revocations.revoke_jti(j, i64::MAX),
            Setup::Epoch(e) => f.revocations.raise_epoch(e),
        }
        let token = resign(&claims, &f.kid());
        let err = f
            .verifier()
            .verify_call(&token, &f.call)
            .expect_err(&format!("{} was accepted after the change", case.path));
        assert_eq!(
            err.reason_code(),
            case.expect,
            "{}: {err} (claims {claims})",
            case.path
        );
        assert!(f.replay.is_empty(), "a refused writ must not be counted");

        // The same change without re-signing is caught by the signature.
        let (head, rest) = w.token.split_once('.').unwrap();
        let sig = rest.rsplit_once('.').unwrap().1;
        let spliced = format!(
            "{head}.{}.{sig}",
            b64(&serde_json::to_vec(&claims).unwrap())
        );
        let err = f.verifier().verify_call(&spliced, &f.call).unwrap_err();
        assert_eq!(err.reason_code(), "writ_bad_signature", "{}", case.path);
    }
}

#[test]
fn unknown_claims_are_ignored() {
    let f = Fixture::new();
    let mut claims = claims_of(&f.issue().token);
    claims["x-extension"] = json!({"anything": [1, 2]});
    let token = resign(&claims, &f.kid());
    assert!(f.verifier().verify_call(&token, &f.call).is_ok());
}

#[test]
fn any_change_in_the_call_is_an_intent_mismatch() {
    let f = Fixture::new();
    let w = f.issue();
    let args = f.call.args.clone();
    let mut variants = vec![
        Intent::new("exec.raw", f.call.resource.clone(), args.clone()),
        Intent::new("exec", "cmd:/usr/bin/gitx", args.clone()),
        Intent::new("exec", f.call.resource.clone(), json!({})),
    ];
    let mut push = |mutate: &dyn Fn(&mut Value)| {
        let mut a = args.clone();
        mutate(&mut a);
        variants.push(Intent::new("exec", f.call.resource.clone(), a));
    };
    push(&|a| a["argv"][1] = json!("push"));
    push(&|a| a["argv"].as_array_mut().unwrap().push(json!("--force")));
    push(&|a| a["cwd"] = json!("/srv/repo/"));
    push(&|a| a["extra"] = Value::Null);
    push(&|a| {
        a.as_object_mut().unwrap().remove("cwd");
    });
    push(&|a| a["argv"] = json!("git status"));
    for call in variants {
        let err = f.verifier().verify_call(&w.token, &call).unwrap_err();
        assert_eq!(err.reason_code(), "writ_intent_mismatch", "{call:?}");
    }
    // Key order is not a change: canonical JSON.
    let reordered: Value =
        serde_json::from_str(r#"{"cwd":"/srv/repo","argv":["git","status"]}"#).unwrap();
    let same = Intent::new("exec", f.call.resource.clone(), reordered);
    assert!(f.verifier().verify_call(&w.token, &same).is_ok());
}

/// Regression (issue 12, finding 2): a writ issued for `{"a":9007199254740992,"b":1}` was
/// accepted for `a = 9007199254740993` (and `9007199254740993.0` with `b: 1.0`): beyond 2^53
/// neighbouring integers share one canonical form, so one digest.
#[test]
fn integers_beyond_2_53_are_refused_by_the_verifier() {
    let f = Fixture::new();
    let mut req = f.request();
    // Issued as a control plane without the range check would have.
    req.intent.args_sha256 =
        writ_model::digest::canonical_sha256_hex(&json!({"a": 9_007_199_254_740_992u64, "b": 1}))
            .unwrap();
    f.clock.set(ISSUED);
    let w = f.issuer.issue(req).unwrap();
    f.clock.set(NOW);
    for args in [
        r#"{"a":9007199254740992,"b":1}"#,
        r#"{"a":9007199254740993,"b":1}"#,
        r#"{"a":9007199254740993.0,"b":1.0}"#,
        r#"{"a":[-9007199254740993]}"#,
    ] {
        let call = Intent::new(
            f.call.action.clone(),
            f.call.resource.clone(),
            serde_json::from_str(args).unwrap(),
        );
        let err = f.verifier().verify_call(&w.token, &call).unwrap_err();
        assert_eq!(err.reason_code(), "number_out_of_range", "{args}");
        assert!(err.is_malformed_input(), "{args}");
    }
}

#[test]
fn revocations_and_kill_switch_refuse_an_unchanged_writ() {
    type Revoke = fn(&RevocationSet, &WritClaims);
    let table: [(Revoke, &str); 6] = [
        (|r, c| r.revoke_jti(&c.jti, c.exp + 5), "writ_revoked_jti"),
        (
            |r, c| r.revoke_principal(c.sub.clone()),
            "writ_revoked_principal",
        ),
        (
            |r, _| r.revoke_principal("human:alice".parse().unwrap()),
            "writ_revoked_principal",
        ),
        (
            |r, c| r.revoke_zone(c.env.zone.clone()),
            "writ_revoked_zone",
        ),
        (|r, _| r.set_kill_switch(true), "writ_kill_switch"),
        (|r, c| r.raise_epoch(c.iat + 1), "writ_issued_before_epoch"),
    ];
    for (revoke, code) in table {
        let f = Fixture::new();
        let w = f.issue();
        revoke(&f.revocations, &w.claims);
        let err = f.verifier().verify_call(&w.token, &f.call).unwrap_err();
        assert_eq!(err.reason_code(), code);
    }
    // Releasing the kill switch and restoring lets the writ through again.
    let f = Fixture::new();
    let w = f.issue();
    f.revocations.set_kill_switch(true);
    f.revocations.revoke_zone("sandbox".parse().unwrap());
    f.revocations.set_kill_switch(false);
    f.revocations.restore_zone(&"sandbox".parse().unwrap());
    assert!(f.verifier().verify_call(&w.token, &f.call).is_ok());
}

#[test]
fn replay_beyond_max_uses_is_refused() {
    let f = Fixture::new();
    let w = f.issue();
    assert_eq!(w.claims.scope.max_uses, 2);
    let gate = f.verifier();
    assert_eq!(
        gate.verify_call(&w.token, &f.call).unwrap().use_number(),
        Some(1)
    );
    assert_eq!(
        gate.verify_call(&w.token, &f.call).unwrap().use_number(),
        Some(2)
    );
    let err = gate.verify_call(&w.token, &f.call).unwrap_err();
    assert_eq!(err.reason_code(), "writ_replayed");
    // A second verifier sharing the cache (another worker of the same gate) agrees.
    let err = f.verifier().verify_call(&w.token, &f.call).unwrap_err();
    assert_eq!(err.reason_code(), "writ_replayed");
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let inner: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x36)
        .chain(msg.iter().copied())
        .collect();
    let ih = writ_model::digest::sha256(&inner);
    let outer: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x5c)
        .chain(ih.iter().copied())
        .collect();
    writ_model::digest::sha256(&outer)
}

#[test]
fn header_tampering_is_refused_with_its_own_code() {
    let f = Fixture::new();
    let w = f.issue();
    let kid = f.kid();
    let payload = serde_json::to_vec(&claims_of(&w.token)).unwrap();
    let signed = |h: Value| sign_raw(&serde_json::to_vec(&h).unwrap(), &payload, &SEED);
    let public = f.ring.jwks(NOW).keys[0].clone();
    let pk = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &public.x)
        .unwrap();

    let hs256 = {
        let h =
            b64(&serde_json::to_vec(&json!({"alg":"HS256","typ":"writ+jwt","kid":kid})).unwrap());
        let input = format!("{h}.{}", b64(&payload));
        let mac = hmac_sha256(&pk, input.as_bytes());
        format!("{input}.{}", b64(&mac))
    };
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"writ+jwt","kid":"x"}"#),
        b64(&payload)
    );
    let other_key = {
        let h = serde_json::to_vec(&json!({"alg":"EdDSA","typ":"writ+jwt","kid":kid})).unwrap();
        sign_raw(&h, &payload, &[9; 32])
    };
    let mut flipped = w.token.clone().into_bytes();
    let n = flipped.len();
    flipped[n - 10] = if flipped[n - 10] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();

    let table: Vec<(&str, String, &str)> = vec![
        ("alg none", none, "writ_alg_none"),
        (
            "alg None",
            signed(json!({"alg":"None","typ":"writ+jwt","kid":kid})),
            "writ_alg_none",
        ),
        (
            "HS256 keyed with the public key",
            hs256,
            "writ_alg_not_allowed",
        ),
        (
            "alg ES256",
            signed(json!({"alg":"ES256","typ":"writ+jwt","kid":kid})),
            "writ_alg_not_allowed",
        ),
        (
            "alg Ed25519",
            signed(json!({"alg":"Ed25519","typ":"writ+jwt","kid":kid})),
            "writ_alg_not_allowed",
        ),
        (
            "alg missing",
            signed(json!({"typ":"writ+jwt","kid":kid})),
            "writ_alg_not_allowed",
        ),
        (
            "typ JWT",
            signed(json!({"alg":"EdDSA","typ":"JWT","kid":kid})),
            "writ_bad_typ",
        ),
        (
            "typ missing",
            signed(json!({"alg":"EdDSA","kid":kid})),
            "writ_bad_typ",
        ),
        (
            "kid unknown",
            signed(json!({"alg":"EdDSA","typ":"writ+jwt","kid":"nope"})),
            "writ_unknown_kid",
        ),
        (
            "kid missing",
            signed(json!({"alg":"EdDSA","typ":"writ+jwt"})),
            "writ_bad_header",
        ),
        (
            "kid number",
            signed(json!({"alg":"EdDSA","typ":"writ+jwt","kid":1})),
            "writ_bad_header",
        ),
        (
            "jku injected",
            signed(json!({"alg":"EdDSA","typ":"writ+jwt","kid":kid,"jku":"https://evil"})),
            "writ_bad_header",
        ),
        (
            "crit",
            signed(json!({"alg":"EdDSA","typ":"writ+jwt","kid":kid,"crit":["exp"]})),
            "writ_bad_header",
        ),
        ("signed by another key", other_key, "writ_bad_signature"),
        ("signature bit flipped", flipped, "writ_bad_signature"),
        (
            "signature of 63 bytes",
            format!("{}.{}", w.token.rsplit_once('.').unwrap().0, b64(&[7; 63])),
            "writ_bad_signature",
        ),
        (
            "two segments",
            w.token.rsplit_once('.').unwrap().0.to_owned(),
            "writ_malformed",
        ),
        ("four segments", format!("{}.x", w.token), "writ_malformed"),
        ("padding", format!("{}=", w.token), "writ_malformed"),
        (
            // Regression: this case once replaced '-' and '_' by '+' and '/', which left
            // ~6% of tokens unchanged (and accepted); put a '+' in the signature instead.
            "standard-alphabet character",
            format!("{}+", &w.token[..w.token.len() - 1]),
            "writ_malformed",
        ),
        ("empty", String::new(), "writ_malformed"),
        (
            "header not JSON",
            format!("{}.{}.{}", b64(b"{"), b64(&payload), b64(&[0; 64])),
            "writ_malformed",
        ),
        ("too large", "a".repeat(20_000), "writ_too_large"),
    ];
    for (name, token, code) in table {
        let err = f.verifier().verify_call(&token, &f.call).unwrap_err();
        assert_eq!(err.reason_code(), code, "{name}: {err}");
    }
}

#[test]
fn verify_strict_refuses_a_small_order_key_forgery() {
    // With the identity point as public key, R = identity and s = 0 satisfy the cofactorless
    // equation for ANY message: plain `verify` accepts this forgery, `verify_strict` must not.
    use ed25519_dalek::Verifier as _;
    let f = Fixture::new();
    let w = f.issue();
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak = ed25519_dalek::VerifyingKey::from_bytes(&identity).unwrap();
    let kid = thumbprint(&weak);
    let header = serde_json::to_vec(&json!({"alg":"EdDSA","typ":"writ+jwt","kid":kid})).unwrap();
    let input = format!("{}.{}", b64(&header), w.token.split('.').nth(1).unwrap());
    let mut sig = [0u8; 64];
    sig[0] = 1;
    let forged = format!("{input}.{}", b64(&sig));
    let sig = ed25519_dalek::Signature::from_bytes(&sig);
    assert!(
        weak.verify(input.as_bytes(), &sig).is_ok(),
        "the forgery should fool non-strict verification, or this test proves nothing"
    );
    let gate = Verifier::new(VerificationKeys::single(weak), f.config(), f.clock.clone());
    let err = gate.verify_call(&forged, &f.call).unwrap_err();
    assert_eq!(err.reason_code(), "writ_bad_signature");
    // And a JWKS publishing such a key is refused outright.
    let jwks = json!({"keys": [{"kty":"OKP","crv":"Ed25519","kid":kid,"x": b64(&identity)}]});
    let err = VerificationKeys::from_jwks_json(jwks.to_string().as_bytes()).unwrap_err();
    assert_eq!(err.reason_code(), "jwk_invalid");
}
