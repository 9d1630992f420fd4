//! The API's route table and the OpenAPI 3.1 document built from it (`GET /v1/openapi.json`).
//!
//! One table feeds the document and the route-coverage test, so a route cannot be added to the
//! router without being documented with the scope it requires (the test calls every documented
//! route without a token and with a token of the wrong scope).

use serde_json::{Map, Value, json};

pub use crate::auth::Access;

/// What an operation answers when it succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 200 with a JSON object.
    Json,
    /// 201 with a JSON object: something was created.
    Created,
    /// 200 with plain text.
    Text,
    /// 200 with bytes (tiles).
    Bytes,
    /// 200 with a server-sent event stream.
    Events,
}

/// A query parameter: by default a tree size (a non-negative integer).
#[derive(Debug, Clone, Copy)]
pub struct SizeParam {
    pub name: &'static str,
    pub required: bool,
}

/// A query parameter with its own schema.
#[derive(Debug, Clone, Copy)]
pub struct QueryParam {
    pub name: &'static str,
    pub description: &'static str,
    pub schema: fn() -> Value,
}

/// One documented operation.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    pub method: &'static str,
    /// OpenAPI path template (`{name}` for parameters).
    pub path: &'static str,
    pub access: Access,
    pub summary: &'static str,
    /// The JSON schema of the operation's request body, if it takes one.
    pub body: Option<fn() -> Value>,
    pub answer: Answer,
    pub query: &'static [SizeParam],
    /// Optional query parameters with their schemas.
    pub filters: &'static [QueryParam],
    /// The JSON schema of the success answer, where it is documented field by field.
    pub returns: Option<fn() -> Value>,
}

/// An operation answering JSON with 200 and taking no query parameters; see
/// [`Operation::answers`] and [`Operation::query`] for the others.
const fn op(
    method: &'static str,
    path: &'static str,
    access: Access,
    summary: &'static str,
    body: Option<fn() -> Value>,
) -> Operation {
    Operation {
        method,
        path,
        access,
        summary,
        body,
        answer: Answer::Json,
        query: &[],
        filters: &[],
        returns: None,
    }
}

impl Operation {
    const fn answers(self, answer: Answer) -> Operation {
        Operation { answer, ..self }
    }

    const fn query(self, query: &'static [SizeParam]) -> Operation {
        Operation { query, ..self }
    }

    const fn filters(self, filters: &'static [QueryParam]) -> Operation {
        Operation { filters, ..self }
    }

    const fn returns(self, schema: fn() -> Value) -> Operation {
        Operation {
            returns: Some(schema),
            ..self
        }
    }
}

