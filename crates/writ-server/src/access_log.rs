//! The control plane's logs: one line per HTTP request (method, route template, status,
//! latency, and the reason code of an error answer) and one line per decision (authorize and
//! lease renewal) with the fields `execution`, `principal`, `action`, `resource`, `decision`,
//! `reason_code`, `latency_ms`.
//!
//! Lines name routes by their template (`/v1/leases/{jti}/renew`), never the raw path, and
//! carry no header, body, token, writ or argument value. Server failures (5xx: storage, ledger)
//! are logged at error level with the message that says what to do.

use std::fmt::Display;
use std::time::Instant;
use writ_model::{Decision, ReasonCode};

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;

/// Set on an error answer by [`crate::ApiError`] (and on a denial, [`refused`]) so its reason
/// code reaches the access log. `detail` (what to do) is kept for server failures only: a
/// client's mistake is the client's to read in its answer.
#[derive(Debug, Clone)]
pub struct ErrorReason {
    pub code: ReasonCode,
    pub detail: Option<String>,
}

/// `resp` (a denial) with its reason code for the access log.
pub fn refused(mut resp: Response, code: ReasonCode) -> Response {
    resp.extensions_mut()
        .insert(ErrorReason { code, detail: None });
    resp
}

/// `router` with the access log around it. Routes report their template through
/// [`carry_route`]; answers that no route made (unknown paths) are logged as `unmatched`.
pub fn layer(router: Router) -> Router {
    router
        .route_layer(middleware::from_fn(carry_route))
        .layer(middleware::from_fn(log_request))
}

/// Copies the matched route template onto the response, where the outer layer reads it.
async fn carry_route(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let mut resp = next.run(req).await;
    if let Some(route) = route {
        resp.extensions_mut().insert(route);
    }
    resp
}

fn millis(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

async fn log_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let resp = next.run(req).await;
    let latency_ms = millis(started);
    let route = resp
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let status = resp.status().as_u16();
    let reason = resp.extensions().get::<ErrorReason>();
    let reason_code = reason.map(|r| r.code.as_str());
    let method = method.as_str();
    if status >= 500 {
        let detail = reason.and_then(|r| r.detail.as_deref()).unwrap_or("");
        tracing::error!(target: "writ::access", method, route, status, latency_ms, reason_code, detail, "request failed");
    } else if status >= 400 {
        tracing::info!(target: "writ::access", method, route, status, latency_ms, reason_code, "request refused");
    } else {
        tracing::info!(target: "writ::access", method, route, status, latency_ms, "request");
    }
    resp
}

/// Which decision a line reports.
#[derive(Debug, Clone, Copy)]
pub enum DecisionKind {
    Authorize,
    Renewal,
}

/// Counts one decision in `metrics` and logs it, so every decision is counted and logged once,
/// here. `started` is when the request arrived.
#[expect(
    clippy::too_many_arguments,
    reason = "the seven fields of a decision line, its start and the counters"
)]
pub fn decision(
    metrics: &crate::metrics::Metrics,
    kind: DecisionKind,
    execution: impl Display,
    principal: impl Display,
    action: &str,
    resource: &str,
    decision: Decision,
    reason_code: ReasonCode,
    started: Instant,
) {
    metrics.decision(decision, reason_code);
    let (decision, reason_code) = (decision.as_str(), reason_code.as_str());
    let latency_ms = millis(started);
    // Recorded as strings, as the gates' call lines record them (quoted in text).
    let (execution, principal) = (execution.to_string(), principal.to_string());
    let message = match kind {
        DecisionKind::Authorize => "authorize decision",
        DecisionKind::Renewal => "lease renewal decision",
    };
    tracing::info!(
        target: "writ::decision",
        execution = execution.as_str(),
        principal = principal.as_str(),
        action,
        resource,
        decision,
        reason_code,
        latency_ms,
        "{message}"
    );
}
