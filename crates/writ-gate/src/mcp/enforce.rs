//! The transport-independent part of the gateway: what it decides about each intercepted
//! message. The transports ([`super::stdio`], [`super::http`]) call [`Enforcer::admit`] before
//! forwarding a request, [`Enforcer::finish`] when its answer comes back, and
//! [`Enforcer::filter_list`] on every list answer (tools, prompts, resources, templates).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::{Value, json};
use writ_model::receipt::Outcome;
use writ_model::{Clock, ExecutionId, Intent, IntentDigest};

use super::DENIED_CODE;
use super::pins::{PinSet, PinStatus};
use crate::call_log::{CallDecision, GovernedCall};
use crate::client::{Authorization, AuthorizeOptions, ControlPlane};
use crate::error::GateError;
use crate::gate::Gate;

/// How many times a call's receipt is posted before the gateway gives up on it (about 6 s
/// of pauses in all); the call's answer has reached the client long before.
pub const RECEIPT_ATTEMPTS: u32 = 6;

/// The intent action of a tool call (`tools/call`), on `tool:SERVER/NAME`.
pub const CALL_TOOL: &str = "mcp.call_tool";
/// The intent action of `resources/read`, on `mcp-resource:SERVER/URI`.
pub const READ_RESOURCE: &str = "mcp.read_resource";
/// The intent action of `prompts/get`, on `prompt:SERVER/NAME`.
pub const GET_PROMPT: &str = "mcp.get_prompt";

/// A call the gateway refuses. It reaches the client as a JSON-RPC error, except a call to a
/// tool the upstream does not list, which gets the answer the official MCP SDK servers give
/// for an unknown tool: a tool result with `isError` (see [`Denial::to_response`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    pub reason_code: String,
    pub message: String,
    pub reasons: Vec<String>,
    pub execution: Option<ExecutionId>,
    pub ledger_index: Option<u64>,
}

/// The `_meta` key under which a refusal sent as a tool result carries its details.
pub const DENIAL_META: &str = "dev.writ/denial";

/// The reason code of a `tools/call` for a tool the upstream never listed.
pub const TOOL_UNKNOWN: &str = "tool_unknown";

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

    /// The answer to request `id`: a JSON-RPC error carrying the reason, or, for a tool the
    /// upstream does not list (`tool_unknown`), a tool result with `isError: true` whose text
    /// and `_meta` carry the same reason. Unknown tools are answered that way because it is
    /// what the upstream itself (any server built on the official TypeScript or Python SDKs)
    /// answers, so clients see no difference; the call still never reaches the upstream.
    pub fn to_response(&self, id: &Value) -> Value {
        let message = format!("denied by Writ ({}): {}", self.reason_code, self.message);
        let data = json!({
            "reason_code": self.reason_code,
            "reasons": self.reasons,
            "execution": self.execution,
            "ledger_index": self.ledger_index,
        });
        if self.reason_code == TOOL_UNKNOWN {
            return json!({
                "jsonrpc": "2.0",
                "id": id,
                "result": {
                    "content": [{"type": "text", "text": message}],
                    "isError": true,
                    "_meta": {DENIAL_META: data},
                }
            });
        }
        json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": {
                "code": DENIED_CODE,
                "message": message,
                "data": data,
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

/// What the call log says about a call, filled in as the call is decided.
struct CallFacts {
    action: String,
    resource: String,
    principal: Option<String>,
}

/// What the gateway does with a client request.
#[derive(Debug)]
pub enum Admission {
    /// Not governed here: forward unchanged.
    Forward,
    /// A `tools/list`, `prompts/list`, `resources/list` or `resources/templates/list`: forward,
    /// then filter the answer with [`Enforcer::filter_list`] (the method is carried along).
    List(&'static str),
    /// Authorized: forward, then receipt the answer with [`Enforcer::finish`].
    Call(Permit),
    /// Refused: answer the client with [`Denial::to_response`], never forward.
    Deny(Denial),
}

/// The answer a client gets when the upstream's answer to a list request (`method`) cannot be
/// read: an error, never the unfiltered answer.
pub fn unreadable_list_answer(method: &str, id: &Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": -32603,
            "message": format!("the upstream's {method} answer could not be read, so the gateway lists nothing (fail closed)"),
            "data": {"reason_code": "upstream_answer_unreadable"},
        }
    })
}

