//! C2SP signed-note with Ed25519: signing, opening, and keys in the `vkey` and `skey` forms.
//!
//! A note is UTF-8 text ending in a newline, a blank line, then signature lines
//! `— NAME BASE64(keyid[4] ‖ signature)`. The key id is the first four bytes of
//! `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)`. Signers and verifiers are traits so the log key
//! can come from a file today and from a KMS or HSM later.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use writ_model::ed25519::Ed25519Signing;

use crate::error::NoteError;

/// The C2SP signature type byte of Ed25519 keys.
pub const ALG_ED25519: u8 = 0x01;

/// The line prefix of a signature: an em dash and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// At most this many signature lines are read from a note.
const MAX_SIGNATURES: usize = 100;

/// Something that signs notes under a name (the log's origin, for a checkpoint).
pub trait NoteSigner: Send + Sync {
    /// The key name.
    fn name(&self) -> &str;
    /// The 32-bit key id.
    fn key_id(&self) -> u32;
    /// Signs the note text.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, NoteError>;
}

/// Something that checks signatures of one named key.
pub trait NoteVerifier: Send + Sync {
    /// The key name.
    fn name(&self) -> &str;
    /// The 32-bit key id.
    fn key_id(&self) -> u32;
    /// True when `sig` is a valid signature of `msg`.
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool;
}

/// The C2SP key id of a named key: `SHA-256(name ‖ "\n" ‖ alg ‖ key)[..4]`, big-endian.
pub fn key_id(name: &str, alg_and_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update(alg_and_key);
    let d = h.finalize();
    let mut id = [0u8; 4];
    id.copy_from_slice(d.get(..4).unwrap_or(&[0; 4]));
    u32::from_be_bytes(id)
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the key name is empty".into());
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c == '+' || c.is_control())
    {
        return Err(format!(
            "key name {name:?} contains a space, a control character or '+'"
        ));
    }
    Ok(())
}

/// An Ed25519 note verifier: the public half of a log key.
#[derive(Debug, Clone)]
pub struct Ed25519Verifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl Ed25519Verifier {
    /// A verifier for `key` under `name`.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Ed25519Verifier, NoteError> {
        check_name(name).map_err(NoteError::BadVerifierKey)?;
        let mut alg_key = vec![ALG_ED25519];
        alg_key.extend_from_slice(key.as_bytes());
        Ok(Ed25519Verifier {
            name: name.to_owned(),
            key_id: key_id(name, &alg_key),
            key,
        })
    }

    /// Parses a verifier key `name+hexid+base64(0x01 ‖ pubkey)`.
    pub fn from_vkey(vkey: &str) -> Result<Ed25519Verifier, NoteError> {
        let bad = |m: &str| NoteError::BadVerifierKey(m.to_owned());
        let mut parts = vkey.trim_end_matches('\n').splitn(3, '+');
        let (Some(name), Some(hexid), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("it does not have three '+'-separated parts"));
        };
        check_name(name).map_err(NoteError::BadVerifierKey)?;
        if hexid.len() != 8 {
            return Err(bad("the key id is not 8 hex digits"));
        }
        let id = u32::from_str_radix(hexid, 16).map_err(|_| bad("the key id is not hex"))?;
        let raw = B64
            .decode(key_b64)
            .map_err(|_| bad("the key is not standard base64"))?;
        let Some((&alg, key)) = raw.split_first() else {
            return Err(bad("the key is empty"));
        };
        if alg != ALG_ED25519 {
            return Err(NoteError::BadVerifierKey(format!(
                "signature type {alg:#04x} is not Ed25519 (0x01)"
            )));
        }
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| bad("an Ed25519 key has 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| bad("not an Ed25519 point"))?;
        let v = Ed25519Verifier::new(name, key)?;
        if v.key_id != id {
            return Err(bad("the key id does not match the name and key"));
        }
        Ok(v)
    }

    /// The `vkey` form: `name+hexid+base64(0x01 ‖ pubkey)`.
    pub fn to_vkey(&self) -> String {
        let mut alg_key = vec![ALG_ED25519];
        alg_key.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, B64.encode(alg_key))
    }
}

