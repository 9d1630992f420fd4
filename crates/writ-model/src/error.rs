use thiserror::Error;

/// Canonical JSON could not be produced or the input was not canonical.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CanonicalError {
    #[error("invalid JSON: {0}")]
    Parse(String),
    #[error("cannot encode as canonical JSON: {0}")]
    Encode(String),
    #[error(
        "JSON is not in RFC 8785 canonical form (first difference at byte {offset}): sort object keys, drop whitespace, write numbers and strings canonically"
    )]
    NotCanonical { offset: usize },
    #[error(transparent)]
    Number(#[from] crate::number::NumberError),
}

impl CanonicalError {
    /// A short stable code for metrics and API responses.
    pub fn reason_code(&self) -> crate::ReasonCode {
        match self {
            CanonicalError::Parse(_) => crate::ReasonCode::JsonInvalid,
            CanonicalError::Encode(_) => crate::ReasonCode::JsonUnencodable,
            CanonicalError::NotCanonical { .. } => crate::ReasonCode::JsonNotCanonical,
            CanonicalError::Number(e) => e.reason_code(),
        }
    }
}

/// An identifier did not have the expected form.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum IdError {
    #[error("invalid {kind} id {value:?}: expected {expected}")]
    Invalid {
        kind: &'static str,
        value: String,
        expected: &'static str,
    },
}
