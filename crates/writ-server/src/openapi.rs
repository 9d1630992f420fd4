//! The API's route table and the OpenAPI 3.1 document built from it (`GET /v1/openapi.json`).
//!
//! One table feeds the document and the route-coverage test, so a route cannot be added to the
//! router without being documented with the scope it requires (the test calls every documented
//! route without a token and with a token of the wrong scope).

use serde_json::{Map, Value, json};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Health, keys, the OpenAPI document and public ledger reads.
    Public,
    /// Any valid token (principal, gate or admin).
    Authenticated,
    /// A principal's token (agents, humans, services).
    Principal,
    /// A gate's token.
    Gate,
    /// A gate's or an admin's token.
    GateOrAdmin,
    /// An admin token; agent and gate tokens never reach these.
    Admin,
}

impl Access {
    fn as_str(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Authenticated => "authenticated",
            Access::Principal => "principal",
            Access::Gate => "gate",
            Access::GateOrAdmin => "gate_or_admin",
            Access::Admin => "admin",
        }
    }
}

/// One documented operation.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    pub method: &'static str,
    /// OpenAPI path template (`{name}` for parameters).
    pub path: &'static str,
    pub access: Access,
    pub summary: &'static str,
    /// Whether the operation takes a JSON body.
    pub json_body: bool,
}

const fn op(
    method: &'static str,
    path: &'static str,
    access: Access,
    summary: &'static str,
    json_body: bool,
) -> Operation {
    Operation {
        method,
        path,
        access,
        summary,
        json_body,
    }
}

/// Every route the server answers.
pub const OPERATIONS: &[Operation] = &[
    op(
        "get",
        "/healthz",
        Access::Public,
        "Liveness: the process is up",
        false,
    ),
    op(
        "get",
        "/readyz",
        Access::Public,
        "Readiness: policy bundle active and ledger writable",
        false,
    ),
    op(
        "get",
        "/v1/openapi.json",
        Access::Public,
        "This document",
        false,
    ),
    op(
        "get",
        "/.well-known/jwks.json",
        Access::Public,
        "Writ verification keys (JWKS, OKP/Ed25519)",
        false,
    ),
    op(
        "get",
        "/ledger/checkpoint",
        Access::Public,
        "The latest signed checkpoint (C2SP tlog-checkpoint)",
        false,
    ),
    op(
        "get",
        "/ledger/tile/{path}",
        Access::Public,
        "Hash tiles and entry bundles (C2SP tlog-tiles)",
        false,
    ),
    op(
        "get",
        "/v1/ledger/consistency",
        Access::Public,
        "Consistency proof between two tree sizes (?from=&to=)",
        false,
    ),
    op(
        "get",
        "/v1/ledger/vkey",
        Access::Public,
        "The ledger's verifier key (vkey form)",
        false,
    ),
    op(
        "post",
        "/v1/authorize",
        Access::Principal,
        "Decide an intent; on allow, return a writ after the decision is durable",
        true,
    ),
    op(
        "post",
        "/v1/leases/{jti}/renew",
        Access::Principal,
        "Re-evaluate a running execution; a deny ends it",
        true,
    ),
    op(
        "post",
        "/v1/receipts",
        Access::Gate,
        "Record a gate's signed receipt for an execution",
        true,
    ),
    op(
        "get",
        "/v1/events",
        Access::GateOrAdmin,
        "Server-sent events: decisions, revocations, quarantines, heartbeats",
        false,
    ),
    op(
        "get",
        "/v1/proofs/{execution}",
        Access::Authenticated,
        "Proof bundle (writ.proof/v1) for an execution",
        false,
    ),
    op(
        "get",
        "/v1/lineage/{execution}",
        Access::Authenticated,
        "Ancestors and descendants of an execution",
        false,
    ),
    op(
        "get",
        "/metrics",
        Access::Admin,
        "Prometheus metrics",
        false,
    ),
    op(
        "post",
        "/v1/admin/bundles/validate",
        Access::Admin,
        "Validate a policy bundle without activating it",
        true,
    ),
    op(
        "post",
        "/v1/admin/bundles/simulate",
        Access::Admin,
        "Decide sample requests against a bundle before activation",
        true,
    ),
    op(
        "post",
        "/v1/admin/bundles/activate",
        Access::Admin,
        "Activate a signed policy bundle (ledger event)",
        true,
    ),
    op(
        "get",
        "/v1/admin/bundles/active",
        Access::Admin,
        "The active bundle's digest and engine",
        false,
    ),
    op(
        "post",
        "/v1/admin/principals",
        Access::Admin,
        "Register a principal and return its token (shown once)",
        true,
    ),
    op(
        "get",
        "/v1/admin/principals",
        Access::Admin,
        "List principals",
        false,
    ),
    op(
        "post",
        "/v1/admin/principals/{id}/revoke",
        Access::Admin,
        "Revoke a principal and its tokens",
        true,
    ),
    op(
        "post",
        "/v1/admin/gates",
        Access::Admin,
        "Register a gate with its public key and return its token (shown once)",
        true,
    ),
    op("get", "/v1/admin/gates", Access::Admin, "List gates", false),
    op(
        "post",
        "/v1/admin/revocations",
        Access::Admin,
        "Revoke a writ (jti), a principal or a zone",
        true,
    ),
    op(
        "post",
        "/v1/admin/quarantines",
        Access::Admin,
        "Quarantine or release a principal or a zone",
        true,
    ),
    op(
        "post",
        "/v1/admin/kill-switch",
        Access::Admin,
        "Engage or release the kill switch",
        true,
    ),
];

/// Builds the OpenAPI 3.1 document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for o in OPERATIONS {
        let mut operation = json!({
            "summary": o.summary,
            "x-writ-access": o.access.as_str(),
            "responses": {
                "200": {"description": "success"},
                "400": {"$ref": "#/components/responses/Error"},
                "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"},
                "503": {"$ref": "#/components/responses/Error"}
            }
        });
        if let Some(obj) = operation.as_object_mut() {
            obj.insert(
                "security".into(),
                if o.access == Access::Public {
                    json!([])
                } else {
                    json!([{"bearer": []}])
                },
            );
            let params: Vec<Value> = path_params(o.path)
                .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
                .collect();
            if !params.is_empty() {
                obj.insert("parameters".into(), Value::Array(params));
            }
            if o.json_body {
                obj.insert(
                    "requestBody".into(),
                    json!({"required": true, "content": {"application/json": {"schema": {"type": "object"}}}}),
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
            "responses": {"Error": {"description": "an error", "content": {"application/json": {"schema": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}}
            }}}}}
        }
    })
}

fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
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
        }
        assert!(
            OPERATIONS
                .iter()
                .filter(|o| o.path.starts_with("/v1/admin"))
                .all(|o| o.access == Access::Admin)
        );
    }
}