impl NoteVerifier for Ed25519Verifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.key_id
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        Signature::from_slice(sig)
            .map(|s| self.key.verify_strict(msg, &s).is_ok())
            .unwrap_or(false)
    }
}

/// An Ed25519 note signer: the log key.
pub struct Ed25519Signer {
    name: String,
    key: Ed25519Signing,
    verifier: Ed25519Verifier,
}

impl std::fmt::Debug for Ed25519Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed25519Signer")
            .field("vkey", &self.verifier.to_vkey())
            .finish_non_exhaustive()
    }
}

impl Ed25519Signer {
    /// A signer from a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Ed25519Signer, NoteError> {
        check_name(name).map_err(NoteError::BadSignerKey)?;
        let key = Ed25519Signing::from_seed(seed);
        let verifier = Ed25519Verifier::new(name, key.key().verifying_key())?;
        Ok(Ed25519Signer {
            name: name.to_owned(),
            key,
            verifier,
        })
    }

    /// A new random key from the operating system's generator.
    pub fn generate(name: &str) -> Result<Ed25519Signer, NoteError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| NoteError::BadSignerKey(format!("no randomness available: {e}")))?;
        let s = Ed25519Signer::from_seed(name, &seed);
        seed.fill(0);
        s
    }

    /// Parses `PRIVATE+KEY+name+hexid+base64(0x01 ‖ seed)` (the Go `note` signer key form).
    pub fn from_skey(skey: &str) -> Result<Ed25519Signer, NoteError> {
        let bad = |m: &str| NoteError::BadSignerKey(m.to_owned());
        let rest = skey
            .trim_end_matches('\n')
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| bad("it does not start with PRIVATE+KEY+"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(hexid), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("it does not have name, key id and key"));
        };
        let id = u32::from_str_radix(hexid, 16).map_err(|_| bad("the key id is not hex"))?;
        let raw = B64
            .decode(key_b64)
            .map_err(|_| bad("the key is not standard base64"))?;
        let Some((&alg, seed)) = raw.split_first() else {
            return Err(bad("the key is empty"));
        };
        if alg != ALG_ED25519 {
            return Err(bad("the signature type is not Ed25519 (0x01)"));
        }
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| bad("an Ed25519 seed has 32 bytes"))?;
        let s = Ed25519Signer::from_seed(name, &seed)?;
        if s.verifier.key_id != id {
            return Err(bad("the key id does not match the name and key"));
        }
        Ok(s)
    }

    /// The signer key form `PRIVATE+KEY+name+hexid+base64(0x01 ‖ seed)`. Secret: store it 0600.
    pub fn to_skey(&self) -> String {
        let mut alg_seed = vec![ALG_ED25519];
        alg_seed.extend_from_slice(&self.key.key().to_bytes());
        let s = format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.verifier.key_id,
            B64.encode(&alg_seed)
        );
        alg_seed.fill(0);
        s
    }

    /// The matching verifier.
    pub fn verifier(&self) -> &Ed25519Verifier {
        &self.verifier
    }
}

impl NoteSigner for Ed25519Signer {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.verifier.key_id
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, NoteError> {
        Ok(self.key.sign(msg).to_vec())
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The signer's key name.
    pub name: String,
    /// The signer's key id.
    pub key_id: u32,
    /// The signature bytes (after the key id).
    pub signature: Vec<u8>,
}

/// A parsed note: its text and signature lines, none of them checked yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, ending with a newline.
    pub text: String,
    /// The signature lines, in order.
    pub signatures: Vec<NoteSignature>,
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed(
            "the text does not end with a newline".into(),
        ));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed(
            "the text contains a control character other than newline".into(),
        ));
    }
    Ok(())
}

/// Signs `text` (which must end with a newline) with every signer, giving the note bytes.
pub fn sign_note(text: &str, signers: &[&dyn NoteSigner]) -> Result<String, NoteError> {
    check_text(text)?;
    let mut out = String::with_capacity(text.len() + 120 * signers.len() + 1);
    out.push_str(text);
    out.push('\n');
    for s in signers {
        let sig = s.sign(text.as_bytes())?;
        let mut blob = s.key_id().to_be_bytes().to_vec();
        blob.extend_from_slice(&sig);
        out.push_str(SIG_PREFIX);
        out.push_str(s.name());
        out.push(' ');
        out.push_str(&B64.encode(blob));
        out.push('\n');
    }
    Ok(out)
}