/// Every route the server answers.
pub const OPERATIONS: &[Operation] = &[
    op(
        "get",
        "/healthz",
        Access::Public,
        "Liveness: the process is up",
        None,
    ),
    op(
        "get",
        "/readyz",
        Access::Public,
        "Readiness: policy bundle active and index following the ledger; says whether the kill switch is on",
        None,
    )
    .returns(ready_answer),
    op(
        "get",
        "/v1/status",
        Access::Reader,
        "The control plane at a glance: bundle, kill switch, quarantines, revocations, gates, ledger, index, storage",
        None,
    )
    .returns(status_answer),
    op(
        "get",
        "/v1/executions",
        Access::Authenticated,
        "Search the executions the caller may read, newest first, a page at a time",
        None,
    )
    .filters(EXECUTION_FILTERS)
    .returns(executions_answer),
    op(
        "get",
        "/v1/openapi.json",
        Access::Public,
        "This document",
        None,
    ),
    op(
        "get",
        "/.well-known/jwks.json",
        Access::Public,
        "Writ verification keys (JWKS, OKP/Ed25519)",
        None,
    ),
    op(
        "get",
        "/ledger/checkpoint",
        Access::Public,
        "The latest signed checkpoint (C2SP tlog-checkpoint)",
        None,
    )
    .answers(Answer::Text),
    op(
        "get",
        "/ledger/tile/{path}",
        Access::LedgerRead,
        "Hash tiles and entry bundles (C2SP tlog-tiles); a read role's token unless the operator made ledger reads public",
        None,
    )
    .answers(Answer::Bytes),
    op(
        "get",
        "/v1/ledger/consistency",
        Access::LedgerRead,
        "Consistency proof between two tree sizes (?from=&to=); a read role's token unless the operator made ledger reads public",
        None,
    )
    .query(&[
        SizeParam {
            name: "from",
            required: true,
        },
        SizeParam {
            name: "to",
            required: false,
        },
    ]),
    op(
        "get",
        "/v1/ledger/vkey",
        Access::Public,
        "The ledger's verifier key (vkey form)",
        None,
    )
    .answers(Answer::Text),
    op(
        "post",
        "/v1/authorize",
        Access::Principal,
        "Decide an intent; on allow, return a writ after the decision is durable (a W3C traceparent header joins the caller's trace)",
        Some(authorize_body),
    ),
    op(
        "post",
        "/v1/authorize/visible",
        Access::Principal,
        "Which of the named resources the caller may use with an action, through a gate",
        Some(visible_body),
    ),
    op(
        "post",
        "/v1/leases/{jti}/renew",
        Access::Principal,
        "Re-evaluate a running execution; a deny ends it",
        Some(renew_body),
    ),
    op(
        "post",
        "/v1/receipts",
        Access::Gate,
        "Record a gate's signed receipt for an execution",
        Some(receipt_body),
    )
    .answers(Answer::Created),
    op(
        "get",
        "/v1/events",
        Access::GateOrReader,
        "Server-sent events: decisions, revocations, quarantines, heartbeats",
        None,
    )
    .filters(&[filter(
        "kinds",
        "Comma-separated event kinds to send (at most 32): only those, besides snapshot, heartbeat and lagged. Gates ask for revocation,quarantine,kill_switch,lease.ended",
    )])
    .answers(Answer::Events),
    op(
        "get",
        "/v1/proofs/{execution}",
        Access::Authenticated,
        "Proof bundle (writ.proof/v1) for an execution",
        None,
    ),
    op(
        "get",
        "/v1/lineage/{execution}",
        Access::Authenticated,
        "The execution's whole tree from its root, a page of nodes at a time (ledger order, parents first; next_cursor absent on the last page), with its ancestors and descendants",
        None,
    )
    .filters(LINEAGE_PARAMS)
    .returns(lineage_answer),
    op("get", "/metrics", Access::Admin, "Prometheus metrics", None).answers(Answer::Text),
    op(
        "get",
        "/v1/whoami",
        Access::Authenticated,
        "Whose token this is: subject, kind, role, and whether it may sign in to the console",
        None,
    ),
    op(
        "get",
        "/v1/status/history",
        Access::Reader,
        "The last hour of status samples at 10 s (decisions, latencies, ledger, index, process) and each component's state with its reason",
        None,
    ),
    op(
        "post",
        "/v1/admin/bundles/validate",
        Access::Operator,
        "Validate a policy bundle without activating it",
        Some(bundle_body),
    ),
    op(
        "post",
        "/v1/admin/bundles/simulate",
        Access::Operator,
        "Decide sample requests against a bundle before activation",
        Some(simulate_body),
    ),
    op(
        "post",
        "/v1/admin/bundles/activate",
        Access::Operator,
        "Activate a signed policy bundle (ledger event)",
        Some(bundle_body),
    ),
    op(
        "get",
        "/v1/admin/bundles/active",
        Access::Reader,
        "The active bundle's digest and engine",
        None,
    ),
    op(
        "post",
        "/v1/admin/principals",
        Access::Admin,
        "Register a principal and return its token (shown once)",
        Some(new_principal_body),
    )
    .answers(Answer::Created),
    op(
        "get",
        "/v1/admin/principals",
        Access::Reader,
        "List principals",
        None,
    ),
    op(
        "post",
        "/v1/admin/principals/{id}/revoke",
        Access::Operator,
        "Revoke a principal and its tokens",
        None,
    ),
    op(
        "post",
        "/v1/admin/gates",
        Access::Admin,
        "Register a gate with its public key and return its token (shown once)",
        Some(new_gate_body),
    )
    .answers(Answer::Created),
    op("get", "/v1/admin/gates", Access::Reader, "List gates", None),
    op(
        "post",
        "/v1/admin/revocations",
        Access::Operator,
        "Revoke a writ (jti), a principal or a zone",
        Some(revocation_body),
    ),
    op(
        "post",
        "/v1/admin/quarantines",
        Access::Operator,
        "Quarantine or release a principal or a zone",
        Some(quarantine_body),
    ),
    op(
        "post",
        "/v1/admin/kill-switch",
        Access::Operator,
        "Engage or release the kill switch",
        Some(kill_switch_body),
    ),
    op(
        "post",
        "/v1/admin/evidence/erase",
        Access::Admin,
        "Erase the disclosures and writ copies of an execution, or of a principal's executions decided before a time, and record evidence.erased",
        Some(erase_body),
    ),
    op(
        "get",
        "/v1/admin/trust",
        Access::Admin,
        "List the trusted bundle-verifying keys (kid and hex)",
        None,
    ),
    op(
        "post",
        "/v1/admin/trust",
        Access::Admin,
        "Trust one more bundle-verifying public key (a ledger event, in force at once)",
        Some(trust_body),
    )
    .answers(Answer::Created),
    op(
        "post",
        "/v1/admin/trust/{kid}/remove",
        Access::Admin,
        "Stop trusting a bundle-verifying key (refused for the active bundle's signer)",
        None,
    ),
];

