//! Request extractors that turn every bad input into an [`ApiError`], never a panic or a 5xx.

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, MissingJsonContentType};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Like `axum::Json`, but rejections become `{code, message}` bodies with stable codes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(json_rejection(&JsonRejection::from(
                MissingJsonContentType::default(),
            )));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| json_rejection(&JsonRejection::BytesRejection(e)))?;
        // The common case parses once; a body that fails is parsed again by axum, whose error
        // names the path of the bad field.
        match serde_json::from_slice(&bytes) {
            // A number JSON readers disagree on (beyond 2^53, more digits than a double holds)
            // would be decided, hashed and run as different values: refuse it (issue 12).
            Ok(v) => match writ_model::number::check_json_numbers(&bytes) {
                Ok(()) => Ok(ApiJson(v)),
                Err(e) => Err(ApiError::bad_request(e.reason_code(), e.to_string())),
            },
            Err(_) => match axum::Json::<T>::from_bytes(&bytes) {
                Ok(axum::Json(v)) => Ok(ApiJson(v)),
                Err(rejection) => Err(json_rejection(&rejection)),
            },
        }
    }
}

/// Whether the request says its body is JSON, as `axum::Json` decides it.
fn json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| {
            m.type_() == "application"
                && (m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"))
        })
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            writ_model::ReasonCode::ContentTypeInvalid,
            "send the body as JSON with the header `Content-Type: application/json`",
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
            writ_model::ReasonCode::JsonInvalid,
            format!("the body is not valid JSON: {}", e.body_text()),
        ),
        JsonRejection::JsonDataError(e) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            writ_model::ReasonCode::JsonSchemaInvalid,
            format!(
                "the JSON does not have the expected fields: {} (see /v1/openapi.json)",
                e.body_text()
            ),
        ),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                writ_model::ReasonCode::BodyTooLarge,
                "the request body is larger than the server accepts; send large arguments by digest",
            )
        }
        other => ApiError::bad_request(
            writ_model::ReasonCode::BodyUnreadable,
            format!("the request body could not be read: {}", other.body_text()),
        ),
    }
}
