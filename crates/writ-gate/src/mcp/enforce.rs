//! The transport-independent part of the gateway: what it decides about each intercepted
//! message. The transports ([`super::stdio`], [`super::http`]) call [`Enforcer::admit`] before
//! forwarding a request, [`Enforcer::finish`] when its answer comes back, and
//! [`Enforcer::filter_list`] on every list answer (tools, prompts, resources, templates).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::{Value, json};
use writ_model::receipt::Outcome;
use writ_model::{Clock, ExecutionId, Intent, IntentDigest, ReasonCode};

use super::DENIED_CODE;
use super::pins::{PinKind, PinSet, PinStatus};
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
/// The intent action of `completion/complete`, on the prompt (`prompt:SERVER/NAME`) or the
/// resource template (`mcp-resource:SERVER/URI-TEMPLATE`) whose argument is completed.
pub const COMPLETE: &str = "mcp.complete";
/// The intent action of `resources/subscribe`, on `mcp-resource:SERVER/URI`.
pub const SUBSCRIBE_RESOURCE: &str = "mcp.subscribe_resource";

/// A call the gateway refuses. It reaches the client as a JSON-RPC error, except a call to a
/// tool the upstream does not list, which gets the answer the official MCP SDK servers give
/// for an unknown tool: a tool result with `isError` (see [`Denial::to_response`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    pub reason_code: ReasonCode,
    pub message: String,
    pub reasons: Vec<String>,
    pub execution: Option<ExecutionId>,
    pub ledger_index: Option<u64>,
}

/// The `_meta` key under which a refusal sent as a tool result carries its details.
pub const DENIAL_META: &str = "dev.writ/denial";

/// The reason code of a `tools/call` for a tool the upstream never listed.
pub const TOOL_UNKNOWN: ReasonCode = ReasonCode::ToolUnknown;

impl Denial {
    pub fn new(code: ReasonCode, message: impl Into<String>) -> Denial {
        Denial {
            reason_code: code,
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

/// The `_meta` key under which an allowed tool result names its execution and the ledger
/// index of the decision that allowed it (beside [`DENIAL_META`] on refusals).
pub const EXECUTION_META: &str = "dev.writ/execution";

impl Permit {
    /// What an allowed call's result carries under [`EXECUTION_META`].
    pub fn execution_meta(&self) -> Value {
        json!({"execution": self.execution, "ledger_index": self.ledger_index})
    }
}

/// Adds `_meta[EXECUTION_META] = meta` to the `result` of an answer to an allowed call (other
/// `_meta` keys kept; one the upstream wrote under that key is replaced). An error answer, or a
/// result that is not an object, is left as it is.
pub fn mark_execution(answer: &mut Value, meta: &Value) {
    let Some(result) = answer.get_mut("result").and_then(Value::as_object_mut) else {
        return;
    };
    let entry = result.entry("_meta").or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    if let Some(m) = entry.as_object_mut() {
        m.insert(EXECUTION_META.into(), meta.clone());
    }
}

/// [`with_id`] for the answer to an allowed call, with [`mark_execution`] applied: only the
/// top level and the result's `_meta` are parsed, the rest of the result (its content, which
/// can be large) is kept as written. `None` when the text is not a JSON object.
pub fn with_id_and_execution(message: &str, id: &Value, meta: &Value) -> Option<String> {
    use serde_json::value::{RawValue, to_raw_value};
    type Members = std::collections::BTreeMap<String, Box<RawValue>>;
    let mut members: Members = serde_json::from_str(message).ok()?;
    members.insert("id".into(), to_raw_value(id).ok()?);
    let result = members
        .get("result")
        .and_then(|r| serde_json::from_str::<Members>(r.get()).ok());
    if let Some(mut result) = result {
        let mut extra = result
            .get("_meta")
            .and_then(|m| serde_json::from_str::<serde_json::Map<String, Value>>(m.get()).ok())
            .unwrap_or_default();
        extra.insert(EXECUTION_META.into(), meta.clone());
        result.insert("_meta".into(), to_raw_value(&extra).ok()?);
        members.insert("result".into(), to_raw_value(&result).ok()?);
    }
    serde_json::to_string(&members).ok()
}

/// An authorized call on its way to the upstream; [`Enforcer::finish`] receipts it.
#[derive(Debug, Clone)]
pub struct Permit {
    pub execution: ExecutionId,
    /// Where the decision that allowed it sits in the ledger.
    pub ledger_index: u64,
    pub jti: String,
    pub intent: IntentDigest,
    pub started_at: i64,
    /// The call's span (`writ.gate.call`, in the client's trace when it sent one); it ends
    /// when the permit is receipted and dropped.
    pub span: tracing::Span,
    /// `writ.gate.upstream`: opened as the call is forwarded, closed when its answer is
    /// receipted.
    pub upstream: tracing::Span,
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
            "data": {"reason_code": ReasonCode::UpstreamAnswerUnreadable},
        }
    })
}