pub(crate) fn text_param() -> Value {
    json!({"type": "string", "maxLength": 1024})
}

pub(crate) fn time_param() -> Value {
    json!({"type": "integer", "format": "int64"})
}

pub(crate) fn limit_param() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": 500})
}

pub(crate) fn decision_param() -> Value {
    json!({"enum": ["allow", "deny"]})
}

pub(crate) fn cursor_param() -> Value {
    json!({"type": "string", "pattern": "^[0-9]{1,19}$"})
}

const fn filter(name: &'static str, description: &'static str) -> QueryParam {
    QueryParam {
        name,
        description,
        schema: text_param,
    }
}

/// The filters of `GET /v1/executions` (exact matches; all given ones must hold).
const EXECUTION_FILTERS: &[QueryParam] = &[
    filter("principal", "who acted, e.g. agent:triage-bot"),
    QueryParam {
        name: "decision",
        description: "allow or deny",
        schema: decision_param,
    },
    filter("reason_code", "e.g. policy_permit, no_permit"),
    filter("action", "e.g. mcp.call_tool"),
    filter("resource", "e.g. tool:github/create_issue"),
    filter("gate", "the gate it was authorized for, e.g. gate:mcp-1"),
    filter("zone", "the zone it was to run in"),
    QueryParam {
        name: "since",
        description: "decided at or after (Unix seconds)",
        schema: time_param,
    },
    QueryParam {
        name: "until",
        description: "decided before (Unix seconds)",
        schema: time_param,
    },
    QueryParam {
        name: "limit",
        description: "rows per page, 1 to 500 (default 50)",
        schema: limit_param,
    },
    QueryParam {
        name: "cursor",
        description: "next_cursor of the previous page",
        schema: cursor_param,
    },
];

/// The query of `GET /v1/lineage/{execution}`.
const LINEAGE_PARAMS: &[QueryParam] = &[
    QueryParam {
        name: "limit",
        description: "nodes per page, 1 to 1000 (default 500)",
        schema: lineage_limit_param,
    },
    QueryParam {
        name: "cursor",
        description: "next_cursor of the previous page",
        schema: cursor_param,
    },
];

fn lineage_limit_param() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": 1000})
}

