//! Issue 12, findings 7 and 8, over both transports, with raw JSON-RPC (an SDK client would not
//! send what an attacker sends) to the real `@modelcontextprotocol/server-everything`, over
//! stdio and over Streamable HTTP: every listing is narrowed, a request id in flight is refused
//! and never confused with another, and a tool whose title, annotations or output schema
//! changed after pinning is neither listed nor callable.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use writ_gate::mcp::{Enforcer, PinSet, discover, http, stdio};

use crate::mcp_harness::{Plane, Tools, tools};
use crate::mcp_http::http_gateway;

/// Only `echo` may be called; no prompt or resource may be used.
const ECHO_ONLY: &str = r#"
@id("echo")
@reason("agents may echo")
permit (principal is Agent, action == Action::"call_tool", resource == Tool::"everything/echo");
"#;

/// Every tool may be called (so only the pins decide).
const ALL_TOOLS: &str = r#"
@id("all-tools")
@reason("agents may call every tool")
permit (principal is Agent, action == Action::"call_tool", resource);
"#;

fn everything_stdio(t: &Tools) -> Vec<String> {
    vec![
        t.node.display().to_string(),
        t.modules
            .join("@modelcontextprotocol/server-everything/dist/index.js")
            .display()
            .to_string(),
        "stdio".into(),
    ]
}

fn request(id: Value, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

fn initialize(id: Value) -> Value {
    request(
        id,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "wire", "version": "1"}}),
    )
}

/// A raw client of one gateway, over either transport.
enum Wire {
    Stdio {
        to: tokio::io::WriteHalf<tokio::io::DuplexStream>,
        from: tokio::io::Lines<BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>>,
    },
    Http {
        url: String,
        token: String,
        session: Option<String>,
    },
}

const DEADLINE: Duration = Duration::from_secs(60);

impl Wire {
    async fn stdio(enforcer: Arc<Enforcer>, token: String, upstream: Vec<String>) -> Wire {
        let (client, gateway) = tokio::io::duplex(1 << 20);
        let (gr, gw) = tokio::io::split(gateway);
        tokio::spawn(async move {
            stdio::run_stdio(enforcer, Some(token), &upstream, gr, gw)
                .await
                .unwrap();
        });
        let (r, w) = tokio::io::split(client);
        let mut wire = Wire::Stdio {
            to: w,
            from: BufReader::new(r).lines(),
        };
        wire.open().await;
        wire
    }

    async fn http(url: String, token: String) -> Wire {
        let mut wire = Wire::Http {
            url,
            token,
            session: None,
        };
        wire.open().await;
        wire
    }