/// The answer a client gets for a request the upstream answered with something the gateway
/// cannot read or re-address (not a JSON-RPC object, or no answer to it in the body): an
/// error, so the client is never left waiting and never given bytes it could read otherwise.
pub fn unreadable_answer(id: &Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32603,
        "message": "the upstream's answer could not be read (not a JSON-RPC answer to this request); check the upstream server's log, then retry",
        "data": {"reason_code": "upstream_answer_unreadable"}}})
}

/// The intent of a governed client request (`tools/call`, `prompts/get`, `resources/read`) to
/// the upstream `server`: what is authorized, digested and receipted for it. A pure function of
/// the parsed message, so the `mcp_client` fuzz target runs exactly what the gateway runs.
pub fn request_intent(server: &str, method: &str, request: &Value) -> Result<Intent, Denial> {
    let empty = json!({});
    let params = request.get("params").unwrap_or(&empty);
    let text = |key: &str| {
        params
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                Denial::new("invalid_call", format!("{method} without a string `{key}`"))
            })
    };
    let arguments = || match params.get("arguments") {
        None | Some(Value::Null) => json!({}),
        Some(a) => a.clone(),
    };
    match method {
        "tools/call" => {
            let name = text("name")?;
            let resource = format!("tool:{server}/{name}");
            Ok(Intent::new(CALL_TOOL, resource, arguments()))
        }
        "prompts/get" => {
            let name = text("name")?;
            let resource = format!("prompt:{server}/{name}");
            Ok(Intent::new(GET_PROMPT, resource, arguments()))
        }
        _ => {
            let uri = text("uri")?;
            let resource = format!("mcp-resource:{server}/{uri}");
            // The exact parameters, without `_meta` (progress tokens are not the action).
            let mut args = params.clone();
            if let Some(o) = args.as_object_mut() {
                o.remove("_meta");
            }
            Ok(Intent::new(READ_RESOURCE, resource, args))
        }
    }
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
    /// How each of the upstream's tools, as last listed, compares with its pin (computed
    /// when the definitions are recorded: the pins never change while the gateway runs).
    definitions: RwLock<HashMap<String, PinStatus>>,
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
        Enforcer {
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
        // Digest outside the lock: a schema's canonical form is the costly part.
        let statuses: Vec<(String, PinStatus)> = tools
            .iter()
            .filter_map(|t| {
                let name = t.get("name").and_then(Value::as_str)?;
                Some((name.to_owned(), self.config.pins.status(t)))
            })
            .collect();
        let mut defs = self.definitions.write().unwrap_or_else(|p| p.into_inner());
        defs.extend(statuses);
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
        let status = self
            .definitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .copied();
        let Some(status) = status else {
            return Err(Denial::new(
                TOOL_UNKNOWN,
                format!("the upstream server does not list a tool named {name:?}"),
            ));
        };
        match status {
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
                    "the definition of tool {name:?} (its title, description, schemas, annotations or any other member) changed since it was approved; an operator must review and approve it again with `writ gateway mcp pin`"
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
            "tools/list" => Admission::List("tools/list"),
            "prompts/list" => Admission::List("prompts/list"),
            "resources/list" => Admission::List("resources/list"),
            "resources/templates/list" => Admission::List("resources/templates/list"),
            "completion/complete" => match self.admit_completion(token, request).await {
                Ok(()) => Admission::Forward,
                Err(d) => Admission::Deny(d),
            },
            "tools/call" | "resources/read" | "prompts/get" => {
                match self.admit_call(token, method, request).await {
                    Ok(p) => Admission::Call(p),
                    Err(d) => Admission::Deny(d),
                }
            }
            _ => Admission::Forward,
        }
    }

    /// `completion/complete` suggests argument values of a prompt or a resource template, so it
    /// is allowed only for what the principal could use: the prompt (`ref/prompt`), or the
    /// template's URI as a resource (`ref/resource`), as `prompts/list` and
    /// `resources/templates/list` would show them. Suggestions are not an action: nothing is
    /// authorized or receipted.
    async fn admit_completion(&self, token: Option<&str>, request: &Value) -> Result<(), Denial> {
        let Some(token) = token else {
            return Err(Denial::new(
                "no_principal_token",
                "completions need the principal's token",
            ));
        };
        let reference = request.pointer("/params/ref");
        let kind = reference
            .and_then(|r| r.get("type"))
            .and_then(Value::as_str);
        let (action, id) = match kind {
            Some("ref/prompt") => (GET_PROMPT, reference.and_then(|r| r.get("name"))),
            Some("ref/resource") => (READ_RESOURCE, reference.and_then(|r| r.get("uri"))),
            _ => {
                return Err(Denial::new(
                    "invalid_call",
                    "completion/complete without a ref of type ref/prompt or ref/resource",
                ));
            }
        };
        let Some(id) = id.and_then(Value::as_str) else {
            return Err(Denial::new(
                "invalid_call",
                "completion/complete without the ref's name or uri",
            ));
        };
        let resource = self.list_resource(action, id);
        if self
            .visible(token, action, std::slice::from_ref(&resource))
            .await
            .contains(&resource)
        {
            Ok(())
        } else {
            Err(Denial::new(
                "completion_not_allowed",
                format!(
                    "the principal's policy does not let it use {resource}, so no completions for it"
                ),
            ))
        }
    }

    /// The intent of a governed request ([`request_intent`]); a tool must also match its pin.
    fn intent_of(
        &self,
        method: &str,
        request: &Value,
        facts: &mut CallFacts,
    ) -> Result<Intent, Denial> {
        let intent = request_intent(&self.config.server, method, request)?;
        facts.action.clone_from(&intent.action);
        facts.resource.clone_from(&intent.resource);
        if method == "tools/call" {
            let name = request
                .pointer("/params/name")
                .and_then(Value::as_str)
                .ok_or_else(|| Denial::new("invalid_call", "tools/call without a string `name`"))?;
            self.pin_check(name)?;
        }
        Ok(intent)
    }

    /// Decides one governed call and logs it once ([`crate::call_log`]).
    async fn admit_call(
        &self,
        token: Option<&str>,
        method: &str,
        request: &Value,
    ) -> Result<Permit, Denial> {
        let started = std::time::Instant::now();
        let mut facts = CallFacts {
            action: method.to_owned(),
            resource: "-".to_owned(),
            principal: None,
        };
        let admitted = self.decide_call(token, method, request, &mut facts).await;
        let (decision, reason_code, execution) = match &admitted {
            Ok(p) => (CallDecision::Allow, "allowed", Some(p.execution)),
            Err(d) => (CallDecision::Deny, d.reason_code.as_str(), d.execution),
        };
        GovernedCall {
            execution: execution.map(|e| e.to_string()),
            principal: facts.principal.as_deref(),
            action: &facts.action,
            resource: &facts.resource,
            decision,
            reason_code,
            started,
        }
        .log();
        admitted
    }

    async fn decide_call(
        &self,
        token: Option<&str>,
        method: &str,
        request: &Value,
        facts: &mut CallFacts,
    ) -> Result<Permit, Denial> {
        let token = token.ok_or_else(|| {
            Denial::new(
                "no_principal_token",
                "the gateway has no token for this client: set WRIT_TOKEN (stdio) or send `Authorization: Bearer TOKEN` (HTTP)",
            )
        })?;
        let intent = self.intent_of(method, request, facts)?;
        if let Some(feed) = self.gate.feed() {
            feed.require_fresh(self.clock.now_unix())
                .map_err(|e| Denial::from_gate(&e))?;
        }
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
                principal,
                execution,
                ledger_index,
            } => {
                facts.principal = principal;
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
        // `digest` is the intent recomputed from the call about to be forwarded (above).
        let mut checked = self.gate.check_digest(&writ, &digest);
        if matches!(&checked, Err(e) if e.reason_code() == "writ_unknown_kid")
            && self.refresh_keys().await
        {
            // The control plane rotated its writ key since the gateway started.
            checked = self.gate.check_digest(&writ, &digest);
        }
        match checked {
            Ok(verified) => {
                facts.principal = Some(verified.claims().sub.to_string());
                Ok(Permit {
                    execution,
                    jti: verified.claims().jti.clone(),
                    intent: digest,
                    started_at,
                })
            }
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

    /// Fetches the control plane's published writ keys again; true when they were replaced.
    async fn refresh_keys(&self) -> bool {
        let Ok(v) = self.cp.get_json("/.well-known/jwks.json", None).await else {
            return false;
        };
        let Ok(jwks) = serde_json::from_value::<writ_artifact::Jwks>(v) else {
            return false;
        };
        self.gate.set_jwks(&jwks).is_ok()
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
            .post_receipt_retrying(&self.config.gate_token, &receipt, RECEIPT_ATTEMPTS)
            .await
    }

    /// Narrows a list answer (`tools/list`, `prompts/list`, `resources/list`) to what the
    /// principal could be allowed to use; tools must also be pinned and unchanged. Any failure
    /// to ask leaves the list empty (fail closed).
    ///
    /// Fails closed on answers it cannot read: an answer with neither `result` nor `error`
    /// becomes a JSON-RPC error, and a `result` that is not an object lists nothing.
    pub async fn filter_list(&self, method: &str, token: Option<&str>, response: &mut Value) {
        let (key, field, action) = match method {
            "tools/list" => ("tools", "name", CALL_TOOL),
            "prompts/list" => ("prompts", "name", GET_PROMPT),
            "resources/list" => ("resources", "uri", READ_RESOURCE),
            "resources/templates/list" => ("resourceTemplates", "uriTemplate", READ_RESOURCE),
            _ => return,
        };
        if !response.is_object() {
            *response = unreadable_list_answer(method, &Value::Null);
            return;
        }
        let Some(result) = response.get("result") else {
            if response.get("error").is_none() {
                let id = response.get("id").cloned().unwrap_or(Value::Null);
                *response = unreadable_list_answer(method, &id);
            }
            return;
        };
        if !result.is_object() {
            if let Some(r) = response.as_object_mut() {
                r.insert("result".into(), json!({ key: [] }));
            }
            return;
        }
        if key == "tools" {
            self.record_definitions(result);
        }
        let items: Vec<Value> = result
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let candidates: Vec<(String, Value)> = items
            .into_iter()
            .filter(|t| key != "tools" || self.config.pins.status(t) == PinStatus::Pinned)
            .filter_map(|t| {
                let id = t.get(field)?.as_str()?;
                Some((self.list_resource(action, id), t))
            })
            .collect();
        let names: Vec<String> = candidates.iter().map(|(r, _)| r.clone()).collect();
        let visible = match token {
            Some(token) if !names.is_empty() => self.visible(token, action, &names).await,
            _ => Vec::new(),
        };
        let kept: Vec<Value> = candidates
            .into_iter()
            .filter(|(r, _)| visible.contains(r))
            .map(|(_, t)| t)
            .collect();
        if let Some(r) = response.get_mut("result").and_then(Value::as_object_mut) {
            r.insert(key.into(), Value::Array(kept));
        }
    }

    /// The resource id a listed item is authorized as.
    fn list_resource(&self, action: &str, id: &str) -> String {
        let server = &self.config.server;
        match action {
            CALL_TOOL => format!("tool:{server}/{id}"),
            GET_PROMPT => format!("prompt:{server}/{id}"),
            _ => format!("mcp-resource:{server}/{id}"),
        }
    }

    /// Narrows a `tools/list` answer (see [`Enforcer::filter_list`]).
    pub async fn filter_tools(&self, token: Option<&str>, response: &mut Value) {
        self.filter_list("tools/list", token, response).await;
    }

    /// What the principal could use; on any failure nothing (fail closed).
    async fn visible(&self, token: &str, action: &str, resources: &[String]) -> Vec<String> {
        let Ok(attestation) = self.gate.attest() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for chunk in resources.chunks(crate::client::MAX_VISIBLE_QUERY) {
            match self.cp.visible(token, action, chunk, &attestation).await {
                Ok(v) => out.extend(v),
                Err(_) => return Vec::new(),
            }
        }
        out
    }
}

/// Methods the gateway decides on; every other message passes through.
pub const GOVERNED: [&str; 3] = ["tools/call", "resources/read", "prompts/get"];
/// Listings the gateway narrows to what the principal could use: every list method of MCP
/// 2025-06-18 that names tools, prompts or resources (a page asked for with a `cursor` is the
/// same method, narrowed the same way).
pub const LISTS: [&str; 4] = [
    "tools/list",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
];

/// How a client message is routed before any decision.
#[derive(Debug)]
pub enum Inbound {
    /// A notification, an answer to a server request, or a batch of only those (they name no
    /// request of the client's): forward the parsed message re-serialized, never the bytes as
    /// sent (an upstream reading duplicate keys another way could see a governed method there).
    Pass(Value),
    /// A `notifications/cancelled`: it names a request by the client's id, so the transport
    /// forwards it rewritten to the upstream id ([`cancellation_upstream`]), or drops it.
    Cancel(Value),
    /// A request not governed here (`initialize`, `ping`, …): forward it under an id of the
    /// gateway's own (see [`IdMap`]); its answer goes back unchanged but for the id.
    Request(Value),
    /// A governed request or a listing: decide with [`Enforcer::admit`], then forward the
    /// parsed message re-serialized, so the upstream runs exactly what was authorized.
    Govern(Value),
    /// Never forwarded; answer with this (if anything): unparseable input (the upstream's parser
    /// might read it differently), a batch holding requests (batching is gone from MCP
    /// 2025-06-18, and the answers of a batch could not be tied to its requests), a governed
    /// method sent as a notification, a batch holding one or a cancellation (which would name
    /// a client id upstream, where it means another request).
    Refuse(Option<Value>),
}

fn refusal(id: &Value, code: i64, reason: &str, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code,
        "message": format!("refused by the Writ gateway ({reason}): {message}"),
        "data": {"reason_code": reason}}})
}

