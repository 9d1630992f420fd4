//! The router and the handlers of the control plane API (see `openapi.rs` for the table).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use writ_artifact::{ChildRequest, Env, IssueRequest, LedgerRef, PolicyInfo};
use writ_model::decision::Decision;
use writ_model::request::{Actor, AuthorizeRequest};
use writ_model::{ExecutionId, Lineage, PrincipalEntity, PrincipalId, ReasonCode};

use crate::attest::check_attestation;
use crate::auth::Access;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::guard::{require, require_principal};
use crate::openapi;
use crate::record::{index_err, record_entry, stage_entry};
use crate::state::AppState;
use crate::store::GovernanceKind;

type St = State<Arc<AppState>>;

/// Builds the router over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.max_body_bytes;
    routes()
        .router
        .merge(crate::ui::router())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            count_request,
        ))
        .with_state(state)
}

/// Counts each request in `writ_http_requests_total` by route template (never the raw path,
/// whose ids would make a series per execution), method and status, and times it.
async fn count_request(
    State(s): St,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().replace("{*", "{"));
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    // A failed ledger write makes the ledger red on the Health Dashboard until it grows again.
    if let Some(r) = response
        .extensions()
        .get::<crate::access_log::ErrorReason>()
        .filter(|r| {
            matches!(
                r.code,
                ReasonCode::LedgerUnavailable | ReasonCode::AppliedNotRecorded
            )
        })
    {
        let why = r
            .detail
            .as_deref()
            .unwrap_or("a write to the ledger failed");
        s.history.ledger_failed(s.ledger.checkpoint().size(), why);
    }
    s.metrics.http(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Every `(method, path)` the router answers, paths in the OpenAPI template form (`{name}`), so
/// a test can hold the router to the API document (`openapi.rs`).
pub fn routed() -> Vec<(&'static str, String)> {
    routes()
        .routed
        .into_iter()
        .map(|(m, p)| (m, p.replace("{*", "{")))
        .collect()
}

/// The router under construction and what it routes so far.
struct Routes {
    router: Router<Arc<AppState>>,
    routed: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn get<H, T>(mut self, path: &'static str, handler: H) -> Routes
    where
        H: axum::handler::Handler<T, Arc<AppState>>,
        T: 'static,
    {
        self.routed.push(("get", path));
        self.router = self.router.route(path, get(handler));
        self
    }

    fn post<H, T>(mut self, path: &'static str, handler: H) -> Routes
    where
        H: axum::handler::Handler<T, Arc<AppState>>,
        T: 'static,
    {
        self.routed.push(("post", path));
        self.router = self.router.route(path, post(handler));
        self
    }
}

fn routes() -> Routes {
    use crate::admin as adm;
    use crate::gate_api as gates;
    Routes {
        router: Router::new(),
        routed: Vec::new(),
    }
    .get("/healthz", healthz)
    .get("/readyz", crate::status::readyz)
    .get("/v1/status", crate::status::status)
    .get("/v1/status/history", crate::health::history)
    .get("/v1/whoami", crate::ui::whoami)
    .get("/v1/executions", crate::executions::search)
    .get("/v1/openapi.json", openapi_doc)
    .get("/.well-known/jwks.json", jwks)
    .get("/ledger/checkpoint", ledger_checkpoint)
    .get("/ledger/tile/{*path}", ledger_tile)
    .get("/v1/ledger/consistency", ledger_consistency)
    .get("/v1/ledger/vkey", ledger_vkey)
    .post("/v1/authorize", authorize)
    .post("/v1/authorize/visible", visible)
    .get("/v1/events", events)
    .post("/v1/receipts", gates::post_receipt)
    .post("/v1/leases/{jti}/renew", gates::renew_lease)
    .get("/v1/proofs/{execution}", gates::proof)
    .get("/v1/lineage/{execution}", gates::lineage)
    .get("/metrics", metrics)
    .post("/v1/admin/principals", adm::add_principal)
    .get("/v1/admin/principals", adm::list_principals)
    .post("/v1/admin/principals/{id}/revoke", adm::revoke_principal)
    .post("/v1/admin/gates", adm::add_gate)
    .get("/v1/admin/gates", adm::list_gates)
    .post("/v1/admin/revocations", adm::revoke)
    .post("/v1/admin/quarantines", adm::quarantine)
    .post("/v1/admin/kill-switch", adm::kill_switch)
    .post("/v1/admin/evidence/erase", crate::evidence::erase)
    .post("/v1/admin/bundles/validate", adm::bundle_validate)
    .post("/v1/admin/bundles/simulate", adm::bundle_simulate)
    .post("/v1/admin/bundles/activate", adm::bundle_activate)
    .get("/v1/admin/bundles/active", adm::bundle_active)
    .get("/v1/admin/trust", adm::trust_list)
    .post("/v1/admin/trust", adm::trust_add)
    .post("/v1/admin/trust/{kid}/remove", adm::trust_remove)
}

async fn not_found() -> ApiError {
    ApiError::not_found(
        writ_model::ReasonCode::RouteNotFound,
        "no such route; see GET /v1/openapi.json",
    )
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn openapi_doc() -> Json<Value> {
    Json(openapi::document())
}

async fn jwks(State(s): St) -> Response {
    let set = s.issuer.key_ring().jwks(s.now());
    (
        [(header::CACHE_CONTROL, "max-age=60")],
        Json(serde_json::to_value(&set).unwrap_or_else(|_| json!({"keys": []}))),
    )
        .into_response()
}

async fn ledger_checkpoint(State(s): St) -> Response {
    let cp = s.ledger.checkpoint();
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        cp.note().to_owned(),
    )
        .into_response()
}

/// `GET /ledger/tile/{path}`: hash tiles and entry bundles (C2SP tlog-tiles), read-only.
async fn ledger_tile(
    State(s): St,
    headers: HeaderMap,
    axum::extract::Path(path): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    // Public only where the operator said so (`[ledger] public_reads`); checkpoints always are.
    crate::guard::allow_ledger_read(&s, &headers)?;
    let ledger = s.ledger.clone();
    let full = !path.contains(".p/");
    let lookup = path.clone();
    let data = tokio::task::spawn_blocking(move || ledger.read_tile(&lookup))
        .await
        .map_err(|_| {
            ApiError::unavailable(
                writ_model::ReasonCode::LedgerUnavailable,
                "the ledger reader stopped; retry",
            )
        })?
        .map_err(|e| {
            ApiError::unavailable(writ_model::ReasonCode::LedgerUnavailable, e.to_string())
        })?
        .ok_or_else(|| {
            ApiError::not_found(
                writ_model::ReasonCode::TileNotFound,
                format!("no tile {path:?} at the current tree size"),
            )
        })?;
    // Full tiles never change; partial ones grow.
    let cache = if full {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, cache),
        ],
        data,
    )
        .into_response())
}

