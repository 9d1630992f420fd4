//! The arguments-to-Cedar mapping and the decision built on it: `decide`, its ledger entry,
//! and `replay` over that entry, under the default bundle plus policies that read numbers.
//!
//! The first byte picks the principal, action and resource; the rest is the intent's
//! arguments (JSON).
//!
//! Properties (invariant 3, deterministic decisions):
//! - the decision's ledger entry is canonical, accepted by the ledger, and `replay` of the
//!   record read back from it recomputes it byte for byte (what `writ replay` does);
//! - arguments and their RFC 8785 canonical form (what the digest and the ledger hold) get
//!   the same decision and determining policies;
//! - the scope-indexed evaluation finds exactly what plain Cedar over every policy finds.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use writ_authorize::decide::{evaluate_indexed, evaluate_plain};
use writ_authorize::{Bundle, ReplayOutcome, decide, decide_with_entry, replay};
use writ_fuzz as fx;
use writ_model::canonical::to_canonical_vec;
use writ_model::{AuthorizeRequest, DecisionRecord, EnvironmentClaims, Intent, Lineage};

const PRINCIPALS: [&str; 3] = ["agent:triage-bot", "human:alice", "service:ci"];
const INTENTS: [(&str, &str); 9] = [
    ("mcp.call_tool", "tool:github/get_issue"),
    ("mcp.call_tool", "tool:fs/write_file"),
    ("mcp.call_tool", "tool:calc/add"),
    ("exec", "cmd:/usr/bin/git"),
    ("http.request", "http:https://api.github.com"),
    ("mcp.read_resource", "mcp-resource:docs/readme"),
    ("mcp.get_prompt", "prompt:docs/summary"),
    ("delegate", "agent:helper"),
    ("exec", "zone:prod"),
];

fn bundle() -> &'static Bundle {
    static B: OnceLock<Bundle> = OnceLock::new();
    B.get_or_init(fx::mapping_bundle)
}

fn request(selector: u8, args: serde_json::Value) -> AuthorizeRequest {
    let principal = PRINCIPALS
        .get(usize::from(selector) % PRINCIPALS.len())
        .copied()
        .unwrap_or("agent:triage-bot");
    let (action, resource) = INTENTS
        .get(usize::from(selector / 3) % INTENTS.len())
        .copied()
        .unwrap_or(("mcp.call_tool", "tool:calc/add"));
    AuthorizeRequest {
        principal: principal
            .parse()
            .unwrap_or_else(|_| unreachable!("a fixture principal")),
        act: None,
        intent: Intent::new(action, resource, args),
        env: EnvironmentClaims::new(fx::zone(), fx::gate()),
        lineage: Some(Lineage::root(fx::execution())),
        principal_entity: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, json)) = data.split_first() else {
        return;
    };
    let Ok(args) = serde_json::from_slice::<serde_json::Value>(json) else {
        return;
    };
    let bundle = bundle();
    let req = request(selector, args);

    let (record, entry) = decide_with_entry(bundle, &req, fx::NOW);
    if let Ok(entry) = entry {
        writ_ledger::entry::validate_entry(&entry)
            .unwrap_or_else(|e| panic!("a decision's ledger entry is refused: {e}"));
        let stored: DecisionRecord = serde_json::from_slice(&entry)
            .unwrap_or_else(|e| panic!("a decision's ledger entry does not read back: {e}"));
        match replay(bundle, &stored) {
            ReplayOutcome::Match => {}
            other => panic!(
                "replay of the recorded decision differs ({:?} at first):\n{other:?}",
                record.decision
            ),
        }
    }

    if let Ok(canonical) = to_canonical_vec(&req.intent.args)
        && let Ok(canonical_args) = serde_json::from_slice(&canonical)
    {
        let again = decide(bundle, &request(selector, canonical_args), fx::NOW);
        assert_eq!(
            (&again.decision, &again.determining),
            (&record.decision, &record.determining),
            "arguments and their canonical form are decided differently: {}",
            String::from_utf8_lossy(&canonical)
        );
    }

    assert_eq!(
        evaluate_indexed(bundle, &req, fx::NOW),
        evaluate_plain(bundle, &req, fx::NOW),
        "the scope index changes what the policies find"
    );
});
