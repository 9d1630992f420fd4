#!/usr/bin/env python3
"""Check a running Writ ledger with independent transparency-log verifiers from PyPI.

Usage: tlog_verify.py CASE.json, where CASE.json holds
  {"url": "http://127.0.0.1:PORT", "vkey": "origin+hexid+base64",
   "old_checkpoint": NOTE, "indexes": [N, ...], "bundles": [writ.proof/v1, ...]}
The bearer token of a read role comes in the WRIT_TEST_TOKEN environment variable (never on
the command line).

- tlog-scales mirrors the log over HTTP the way a standard tlog-tiles client does (with the
  bearer token): it opens the checkpoint with the vkey, rebuilds the root from the hash tiles,
  reads each entry from the entry bundles and checks its inclusion proof, and checks a
  consistency proof from the old checkpoint to the new one (its own and Writ's).
- sigstore checks each checkpoint as a signed note with its Ed25519 keyring and each proof
  bundle entry's RFC 6962 inclusion proof with its Merkle code.
- Negative controls: without the token the tiles cannot be read; another key, a flipped
  hash and a changed entry are refused by both.
Prints one "ok: ..." line per passed check; exits non-zero at the first failure.
"""

import base64
import json
import os
import sys
from types import SimpleNamespace

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from sigstore._internal.merkle import verify_merkle_inclusion
from sigstore._internal.rekor.checkpoint import SignedCheckpoint as SigstoreCheckpoint
from sigstore._internal.trust import Keyring
from sigstore._utils import KeyID
from sigstore.errors import VerificationError
from sigstore_models.common.v1 import PublicKey, PublicKeyDetails
from tlog_scales import tiles
from tlog_scales.backend import HttpBackend
from tlog_scales.reader import TilesReader
from tlog_scales.signing import Vkey
from tlog_scales.tlog import Checkpoint, ConsistencyProof

checks = 0


def ok(what: str) -> None:
    global checks
    checks += 1
    print(f"ok: {what}", flush=True)


def fail(what: str) -> None:
    print(f"FAIL: {what}", flush=True)
    sys.exit(1)


def refused(what: str, f) -> None:
    """`f` must raise: a verifier that accepts anything proves nothing."""
    try:
        f()
    except Exception as e:  # noqa: BLE001 - any refusal will do
        ok(f"{what} refused ({type(e).__name__})")
        return
    fail(f"{what} was accepted")


