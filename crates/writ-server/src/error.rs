//! API errors: every failure reaches the caller as `{code, message}` with a 4xx or 503 status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use writ_model::ReasonCode;

/// An error answered by the API. `code` is a short stable reason code; `message` says what to do.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ReasonCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ReasonCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(code: ReasonCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ReasonCode::Unauthenticated,
            message,
        )
    }
    pub fn forbidden(code: ReasonCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }
    pub fn not_found(code: ReasonCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }
    pub fn conflict(code: ReasonCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
    /// The control plane cannot decide safely right now (fail closed).
    pub fn unavailable(code: ReasonCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = writ_api::ErrorBody::new(self.code, &self.message);
        let mut resp = (self.status, Json(body)).into_response();
        resp.extensions_mut()
            .insert(crate::access_log::ErrorReason {
                code: self.code,
                detail: self.status.is_server_error().then(|| self.message.clone()),
            });
        resp
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

/// Errors of the server's own storage and startup.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("control store: {0}")]
    Store(#[from] rusqlite::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Schema(#[from] writ_ledger::SchemaError),
}

impl ServerError {
    pub fn reason_code(&self) -> writ_model::ReasonCode {
        match self {
            ServerError::Store(_) => writ_model::ReasonCode::StoreFailed,
            ServerError::Io(_) => writ_model::ReasonCode::IoFailed,
            ServerError::Config(_) => writ_model::ReasonCode::ConfigInvalid,
            ServerError::Schema(e) => e.reason_code(),
        }
    }
}
