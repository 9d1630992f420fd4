//! C2SP tlog-checkpoint bodies and signed checkpoints, as a witness, a mirror or
//! `writ ledger verify` reads them from `/ledger/checkpoint`.
//!
//! The first byte picks the input: 0 a checkpoint body, 1 a signed checkpoint note (opened
//! with the log key), 2 a body that is signed here with the log key and opened again.
//!
//! Properties: a body that parses prints back to the same bytes (one checkpoint, one text);
//! a note that opens holds a body that parses to the opened checkpoint; signing a parsed
//! checkpoint and opening the note gives it back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use writ_fuzz as fx;
use writ_ledger::note::parse_note;
use writ_ledger::{Checkpoint, SignedCheckpoint};

fuzz_target!(|data: &[u8]| {
    let Some((mode, text)) = fx::mode_and_text(data, 3) else {
        return;
    };
    match mode {
        0 => {
            if let Ok(c) = Checkpoint::parse(text) {
                assert_eq!(c.to_text(), text, "a parsed checkpoint prints differently");
            }
        }
        1 => {
            let Ok(opened) = SignedCheckpoint::open(text, fx::shared_log_signer().verifier())
            else {
                return;
            };
            assert_eq!(opened.note(), text);
            let note = parse_note(text)
                .unwrap_or_else(|e| panic!("an opened checkpoint is not a note: {e}"));
            let body = Checkpoint::parse(&note.text)
                .unwrap_or_else(|e| panic!("an opened checkpoint's body does not parse: {e}"));
            assert_eq!(&body, opened.checkpoint());
            assert_eq!(body.to_text(), note.text);
        }
        _ => {
            let Ok(mut c) = Checkpoint::parse(text) else {
                return;
            };
            c.origin = fx::LOG_ORIGIN.to_owned();
            let Ok(signed) = SignedCheckpoint::sign(c.clone(), fx::shared_log_signer()) else {
                // Only text a note cannot carry (a control character) may refuse.
                assert!(
                    c.to_text().chars().any(|ch| ch.is_control() && ch != '\n'),
                    "a checkpoint with printable text cannot be signed"
                );
                return;
            };
            let opened = SignedCheckpoint::open(signed.note(), fx::shared_log_signer().verifier())
                .unwrap_or_else(|e| panic!("a checkpoint signed here does not open: {e}"));
            assert_eq!(opened.checkpoint(), &c);
        }
    }
});