/// The answer of `GET /v1/lineage/{execution}`.
pub(crate) fn lineage_answer() -> Value {
    let time = || json!({"type": "integer", "description": "Unix seconds"});
    let node = json!({
        "type": "object",
        "required": ["execution", "ledger_index"],
        "additionalProperties": false,
        "properties": {
            "execution": string(),
            "parent": string(),
            "ledger_index": {"type": "integer", "minimum": 0, "description": "its first decision's ledger index; nodes come in this order"},
            "redacted": {"type": "boolean", "description": "the caller may not read this execution: only its place in the tree is given"},
            "principal": string(),
            "on_behalf_of": {"type": "array", "items": string(), "description": "the writ's act chain, nearest first"},
            "action": string(), "resource": string(),
            "decision": {"enum": ["allow", "deny"]},
            "reason_code": string(),
            "outcome": {"enum": lineage_outcomes()},
            "outcome_reason": string(),
            "zone": string(), "gate": string(),
            "decided_at": time(), "started_at": time(), "finished_at": time()
        }
    });
    let link = |extra: &str| json!({"type": "object", "required": ["execution", extra], "properties": {"execution": string(), extra: nullable(string())}});
    json!({
        "type": "object",
        "required": ["execution", "root", "traceparent", "principal", "ancestors", "descendants", "nodes"],
        "properties": {
            "execution": string(), "root": string(), "traceparent": string(), "principal": string(),
            "ancestors": {"type": "array", "items": link("principal")},
            "descendants": {"type": "array", "items": link("parent")},
            "nodes": {"type": "array", "items": node},
            "next_cursor": string()
        }
    })
}

fn nullable(schema: Value) -> Value {
    json!({"anyOf": [schema, {"type": "null"}]})
}

pub(crate) fn strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

pub(crate) fn count() -> Value {
    json!({"type": "integer", "minimum": 0})
}

pub(crate) fn ready_answer() -> Value {
    object(
        &[
            "status",
            "bundle_sha256",
            "kill_switch",
            "ledger_size",
            "indexed",
        ],
        json!({
            "status": {"const": "ready"},
            "bundle_sha256": string(),
            "kill_switch": {"type": "boolean", "description": "on: every request is denied"},
            "ledger_size": count(),
            "indexed": count(),
            "store": store_answer(),
        }),
    )
}

/// Where a node keeps its state (`status::store_view`): `sqlite`, or `postgres` with how this
/// node keeps up with the fleet.
pub(crate) fn store_answer() -> Value {
    object(
        &["kind"],
        json!({
            "kind": {"enum": ["sqlite", "postgres"]},
            "schema": {"type": "string", "description": "prefix of the PREFIX_ledger and PREFIX_control schemas"},
            "control_version": nullable(json!({"type": "integer", "description": "the control store version this node's registry reflects"})),
            "control_last_ok_unix_ms": nullable(json!({"type": "integer", "description": "when this node last read the database (Unix milliseconds)"})),
            "control_last_error": nullable(string()),
            "lease_sweeper": nullable(json!({"type": "boolean", "description": "whether this node ran the fleet's lease sweep at its last turn"})),
            "integration": object(
                &["holding_lease", "batches", "last_integrated_unix", "last_lock_wait_ms", "begin_failures", "rejected_checkpoints", "follower_error"],
                json!({
                    "holding_lease": {"type": "boolean", "description": "inside a batch transaction now (the integration lease is held per batch)"},
                    "batches": count(),
                    "last_integrated_unix": nullable(count()),
                    "last_lock_wait_ms": nullable(count()),
                    "begin_failures": count(),
                    "rejected_checkpoints": count(),
                    "follower_error": nullable(string()),
                }),
            ),
        }),
    )
}

