//! The web console (`ui/` at the repository root), embedded in the binary by `build.rs`.
//!
//! `/` redirects to `/ui/`; `/ui/` and every path under it that is not an asset answer the
//! shell page (the console routes in the browser: `/ui/health`, later `/ui/proof/…`); assets
//! live under `/ui/assets/{build}/…`, where `build` is a digest of every asset, so they are
//! cached for good (`immutable`) and a new build changes every URL. Each asset is stored
//! gzipped too and sent that way when the client accepts it. Every answer under `/ui/` carries
//! a strict Content-Security-Policy (no inline script or style, nothing from elsewhere).
//!
//! The console signs in with a person's bearer token; [`whoami`] tells it whose token it holds.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::auth::{Access, Scope};
use crate::error::ApiError;
use crate::guard::require;
use crate::state::AppState;

/// One embedded file: its path under `ui/`, media type, bytes and gzipped bytes.
pub struct Asset {
    pub path: &'static str,
    pub mime: &'static str,
    pub body: &'static [u8],
    pub gzip: &'static [u8],
}

mod embedded {
    use super::Asset;
    include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));
}

pub use embedded::BUILD;

/// The Content-Security-Policy of every answer under `/ui/`.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The embedded assets (not the shell), for tests and the first-load budget.
pub fn assets() -> &'static [Asset] {
    embedded::ASSETS
}

/// The console's routes; merged into the API router (they are pages, not API operations, so
/// the OpenAPI document does not list them).
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(to_console))
        .route("/ui", get(to_console))
        .route("/ui/", get(shell))
        .route("/ui/assets/{build}/{*path}", get(asset))
        .route("/ui/{*page}", get(shell))
}

async fn to_console() -> Response {
    let mut resp = StatusCode::PERMANENT_REDIRECT.into_response();
    resp.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/ui/"));
    resp
}

/// Whether `Accept-Encoding` admits gzip (a `gzip` or `*` coding whose q is not 0).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            let mut it = part.split(';');
            let coding = it.next().unwrap_or("").trim();
            let q_zero = it.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !q_zero
        })
}

fn serve(asset: &Asset, headers: &HeaderMap, cache: &'static str) -> Response {
    let gzip = accepts_gzip(headers);
    let body = if gzip { asset.gzip } else { asset.body };
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.mime));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    secure(resp)
}

/// Adds the console's security headers.
fn secure(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    resp
}

fn missing(what: &str) -> Response {
    secure(
        ApiError::not_found(
            writ_model::ReasonCode::AssetNotFound,
            format!("no console asset {what:?} in this build; reload /ui/"),
        )
        .into_response(),
    )
}

async fn shell(headers: HeaderMap) -> Response {
    match &embedded::SHELL {
        Some(s) => serve(s, &headers, "no-cache"),
        None => missing("index.html"),
    }
}

async fn asset(Path((build, path)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if build != BUILD {
        return missing(&path);
    }
    match embedded::ASSETS.iter().find(|a| a.path == path) {
        Some(a) => serve(a, &headers, "public, max-age=31536000, immutable"),
        None => missing(&path),
    }
}

/// `GET /v1/whoami`: whose token this is, its kind and role, and whether it may sign in to the
/// console (a person with a role, or the admin token; never an agent, service or gate).
pub async fn whoami(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = require(&s, &headers, Access::Authenticated)?;
    let (kind, role) = match caller.scope {
        Scope::Admin => ("admin", Some("admin")),
        Scope::Gate => ("gate", None),
        Scope::Principal => {
            let kind = caller
                .subject
                .split_once(':')
                .map_or("principal", |(k, _)| match k {
                    "human" => "human",
                    "agent" => "agent",
                    "service" => "service",
                    _ => "principal",
                });
            let role = crate::guard::person_role(&s, &caller).map(crate::store::Role::as_str);
            (kind, role)
        }
    };
    let governs = crate::guard::governs(&s, &caller);
    Ok(Json(json!({
        "subject": caller.subject,
        "kind": kind,
        "role": role,
        "console": role.is_some(),
        "governs": governs,
    })))
}
