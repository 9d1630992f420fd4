// Test-only Ed25519 signing with WebCrypto: the verifier library itself never signs.

import { b64encode, b64urlEncode, concat, toHex, utf8 } from "../bytes.js";
import { keyId } from "../note.js";

const PKCS8_ED25519_PREFIX = Uint8Array.of(
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
);

/**
 * @typedef {{seed: Uint8Array, publicKey: Uint8Array, sign: (m: Uint8Array) => Promise<Uint8Array>}} TestKey
 */

/**
 * An Ed25519 key from a 32-byte seed (RFC 8032), or a fresh random one.
 * @param {Uint8Array} [seed]
 * @returns {Promise<TestKey>}
 */
export async function testKey(seed) {
  const s = seed ?? crypto.getRandomValues(new Uint8Array(32));
  const priv = await crypto.subtle.importKey("pkcs8", new Uint8Array(concat(PKCS8_ED25519_PREFIX, s)), { name: "Ed25519" }, true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", priv);
  const x = String(jwk.x).replace(/-/g, "+").replace(/_/g, "/");
  const publicKey = Uint8Array.from(atob(x + "=".repeat((4 - (x.length % 4)) % 4)), (c) => c.charCodeAt(0));
  return {
    seed: s,
    publicKey,
    sign: async (m) => new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, priv, new Uint8Array(m))),
  };
}

/**
 * The vkey text of a key under a name.
 * @param {string} name
 * @param {TestKey} key
 * @returns {Promise<string>}
 */
export async function vkeyOf(name, key) {
  return `${name}+${toHex(await keyId(name, key.publicKey))}+${b64encode(concat(Uint8Array.of(1), key.publicKey))}`;
}

/**
 * A signed note: text, blank line, one signature line by `key` under `name`.
 * @param {string} text
 * @param {string} name
 * @param {TestKey} key
 * @returns {Promise<string>}
 */
export async function signNote(text, name, key) {
  const sig = await key.sign(utf8(text));
  return `${text}\n\u2014 ${name} ${b64encode(concat(await keyId(name, key.publicKey), sig))}\n`;
}

/**
 * A compact JWS with the writ header.
 * @param {Record<string, unknown>} claims
 * @param {string} kid
 * @param {TestKey} key
 * @returns {Promise<string>}
 */
export async function signWrit(claims, kid, key) {
  const h = b64urlEncode(utf8(JSON.stringify({ alg: "EdDSA", typ: "writ+jwt", kid })));
  const p = b64urlEncode(utf8(JSON.stringify(claims)));
  return `${h}.${p}.${b64urlEncode(await key.sign(utf8(`${h}.${p}`)))}`;
}

/**
 * A JWKS holding one key.
 * @param {string} kid
 * @param {TestKey} key
 */
export function jwksOf(kid, key) {
  return { keys: [{ kty: "OKP", crv: "Ed25519", x: b64urlEncode(key.publicKey), kid, alg: "EdDSA", use: "sig" }] };
}
