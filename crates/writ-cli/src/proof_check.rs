//! The checks of `writ proof verify`: a `writ.proof/v1` bundle checked offline, each check
//! named, with what it compared. No I/O and no clock: a proof is about the past, so an expired
//! writ still verifies (its signature and its claims are what is checked, never the time).
//!
//! The checks, in order:
//! - `checkpoint.signature`: the signed note against the vkey given (else the bundle's own,
//!   with a warning: that only proves the bundle agrees with itself);
//! - `entry[N].leaf_hash` and `entry[N].inclusion`: RFC 6962 leaf hash and audit path against
//!   the checkpoint's root;
//! - `disclosure[N].commitment`: each disclosure recomputes its entry's commitment (v2);
//! - `decision[N].disclosed_request`, `receipt[N].disclosed_receipt`: what a disclosure says
//!   agrees with the entry's clear fields;
//! - `writ.signature`: the writ against the JWKS given (else the bundle's own, with a warning;
//!   strict Ed25519, pinned header);
//! - `writ.claims`: the writ's claims against its decision entry (`ledger.index`);
//! - `receipt[N].signature`: the gate-signed receipt (v1: in clear; v2: when disclosed)
//!   against the gate's key, which the caller supplies (bundles do not carry gate keys).
//!
//! A check that cannot run says why as `skip`; only `fail` makes the bundle fail.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::VerifyingKey;
use serde::Serialize;
use serde_json::{Value, json};
use writ_artifact::{VerificationKeys, verify_as_evidence};
use writ_ledger::proof::verify_inclusion;
use writ_ledger::{Ed25519Verifier, ProofBundle, SignedCheckpoint, leaf_hash};
use writ_model::receipt::{Receipt, ReceiptSigError};
use writ_model::request::AuthorizeRequest;

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }
}

/// One named check and what it compared (or why it failed or could not run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
}

/// What the caller trusts beyond the bundle.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The log's verifier key (`origin+hexid+base64`); without it the bundle's own is used.
    pub vkey: Option<String>,
    /// Gates' receipt-signing keys, by gate id.
    pub gate_keys: BTreeMap<String, VerifyingKey>,
    /// The control plane's writ keys (JWKS JSON); without it the bundle's own `jwks` is used.
    pub jwks: Option<Value>,
}

/// Every check of one bundle.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
    pub warnings: Vec<String>,
}

impl Report {
    fn push(&mut self, name: impl Into<String>, status: Status, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            status,
            detail: detail.into(),
        });
    }

    fn result(&mut self, name: impl Into<String>, r: Result<String, String>) -> bool {
        let ok = r.is_ok();
        match r {
            Ok(d) => self.push(name, Status::Pass, d),
            Err(d) => self.push(name, Status::Fail, d),
        }
        ok
    }

    /// The names of the checks that failed.
    pub fn failed(&self) -> Vec<&str> {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| c.name.as_str())
            .collect()
    }

    /// True when no check failed.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Fail)
    }
}

/// An entry of the bundle after its leaf hash was checked.
struct Entry {
    index: u64,
    value: Option<Value>,
    included: bool,
}

impl Entry {
    fn kind(&self) -> Option<&str> {
        self.value.as_ref()?.get("type")?.as_str()
    }

    fn version(&self) -> Option<u64> {
        self.value.as_ref()?.get("v")?.as_u64()
    }
}

/// Checks `bundle` and reports every check.
pub fn check_bundle(bundle: &ProofBundle, opts: &Options) -> Report {
    let mut report = Report::default();
    let checkpoint = check_checkpoint(bundle, opts, &mut report);
    let entries = check_entries(bundle, checkpoint.as_ref(), &mut report);
    let disclosed = check_disclosures(bundle, &entries, &mut report);
    for e in &entries {
        if e.version() == Some(2)
            && let (Some(value), Some(private)) = (&e.value, disclosed.get(&e.index))
        {
            match e.kind() {
                Some("decision") => {
                    let r = disclosed_request_agrees(value, private);
                    report.result(format!("decision[{}].disclosed_request", e.index), r);
                }
                Some("receipt") => {
                    let r = disclosed_receipt_agrees(value, private);
                    report.result(format!("receipt[{}].disclosed_receipt", e.index), r);
                }
                _ => {}
            }
        }
    }
    check_writ(bundle, opts, &entries, &disclosed, &mut report);
    for e in entries.iter().filter(|e| e.kind() == Some("receipt")) {
        check_receipt(e, &entries, disclosed.get(&e.index), opts, &mut report);
    }
    report
}