pub(crate) fn status_answer() -> Value {
    object(
        &[
            "version",
            "now",
            "bundle",
            "kill_switch",
            "quarantines",
            "revocations",
            "gates",
            "ledger",
            "evidence",
            "store",
            "index",
            "storage",
        ],
        json!({
            "version": string(),
            "now": {"type": "integer", "description": "the server's clock (Unix seconds)"},
            "bundle": object(
                &["sha256", "engine", "signed_by", "policies", "activated_at", "activated_by", "ledger_index"],
                json!({
                    "sha256": nullable(string()),
                    "engine": nullable(string()),
                    "signed_by": nullable(string()),
                    "policies": nullable(count()),
                    "activated_at": nullable(json!({"type": "integer", "description": "Unix seconds"})),
                    "activated_by": nullable(string()),
                    "ledger_index": nullable(count()),
                }),
            ),
            "kill_switch": {"type": "boolean"},
            "quarantines": object(&["principals", "zones"], json!({"principals": strings(), "zones": strings()})),
            "revocations": object(
                &["principals", "zones", "writs"],
                json!({"principals": strings(), "zones": strings(), "writs": count()}),
            ),
            "gates": {"type": "array", "items": object(
                &["gate", "zone", "registered_at", "executions", "last_seen", "last_contact", "contact_via", "connected", "feeds"],
                json!({
                    "gate": string(),
                    "zone": nullable(string()),
                    "registered_at": nullable(json!({"type": "integer"})),
                    "executions": count(),
                    "last_seen": nullable(json!({"type": "integer", "description": "Unix seconds of the last execution authorized for it"})),
                    "last_contact": nullable(json!({"type": "integer", "description": "Unix seconds of the gate's last contact with this server since it started (in memory, per node): a request with its token, an attestation that verified with its key, or a heartbeat on its event feed; null when none"})),
                    "contact_via": nullable(json!({"enum": ["request", "attestation", "feed", "feed_closed"], "description": "what the last contact was"})),
                    "connected": {"type": "boolean", "description": "whether the gate follows the event feed now"},
                    "feeds": json!({"type": "integer", "minimum": 0, "description": "event-feed subscriptions it holds open"}),
                }),
            )},
            "ledger": object(
                &["origin", "size", "bytes", "checkpoint_age_ms", "append_checkpoint"],
                json!({"origin": string(), "size": count(), "bytes": count(), "checkpoint_age_ms": count(),
                    "append_checkpoint": object(
                        &["entries", "last_ms", "p50_ms", "p99_ms"],
                        json!({
                            "entries": json!({"type": "integer", "minimum": 0, "description": "entries this process committed"}),
                            "last_ms": nullable(json!({"type": "number", "description": "append→checkpoint latency of the oldest entry of the last committed batch, in milliseconds: from its append (queued to the ledger writer) to the durable signed checkpoint covering it"})),
                            "p50_ms": nullable(json!({"type": "number", "description": "median over every entry committed since the server started (a latency bucket's upper bound)"})),
                            "p99_ms": nullable(json!({"type": "number", "description": "99th percentile, likewise"})),
                        }),
                    ),
                }),
            ),
            "evidence": object(
                &["disclosures", "bytes"],
                json!({
                    "disclosures": json!({"type": "integer", "minimum": 0, "description": "disclosures in the evidence store (erased ones are gone)"}),
                    "bytes": json!({"type": "integer", "minimum": 0, "description": "their salts and private objects, in bytes"}),
                }),
            ),
            "store": store_answer(),
            "index": object(
                &["indexed", "lag", "failure"],
                json!({"indexed": count(), "lag": count(), "failure": nullable(string())}),
            ),
            "storage": object(
                &["ledger_bytes", "control_bytes", "index_bytes", "writ_log_bytes", "total_bytes"],
                json!({
                    "ledger_bytes": count(), "control_bytes": count(), "index_bytes": count(),
                    "writ_log_bytes": count(), "total_bytes": count(),
                }),
            ),
        }),
    )
}

pub(crate) fn executions_answer() -> Value {
    let row = object(
        &[
            "execution",
            "root",
            "parent",
            "time",
            "principal",
            "action",
            "resource",
            "gate",
            "zone",
            "decision",
            "reason_code",
            "ledger_index",
        ],
        json!({
            "execution": string(), "root": string(), "parent": nullable(string()),
            "time": {"type": "integer", "description": "when decided (Unix seconds)"},
            "principal": string(), "action": string(), "resource": string(),
            "gate": nullable(string()), "zone": nullable(string()),
            "decision": {"enum": ["allow", "deny"]}, "reason_code": string(),
            "ledger_index": count(),
        }),
    );
    // `next_cursor` is absent on the last page.
    object(
        &["executions"],
        json!({"executions": {"type": "array", "items": row}, "next_cursor": string()}),
    )
}

// The request bodies, field for field as the handlers' types read them (every one refuses
// unknown fields, hence `additionalProperties: false`).

fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties, "additionalProperties": false})
}

pub(crate) fn string() -> Value {
    json!({"type": "string"})
}

/// `kind:name` ids (principals `agent:`/`human:`/`service:`, gates `gate:`) and zone names.
fn id(pattern: &str) -> Value {
    json!({"type": "string", "pattern": pattern})
}

pub(crate) fn principal_id() -> Value {
    id("^(agent|human|service):[A-Za-z0-9._@/-]{1,128}$")
}

pub(crate) fn gate_id() -> Value {
    id("^gate:[A-Za-z0-9._@/-]{1,128}$")
}

pub(crate) fn zone_id() -> Value {
    id("^[A-Za-z0-9._@-]{1,128}$")
}

pub(crate) fn execution_id() -> Value {
    json!({"type": "string", "format": "uuid"})
}

fn int64() -> Value {
    json!({"type": "integer", "format": "int64"})
}

pub(crate) fn intent() -> Value {
    object(
        &["action", "resource"],
        json!({"action": string(), "resource": string(), "args": {"description": "the exact arguments (JSON); {} when there are none"}}),
    )
}

pub(crate) fn environment_claims() -> Value {
    object(
        &["zone", "gate"],
        json!({
            "zone": zone_id(), "gate": gate_id(), "host": string(),
            "image_sha256": string(), "binary_sha256": string(),
            "k8s_namespace": string(), "k8s_pod": string(),
            "containment": {"type": "string", "enum": ["contained", "uncontained"]}
        }),
    )
}

pub(crate) fn attestation() -> Value {
    object(
        &["claims", "iat", "kid", "sig"],
        json!({"claims": environment_claims(), "iat": int64(), "kid": string(), "sig": string()}),
    )
}

pub(crate) fn actor() -> Value {
    json!({
        "type": "object", "required": ["sub"], "additionalProperties": false,
        "description": "on-behalf-of chain, RFC 8693 style; nest `act` for more hops",
        "properties": {"sub": principal_id(), "act": {"type": "object"}}
    })
}

pub(crate) fn authorize_body() -> Value {
    object(
        &["intent", "attestation"],
        json!({
            "intent": intent(),
            "attestation": attestation(),
            "act": actor(),
            "parent": execution_id(),
            "lifetime_secs": int64(),
            "from_writ": string(),
            "scope": {"type": "object", "properties": {"max_uses": {"type": "integer", "minimum": 0, "maximum": 4294967295u32}, "fs": {"type": "object"}, "delegate": {"type": "object"}}}
        }),
    )
}

pub(crate) fn visible_body() -> Value {
    object(
        &["action", "resources", "attestation"],
        json!({"action": string(), "resources": {"type": "array", "items": string()}, "attestation": attestation()}),
    )
}

pub(crate) fn renew_body() -> Value {
    object(&["attestation"], json!({"attestation": attestation()}))
}

pub(crate) fn receipt_body() -> Value {
    let sha = json!({"type": "string", "pattern": "^[0-9a-f]{64}$"});
    let body = object(
        &[
            "type",
            "v",
            "execution",
            "gate",
            "intent",
            "outcome",
            "started_at",
            "finished_at",
        ],
        json!({
            "type": {"const": "receipt"},
            "v": {"type": "integer", "minimum": 0, "maximum": 4294967295u32},
            "execution": execution_id(),
            "jti": string(),
            "gate": gate_id(),
            "intent": {"type": "object", "required": ["action", "resource", "args_sha256"], "properties": {"action": string(), "resource": string(), "args_sha256": sha}},
            "outcome": {"enum": ["success", "failure", "denied_at_gate", "terminated_by_governance"]},
            "result_sha256": string(),
            "reason_code": string(),
            "started_at": int64(),
            "finished_at": int64(),
            "exec": {"type": "object"}
        }),
    );
    object(
        &["body", "kid", "sig"],
        json!({"body": body, "kid": string(), "sig": string()}),
    )
}