/// Splits a note into text and signature lines without checking any signature.
pub fn parse_note(msg: &str) -> Result<Note, NoteError> {
    let bad = |m: &str| NoteError::Malformed(m.to_owned());
    if !msg.ends_with('\n') {
        return Err(bad("the note does not end with a newline"));
    }
    let split = msg
        .rfind("\n\n")
        .ok_or_else(|| bad("there is no blank line before the signatures"))?;
    let text = msg.get(..=split).ok_or_else(|| bad("truncated note"))?;
    let sigs = msg.get(split + 2..).ok_or_else(|| bad("truncated note"))?;
    check_text(text)?;
    let mut signatures = Vec::new();
    for line in sigs.lines() {
        if signatures.len() >= MAX_SIGNATURES {
            return Err(bad("too many signatures"));
        }
        let rest = line
            .strip_prefix(SIG_PREFIX)
            .ok_or_else(|| bad("a signature line does not start with an em dash and a space"))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or_else(|| bad("a signature line has no space between name and signature"))?;
        check_name(name).map_err(NoteError::Malformed)?;
        let blob = B64
            .decode(b64)
            .map_err(|_| bad("a signature is not standard base64"))?;
        if blob.len() < 5 {
            return Err(bad("a signature is too short"));
        }
        let (id, sig) = blob.split_at(4);
        let mut idb = [0u8; 4];
        idb.copy_from_slice(id);
        signatures.push(NoteSignature {
            name: name.to_owned(),
            key_id: u32::from_be_bytes(idb),
            signature: sig.to_vec(),
        });
    }
    if signatures.is_empty() {
        return Err(bad("the note has no signatures"));
    }
    Ok(Note {
        text: text.to_owned(),
        signatures,
    })
}

/// Parses a note and checks that `verifier` signed it. Signatures by other keys are kept but
/// not checked.
pub fn open_note(msg: &str, verifier: &dyn NoteVerifier) -> Result<Note, NoteError> {
    let note = parse_note(msg)?;
    let mut found = false;
    for s in &note.signatures {
        if s.name == verifier.name() && s.key_id == verifier.key_id() {
            if !verifier.verify(note.text.as_bytes(), &s.signature) {
                return Err(NoteError::BadSignature {
                    name: s.name.clone(),
                });
            }
            found = true;
        }
    }
    if found {
        Ok(note)
    } else {
        Err(NoteError::NoSignatureByKey {
            name: verifier.name().to_owned(),
            key_id: verifier.key_id(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_open_round_trips_and_detects_changes() {
        let s = Ed25519Signer::from_seed("example.com/log", &[7; 32]).unwrap();
        let note = sign_note("hello\nworld\n", &[&s]).unwrap();
        let v = Ed25519Verifier::from_vkey(&s.verifier().to_vkey()).unwrap();
        assert_eq!(open_note(&note, &v).unwrap().text, "hello\nworld\n");
        let tampered = note.replacen("hello", "hellp", 1);
        assert!(open_note(&tampered, &v).is_err());
        let s2 = Ed25519Signer::from_skey(&s.to_skey()).unwrap();
        assert_eq!(s2.verifier().to_vkey(), s.verifier().to_vkey());
    }

    #[test]
    fn malformed_notes_are_errors_not_panics() {
        let v = Ed25519Signer::from_seed("a", &[1; 32]).unwrap();
        let v = v.verifier();
        for bad in [
            "",
            "\n",
            "text\n",
            "text\n\n",
            "text\n\n\u{2014} a \n",
            "text\n\n\u{2014} a AAAA\n",
            "text\n\n- a AAAAAAAAAAA=\n",
            "\u{2014}\n\n\u{2014} a !!!!\n",
        ] {
            assert!(open_note(bad, v).is_err(), "{bad:?}");
        }
    }
}