fn check_checkpoint(
    bundle: &ProofBundle,
    opts: &Options,
    report: &mut Report,
) -> Option<SignedCheckpoint> {
    const NAME: &str = "checkpoint.signature";
    let (vkey, whose) = match &opts.vkey {
        Some(v) => {
            if v.trim() != bundle.log.vkey {
                report.warnings.push(format!(
                    "the bundle names another log key ({}) than the one given",
                    bundle.log.vkey
                ));
            }
            (v.trim().to_owned(), "the vkey given")
        }
        None => {
            report.warnings.push(
                "no --vkey given: the checkpoint was checked against the bundle's own log key, which only shows the bundle agrees with itself; pass the log's vkey (writ ledger vkey, GET /v1/ledger/vkey) to check it came from that log".into(),
            );
            (bundle.log.vkey.clone(), "the bundle's own log key")
        }
    };
    let verifier = match Ed25519Verifier::from_vkey(&vkey) {
        Ok(v) => v,
        Err(e) => {
            report.push(NAME, Status::Fail, format!("{whose} is unusable: {e}"));
            return None;
        }
    };
    match SignedCheckpoint::open(&bundle.checkpoint, &verifier) {
        Ok(cp) if cp.checkpoint().origin != bundle.log.origin => {
            report.push(
                NAME,
                Status::Fail,
                format!(
                    "the checkpoint's origin {:?} is not the bundle's log {:?}",
                    cp.checkpoint().origin,
                    bundle.log.origin
                ),
            );
            None
        }
        Ok(cp) => {
            report.push(
                NAME,
                Status::Pass,
                format!(
                    "signed by {whose} ({}), origin {:?}, size {}, root {}",
                    verifier.to_vkey(),
                    cp.checkpoint().origin,
                    cp.size(),
                    B64.encode(cp.root())
                ),
            );
            Some(cp)
        }
        Err(e) => {
            report.push(
                NAME,
                Status::Fail,
                format!("the checkpoint does not verify with {whose}: {e}"),
            );
            None
        }
    }
}

fn check_entries(
    bundle: &ProofBundle,
    cp: Option<&SignedCheckpoint>,
    report: &mut Report,
) -> Vec<Entry> {
    let mut out = Vec::with_capacity(bundle.entries.len());
    for e in &bundle.entries {
        let i = e.index;
        let Ok(bytes) = B64.decode(&e.entry_b64) else {
            report.push(
                format!("entry[{i}].leaf_hash"),
                Status::Fail,
                "entry_b64 is not standard base64",
            );
            continue;
        };
        let computed = leaf_hash(&bytes);
        let claimed = B64.decode(&e.leaf_hash_b64).unwrap_or_default();
        report.result(
            format!("entry[{i}].leaf_hash"),
            if claimed.as_slice() == computed.as_slice() {
                Ok(format!(
                    "SHA-256(0x00 || entry) = leaf_hash_b64 {}",
                    e.leaf_hash_b64
                ))
            } else {
                Err(format!(
                    "leaf_hash_b64 {} but the entry hashes to {}",
                    e.leaf_hash_b64,
                    B64.encode(computed)
                ))
            },
        );
        let included = match cp {
            None => {
                report.push(
                    format!("entry[{i}].inclusion"),
                    Status::Skip,
                    "no verified checkpoint to check the audit path against",
                );
                false
            }
            Some(cp) => {
                let path: Result<Vec<Vec<u8>>, _> =
                    e.inclusion_b64.iter().map(|h| B64.decode(h)).collect();
                let r = match path {
                    Err(_) => Err("inclusion_b64 holds a value that is not standard base64".into()),
                    Ok(path) => verify_inclusion(i, cp.size(), &computed, &path, cp.root())
                        .map(|()| {
                            format!(
                                "audit path of {} hashes leads from the entry's leaf hash to the checkpoint's root (size {})",
                                path.len(),
                                cp.size()
                            )
                        })
                        .map_err(|err| {
                            format!("the audit path does not lead to the checkpoint's root: {err}")
                        }),
                };
                report.result(format!("entry[{i}].inclusion"), r)
            }
        };
        out.push(Entry {
            index: i,
            value: serde_json::from_slice(&bytes).ok(),
            included,
        });
    }
    out
}

