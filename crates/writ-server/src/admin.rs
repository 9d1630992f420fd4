//! Admin calls: principals, gates, revocation, quarantine, the kill switch and policy bundles.
//!
//! Every change is a ledger entry. Changes that restrict (revoke, quarantine, kill switch on)
//! take effect first and are then recorded, so a broken ledger never delays them; changes that
//! grant (new principal or gate, release, bundle activation) are recorded first and take effect
//! only once durable.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use writ_authorize::BundleError;
use writ_model::entries::{
    ENTRY_VERSION, GateChanged, GovernanceTarget, KillSwitch, PolicyActivated, PrincipalChanged,
    Quarantine, Revocation, TrustChanged,
};
use writ_model::request::AuthorizeRequest;
use writ_model::{GateId, PrincipalId, ZoneId};

use crate::auth::Access;
use crate::auth::{Caller, Scope, new_token, token_hash};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::guard::require;
use crate::record::record;
use crate::state::{
    AppState, BundleFiles, SETTING_ACTIVE_BUNDLE, SETTING_KILL_SWITCH, source_from_files,
};
use crate::store::{GateRow, GovernanceKind, PrincipalRow, Role};

type St = State<Arc<AppState>>;
type Body<T> = Result<ApiJson<T>, ApiError>;

fn store_err(e: crate::error::ServerError) -> ApiError {
    ApiError::unavailable(e.reason_code(), format!("the control store failed: {e}"))
}

/// A restrictive change was applied but could not be recorded: say so plainly.
fn applied_not_recorded(e: ApiError) -> ApiError {
    ApiError::unavailable(
        writ_model::ReasonCode::AppliedNotRecorded,
        format!(
            "the change is in force but could not be recorded in the ledger ({}); fix the ledger and repeat the call",
            e.message
        ),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPrincipal {
    pub id: PrincipalId,
    pub zone: ZoneId,
    /// Attributes policies may read (those the schema declares for the principal's type).
    #[serde(default)]
    pub attrs: Option<serde_json::Map<String, Value>>,
    /// A person's role (`human:` principals only): `admin`, `operator` or `auditor`.
    #[serde(default)]
    pub role: Option<Role>,
}

/// Refuses a registration policies could not use: attributes named `zone` (the registered zone
/// is `principal.zone`), a role for anyone but a person, and (when a bundle is active)
/// attributes that do not fit its schema.
fn check_registration(s: &AppState, row: &PrincipalRow, id: &PrincipalId) -> Result<(), ApiError> {
    if row.attrs.get("zone").is_some() {
        return Err(ApiError::bad_request(
            writ_model::ReasonCode::PrincipalAttrsInvalid,
            "`zone` is not an attribute: the registered zone (--zone) is principal.zone",
        ));
    }
    if row.role.is_some() && id.kind() != writ_model::PrincipalKind::Human {
        return Err(ApiError::bad_request(
            writ_model::ReasonCode::RoleNotForPrincipal,
            format!("{id} is not a person: only human: principals have a role"),
        ));
    }
    if let (Some(bundle), Some(entity)) = (s.bundles.current(), row.entity()) {
        writ_authorize::principal_entities(&bundle, id, Some(&entity)).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                writ_model::ReasonCode::PrincipalAttrsInvalid,
                e,
            )
        })?;
    }
    Ok(())
}

pub async fn add_principal(
    State(s): St,
    headers: HeaderMap,
    body: Body<NewPrincipal>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let admin = require(&s, &headers, Access::Admin)?;
    let ApiJson(p) = body?;
    let id = p.id.to_string();
    if s.store.read(|r| r.principals.contains_key(&id)) {
        return Err(ApiError::conflict(
            writ_model::ReasonCode::PrincipalExists,
            format!("{id} is already registered"),
        ));
    }
    let now = s.now();
    let row = PrincipalRow {
        id: id.clone(),
        zone: p.zone.to_string(),
        attrs: Value::Object(p.attrs.unwrap_or_default()),
        status: "active".into(),
        created_at: now,
        role: p.role,
    };
    check_registration(&s, &row, &p.id)?;
    let entry = PrincipalChanged {
        kind: Default::default(),
        v: ENTRY_VERSION,
        principal: id.clone(),
        zone: p.zone.to_string(),
        change: "added".into(),
        role: p
            .role
            .and_then(|r| serde_json::to_value(r).ok())
            .and_then(|r| r.as_str().map(str::to_owned)),
        by: admin.subject.clone(),
        at: now,
    };
    record(&s, &entry).await?;
    s.store.upsert_principal(&row).map_err(store_err)?;
    let token = issue_token(&s, Scope::Principal, &id, now)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"principal": id, "zone": p.zone, "token": token})),
    ))
}