async fn ledger_vkey(State(s): St) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", s.ledger.vkey()),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    from: u64,
    to: Option<u64>,
}

async fn ledger_consistency(
    State(s): St,
    headers: HeaderMap,
    q: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    // Public only where the operator said so (`[ledger] public_reads`); checkpoints always are.
    crate::guard::allow_ledger_read(&s, &headers)?;
    let Query(q) = q.map_err(|e| {
        ApiError::bad_request(
            writ_model::ReasonCode::QueryInvalid,
            format!("{e}; use ?from=N&to=M"),
        )
    })?;
    let to = q.to.unwrap_or_else(|| s.ledger.checkpoint().size());
    let ledger = s.ledger.clone();
    let proof = tokio::task::spawn_blocking(move || ledger.consistency(q.from, to))
        .await
        .map_err(|_| {
            ApiError::unavailable(
                writ_model::ReasonCode::LedgerUnavailable,
                "the ledger reader stopped; retry",
            )
        })?
        .map_err(|e| {
            ApiError::bad_request(writ_model::ReasonCode::ConsistencyInvalid, e.to_string())
        })?;
    Ok(Json(serde_json::to_value(&proof).unwrap_or(Value::Null)))
}

/// The query of `GET /v1/events`.
#[derive(Debug, Deserialize)]
struct EventsQuery {
    /// Comma-separated event kinds: only those are sent (and always the snapshot, heartbeats
    /// and `lagged`).
    kinds: Option<String>,
}

