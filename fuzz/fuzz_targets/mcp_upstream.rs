//! The MCP gateway's reading of what an upstream server sends: a stdio line's routing head
//! (`stdio::head`), the messages of an HTTP answer body in JSON or SSE (`http::messages`),
//! and the narrowing of list answers (`Enforcer::filter_list`) with the tool pins.
//!
//! The first byte picks the list method the answer is for; the rest is the upstream's bytes.
//!
//! Properties: the stdio fast path reads the same `method` and `id` as a full parse of the
//! line; a list answer filtered for a client without a principal token lists nothing (fail
//! closed), keeps its `id`, and is never turned from an error into a result; a tool's pin
//! status does not change when its definition is re-serialized.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use writ_fuzz as fx;
use writ_gate::ControlPlane;
use writ_gate::mcp::enforce::{Enforcer, EnforcerConfig};
use writ_gate::mcp::{PinSet, http, stdio};
use writ_model::FixedClock;

const LISTS: [(&str, &str); 4] = [
    ("tools/list", "tools"),
    ("prompts/list", "prompts"),
    ("resources/list", "resources"),
    ("resources/templates/list", "resourceTemplates"),
];

fn pins() -> PinSet {
    PinSet::from_tools(
        "github",
        &[json!({"name": "get_issue", "description": "Read an issue",
                 "inputSchema": {"type": "object", "properties": {"number": {"type": "integer"}}}})],
    )
}

fn enforcer() -> &'static Enforcer {
    static E: OnceLock<Enforcer> = OnceLock::new();
    E.get_or_init(|| {
        Enforcer::new(
            Arc::new(fx::fixture_gate()),
            // Never called: without a principal token nothing is asked of the control plane.
            ControlPlane::new("http://127.0.0.1:9"),
            EnforcerConfig {
                server: "github".into(),
                gate_token: "unused".into(),
                pins: pins(),
                timeout: Duration::from_secs(1),
            },
            Arc::new(FixedClock::new(fx::NOW)),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let (method, key) = LISTS
        .get(usize::from(selector) % LISTS.len())
        .copied()
        .unwrap_or(("tools/list", "tools"));

    if let Ok(line) = std::str::from_utf8(body)
        && let Ok(full) = serde_json::from_str::<Value>(line)
    {
        let head = stdio::head(line);
        let want = (
            full.get("method")
                .and_then(Value::as_str)
                .map(str::to_owned),
            full.get("id").cloned(),
        );
        assert_eq!(
            head,
            Some(want),
            "the stdio fast path misreads an upstream line"
        );
    }

    for mut msg in http::messages(body) {
        let before = msg.clone();
        let had_result = msg.get("result").is_some();
        fx::block_on(enforcer().filter_list(method, None, &mut msg));
        if let Some(result) = msg.get("result") {
            assert!(
                had_result,
                "an upstream answer without a result got one: {before}"
            );
            let listed = result.get(key).and_then(Value::as_array);
            assert!(
                listed.is_some_and(Vec::is_empty),
                "a list answer for a client without a token lists something: {msg}"
            );
        }
        if before.is_object() && before.get("id").is_some() {
            assert_eq!(
                msg.get("id"),
                before.get("id"),
                "filtering changed the answer's id"
            );
        }
        if method == "tools/list"
            && let Some(tools) = before.pointer("/result/tools").and_then(Value::as_array)
        {
            let pins = pins();
            for t in tools {
                let again: Value = serde_json::from_str(&t.to_string()).unwrap_or(Value::Null);
                assert_eq!(pins.status(t), pins.status(&again));
            }
        }
    }
});
