//! Writ (JWS compact) verification, as a gate runs it on a token an agent hands over.
//!
//! The first byte picks the input's shape:
//! - 0: the bytes are a token, verified as is (and decoded with `decode_unverified`, as
//!   `writ inspect` does);
//! - 1: the bytes are `HEADER 0xff PAYLOAD` JSON, signed here with the trusted key, so the
//!   claim parsing and checks behind the signature are reached;
//! - 2: the bytes are a JWKS, as a gate fetches it from the control plane.
//!
//! Properties: a token that verifies also decodes, with the same `jti`, and holds the claims
//! the verifier pinned (audience, issuer, zone, intent, validity at the injected time).
#![no_main]

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer as _;
use libfuzzer_sys::fuzz_target;
use writ_artifact::{VerificationKeys, Verifier, decode_unverified};
use writ_fuzz as fx;
use writ_model::IntentDigest;

struct Fixture {
    verifier: Verifier,
    digest: IntentDigest,
    key: ed25519_dalek::SigningKey,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| Fixture {
        verifier: fx::verifier(),
        digest: fx::call()
            .digest()
            .unwrap_or_else(|_| unreachable!("a fixture intent")),
        key: ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
    })
}

fn check(token: &str) {
    let f = fixture();
    let decoded = decode_unverified(token);
    let Ok(verified) = f.verifier.verify(token, &f.digest) else {
        return;
    };
    let c = verified.claims();
    let decoded = decoded.unwrap_or_else(|e| panic!("a verified writ does not decode: {e}"));
    assert_eq!(
        decoded.claims.get("jti").and_then(|v| v.as_str()),
        Some(c.jti.as_str())
    );
    assert_eq!(c.aud, fx::gate());
    assert_eq!(c.iss, fx::ISSUER);
    assert_eq!(c.env.zone, fx::zone());
    assert_eq!(c.intent, f.digest);
    let leeway = f.verifier.config().leeway_secs;
    assert!(
        fx::NOW < c.exp.saturating_add(leeway),
        "an expired writ verified"
    );
    assert!(
        fx::NOW.saturating_add(leeway) >= c.nbf,
        "a writ before nbf verified"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            if let Ok(token) = std::str::from_utf8(rest) {
                check(token);
            }
        }
        1 => {
            let (header, payload) = fx::split2(rest);
            let signing_input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(payload)
            );
            let sig = fixture().key.sign(signing_input.as_bytes());
            let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()));
            check(&token);
        }
        _ => {
            let _ = VerificationKeys::from_jwks_json(rest);
        }
    }
});
