//! JWS compact serialization (RFC 7515), written by hand so that every rule is visible:
//! exactly three segments, strict base64url, the header pinned before any key is touched.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::error::VerifyError;

/// The only `alg` a writ may carry.
pub const ALG: &str = "EdDSA";
/// The only `typ` a writ may carry.
pub const TYP: &str = "writ+jwt";
/// Writs longer than this are refused before decoding.
pub const MAX_WRIT_LEN: usize = 16 * 1024;

/// The protected header: exactly `{"alg":"EdDSA","typ":"writ+jwt","kid":KID}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub alg: String,
    pub typ: String,
    pub kid: String,
}

/// A JWS split into its parts, signature not yet checked.
pub(crate) struct Parts<'a> {
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the bytes that are signed.
    pub signing_input: &'a str,
    pub header: Header,
    pub payload_b64: &'a str,
    pub signature: [u8; 64],
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn unb64(segment: &str, what: &str) -> Result<Vec<u8>, VerifyError> {
    URL_SAFE_NO_PAD.decode(segment).map_err(|e| {
        VerifyError::Malformed(format!("{what} is not base64url without padding: {e}"))
    })
}

/// Splits `token` and checks the header. `alg` and `typ` are pinned here, before any key
/// is looked up, so `alg: none` and HMAC-with-the-public-key tricks never reach a key.
pub(crate) fn split(token: &str) -> Result<Parts<'_>, VerifyError> {
    if token.len() > MAX_WRIT_LEN {
        return Err(VerifyError::TooLarge {
            limit: MAX_WRIT_LEN,
        });
    }
    let mut segs = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (segs.next(), segs.next(), segs.next(), segs.next())
    else {
        return Err(VerifyError::Malformed(
            "expected three segments HEADER.PAYLOAD.SIGNATURE".into(),
        ));
    };
    let header_bytes = unb64(h, "header")?;
    let header = parse_header(&header_bytes)?;
    let sig = unb64(s, "signature")?;
    let signature: [u8; 64] = sig.try_into().map_err(|_| VerifyError::BadSignature)?;
    let signing_input = token.get(..h.len() + 1 + p.len()).unwrap_or_default();
    Ok(Parts {
        signing_input,
        header,
        payload_b64: p,
        signature,
    })
}

fn parse_header(bytes: &[u8]) -> Result<Header, VerifyError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| VerifyError::Malformed(format!("header is not JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| VerifyError::Malformed("header is not a JSON object".into()))?;
    match obj.get("alg") {
        Some(serde_json::Value::String(a)) if a == ALG => {}
        Some(serde_json::Value::String(a)) if a.eq_ignore_ascii_case("none") => {
            return Err(VerifyError::AlgNone);
        }
        Some(serde_json::Value::String(a)) => return Err(VerifyError::AlgNotAllowed(a.clone())),
        Some(other) => return Err(VerifyError::AlgNotAllowed(other.to_string())),
        None => return Err(VerifyError::AlgNotAllowed(String::new())),
    }
    match obj.get("typ") {
        Some(serde_json::Value::String(t)) if t == TYP => {}
        Some(serde_json::Value::String(t)) => return Err(VerifyError::BadTyp(t.clone())),
        Some(other) => return Err(VerifyError::BadTyp(other.to_string())),
        None => return Err(VerifyError::BadTyp(String::new())),
    }
    if let Some(extra) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "alg" | "typ" | "kid"))
    {
        return Err(VerifyError::BadHeader(format!(
            "unexpected header parameter {extra:?}: a writ header holds only alg, typ and kid"
        )));
    }
    // Strict parse: catches duplicate members and a non-string kid.
    serde_json::from_slice::<Header>(bytes)
        .map_err(|e| VerifyError::BadHeader(format!("kid must be a string: {e}")))
}

/// Decodes a writ without verifying anything but its form: for `writ inspect`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnverifiedWrit {
    pub header: serde_json::Value,
    pub claims: serde_json::Value,
}

/// Decodes header and claims of `token` as JSON without checking the signature or any
/// claim. Never use the result to decide anything.
pub fn decode_unverified(token: &str) -> Result<UnverifiedWrit, VerifyError> {
    if token.len() > MAX_WRIT_LEN {
        return Err(VerifyError::TooLarge {
            limit: MAX_WRIT_LEN,
        });
    }
    let segs: Vec<&str> = token.split('.').collect();
    let [h, p, s] = segs.as_slice() else {
        return Err(VerifyError::Malformed(
            "expected three segments HEADER.PAYLOAD.SIGNATURE".into(),
        ));
    };
    unb64(s, "signature")?;
    let json = |seg: &str, what: &str| -> Result<serde_json::Value, VerifyError> {
        let bytes = unb64(seg, what)?;
        let v: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| VerifyError::Malformed(format!("{what} is not JSON: {e}")))?;
        if v.is_object() {
            Ok(v)
        } else {
            Err(VerifyError::Malformed(format!(
                "{what} is not a JSON object"
            )))
        }
    };
    Ok(UnverifiedWrit {
        header: json(h, "header")?,
        claims: json(p, "payload")?,
    })
}
