//! C2SP tlog-checkpoint: `origin\nsize\nbase64(root)\n[extension lines]`, signed as a note.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::error::NoteError;
use crate::hash::Hash;
use crate::note::{NoteSigner, NoteVerifier, open_note, sign_note};

/// The body of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line (also its key name).
    pub origin: String,
    /// Number of entries.
    pub size: u64,
    /// The tree root at that size.
    pub root: Hash,
    /// Optional extension lines, without newlines.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The checkpoint text (the note body), ending with a newline.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses a checkpoint body.
    pub fn parse(text: &str) -> Result<Checkpoint, NoteError> {
        let bad = |m: &str| NoteError::BadCheckpoint(m.to_owned());
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("the text does not end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| bad("the origin line is empty"))?;
        let size_line = lines
            .next()
            .ok_or_else(|| bad("the size line is missing"))?;
        if size_line.is_empty()
            || !size_line.bytes().all(|b| b.is_ascii_digit())
            || (size_line.len() > 1 && size_line.starts_with('0'))
        {
            return Err(bad(
                "the size is not a decimal number without leading zeros",
            ));
        }
        let size: u64 = size_line
            .parse()
            .map_err(|_| bad("the size does not fit 64 bits"))?;
        let root_line = lines
            .next()
            .ok_or_else(|| bad("the root line is missing"))?;
        let root: Hash = B64
            .decode(root_line)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| bad("the root is not 32 bytes of standard base64"))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(bad("an extension line is empty"));
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

/// A checkpoint whose signature has been checked (or that was just signed): only
/// [`SignedCheckpoint::sign`] and [`SignedCheckpoint::open`] make one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    checkpoint: Checkpoint,
    note: String,
}

impl SignedCheckpoint {
    /// Signs a checkpoint. The signer's name must be the checkpoint's origin.
    pub fn sign(
        checkpoint: Checkpoint,
        signer: &dyn NoteSigner,
    ) -> Result<SignedCheckpoint, NoteError> {
        if signer.name() != checkpoint.origin {
            return Err(NoteError::WrongOrigin {
                got: checkpoint.origin,
                want: signer.name().to_owned(),
            });
        }
        let note = sign_note(&checkpoint.to_text(), &[signer])?;
        Ok(SignedCheckpoint { checkpoint, note })
    }

    /// Verifies a signed checkpoint note with the log's key; its origin must be the key name.
    pub fn open(note: &str, verifier: &dyn NoteVerifier) -> Result<SignedCheckpoint, NoteError> {
        let opened = open_note(note, verifier)?;
        let checkpoint = Checkpoint::parse(&opened.text)?;
        if checkpoint.origin != verifier.name() {
            return Err(NoteError::WrongOrigin {
                got: checkpoint.origin,
                want: verifier.name().to_owned(),
            });
        }
        Ok(SignedCheckpoint {
            checkpoint,
            note: note.to_owned(),
        })
    }

    /// The checked body.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The full signed note text.
    pub fn note(&self) -> &str {
        &self.note
    }

    /// Tree size.
    pub fn size(&self) -> u64 {
        self.checkpoint.size
    }

    /// Tree root.
    pub fn root(&self) -> &Hash {
        &self.checkpoint.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::Ed25519Signer;

    #[test]
    fn text_round_trip_and_strict_size() {
        let c = Checkpoint {
            origin: "o".into(),
            size: 12,
            root: [3; 32],
            extensions: vec!["ext".into()],
        };
        assert_eq!(Checkpoint::parse(&c.to_text()).unwrap(), c);
        assert!(
            Checkpoint::parse("o\n012\nAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=\n").is_err()
        );
        assert!(Checkpoint::parse("o\n12\nAwMD\n").is_err());
    }

    #[test]
    fn wrong_origin_is_refused() {
        let s = Ed25519Signer::from_seed("log-a", &[2; 32]).unwrap();
        let c = Checkpoint {
            origin: "log-b".into(),
            size: 1,
            root: [0; 32],
            extensions: vec![],
        };
        assert!(SignedCheckpoint::sign(c, &s).is_err());
    }
}