pub(crate) fn bundle_files() -> Value {
    json!({
        "type": "object", "additionalProperties": {"type": "string"},
        "description": "file name → text: *.cedarschema, *.cedar, entities.json, bundle.sig"
    })
}

pub(crate) fn bundle_body() -> Value {
    object(&["files"], json!({"files": bundle_files()}))
}

pub(crate) fn simulate_body() -> Value {
    let request = object(
        &["principal", "intent", "env"],
        json!({
            "principal": principal_id(), "act": actor(), "intent": intent(),
            "env": environment_claims(), "lineage": {"type": "object"},
            "principal_entity": object(&["zone"], json!({
                "zone": zone_id(),
                "attrs": {"type": "object", "description": "the principal's registered attributes"}
            }))
        }),
    );
    object(
        &["files"],
        json!({
            "files": bundle_files(),
            "requests": {"type": "array", "items": request, "description": "requests to decide; or send `last` instead"},
            "last": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "replay the last N recorded requests, read back whole from the ledger and the evidence store (v2 requests from their disclosures); the answer lists each under `recorded` with its recorded decision, `arguments` (recorded, disclosed, erased or unreadable) and the simulated decision, or a note saying why it was not simulated (an erased disclosure: arguments are not available)"},
            "now": json!({"type": "integer", "description": "the time to decide at (Unix seconds); absent: the server's clock, or with `last` each request's recorded time"}),
        }),
    )
}

pub(crate) fn new_principal_body() -> Value {
    object(
        &["id", "zone"],
        json!({
            "id": principal_id(), "zone": zone_id(),
            "attrs": {"type": "object", "description": "attributes policies see on the principal"},
            "role": {"enum": ["admin", "operator", "auditor"], "description": "a person's role (human: principals only)"}
        }),
    )
}

pub(crate) fn new_gate_body() -> Value {
    object(
        &["id", "zone", "public_key"],
        json!({"id": gate_id(), "zone": zone_id(), "public_key": {"type": "string", "description": "hex Ed25519 public key"}}),
    )
}

pub(crate) fn revocation_body() -> Value {
    object(
        &[],
        json!({"jti": string(), "principal": principal_id(), "zone": zone_id()}),
    )
}

pub(crate) fn quarantine_body() -> Value {
    object(
        &[],
        json!({"principal": principal_id(), "zone": zone_id(), "on": {"type": "boolean"}}),
    )
}

pub(crate) fn trust_body() -> Value {
    object(
        &["key"],
        json!({"key": {"type": "string", "description": "a public key: 64 hex characters (the .pub file of `writ policy keygen`)"}}),
    )
}

pub(crate) fn erase_body() -> Value {
    object(
        &[],
        json!({
            "execution": {"type": "string", "format": "uuid"},
            "principal": {"type": "string", "maxLength": 1024},
            "before": {"type": "integer", "format": "int64", "description": "with principal: executions decided before this time (Unix seconds)"},
            "reason": {"type": "string", "maxLength": 1024}
        }),
    )
}

pub(crate) fn kill_switch_body() -> Value {
    object(&["on"], json!({"on": {"type": "boolean"}}))
}