    async fn open(&mut self) {
        let answers = self.ask(&[initialize(json!("init"))]).await;
        assert!(answers[0].get("result").is_some(), "{answers:?}");
        self.notify(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
    }

    async fn notify(&mut self, msg: &Value) {
        match self {
            Wire::Stdio { to, .. } => {
                to.write_all(format!("{msg}\n").as_bytes()).await.unwrap();
            }
            Wire::Http { .. } => {
                self.post(msg).await;
            }
        }
    }

    async fn post(&mut self, msg: &Value) -> Vec<Value> {
        let Wire::Http {
            url,
            token,
            session,
        } = self
        else {
            unreachable!()
        };
        let mut req = reqwest::Client::new()
            .post(url.as_str())
            .bearer_auth(token.as_str())
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2025-06-18")
            .body(msg.to_string());
        if let Some(s) = session.as_deref() {
            req = req.header("mcp-session-id", s);
        }
        let resp = tokio::time::timeout(DEADLINE, req.send())
            .await
            .unwrap()
            .unwrap();
        if let Some(s) = resp.headers().get("mcp-session-id") {
            *session = Some(s.to_str().unwrap().to_owned());
        }
        http::messages(&resp.bytes().await.unwrap())
    }

    /// Sends `msgs` (over stdio in one write, back to back; over HTTP concurrently in one
    /// session) and returns every answer to them (messages with an id and no method), in the
    /// order of `msgs`' ids as they came.
    async fn ask(&mut self, msgs: &[Value]) -> Vec<Value> {
        match self {
            Wire::Stdio { to, from } => {
                let text: String = msgs.iter().map(|m| format!("{m}\n")).collect();
                to.write_all(text.as_bytes()).await.unwrap();
                let mut answers = Vec::new();
                while answers.len() < msgs.len() {
                    let line = tokio::time::timeout(DEADLINE, from.next_line())
                        .await
                        .expect("no answer from the gateway")
                        .unwrap()
                        .expect("the gateway closed its output");
                    let v: Value = serde_json::from_str(&line).unwrap();
                    if v.get("method").is_none() && v.get("id").is_some() {
                        answers.push(v);
                    }
                }
                answers
            }
            Wire::Http { .. } => {
                let mut answers = Vec::new();
                for m in msgs {
                    answers.extend(
                        self.post(m)
                            .await
                            .into_iter()
                            .filter(|v| v.get("method").is_none()),
                    );
                }
                answers
            }
        }
    }
}

/// The names (or URIs) a list answer holds.
fn listed(answer: &Value, key: &str, field: &str) -> Vec<String> {
    answer["result"][key]
        .as_array()
        .unwrap_or_else(|| panic!("not a {key} list: {answer}"))
        .iter()
        .map(|i| i[field].as_str().unwrap().to_owned())
        .collect()
}

/// server-everything over HTTP, a plane with `policies`, the token of `agent:wire`, and the
/// pins `pins` makes of the tools the server lists now.
struct Everything {
    upstream: String,
    server: tokio::process::Child,
    plane: Plane,
    token: String,
    pins: PinSet,
}

impl Everything {
    async fn start(
        t: &Tools,
        policies: &str,
        pins: impl Fn(Vec<Value>) -> Vec<Value>,
    ) -> Everything {
        let (upstream, server) = t.everything_http().await;
        let plane = Plane::start(policies).await;
        let token = plane.add_principal("agent:wire").await;
        let defs = pins(discover::list_tools_http(&upstream).await.unwrap());
        let pins = PinSet::from_tools("everything", &defs);
        Everything {
            upstream,
            server,
            plane,
            token,
            pins,
        }
    }