/// The answer to a request whose id the same client already has in flight: it is refused, never
/// forwarded, so no answer can be taken for another's (JSON-RPC -32600, `request_id_in_flight`).
pub fn id_in_flight_answer(id: &Value) -> Value {
    refusal(
        id,
        -32600,
        "request_id_in_flight",
        "a request with this id is still in flight; give every request its own id (MCP: ids are never reused within a session)",
    )
}

/// The notification a client cancels one of its requests with (by the client's id).
const CANCELLED: &str = "notifications/cancelled";

/// Whether `m` is a request (a `method` and an `id`), not a notification or an answer.
fn is_request(m: &Value) -> bool {
    m.get("method").is_some() && m.get("id").is_some()
}

/// Sorts one client message (a line over stdio, a POST body over HTTP).
pub fn classify(bytes: &[u8]) -> Inbound {
    let Ok(msg) = serde_json::from_slice::<Value>(bytes) else {
        return Inbound::Refuse(Some(refusal(
            &Value::Null,
            -32700,
            "parse_error",
            "the message is not JSON",
        )));
    };
    let method = |m: &Value| m.get("method").and_then(Value::as_str).map(str::to_owned);
    match &msg {
        Value::Array(items) => {
            // A governed method sent as a notification is refused alone, so inside a batch too:
            // an upstream that acts on notifications would run it with no decision. A
            // cancellation is rewritten alone; inside a batch it would reach the upstream
            // naming the client's id, which there is another request's.
            let refused_notification = |m: &Value| {
                method(m).is_some_and(|x| GOVERNED.contains(&x.as_str()) || x == CANCELLED)
                    && m.get("id").is_none()
            };
            if items
                .iter()
                .any(|m| is_request(m) || refused_notification(m))
            {
                let errors: Vec<Value> = items
                    .iter()
                    .filter(|m| is_request(m))
                    .filter_map(|m| m.get("id"))
                    .map(|id| {
                        refusal(id, DENIED_CODE, "batch_not_supported",
                            "send requests one at a time (JSON-RPC batches are not part of MCP 2025-06-18)")
                    })
                    .collect();
                Inbound::Refuse((!errors.is_empty()).then_some(Value::Array(errors)))
            } else {
                Inbound::Pass(msg)
            }
        }
        m => match method(m) {
            Some(x) if GOVERNED.contains(&x.as_str()) && m.get("id").is_none() => {
                Inbound::Refuse(None)
            }
            Some(x) if GOVERNED.contains(&x.as_str()) => {
                // A number readers disagree on would be authorized as the double it rounds to.
                match writ_model::number::check_json_numbers(bytes) {
                    Ok(()) => Inbound::Govern(msg),
                    Err(e) => Inbound::Refuse(Some(refusal(
                        m.get("id").unwrap_or(&Value::Null),
                        -32602,
                        e.reason_code(),
                        &e.to_string(),
                    ))),
                }
            }
            Some(x) if m.get("id").is_some() && LISTS.contains(&x.as_str()) => Inbound::Govern(msg),
            _ if is_request(m) => Inbound::Request(msg),
            Some(x) if x == CANCELLED => Inbound::Cancel(msg),
            _ => Inbound::Pass(msg),
        },
    }
}

