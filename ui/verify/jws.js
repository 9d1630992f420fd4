// Compact JWS (RFC 7515) with EdDSA / Ed25519 (RFC 8037), as Writ signs writs: the header is
// pinned to {"alg":"EdDSA","typ":"writ+jwt","kid":…} and the key is looked up by kid in a JWKS of
// OKP/Ed25519 keys. No time checks: a proof is about the past.

import { FormatError, b64urlDecode, ed25519Verify, fromUtf8, isObject, parseJson, utf8 } from "./bytes.js";

/**
 * A verified JWS: its protected header and its claims.
 * @typedef {{header: Record<string, unknown>, claims: Record<string, unknown>}} VerifiedJws
 */

/**
 * @param {string} part
 * @param {string} what
 * @returns {Record<string, unknown>}
 */
function jsonPart(part, what) {
  const v = parseJson(fromUtf8(b64urlDecode(part)));
  if (!isObject(v)) throw new FormatError(`the JWS ${what} is not a JSON object`);
  return v;
}

/**
 * Finds the single OKP/Ed25519 key with this kid in a JWKS.
 * @param {unknown} jwks
 * @param {string} kid
 * @returns {Uint8Array} the 32-byte public key
 */
export function jwksKey(jwks, kid) {
  if (!isObject(jwks) || !Array.isArray(jwks.keys)) throw new FormatError("the JWKS has no keys array");
  const found = jwks.keys.filter((k) => isObject(k) && k.kid === kid);
  if (found.length === 0) throw new FormatError(`the JWKS has no key with kid ${kid}`);
  if (found.length > 1) throw new FormatError(`the JWKS has several keys with kid ${kid}`);
  const k = /** @type {Record<string, unknown>} */ (found[0]);
  if (k.kty !== "OKP" || k.crv !== "Ed25519") throw new FormatError(`key ${kid} is not an OKP/Ed25519 key`);
  if (k.alg !== undefined && k.alg !== "EdDSA") throw new FormatError(`key ${kid} is not for EdDSA`);
  if (k.use !== undefined && k.use !== "sig") throw new FormatError(`key ${kid} is not a signing key`);
  if ("d" in k) throw new FormatError(`key ${kid} holds a private part`);
  const x = b64urlDecode(k.x);
  if (x.length !== 32) throw new FormatError(`key ${kid} is not 32 bytes`);
  return x;
}

/**
 * Verifies a compact JWS writ against a JWKS and returns its header and claims.
 * @param {unknown} compact
 * @param {unknown} jwks
 * @returns {Promise<VerifiedJws>}
 */
export async function verifyWrit(compact, jwks) {
  if (typeof compact !== "string") throw new FormatError("the writ is not a string");
  const parts = compact.split(".");
  if (parts.length !== 3) throw new FormatError("a compact JWS has three parts");
  const header = jsonPart(parts[0], "header");
  if (header.alg !== "EdDSA") throw new FormatError(`alg must be EdDSA, not ${JSON.stringify(header.alg)}`);
  if (header.typ !== "writ+jwt") throw new FormatError(`typ must be writ+jwt, not ${JSON.stringify(header.typ)}`);
  if (typeof header.kid !== "string") throw new FormatError("the header has no kid");
  if ("crit" in header) throw new FormatError("the header names critical extensions this verifier does not know");
  const key = jwksKey(jwks, header.kid);
  const signature = b64urlDecode(parts[2]);
  if (signature.length !== 64) throw new FormatError("the signature is not 64 bytes");
  const ok = await ed25519Verify(key, signature, utf8(`${parts[0]}.${parts[1]}`));
  if (!ok) throw new FormatError(`the signature does not verify with key ${header.kid}`);
  return { header, claims: jsonPart(parts[1], "payload") };
}