    /// An enforcer in front of the server, with the pins.
    async fn enforcer(&self) -> Arc<Enforcer> {
        self.plane
            .enforcer("everything", self.pins.clone(), Duration::from_secs(5))
            .await
    }
}

/// Gateways of both transports in front of server-everything, with the tools `pins` keeps of
/// what it lists now, and `policies`; returns the two clients and the plane.
async fn both(
    t: &Tools,
    policies: &str,
    pins: impl Fn(Vec<Value>) -> Vec<Value>,
) -> (Vec<(&'static str, Wire)>, Plane, tokio::process::Child) {
    let ev = Everything::start(t, policies, pins).await;
    let url = http_gateway(ev.enforcer().await, ev.upstream.clone(), None).await;
    let http = Wire::http(url, ev.token.clone()).await;
    let stdio = Wire::stdio(ev.enforcer().await, ev.token, everything_stdio(t)).await;
    (vec![("stdio", stdio), ("http", http)], ev.plane, ev.server)
}

// Regression (issue 12, finding 7): `resources/templates/list` passed the gateway unfiltered
// (the classifier's list of listings lacked it), over stdio and HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_list_is_narrowed_over_both_transports() {
    let Some(t) = tools() else { return };
    let (wires, plane, _server) = both(&t, ECHO_ONLY, |d| d).await;
    for (transport, mut wire) in wires {
        let a = wire
            .ask(&[
                request(json!(1), "tools/list", json!({})),
                request(json!(2), "prompts/list", json!({})),
                request(json!(3), "resources/list", json!({})),
                request(json!(4), "resources/templates/list", json!({})),
            ])
            .await;
        let by_id = |id: i64| a.iter().find(|m| m["id"] == id).unwrap();
        assert_eq!(
            listed(by_id(1), "tools", "name"),
            ["echo"],
            "{transport}: {a:?}"
        );
        assert!(
            listed(by_id(2), "prompts", "name").is_empty(),
            "{transport}"
        );
        assert!(
            listed(by_id(3), "resources", "uri").is_empty(),
            "{transport}"
        );
        assert!(
            listed(by_id(4), "resourceTemplates", "uriTemplate").is_empty(),
            "{transport}: {a:?}"
        );
        // A page asked for with a cursor is narrowed too.
        if let Some(cursor) = by_id(3)["result"].get("nextCursor").cloned() {
            let page = wire
                .ask(&[request(
                    json!(5),
                    "resources/list",
                    json!({"cursor": cursor}),
                )])
                .await;
            assert!(
                listed(&page[0], "resources", "uri").is_empty(),
                "{transport}"
            );
        }
    }
    plane.stop().await;
}

// Regression (issue 12, finding 7): over stdio, a `ping` with id 51 followed by a `tools/list`
// with id 51 returned every tool: answers were matched to requests by the client's id, so the
// ping's answer was "filtered" and the list's passed through whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_in_flight_id_is_refused_not_confused() {
    let Some(t) = tools() else { return };
    let (wires, plane, _server) = both(&t, ECHO_ONLY, |d| d).await;
    for (transport, mut wire) in wires {
        // The attack as found: whatever the timing, no answer lists more than echo, and each
        // request gets exactly one answer.
        for round in 0..5 {
            let answers = wire
                .ask(&[
                    request(json!(51), "ping", json!({})),
                    request(json!(51), "tools/list", json!({})),
                ])
                .await;
            assert_eq!(answers.len(), 2, "{transport} {round}: {answers:?}");
            for a in &answers {
                assert_eq!(a["id"], 51, "{transport}: {a}");
                if let Some(tools) = a.pointer("/result/tools") {
                    let names: Vec<&str> = tools
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t["name"].as_str().unwrap())
                        .collect();
                    assert_eq!(names, ["echo"], "{transport} {round}: {answers:?}");
                }
            }
        }
    }
    plane.stop().await;
}

/// A long call with a progress token, in flight while the duplicate is sent.
fn long_call(id: Value) -> Value {
    long_call_for(id, 4)
}

/// server-everything's long-running operation of `secs` seconds (one progress step a second).
fn long_call_for(id: Value, secs: u64) -> Value {
    request(
        id,
        "tools/call",
        json!({"name": "trigger-long-running-operation",
               "arguments": {"duration": secs, "steps": secs},
               "_meta": {"progressToken": "p"}}),
    )
}

// Regression (issue 12, finding 7): a request whose id is already in flight is refused with a
// JSON-RPC error, not forwarded (over stdio: once the call's first progress notification has
// arrived, the call is surely in flight).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_reusing_an_id_in_flight_is_refused_over_stdio() {
    let Some(t) = tools() else { return };
    let ev = Everything::start(&t, ALL_TOOLS, |d| d).await;
    let mut wire = Wire::stdio(ev.enforcer().await, ev.token.clone(), everything_stdio(&t)).await;
    let Wire::Stdio { to, from } = &mut wire else {
        unreachable!()
    };
    to.write_all(format!("{}\n", long_call(json!(7))).as_bytes())
        .await
        .unwrap();
    let next = async |from: &mut tokio::io::Lines<_>| -> Value {
        let line: String = tokio::time::timeout(DEADLINE, from.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        serde_json::from_str(&line).unwrap()
    };
    loop {
        let m = next(from).await;
        if m["method"] == "notifications/progress" {
            break;
        }
        assert!(
            m.get("method").is_some(),
            "the call ended before it was in flight: {m}"
        );
    }
    to.write_all(format!("{}\n", request(json!(7), "tools/list", json!({}))).as_bytes())
        .await
        .unwrap();
    let mut refused = None;
    let mut answered = None;
    while answered.is_none() {
        let m = next(from).await;
        if m.get("method").is_some() {
            continue;
        }
        if m.pointer("/error/data/reason_code") == Some(&json!("request_id_in_flight")) {
            refused = Some(m);
        } else {
            answered = Some(m);
        }
    }
    assert!(refused.is_some(), "the duplicate was not refused");
    let answered = answered.unwrap();
    assert_eq!(answered["id"], 7);
    assert!(
        answered
            .to_string()
            .contains("Long running operation completed"),
        "{answered}"
    );
    ev.plane.stop().await;
}