/// The answer a client gets for a request the upstream answered with something the gateway
/// cannot read or re-address (not a JSON-RPC object, or no answer to it in the body): an
/// error, so the client is never left waiting and never given bytes it could read otherwise.
pub fn unreadable_answer(id: &Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32603,
        "message": "the upstream's answer could not be read (not a JSON-RPC answer to this request); check the upstream server's log, then retry",
        "data": {"reason_code": ReasonCode::UpstreamAnswerUnreadable}}})
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
                Denial::new(
                    ReasonCode::InvalidCall,
                    format!("{method} without a string `{key}`"),
                )
            })
    };
    let arguments = || match params.get("arguments") {
        None | Some(Value::Null) => json!({}),
        Some(a) => a.clone(),
    };
    // The exact parameters, without `_meta` (progress tokens are not the action).
    let without_meta = || {
        let mut args = params.clone();
        if let Some(o) = args.as_object_mut() {
            o.remove("_meta");
        }
        args
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
        "resources/read" | "resources/subscribe" => {
            let uri = text("uri")?;
            let resource = format!("mcp-resource:{server}/{uri}");
            let action = if method == "resources/read" {
                READ_RESOURCE
            } else {
                SUBSCRIBE_RESOURCE
            };
            Ok(Intent::new(action, resource, without_meta()))
        }
        "completion/complete" => {
            let (kind, id) = completion_ref(request)?;
            let resource = match kind {
                PinKind::Prompt => format!("prompt:{server}/{id}"),
                _ => format!("mcp-resource:{server}/{id}"),
            };
            Ok(Intent::new(COMPLETE, resource, without_meta()))
        }
        _ => Err(Denial::new(
            ReasonCode::InvalidCall,
            format!("{method} is not a method the gateway authorizes"),
        )),
    }
}

/// What a `completion/complete` completes an argument of: a prompt (`ref/prompt`, by name) or
/// a resource template (`ref/resource`, by URI template).
fn completion_ref(request: &Value) -> Result<(PinKind, String), Denial> {
    let reference = request.pointer("/params/ref");
    let kind = reference
        .and_then(|r| r.get("type"))
        .and_then(Value::as_str);
    let (kind, id) = match kind {
        Some("ref/prompt") => (PinKind::Prompt, reference.and_then(|r| r.get("name"))),
        Some("ref/resource") => (
            PinKind::ResourceTemplate,
            reference.and_then(|r| r.get("uri")),
        ),
        _ => {
            return Err(Denial::new(
                ReasonCode::InvalidCall,
                "completion/complete without a ref of type ref/prompt or ref/resource",
            ));
        }
    };
    let id = id.and_then(Value::as_str).ok_or_else(|| {
        Denial::new(
            ReasonCode::InvalidCall,
            "completion/complete without the ref's name or uri",
        )
    })?;
    Ok((kind, id.to_owned()))
}

/// The upstream's definitions as last listed, each compared with its pin (computed when they
/// are recorded: the pins never change while the gateway runs).
#[derive(Debug, Default)]
struct Definitions {
    /// (kind, key) → how the listed definition compares with its pin.
    status: HashMap<(PinKind, String), PinStatus>,
    /// Listed resource templates: URI template → (status, the URIs it expands to; `None` for
    /// a template that is not valid RFC 6570, which matches nothing).
    templates: HashMap<String, (PinStatus, Option<regex::Regex>)>,
}

