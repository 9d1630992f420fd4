//! The Streamable HTTP transport (MCP 2025-06-18): the gateway listens for clients and forwards
//! to an HTTP upstream. A POST carrying a request is decided first (when governed) and forwarded
//! under an id of the gateway's own, unique across sessions; its answer (JSON or an SSE stream)
//! is read whole, found by that id (so it answers this request and no other), given back the
//! client's id, filtered (lists) or receipted (calls), and re-encoded. A request whose id is
//! already in flight in the same session is refused. Everything else (notifications, answers
//! to the server's requests, the GET stream, DELETE) is streamed through unchanged, with the
//! session headers; a cancellation is rewritten to name the request's upstream id. The client's
//! `Authorization` header is the principal's token; it is never forwarded upstream.
//!
//! Every request carrying an `Origin` header must come from an allowed origin (MCP requires
//! servers to check it, against DNS rebinding): loopback origins, plus those the operator
//! allows. Requests without `Origin` (clients other than browsers) are not affected.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

use super::enforce::{
    Admission, Enforcer, IdMap, Inbound, cancellation_upstream, classify, id_in_flight_answer,
};
use super::pins::PinKind;

/// Request headers passed to the upstream.
const FORWARD_REQUEST: [&str; 5] = [
    "accept",
    "content-type",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
];
/// Response headers passed back to the client.
const FORWARD_RESPONSE: [&str; 4] = [
    "content-type",
    "mcp-session-id",
    "cache-control",
    "mcp-protocol-version",
];

struct HttpGateway {
    enforcer: Arc<Enforcer>,
    default_token: Option<String>,
    upstream: String,
    http: reqwest::Client,
    /// The next id a request is forwarded upstream under; never reused, across all sessions.
    next_upstream: AtomicU64,
    /// The client ids in flight in each session (by `Mcp-Session-Id`).
    in_flight: Arc<InFlightSet>,
}

type InFlightSet = std::sync::Mutex<std::collections::HashMap<String, IdMap>>;

/// A client request's id held in flight in its session until its answer is sent.
struct InFlight {
    session: String,
    id: Value,
    set: Arc<InFlightSet>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut set = self.set.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ids) = set.get_mut(&self.session) {
            ids.release(&self.id);
            if ids.is_empty() {
                set.remove(&self.session);
            }
        }
    }
}

/// Whether a browser origin (`scheme://host[:port]`) may call the gateway: a loopback host, or
/// one of `allowed` exactly.
pub fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    if allowed.iter().any(|a| a == origin) {
        return true;
    }
    match reqwest::Url::parse(origin) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => {
            matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
        }
        _ => false,
    }
}

/// The gateway's routes: `path` (e.g. `/mcp`) in front of the upstream endpoint `upstream`.
/// Each client's identity is its `Authorization: Bearer` token; `default_token`, when set, is
/// the identity of clients that send none (a single-agent gateway on loopback). Browser
/// requests are refused unless their `Origin` is loopback or in `allowed_origins`.
pub fn router(
    enforcer: Arc<Enforcer>,
    upstream: String,
    path: &str,
    default_token: Option<String>,
    allowed_origins: Vec<String>,
) -> Router {
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let state = Arc::new(HttpGateway {
        enforcer,
        default_token,
        upstream,
        http,
        next_upstream: AtomicU64::new(1),
        in_flight: Arc::default(),
    });
    let allowed = Arc::new(allowed_origins);
    Router::new()
        .route(path, any(handle))
        .with_state(state)
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let allowed = allowed.clone();
                async move {
                    let origin = req
                        .headers()
                        .get("origin")
                        .map(|o| o.to_str().unwrap_or("").to_owned());
                    match origin {
                        Some(o) if !origin_allowed(&o, &allowed) => json_response(
                            StatusCode::FORBIDDEN,
                            &json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600,
                                "message": format!("origin {o:?} may not call this gateway; an operator can allow it with --allow-origin"),
                                "data": {"reason_code": writ_model::ReasonCode::OriginNotAllowed}}}),
                        ),
                        _ => next.run(req).await,
                    }
                }
            },
        ))
}

/// Serves the gateway on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

