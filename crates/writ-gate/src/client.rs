//! The control-plane client: what agents and gates send to `writ serve`.

use std::borrow::Cow;
use std::time::Duration;

use serde_json::Value;
use writ_model::env::EnvironmentAttestation;
use writ_model::receipt::Receipt;
use writ_model::{ExecutionId, Intent, ReasonCode};

use crate::error::GateError;

/// Most resources one visibility question may name (the server's limit).
pub const MAX_VISIBLE_QUERY: usize = 1000;

/// Default time a call to the control plane may take before the caller denies.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// An HTTP client for one control plane. One connection pool (keep-alive, `TCP_NODELAY`) is
/// shared by every call and every clone.
#[derive(Debug, Clone)]
pub struct ControlPlane {
    base: String,
    http: reqwest::Client,
    timeout: Duration,
    /// `{base}/v1/authorize`, parsed once (it is on every governed call's path).
    authorize_url: Option<reqwest::Url>,
    /// For a plain `http://` control plane: kept-alive connections for authorize and receipts
    /// (see [`crate::lane`]).
    lane: Option<std::sync::Arc<crate::lane::Lane>>,
}

/// The answer to an authorize request.
#[derive(Debug, Clone, PartialEq)]
pub enum Authorization {
    Allow {
        writ: String,
        execution: ExecutionId,
        ledger_index: u64,
        expires_at: i64,
    },
    Deny {
        reason_code: ReasonCode,
        reasons: Vec<String>,
        /// The principal the control plane decided for, when it says.
        principal: Option<String>,
        execution: Option<ExecutionId>,
        ledger_index: Option<u64>,
    },
}

/// A code the control plane sent, read as a [`ReasonCode`]: one this build does not know
/// (or none at all) is [`ReasonCode::Unrecognized`], and its spelling goes into the message
/// so an operator still sees it. Logs and metric labels only ever hold codes of the list.
fn received_code(code: Option<&str>, message: &str) -> (ReasonCode, String) {
    let parsed = code.map_or(ReasonCode::Unrecognized, ReasonCode::parse_lossy);
    let message = match code {
        Some(raw) if parsed == ReasonCode::Unrecognized && raw != parsed.as_str() => {
            if message.is_empty() {
                format!("(code {raw:?})")
            } else {
                format!("(code {raw:?}) {message}")
            }
        }
        _ => message.to_owned(),
    };
    (parsed, message)
}

/// Options of an authorize request beyond intent and attestation.
#[derive(Debug, Clone, Default)]
pub struct AuthorizeOptions {
    pub parent: Option<ExecutionId>,
    pub from_writ: Option<String>,
    pub scope: Option<writ_artifact::Scope>,
    pub lifetime_secs: Option<i64>,
    /// Sent as the W3C `traceparent` header: the control plane's spans and the writ's lineage
    /// join this trace.
    pub traceparent: Option<writ_model::TraceParent>,
}

impl ControlPlane {
    /// A client for the control plane at `base` (e.g. `http://127.0.0.1:8787`).
    pub fn new(base: impl Into<String>) -> Self {
        Self::with_timeout(base, DEFAULT_TIMEOUT)
    }

    pub fn with_timeout(base: impl Into<String>, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .tcp_nodelay(true)
            .build()
            .unwrap_or_default();
        let base = base.into().trim_end_matches('/').to_owned();
        let authorize_url = reqwest::Url::parse(&format!("{base}/v1/authorize")).ok();
        let lane = crate::lane::Lane::for_base(&base).map(std::sync::Arc::new);
        Self {
            base,
            http,
            timeout,
            authorize_url,
            lane,
        }
    }