/// The pinned definitions with what an upstream could change after approval taken back to
/// what it was: `echo` had no title, the first annotated tool other than echo had other
/// annotations, `get-structured-content` had no output schema.
fn before_the_rug_pull(mut defs: Vec<Value>) -> Vec<Value> {
    let mut annotated = false;
    for d in &mut defs {
        let name = d["name"].as_str().unwrap().to_owned();
        let o = d.as_object_mut().unwrap();
        if name == "echo" {
            o.remove("title");
        } else if name == "get-structured-content" {
            assert!(
                o.remove("outputSchema").is_some(),
                "{name} lost its outputSchema"
            );
        } else if !annotated && o.contains_key("annotations") {
            o.insert("annotations".into(), json!({"readOnlyHint": false}));
            annotated = true;
        }
    }
    assert!(annotated, "no annotated tool in {defs:?}");
    defs
}

// Regression (issue 12, finding 8): the pin covered name, description and input schema only, so
// a title, annotations or an output schema changed after pinning were served and callable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_title_annotations_or_output_schema_is_refused() {
    let Some(t) = tools() else { return };
    let (upstream, _bare) = t.everything_http().await;
    let total = discover::list_tools_http(&upstream).await.unwrap().len();
    let (wires, plane, _server) = both(&t, ALL_TOOLS, before_the_rug_pull).await;
    for (transport, mut wire) in wires {
        let list = wire
            .ask(&[request(json!(1), "tools/list", json!({}))])
            .await;
        let names = listed(&list[0], "tools", "name");
        assert!(
            names.contains(&"get-sum".to_owned()),
            "{transport}: {names:?}"
        );
        for changed in ["echo", "get-structured-content"] {
            assert!(
                !names.contains(&changed.to_owned()),
                "{transport}: {names:?}"
            );
        }
        // The tool whose annotations changed is gone too: the policy allows every tool, so
        // exactly the three changed ones are missing from the upstream's list.
        assert_eq!(names.len() + 3, total, "{transport}: {names:?}");
        let all: Vec<Value> = list[0]["result"]["tools"].as_array().unwrap().clone();
        assert!(
            all.iter().all(|d| d["name"] != "echo"),
            "{transport}: a retitled tool was served"
        );
        for (i, name) in ["echo", "get-structured-content"].iter().enumerate() {
            let id = json!(10 + i);
            let a = wire
                .ask(&[request(
                    id,
                    "tools/call",
                    json!({"name": name, "arguments": {"message": "hi", "location": "x"}}),
                )])
                .await;
            assert_eq!(
                a[0].pointer("/error/data/reason_code"),
                Some(&json!("tool_definition_changed")),
                "{transport} {name}: {a:?}"
            );
        }
    }
    plane.stop().await;
}

