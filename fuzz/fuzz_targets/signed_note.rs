//! C2SP signed notes and the log's keys in their text forms.
//!
//! The first byte picks the input: 0 a note (parsed, then opened with the log key), 1 a
//! verifier key (`vkey`), 2 a signer key (`skey`).
//!
//! Properties: a note that opens keeps its text, re-opens, and its text signed again by the
//! log key opens to the same text; a parsed note's text is a prefix of the note; a key that
//! parses prints in a form that parses to the same key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use writ_fuzz as fx;
use writ_ledger::note::{open_note, parse_note, sign_note};
use writ_ledger::{Ed25519Signer, Ed25519Verifier, NoteSigner, NoteVerifier};

fuzz_target!(|data: &[u8]| {
    let Some((mode, text)) = fx::mode_and_text(data, 3) else {
        return;
    };
    match mode {
        0 => {
            if let Ok(note) = parse_note(text) {
                assert!(
                    text.starts_with(&note.text),
                    "the text is not the note's start"
                );
                assert!(!note.signatures.is_empty());
            }
            let verifier = fx::shared_log_signer().verifier();
            let Ok(opened) = open_note(text, verifier) else {
                return;
            };
            let again = open_note(text, verifier)
                .unwrap_or_else(|e| panic!("an opened note does not open again: {e}"));
            assert_eq!(again, opened);
            let resigned = sign_note(&opened.text, &[fx::shared_log_signer() as &dyn NoteSigner])
                .unwrap_or_else(|e| panic!("an opened note's text cannot be signed: {e}"));
            let reopened = open_note(&resigned, verifier)
                .unwrap_or_else(|e| panic!("a re-signed note does not open: {e}"));
            assert_eq!(reopened.text, opened.text);
        }
        1 => {
            let Ok(v) = Ed25519Verifier::from_vkey(text) else {
                return;
            };
            let back = Ed25519Verifier::from_vkey(&v.to_vkey())
                .unwrap_or_else(|e| panic!("a printed vkey does not parse: {e}"));
            assert_eq!(back.to_vkey(), v.to_vkey());
            assert_eq!((back.name(), back.key_id()), (v.name(), v.key_id()));
        }
        _ => {
            let Ok(s) = Ed25519Signer::from_skey(text) else {
                return;
            };
            let back = Ed25519Signer::from_skey(&s.to_skey())
                .unwrap_or_else(|e| panic!("a printed skey does not parse: {e}"));
            assert_eq!(back.verifier().to_vkey(), s.verifier().to_vkey());
        }
    }
});