/// Checks every disclosure; returns the private objects of those that recomputed their
/// entry's commitment (only those are trusted by the checks that follow).
fn check_disclosures(
    bundle: &ProofBundle,
    entries: &[Entry],
    report: &mut Report,
) -> BTreeMap<u64, Value> {
    let mut out = BTreeMap::new();
    for d in bundle.disclosures.iter().flatten() {
        let name = format!("disclosure[{}].commitment", d.index);
        let Some(entry) = bundle.entries.iter().find(|e| e.index == d.index) else {
            report.push(name, Status::Fail, "the bundle has no entry at this index");
            continue;
        };
        let bytes = B64.decode(&entry.entry_b64).unwrap_or_default();
        let r = d
            .check_entry(&bytes)
            .map(|()| {
                format!(
                    "SHA-256(\"writ.commitment/v1\\n\" || salt || JCS(private)) = the entry's commitment {}",
                    writ_ledger::commitment::entry_commitment(&bytes).unwrap_or_default()
                )
            })
            .map_err(|e| e.to_string());
        let included = entries.iter().any(|e| e.index == d.index && e.included);
        if report.result(name, r) && included {
            out.insert(d.index, d.private.clone());
        }
    }
    out
}

/// Compares pairs of (what, one side, the other side); Ok lists what was compared.
fn compare(pairs: &[(&str, Value, Value)]) -> Result<String, String> {
    let mismatches: Vec<String> = pairs
        .iter()
        .filter(|(_, a, b)| a != b)
        .map(|(what, a, b)| format!("{what}: {a} vs {b}"))
        .collect();
    if mismatches.is_empty() {
        Ok(pairs
            .iter()
            .map(|(what, _, _)| *what)
            .collect::<Vec<_>>()
            .join(", "))
    } else {
        Err(format!("differ: {}", mismatches.join("; ")))
    }
}

fn field(v: &Value, pointer: &str) -> Value {
    v.pointer(pointer).cloned().unwrap_or(Value::Null)
}

fn disclosed_request_agrees(entry: &Value, private: &Value) -> Result<String, String> {
    let request = private
        .get("request")
        .ok_or("the disclosure holds no request")?;
    let parsed: AuthorizeRequest = serde_json::from_value(request.clone())
        .map_err(|e| format!("the disclosed request is not an authorize request: {e}"))?;
    let sha = writ_model::digest::canonical_sha256_hex(&parsed)
        .map_err(|e| format!("the disclosed request cannot be encoded: {e}"))?;
    compare(&[
        (
            "principal",
            field(entry, "/principal"),
            field(request, "/principal"),
        ),
        (
            "action",
            field(entry, "/action"),
            field(request, "/intent/action"),
        ),
        (
            "resource",
            field(entry, "/resource"),
            field(request, "/intent/resource"),
        ),
        ("gate", field(entry, "/gate"), field(request, "/env/gate")),
        ("zone", field(entry, "/zone"), field(request, "/env/zone")),
        (
            "execution",
            field(entry, "/execution"),
            field(request, "/lineage/execution"),
        ),
        (
            "parent",
            field(entry, "/parent"),
            field(request, "/lineage/parent"),
        ),
        (
            "root",
            field(entry, "/root"),
            field(request, "/lineage/root"),
        ),
        (
            "request_sha256",
            field(private, "/request_sha256"),
            Value::String(sha),
        ),
    ])
    .map(|what| format!("the disclosed request agrees with the clear fields: {what}"))
}