/// The denial for a definition of `kind` named `key` whose status is `status` (`None`: the
/// upstream does not list it).
fn pin_denial(kind: PinKind, key: &str, status: Option<PinStatus>) -> Result<(), Denial> {
    let what = kind.name().replace('_', " ");
    /// What is wrong with the definition: not listed, never pinned, changed since pinned.
    enum Problem {
        Unlisted,
        NotPinned,
        Changed,
    }
    // `<kind>_unknown`, `<kind>_not_pinned`, `<kind>_definition_changed`.
    let code = |problem: Problem| {
        use {PinKind as K, Problem as S, ReasonCode as R};
        match (kind, problem) {
            (K::Tool, S::Unlisted) => R::ToolUnknown,
            (K::Tool, S::NotPinned) => R::ToolNotPinned,
            (K::Tool, S::Changed) => R::ToolDefinitionChanged,
            (K::Prompt, S::Unlisted) => R::PromptUnknown,
            (K::Prompt, S::NotPinned) => R::PromptNotPinned,
            (K::Prompt, S::Changed) => R::PromptDefinitionChanged,
            (K::Resource, S::Unlisted) => R::ResourceUnknown,
            (K::Resource, S::NotPinned) => R::ResourceNotPinned,
            (K::Resource, S::Changed) => R::ResourceDefinitionChanged,
            (K::ResourceTemplate, S::Unlisted) => R::ResourceTemplateUnknown,
            (K::ResourceTemplate, S::NotPinned) => R::ResourceTemplateNotPinned,
            (K::ResourceTemplate, S::Changed) => R::ResourceTemplateDefinitionChanged,
        }
    };
    match status {
        Some(PinStatus::Pinned) => Ok(()),
        None => Err(Denial::new(
            code(Problem::Unlisted),
            format!("the upstream server does not list a {what} {key:?}"),
        )),
        Some(PinStatus::NotPinned) => Err(Denial::new(
            code(Problem::NotPinned),
            format!(
                "{what} {key:?} was never approved; an operator approves it with `writ gateway mcp pin`"
            ),
        )),
        Some(PinStatus::Changed) => Err(Denial::new(
            code(Problem::Changed),
            format!(
                "the definition of {what} {key:?} (its title, description, schemas, annotations or any other member) changed since it was approved; an operator must review and approve it again with `writ gateway mcp pin`"
            ),
        )),
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
    /// How each of the upstream's definitions, as last listed, compares with its pin.
    definitions: RwLock<Definitions>,
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
            definitions: RwLock::new(Definitions::default()),
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
        self.record_listing(PinKind::Tool, result);
    }

    /// Remembers the upstream's current definitions of `kind` (from a page of its list answer).
    pub fn record_listing(&self, kind: PinKind, result: &Value) {
        let Some(items) = result.get(kind.list().1).and_then(Value::as_array) else {
            return;
        };
        // Digest (and compile templates) outside the lock: that is the costly part.
        let statuses: Vec<(String, PinStatus)> = items
            .iter()
            .filter_map(|t| Some((kind.key(t)?.to_owned(), self.config.pins.status_of(kind, t))))
            .collect();
        let templates: Vec<(String, (PinStatus, Option<regex::Regex>))> =
            if kind == PinKind::ResourceTemplate {
                statuses
                    .iter()
                    .map(|(k, st)| (k.clone(), (*st, super::uri_template::to_regex(k).ok())))
                    .collect()
            } else {
                Vec::new()
            };
        let mut defs = self.definitions.write().unwrap_or_else(|p| p.into_inner());
        defs.status
            .extend(statuses.into_iter().map(|(k, st)| ((kind, k), st)));
        defs.templates.extend(templates);
    }

    /// Forgets the definitions (after a `notifications/…/list_changed`).
    pub fn forget_definitions(&self) {
        *self.definitions.write().unwrap_or_else(|p| p.into_inner()) = Definitions::default();
    }

    /// Whether a governed request needs the upstream's definitions listed first.
    pub fn needs_definitions(&self, request: &Value) -> bool {
        !self.definitions_needed(request).is_empty()
    }

    /// The kinds whose listings a governed request needs (every page) before it can be
    /// pin-checked: those naming what it uses, when the gateway does not know it yet.
    pub fn definitions_needed(&self, request: &Value) -> Vec<PinKind> {
        let method = request.get("method").and_then(Value::as_str);
        let param = |k: &str| {
            request
                .pointer(&format!("/params/{k}"))
                .and_then(Value::as_str)
        };
        let defs = self.definitions.read().unwrap_or_else(|p| p.into_inner());
        let known = |kind: PinKind, key: &str| defs.status.contains_key(&(kind, key.to_owned()));
        let resource = |uri: &str| {
            let matched = defs
                .templates
                .values()
                .any(|(_, re)| re.as_ref().is_some_and(|r| r.is_match(uri)));
            if known(PinKind::Resource, uri) || matched {
                Vec::new()
            } else {
                vec![PinKind::Resource, PinKind::ResourceTemplate]
            }
        };
        match method {
            Some("tools/call") => match param("name") {
                Some(n) if !known(PinKind::Tool, n) => vec![PinKind::Tool],
                _ => Vec::new(),
            },
            Some("prompts/get") => match param("name") {
                Some(n) if !known(PinKind::Prompt, n) => vec![PinKind::Prompt],
                _ => Vec::new(),
            },
            Some("resources/read" | "resources/subscribe") => {
                param("uri").map(resource).unwrap_or_default()
            }
            Some("completion/complete") => match completion_ref(request) {
                Ok((PinKind::Prompt, n)) if !known(PinKind::Prompt, &n) => vec![PinKind::Prompt],
                Ok((PinKind::ResourceTemplate, u)) if !known(PinKind::ResourceTemplate, &u) => {
                    resource(&u)
                }
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// Whether the upstream's current definition of `kind` named `key` is the pinned one.
    fn pin_check(&self, kind: PinKind, key: &str) -> Result<(), Denial> {
        let status = self
            .definitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .status
            .get(&(kind, key.to_owned()))
            .copied();
        pin_denial(kind, key, status)
    }

    /// Whether `uri` may be used: the upstream lists it as a resource whose definition is the
    /// pinned one, or (not listed) it matches a resource template whose listed definition is
    /// the pinned one. Anything else is refused: a listed resource changed or never pinned by
    /// its own status, an unlisted URI by the templates it matches, `resource_not_pinned` when
    /// it matches none.
    fn resource_check(&self, uri: &str) -> Result<(), Denial> {
        let defs = self.definitions.read().unwrap_or_else(|p| p.into_inner());
        if let Some(status) = defs.status.get(&(PinKind::Resource, uri.to_owned())) {
            return pin_denial(PinKind::Resource, uri, Some(*status));
        }
        let mut refused: Option<(PinStatus, &str)> = None;
        for (template, (status, re)) in &defs.templates {
            if !re.as_ref().is_some_and(|r| r.is_match(uri)) {
                continue;
            }
            if *status == PinStatus::Pinned {
                return Ok(());
            }
            // A changed template is the more telling reason.
            if refused.is_none_or(|(s, _)| s != PinStatus::Changed) {
                refused = Some((*status, template.as_str()));
            }
        }
        match refused {
            Some((status, template)) => Err(
                match pin_denial(PinKind::ResourceTemplate, template, Some(status)) {
                    Err(d) => d,
                    Ok(()) => unreachable!("a pinned template returned above"),
                },
            ),
            None => Err(Denial::new(
                ReasonCode::ResourceNotPinned,
                format!(
                    "resource {uri:?} is neither listed by the upstream with an approved definition nor matches an approved resource template; an operator approves them with `writ gateway mcp pin`"
                ),
            )),
        }
    }

    /// Decides what happens to one client request (a JSON-RPC message with a `method`).
    /// `token` is the principal's token; `None` denies governed calls.
    pub async fn admit(&self, token: Option<&str>, request: &Value) -> Admission {
        self.admit_in_trace(token, request, None).await
    }

    /// [`Enforcer::admit`] for a request that came with a W3C `traceparent` (the Streamable
    /// HTTP transport's header). A governed call continues the client's trace: the one in the
    /// request's `params._meta.traceparent`, else `traceparent`; the control plane is asked
    /// within it, so the writ's lineage carries the client's trace id.
    pub async fn admit_in_trace(
        &self,
        token: Option<&str>,
        request: &Value,
        traceparent: Option<&str>,
    ) -> Admission {
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
            "tools/call"
            | "resources/read"
            | "prompts/get"
            | "resources/subscribe"
            | "completion/complete" => {
                match self.admit_call(token, method, request, traceparent).await {
                    Ok(p) => Admission::Call(p),
                    Err(d) => Admission::Deny(d),
                }
            }
            _ => Admission::Forward,
        }
    }

    /// The intent of a governed request ([`request_intent`]); what it uses (tool, prompt,
    /// resource, resource template) must also match its pin.
    fn intent_of(
        &self,
        method: &str,
        request: &Value,
        facts: &mut CallFacts,
    ) -> Result<Intent, Denial> {
        let intent = request_intent(&self.config.server, method, request)?;
        facts.action.clone_from(&intent.action);
        facts.resource.clone_from(&intent.resource);
        let param = |k: &str| {
            request
                .pointer(&format!("/params/{k}"))
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        match method {
            "tools/call" => self.pin_check(PinKind::Tool, param("name"))?,
            "prompts/get" => self.pin_check(PinKind::Prompt, param("name"))?,
            "resources/read" | "resources/subscribe" => self.resource_check(param("uri"))?,
            _ => match completion_ref(request)? {
                (PinKind::Prompt, name) => self.pin_check(PinKind::Prompt, &name)?,
                (_, uri) => {
                    let listed = self
                        .definitions
                        .read()
                        .unwrap_or_else(|p| p.into_inner())
                        .templates
                        .contains_key(&uri);
                    if listed {
                        self.pin_check(PinKind::ResourceTemplate, &uri)?
                    } else {
                        self.resource_check(&uri)?
                    }
                }
            },
        }
        Ok(intent)
    }

    /// Decides one governed call and logs it once ([`crate::call_log`]).
    async fn admit_call(
        &self,
        token: Option<&str>,
        method: &str,
        request: &Value,
        traceparent: Option<&str>,
    ) -> Result<Permit, Denial> {
        let started = std::time::Instant::now();
        let caller_trace = request
            .pointer("/params/_meta/traceparent")
            .and_then(Value::as_str)
            .or(traceparent)
            .and_then(writ_model::TraceParent::parse);
        let span = tracing::info_span!(
            "writ.gate.call",
            method,
            execution = tracing::field::Empty,
            decision = tracing::field::Empty,
            reason_code = tracing::field::Empty,
        );
        if let Some(tp) = &caller_trace {
            writ_model::lineage::otel::join(&span, tp);
        }
        let mut facts = CallFacts {
            action: method.to_owned(),
            resource: "-".to_owned(),
            principal: None,
        };
        let admitted = tracing::Instrument::instrument(
            self.decide_call(token, method, request, &mut facts, caller_trace.as_ref()),
            span.clone(),
        )
        .await
        .map(|mut p| {
            p.upstream = tracing::info_span!(parent: &span, "writ.gate.upstream");
            p.span = span.clone();
            p
        });
        let (decision, reason_code, execution) = match &admitted {
            Ok(p) => (
                CallDecision::Allow,
                // The control plane allows only what a permit policy allows.
                ReasonCode::PolicyPermit,
                Some(p.execution),
            ),
            Err(d) => (CallDecision::Deny, d.reason_code, d.execution),
        };
        if let Some(e) = execution {
            span.record("execution", tracing::field::display(e));
        }
        span.record("decision", decision.as_str());
        span.record("reason_code", reason_code.as_str());
        GovernedCall {
            execution: execution.map(|e| e.to_string()),
            principal: facts.principal.as_deref(),
            action: &facts.action,
            resource: &facts.resource,
            decision,
            reason_code,
            started,
        }
        .log(self.gate.metrics());
        admitted
    }

    async fn decide_call(
        &self,
        token: Option<&str>,
        method: &str,
        request: &Value,
        facts: &mut CallFacts,
        caller_trace: Option<&writ_model::TraceParent>,
    ) -> Result<Permit, Denial> {
        let token = token.ok_or_else(|| {
            Denial::new(
                ReasonCode::NoPrincipalToken,
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
            .map_err(|e| Denial::new(ReasonCode::InvalidArguments, e.to_string()))?;
        let attestation = self.gate.attest().map_err(|e| Denial::from_gate(&e))?;
        let started_at = self.clock.now_unix();
        // The control plane's span is a child of this call's (or of the client's, when no
        // spans are exported): either way in the client's trace.
        let options = AuthorizeOptions {
            traceparent: writ_model::lineage::otel::traceparent_of(&tracing::Span::current())
                .or(caller_trace.copied()),
            ..AuthorizeOptions::default()
        };
        let asked = std::time::Instant::now();
        let answer = self
            .cp
            .authorize(token, &intent, &attestation, &options)
            .await;
        self.gate
            .metrics()
            .authorize_round_trip(asked.elapsed().as_secs_f64());
        let answer = answer.map_err(|e| Denial::from_gate(&e))?;
        let (writ, execution, ledger_index) = match answer {
            Authorization::Allow {
                writ,
                execution,
                ledger_index,
                ..
            } => (writ, execution, ledger_index),
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
        let check_span = tracing::info_span!("writ.gate.check");
        let mut checked = check_span.in_scope(|| self.gate.check_digest(&writ, &digest));
        if matches!(&checked, Err(e) if e.reason_code() == ReasonCode::WritUnknownKid)
            && self.refresh_keys().await
        {
            // The control plane rotated its writ key since the gateway started.
            checked = check_span.in_scope(|| self.gate.check_digest(&writ, &digest));
        }
        drop(check_span);
        match checked {
            Ok(verified) => {
                facts.principal = Some(verified.claims().sub.to_string());
                Ok(Permit {
                    execution,
                    ledger_index,
                    jti: verified.claims().jti.clone(),
                    intent: digest,
                    started_at,
                    // Set by `admit_call`, which holds the call's span.
                    span: tracing::Span::none(),
                    upstream: tracing::Span::none(),
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
                    Some(denial.reason_code.as_str().to_owned()),
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
        // The upstream answered: its span ends here.
        drop(permit.upstream);
        let span = tracing::info_span!(parent: &permit.span, "writ.gate.receipt");
        tracing::Instrument::instrument(
            self.receipt_answer(
                permit.execution,
                permit.jti,
                permit.intent,
                permit.started_at,
                response,
            ),
            span,
        )
        .await
    }

    async fn receipt_answer(
        &self,
        execution: ExecutionId,
        jti: String,
        intent: IntentDigest,
        started_at: i64,
        response: &Value,
    ) -> Result<u64, GateError> {
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
        let reason =
            (outcome == Outcome::Failure).then(|| ReasonCode::ToolFailed.as_str().to_owned());
        let receipt = self.gate.receipt(
            execution,
            Some(jti),
            intent,
            outcome,
            Some(&bytes),
            reason,
            started_at,
        )?;
        self.cp
            .post_receipt_retrying(&self.config.gate_token, &receipt, RECEIPT_ATTEMPTS)
            .await
    }

    /// Narrows a list answer (`tools/list`, `prompts/list`, `resources/list`,
    /// `resources/templates/list`) to what the principal could be allowed to use; every item
    /// must also be pinned and unchanged, and is recorded for later pin checks. Any failure
    /// to ask leaves the list empty (fail closed).
    ///
    /// Fails closed on answers it cannot read: an answer with neither `result` nor `error`
    /// becomes a JSON-RPC error, and a `result` that is not an object lists nothing.
    pub async fn filter_list(&self, method: &str, token: Option<&str>, response: &mut Value) {
        let Some(kind) = PinKind::of_list(method) else {
            return;
        };
        let (_, key, field) = kind.list();
        let action = match kind {
            PinKind::Tool => CALL_TOOL,
            PinKind::Prompt => GET_PROMPT,
            PinKind::Resource | PinKind::ResourceTemplate => READ_RESOURCE,
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
        self.record_listing(kind, result);
        let items: Vec<Value> = result
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let candidates: Vec<(String, Value)> = items
            .into_iter()
            .filter(|t| self.config.pins.status_of(kind, t) == PinStatus::Pinned)
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

/// Methods the gateway decides on (each authorized, pin-checked and receipted); every other
/// message passes through.
pub const GOVERNED: [&str; 5] = [
    "tools/call",
    "resources/read",
    "prompts/get",
    "resources/subscribe",
    "completion/complete",
];
/// Notifications after which the upstream's definitions are listed again.
pub const LIST_CHANGED: [&str; 3] = [
    "notifications/tools/list_changed",
    "notifications/prompts/list_changed",
    "notifications/resources/list_changed",
];
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

fn refusal(id: &Value, code: i64, reason: ReasonCode, message: &str) -> Value {
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
        ReasonCode::RequestIdInFlight,
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
            ReasonCode::ParseError,
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
                        refusal(id, DENIED_CODE, ReasonCode::BatchNotSupported,
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
                    assert_eq!(
                        e["error"]["data"]["reason_code"],
                        ReasonCode::NumberOutOfRange.as_str()
                    );
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

    // Regression (issue 12, finding 8): over stdio `completion/complete` and
    // `resources/subscribe` were plain requests, forwarded with no decision at all (over HTTP a
    // completion was only checked for visibility and a subscription not at all).
    #[test]
    fn completions_and_subscriptions_are_decided_on_never_passed_through() {
        let complete = br#"{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"p"},"argument":{"name":"a","value":"x"},"_meta":{"progressToken":1}}}"#;
        let subscribe = br#"{"jsonrpc":"2.0","id":2,"method":"resources/subscribe","params":{"uri":"test://static/resource/1"}}"#;
        for (bytes, action, resource) in [
            (&complete[..], COMPLETE, "prompt:s/p"),
            (
                subscribe,
                SUBSCRIBE_RESOURCE,
                "mcp-resource:s/test://static/resource/1",
            ),
        ] {
            let Inbound::Govern(msg) = classify(bytes) else {
                panic!("not governed: {}", String::from_utf8_lossy(bytes));
            };
            let method = msg["method"].as_str().unwrap();
            assert!(GOVERNED.contains(&method), "{method}");
            let intent = request_intent("s", method, &msg).unwrap();
            assert_eq!(intent.action, action);
            assert_eq!(intent.resource, resource);
            // `_meta` (a progress token) is not part of what is authorized.
            assert!(intent.args.get("_meta").is_none(), "{:?}", intent.args);
            // Sent as a notification (no id), it is refused, never forwarded undecided.
            let mut note = msg.clone();
            note.as_object_mut().unwrap().remove("id");
            assert!(
                matches!(classify(note.to_string().as_bytes()), Inbound::Refuse(None)),
                "{note}"
            );
        }
        let template = json!({"jsonrpc": "2.0", "id": 3, "method": "completion/complete",
            "params": {"ref": {"type": "ref/resource", "uri": "file:///{path}"},
                       "argument": {"name": "path", "value": "a"}}});
        let intent = request_intent("s", "completion/complete", &template).unwrap();
        assert_eq!(intent.resource, "mcp-resource:s/file:///{path}");
        for bad in [
            json!({"ref": {"type": "ref/tool", "name": "x"}}),
            json!({"ref": {"type": "ref/prompt"}}),
            json!({}),
        ] {
            let m =
                json!({"jsonrpc": "2.0", "id": 4, "method": "completion/complete", "params": bad});
            assert_eq!(
                request_intent("s", "completion/complete", &m)
                    .unwrap_err()
                    .reason_code,
                ReasonCode::InvalidCall
            );
        }
    }

    #[test]
    fn an_allowed_result_names_its_execution_in_meta() {
        let permit = Permit {
            execution: ExecutionId::new_v7(),
            ledger_index: 17,
            jti: "j".into(),
            intent: IntentDigest {
                action: "mcp.call_tool".into(),
                resource: "tool:x".into(),
                args_sha256: "00".into(),
            },
            started_at: 0,
            span: tracing::Span::none(),
            upstream: tracing::Span::none(),
        };
        let meta = permit.execution_meta();
        let line = r#"{"jsonrpc":"2.0","id":9,"result":{"content":[{"type":"text","text":"hi"}],"_meta":{"other":1,"dev.writ/execution":"forged"}}}"#;
        let out: Value =
            serde_json::from_str(&with_id_and_execution(line, &json!("c-1"), &meta).unwrap())
                .unwrap();
        assert_eq!(out["id"], "c-1");
        assert_eq!(out["result"]["content"][0]["text"], "hi");
        assert_eq!(out["result"]["_meta"]["other"], 1);
        assert_eq!(out["result"]["_meta"][EXECUTION_META]["ledger_index"], 17);
        assert_eq!(
            out["result"]["_meta"][EXECUTION_META]["execution"],
            permit.execution.to_string()
        );
        let mut v: Value = serde_json::from_str(line).unwrap();
        mark_execution(&mut v, &meta);
        assert_eq!(v["result"]["_meta"][EXECUTION_META], meta);
        assert_eq!(v["result"]["_meta"]["other"], 1);
        // Errors carry no result to mark.
        let err = r#"{"jsonrpc":"2.0","id":9,"error":{"code":-1,"message":"x"}}"#;
        let out: Value =
            serde_json::from_str(&with_id_and_execution(err, &json!(1), &meta).unwrap()).unwrap();
        assert!(out.get("result").is_none());
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