// Regression (issue 12, finding 7), over HTTP: ids are per session. While a long call with id 9
// is in flight in a session, a request with id 9 in the same session is refused; the same id in
// another session is another request; the call's answer still reaches its own request.
// The duplicate is sent only once the control plane has recorded the call's permit: the gateway
// claims the id before it asks for the permit and holds it until the upstream answers, so from
// then on the call is surely in flight. (Sending duplicates before that let one win the race
// for the id under CI load, and the long call itself was the one refused.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_reusing_an_id_in_flight_is_refused_per_session_over_http() {
    let Some(t) = tools() else { return };
    let ev = Everything::start(&t, ALL_TOOLS, |d| d).await;
    let token = ev.token.clone();
    let url = http_gateway(ev.enforcer().await, ev.upstream.clone(), None).await;
    let mut first = Wire::http(url.clone(), token.clone()).await;
    let Wire::Http { session, .. } = &first else {
        unreachable!()
    };
    let session = session.clone();
    let mut same = Wire::Http {
        url: url.clone(),
        token: token.clone(),
        session,
    };
    let call = tokio::spawn(async move {
        let answers = first.ask(&[long_call_for(json!(9), 15)]).await;
        (first, answers)
    });
    // Polls the control plane's own record (no timing): the permit is there once authorized.
    loop {
        let page = ev
            .plane
            .admin_call("GET", "/v1/executions?decision=allow", Value::Null)
            .await;
        if page.to_string().contains("trigger-long-running-operation") {
            break;
        }
        assert!(
            !call.is_finished(),
            "the long call ended before its permit was recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !call.is_finished(),
        "the long call ended before the duplicate was sent"
    );
    let a = same.ask(&[request(json!(9), "ping", json!({}))]).await;
    let refused = a[0].pointer("/error/data/reason_code") == Some(&json!("request_id_in_flight"));
    assert!(refused, "a request reusing an id in flight was not refused");
    // Another session's id 9 is its own request.
    let mut other = Wire::http(url, token).await;
    let a = other.ask(&[request(json!(9), "ping", json!({}))]).await;
    assert_eq!(a[0]["result"], json!({}), "{a:?}");
    let (_, answers) = tokio::time::timeout(DEADLINE, call).await.unwrap().unwrap();
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0]["id"], 9);
    assert!(
        answers[0]
            .to_string()
            .contains("Long running operation completed"),
        "{answers:?}"
    );
    ev.plane.stop().await;
}

/// Prompts, resources and tools may all be used (so only the pins decide).
const EVERYTHING_ALLOWED: &str = r#"
@id("all")
@reason("agents may use every tool, prompt and resource")
permit (principal is Agent, action in [Action::"call_tool", Action::"get_prompt",
    Action::"read_resource", Action::"subscribe_resource", Action::"complete"], resource);
"#;

/// Gateways of both transports in front of server-everything (the HTTP one in front of
/// `upstream`), with `pins`, on `plane`.
async fn both_pinned(
    t: &Tools,
    plane: &Plane,
    upstream: &str,
    token: &str,
    pins: &PinSet,
) -> Vec<(&'static str, Wire)> {
    let enforcer = || plane.enforcer("everything", pins.clone(), Duration::from_secs(5));
    let url = http_gateway(enforcer().await, upstream.to_owned(), None).await;
    let http = Wire::http(url, token.to_owned()).await;
    let stdio = Wire::stdio(enforcer().await, token.to_owned(), everything_stdio(t)).await;
    vec![("stdio", stdio), ("http", http)]
}

fn remove(pins: &mut writ_gate::mcp::pins::Pins, key: &str) {
    assert!(pins.remove(key).is_some(), "{key} is not listed");
}

/// Re-pins `key` as if its definition had been `changed` when approved (so the one the
/// upstream lists now differs from the pinned one).
fn alter(pins: &mut writ_gate::mcp::pins::Pins, key: &str) {
    let pin = pins
        .get_mut(key)
        .unwrap_or_else(|| panic!("{key} is not listed"));
    pin.definition["description"] = json!("as approved before the upstream changed it");
    pin.sha256 = writ_gate::mcp::tool_digest(&pin.definition).unwrap();
}

