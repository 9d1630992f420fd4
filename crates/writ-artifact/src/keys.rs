//! Signing keys, key rotation with overlap, and the JWKS gates verify against.
//!
//! Key ids are RFC 7638 JWK thumbprints (base64url SHA-256 of `{"crv","kty","x"}`), so the
//! same key always has the same id and anyone can recompute it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use writ_model::ed25519::Ed25519Signing;

use crate::error::KeyError;

/// An Ed25519 writ signing key and its key id.
#[derive(Clone)]
pub struct WritKey {
    signing: Arc<Ed25519Signing>,
    kid: String,
}

impl std::fmt::Debug for WritKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WritKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl WritKey {
    /// A fresh key from the operating system's randomness.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Randomness(e.to_string()))?;
        Ok(Self::from_seed(&seed))
    }

    /// The key with this 32-byte Ed25519 seed (RFC 8032 private key).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let signing = Ed25519Signing::from_seed(seed);
        let kid = thumbprint(&signing.key().verifying_key());
        Self {
            signing: Arc::new(signing),
            kid,
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.key().verifying_key()
    }

    /// The public JWK (OKP/Ed25519, RFC 8037).
    pub fn public_jwk(&self) -> Jwk {
        Jwk::from_verifying_key(&self.verifying_key())
    }

    pub(crate) fn sign(&self, msg: &[u8]) -> Signature {
        Signature::from_bytes(&self.signing.sign(msg))
    }

    /// Writes the key as a private JWK to a new file readable only by its owner (mode 0600).
    /// Refuses to overwrite an existing file.
    pub fn write_file(&self, path: &Path) -> Result<(), KeyError> {
        use std::io::Write as _;
        let io = |action, source| KeyError::Io {
            action,
            path: path.display().to_string(),
            source,
        };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut file = opts.open(path).map_err(|e| io("create", e))?;
        let jwk = PrivateJwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: URL_SAFE_NO_PAD.encode(self.verifying_key().as_bytes()),
            d: URL_SAFE_NO_PAD.encode(self.signing.key().to_bytes()),
            kid: self.kid.clone(),
        };
        let body = serde_json::to_vec_pretty(&jwk).map_err(|e| KeyError::BadKeyFile {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        file.write_all(&body).map_err(|e| io("write", e))?;
        file.sync_all().map_err(|e| io("sync", e))
    }

    /// Reads a key written by [`WritKey::write_file`]; refuses files that group or others
    /// can read or write.
    pub fn read_file(path: &Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|source| KeyError::Io {
            action: "stat",
            path: shown.clone(),
            source,
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyError::InsecureKeyFile { path: shown, mode });
            }
        }
        #[cfg(not(unix))]
        let _ = meta;
        let bytes = std::fs::read(path).map_err(|source| KeyError::Io {
            action: "read",
            path: shown.clone(),
            source,
        })?;
        let bad = |detail: String| KeyError::BadKeyFile {
            path: shown.clone(),
            detail,
        };
        let jwk: PrivateJwk = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
            return Err(bad("expected an OKP/Ed25519 private JWK".into()));
        }
        let d = URL_SAFE_NO_PAD
            .decode(&jwk.d)
            .map_err(|e| bad(format!("d: {e}")))?;
        let seed: [u8; 32] = d.try_into().map_err(|_| bad("d must be 32 bytes".into()))?;
        let key = Self::from_seed(&seed);
        if URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()) != jwk.x {
            return Err(bad("x does not match d".into()));
        }
        Ok(key)
    }
}

#[derive(Serialize, Deserialize)]
struct PrivateJwk {
    kty: String,
    crv: String,
    x: String,
    d: String,
    kid: String,
}

/// RFC 7638 thumbprint of an Ed25519 public key: base64url(SHA-256 of
/// `{"crv":"Ed25519","kty":"OKP","x":X}`).
pub fn thumbprint(key: &VerifyingKey) -> String {
    let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
    let members = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(writ_model::digest::sha256(members.as_bytes()))
}

/// A public key as published (RFC 7517 / RFC 8037).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

impl Jwk {
    pub fn from_verifying_key(key: &VerifyingKey) -> Self {
        Self {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: URL_SAFE_NO_PAD.encode(key.as_bytes()),
            kid: thumbprint(key),
            alg: Some("EdDSA".into()),
            use_: Some("sig".into()),
        }
    }

