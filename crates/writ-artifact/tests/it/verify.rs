//! Verification that succeeds: claims round trip, leeway, key rotation with overlap, JWKS
//! parsing, concurrent gates.

use std::sync::Arc;

use serde_json::json;
use writ_artifact::*;

use crate::fixture::*;

#[test]
fn issued_writ_has_the_fixed_header_and_verifies() {
    let f = Fixture::new();
    let w = f.issue();
    let decoded = decode_unverified(&w.token).unwrap();
    assert_eq!(
        decoded.header,
        json!({"alg": "EdDSA", "typ": "writ+jwt", "kid": f.kid()})
    );
    assert_eq!(w.claims.iat, ISSUED);
    assert_eq!(w.claims.nbf, ISSUED);
    assert_eq!(w.claims.exp, ISSUED + LIFETIME);
    let v = f.verifier().verify_call(&w.token, &f.call).unwrap();
    assert_eq!(v.claims(), &w.claims);
    assert_eq!(v.kid(), f.kid());
}

#[test]
fn default_lifetime_is_sixty_seconds_and_the_bound_holds() {
    let f = Fixture::new();
    let mut req = f.request();
    req.lifetime_secs = None;
    let w = f.issuer.issue(req.clone()).unwrap();
    assert_eq!(w.claims.exp - w.claims.iat, 60);
    req.lifetime_secs = Some(601);
    assert_eq!(
        f.issuer.issue(req.clone()).unwrap_err().reason_code(),
        "issue_bad_lifetime"
    );
    req.lifetime_secs = Some(0);
    assert!(f.issuer.issue(req).is_err());
}

#[test]
fn leeway_applies_at_both_ends_of_the_window() {
    let f = Fixture::new();
    let w = f.issue();
    let exp = w.claims.exp;
    let nbf = w.claims.nbf;
    for (now, ok) in [
        (nbf - 6, false),
        (nbf - 5, true),
        (exp + 4, true),
        (exp + 5, false),
    ] {
        f.clock.set(now);
        let gate = Verifier::new(f.ring.verification_keys(now), f.config(), f.clock.clone());
        assert_eq!(gate.verify_call(&w.token, &f.call).is_ok(), ok, "at {now}");
    }
}

#[test]
fn rotation_keeps_old_writs_verifiable_until_they_expire() {
    let f = Fixture::new();
    let old = f.issue();
    let rotation = f.ring.rotate(WritKey::from_seed(&[43; 32]), NOW);
    assert_eq!(rotation.retired_kid, old.kid);
    assert_eq!(rotation.retired_published_until, old.claims.exp + 5);
    let new = f.issuer.issue(f.request()).unwrap();
    assert_eq!(new.kid, rotation.active_kid);
    assert_ne!(new.kid, old.kid);

    // Both keys are published; a gate that fetched this JWKS accepts both writs.
    let jwks = f.ring.jwks(NOW);
    assert_eq!(jwks.keys.len(), 2);
    let json = serde_json::to_vec(&jwks).unwrap();
    let keys = VerificationKeys::from_jwks_json(&json).unwrap();
    let gate = Verifier::new(keys, f.config(), f.clock.clone());
    assert!(gate.verify_call(&old.token, &f.call).is_ok());
    assert!(gate.verify_call(&new.token, &f.call).is_ok());

    // After the old key's last writ expired (plus leeway), it leaves the JWKS and the old
    // writ is unknown to a gate with the fresh JWKS.
    let later = old.claims.exp + 5;
    let jwks = f.ring.jwks(later);
    assert_eq!(jwks.keys.len(), 1);
    assert_eq!(jwks.keys[0].kid, new.kid);
    let gate = Verifier::new(
        VerificationKeys::from_jwks(&jwks).unwrap(),
        f.config(),
        f.clock.clone(),
    );
    let err = gate.verify_call(&old.token, &f.call).unwrap_err();
    assert_eq!(err.reason_code(), "writ_unknown_kid");

    // A long-lived gate swaps its keys in place when it refreshes the JWKS.
    let shared = Arc::new(Verifier::new(
        VerificationKeys::default(),
        f.config(),
        f.clock.clone(),
    ));
    let err = shared.verify_call(&new.token, &f.call).unwrap_err();
    assert_eq!(err.reason_code(), "writ_unknown_kid");
    shared.replace_keys(VerificationKeys::from_jwks(&jwks).unwrap());
    assert!(shared.verify_call(&new.token, &f.call).is_ok());
}

#[test]
fn jwks_is_okp_ed25519_with_thumbprint_kids() {
    let f = Fixture::new();
    let jwks = serde_json::to_value(f.ring.jwks(NOW)).unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    assert!(
        key.get("d").is_none(),
        "private part must never be published"
    );
    // RFC 7638: recompute the thumbprint from the published members.
    let members = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        key["x"].as_str().unwrap()
    );
    assert_eq!(
        key["kid"].as_str().unwrap(),
        b64(&writ_model::digest::sha256(members.as_bytes()))
    );
}

