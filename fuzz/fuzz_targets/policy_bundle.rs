//! Policy bundles as an operator uploads them (`POST /v1/admin/bundles/…`, `writ policy`):
//! named files (schema, policies, entities, signature) sorted, parsed, strictly validated and
//! indexed by `compile`, and the signature checked against a trusted key.
//!
//! Input: files separated by a 0x00 byte, each `NAME\nTEXT`.
//!
//! Properties: a bundle that compiles decides a few fixed requests, and `replay` of each
//! decision under the same bundle recomputes it byte for byte (invariant 3 with arbitrary
//! policies); compiling the same files again gives the same digest.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use writ_authorize::{
    BundleSignature, BundleSigningKey, BundleSource, BundleVerifyingKey, ReplayOutcome, compile,
    decide, replay,
};
use writ_fuzz as fx;
use writ_model::{AuthorizeRequest, EnvironmentClaims, Intent, Lineage};

fn trusted() -> &'static [BundleVerifyingKey] {
    static K: OnceLock<Vec<BundleVerifyingKey>> = OnceLock::new();
    K.get_or_init(|| vec![BundleSigningKey::from_seed([3; 32]).verifying_key()])
}

fn requests() -> &'static [AuthorizeRequest] {
    static R: OnceLock<Vec<AuthorizeRequest>> = OnceLock::new();
    R.get_or_init(|| {
        [
            (
                "agent:triage-bot",
                "mcp.call_tool",
                "tool:github/get_issue",
                r#"{"number":7}"#,
            ),
            (
                "agent:triage-bot",
                "exec",
                "cmd:/bin/rm",
                r#"{"argv":["-rf","/"]}"#,
            ),
            (
                "human:alice",
                "http.request",
                "http:https://api.github.com",
                r#"{"method":"GET"}"#,
            ),
        ]
        .into_iter()
        .map(|(p, a, r, args)| AuthorizeRequest {
            principal: p
                .parse()
                .unwrap_or_else(|_| unreachable!("a fixture principal")),
            act: None,
            intent: Intent::new(a, r, serde_json::from_str(args).unwrap_or_default()),
            env: EnvironmentClaims::new(fx::zone(), fx::gate()),
            lineage: Some(Lineage::root(fx::execution())),
            principal_entity: None,
        })
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let files = data.split(|&b| b == 0).filter_map(|f| {
        let i = f.iter().position(|&b| b == b'\n')?;
        let name = std::str::from_utf8(f.get(..i)?).ok()?.to_owned();
        Some((name, f.get(i + 1..)?.to_vec()))
    });
    let Ok(source) = BundleSource::from_files(files) else {
        return;
    };
    let Ok(bundle) = compile(&source) else {
        return;
    };
    for req in requests() {
        let record = decide(&bundle, req, fx::NOW);
        assert_eq!(
            replay(&bundle, &record),
            ReplayOutcome::Match,
            "a decision under an uploaded bundle does not replay"
        );
    }
    let again = compile(&source).unwrap_or_else(|e| panic!("compiles once, not twice: {e}"));
    assert_eq!(again.digest(), bundle.digest());
    if let Some(sig) = &source.signature
        && let Ok(sig) = BundleSignature::parse(sig)
    {
        let _ = sig.verify(bundle.digest(), trusted());
    }
});