/// Builds the OpenAPI 3.1 document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for o in OPERATIONS {
        let mut operation = json!({
            "summary": o.summary,
            "x-writ-access": o.access.as_str(),
            "responses": responses(o),
        });
        if let Some(obj) = operation.as_object_mut() {
            obj.insert(
                "security".into(),
                if o.access == Access::Public {
                    json!([])
                } else if o.access == Access::LedgerRead {
                    // The bearer token, or none where the operator made ledger reads public.
                    json!([{"bearer": []}, {}])
                } else {
                    json!([{"bearer": []}])
                },
            );
            let size = json!({"type": "integer", "minimum": 0, "format": "int64"});
            let params: Vec<Value> = path_params(o.path)
                .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
                .chain(o.query.iter().map(|q| json!({"name": q.name, "in": "query", "required": q.required, "schema": size})))
                .chain(o.filters.iter().map(|q| json!({"name": q.name, "in": "query", "required": false, "description": q.description, "schema": (q.schema)()})))
                .collect();
            if !params.is_empty() {
                obj.insert("parameters".into(), Value::Array(params));
            }
            if let Some(schema) = o.body {
                obj.insert(
                    "requestBody".into(),
                    json!({"required": true, "content": {"application/json": {"schema": schema()}}}),
                );
            }
        }
        let entry = paths.entry(o.path.to_owned()).or_insert_with(|| json!({}));
        if let Some(obj) = entry.as_object_mut() {
            obj.insert(o.method.to_owned(), operation);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Writ control plane",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "verify → authorize → execute → prove. Errors are JSON {code, message}."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}
                },
                "Denial": {
                    "type": "object", "required": ["decision", "reason_code"],
                    "properties": {"decision": {"const": "deny"}, "reason_code": {"type": "string"}, "reasons": {"type": "array"}, "execution": {"type": "string"}, "ledger_index": {"type": "integer"}}
                }
            },
            "responses": {
                "Error": {"description": "an error: a stable reason code and what to do", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "Refused": {"description": "a denial, or an error (token of the wrong scope)", "content": {"application/json": {"schema": {"anyOf": [
                    {"$ref": "#/components/schemas/Error"}, {"$ref": "#/components/schemas/Denial"}
                ]}}}}
            }
        }
    })
}

/// The answers an operation gives: its success with its media type, and every error status the
/// server answers with `{code, message}`.
fn responses(o: &Operation) -> Value {
    let content = match o.answer {
        Answer::Json | Answer::Created => {
            let schema = o.returns.map_or_else(|| json!({"type": "object"}), |f| f());
            json!({"application/json": {"schema": schema}})
        }
        Answer::Text => json!({"text/plain": {"schema": {"type": "string"}}}),
        Answer::Bytes => json!({"application/octet-stream": {}}),
        Answer::Events => json!({"text/event-stream": {}}),
    };
    let error = json!({"$ref": "#/components/responses/Error"});
    let mut r = Map::new();
    r.insert(
        if o.answer == Answer::Created {
            "201"
        } else {
            "200"
        }
        .into(),
        json!({"description": "success", "content": content}),
    );
    for code in ["400", "401", "404", "409", "503"] {
        r.insert(code.into(), error.clone());
    }
    r.insert(
        "403".into(),
        json!({"$ref": "#/components/responses/Refused"}),
    );
    if o.body.is_some() {
        for code in ["413", "415", "422"] {
            r.insert(code.into(), error.clone());
        }
    }
    Value::Object(r)
}

fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

/// Every spelling of a lineage node's outcome, from the type itself (so none is written twice).
fn lineage_outcomes() -> Value {
    use writ_model::lineage::LineageOutcome as O;
    json!([
        O::Success,
        O::Failure,
        O::DeniedAtGate,
        O::TerminatedByGovernance,
        O::LeaseExpired,
        O::NotRun,
        O::Open
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_documented_once_with_its_access() {
        let doc = document();
        let mut seen = std::collections::BTreeSet::new();
        for o in OPERATIONS {
            assert!(
                seen.insert((o.method, o.path)),
                "duplicate {} {}",
                o.method,
                o.path
            );
            let op = &doc["paths"][o.path][o.method];
            assert_eq!(op["x-writ-access"], o.access.as_str());
            assert_eq!(
                op["security"].as_array().unwrap().is_empty(),
                o.access == Access::Public
            );
            assert_eq!(
                op["security"].as_array().unwrap().contains(&json!({})),
                o.access == Access::LedgerRead
            );
        }
        for (path, access) in [
            ("/ledger/checkpoint", Access::Public),
            ("/ledger/tile/{path}", Access::LedgerRead),
            ("/v1/ledger/consistency", Access::LedgerRead),
        ] {
            assert_eq!(doc["paths"][path]["get"]["x-writ-access"], access.as_str());
        }
        // Admin routes take the admin token, or (governance acts and reads) a person with a
        // role; never an agent's or a gate's token.
        assert!(
            OPERATIONS
                .iter()
                .filter(|o| o.path.starts_with("/v1/admin"))
                .all(|o| matches!(o.access, Access::Admin | Access::Operator | Access::Reader))
        );
    }
}