fn disclosed_receipt_agrees(entry: &Value, private: &Value) -> Result<String, String> {
    let body = private
        .pointer("/receipt/body")
        .ok_or("the disclosure holds no signed receipt")?;
    compare(&[
        (
            "execution",
            field(entry, "/execution"),
            field(body, "/execution"),
        ),
        ("gate", field(entry, "/gate"), field(body, "/gate")),
        ("outcome", field(entry, "/outcome"), field(body, "/outcome")),
        (
            "reason_code",
            field(entry, "/reason_code"),
            field(body, "/reason_code"),
        ),
        (
            "started_at",
            field(entry, "/started_at"),
            field(body, "/started_at"),
        ),
        (
            "finished_at",
            field(entry, "/finished_at"),
            field(body, "/finished_at"),
        ),
    ])
    .map(|what| format!("the disclosed receipt agrees with the clear fields: {what}"))
}

/// The governance fields of a decision entry, v1 (from its request in clear) or v2 (clear
/// fields), and its request when it is in clear or disclosed.
fn decision_view(entry: &Value, disclosed: Option<&Value>) -> (Value, Option<Value>) {
    if entry.get("v").and_then(Value::as_u64) == Some(1) {
        let r = entry.get("request").cloned().unwrap_or(Value::Null);
        let view = json!({
            "principal": field(&r, "/principal"), "gate": field(&r, "/env/gate"),
            "action": field(&r, "/intent/action"), "resource": field(&r, "/intent/resource"),
            "zone": field(&r, "/env/zone"), "execution": field(&r, "/lineage/execution"),
            "parent": field(&r, "/lineage/parent"), "root": field(&r, "/lineage/root"),
        });
        (view, Some(r))
    } else {
        (
            entry.clone(),
            disclosed.and_then(|p| p.get("request")).cloned(),
        )
    }
}

fn check_writ(
    bundle: &ProofBundle,
    opts: &Options,
    entries: &[Entry],
    disclosed: &BTreeMap<u64, Value>,
    report: &mut Report,
) {
    let Some(token) = &bundle.writ else {
        report.push("writ.signature", Status::Skip, "the bundle carries no writ");
        return;
    };
    let (jwks, whose) = match &opts.jwks {
        Some(j) => (Some(j), "the JWKS given"),
        None => {
            report.warnings.push(
                "no --jwks given: the writ was checked against the bundle's own JWKS; pass the control plane's (GET /.well-known/jwks.json) to check who signed it".into(),
            );
            (bundle.jwks.as_ref(), "the bundle's JWKS")
        }
    };
    let keys = jwks
        .ok_or_else(|| "the bundle has a writ but no JWKS to verify it with".to_owned())
        .and_then(|j| {
            VerificationKeys::from_jwks_json(j.to_string().as_bytes())
                .map_err(|e| format!("{whose} is unusable: {e}"))
        });
    let verified = keys.and_then(|k| {
        verify_as_evidence(&k, token.trim()).map_err(|e| {
            format!(
                "the writ does not verify with {whose}: {e} [{}]",
                e.reason_code()
            )
        })
    });
    let claims = match verified {
        Ok(v) => {
            report.push(
                "writ.signature",
                Status::Pass,
                format!(
                    "EdDSA signature by kid {} of {whose} (times not checked: a proof is about the past)",
                    v.kid()
                ),
            );
            v.into_claims()
        }
        Err(e) => {
            report.push("writ.signature", Status::Fail, e);
            report.push(
                "writ.claims",
                Status::Skip,
                "the writ's signature did not verify",
            );
            return;
        }
    };
    let index = claims.ledger.index;
    if entries.iter().any(|e| e.index == index && !e.included) {
        report.push(
            "writ.claims",
            Status::Skip,
            format!("the decision at ledger.index {index} is not proved included in the log"),
        );
        return;
    }
    let r = writ_claims_agree(&claims, &bundle.log.origin, entries, disclosed);
    report.result("writ.claims", r);
}