    /// The Ed25519 key, if this JWK is a usable OKP/Ed25519 signature key.
    pub fn verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        let bad = |detail: &str| KeyError::BadJwk {
            kid: self.kid.clone(),
            detail: detail.to_owned(),
        };
        if self.kty != "OKP" || self.crv != "Ed25519" {
            return Err(bad("not an OKP/Ed25519 key"));
        }
        if self.alg.as_deref().is_some_and(|a| a != "EdDSA") {
            return Err(bad("alg is not EdDSA"));
        }
        if self.use_.as_deref().is_some_and(|u| u != "sig") {
            return Err(bad("use is not sig"));
        }
        let x = URL_SAFE_NO_PAD
            .decode(&self.x)
            .map_err(|_| bad("x is not base64url without padding"))?;
        let x: [u8; 32] = x.try_into().map_err(|_| bad("x must be 32 bytes"))?;
        let key =
            VerifyingKey::from_bytes(&x).map_err(|_| bad("x is not a valid Ed25519 point"))?;
        if key.is_weak() {
            return Err(bad(
                "x is a small-order point, which can verify forged signatures",
            ));
        }
        Ok(key)
    }
}

/// A JSON Web Key Set (`GET /.well-known/jwks.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// The keys a verifier trusts, by key id.
#[derive(Debug, Clone, Default)]
pub struct VerificationKeys {
    keys: HashMap<String, VerifyingKey>,
}

