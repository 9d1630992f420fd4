// Byte helpers shared by the verifier modules: strict base64 (standard and URL-safe), hex,
// UTF-8 and SHA-256 through WebCrypto. No dependencies; runs in browsers and Node 20.

const STD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const URL = /^[A-Za-z0-9_-]*$/;

/** An input that is not what a format requires. */
export class FormatError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "FormatError";
  }
}

/**
 * Standard base64 with padding (RFC 4648 §4), strict: no whitespace, canonical trailing bits.
 * @param {unknown} s
 * @returns {Uint8Array}
 */
export function b64decode(s) {
  if (typeof s !== "string" || !STD.test(s)) throw new FormatError("not standard base64 with padding");
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  if (b64encode(out) !== s) throw new FormatError("non-canonical base64");
  return out;
}

/**
 * @param {Uint8Array} bytes
 * @returns {string} standard base64 with padding
 */
export function b64encode(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
  return btoa(bin);
}

/**
 * Base64url without padding (RFC 7515 §2), strict.
 * @param {unknown} s
 * @returns {Uint8Array}
 */
export function b64urlDecode(s) {
  if (typeof s !== "string" || !URL.test(s) || s.length % 4 === 1) {
    throw new FormatError("not base64url without padding");
  }
  const std = s.replace(/-/g, "+").replace(/_/g, "/") + "==".slice(0, (4 - (s.length % 4)) % 4);
  return b64decode(std);
}

/**
 * @param {Uint8Array} bytes
 * @returns {string} base64url without padding
 */
export function b64urlEncode(bytes) {
  return b64encode(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * @param {Uint8Array} bytes
 * @returns {string} lowercase hex
 */
export function toHex(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += bytes[i].toString(16).padStart(2, "0");
  return s;
}

/**
 * Lowercase hex only (as every `*_sha256` and key field of Writ is written).
 * @param {unknown} s
 * @returns {Uint8Array}
 */
export function fromHex(s) {
  if (typeof s !== "string" || s.length % 2 !== 0 || !/^[0-9a-f]*$/.test(s)) {
    throw new FormatError("not lowercase hex");
  }
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * @param {string} s
 * @returns {Uint8Array}
 */
export function utf8(s) {
  return new TextEncoder().encode(s);
}

/**
 * Strict UTF-8 decoding: invalid sequences are an error, a BOM is kept (and so rejected later).
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function fromUtf8(bytes) {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new FormatError("not valid UTF-8");
  }
}

/**
 * @param {...Uint8Array} parts
 * @returns {Uint8Array}
 */
export function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * @param {Uint8Array} a
 * @param {Uint8Array} b
 * @returns {boolean}
 */
export function bytesEqual(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/** @returns {SubtleCrypto} */
function subtle() {
  const s = globalThis.crypto && globalThis.crypto.subtle;
  if (!s) throw new Error("WebCrypto (crypto.subtle) is not available here");
  return s;
}

/**
 * @param {Uint8Array} data
 * @returns {Promise<Uint8Array>}
 */
export async function sha256(data) {
  return new Uint8Array(await subtle().digest("SHA-256", new Uint8Array(data)));
}

/**
 * Encodings of the Ed25519 points of small order (1, 2, 4, 8), with the non-canonical ones
 * (y ≥ p), compared without the sign bit: a key or signature R among them is refused, as
 * ed25519-dalek's `verify_strict` does (WebCrypto alone accepts, e.g., the identity key with
 * the signature (identity, 0) for every message).
 */
const SMALL_ORDER = [
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000000",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
];

/**
 * @param {Uint8Array} point 32 bytes
 * @returns {boolean}
 */
export function isSmallOrder(point) {
  const p = new Uint8Array(point);
  p[31] &= 0x7f;
  const h = toHex(p);
  return SMALL_ORDER.includes(h);
}

/**
 * Ed25519 verification (RFC 8032) with WebCrypto, with `verify_strict`'s refusal of small-order
 * keys and signature R. A malformed key or signature is `false`.
 * @param {Uint8Array} publicKey 32 bytes
 * @param {Uint8Array} signature 64 bytes
 * @param {Uint8Array} message
 * @returns {Promise<boolean>}
 */
export async function ed25519Verify(publicKey, signature, message) {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  if (isSmallOrder(publicKey) || isSmallOrder(signature.subarray(0, 32))) return false;
  try {
    // Fresh copies: WebCrypto takes ArrayBuffer-backed views only.
    const key = await subtle().importKey("raw", new Uint8Array(publicKey), { name: "Ed25519" }, false, ["verify"]);
    return await subtle().verify({ name: "Ed25519" }, key, new Uint8Array(signature), new Uint8Array(message));
  } catch {
    return false;
  }
}

/**
 * Parses JSON text into a plain value; a syntax error is a FormatError.
 * @param {string} text
 * @returns {unknown}
 */
export function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FormatError(`not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * @param {unknown} v
 * @returns {v is Record<string, unknown>}
 */
export function isObject(v) {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