/// Most kinds a feed subscriber may name, and the longest name.
const MAX_FEED_KINDS: usize = 32;
const MAX_FEED_KIND_LEN: usize = 64;

/// The kinds of `?kinds=a,b`: at most [`MAX_FEED_KINDS`], each 1 to [`MAX_FEED_KIND_LEN`]
/// characters.
fn feed_kinds(list: &str) -> Result<Vec<String>, ApiError> {
    let kinds: Vec<String> = list.split(',').map(|k| k.trim().to_owned()).collect();
    if kinds.len() > MAX_FEED_KINDS
        || kinds
            .iter()
            .any(|k| k.is_empty() || k.len() > MAX_FEED_KIND_LEN)
    {
        return Err(ApiError::bad_request(
            writ_model::ReasonCode::QueryInvalid,
            format!(
                "kinds: at most {MAX_FEED_KINDS} comma-separated event kinds, each 1 to {MAX_FEED_KIND_LEN} characters (e.g. kinds=revocation,kill_switch)"
            ),
        ));
    }
    Ok(kinds)
}

async fn events(
    State(s): St,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let caller = require(&s, &headers, Access::GateOrReader)?;
    let Query(query) = query.map_err(|e| {
        ApiError::bad_request(
            writ_model::ReasonCode::QueryInvalid,
            format!("{e}; use ?kinds=a,b"),
        )
    })?;
    let kinds = query.kinds.as_deref().map(feed_kinds).transpose()?;
    // A gate following the feed is connected (and in contact at each heartbeat) until the
    // response stream is dropped.
    let watch = (caller.scope == crate::auth::Scope::Gate)
        .then(|| crate::contact::FeedWatch::open(Arc::clone(&s.contacts), caller.subject.clone()));
    let kill_switch = s.kill_switch();
    let snapshot = s.store.read(|r| {
        let set = |k: GovernanceKind| r.governance.get(&k).cloned().unwrap_or_default();
        // Principals registered in a withdrawn zone included: gates cannot know registrations.
        let principals = r.withdrawn_principals();
        let mut zones = set(GovernanceKind::RevokedZone);
        zones.extend(set(GovernanceKind::QuarantinedZone));
        let strings = |set: &mut dyn Iterator<Item = String>| set.collect::<Vec<_>>();
        let snapshot = writ_api::RevocationSnapshot {
            jtis: strings(&mut set(GovernanceKind::RevokedJti).into_iter()),
            principals: strings(&mut principals.into_iter().map(|p| p.to_string())),
            zones: strings(&mut zones.into_iter()),
            kill_switch,
        };
        serde_json::to_value(snapshot).unwrap_or(Value::Null)
    });
    Ok(s.events
        .sse_watched(
            Duration::from_secs(s.config.heartbeat_secs),
            snapshot,
            watch,
            kinds,
        )
        .into_response())
}

async fn metrics(State(s): St, headers: HeaderMap) -> Result<Response, ApiError> {
    require(&s, &headers, Access::Admin)?;
    let indexed = s.execs.indexed();
    let size = s.ledger.size();
    let gauges = crate::metrics::Gauges {
        ledger_entries: size,
        checkpoint_age_seconds: crate::status::checkpoint_age_ms(&s) as f64 / 1000.0,
        index_lag: size.saturating_sub(indexed),
        kill_switch: s.kill_switch(),
        ledger_commit: Some(s.ledger.commit_latency()),
    };
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render_with(&gauges),
    )
        .into_response())
}

/// Body of `POST /v1/authorize` (written once, in `writ-api`, for the gates' client too).
pub type AuthorizeBody = writ_api::AuthorizeBody<'static>;

/// Who acts and under which constraints, once delegation is resolved.
struct Plan {
    principal: PrincipalId,
    act: Option<Actor>,
    lineage: Lineage,
    scope: writ_artifact::Scope,
    parent: Option<writ_artifact::WritClaims>,
}