#[test]
fn jwks_parsing_skips_foreign_keys_and_refuses_broken_ones() {
    let f = Fixture::new();
    let good = serde_json::to_value(&f.ring.jwks(NOW).keys[0]).unwrap();
    let rsa = json!({"kty": "RSA", "kid": "r1", "n": "AQAB", "e": "AQAB"});
    let keys = VerificationKeys::from_jwks_json(
        json!({"keys": [rsa, good.clone()]}).to_string().as_bytes(),
    )
    .unwrap();
    assert_eq!(keys.len(), 1);
    let dup = json!({"keys": [good.clone(), good.clone()]});
    assert_eq!(
        VerificationKeys::from_jwks_json(dup.to_string().as_bytes())
            .unwrap_err()
            .reason_code(),
        "jwks_duplicate_kid"
    );
    let mut short = good.clone();
    short["x"] = json!("AAAA");
    for bad in [
        json!({"keys": [short]}).to_string(),
        "not json".to_owned(),
        json!({"nokeys": []}).to_string(),
    ] {
        assert!(
            VerificationKeys::from_jwks_json(bad.as_bytes()).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn concurrent_gates_accept_a_writ_exactly_max_uses_times() {
    let f = Fixture::new();
    let w = f.issue();
    let gate = Arc::new(f.verifier());
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let gate = gate.clone();
            let token = w.token.clone();
            let call = f.call.clone();
            std::thread::spawn(move || gate.verify_call(&token, &call).is_ok())
        })
        .collect();
    let accepted = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|ok| *ok)
        .count();
    assert_eq!(accepted, w.claims.scope.max_uses as usize);
}

#[test]
fn garbage_never_panics() {
    let f = Fixture::new();
    let gate = f.verifier();
    let w = f.issue();
    // Every prefix and single-byte corruption of a valid writ is refused without a panic.
    for cut in 0..w.token.len() {
        assert!(gate.verify_call(&w.token[..cut], &f.call).is_err());
    }
    let bytes = w.token.as_bytes();
    for i in (0..bytes.len()).step_by(7) {
        let mut b = bytes.to_vec();
        b[i] ^= 0x01;
        if let Ok(s) = String::from_utf8(b) {
            assert!(gate.verify_call(&s, &f.call).is_err(), "byte {i}");
            let _ = decode_unverified(&s);
        }
    }
}

#[test]
fn jtis_are_execution_ids_unique_per_issuer_and_across_issuers() {
    let f = Fixture::new();
    let other = Issuer::new(f.ring.clone(), f.clock.clone(), IssuerConfig::new(ISSUER));
    let mut seen = std::collections::HashSet::new();
    for _ in 0..200 {
        for issuer in [&f.issuer, &other] {
            let w = issuer.issue(f.request()).unwrap();
            assert_eq!(w.claims.jti, w.claims.lineage.execution.to_string());
            assert!(seen.insert(w.claims.jti));
        }
    }
}

// Issue 13: a proof is about the past. A writ long expired still verifies as evidence (its
// signature and form), while a gate refuses it; a forged or re-signed one fails either way.
#[test]
fn an_expired_writ_verifies_as_evidence_but_not_at_a_gate() {
    let f = Fixture::new();
    let w = f.issue();
    let later = w.claims.exp + 86_400;
    f.clock.set(later);
    let gate = Verifier::new(f.ring.verification_keys(later), f.config(), f.clock.clone());
    assert_eq!(
        gate.verify_call(&w.token, &f.call)
            .unwrap_err()
            .reason_code(),
        "writ_expired"
    );
    let keys = f.ring.verification_keys(ISSUED);
    let v = verify_as_evidence(&keys, &w.token).unwrap();
    assert_eq!(v.claims(), &w.claims);
    assert_eq!(v.kid(), f.kid());

    // The same claims signed by another key under the same kid.
    let header = json!({"alg": "EdDSA", "typ": "writ+jwt", "kid": f.kid()});
    let forged = sign_raw(
        &serde_json::to_vec(&header).unwrap(),
        &serde_json::to_vec(&claims_of(&w.token)).unwrap(),
        &[0x5a; 32],
    );
    assert_eq!(
        verify_as_evidence(&keys, &forged)
            .unwrap_err()
            .reason_code(),
        "writ_bad_signature"
    );
    let mut parts: Vec<&str> = w.token.split('.').collect();
    let other = resign(&json!({"sub": "agent:x"}), &f.kid());
    let other_payload = other.split('.').nth(1).unwrap().to_owned();
    parts[1] = &other_payload;
    assert!(verify_as_evidence(&keys, &parts.join(".")).is_err());
}