fn writ_claims_agree(
    claims: &writ_artifact::WritClaims,
    origin: &str,
    entries: &[Entry],
    disclosed: &BTreeMap<u64, Value>,
) -> Result<String, String> {
    let index = claims.ledger.index;
    let entry = entries
        .iter()
        .find(|e| e.index == index)
        .ok_or_else(|| format!("ledger.index {index} is not an entry of the bundle"))?;
    let value = entry
        .value
        .as_ref()
        .filter(|_| entry.kind() == Some("decision"))
        .ok_or_else(|| format!("the entry at ledger.index {index} is not a decision"))?;
    let (view, request) = decision_view(value, disclosed.get(&index));
    let c = serde_json::to_value(claims).map_err(|e| e.to_string())?;
    let mut pairs = vec![
        (
            "sub=principal",
            field(&c, "/sub"),
            field(&view, "/principal"),
        ),
        ("aud=gate", field(&c, "/aud"), field(&view, "/gate")),
        (
            "intent.action",
            field(&c, "/intent/action"),
            field(&view, "/action"),
        ),
        (
            "intent.resource",
            field(&c, "/intent/resource"),
            field(&view, "/resource"),
        ),
        (
            "lineage.execution",
            field(&c, "/lineage/execution"),
            field(&view, "/execution"),
        ),
        (
            "lineage.parent",
            field(&c, "/lineage/parent"),
            field(&view, "/parent"),
        ),
        (
            "lineage.root",
            field(&c, "/lineage/root"),
            field(&view, "/root"),
        ),
        ("env.zone", field(&c, "/env/zone"), field(&view, "/zone")),
        (
            "policy.bundle_sha256",
            field(&c, "/policy/bundle_sha256"),
            field(value, "/bundle_sha256"),
        ),
        (
            "policy.engine",
            field(&c, "/policy/engine"),
            field(value, "/engine"),
        ),
        (
            "policy.determining",
            field(&c, "/policy/determining"),
            field(value, "/determining"),
        ),
        (
            "decision=allow",
            Value::from("allow"),
            field(value, "/decision"),
        ),
        (
            "ledger.origin=log.origin",
            field(&c, "/ledger/origin"),
            Value::String(origin.to_owned()),
        ),
    ];
    let args = match &request {
        Some(r) => {
            let intent: writ_model::Intent = serde_json::from_value(field(r, "/intent"))
                .map_err(|e| format!("the decision's request has no usable intent: {e}"))?;
            let digest = intent
                .digest()
                .map_err(|e| format!("the decision's arguments cannot be digested: {e}"))?;
            pairs.push((
                "intent.args_sha256",
                field(&c, "/intent/args_sha256"),
                Value::String(digest.args_sha256),
            ));
            ""
        }
        None => {
            "; intent.args_sha256 not compared: the v2 decision's request is not disclosed (or its disclosure did not check)"
        }
    };
    compare(&pairs).map(|what| {
        format!(
            "the writ agrees with the decision at ledger.index {index} (v{}): {what}{args}",
            entry.version().unwrap_or(0)
        )
    })
}

/// The key to check `gate`'s receipt at `before` with: the pinned one, else the `public_key` of
/// the latest `gate.changed` entry of that gate before it that the bundle proves included (the
/// rule of `ui/verify/bundle.js`). `Err` when that entry's key is unusable.
fn gate_key(
    gate: &str,
    before: u64,
    entries: &[Entry],
    opts: &Options,
) -> Result<Option<(VerifyingKey, String)>, String> {
    if let Some(key) = opts.gate_keys.get(gate) {
        return Ok(Some((*key, format!("the pinned key of {gate}"))));
    }
    let best = entries
        .iter()
        .filter(|g| g.included && g.index < before && g.kind() == Some("gate.changed"))
        .filter(|g| g.value.as_ref().and_then(|v| v.get("gate")?.as_str()) == Some(gate))
        .max_by_key(|g| g.index);
    let Some(best) = best else { return Ok(None) };
    hex::decode(
        best.value
            .as_ref()
            .and_then(|v| v.get("public_key")?.as_str())
            .unwrap_or_default(),
    )
    .ok()
    .and_then(|b| <[u8; 32]>::try_from(b).ok())
    .and_then(|b| VerifyingKey::from_bytes(&b).ok())
    .map(|k| {
        Some((
            k,
            format!("{gate}'s key from gate.changed entry {}", best.index),
        ))
    })
    .ok_or_else(|| format!("gate.changed entry {} has no usable public_key", best.index))
}