/// Checks a parent delegation writ as this control plane issued it, for `caller`.
fn verify_parent_writ(
    state: &AppState,
    caller: &PrincipalId,
    token: &str,
) -> Result<writ_artifact::WritClaims, (writ_model::ReasonCode, String)> {
    let unverified =
        writ_artifact::decode_unverified(token).map_err(|e| (e.reason_code(), e.to_string()))?;
    let aud: writ_model::GateId = serde_json::from_value(
        unverified.claims.get("aud").cloned().unwrap_or_default(),
    )
    .map_err(|_| {
        (
            writ_model::ReasonCode::WritMalformed,
            "the parent writ has no valid aud".to_owned(),
        )
    })?;
    let intent: writ_model::IntentDigest =
        serde_json::from_value(unverified.claims.get("intent").cloned().unwrap_or_default())
            .map_err(|_| {
                (
                    writ_model::ReasonCode::WritMalformed,
                    "the parent writ has no valid intent".to_owned(),
                )
            })?;
    let mut cfg = writ_artifact::VerifierConfig::new(aud);
    cfg.issuer = Some(state.config.issuer.clone());
    let verifier = writ_artifact::Verifier::new(
        state.issuer.key_ring().verification_keys(state.now()),
        cfg,
        state.clock.clone(),
    );
    let claims = verifier
        .verify(token, &intent)
        .map_err(|e| (e.reason_code(), e.to_string()))?
        .into_claims();
    if &claims.sub != caller {
        return Err((
            writ_model::ReasonCode::DelegationNotYours,
            format!("the parent writ was issued to {}, not {caller}", claims.sub),
        ));
    }
    if claims.intent.action != "delegate" {
        return Err((
            writ_model::ReasonCode::DelegationNotGranted,
            "the parent writ is not a delegation writ (action delegate)".to_owned(),
        ));
    }
    if state
        .store
        .read(|r| r.is(GovernanceKind::RevokedJti, &claims.jti))
    {
        return Err((
            writ_model::ReasonCode::WritRevokedJti,
            "the parent writ is revoked".to_owned(),
        ));
    }
    Ok(claims)
}

fn plan(
    state: &AppState,
    caller: PrincipalId,
    body: &AuthorizeBody,
    execution: ExecutionId,
    caller_trace: Option<&writ_model::TraceParent>,
) -> Result<Result<Plan, (writ_model::ReasonCode, String)>, ApiError> {
    if let Some(token) = &body.from_writ {
        let parent = match verify_parent_writ(state, &caller, token) {
            Ok(p) => p,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let Ok(sub) = parent.intent.resource.parse::<PrincipalId>() else {
            return Ok(Err((
                writ_model::ReasonCode::DelegationNotGranted,
                format!(
                    "the parent writ delegates to {}, which is not a principal",
                    parent.intent.resource
                ),
            )));
        };
        let scope = body.scope.clone().map(Cow::into_owned).unwrap_or_default();
        let digest = body.intent.digest().map_err(|e| {
            ApiError::bad_request(writ_model::ReasonCode::IntentInvalid, e.to_string())
        })?;
        if let Err(e) = parent
            .scope
            .check_child(&scope, &digest, &body.attestation.claims.zone)
        {
            return Ok(Err((e.reason_code(), e.to_string())));
        }
        let act = Actor {
            sub: caller,
            act: body
                .act
                .clone()
                .or_else(|| parent.act.as_ref().map(Actor::from))
                .map(Box::new),
        };
        return Ok(Ok(Plan {
            principal: sub,
            act: Some(act),
            lineage: Lineage::child_of(execution, &parent.lineage),
            scope,
            parent: Some(parent),
        }));
    }
    if body.scope.is_some() {
        return Err(ApiError::bad_request(
            writ_model::ReasonCode::ScopeWithoutParent,
            "`scope` is only for child writs minted with `from_writ`",
        ));
    }
    let mut scope = writ_artifact::Scope::default();
    if body.intent.action == "delegate" {
        let grant: writ_artifact::DelegationGrant =
            serde_json::from_value(body.intent.args.clone()).map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    writ_model::ReasonCode::DelegationGrantInvalid,
                    format!(
                        "a delegate intent's args are the grant {{actions, resources, zones}}: {e}"
                    ),
                )
            })?;
        scope.delegate = Some(grant);
    }
    // A command asks for its filesystem reach in its arguments (so policy sees it and the writ
    // binds it); the runner turns the writ's `scope.fs` into Landlock rules.
    if body.intent.action == "exec"
        && let Some(fs) = body.intent.args.get("fs")
    {
        let fs: writ_artifact::FsScope = serde_json::from_value(fs.clone()).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                writ_model::ReasonCode::FsScopeInvalid,
                format!("args.fs must be {{\"read\":[paths],\"write\":[paths]}}: {e}"),
            )
        })?;
        for p in fs.read.iter().chain(fs.write.iter()) {
            writ_artifact::scope::validate_path(p).map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    writ_model::ReasonCode::FsScopeInvalid,
                    format!("args.fs path {p:?}: {e}"),
                )
            })?;
        }
        scope.fs = Some(fs);
    }
    let lineage = match body.parent {
        Some(parent) => {
            // An execution the caller may not act under is refused exactly as an unknown one,
            // so the answer does not tell whether it exists.
            let unknown = || {
                ApiError::bad_request(
                    writ_model::ReasonCode::ParentUnknown,
                    format!("execution {parent} is not known to this control plane"),
                )
            };
            let parent_row = state
                .execs
                .get(parent)
                .map_err(index_err)?
                .ok_or_else(unknown)?;
            if !may_act_under(state, &caller, &parent_row)? {
                return Err(unknown());
            }
            Lineage::child_in(execution, &parent_row.lineage, caller_trace)
        }
        None => Lineage::root_in(execution, caller_trace),
    };
    Ok(Ok(Plan {
        principal: caller,
        act: body.act.clone(),
        lineage,
        scope,
        parent: None,
    }))
}