fn issue_token(s: &AppState, scope: Scope, subject: &str, now: i64) -> Result<String, ApiError> {
    let token = new_token(scope).map_err(|e| {
        ApiError::unavailable(writ_model::ReasonCode::RandomnessUnavailable, e.to_string())
    })?;
    s.store
        .add_token(
            &token_hash(&token),
            &Caller {
                scope,
                subject: subject.to_owned(),
            },
            now,
        )
        .map_err(store_err)?;
    Ok(token)
}

pub async fn list_principals(State(s): St, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    require(&s, &headers, Access::Reader)?;
    let rows: Vec<_> = s.store.read(|r| r.principals.values().cloned().collect());
    Ok(Json(json!({"principals": rows})))
}

pub async fn revoke_principal(
    State(s): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let admin = require(&s, &headers, Access::Operator)?;
    let id: PrincipalId = id.parse().map_err(|e: writ_model::IdError| {
        ApiError::bad_request(writ_model::ReasonCode::PrincipalInvalid, e.to_string())
    })?;
    revoke_target(&s, &admin, Target::Principal(id)).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewGate {
    pub id: GateId,
    pub zone: ZoneId,
    /// Hex Ed25519 public key the gate signs attestations and receipts with.
    pub public_key: String,
}

pub async fn add_gate(
    State(s): St,
    headers: HeaderMap,
    body: Body<NewGate>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let admin = require(&s, &headers, Access::Admin)?;
    let ApiJson(g) = body?;
    let key: Option<[u8; 32]> = hex::decode(&g.public_key)
        .ok()
        .and_then(|b| b.try_into().ok());
    if key
        .and_then(|k| ed25519_dalek::VerifyingKey::from_bytes(&k).ok())
        .is_none()
    {
        return Err(ApiError::bad_request(
            writ_model::ReasonCode::GateKeyInvalid,
            "public_key must be a 32-byte Ed25519 public key in hex",
        ));
    }
    let id = g.id.to_string();
    if s.store.read(|r| r.gates.contains_key(&id)) {
        return Err(ApiError::conflict(
            writ_model::ReasonCode::GateExists,
            format!("{id} is already registered"),
        ));
    }
    let now = s.now();
    record(
        &s,
        &GateChanged {
            kind: Default::default(),
            v: ENTRY_VERSION,
            gate: id.clone(),
            zone: g.zone.to_string(),
            public_key: g.public_key.clone(),
            change: "added".into(),
            by: admin.subject.clone(),
            at: now,
        },
    )
    .await?;
    s.store
        .upsert_gate(&GateRow {
            id: id.clone(),
            zone: g.zone.to_string(),
            public_key: g.public_key.to_lowercase(),
            created_at: now,
        })
        .map_err(store_err)?;
    let token = issue_token(&s, Scope::Gate, &id, now)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"gate": id, "zone": g.zone, "token": token})),
    ))
}

pub async fn list_gates(State(s): St, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    require(&s, &headers, Access::Reader)?;
    let rows: Vec<_> = s.store.read(|r| r.gates.values().cloned().collect());
    Ok(Json(json!({"gates": rows})))
}