/// One JSON-RPC message text with its top-level `id` replaced, the rest kept as written (not
/// parsed into values: a tool result can be large). `None` when the text is not a JSON object.
pub fn with_id(message: &str, id: &Value) -> Option<String> {
    let mut members: std::collections::BTreeMap<String, Box<serde_json::value::RawValue>> =
        serde_json::from_str(message).ok()?;
    members.insert("id".into(), serde_json::value::to_raw_value(id).ok()?);
    serde_json::to_string(&members).ok()
}

/// The ids of one client's requests in flight upstream. The gateway forwards every request
/// under an id of its own (a number no other request in flight has), so an answer is tied to
/// exactly the request it answers: a client reusing an id, or choosing one the gateway uses for
/// its own requests, cannot have an answer taken for another's (an unfiltered list read as the
/// answer to a `ping`). A request whose id the client already has in flight is refused.
#[derive(Debug, Default)]
pub struct IdMap {
    /// Client id (its JSON text) → the upstream id it was forwarded under.
    by_client: HashMap<String, u64>,
}

impl IdMap {
    /// Claims `id` for a new request forwarded as `upstream`; false if it is already in flight.
    pub fn claim(&mut self, id: &Value, upstream: u64) -> bool {
        match self.by_client.entry(id.to_string()) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(upstream);
                true
            }
        }
    }

    /// The request `id` was answered (or refused): it may be used again.
    pub fn release(&mut self, id: &Value) {
        self.by_client.remove(&id.to_string());
    }

    /// Whether no request is in flight.
    pub fn is_empty(&self) -> bool {
        self.by_client.is_empty()
    }

    /// The upstream id a client request in flight was forwarded under (for cancellations).
    pub fn upstream(&self, id: &Value) -> Option<u64> {
        self.by_client.get(&id.to_string()).copied()
    }
}

