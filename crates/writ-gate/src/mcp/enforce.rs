//! The transport-independent part of the gateway: what it decides about each intercepted
//! message. The transports ([`super::stdio`], [`super::http`]) call [`Enforcer::admit`] before
//! forwarding a request, [`Enforcer::finish`] when its answer comes back, and
//! [`Enforcer::filter_tools`] on every `tools/list` answer.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::{Value, json};
use writ_model::receipt::Outcome;
use writ_model::{Clock, ExecutionId, Intent, IntentDigest};

use super::DENIED_CODE;
use super::pins::{PinSet, PinStatus};
use crate::client::{Authorization, AuthorizeOptions, ControlPlane};
use crate::error::GateError;
use crate::gate::Gate;

/// The intent action of a tool call.
pub const CALL_TOOL: &str = "mcp.call_tool";

/// A call the gateway refuses; it reaches the client as a JSON-RPC error.
#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    pub reason_code: String,
    pub message: String,
    pub reasons: Vec<String>,
    pub execution: Option<ExecutionId>,
    pub ledger_index: Option<u64>,
}

impl Denial {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Denial {
        Denial {
            reason_code: code.into(),
            message: message.into(),
            reasons: Vec::new(),
            execution: None,
            ledger_index: None,
        }
    }

    fn from_gate(e: &GateError) -> Denial {
        Denial::new(e.reason_code(), e.to_string())
    }

    /// The JSON-RPC error answer to request `id`.
    pub fn to_response(&self, id: &Value) -> Value {
        json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": {
                "code": DENIED_CODE,
                "message": format!("denied by Writ ({}): {}", self.reason_code, self.message),
                "data": {
                    "reason_code": self.reason_code,
                    "reasons": self.reasons,
                    "execution": self.execution,
                    "ledger_index": self.ledger_index,
                }
            }
        })
    }
}

/// An authorized call on its way to the upstream; [`Enforcer::finish`] receipts it.
#[derive(Debug, Clone)]
pub struct Permit {
    pub execution: ExecutionId,
    pub jti: String,
    pub intent: IntentDigest,
    pub started_at: i64,
}

/// What the gateway does with a client request.
#[derive(Debug)]
pub enum Admission {
    /// Not governed here: forward unchanged.
    Forward,
    /// A `tools/list`: forward, then filter the answer with [`Enforcer::filter_tools`].
    ListTools,
    /// Authorized: forward, then receipt the answer with [`Enforcer::finish`].
    Call(Permit),
    /// Refused: answer the client with [`Denial::to_response`], never forward.
    Deny(Denial),
}

/// Settings of one gateway in front of one upstream server.
#[derive(Debug, Clone)]
pub struct EnforcerConfig {
    /// The upstream's name in resource ids: tool NAME is `tool:SERVER/NAME`.
    pub server: String,
    /// The gate's token for receipts (and the event feed).
    pub gate_token: String,
    pub pins: PinSet,
    /// How long a control-plane call may take before the call is denied.
    pub timeout: std::time::Duration,
}

/// The gateway's decisions, shared by every connection.
pub struct Enforcer {
    gate: Arc<Gate>,
    cp: ControlPlane,
    config: EnforcerConfig,
    clock: Arc<dyn Clock>,
    /// For `POST /v1/authorize/visible`, which [`ControlPlane`] has no method for.
    http: reqwest::Client,
    /// The upstream's tool definitions as last listed.
    definitions: RwLock<HashMap<String, Value>>,
}

impl std::fmt::Debug for Enforcer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enforcer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Enforcer {
    pub fn new(
        gate: Arc<Gate>,
        cp: ControlPlane,
        config: EnforcerConfig,
        clock: Arc<dyn Clock>,
    ) -> Enforcer {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .unwrap_or_default();
        Enforcer {
            http,
            gate,
            cp,
            config,
            clock,
            definitions: RwLock::new(HashMap::new()),
        }
    }

    pub fn gate(&self) -> &Arc<Gate> {
        &self.gate
    }

    pub fn server(&self) -> &str {
        &self.config.server
    }

    /// The resource id of an upstream tool.
    pub fn resource(&self, tool: &str) -> String {
        format!("tool:{}/{tool}", self.config.server)
    }