fn session_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get("mcp-session-id")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// A client's `notifications/cancelled`, rewritten to name the upstream id of the request it
/// cancels; `None` to drop it (it names no request in flight in the session).
fn map_cancellation(gw: &HttpGateway, headers: &HeaderMap, msg: &Value) -> Option<Bytes> {
    let session = session_of(headers)?;
    let set = gw.in_flight.lock().unwrap_or_else(|p| p.into_inner());
    let out = cancellation_upstream(msg, set.get(&session)?)?;
    Some(Bytes::from(out.to_string()))
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("authorization")?.to_str().ok()?;
    let t = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))?;
    Some(t.trim().to_owned())
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn upstream_failed(detail: &str) -> Response {
    json_response(
        StatusCode::BAD_GATEWAY,
        &json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32603,
            "message": format!("the gateway cannot reach the upstream MCP server: {detail}")}}),
    )
}

impl HttpGateway {
    async fn send(
        &self,
        method: Method,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let method = reqwest::Method::from_bytes(method.as_str().as_bytes())
            .unwrap_or(reqwest::Method::POST);
        let mut req = self.http.request(method, &self.upstream).body(body);
        for name in FORWARD_REQUEST {
            if let Some(v) = headers.get(name) {
                req = req.header(name, v.as_bytes());
            }
        }
        req.send().await
    }

    /// Claims a client request's `id` in its session; `None` when the same session already
    /// has a request with that id in flight. Requests outside a session (`initialize`, or an
    /// upstream without sessions) are not claimed: each goes upstream under its own id anyway.
    fn claim(&self, headers: &HeaderMap, id: &Value, upstream: u64) -> Option<Option<InFlight>> {
        let Some(session) = session_of(headers) else {
            return Some(None);
        };
        let mut set = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if !set.entry(session.clone()).or_default().claim(id, upstream) {
            return None;
        }
        Some(Some(InFlight {
            session,
            id: id.clone(),
            set: self.in_flight.clone(),
        }))
    }

    /// Lists the upstream's definitions of `kind` (every page) on the gateway's behalf (same
    /// session), for pin checks.
    async fn load_definitions(&self, headers: &HeaderMap, kind: PinKind) {
        let mut cursor: Option<Value> = None;
        for _ in 0..super::discover::MAX_PAGES {
            let n = self.next_upstream.fetch_add(1, Ordering::Relaxed);
            let id = json!(n);
            let params = cursor.take().map_or(json!({}), |c| json!({"cursor": c}));
            let req =
                json!({"jsonrpc": "2.0", "id": id, "method": kind.list().0, "params": params});
            let Ok(resp) = self
                .send(Method::POST, headers, Bytes::from(req.to_string()))
                .await
            else {
                return;
            };
            let Ok(bytes) = resp.bytes().await else {
                return;
            };
            let Some(result) = messages(&bytes)
                .into_iter()
                .find(|m| m.get("id") == Some(&id))
                .and_then(|m| m.get("result").cloned())
            else {
                return;
            };
            self.enforcer.record_listing(kind, &result);
            match result.get("nextCursor").filter(|c| !c.is_null()) {
                Some(c) => cursor = Some(c.clone()),
                None => return,
            }
        }
    }
}

/// Streams an upstream answer back unchanged.
fn passthrough(resp: reqwest::Response) -> Response {
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = copy_headers(resp.headers());
    let stream = futures_util::stream::unfold(resp, |mut resp| async move {
        match resp.chunk().await {
            Ok(Some(c)) => Some((Ok::<Bytes, std::io::Error>(c), resp)),
            Ok(None) => None,
            Err(e) => Some((Err(std::io::Error::other(e)), resp)),
        }
    });
    let mut out = Response::new(Body::from_stream(stream));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

fn copy_headers(from: &reqwest::header::HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for name in FORWARD_RESPONSE {
        if let Some(v) = from.get(name)
            && let Ok(v) = HeaderValue::from_bytes(v.as_bytes())
        {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
    headers
}

/// The JSON-RPC messages in an answer body, JSON or SSE.
pub fn messages(body: &[u8]) -> Vec<Value> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return match v {
            Value::Array(items) => items,
            v => vec![v],
        };
    }
    let text = String::from_utf8_lossy(body).replace("\r\n", "\n");
    text.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            serde_json::from_str(&data.join("\n")).ok()
        })
        .collect()
}

