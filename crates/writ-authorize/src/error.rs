//! Errors of bundle loading, signing and activation.

use std::fmt;

use thiserror::Error;

/// One problem found in a bundle, located as precisely as Cedar allows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BundleDiagnostic {
    /// The bundle file the problem is in, when known.
    pub file: Option<String>,
    /// 1-based line and column in that file, when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The policy id, for policy problems.
    pub policy: Option<String>,
    /// Cedar's message.
    pub message: String,
    /// Cedar's suggested fix, when it has one.
    pub help: Option<String>,
}

impl fmt::Display for BundleDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line, self.column) {
            (Some(file), Some(line), Some(col)) => write!(f, "{file}:{line}:{col}: ")?,
            (Some(file), Some(line), None) => write!(f, "{file}:{line}: ")?,
            (Some(file), None, _) => write!(f, "{file}: ")?,
            _ => {}
        }
        if let Some(p) = &self.policy {
            write!(f, "policy `{p}`: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(h) = &self.help {
            write!(f, " (help: {h})")?;
        }
        Ok(())
    }
}

/// Joins diagnostics one per line, for error messages.
fn lines(d: &[BundleDiagnostic]) -> String {
    d.iter()
        .map(|d| format!("\n  {d}"))
        .collect::<Vec<_>>()
        .concat()
}

/// A bundle could not be loaded, verified or activated. A refused bundle never replaces the
/// active one.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BundleError {
    #[error("cannot read bundle: {0}")]
    Io(String),
    #[error(
        "bundle has no schema: add a *.cedarschema file (the Writ default is writ-authorize's DEFAULT_SCHEMA)"
    )]
    NoSchema,
    #[error("bundle file {file} is not UTF-8: save it as UTF-8 text")]
    NotUtf8 { file: String },
    #[error("bundle schema does not parse:{}", lines(.0))]
    Schema(Vec<BundleDiagnostic>),
    #[error("bundle policies do not parse:{}", lines(.0))]
    Parse(Vec<BundleDiagnostic>),
    #[error("bundle policies fail strict validation against the schema:{}", lines(.0))]
    Validation(Vec<BundleDiagnostic>),
    #[error("bundle entities are invalid:{}", lines(.0))]
    Entities(Vec<BundleDiagnostic>),
    #[error("policy id `{id}` is used twice ({first} and {second}): give each policy a unique @id")]
    DuplicatePolicyId {
        id: String,
        first: String,
        second: String,
    },
    #[error(
        "{file}: templates are not supported in bundles: write the policy with concrete entities"
    )]
    Template { file: String },
    #[error(
        "no trusted bundle key: pass --trust KEY.pub to check the bundle's signature, or --allow-unsigned while authoring"
    )]
    NoTrustedKey,
    #[error("bundle is not signed: run `writ policy sign DIR --key KEY` and load it with --trust")]
    Unsigned,
    #[error("bundle signature is malformed: {0}; sign the bundle again")]
    SignatureMalformed(String),
    #[error(
        "bundle signature is for digest {signed} but the bundle's digest is {actual}: the bundle changed after signing; review and sign it again"
    )]
    DigestMismatch { signed: String, actual: String },
    #[error(
        "bundle is signed by key {kid}, which is not trusted: pass its public key with --trust"
    )]
    UntrustedKey { kid: String },
    #[error(
        "bundle signature does not verify with key {kid}: the bundle or its signature was tampered with"
    )]
    BadSignature { kid: String },
    #[error("internal error while compiling the bundle: {0}")]
    Internal(String),
}

impl BundleError {
    /// A short stable code for metrics, audit records and API responses.
    pub fn reason_code(&self) -> writ_model::ReasonCode {
        match self {
            BundleError::Io(_) => writ_model::ReasonCode::BundleIo,
            BundleError::NoSchema => writ_model::ReasonCode::BundleNoSchema,
            BundleError::NotUtf8 { .. } => writ_model::ReasonCode::BundleNotUtf8,
            BundleError::Schema(_) => writ_model::ReasonCode::BundleSchemaInvalid,
            BundleError::Parse(_) => writ_model::ReasonCode::BundleParseError,
            BundleError::Validation(_) => writ_model::ReasonCode::BundleValidationFailed,
            BundleError::Entities(_) => writ_model::ReasonCode::BundleEntitiesInvalid,
            BundleError::DuplicatePolicyId { .. } => {
                writ_model::ReasonCode::BundleDuplicatePolicyId
            }
            BundleError::Template { .. } => writ_model::ReasonCode::BundleTemplateUnsupported,
            BundleError::NoTrustedKey => writ_model::ReasonCode::BundleNoTrustedKey,
            BundleError::Unsigned => writ_model::ReasonCode::BundleUnsigned,
            BundleError::SignatureMalformed(_) => writ_model::ReasonCode::BundleSignatureMalformed,
            BundleError::DigestMismatch { .. } => writ_model::ReasonCode::BundleDigestMismatch,
            BundleError::UntrustedKey { .. } => writ_model::ReasonCode::BundleKeyUntrusted,
            BundleError::BadSignature { .. } => writ_model::ReasonCode::BundleSignatureInvalid,
            BundleError::Internal(_) => writ_model::ReasonCode::BundleInternal,
        }
    }

    /// The located diagnostics, for errors that carry them.
    pub fn diagnostics(&self) -> &[BundleDiagnostic] {
        match self {
            BundleError::Schema(d)
            | BundleError::Parse(d)
            | BundleError::Validation(d)
            | BundleError::Entities(d) => d,
            _ => &[],
        }
    }
}

/// A signing or verifying key could not be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum KeyError {
    #[error(
        "invalid bundle signing key: expected 64 hex characters (an Ed25519 seed written by `writ policy keygen`)"
    )]
    SigningKey,
    #[error(
        "invalid bundle verifying key: expected 64 hex characters (the .pub file written by `writ policy keygen`)"
    )]
    VerifyingKey,
    #[error(
        "this is a secret bundle-signing key, not a public one: pass the .pub file `writ policy keygen` wrote beside it (and keep the secret key off servers)"
    )]
    SecretKeyGiven,
}

impl KeyError {
    pub fn reason_code(&self) -> writ_model::ReasonCode {
        match self {
            KeyError::SigningKey => writ_model::ReasonCode::SigningKeyInvalid,
            KeyError::VerifyingKey => writ_model::ReasonCode::VerifyingKeyInvalid,
            KeyError::SecretKeyGiven => writ_model::ReasonCode::SecretKeyGiven,
        }
    }
}

/// A policy test file could not be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TestFileError {
    #[error("invalid policy test file: {0}; see examples/policy/default/tests.json for the format")]
    Invalid(String),
}

impl TestFileError {
    pub fn reason_code(&self) -> writ_model::ReasonCode {
        match self {
            TestFileError::Invalid(_) => writ_model::ReasonCode::PolicyTestsInvalid,
        }
    }
}
