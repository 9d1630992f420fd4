//! Authorize request bodies: `POST /v1/authorize` read by the server's own JSON extractor
//! into the type it deserializes (`writ_server::api::AuthorizeBody`), and the
//! `AuthorizeRequest` it becomes (what `decide` hashes, the ledger holds and `writ replay`,
//! policy test files and `writ policy simulate` read back).
//!
//! The first byte picks the input: 0 a `POST /v1/authorize` body, 1 an `AuthorizeRequest`.
//!
//! Properties: the request's hand-written canonical writer (`to_canonical`, hashed on every
//! decision) gives exactly the generic RFC 8785 bytes; those bytes are canonical, read back
//! as a request, and encode to themselves again (what replay hashes is what decide hashed).
#![no_main]

use axum::extract::FromRequest;
use libfuzzer_sys::fuzz_target;
use writ_fuzz as fx;
use writ_model::canonical::{parse_canonical, to_canonical_vec};
use writ_model::{AuthorizeRequest, Lineage};
use writ_server::api::AuthorizeBody;
use writ_server::extract::ApiJson;

fn check_request(req: &AuthorizeRequest) {
    let Ok(generic) = to_canonical_vec(req) else {
        assert!(
            req.to_canonical().is_err(),
            "the request writer encodes what the generic one refuses"
        );
        return;
    };
    let own = req
        .to_canonical()
        .unwrap_or_else(|e| panic!("the request writer refuses what the generic one encodes: {e}"));
    assert_eq!(
        String::from_utf8_lossy(&own),
        String::from_utf8_lossy(&generic),
        "the request writer and RFC 8785 differ"
    );
    parse_canonical(&own).unwrap_or_else(|e| panic!("a request's canonical form is not: {e}"));
    let back: AuthorizeRequest = serde_json::from_slice(&own)
        .unwrap_or_else(|e| panic!("a request's canonical form does not read back: {e}"));
    let again = back
        .to_canonical()
        .unwrap_or_else(|e| panic!("a request read back does not encode: {e}"));
    assert_eq!(
        again, own,
        "a request read back from its canonical form encodes differently"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let request = axum::http::Request::builder()
            .method("POST")
            .uri("/v1/authorize")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(rest.to_vec()))
            .unwrap_or_else(|e| unreachable!("a fixed request: {e}"));
        let Ok(ApiJson(body)) = fx::block_on(ApiJson::<AuthorizeBody>::from_request(request, &()))
        else {
            return;
        };
        let _ = body.intent.digest();
        // The request the server decides on for this body (principal and lineage are the
        // server's; the rest is the body's).
        check_request(&AuthorizeRequest {
            principal: "agent:triage-bot"
                .parse()
                .unwrap_or_else(|_| unreachable!("a fixture principal")),
            act: body.act,
            intent: body.intent.into_owned(),
            env: body.attestation.into_owned().claims,
            lineage: Some(Lineage::root(fx::execution())),
            principal_entity: None,
        });
    } else if let Ok(req) = serde_json::from_slice::<AuthorizeRequest>(rest) {
        check_request(&req);
    }
});