def tlog_scales_checks(case: dict, token: str) -> None:
    base = case["url"].rstrip("/") + "/ledger"
    vkey = Vkey.from_string(case["vkey"])

    anonymous = TilesReader(HttpBackend(base))
    cp = anonymous.get_checkpoint()
    cp.verify(vkey)
    ok(f"tlog-scales: checkpoint of size {cp.size} verifies with the vkey, without a token")
    refused(
        "tlog-scales: reading a tile without a token",
        lambda: anonymous.calculate_root_hash(),
    )

    backend = HttpBackend(base)
    backend.session.headers["Authorization"] = f"Bearer {token}"
    reader = TilesReader(backend)
    cp = reader.get_checkpoint()
    cp.verify(vkey)
    if reader.calculate_root_hash() != cp.root_hash:
        fail("tlog-scales: the hash tiles do not rebuild the checkpoint's root")
    ok(f"tlog-scales: hash tiles rebuild the signed root of size {cp.size}")

    for index in case["indexes"]:
        entry = reader.get_entry(index)
        kind = json.loads(entry)
        proof = reader.get_inclusion_proof(index, cp.size)
        proof.check(tiles.leaf_hash(entry), cp.root_hash)
        ok(
            f"tlog-scales: entry {index} ({kind['type']} v{kind['v']}) read from the entry "
            f"bundles is included ({len(proof.node_hashes)} hashes)"
        )
        refused(
            f"tlog-scales: entry {index} changed by one byte",
            lambda: proof.check(tiles.leaf_hash(entry + b" "), cp.root_hash),
        )

    old = Checkpoint.from_text(case["old_checkpoint"])
    old.verify(vkey)
    own = reader.get_consistency_proof(old.size, cp.size)
    own.check(old.root_hash, cp.root_hash)
    ok(f"tlog-scales: consistency {old.size} -> {cp.size} from the tiles")
    answer = requests.get(
        case["url"].rstrip("/") + "/v1/ledger/consistency",
        params={"from": old.size, "to": cp.size},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    answer.raise_for_status()
    served = answer.json()
    writs = ConsistencyProof(
        old.size, cp.size, [base64.b64decode(h) for h in served["hashes_b64"]]
    )
    writs.check(old.root_hash, cp.root_hash)
    ok(f"tlog-scales: Writ's consistency proof {old.size} -> {cp.size} checks")

    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    stranger = Vkey(vkey.name, None, 1, other)
    refused("tlog-scales: the checkpoint under another key", lambda: cp.verify(stranger))


def sigstore_keyring(public: bytes) -> Keyring:
    """sigstore's keyring holding one Ed25519 public key."""
    der = Ed25519PublicKey.from_public_bytes(public).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # The model's raw_bytes field takes the DER in base64, as the JSON form has it.
    return Keyring(
        [
            PublicKey(
                raw_bytes=base64.b64encode(der),
                key_details=PublicKeyDetails.PKIX_ED25519,
            )
        ]
    )


def sigstore_checks(case: dict) -> None:
    _name, key_hash, b64 = case["vkey"].split("+", 2)
    raw = base64.b64decode(b64)
    if raw[0] != 1:
        fail(f"the vkey is not an Ed25519 note key (type {raw[0]})")
    keyring = sigstore_keyring(raw[1:])
    # sigstore compares the first four bytes of this hint with each signature's key hash.
    key_id = KeyID(bytes.fromhex(key_hash) + bytes(28))
    other = sigstore_keyring(Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    for bundle in case["bundles"]:
        note = bundle["checkpoint"]
        signed = SigstoreCheckpoint.from_text(note)
        signed.signed_note.verify(keyring, key_id)
        root = bytes.fromhex(signed.checkpoint.log_hash)
        size = signed.checkpoint.log_size
        ok(f"sigstore: checkpoint of size {size} verifies as a signed note")
        refused(
            "sigstore: the checkpoint under another key",
            lambda: signed.signed_note.verify(other, key_id),
        )
        for e in bundle["entries"]:
            body = base64.b64decode(e["entry_b64"])
            hashes = [base64.b64decode(h) for h in e["inclusion_b64"]]

            def entry(body=body, hashes=hashes):
                proof = SimpleNamespace(
                    log_index=e["index"], tree_size=size, hashes=hashes, root_hash=root
                )
                return SimpleNamespace(
                    _inner=SimpleNamespace(inclusion_proof=proof, canonicalized_body=body)
                )

            verify_merkle_inclusion(entry())
            kind = json.loads(body)
            ok(
                f"sigstore: entry {e['index']} ({kind['type']} v{kind['v']}) is included "
                f"under the checkpoint of size {size}"
            )
            if hashes:
                flipped = [bytes([hashes[0][0] ^ 1]) + hashes[0][1:]] + hashes[1:]
                refused(
                    f"sigstore: entry {e['index']} with a flipped inclusion hash",
                    lambda: verify_merkle_inclusion(entry(hashes=flipped)),
                )
            refused(
                f"sigstore: entry {e['index']} changed by one byte",
                lambda: verify_merkle_inclusion(entry(body=body + b" ")),
            )


def main() -> None:
    if len(sys.argv) != 2:
        fail("usage: tlog_verify.py CASE.json")
    with open(sys.argv[1], encoding="utf-8") as f:
        case = json.load(f)
    token = os.environ.get("WRIT_TEST_TOKEN", "")
    if not token:
        fail("WRIT_TEST_TOKEN is not set")
    tlog_scales_checks(case, token)
    sigstore_checks(case)
    print(f"all {checks} checks passed")


if __name__ == "__main__":
    try:
        main()
    except VerificationError as e:
        fail(f"sigstore: {e}")