enum Target {
    Jti(String),
    Principal(PrincipalId),
    Zone(ZoneId),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationBody {
    #[serde(default)]
    pub jti: Option<String>,
    #[serde(default)]
    pub principal: Option<PrincipalId>,
    #[serde(default)]
    pub zone: Option<ZoneId>,
}

fn one_target(
    jti: Option<String>,
    principal: Option<PrincipalId>,
    zone: Option<ZoneId>,
) -> Result<Target, ApiError> {
    match (jti, principal, zone) {
        (Some(j), None, None) if !j.is_empty() && j.len() <= 128 => Ok(Target::Jti(j)),
        (None, Some(p), None) => Ok(Target::Principal(p)),
        (None, None, Some(z)) => Ok(Target::Zone(z)),
        _ => Err(ApiError::bad_request(
            writ_model::ReasonCode::TargetInvalid,
            "name exactly one of jti, principal or zone",
        )),
    }
}

pub async fn revoke(
    State(s): St,
    headers: HeaderMap,
    body: Body<RevocationBody>,
) -> Result<Json<Value>, ApiError> {
    let admin = require(&s, &headers, Access::Operator)?;
    let ApiJson(b) = body?;
    let target = one_target(b.jti, b.principal, b.zone)?;
    revoke_target(&s, &admin, target).await
}

async fn revoke_target(
    s: &AppState,
    admin: &Caller,
    target: Target,
) -> Result<Json<Value>, ApiError> {
    let now = s.now();
    let (kind, name, value) = match &target {
        Target::Jti(j) => (GovernanceKind::RevokedJti, "jti", j.clone()),
        Target::Principal(p) => (GovernanceKind::RevokedPrincipal, "principal", p.to_string()),
        Target::Zone(z) => (GovernanceKind::RevokedZone, "zone", z.to_string()),
    };
    s.store
        .set_governance(kind, &value, true, now)
        .map_err(store_err)?;
    if let Target::Principal(p) = &target {
        s.store
            .revoke_tokens_of(&p.to_string())
            .map_err(store_err)?;
        let row = s.store.read(|r| r.principals.get(&p.to_string()).cloned());
        if let Some(mut row) = row {
            row.status = "revoked".into();
            s.store.upsert_principal(&row).map_err(store_err)?;
        }
    }
    let mut event = writ_api::GovernanceEvent {
        target: Some(name.to_owned()),
        id: Some(value.clone()),
        on: None,
        at: now,
        principals: None,
    };
    if let Target::Zone(z) = &target {
        // Gates cannot know who is registered where: the event names them, and gates end
        // their executions as for a revoked principal.
        event.principals = Some(s.store.read(|r| r.principals_in_zone(z.as_str())));
    }
    let event = serde_json::to_value(event).unwrap_or_default();
    s.events.publish("revocation", event.clone());
    let index = record(
        s,
        &Revocation {
            kind: Default::default(),
            v: ENTRY_VERSION,
            target: GovernanceTarget::named(name, value.clone()).unwrap_or_default(),
            by: admin.subject.clone(),
            at: now,
        },
    )
    .await
    .map_err(applied_not_recorded)?;
    Ok(Json(json!({"revoked": event, "ledger_index": index})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarantineBody {
    #[serde(default)]
    pub principal: Option<PrincipalId>,
    #[serde(default)]
    pub zone: Option<ZoneId>,
    /// `true` (default) quarantines, `false` releases.
    #[serde(default = "yes")]
    pub on: bool,
}

fn yes() -> bool {
    true
}

pub async fn quarantine(
    State(s): St,
    headers: HeaderMap,
    body: Body<QuarantineBody>,
) -> Result<Json<Value>, ApiError> {
    let admin = require(&s, &headers, Access::Operator)?;
    let ApiJson(b) = body?;
    let (kind, name, value) = match one_target(None, b.principal, b.zone)? {
        Target::Principal(p) => (
            GovernanceKind::QuarantinedPrincipal,
            "principal",
            p.to_string(),
        ),
        Target::Zone(z) => (GovernanceKind::QuarantinedZone, "zone", z.to_string()),
        Target::Jti(_) => {
            return Err(ApiError::bad_request(
                writ_model::ReasonCode::TargetInvalid,
                "quarantine a principal or a zone",
            ));
        }
    };
    let now = s.now();
    let entry = Quarantine {
        kind: Default::default(),
        v: ENTRY_VERSION,
        target: GovernanceTarget::named(name, value.clone()).unwrap_or_default(),
        on: b.on,
        by: admin.subject.clone(),
        at: now,
    };
    let mut event = writ_api::GovernanceEvent {
        target: Some(name.to_owned()),
        id: Some(value.clone()),
        on: Some(b.on),
        at: now,
        principals: None,
    };
    // A zone's event names the principals registered in it that it withdraws (on) or gives
    // back (off: those now in good standing), as gates cannot know registrations.
    let zone_principals = |on: bool| {
        s.store.read(|r| {
            let mut ids = r.principals_in_zone(&value);
            if !on {
                ids.retain(|p| r.principal_withdrawn(p).is_none());
            }
            ids
        })
    };
    let index = if b.on {
        s.store
            .set_governance(kind, &value, true, now)
            .map_err(store_err)?;
        if kind == GovernanceKind::QuarantinedZone {
            event.principals = Some(zone_principals(true));
        }
        s.events.publish(
            "quarantine",
            serde_json::to_value(&event).unwrap_or_default(),
        );
        record(&s, &entry).await.map_err(applied_not_recorded)?
    } else {
        let index = record(&s, &entry).await?;
        s.store
            .set_governance(kind, &value, false, now)
            .map_err(store_err)?;
        if kind == GovernanceKind::QuarantinedZone {
            event.principals = Some(zone_principals(false));
        }
        s.events.publish(
            "quarantine",
            serde_json::to_value(&event).unwrap_or_default(),
        );
        index
    };
    Ok(Json(json!({"quarantine": event, "ledger_index": index})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KillSwitchBody {
    pub on: bool,
}

pub async fn kill_switch(
    State(s): St,
    headers: HeaderMap,
    body: Body<KillSwitchBody>,
) -> Result<Json<Value>, ApiError> {
    let admin = require(&s, &headers, Access::Operator)?;
    let ApiJson(b) = body?;
    let now = s.now();
    let entry = KillSwitch {
        kind: Default::default(),
        v: ENTRY_VERSION,
        on: b.on,
        by: admin.subject.clone(),
        at: now,
    };
    let event = serde_json::to_value(writ_api::GovernanceEvent {
        target: None,
        id: None,
        on: Some(b.on),
        at: now,
        principals: None,
    })
    .unwrap_or_default();
    let set = |on: bool| {
        s.store
            .set_setting(SETTING_KILL_SWITCH, if on { "on" } else { "off" })
            .map_err(store_err)
    };
    let index = if b.on {
        set(true)?;
        s.events.publish("kill_switch", event.clone());
        record(&s, &entry).await.map_err(applied_not_recorded)?
    } else {
        let index = record(&s, &entry).await?;
        set(false)?;
        s.events.publish("kill_switch", event.clone());
        index
    };
    Ok(Json(json!({"kill_switch": event, "ledger_index": index})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleBody {
    /// File name → text: `*.cedarschema`, `*.cedar`, `entities.json`, `bundle.sig`.
    pub files: BundleFiles,
}

fn bundle_error(e: &BundleError) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        e.reason_code(),
        e.to_string(),
    )
}

pub async fn bundle_validate(
    State(s): St,
    headers: HeaderMap,
    body: Body<BundleBody>,
) -> Result<Json<Value>, ApiError> {
    require(&s, &headers, Access::Operator)?;
    let ApiJson(b) = body?;
    let source = source_from_files(&b.files).map_err(|e| bundle_error(&e))?;
    let bundle = writ_authorize::compile(&source).map_err(|e| bundle_error(&e))?;
    Ok(Json(
        json!({"valid": true, "bundle_sha256": bundle.digest(), "engine": bundle.engine(), "policies": bundle.len(), "warnings": bundle.warnings()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulateBody {
    pub files: BundleFiles,
    /// Requests written by the caller; or, with `last`, none.
    #[serde(default)]
    pub requests: Vec<AuthorizeRequest>,
    /// Replay the last N recorded requests instead (see `simulate.rs`): read back whole from
    /// the ledger and the evidence store, each reported with its recorded decision.
    #[serde(default)]
    pub last: Option<u32>,
    /// The time to decide at (Unix seconds); the server's clock when absent.
    #[serde(default)]
    pub now: Option<i64>,
}

pub async fn bundle_simulate(
    State(s): St,
    headers: HeaderMap,
    body: Body<SimulateBody>,
) -> Result<Json<Value>, ApiError> {
    require(&s, &headers, Access::Operator)?;
    let ApiJson(b) = body?;
    if b.requests.len() > 10_000 {
        return Err(ApiError::bad_request(
            writ_model::ReasonCode::TooManyRequests,
            "simulate at most 10,000 requests per call",
        ));
    }
    if let Some(last) = b.last {
        if !b.requests.is_empty() || last == 0 || last > crate::simulate::MAX_LAST {
            return Err(ApiError::bad_request(
                writ_model::ReasonCode::QueryInvalid,
                format!(
                    "send either `requests` or `last` (1 to {}), not both",
                    crate::simulate::MAX_LAST
                ),
            ));
        }
        let source = source_from_files(&b.files).map_err(|e| bundle_error(&e))?;
        let bundle = writ_authorize::compile(&source).map_err(|e| bundle_error(&e))?;
        // What was recorded before the call is replayed.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), s.execs.caught_up()).await;
        let st = Arc::clone(&s);
        let answer = tokio::task::spawn_blocking(move || {
            crate::simulate::recorded(&st, &bundle, last, b.now)
        })
        .await
        .map_err(|_| {
            ApiError::unavailable(
                writ_model::ReasonCode::LedgerUnavailable,
                "the ledger reader stopped; retry",
            )
        })??;
        return Ok(Json(answer));
    }
    let source = source_from_files(&b.files).map_err(|e| bundle_error(&e))?;
    let bundle = writ_authorize::compile(&source).map_err(|e| bundle_error(&e))?;
    let now = b.now.unwrap_or_else(|| s.now());
    let records: Vec<_> = b
        .requests
        .iter()
        .map(|r| writ_authorize::decide(&bundle, r, now))
        .collect();
    Ok(Json(
        json!({"bundle_sha256": bundle.digest(), "decisions": records}),
    ))
}

pub async fn bundle_activate(
    State(s): St,
    headers: HeaderMap,
    body: Body<BundleBody>,
) -> Result<Json<Value>, ApiError> {
    let admin = require(&s, &headers, Access::Operator)?;
    let ApiJson(b) = body?;
    let source = source_from_files(&b.files).map_err(|e| bundle_error(&e))?;
    // Check everything before recording: a bad bundle leaves the previous one active.
    let checked =
        writ_authorize::activate(&source, &s.trusted_keys()).map_err(|e| bundle_error(&e))?;
    let now = s.now();
    let index = record(
        &s,
        &PolicyActivated {
            kind: Default::default(),
            v: ENTRY_VERSION,
            bundle_sha256: checked.digest().to_owned(),
            engine: checked.engine().to_owned(),
            signed_by: checked.signed_by().to_owned(),
            by: admin.subject.clone(),
            at: now,
        },
    )
    .await?;
    let active = s
        .bundles
        .load(&source, &s.trusted_keys())
        .map_err(|e| bundle_error(&e))?;
    let saved = serde_json::to_string(&b.files).map_err(|e| {
        ApiError::bad_request(writ_model::ReasonCode::BundleUnencodable, e.to_string())
    })?;
    s.store
        .set_setting(SETTING_ACTIVE_BUNDLE, &saved)
        .map_err(store_err)?;
    s.events.publish(
        "policy",
        json!({"bundle_sha256": active.digest(), "at": now}),
    );
    Ok(Json(
        json!({"activated": true, "bundle_sha256": active.digest(), "engine": active.engine(), "signed_by": active.signed_by(), "ledger_index": index}),
    ))
}

pub async fn bundle_active(State(s): St, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    require(&s, &headers, Access::Reader)?;
    // The files as activated (schema, policies, entities, signature), for reading them.
    let files: Value = s
        .store
        .setting(SETTING_ACTIVE_BUNDLE)
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    match s.bundles.current() {
        Some(b) => Ok(Json(
            json!({"bundle_sha256": b.digest(), "engine": b.engine(), "signed_by": b.signed_by(), "policies": b.len(), "files": files}),
        )),
        None => Err(ApiError::not_found(
            writ_model::ReasonCode::NoActiveBundle,
            "no policy bundle is active",
        )),
    }
}

// ---------------------------------------------------------------- trusted bundle keys

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustBody {
    /// A bundle-verifying public key: 64 hex characters (a `.pub` file of `writ policy keygen`).
    pub key: String,
}

fn key_json(k: &writ_authorize::BundleVerifyingKey) -> Value {
    json!({"kid": k.kid(), "key": k.to_hex()})
}

fn parse_trust_key(text: &str) -> Result<writ_authorize::BundleVerifyingKey, ApiError> {
    writ_authorize::BundleVerifyingKey::from_hex(text)
        .map_err(|e| ApiError::bad_request(e.reason_code(), e.to_string()))
}

/// `GET /v1/admin/trust`: the bundle-verifying keys trusted now.
pub async fn trust_list(State(s): St, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    require(&s, &headers, Access::Admin)?;
    let keys: Vec<Value> = s.trusted_keys().iter().map(key_json).collect();
    Ok(Json(json!({ "keys": keys })))
}

/// `POST /v1/admin/trust`: trust one more bundle-verifying key (recorded, then in force).
pub async fn trust_add(
    State(s): St,
    headers: HeaderMap,
    body: Body<TrustBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let admin = require(&s, &headers, Access::Admin)?;
    let ApiJson(b) = body?;
    let key = parse_trust_key(&b.key)?;
    let exists = || {
        ApiError::conflict(
            writ_model::ReasonCode::TrustKeyExists,
            format!("key {} is already trusted", key.kid()),
        )
    };
    if s.trusted_keys().contains(&key) {
        return Err(exists());
    }
    let now = s.now();
    let index = record(
        &s,
        &TrustChanged {
            kind: Default::default(),
            v: ENTRY_VERSION,
            kid: key.kid(),
            key: key.to_hex(),
            change: "added".into(),
            by: admin.subject.clone(),
            at: now,
        },
    )
    .await?;
    s.change_trust(|keys| {
        if !keys.contains(&key) {
            keys.push(key.clone());
        }
        Ok(())
    })
    .map_err(store_err)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"trusted": key_json(&key), "ledger_index": index})),
    ))
}

/// `POST /v1/admin/trust/{kid}/remove`: stop trusting a key (in force, then recorded). The key
/// that signed the active bundle stays until another key's bundle is active: without it the
/// server could not load its own active bundle again at start.
pub async fn trust_remove(
    State(s): St,
    headers: HeaderMap,
    Path(kid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let admin = require(&s, &headers, Access::Admin)?;
    let unknown = || {
        ApiError::not_found(
            writ_model::ReasonCode::TrustKeyUnknown,
            format!("no trusted key has kid {kid:?}; list them with `writ policy trust list`"),
        )
    };
    if s.bundles.current().is_some_and(|b| b.signed_by() == kid) {
        return Err(ApiError::conflict(
            writ_model::ReasonCode::TrustKeyInUse,
            format!(
                "key {kid} signed the active bundle: activate a bundle signed by another trusted key first (`writ policy sign` then `writ policy activate`)"
            ),
        ));
    }
    let removed = s
        .change_trust(|keys| {
            let before = keys.len();
            let found = keys.iter().find(|k| k.kid() == kid).cloned();
            keys.retain(|k| k.kid() != kid);
            Ok(found.filter(|_| keys.len() < before))
        })
        .map_err(store_err)?
        .ok_or_else(unknown)?;
    let now = s.now();
    let index = record(
        &s,
        &TrustChanged {
            kind: Default::default(),
            v: ENTRY_VERSION,
            kid: removed.kid(),
            key: removed.to_hex(),
            change: "removed".into(),
            by: admin.subject.clone(),
            at: now,
        },
    )
    .await
    .map_err(applied_not_recorded)?;
    Ok(Json(
        json!({"removed": key_json(&removed), "ledger_index": index}),
    ))
}