/// Whether `m` is the answer to request `id` (not a request of the server's with that id).
fn is_answer_to(m: &Value, id: &Value) -> bool {
    m.get("id") == Some(id) && m.get("method").is_none()
}

/// The messages parsed from a body (see [`messages`]), re-encoded in its form (JSON or SSE),
/// with the message answering `id` replaced by `answer` (added if there was none); what could
/// not be parsed is gone.
fn reencode_with_answer(parsed: Vec<Value>, sse: bool, id: &Value, answer: &Value) -> Vec<u8> {
    let mut found = false;
    let mut out: Vec<Value> = parsed
        .into_iter()
        .map(|m| {
            if is_answer_to(&m, id) {
                found = true;
                answer.clone()
            } else {
                m
            }
        })
        .collect();
    if !found {
        out.push(answer.clone());
    }
    if sse {
        let mut text = String::new();
        for m in out {
            text.push_str("event: message\ndata: ");
            text.push_str(&m.to_string());
            text.push_str("\n\n");
        }
        return text.into_bytes();
    }
    match out.len() {
        1 => out.pop().unwrap_or(Value::Null).to_string().into_bytes(),
        _ => Value::Array(out).to_string().into_bytes(),
    }
}

async fn handle(
    State(gw): State<Arc<HttpGateway>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let inbound = if method == Method::POST {
        classify(&body)
    } else {
        // The GET stream and DELETE carry no message of the client's.
        return match gw.send(method, &headers, body).await {
            Ok(resp) => passthrough(resp),
            Err(e) => upstream_failed(&e.to_string()),
        };
    };
    let msg = match inbound {
        Inbound::Pass(msg) => {
            return match gw
                .send(method, &headers, Bytes::from(msg.to_string()))
                .await
            {
                Ok(resp) => passthrough(resp),
                Err(e) => upstream_failed(&e.to_string()),
            };
        }
        Inbound::Cancel(msg) => {
            // It names a request by the client's id: name it by the gateway's.
            let Some(body) = map_cancellation(&gw, &headers, &msg) else {
                return StatusCode::ACCEPTED.into_response();
            };
            return match gw.send(method, &headers, body).await {
                Ok(resp) => passthrough(resp),
                Err(e) => upstream_failed(&e.to_string()),
            };
        }
        Inbound::Refuse(Some(answer)) => {
            let status = if answer.pointer("/error/code") == Some(&json!(-32700)) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            return json_response(status, &answer);
        }
        Inbound::Refuse(None) => return StatusCode::ACCEPTED.into_response(),
        Inbound::Govern(msg) | Inbound::Request(msg) => msg,
    };
    let id = msg.get("id").cloned().unwrap_or(Value::Null);
    let with_session = |mut resp: Response| {
        if let Some(s) = headers.get("mcp-session-id") {
            resp.headers_mut().insert("mcp-session-id", s.clone());
        }
        resp
    };
    // Forwarded under an id of the gateway's own: the answer is found by that id, so it is
    // the answer to this request and no other.
    let upstream = gw.next_upstream.fetch_add(1, Ordering::Relaxed);
    // Held until the answer is sent (dropped when this handler returns).
    let Some(_in_flight) = gw.claim(&headers, &id, upstream) else {
        return with_session(json_response(StatusCode::OK, &id_in_flight_answer(&id)));
    };
    let token = bearer(&headers).or_else(|| gw.default_token.clone());
    for kind in gw.enforcer.definitions_needed(&msg) {
        gw.load_definitions(&headers, kind).await;
    }
    let traceparent = headers.get("traceparent").and_then(|v| v.to_str().ok());
    let admission = gw
        .enforcer
        .admit_in_trace(token.as_deref(), &msg, traceparent)
        .await;
    if let Admission::Deny(denial) = &admission {
        return with_session(json_response(StatusCode::OK, &denial.to_response(&id)));
    }
    // Forward exactly what was decided on.
    let upstream_id = json!(upstream);
    let mut forwarded = msg;
    if let Some(o) = forwarded.as_object_mut() {
        o.insert("id".into(), upstream_id.clone());
    }
    let resp = match gw
        .send(method, &headers, Bytes::from(forwarded.to_string()))
        .await
    {
        Ok(r) => r,
        Err(e) => return upstream_failed(&e.to_string()),
    };
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let out_headers = copy_headers(resp.headers());
    let sse = out_headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return upstream_failed(&e.to_string()),
    };
    // The client gets only what the gateway parsed, re-encoded: never bytes it could read
    // differently (a batch, an odd SSE event, invalid JSON).
    let parsed = messages(&bytes);
    let answer = parsed
        .iter()
        .find(|m| is_answer_to(m, &upstream_id))
        .cloned()
        .map(|mut a| {
            if let Some(o) = a.as_object_mut() {
                o.insert("id".into(), id.clone());
            }
            a
        });
    let body = match admission {
        Admission::Call(permit) => {
            // Digesting the answer for the receipt happens off the client's path.
            let enforcer = gw.enforcer.clone();
            let receipted = answer.clone().unwrap_or(Value::Null);
            let meta = permit.execution_meta();
            tokio::spawn(async move {
                if let Err(e) = enforcer.finish(permit, &receipted).await {
                    eprintln!(
                        "writ gateway: the receipt of a call could not be posted ({}): {e}",
                        e.reason_code()
                    );
                }
            });
            let mut answer = answer.unwrap_or_else(|| super::enforce::unreadable_answer(&id));
            super::enforce::mark_execution(&mut answer, &meta);
            reencode_with_answer(parsed, sse, &upstream_id, &answer)
        }
        Admission::List(list) => {
            let mut answer =
                answer.unwrap_or_else(|| super::enforce::unreadable_list_answer(list, &id));
            gw.enforcer
                .filter_list(list, token.as_deref(), &mut answer)
                .await;
            reencode_with_answer(parsed, sse, &upstream_id, &answer)
        }
        Admission::Forward | Admission::Deny(_) => match answer {
            Some(answer) => reencode_with_answer(parsed, sse, &upstream_id, &answer),
            // No answer in the body (an HTTP error of the upstream's): relayed as it came; it
            // answers no request of the client's.
            None => bytes.to_vec(),
        },
    };
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = status;
    *out.headers_mut() = out_headers;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_answers_are_reencoded_from_what_was_parsed() {
        let filtered = json!({"jsonrpc": "2.0", "id": 7, "result": {"tools": []}});
        // SSE: the notification survives, the answer is replaced, an unreadable event is gone.
        let body = b"event: message\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":[1,2]}}\n\ndata: {not json \"tools\":[3]}\n\n";
        let out = reencode_with_answer(messages(body), true, &json!(7), &filtered);
        let msgs = messages(&out);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0]["method"], "notifications/progress");
        assert_eq!(msgs[1], filtered);
        assert!(!String::from_utf8(out).unwrap().contains("[3]"));
        // A JSON batch holding the answer: the answer inside it is replaced too.
        let batch =
            br#"[{"jsonrpc":"2.0","id":7,"result":{"tools":[1]}},{"jsonrpc":"2.0","method":"x"}]"#;
        let out = messages(&reencode_with_answer(
            messages(batch),
            false,
            &json!(7),
            &filtered,
        ));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], filtered);
        // No answer in the body at all: the client gets only the gateway's answer.
        let out = reencode_with_answer(messages(b"garbage"), false, &json!(7), &filtered);
        assert_eq!(serde_json::from_slice::<Value>(&out).unwrap(), filtered);
    }

    #[test]
    fn only_loopback_and_allowed_origins_pass() {
        let allowed = vec!["https://app.example.com".to_owned()];
        for ok in [
            "http://localhost",
            "http://localhost:6274",
            "https://127.0.0.1:8443",
            "http://[::1]:80",
            "https://app.example.com",
        ] {
            assert!(origin_allowed(ok, &allowed), "{ok}");
        }
        for bad in [
            "http://evil.example",
            "https://app.example.com:444",
            "http://localhost.evil.example",
            "http://127.0.0.2",
            "null",
            "file://localhost",
            "",
        ] {
            assert!(!origin_allowed(bad, &allowed), "{bad}");
        }
    }

    #[test]
    fn garbage_has_no_messages() {
        assert!(messages(b"\x00\xffnot json").is_empty());
    }
}