fn check_receipt(
    e: &Entry,
    entries: &[Entry],
    disclosed: Option<&Value>,
    opts: &Options,
    report: &mut Report,
) {
    let name = format!("receipt[{}].signature", e.index);
    let signed = match (e.version(), &e.value) {
        (Some(1), Some(v)) => v.get("receipt").cloned(),
        (_, _) => match disclosed {
            Some(p) => p.get("receipt").cloned(),
            None => {
                report.push(
                    name,
                    Status::Skip,
                    "the gate-signed receipt of a v2 entry is private and not disclosed in this bundle",
                );
                return;
            }
        },
    };
    let receipt: Receipt = match signed.map(serde_json::from_value) {
        Some(Ok(r)) => r,
        Some(Err(err)) => {
            report.push(
                name,
                Status::Fail,
                format!("the receipt is malformed: {err}"),
            );
            return;
        }
        None => {
            report.push(name, Status::Fail, "the entry holds no signed receipt");
            return;
        }
    };
    let gate = receipt.body.gate.as_str().to_owned();
    let (key, from) = match gate_key(&gate, e.index, entries, opts) {
        Ok(Some(k)) => k,
        Ok(None) => {
            report.push(
                name,
                Status::Skip,
                format!(
                    "the bundle proves no key of {gate} (no gate.changed entry before it): pass --gate-key {gate}=HEX (its public_key in `writ gate list`)"
                ),
            );
            return;
        }
        Err(err) => {
            report.push(name, Status::Fail, err);
            return;
        }
    };
    let r = receipt
        .verify(&key)
        .map(|()| {
            format!(
                "Ed25519 signature of {gate} over the canonical receipt body with {from} (outcome {})",
                serde_json::to_value(receipt.body.outcome).unwrap_or(Value::Null)
            )
        })
        .map_err(|err| match err {
            ReceiptSigError::Mismatch => {
                format!("the receipt signature does not verify with {from}")
            }
            other => other.to_string(),
        });
    report.result(name, r);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Untrusted bundles of every wrong shape are reported as failed checks, never a panic.
    #[test]
    fn garbage_bundles_fail_their_checks_without_panicking() {
        let v1_receipt = B64.encode(br#"{"type":"receipt","v":1,"receipt":{"body":7}}"#);
        let decision = B64.encode(br#"{"type":"decision","v":2,"commitment":"00"}"#);
        let bundle: ProofBundle = serde_json::from_value(json!({
            "format": "writ.proof/v1",
            "log": {"origin": "o", "vkey": "not a vkey"},
            "checkpoint": "o\n1\n\n",
            "entries": [
                {"index": 0, "entry_b64": "%%%", "leaf_hash_b64": "", "inclusion_b64": []},
                {"index": 1, "entry_b64": v1_receipt, "leaf_hash_b64": "AA==", "inclusion_b64": ["%"]},
                {"index": 2, "entry_b64": decision, "leaf_hash_b64": "", "inclusion_b64": []},
            ],
            "writ": "a.b.c",
            "jwks": {"keys": "no"},
            "disclosures": [
                {"index": 9, "salt_b64": "", "private": {}},
                {"index": 2, "salt_b64": "AA==", "private": []},
            ],
        }))
        .unwrap();
        for vkey in [None, Some("x+y+z".to_owned())] {
            let report = check_bundle(
                &bundle,
                &Options {
                    vkey,
                    ..Options::default()
                },
            );
            let failed = report.failed();
            for name in [
                "checkpoint.signature",
                "entry[0].leaf_hash",
                "entry[1].leaf_hash",
                "disclosure[9].commitment",
                "disclosure[2].commitment",
                "writ.signature",
                "receipt[1].signature",
            ] {
                assert!(failed.contains(&name), "{name} not failed: {report:#?}");
            }
            assert!(!report.ok());
        }
    }
}