    /// Sends authorize and receipt requests to `api`, the control plane in this process,
    /// instead of over a connection; every other request still goes to `base`, where that
    /// control plane also listens. (A `base` that is not a plain `http://` URL keeps the
    /// connections: slower, never wrong.)
    #[must_use]
    pub fn with_local(mut self, api: std::sync::Arc<dyn crate::lane::LocalApi>) -> Self {
        if let Some(lane) = crate::lane::Lane::local(&self.base, api) {
            self.lane = Some(std::sync::Arc::new(lane));
        }
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn transport(&self, e: reqwest::Error) -> GateError {
        if e.is_timeout() {
            GateError::Timeout {
                secs: self.timeout.as_secs(),
            }
        } else {
            GateError::Unreachable {
                url: self.base.clone(),
                detail: e.to_string(),
            }
        }
    }

    /// `POST {base}{path}` with the JSON `body` and bearer `token` on the governed call's path:
    /// through the lane when there is one, else reqwest. `url` is the route's URL when parsed
    /// already.
    async fn post_hot(
        &self,
        path: &str,
        url: Option<&reqwest::Url>,
        token: &str,
        traceparent: Option<String>,
        body: &impl serde::Serialize,
    ) -> Result<(u16, Vec<u8>), GateError> {
        if let Some(lane) = &self.lane {
            let bytes = serde_json::to_vec(body).map_err(|e| GateError::Unreachable {
                url: self.base.clone(),
                detail: format!("request body: {e}"),
            })?;
            let extra: Vec<(&str, String)> = traceparent
                .map(|tp| ("traceparent", tp))
                .into_iter()
                .collect();
            return match lane
                .post_json(path, token, &extra, bytes, self.timeout)
                .await
            {
                Ok((status, bytes)) => Ok((status, bytes.into())),
                Err(crate::lane::LaneError::Timeout) => Err(GateError::Timeout {
                    secs: self.timeout.as_secs(),
                }),
                Err(crate::lane::LaneError::Failed(detail)) => Err(GateError::Unreachable {
                    url: self.base.clone(),
                    detail,
                }),
                Err(crate::lane::LaneError::Unreadable(detail)) => Err(GateError::Garbage(detail)),
            };
        }
        let req = match url {
            Some(url) => self.http.post(url.clone()),
            None => self.http.post(format!("{}{path}", self.base)),
        };
        let req = match traceparent {
            Some(tp) => req.header("traceparent", tp),
            None => req,
        };
        self.send_raw(req.bearer_auth(token).json(body)).await
    }

    async fn send_raw(&self, req: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>), GateError> {
        let resp = req.send().await.map_err(|e| self.transport(e))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| self.transport(e))?;
        Ok((status, bytes.into()))
    }