/// Whether `caller` may hang an execution under `parent`: its own execution, or an allowed
/// delegation to it (a `delegate` intent whose resource is the caller).
fn may_act_under(
    state: &AppState,
    caller: &PrincipalId,
    parent: &crate::exec::ExecRow,
) -> Result<bool, ApiError> {
    let caller = caller.to_string();
    if parent.principal == caller {
        return Ok(true);
    }
    let entry = state.ledger.entry(parent.decision_index).map_err(|e| {
        ApiError::unavailable(writ_model::ReasonCode::LedgerUnavailable, e.to_string())
    })?;
    // A refusal delegated nothing. Action and resource are clear in v1 and v2 alike.
    Ok(match writ_model::entries::ExecutionRefs::of(&entry) {
        writ_model::entries::ExecutionRefs::Decided(d) => {
            d.allowed && d.action == "delegate" && d.resource == caller
        }
        _ => false,
    })
}

/// Governance that refuses before policy: the kill switch; a principal unknown, revoked or
/// quarantined, or registered in a zone that is revoked or quarantined; the zone the action runs
/// in revoked or quarantined (a gate acts only in the zone it is registered in). In good
/// standing, the principal's registration as policies see it, read in the same look.
fn governance(
    state: &AppState,
    principal: &PrincipalId,
    act: Option<&Actor>,
    zone: &str,
) -> Result<PrincipalEntity, (writ_model::ReasonCode, String)> {
    if state.kill_switch() {
        return Err((
            writ_model::ReasonCode::KillSwitch,
            "the kill switch is engaged: nothing runs until an operator releases it".into(),
        ));
    }
    state.store.read(|r| {
        let registered = r.standing(&principal.to_string())?;
        if let Some(refusal) = r.chain_withdrawn(act) {
            return Err(refusal);
        }
        if r.zone_withdrawn(zone) {
            return Err((
                writ_model::ReasonCode::ZoneQuarantined,
                format!("zone {zone} is revoked or quarantined"),
            ));
        }
        Ok(registered)
    })
}