impl VerificationKeys {
    /// Keys from a parsed JWKS. Keys of other types (RSA, EC, …) are skipped; an
    /// OKP/Ed25519 key that is broken, or a duplicate key id, makes the whole set invalid.
    pub fn from_jwks(jwks: &Jwks) -> Result<Self, KeyError> {
        let mut keys = HashMap::new();
        for jwk in &jwks.keys {
            if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
                continue;
            }
            if jwk.kid.is_empty() {
                return Err(KeyError::BadJwks("every key needs a kid".into()));
            }
            let key = jwk.verifying_key()?;
            if keys.insert(jwk.kid.clone(), key).is_some() {
                return Err(KeyError::DuplicateKid(jwk.kid.clone()));
            }
        }
        Ok(Self { keys })
    }

    /// Keys from JWKS JSON bytes (untrusted input).
    pub fn from_jwks_json(bytes: &[u8]) -> Result<Self, KeyError> {
        #[derive(Deserialize)]
        struct Loose {
            keys: Vec<serde_json::Value>,
        }
        let loose: Loose =
            serde_json::from_slice(bytes).map_err(|e| KeyError::BadJwks(e.to_string()))?;
        let mut jwks = Jwks::default();
        for v in loose.keys {
            let is_okp = v.get("kty").and_then(|k| k.as_str()) == Some("OKP");
            if !is_okp {
                continue;
            }
            let jwk: Jwk =
                serde_json::from_value(v).map_err(|e| KeyError::BadJwks(e.to_string()))?;
            jwks.keys.push(jwk);
        }
        Self::from_jwks(&jwks)
    }

    /// A set holding exactly `key`.
    pub fn single(key: VerifyingKey) -> Self {
        let mut keys = HashMap::new();
        keys.insert(thumbprint(&key), key);
        Self { keys }
    }

    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.get(kid)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The result of a key rotation, to be recorded in the ledger (`key.rotated`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rotation {
    pub retired_kid: String,
    pub active_kid: String,
    /// The retired key stays in the JWKS until this time (its last writ's exp + leeway).
    pub retired_published_until: i64,
}

struct RetiredKey {
    key: VerifyingKey,
    until: i64,
}

struct RingState {
    active: Arc<WritKey>,
    /// The latest `exp` of any writ signed with the active key.
    active_last_exp: i64,
    retired: Vec<RetiredKey>,
}

/// The issuer's keys: one active signing key and retired keys that stay published until the
/// last writ they signed has expired (plus the verifiers' leeway). Thread-safe.
pub struct KeyRing {
    state: Mutex<RingState>,
    leeway_secs: i64,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("active_kid", &self.active_kid())
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// A ring whose active key is `active`. `leeway_secs` is the clock leeway verifiers
    /// allow, so retired keys are kept that much longer.
    pub fn new(active: WritKey, leeway_secs: i64) -> Self {
        Self {
            state: Mutex::new(RingState {
                active: Arc::new(active),
                active_last_exp: i64::MIN,
                retired: Vec::new(),
            }),
            leeway_secs: leeway_secs.max(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, RingState> {
        // A poisoned lock only means another thread panicked while holding it; the state
        // is always consistent between statements, so keep going.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn active_kid(&self) -> String {
        self.lock().active.kid.clone()
    }

    /// Makes `next` the active key. The old key stays published until its last writ's exp
    /// plus leeway (or until `now` + leeway if it signed nothing).
    pub fn rotate(&self, next: WritKey, now: i64) -> Rotation {
        let mut st = self.lock();
        let until = st.active_last_exp.max(now).saturating_add(self.leeway_secs);
        let old = std::mem::replace(&mut st.active, Arc::new(next));
        st.active_last_exp = i64::MIN;
        st.retired.push(RetiredKey {
            key: old.verifying_key(),
            until,
        });
        Rotation {
            retired_kid: old.kid.clone(),
            active_kid: st.active.kid.clone(),
            retired_published_until: until,
        }
    }

    /// The JWKS to publish at `now`: the active key and every retired key still needed.
    /// Retired keys no longer needed are dropped.
    pub fn jwks(&self, now: i64) -> Jwks {
        let mut st = self.lock();
        st.retired.retain(|r| r.until > now);
        let mut keys = vec![st.active.public_jwk()];
        keys.extend(st.retired.iter().map(|r| Jwk::from_verifying_key(&r.key)));
        Jwks { keys }
    }

    /// Verification keys for the same set [`KeyRing::jwks`] publishes.
    pub fn verification_keys(&self, now: i64) -> VerificationKeys {
        // Both are derived from the same state; unwrap-free because our own JWKs are valid.
        let jwks = self.jwks(now);
        let mut keys = HashMap::new();
        for jwk in &jwks.keys {
            if let Ok(k) = jwk.verifying_key() {
                keys.insert(jwk.kid.clone(), k);
            }
        }
        VerificationKeys { keys }
    }

    /// The active key, noting that it signs a writ expiring at `exp`.
    pub(crate) fn active_for(&self, exp: i64) -> Arc<WritKey> {
        let mut st = self.lock();
        st.active_last_exp = st.active_last_exp.max(exp);
        Arc::clone(&st.active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8037_appendix_a_thumbprint() {
        // RFC 8037 A.3: the thumbprint of the A.2 public key.
        let x = URL_SAFE_NO_PAD
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .unwrap();
        let key = VerifyingKey::from_bytes(&x.try_into().unwrap()).unwrap();
        assert_eq!(
            thumbprint(&key),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
        // A.1: the seed gives that public key.
        let d = URL_SAFE_NO_PAD
            .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
            .unwrap();
        let k = WritKey::from_seed(&d.try_into().unwrap());
        assert_eq!(k.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    #[test]
    fn rotation_keeps_old_key_until_last_writ_expires() {
        let ring = KeyRing::new(WritKey::from_seed(&[1; 32]), 5);
        let old = ring.active_kid();
        let _ = ring.active_for(1_060);
        let rot = ring.rotate(WritKey::from_seed(&[2; 32]), 1_000);
        assert_eq!(rot.retired_kid, old);
        assert_eq!(rot.retired_published_until, 1_065);
        assert_eq!(ring.jwks(1_064).keys.len(), 2);
        assert_eq!(ring.jwks(1_065).keys.len(), 1);
        assert_eq!(ring.jwks(1_065).keys[0].kid, rot.active_kid);
    }

    #[test]
    fn key_file_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("writ.key");
        let k = WritKey::from_seed(&[7; 32]);
        k.write_file(&path).unwrap();
        assert_eq!(WritKey::read_file(&path).unwrap().kid(), k.kid());
        assert!(k.write_file(&path).is_err(), "must not overwrite");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
            let err = WritKey::read_file(&path).unwrap_err();
            assert_eq!(err.reason_code(), writ_model::ReasonCode::KeyFileInsecure);
        }
    }
}
