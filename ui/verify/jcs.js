// RFC 8785 JSON Canonicalization Scheme: members sorted by their UTF-16 code units, numbers in
// the ECMAScript Number-to-String form, strings with the minimal JSON escapes.

import { FormatError, sha256, toHex, utf8 } from "./bytes.js";

/**
 * The canonical JSON text of a JSON value (as JSON.parse returns it).
 * @param {unknown} value
 * @returns {string}
 */
export function canonicalize(value) {
  /** @type {string[]} */
  const out = [];
  write(value, out, 0);
  return out.join("");
}

/**
 * The canonical JSON of a value as UTF-8 bytes.
 * @param {unknown} value
 * @returns {Uint8Array}
 */
export function canonicalBytes(value) {
  return utf8(canonicalize(value));
}

/**
 * Lowercase hex SHA-256 of the canonical JSON of a value (as `args_sha256` is computed).
 * @param {unknown} value
 * @returns {Promise<string>}
 */
export async function canonicalSha256(value) {
  return toHex(await sha256(canonicalBytes(value)));
}

const MAX_DEPTH = 256;

/**
 * @param {unknown} v
 * @param {string[]} out
 * @param {number} depth
 */
function write(v, out, depth) {
  if (depth > MAX_DEPTH) throw new FormatError("JSON nested too deeply");
  if (v === null || v === true || v === false) {
    out.push(String(v));
  } else if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new FormatError("JSON numbers must be finite");
    // JSON.stringify of a finite number is ECMAScript's Number::toString, with -0 as "0".
    out.push(JSON.stringify(v));
  } else if (typeof v === "string") {
    out.push(string(v));
  } else if (Array.isArray(v)) {
    out.push("[");
    v.forEach((item, i) => {
      if (i > 0) out.push(",");
      write(item, out, depth + 1);
    });
    out.push("]");
  } else if (typeof v === "object" && isPlain(v)) {
    const obj = /** @type {Record<string, unknown>} */ (v);
    // Default string order compares UTF-16 code units, which is what RFC 8785 §3.2.3 asks.
    const keys = Object.keys(obj).sort();
    out.push("{");
    keys.forEach((k, i) => {
      if (i > 0) out.push(",");
      out.push(string(k), ":");
      write(obj[k], out, depth + 1);
    });
    out.push("}");
  } else {
    throw new FormatError(`not a JSON value: ${typeof v}`);
  }
}

/**
 * @param {string} s
 * @returns {string}
 */
function string(s) {
  // In a /u pattern a surrogate pair is one code point, so \p{Cs} matches only lone halves.
  if (/\p{Cs}/u.test(s)) throw new FormatError("a JSON string holds a lone surrogate");
  // JSON.stringify escapes exactly `"`, `\`, and controls (\b \f \n \r \t, else \u00xx
  // lowercase), as RFC 8785 §3.2.2.2 asks.
  return JSON.stringify(s);
}

/**
 * @param {object} v
 * @returns {boolean}
 */
function isPlain(v) {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