// Regression (issue 12, finding 8): prompts, resources and resource templates were not pinned,
// so over both transports a prompt or resource changed after approval, or never approved, was
// served; once pinned again as listed, the same requests are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_or_unpinned_prompt_resource_or_template_is_refused_until_pinned_again() {
    let Some(t) = tools() else { return };
    let (upstream, _server) = t.everything_http().await;
    let plane = Plane::start(EVERYTHING_ALLOWED).await;
    let token = plane.add_principal("agent:wire").await;
    let listing = discover::list_all_http(&upstream).await.unwrap();
    let now = PinSet::from_listing("everything", &listing);
    assert!(
        !now.prompts.is_empty() && !now.resources.is_empty() && !now.resource_templates.is_empty(),
        "server-everything lists no prompts, resources or templates: {now:?}"
    );
    let doc = |name: &str| format!("demo://resource/static/document/{name}");
    let (text_t, blob_t) = (
        "demo://resource/dynamic/text/{resourceId}",
        "demo://resource/dynamic/blob/{resourceId}",
    );
    let mut approved = now.clone();
    alter(&mut approved.prompts, "simple-prompt");
    remove(&mut approved.prompts, "args-prompt");
    alter(&mut approved.resources, &doc("architecture.md"));
    remove(&mut approved.resources, &doc("extension.md"));
    alter(&mut approved.resource_templates, text_t);
    remove(&mut approved.resource_templates, blob_t);

    let get = |id: i64, name: &str, args: Value| {
        request(
            json!(id),
            "prompts/get",
            json!({"name": name, "arguments": args}),
        )
    };
    let read = |id: i64, uri: &str| request(json!(id), "resources/read", json!({"uri": uri}));
    let subscribe =
        |id: i64, uri: &str| request(json!(id), "resources/subscribe", json!({"uri": uri}));
    let complete = |id: i64, name: &str| {
        request(
            json!(id),
            "completion/complete",
            json!({"ref": {"type": "ref/prompt", "name": name},
                   "argument": {"name": "department", "value": "E"}}),
        )
    };
    let refused = [
        (
            get(10, "simple-prompt", json!({})),
            "prompt_definition_changed",
        ),
        (
            get(11, "args-prompt", json!({"city": "Oslo"})),
            "prompt_not_pinned",
        ),
        (get(12, "no-such-prompt", json!({})), "prompt_unknown"),
        (
            read(13, &doc("architecture.md")),
            "resource_definition_changed",
        ),
        (read(14, &doc("extension.md")), "resource_not_pinned"),
        (
            read(15, "demo://resource/dynamic/text/1"),
            "resource_template_definition_changed",
        ),
        (
            read(16, "demo://resource/dynamic/blob/1"),
            "resource_template_not_pinned",
        ),
        (
            subscribe(17, &doc("architecture.md")),
            "resource_definition_changed",
        ),
        (complete(18, "simple-prompt"), "prompt_definition_changed"),
    ];
    let served = [
        get(
            20,
            "completable-prompt",
            json!({"department": "Engineering", "name": "x"}),
        ),
        read(21, &doc("features.md")),
        complete(22, "completable-prompt"),
    ];
    for (transport, mut wire) in both_pinned(&t, &plane, &upstream, &token, &approved).await {
        for (req, code) in &refused {
            let a = wire.ask(std::slice::from_ref(req)).await;
            assert_eq!(
                a[0].pointer("/error/data/reason_code"),
                Some(&json!(code)),
                "{transport} {req}: {a:?}"
            );
        }
        for req in &served {
            let a = wire.ask(std::slice::from_ref(req)).await;
            assert!(a[0].get("result").is_some(), "{transport} {req}: {a:?}");
        }
        // Listings hold only what is pinned and unchanged.
        let a = wire
            .ask(&[
                request(json!(30), "prompts/list", json!({})),
                request(json!(31), "resources/templates/list", json!({})),
            ])
            .await;
        let by_id = |id: i64| a.iter().find(|m| m["id"] == id).unwrap();
        let prompts = listed(by_id(30), "prompts", "name");
        assert!(
            prompts.contains(&"completable-prompt".to_owned()),
            "{transport}: {prompts:?}"
        );
        for gone in ["simple-prompt", "args-prompt"] {
            assert!(
                !prompts.contains(&gone.to_owned()),
                "{transport}: {prompts:?}"
            );
        }
        assert!(
            listed(by_id(31), "resourceTemplates", "uriTemplate").is_empty(),
            "{transport}: {a:?}"
        );
    }

    // Pinned again as the upstream lists them now: the same requests are served.
    for (transport, mut wire) in both_pinned(&t, &plane, &upstream, &token, &now).await {
        for (req, _) in &refused {
            if req.pointer("/params/name") == Some(&json!("no-such-prompt")) {
                continue;
            }
            let a = wire.ask(std::slice::from_ref(req)).await;
            assert!(a[0].get("result").is_some(), "{transport} {req}: {a:?}");
        }
    }
    plane.stop().await;
}