    /// Remembers the upstream's current tool definitions (from a `tools/list` answer).
    pub fn record_definitions(&self, result: &Value) {
        let Some(tools) = result.get("tools").and_then(Value::as_array) else {
            return;
        };
        let mut defs = self.definitions.write().unwrap_or_else(|p| p.into_inner());
        for t in tools {
            if let Some(name) = t.get("name").and_then(Value::as_str) {
                defs.insert(name.to_owned(), t.clone());
            }
        }
    }

    /// Forgets the definitions (after `notifications/tools/list_changed`).
    pub fn forget_definitions(&self) {
        self.definitions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Whether a `tools/call` for `name` needs the upstream's definitions listed first.
    pub fn needs_definitions(&self, request: &Value) -> bool {
        if request.get("method").and_then(Value::as_str) != Some("tools/call") {
            return false;
        }
        let Some(name) = request.pointer("/params/name").and_then(Value::as_str) else {
            return false;
        };
        !self
            .definitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(name)
    }

    fn pin_check(&self, name: &str) -> Result<(), Denial> {
        let defs = self.definitions.read().unwrap_or_else(|p| p.into_inner());
        let Some(def) = defs.get(name) else {
            return Err(Denial::new(
                "tool_unknown",
                format!("the upstream server does not list a tool named {name:?}"),
            ));
        };
        match self.config.pins.status(def) {
            PinStatus::Pinned => Ok(()),
            PinStatus::NotPinned => Err(Denial::new(
                "tool_not_pinned",
                format!(
                    "tool {name:?} was never approved; an operator approves it with `writ gateway mcp pin`"
                ),
            )),
            PinStatus::Changed => Err(Denial::new(
                "tool_definition_changed",
                format!(
                    "the description or input schema of tool {name:?} changed since it was approved; an operator must review and approve it again with `writ gateway mcp pin`"
                ),
            )),
        }
    }

    /// Decides what happens to one client request (a JSON-RPC message with a `method`).
    /// `token` is the principal's token; `None` denies governed calls.
    pub async fn admit(&self, token: Option<&str>, request: &Value) -> Admission {
        let Some(method) = request.get("method").and_then(Value::as_str) else {
            return Admission::Forward;
        };
        if request.get("id").is_none() {
            return Admission::Forward; // a notification
        }
        match method {
            "tools/list" => Admission::ListTools,
            "tools/call" => match self.admit_call(token, request).await {
                Ok(p) => Admission::Call(p),
                Err(d) => Admission::Deny(d),
            },
            "resources/read" | "prompts/get" => Admission::Deny(Denial::new(
                "mcp_method_not_governed",
                format!(
                    "{method} is not forwarded: the policy schema has no action for it yet, and the gateway runs nothing it cannot authorize"
                ),
            )),
            _ => Admission::Forward,
        }
    }

    async fn admit_call(&self, token: Option<&str>, request: &Value) -> Result<Permit, Denial> {
        let token = token.ok_or_else(|| {
            Denial::new(
                "no_principal_token",
                "the gateway has no token for this client: set WRIT_TOKEN (stdio) or send `Authorization: Bearer TOKEN` (HTTP)",
            )
        })?;
        let name = request
            .pointer("/params/name")
            .and_then(Value::as_str)
            .ok_or_else(|| Denial::new("invalid_call", "tools/call without a tool name"))?;
        let args = match request.pointer("/params/arguments") {
            None | Some(Value::Null) => json!({}),
            Some(a) => a.clone(),
        };
        self.pin_check(name)?;
        if let Some(feed) = self.gate.feed() {
            feed.require_fresh(self.clock.now_unix())
                .map_err(|e| Denial::from_gate(&e))?;
        }
        let intent = Intent::new(CALL_TOOL, self.resource(name), args);
        let digest = intent
            .digest()
            .map_err(|e| Denial::new("invalid_arguments", e.to_string()))?;
        let attestation = self.gate.attest().map_err(|e| Denial::from_gate(&e))?;
        let started_at = self.clock.now_unix();
        let answer = self
            .cp
            .authorize(token, &intent, &attestation, &AuthorizeOptions::default())
            .await
            .map_err(|e| Denial::from_gate(&e))?;
        let (writ, execution) = match answer {
            Authorization::Allow {
                writ, execution, ..
            } => (writ, execution),
            Authorization::Deny {
                reason_code,
                reasons,
                execution,
                ledger_index,
            } => {
                let message = if reasons.is_empty() {
                    "the policy does not allow this call".to_owned()
                } else {
                    reasons.join("; ")
                };
                return Err(Denial {
                    reason_code,
                    message,
                    reasons,
                    execution,
                    ledger_index,
                });
            }
        };
        match self.gate.check(&writ, &intent) {
            Ok(verified) => Ok(Permit {
                execution,
                jti: verified.claims().jti.clone(),
                intent: digest,
                started_at,
            }),
            Err(e) => {
                let mut denial = Denial::from_gate(&e);
                denial.execution = Some(execution);
                // The control plane issued a writ the gate refused: that is evidence too.
                if let Ok(r) = self.gate.receipt(
                    execution,
                    None,
                    digest,
                    Outcome::DeniedAtGate,
                    None,
                    Some(denial.reason_code.clone()),
                    started_at,
                ) {
                    let _ = self.cp.post_receipt(&self.config.gate_token, &r).await;
                }
                Err(denial)
            }
        }
    }

    /// Receipts a forwarded call with the digest of its answer; returns the receipt's ledger
    /// index. The answer itself is never sent to the control plane.
    pub async fn finish(&self, permit: Permit, response: &Value) -> Result<u64, GateError> {
        let (outcome, body) = match (response.get("result"), response.get("error")) {
            (Some(r), _) => {
                let failed = r.get("isError").and_then(Value::as_bool) == Some(true);
                (
                    if failed {
                        Outcome::Failure
                    } else {
                        Outcome::Success
                    },
                    r,
                )
            }
            (None, Some(e)) => (Outcome::Failure, e),
            (None, None) => (Outcome::Failure, &Value::Null),
        };
        let bytes = writ_model::canonical::to_canonical_vec(body)
            .map_err(|e| GateError::Signing(e.to_string()))?;
        let reason = (outcome == Outcome::Failure).then(|| "tool_failed".to_owned());
        let receipt = self.gate.receipt(
            permit.execution,
            Some(permit.jti),
            permit.intent,
            outcome,
            Some(&bytes),
            reason,
            permit.started_at,
        )?;
        self.cp
            .post_receipt(&self.config.gate_token, &receipt)
            .await
    }

    /// Narrows a `tools/list` answer to the pinned tools the principal could be allowed to call.
    /// Any failure to ask leaves the list empty (fail closed).
    pub async fn filter_tools(&self, token: Option<&str>, response: &mut Value) {
        let Some(result) = response.get("result") else {
            return;
        };
        self.record_definitions(result);
        let tools: Vec<Value> = result
            .get("tools")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let pinned: Vec<Value> = tools
            .into_iter()
            .filter(|t| self.config.pins.status(t) == PinStatus::Pinned)
            .collect();
        let visible = match token {
            Some(token) if !pinned.is_empty() => self.visible(token, &pinned).await,
            _ => Vec::new(),
        };
        let kept: Vec<Value> = pinned
            .into_iter()
            .filter(|t| {
                t.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| visible.contains(&self.resource(n)))
            })
            .collect();
        if let Some(r) = response.get_mut("result").and_then(Value::as_object_mut) {
            r.insert("tools".into(), Value::Array(kept));
        }
    }

    async fn visible(&self, token: &str, tools: &[Value]) -> Vec<String> {
        let resources: Vec<String> = tools
            .iter()
            .filter_map(|t| t.get("name").and_then(Value::as_str))
            .map(|n| self.resource(n))
            .collect();
        let Ok(attestation) = self.gate.attest() else {
            return Vec::new();
        };
        let body = json!({"action": CALL_TOOL, "resources": resources, "attestation": attestation});
        let answer = self
            .http
            .post(format!("{}/v1/authorize/visible", self.cp.base()))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await;
        let value = match answer {
            Ok(r) if r.status().as_u16() == 200 => r.json::<Value>().await.ok(),
            _ => None,
        };
        match value {
            Some(v) => v
                .get("visible")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            None => Vec::new(),
        }
    }
}
