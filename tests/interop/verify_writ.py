#!/usr/bin/env python3
"""Verify a Writ writ with an independent JOSE implementation (PyJWT + cryptography).

Usage: verify_writ.py CASE.json, where CASE.json holds
  {"token": JWS, "jwks": {"keys": [...]}, "audience": GATE, "issuer": ISS, "claims": {...}}
and optionally "reverse": {"seed_b64": SEED, "out": PATH}: PyJWT then signs the same claims
with that Ed25519 seed and writes the token to PATH, for Writ's verifier to check.
Exits non-zero on the first failed check; prints one "ok: ..." line per passed check.
"""

import base64
import hashlib
import json
import sys

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)


def b64url_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64url_encode(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def fail(msg: str) -> None:
    print(f"FAIL: {msg}")
    sys.exit(1)


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as fh:
        case = json.load(fh)
    token, jwks, aud, iss = case["token"], case["jwks"], case["audience"], case["issuer"]

    header = jwt.get_unverified_header(token)
    if header != {"alg": "EdDSA", "typ": "writ+jwt", "kid": header.get("kid")}:
        fail(f"unexpected header {header}")

    # RFC 7638 thumbprint, computed here without any JOSE library.
    jwk = next((k for k in jwks["keys"] if k["kid"] == header["kid"]), None)
    if jwk is None:
        fail(f"kid {header['kid']} not in the JWKS")
    members = json.dumps(
        {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}, separators=(",", ":"), sort_keys=True
    )
    if b64url_encode(hashlib.sha256(members.encode()).digest()) != jwk["kid"]:
        fail("kid is not the RFC 7638 thumbprint of the key")
    print("ok: kid is the RFC 7638 thumbprint")

    key_set = jwt.PyJWKSet.from_dict(jwks)
    signing_key = next(k for k in key_set.keys if k.key_id == header["kid"])
    claims = jwt.decode(
        token,
        key=signing_key,
        algorithms=["EdDSA"],
        audience=aud,
        issuer=iss,
        options={"require": ["exp", "nbf", "iat", "iss", "aud", "sub", "jti"]},
    )
    print("ok: PyJWT verified the writ")
    if claims != case["claims"]:
        fail(f"claims differ:\n{json.dumps(claims, sort_keys=True)}\n{json.dumps(case['claims'], sort_keys=True)}")
    print("ok: claims equal")

    # Raw Ed25519 check over the ASCII signing input with `cryptography` directly.
    head, payload, sig = token.split(".")
    pub = Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
    pub.verify(b64url_decode(sig), f"{head}.{payload}".encode())
    print("ok: cryptography verified the signature")

    # A tampered payload (sub changed) must be refused.
    altered = dict(claims, sub="agent:mallory")
    altered_payload = b64url_encode(json.dumps(altered, separators=(",", ":")).encode())
    tampered = f"{head}.{altered_payload}.{sig}"
    try:
        jwt.decode(tampered, key=signing_key, algorithms=["EdDSA"], audience=aud)
        fail("tampered writ was accepted")
    except jwt.InvalidSignatureError:
        print("ok: tampered payload rejected")
    try:
        pub.verify(b64url_decode(sig), f"{head}.{altered_payload}".encode())
        fail("cryptography accepted the tampered writ")
    except InvalidSignature:
        pass

    try:
        jwt.decode(token, key=signing_key, algorithms=["EdDSA"], audience="gate:other")
        fail("writ accepted for another gate")
    except jwt.InvalidAudienceError:
        print("ok: wrong audience rejected")

    # HS256 keyed with the public key bytes must not verify under the pinned algorithm.
    forged = jwt.encode(claims, b64url_decode(jwk["x"]), algorithm="HS256", headers={"kid": jwk["kid"], "typ": "writ+jwt"})
    try:
        jwt.decode(forged, key=signing_key, algorithms=["EdDSA"], audience=aud)
        fail("HS256 writ accepted")
    except jwt.InvalidAlgorithmError:
        print("ok: HS256 with the public key rejected")
    except jwt.InvalidTokenError as e:
        fail(f"HS256 writ refused for the wrong reason: {e!r}")

    reverse = case.get("reverse")
    if reverse:
        private = Ed25519PrivateKey.from_private_bytes(b64url_decode(reverse["seed_b64"]))
        token = jwt.encode(
            claims, private, algorithm="EdDSA", headers={"kid": jwk["kid"], "typ": "writ+jwt"}
        )
        with open(reverse["out"], "w", encoding="utf-8") as fh:
            fh.write(token)
        print("ok: PyJWT signed a writ for Writ to verify")


if __name__ == "__main__":
    main()
