// C2SP signed-note (Ed25519 verifier keys, key type 0x01) and C2SP tlog-checkpoint bodies.

import {
  FormatError,
  b64decode,
  bytesEqual,
  concat,
  ed25519Verify,
  sha256,
  toHex,
  utf8,
} from "./bytes.js";
import { HASH_SIZE } from "./merkle.js";

/** The signature line prefix: EM DASH and a space. */
const SIG_PREFIX = "\u2014 ";

/** At most this many signature lines are read (as Go's sumdb note and our Rust side do). */
const MAX_SIGNATURES = 100;

/**
 * A parsed Ed25519 verifier key `name+hexid+base64(0x01 ‖ key)`.
 * @typedef {{name: string, keyId: Uint8Array, publicKey: Uint8Array, text: string}} VerifierKey
 */

/**
 * A parsed note: its signed text and its signature lines.
 * @typedef {{text: string, signatures: {name: string, keyId: Uint8Array, signature: Uint8Array}[]}} Note
 */

/**
 * A checkpoint body (C2SP tlog-checkpoint).
 * @typedef {{origin: string, size: bigint, rootHash: Uint8Array, extensions: string[]}} Checkpoint
 */

/** @param {string} name */
function validName(name) {
  // Non-empty, no Unicode whitespace, no plus sign (signed-note "Verifier keys"), no controls.
  return name.length > 0 && !/[\s+\p{Cc}]/u.test(name);
}

/**
 * The key id of an Ed25519 key: the first 4 bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ key).
 * @param {string} name
 * @param {Uint8Array} publicKey
 * @returns {Promise<Uint8Array>}
 */
export async function keyId(name, publicKey) {
  const h = await sha256(concat(utf8(name), utf8("\n"), Uint8Array.of(1), publicKey));
  return h.slice(0, 4);
}

/**
 * Parses and checks a verifier key: only Ed25519 (type 0x01) keys, and the id must match.
 * @param {unknown} vkey
 * @returns {Promise<VerifierKey>}
 */
export async function parseVerifierKey(vkey) {
  if (typeof vkey !== "string") throw new FormatError("the verifier key is not a string");
  // The base64 key may itself hold "+": only the first two plus signs separate fields.
  const first = vkey.indexOf("+");
  const second = first < 0 ? -1 : vkey.indexOf("+", first + 1);
  if (second < 0) throw new FormatError("a verifier key is name+hexid+base64");
  const name = vkey.slice(0, first);
  const hex = vkey.slice(first + 1, second);
  const b64 = vkey.slice(second + 1);
  if (!validName(name)) throw new FormatError("the verifier key's name is empty or has spaces");
  if (!/^[0-9a-f]{8}$/.test(hex)) throw new FormatError("the verifier key's id is not 8 lowercase hex digits");
  const raw = b64decode(b64);
  if (raw.length !== 33 || raw[0] !== 1) {
    throw new FormatError("the verifier key is not an Ed25519 key (type 0x01, 32 bytes)");
  }
  const publicKey = raw.slice(1);
  const id = await keyId(name, publicKey);
  if (toHex(id) !== hex) throw new FormatError("the verifier key's id does not match its name and key");
  return { name, keyId: id, publicKey, text: vkey };
}

/**
 * Splits a signed note into text and signature lines (without checking signatures).
 * @param {unknown} note
 * @returns {Note}
 */
export function parseNote(note) {
  if (typeof note !== "string") throw new FormatError("the note is not a string");
  if (/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/.test(note)) {
    throw new FormatError("the note holds control characters other than newline");
  }
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new FormatError("the note has no blank line before its signatures");
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (!block.endsWith("\n")) throw new FormatError("the note's signature block does not end with a newline");
  /** @type {Note["signatures"]} */
  const signatures = [];
  for (const line of block.slice(0, -1).split("\n")) {
    if (signatures.length >= MAX_SIGNATURES) throw new FormatError("the note has too many signatures");
    if (!line.startsWith(SIG_PREFIX)) throw new FormatError("a signature line does not start with an em dash and space");
    const rest = line.slice(SIG_PREFIX.length);
    const sp = rest.indexOf(" ");
    const name = sp < 0 ? "" : rest.slice(0, sp);
    if (!validName(name)) throw new FormatError("a signature line has no valid key name");
    const sig = b64decode(rest.slice(sp + 1));
    if (sig.length < 5) throw new FormatError("a signature is too short to hold a key id");
    signatures.push({ name, keyId: sig.slice(0, 4), signature: sig.slice(4) });
  }
  if (signatures.length === 0) throw new FormatError("the note has no signatures");
  return { text, signatures };
}

/**
 * Verifies a signed note with one verifier key: some signature line must carry the key's name
 * and id and verify. A line with the key's name and id that does not verify is an error;
 * lines of other keys are ignored.
 * @param {string} note
 * @param {VerifierKey} key
 * @returns {Promise<string>} the signed text
 */
export async function verifyNote(note, key) {
  const parsed = parseNote(note);
  const message = utf8(parsed.text);
  let ok = false;
  for (const s of parsed.signatures) {
    if (s.name !== key.name || !bytesEqual(s.keyId, key.keyId)) continue;
    if (!(await ed25519Verify(key.publicKey, s.signature, message))) {
      throw new FormatError(`the signature of ${key.name} does not verify`);
    }
    ok = true;
  }
  if (!ok) throw new FormatError(`the note has no signature by ${key.name}+${toHex(key.keyId)}`);
  return parsed.text;
}

/**
 * Parses a checkpoint body: origin, decimal size, base64 root hash, optional extension lines.
 * @param {string} text the note text (ending with a newline)
 * @returns {Checkpoint}
 */
export function parseCheckpoint(text) {
  if (!text.endsWith("\n")) throw new FormatError("a checkpoint ends with a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) throw new FormatError("a checkpoint has at least origin, size and root hash lines");
  const [origin, sizeLine, rootLine, ...extensions] = lines;
  if (origin === "") throw new FormatError("the checkpoint's origin is empty");
  if (!/^(0|[1-9][0-9]{0,19})$/.test(sizeLine) || BigInt(sizeLine) >= 1n << 64n) {
    throw new FormatError("the checkpoint's size is not a decimal 64-bit number");
  }
  const rootHash = b64decode(rootLine);
  if (rootHash.length !== HASH_SIZE) throw new FormatError("the checkpoint's root hash is not 32 bytes");
  if (extensions.some((l) => l === "")) throw new FormatError("the checkpoint has an empty extension line");
  return { origin, size: BigInt(sizeLine), rootHash, extensions };
}

/**
 * Verifies a signed checkpoint note with a key and parses its body.
 * @param {string} note
 * @param {VerifierKey} key
 * @returns {Promise<Checkpoint>}
 */
export async function verifyCheckpoint(note, key) {
  return parseCheckpoint(await verifyNote(note, key));
}