/// `POST /v1/authorize`, in a span `writ.authorize` (children `writ.decide`, `writ.record`,
/// `writ.sign`) that continues the caller's W3C trace when it sends a `traceparent` header; the
/// writ's `lineage.traceparent` then carries the caller's trace id. An invalid header is
/// ignored (W3C: a new trace starts). Spans carry ids and outcomes, never arguments or tokens.
async fn authorize(
    State(s): St,
    headers: HeaderMap,
    body: Result<ApiJson<AuthorizeBody>, ApiError>,
) -> Result<Response, ApiError> {
    let caller_trace = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(writ_model::TraceParent::parse);
    let span = tracing::info_span!(
        "writ.authorize",
        execution = tracing::field::Empty,
        decision = tracing::field::Empty,
        reason_code = tracing::field::Empty,
        ledger_index = tracing::field::Empty,
    );
    if let Some(tp) = &caller_trace {
        writ_model::lineage::otel::join(&span, tp);
    }
    tracing::Instrument::instrument(authorize_traced(s, headers, body, caller_trace), span).await
}

async fn authorize_traced(
    s: Arc<AppState>,
    headers: HeaderMap,
    body: Result<ApiJson<AuthorizeBody>, ApiError>,
    caller_trace: Option<writ_model::TraceParent>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let caller_id = require_principal(&s, &headers)?;
    if let Some(why) = s.governance_unsynced() {
        return Err(ApiError::unavailable(
            writ_model::ReasonCode::GovernanceUnsynced,
            why,
        ));
    }
    let ApiJson(body) = body?;
    let attestation_sha256 = check_attestation(&s, &body.attestation)?;
    let execution = ExecutionId::new_v7();
    let span = tracing::Span::current();
    span.record("execution", tracing::field::display(execution));
    if let Some(parent) = body.parent {
        // A parent recorded a moment ago may not be indexed yet: wait until it is.
        s.execs.find(parent).await.map_err(index_err)?;
    }
    let planned = plan(
        &s,
        caller_id.clone(),
        &body,
        execution,
        caller_trace.as_ref(),
    )?;
    let now = s.now();
    let zone = body.attestation.claims.zone.to_string();
    let (principal, lineage, standing) = match &planned {
        // Whoever asks must be in good standing too: a quarantined agent cannot delegate.
        Ok(p) => (
            p.principal.clone(),
            p.lineage.clone(),
            if p.principal == caller_id {
                governance(&s, &caller_id, p.act.as_ref(), &zone)
            } else {
                governance(&s, &caller_id, None, &zone)
                    .and_then(|_| governance(&s, &p.principal, p.act.as_ref(), &zone))
            },
        ),
        Err((code, message)) => (
            caller_id.clone(),
            Lineage::root_in(execution, caller_trace.as_ref()),
            Err((*code, message.clone())),
        ),
    };
    let response = if let Err((code, message)) = standing {
        let refused = writ_model::entries::Refused {
            principal: principal.clone(),
            intent: body.intent.digest().map_err(|e| {
                ApiError::bad_request(writ_model::ReasonCode::IntentInvalid, e.to_string())
            })?,
            env: body.attestation.claims.clone(),
            lineage: lineage.clone(),
            now,
            reason_code: code.as_str().to_owned(),
            reason: message.clone(),
        };
        let index = record_entry(&s, writ_ledger::evidence::refused_entry(&refused)).await?;
        crate::access_log::decision(
            &s.metrics,
            crate::access_log::DecisionKind::Authorize,
            execution,
            &principal,
            &body.intent.action,
            &body.intent.resource,
            Decision::Deny,
            code,
            started,
        );
        s.events.publish_with("decision", || json!({"execution": execution, "decision": "deny", "reason_code": code, "principal": principal, "ledger_index": index}));
        let denied = writ_api::Denied {
            decision: Decision::Deny,
            reason_code: code,
            principal: Some(principal.to_string()),
            reasons: vec![message],
            errors: None,
            execution: Some(execution),
            ledger_index: Some(index),
        };
        crate::access_log::refused((StatusCode::FORBIDDEN, Json(denied)).into_response(), code)
    } else {
        let Ok(plan) = &planned else {
            return Err(ApiError::unavailable(
                writ_model::ReasonCode::InternalState,
                "authorization plan missing; retry",
            ));
        };
        let bundle = s.bundles.current().ok_or_else(|| {
            ApiError::unavailable(
                writ_model::ReasonCode::NoActiveBundle,
                "no policy bundle is active: activate one with `writ policy activate`",
            )
        })?;
        let request = AuthorizeRequest {
            principal: principal.clone(),
            act: plan.act.clone(),
            intent: body.intent.clone().into_owned(),
            env: body.attestation.claims.clone(),
            lineage: Some(lineage.clone()),
            // The principal's registration as of now: part of the record, so replay sees it too.
            principal_entity: standing.ok(),
        };
        let (record_value, request_canonical) = tracing::info_span!("writ.decide")
            .in_scope(|| writ_authorize::decide_with_request(&bundle, &request, now));
        // Entries v2: the shape of the decision in clear, the request committed to (around
        // the request's canonical JSON decide already wrote to hash it).
        let entry = match &request_canonical {
            Some(r) => writ_ledger::evidence::decision_entry_with_request(&record_value, r),
            None => writ_ledger::evidence::decision_entry(&record_value),
        };
        let code = record_value.reason_code.reason();
        span.record("reason_code", code.as_str());
        match record_value.decision {
            Decision::Deny => {
                span.record("decision", "deny");
                let index = tracing::Instrument::instrument(
                    record_entry(&s, entry),
                    tracing::info_span!("writ.record"),
                )
                .await?;
                span.record("ledger_index", index);
                crate::access_log::decision(
                    &s.metrics,
                    crate::access_log::DecisionKind::Authorize,
                    execution,
                    &principal,
                    &body.intent.action,
                    &body.intent.resource,
                    Decision::Deny,
                    code,
                    started,
                );
                s.events.publish_with("decision", || json!({"execution": execution, "decision": "deny", "reason_code": code, "principal": principal, "ledger_index": index}));
                let denied = writ_api::Denied {
                    decision: Decision::Deny,
                    reason_code: code,
                    principal: Some(principal.to_string()),
                    reasons: record_value.reasons,
                    errors: Some(record_value.errors),
                    execution: Some(execution),
                    ledger_index: Some(index),
                };
                crate::access_log::refused(
                    (StatusCode::FORBIDDEN, Json(denied)).into_response(),
                    code,
                )
            }
            Decision::Allow => {
                // The writ names the decision's ledger index: it is signed while the decision
                // is made durable, and answered only once it is.
                span.record("decision", "allow");
                let record_span = tracing::info_span!("writ.record");
                let staged =
                    tracing::Instrument::instrument(stage_entry(&s, entry), record_span.clone())
                        .await?;
                let index = staged.index;
                span.record("ledger_index", index);
                let intent_digest = body.intent.digest().map_err(|e| {
                    ApiError::bad_request(writ_model::ReasonCode::IntentInvalid, e.to_string())
                })?;
                let env = Env {
                    zone: body.attestation.claims.zone.clone(),
                    attestation_sha256,
                };
                let policy = PolicyInfo {
                    bundle_sha256: record_value.bundle_sha256.clone(),
                    engine: record_value.engine.clone(),
                    determining: record_value.determining.clone(),
                };
                let ledger_ref = LedgerRef {
                    origin: s.ledger.origin().to_owned(),
                    index,
                };
                let aud = body.attestation.claims.gate.clone();
                let sign_span = tracing::info_span!("writ.sign");
                let signing = sign_span.enter();
                let issued = match &plan.parent {
                    Some(parent) => s
                        .issuer
                        .mint_child(
                            parent,
                            ChildRequest {
                                sub: principal.clone(),
                                aud,
                                intent: intent_digest,
                                env,
                                policy,
                                scope: plan.scope.clone(),
                                execution,
                                ledger: ledger_ref,
                                lifetime_secs: body.lifetime_secs,
                            },
                        )
                        .map_err(|e| ApiError::forbidden(e.reason_code(), e.to_string())),
                    None => s
                        .issuer
                        .issue(IssueRequest {
                            sub: principal.clone(),
                            act: plan.act.as_ref().map(writ_artifact::Act::from),
                            aud,
                            intent: intent_digest,
                            env,
                            policy,
                            scope: plan.scope.clone(),
                            lineage: lineage.clone(),
                            ledger: ledger_ref,
                            lifetime_secs: body.lifetime_secs,
                        })
                        .map_err(|e| ApiError::bad_request(e.reason_code(), e.to_string())),
                };
                drop(signing);
                // Refused or not, the answer waits for the decision record.
                tracing::Instrument::instrument(staged.durable(&s), record_span).await?;
                let issued = issued?;
                s.execs.note(
                    crate::exec::ExecRow {
                        lineage: lineage.clone(),
                        principal: principal.to_string(),
                        decision_index: index,
                        gate: Some(body.attestation.claims.gate.to_string()),
                    },
                    issued.token.clone(),
                );
                crate::access_log::decision(
                    &s.metrics,
                    crate::access_log::DecisionKind::Authorize,
                    execution,
                    &principal,
                    &body.intent.action,
                    &body.intent.resource,
                    Decision::Allow,
                    code,
                    started,
                );
                s.events.publish_with("decision", || json!({"execution": execution, "decision": "allow", "principal": principal, "jti": issued.claims.jti, "ledger_index": index}));
                (
                    StatusCode::OK,
                    Json(writ_api::Allowed {
                        decision: Decision::Allow,
                        writ: Cow::Borrowed(&issued.token),
                        execution,
                        ledger_index: index,
                        expires_at: issued.claims.exp,
                    }),
                )
                    .into_response()
            }
        }
    };
    s.metrics.authorize_seconds(started.elapsed().as_secs_f64());
    Ok(response)
}