    fn json_body(status: u16, bytes: &[u8]) -> Result<Value, GateError> {
        serde_json::from_slice(bytes).map_err(|_| {
            GateError::Garbage(format!("status {status} with a body that is not JSON"))
        })
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<(u16, Value), GateError> {
        let (status, bytes) = self.send_raw(req).await?;
        Ok((status, Self::json_body(status, &bytes)?))
    }

    fn api_error(status: u16, body: &Value) -> GateError {
        let read = serde_json::from_value::<writ_api::ErrorBody<'_>>(body.clone()).ok();
        let (code, message) = received_code(
            read.as_ref().map(|b| b.code.as_ref()),
            read.as_ref().map_or("", |b| b.message.as_ref()),
        );
        GateError::Api {
            status,
            code,
            message,
        }
    }

    /// Asks for a writ. A deny is an answer, not an error; transport and server failures are errors.
    pub async fn authorize(
        &self,
        token: &str,
        intent: &Intent,
        attestation: &EnvironmentAttestation,
        options: &AuthorizeOptions,
    ) -> Result<Authorization, GateError> {
        let body = writ_api::AuthorizeBody {
            intent: Cow::Borrowed(intent),
            attestation: Cow::Borrowed(attestation),
            act: None,
            parent: options.parent,
            lifetime_secs: options.lifetime_secs,
            from_writ: options.from_writ.as_deref().map(Cow::Borrowed),
            scope: options.scope.as_ref().map(Cow::Borrowed),
        };
        let (status, bytes) = self
            .post_hot(
                "/v1/authorize",
                self.authorize_url.as_ref(),
                token,
                options.traceparent.as_ref().map(ToString::to_string),
                &body,
            )
            .await?;
        if status == 200 {
            // The common answer, read straight into its shape (no intermediate JSON tree).
            let a: writ_api::Allowed<'_> = serde_json::from_slice(&bytes).map_err(|e| {
                if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err() {
                    GateError::Garbage(format!("status {status} with a body that is not JSON"))
                } else {
                    GateError::Garbage(e.to_string())
                }
            })?;
            return Ok(Authorization::Allow {
                writ: a.writ.into_owned(),
                execution: a.execution,
                ledger_index: a.ledger_index,
                expires_at: a.expires_at,
            });
        }
        let body = Self::json_body(status, &bytes)?;
        match status {
            403 if body.get("decision").and_then(Value::as_str) == Some("deny") => {
                let d: writ_api::Denied =
                    serde_json::from_value(body).map_err(|e| GateError::Garbage(e.to_string()))?;
                Ok(Authorization::Deny {
                    reason_code: d.reason_code,
                    reasons: d.reasons,
                    principal: d.principal,
                    execution: d.execution,
                    ledger_index: d.ledger_index,
                })
            }
            _ => Err(Self::api_error(status, &body)),
        }
    }

    /// Which of `resources` the token's principal could be allowed `action` on at all (for tool
    /// and resource lists). At most [`MAX_VISIBLE_QUERY`] resources per call.
    pub async fn visible(
        &self,
        token: &str,
        action: &str,
        resources: &[String],
        attestation: &EnvironmentAttestation,
    ) -> Result<Vec<String>, GateError> {
        let body = writ_api::VisibleBody {
            action: Cow::Borrowed(action),
            resources: Cow::Borrowed(resources),
            attestation: Cow::Borrowed(attestation),
        };
        let req = self
            .http
            .post(format!("{}/v1/authorize/visible", self.base))
            .bearer_auth(token)
            .json(&body);
        let (status, body) = self.send(req).await?;
        if status != 200 {
            return Err(Self::api_error(status, &body));
        }
        serde_json::from_value::<writ_api::Visible>(body)
            .map(|v| v.visible)
            .map_err(|e| GateError::Garbage(format!("visible answer: {e}")))
    }

    /// Posts a gate's signed receipt; returns its ledger index.
    pub async fn post_receipt(
        &self,
        gate_token: &str,
        receipt: &Receipt,
    ) -> Result<u64, GateError> {
        let (status, bytes) = self
            .post_hot("/v1/receipts", None, gate_token, None, receipt)
            .await?;
        let body = Self::json_body(status, &bytes)?;
        if status != 201 {
            return Err(Self::api_error(status, &body));
        }
        serde_json::from_value::<writ_api::Recorded>(body)
            .map(|r| r.ledger_index)
            .map_err(|e| GateError::Garbage(format!("receipt answer: {e}")))
    }

    /// Posts a receipt, retrying failures that may pass (unreachable, timeout, a 5xx such as
    /// `ledger_unavailable`) up to `attempts` times with doubling pauses from 200 ms; a 4xx is
    /// final. A receipt is evidence: worth waiting for. (If an answer was lost after the
    /// control plane recorded it, the ledger holds the same signed receipt twice.)
    pub async fn post_receipt_retrying(
        &self,
        gate_token: &str,
        receipt: &Receipt,
        attempts: u32,
    ) -> Result<u64, GateError> {
        let mut pause = Duration::from_millis(200);
        let mut tries = 0;
        loop {
            tries += 1;
            match self.post_receipt(gate_token, receipt).await {
                Err(e) if tries < attempts && e.is_transient() => {
                    tokio::time::sleep(pause).await;
                    pause = pause.saturating_mul(2);
                }
                other => return other,
            }
        }
    }

    /// Renews a running execution's lease: `Ok(Some(until))` to go on, `Ok(None)` when denied.
    pub async fn renew(
        &self,
        token: &str,
        jti: &str,
        attestation: &EnvironmentAttestation,
    ) -> Result<Option<i64>, GateError> {
        let req = self
            .http
            .post(format!("{}/v1/leases/{jti}/renew", self.base))
            .bearer_auth(token)
            .json(&writ_api::RenewBody {
                attestation: Cow::Borrowed(attestation),
            });
        let (status, body) = self.send(req).await?;
        match status {
            200 => serde_json::from_value::<writ_api::Renewed>(body)
                .map(|r| Some(r.lease_until))
                .map_err(|e| GateError::Garbage(format!("renewal answer: {e}"))),
            403 if serde_json::from_value::<writ_api::Denied>(body.clone()).is_ok() => Ok(None),
            _ => Err(Self::api_error(status, &body)),
        }
    }

    /// Fetches a JSON document with an optional token (JWKS, proofs, lineage).
    pub async fn get_json(&self, path: &str, token: Option<&str>) -> Result<Value, GateError> {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let (status, body) = self.send(req).await?;
        if status != 200 {
            return Err(Self::api_error(status, &body));
        }
        Ok(body)
    }

    /// Calls an admin route with a JSON body.
    pub async fn admin(
        &self,
        admin_token: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, GateError> {
        let method: reqwest::Method = method
            .parse()
            .map_err(|_| GateError::Garbage(format!("bad method {method}")))?;
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(admin_token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let (status, body) = self.send(req).await?;
        if !(200..300).contains(&status) {
            return Err(Self::api_error(status, &body));
        }
        Ok(body)
    }

    /// Opens the event feed (server-sent events) with a gate or admin token. The client's
    /// timeout bounds the wait for the answer's headers; the stream itself stays open (its
    /// silence is watched by [`crate::events::follow`]).
    pub async fn events(&self, token: &str) -> Result<reqwest::Response, GateError> {
        let http = reqwest::Client::builder()
            .connect_timeout(self.timeout)
            .build()
            .map_err(|e| self.transport(e))?;
        // Only what a gate acts on: not every call's decision and receipt.
        let send = http
            .get(format!("{}/v1/events", self.base))
            .query(&[("kinds", writ_api::GATE_FEED_KINDS.join(","))])
            .bearer_auth(token)
            .send();
        let resp = tokio::time::timeout(self.timeout, send)
            .await
            .map_err(|_| GateError::Timeout {
                secs: self.timeout.as_secs(),
            })?
            .map_err(|e| self.transport(e))?;
        if resp.status().as_u16() != 200 {
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            return Err(Self::api_error(status, &body));
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_answer_keeps_a_known_code_and_names_an_unknown_one() {
        let known = serde_json::to_value(writ_api::ErrorBody::new(
            ReasonCode::ScopeInsufficient,
            "needs a principal token",
        ))
        .unwrap();
        let GateError::Api { code, message, .. } = ControlPlane::api_error(403, &known) else {
            panic!("an API error");
        };
        assert_eq!(
            (code, message.as_str()),
            (ReasonCode::ScopeInsufficient, "needs a principal token")
        );
        // A newer server's code: unrecognized in logs and labels, its spelling in the message.
        let newer = serde_json::json!({"code": "quota_exceeded", "message": "slow down"});
        let GateError::Api { code, message, .. } = ControlPlane::api_error(429, &newer) else {
            panic!("an API error");
        };
        assert_eq!(code, ReasonCode::Unrecognized);
        assert_eq!(message, "(code \"quota_exceeded\") slow down");
        // Not an error body at all: still an error, unrecognized.
        let e = ControlPlane::api_error(502, &Value::Null);
        assert_eq!(e.reason_code(), ReasonCode::Unrecognized);
    }
}
