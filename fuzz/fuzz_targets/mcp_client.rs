//! The MCP gateway's reading of a client message (a line over stdio, a POST body over
//! HTTP): how it is routed (`classify`) and, for a governed request, the intent that is
//! authorized, digested and receipted (`request_intent`).
//!
//! Properties: a message the gateway governs is forwarded re-serialized, and the upstream's
//! reading of those bytes is governed the same way, with the same intent digest; a message
//! passed through (re-serialized too) carries no governed request and no cancellation (top
//! level or in a batch); a governed method sent as a notification is never forwarded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use writ_gate::mcp::enforce::{GOVERNED, Inbound, LISTS, classify, request_intent};

const SERVER: &str = "github";

fn method(m: &Value) -> Option<&str> {
    m.get("method").and_then(Value::as_str)
}

fn digest(m: &Value) -> Option<writ_model::IntentDigest> {
    let method = method(m)?;
    if !GOVERNED.contains(&method) {
        return None;
    }
    request_intent(SERVER, method, m).ok()?.digest().ok()
}

fuzz_target!(|data: &[u8]| {
    match classify(data) {
        Inbound::Govern(msg) => {
            let line = msg.to_string();
            let Inbound::Govern(upstream) = classify(line.as_bytes()) else {
                panic!("a governed message is not governed once re-serialized: {line}");
            };
            assert_eq!(upstream, msg, "re-serializing changed the message");
            assert_eq!(
                digest(&upstream),
                digest(&msg),
                "the upstream's reading of the forwarded bytes has another intent"
            );
        }
        Inbound::Request(msg) => {
            // An ungoverned request is forwarded (under the gateway's own id): it must not be a
            // governed method or a listing, whatever spelling it came in.
            if let Some(x) = method(&msg) {
                assert!(
                    !GOVERNED.contains(&x) && !LISTS.contains(&x),
                    "a governed request was forwarded ungoverned: {x}"
                );
            }
        }
        Inbound::Pass(msg) => {
            // What is forwarded is the parsed message re-serialized: the upstream reads
            // exactly what was checked here, whatever duplicate keys the input held.
            let line = msg.to_string();
            let Inbound::Pass(upstream) = classify(line.as_bytes()) else {
                panic!("a passed-through message is routed otherwise once re-serialized: {line}");
            };
            assert_eq!(upstream, msg, "re-serializing changed the message");
            let items = match &msg {
                Value::Array(items) => items.iter().collect::<Vec<_>>(),
                m => vec![m],
            };
            for m in items {
                if let Some(x) = method(m) {
                    assert!(
                        !GOVERNED.contains(&x),
                        "a governed request passed through ungoverned: {x}"
                    );
                    assert!(
                        x != "notifications/cancelled",
                        "a cancellation passed through naming the client's id"
                    );
                }
            }
        }
        Inbound::Cancel(msg) => {
            assert_eq!(
                method(&msg),
                Some("notifications/cancelled"),
                "only a cancellation is rewritten as one"
            );
        }
        Inbound::Refuse(answer) => {
            if let Some(a) = answer {
                // A refusal is an answer, never a request the client could be tricked by.
                let items = match &a {
                    Value::Array(items) => items.iter().collect::<Vec<_>>(),
                    m => vec![m],
                };
                for m in items {
                    assert!(m.get("error").is_some() && m.get("method").is_none());
                }
            }
        }
    }
});