/// A client's `notifications/cancelled` naming a request in flight, rewritten to name the
/// upstream id it was forwarded under; `None` for a cancellation of nothing the gateway
/// forwarded (dropped: it would name some other request upstream).
pub fn cancellation_upstream(msg: &Value, ids: &IdMap) -> Option<Value> {
    let id = msg.pointer("/params/requestId")?;
    let upstream = ids.upstream(id)?;
    let mut out = msg.clone();
    if let Some(p) = out.get_mut("params").and_then(Value::as_object_mut) {
        p.insert("requestId".into(), json!(upstream));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn governed_requests_cannot_slip_past_in_other_shapes() {
        let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#;
        assert!(matches!(classify(call), Inbound::Govern(_)));
        let batch = br#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}},{"jsonrpc":"2.0","id":2,"method":"ping"}]"#;
        match classify(batch) {
            Inbound::Refuse(Some(Value::Array(e))) => assert_eq!(e.len(), 2),
            other => panic!("{other:?}"),
        }
        let note = br#"{"jsonrpc":"2.0","method":"resources/read","params":{"uri":"x"}}"#;
        assert!(matches!(classify(note), Inbound::Refuse(None)));
        // A lone surrogate: serde_json refuses it, JavaScript's JSON.parse would not.
        let odd = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\ud800"}}"#;
        assert!(matches!(classify(odd), Inbound::Refuse(Some(_))));
        assert!(matches!(classify(b"garbage"), Inbound::Refuse(Some(_))));
        // Issue 12: numbers JSON readers disagree on never reach a decision.
        for big in [
            &br#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"x","arguments":{"a":9007199254740993}}}"#[..],
            br#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"x","arguments":{"b":2.000000000000000001}}}"#,
        ] {
            match classify(big) {
                Inbound::Refuse(Some(e)) => {
                    assert_eq!(e["error"]["data"]["reason_code"], "number_out_of_range");
                    assert_eq!(e["id"], 4);
                }
                other => panic!("{other:?}"),
            }
        }
        let ping = br#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#;
        assert!(matches!(classify(ping), Inbound::Request(_)));
        // Every listing is narrowed, resource templates included.
        for list in LISTS {
            let req = format!(r#"{{"jsonrpc":"2.0","id":4,"method":"{list}"}}"#);
            assert!(
                matches!(classify(req.as_bytes()), Inbound::Govern(_)),
                "{list}"
            );
        }
        // A batch of requests, governed or not, is refused: its answers could not be tied to them.
        let batch = br#"[{"jsonrpc":"2.0","id":5,"method":"ping"},{"jsonrpc":"2.0","id":6,"method":"resources/templates/list"}]"#;
        assert!(matches!(classify(batch), Inbound::Refuse(Some(_))));
        // Regression (found by the mcp_client fuzz target): a governed method sent as a
        // notification inside a batch passed through unchanged, with no decision.
        let hidden = br#"[{"jsonrpc":"2.0","method":"tools/call","params":{"name":"x"}}]"#;
        assert!(matches!(classify(hidden), Inbound::Refuse(_)));
        let answers = br#"[{"jsonrpc":"2.0","id":"s1","result":{}}]"#;
        assert!(matches!(classify(answers), Inbound::Pass(_)));
        let notification = br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{}}"#;
        assert!(matches!(classify(notification), Inbound::Cancel(_)));
    }

    // Regression: a passed-through message was forwarded as sent, so an upstream whose JSON
    // reader keeps the first of duplicate keys read a governed method where the gateway (which
    // keeps the last) saw a harmless notification; and a cancellation spelled with an escape
    // (`notifications\/cancelled`), or sent in a batch, reached the upstream naming the client's
    // id, which there is another request's.
    #[test]
    fn what_passes_through_is_what_the_gateway_read() {
        let dup = br#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"x"},"method":"notifications/progress"}"#;
        match classify(dup) {
            Inbound::Pass(msg) => {
                let forwarded = msg.to_string();
                assert!(!forwarded.contains("tools/call"), "{forwarded}");
                assert_eq!(forwarded.matches("\"method\"").count(), 1, "{forwarded}");
            }
            other => panic!("{other:?}"),
        }
        let escaped =
            br#"{"jsonrpc":"2.0","method":"notifications\/cancelled","params":{"requestId":1}}"#;
        assert!(matches!(classify(escaped), Inbound::Cancel(_)));
        let batched =
            br#"[{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}]"#;
        assert!(matches!(classify(batched), Inbound::Refuse(None)));
        let progress = br#"[{"jsonrpc":"2.0","method":"notifications/progress","params":{}}]"#;
        assert!(matches!(classify(progress), Inbound::Pass(_)));
    }

    #[test]
    fn an_id_is_replaced_and_nothing_else() {
        let line = r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"x"}],"n":1.5e300}}"#;
        let out: Value = serde_json::from_str(&with_id(line, &json!("c-1")).unwrap()).unwrap();
        let mut expected: Value = serde_json::from_str(line).unwrap();
        expected["id"] = json!("c-1");
        assert_eq!(out, expected);
        assert_eq!(with_id("[1]", &json!(1)), None);
        assert_eq!(with_id("nope", &json!(1)), None);
    }

    #[test]
    fn an_id_in_flight_cannot_be_claimed_twice() {
        let mut ids = IdMap::default();
        assert!(ids.claim(&json!(51), 1));
        assert!(!ids.claim(&json!(51), 2));
        // "51" is another id than 51.
        assert!(ids.claim(&json!("51"), 3));
        let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                            "params": {"requestId": 51, "reason": "x"}});
        assert_eq!(
            cancellation_upstream(&cancel, &ids).unwrap()["params"]["requestId"],
            1
        );
        ids.release(&json!(51));
        assert!(cancellation_upstream(&cancel, &ids).is_none());
        assert!(ids.claim(&json!(51), 4));
    }
}