/// Body of `POST /v1/authorize/visible` (in `writ-api`).
pub type VisibleBody = writ_api::VisibleBody<'static>;

/// Most resources one visibility query may name.
pub const MAX_VISIBLE_QUERY: usize = 1000;

async fn visible(
    State(s): St,
    headers: HeaderMap,
    body: Result<ApiJson<VisibleBody>, ApiError>,
) -> Result<Json<writ_api::Visible>, ApiError> {
    let principal = require_principal(&s, &headers)?;
    let ApiJson(body) = body?;
    if body.resources.len() > MAX_VISIBLE_QUERY {
        return Err(ApiError::bad_request(
            writ_model::ReasonCode::TooManyResources,
            format!("ask about at most {MAX_VISIBLE_QUERY} resources per call"),
        ));
    }
    check_attestation(&s, &body.attestation)?;
    let zone = body.attestation.claims.zone.to_string();
    // Withdrawn trust shows nothing.
    let Ok(registered) = governance(&s, &principal, None, &zone) else {
        return Ok(Json(writ_api::Visible { visible: vec![] }));
    };
    let bundle = s.bundles.current().ok_or_else(|| {
        ApiError::unavailable(
            writ_model::ReasonCode::NoActiveBundle,
            "no policy bundle is active: activate one with `writ policy activate`",
        )
    })?;
    let view = {
        let mut cached = s.visibility.lock().unwrap_or_else(|p| p.into_inner());
        match cached.as_ref() {
            Some((digest, v)) if digest == bundle.digest() => v.clone(),
            _ => {
                let v = Arc::new(
                    writ_authorize::visibility::Visibility::new(&bundle)
                        .map_err(|e| ApiError::unavailable(e.reason_code(), e.to_string()))?,
                );
                *cached = Some((bundle.digest().to_owned(), v.clone()));
                v
            }
        }
    };
    // A registration that does not fit the schema denies everything: nothing is visible.
    let Ok(entities) = writ_authorize::principal_entities(&bundle, &principal, Some(&registered))
    else {
        return Ok(Json(writ_api::Visible { visible: vec![] }));
    };
    let now = s.now();
    let visible: Vec<String> = body
        .resources
        .iter()
        .filter(|r| {
            view.could_allow(
                &bundle,
                &entities,
                &principal,
                &body.action,
                r,
                &body.attestation.claims,
                now,
            )
        })
        .cloned()
        .collect();
    Ok(Json(writ_api::Visible { visible }))
}

#[cfg(test)]
mod body_schemas;
