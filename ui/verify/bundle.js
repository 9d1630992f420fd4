// Offline verification of a `writ.proof/v1` proof bundle (DESIGN.md "Proof bundle"): every check
// is reported with what it compared, and the verdict is `verified` only when none failed.

import {
  FormatError,
  b64decode,
  b64urlDecode,
  bytesEqual,
  concat,
  ed25519Verify,
  fromHex,
  fromUtf8,
  isObject,
  parseJson,
  sha256,
  toHex,
  utf8,
} from "./bytes.js";
import { canonicalBytes, canonicalSha256, canonicalize } from "./jcs.js";
import { verifyWrit } from "./jws.js";
import { leafHash, verifyConsistency, verifyInclusion } from "./merkle.js";
import { parseCheckpoint, parseNote, parseVerifierKey, verifyCheckpoint } from "./note.js";

/** The bundle format this verifier reads. */
export const PROOF_FORMAT = "writ.proof/v1";

/** The domain separator of entry commitments (entries v2). */
const COMMITMENT_DOMAIN = "writ.commitment/v1\n";

/**
 * @typedef {"pass"|"fail"|"skip"} Status
 * @typedef {{name: string, status: Status, detail: string}} Check
 * @typedef {{index: number, entry: Record<string, unknown>|null, text: string|null, error: string|null}} DecodedEntry
 * @typedef {{
 *   verdict: "verified"|"failed",
 *   checks: Check[],
 *   checkpoint: {origin: string, size: string, root_b64: string}|null,
 *   entries: DecodedEntry[],
 *   claims: Record<string, unknown>|null,
 *   disclosed: Record<number, Record<string, unknown>>,
 * }} Result
 * @typedef {{
 *   pinnedVkey?: string,
 *   pinnedJwks?: unknown,
 *   gateKeys?: Record<string, string>,
 *   olderCheckpoint?: string,
 *   consistencyProof?: unknown,
 * }} Options
 */

/** @param {unknown} e */
function msg(e) {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Reads a member path of a JSON value, or undefined.
 * @param {unknown} v
 * @param {...string} path
 * @returns {unknown}
 */
function at(v, ...path) {
  let cur = v;
  for (const p of path) {
    if (!isObject(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}

/**
 * Verifies a proof bundle.
 *
 * Options: `pinnedVkey` (the log's verifier key the user trusts; without it the bundle's own key
 * is used and the detail says so), `pinnedJwks` (likewise for the writ), `gateKeys` (gate id →
 * hex Ed25519 public key, for receipts whose gate key the bundle does not prove),
 * `olderCheckpoint` (a signed checkpoint note seen earlier) with `consistencyProof` (the
 * consistency proof JSON from it to the bundle's checkpoint).
 * @param {unknown} bundle the parsed bundle JSON
 * @param {Options} [options]
 * @returns {Promise<Result>}
 */
export async function verifyBundle(bundle, options = {}) {
  /** @type {Check[]} */
  const checks = [];
  /** @param {string} name @param {Status} status @param {string} detail */
  const add = (name, status, detail) => checks.push({ name, status, detail });
  /** @type {Result} */
  const result = { verdict: "failed", checks, checkpoint: null, entries: [], claims: null, disclosed: {} };

  // Shape: a bundle that is not one fails here and nothing else is attempted.
  const shape = bundleShape(bundle);
  if (typeof shape === "string") {
    add("format", "fail", shape);
    return result;
  }
  add("format", "pass", `${PROOF_FORMAT} with ${shape.entries.length} entr${shape.entries.length === 1 ? "y" : "ies"}`);

  // Checkpoint signature.
  const cp = await checkpointCheck(shape, options, add);
  if (cp) {
    result.checkpoint = { origin: cp.origin, size: cp.size.toString(), root_b64: shape.checkpointRoot };
  }

  // Entries: leaf hash and inclusion in the checkpoint.
  for (const e of shape.entries) {
    const decoded = decodeEntry(e.index, e.bytes);
    result.entries.push(decoded);
    const computed = await leafHash(e.bytes);
    if (bytesEqual(computed, e.leafHash)) {
      add(`leaf-hash:${e.index}`, "pass", "SHA-256(0x00 ‖ entry) equals leaf_hash_b64");
    } else {
      add(`leaf-hash:${e.index}`, "fail", `SHA-256(0x00 ‖ entry) is ${toHex(computed)}, the bundle says ${toHex(e.leafHash)}`);
    }
    if (!cp) {
      add(`inclusion:${e.index}`, "fail", "no readable checkpoint to prove inclusion against");
      continue;
    }
    try {
      await verifyInclusion(e.index, cp.size, computed, e.proof, cp.rootHash);
      add(`inclusion:${e.index}`, "pass", `the entry's audit path (${e.proof.length} hashes) leads to the root of size ${cp.size}`);
    } catch (err) {
      add(`inclusion:${e.index}`, "fail", `inclusion in the checkpoint of size ${cp.size}: ${msg(err)}`);
    }
  }

  // Disclosures against their entries' commitments.
  for (const d of shape.disclosures) {
    const ok = await disclosureCheck(d, result.entries, add);
    if (ok) result.disclosed[d.index] = d.private;
  }

  // The writ: signature, then claims against its decision entry.
  if (shape.writ === undefined) {
    add("writ-signature", "skip", "the bundle carries no writ");
    add("writ-claims", "skip", "the bundle carries no writ");
  } else {
    const jwks = options.pinnedJwks ?? shape.jwks;
    const whose = options.pinnedJwks ? "the pinned JWKS" : "the bundle's own JWKS (not pinned)";
    try {
      const { header, claims } = await verifyWrit(shape.writ, jwks);
      result.claims = claims;
      add("writ-signature", "pass", `EdDSA signature by kid ${String(header.kid)} verifies with ${whose}`);
    } catch (err) {
      add("writ-signature", "fail", `${msg(err)} (${whose})`);
      result.claims = unverifiedClaims(shape.writ);
    }
    if (result.claims) {
      await claimsCheck(result.claims, result, add);
    } else {
      add("writ-claims", "fail", "the writ's claims are unreadable");
    }
  }

  // Receipts: the gate's signature when the receipt is readable.
  for (const d of result.entries) {
    if (d.entry && d.entry.type === "receipt") await receiptCheck(d, result, options, add);
  }

  // Consistency with an older checkpoint.
  await consistencyCheck(cp, options.pinnedVkey ?? shape.vkey, options, add);

  result.verdict = checks.some((c) => c.status === "fail") ? "failed" : "verified";
  return result;
}

/**
 * @typedef {{
 *   vkey: string, origin: string, checkpoint: string, checkpointRoot: string,
 *   entries: {index: number, bytes: Uint8Array, leafHash: Uint8Array, proof: Uint8Array[]}[],
 *   writ: string|undefined, jwks: unknown,
 *   disclosures: {index: number, salt: Uint8Array, private: Record<string, unknown>}[],
 * }} Shape
 */

/**
 * The bundle's structure, decoded, or why it is not a bundle.
 * @param {unknown} b
 * @returns {Shape|string}
 */
function bundleShape(b) {
  if (!isObject(b)) return "the bundle is not a JSON object";
  if (b.format !== PROOF_FORMAT) return `format is ${JSON.stringify(b.format)}, not ${PROOF_FORMAT}`;
  const log = b.log;
  if (!isObject(log) || typeof log.origin !== "string" || typeof log.vkey !== "string") {
    return "log must be {origin, vkey} strings";
  }
  if (typeof b.checkpoint !== "string") return "checkpoint must be a signed note string";
  if (!Array.isArray(b.entries) || b.entries.length === 0) return "entries must be a non-empty list";
  /** @type {Shape["entries"]} */
  const entries = [];
  const seen = new Set();
  for (const [i, e] of b.entries.entries()) {
    if (!isObject(e) || !Number.isSafeInteger(e.index) || /** @type {number} */ (e.index) < 0) {
      return `entries[${i}] has no valid index`;
    }
    const index = /** @type {number} */ (e.index);
    if (seen.has(index)) return `entry index ${index} appears twice`;
    seen.add(index);
    try {
      if (!Array.isArray(e.inclusion_b64)) throw new FormatError("inclusion_b64 is not a list");
      entries.push({
        index,
        bytes: b64decode(e.entry_b64),
        leafHash: b64decode(e.leaf_hash_b64),
        proof: e.inclusion_b64.map(b64decode),
      });
    } catch (err) {
      return `entries[${i}] (index ${index}): ${msg(err)}`;
    }
  }
  if (b.writ !== undefined && b.writ !== null && typeof b.writ !== "string") return "writ must be a string";
  /** @type {Shape["disclosures"]} */
  const disclosures = [];
  if (b.disclosures !== undefined && b.disclosures !== null) {
    if (!Array.isArray(b.disclosures)) return "disclosures must be a list";
    const seenD = new Set();
    for (const [i, d] of b.disclosures.entries()) {
      if (!isObject(d) || !Number.isSafeInteger(d.index) || !isObject(d.private)) {
        return `disclosures[${i}] must be {index, salt_b64, private}`;
      }
      const index = /** @type {number} */ (d.index);
      if (seenD.has(index)) return `a disclosure for index ${index} appears twice`;
      seenD.add(index);
      let salt;
      try {
        salt = b64decode(d.salt_b64);
      } catch (err) {
        return `disclosures[${i}].salt_b64: ${msg(err)}`;
      }
      disclosures.push({ index, salt, private: d.private });
    }
  }
  const rootLine = b.checkpoint.split("\n")[2] ?? "";
  return {
    vkey: log.vkey,
    origin: log.origin,
    checkpoint: b.checkpoint,
    checkpointRoot: rootLine,
    entries,
    writ: typeof b.writ === "string" ? b.writ : undefined,
    jwks: b.jwks,
    disclosures,
  };
}

/**
 * The `checkpoint` check; returns the checkpoint when its body is readable (even if the check
 * failed, so that the other checks can still say what they compared).
 * @param {Shape} shape
 * @param {Options} options
 * @param {(name: string, status: Status, detail: string) => void} add
 */
async function checkpointCheck(shape, options, add) {
  let bundleKey;
  try {
    bundleKey = await parseVerifierKey(shape.vkey);
  } catch (err) {
    add("checkpoint", "fail", `the bundle's log key: ${msg(err)}`);
    return null;
  }
  let key = bundleKey;
  let whose = `the bundle's own log key ${shape.vkey} (not pinned: trust on first use)`;
  if (options.pinnedVkey !== undefined) {
    let pinned;
    try {
      pinned = await parseVerifierKey(options.pinnedVkey);
    } catch (err) {
      add("checkpoint", "fail", `the pinned log key: ${msg(err)}`);
      return null;
    }
    if (pinned.name !== bundleKey.name || !bytesEqual(pinned.publicKey, bundleKey.publicKey)) {
      add("checkpoint", "fail", `the bundle's log key ${shape.vkey} is not the pinned key ${pinned.text}`);
      return readableCheckpoint(shape.checkpoint);
    }
    key = pinned;
    whose = `the pinned log key ${pinned.text}`;
  }
  try {
    const cp = await verifyCheckpoint(shape.checkpoint, key);
    if (cp.origin !== shape.origin) {
      add("checkpoint", "fail", `the checkpoint's origin ${cp.origin} is not the bundle's log ${shape.origin}`);
    } else {
      add("checkpoint", "pass", `signed note of ${cp.origin} at size ${cp.size} verifies with ${whose}`);
    }
    return cp;
  } catch (err) {
    add("checkpoint", "fail", `${msg(err)} (checked with ${whose})`);
    return readableCheckpoint(shape.checkpoint);
  }
}

/**
 * The checkpoint body without its signature, for reporting what was compared.
 * @param {string} note
 */
function readableCheckpoint(note) {
  try {
    return parseCheckpoint(parseNote(note).text);
  } catch {
    return null;
  }
}

/**
 * Parses an entry: canonical JSON (RFC 8785) object with a string type and an integer v.
 * @param {number} index
 * @param {Uint8Array} bytes
 * @returns {DecodedEntry}
 */
function decodeEntry(index, bytes) {
  try {
    const text = fromUtf8(bytes);
    const entry = parseJson(text);
    if (!isObject(entry) || typeof entry.type !== "string" || !Number.isSafeInteger(entry.v)) {
      throw new FormatError("not an object with a string type and an integer v");
    }
    if (canonicalize(entry) !== text) throw new FormatError("not RFC 8785 canonical JSON");
    return { index, entry, text, error: null };
  } catch (err) {
    return { index, entry: null, text: null, error: `entry ${index}: ${msg(err)}` };
  }
}

/**
 * The `disclosure:<index>` check.
 * @param {Shape["disclosures"][number]} d
 * @param {DecodedEntry[]} entries
 * @param {(name: string, status: Status, detail: string) => void} add
 * @returns {Promise<boolean>}
 */
async function disclosureCheck(d, entries, add) {
  const name = `disclosure:${d.index}`;
  const e = entries.find((x) => x.index === d.index);
  if (!e) return fail(add, name, `the bundle has no entry ${d.index} to check it against`);
  if (!e.entry) return fail(add, name, e.error ?? "unreadable entry");
  const commitment = e.entry.commitment;
  if (typeof commitment !== "string" || !/^[0-9a-f]{64}$/.test(commitment)) {
    return fail(add, name, `entry ${d.index} has no commitment to check a disclosure against`);
  }
  if (d.salt.length !== 32) return fail(add, name, `the salt is ${d.salt.length} bytes, not 32`);
  let got;
  try {
    got = toHex(await sha256(concat(utf8(COMMITMENT_DOMAIN), d.salt, canonicalBytes(d.private))));
  } catch (err) {
    return fail(add, name, `the private object: ${msg(err)}`);
  }
  if (got !== commitment) {
    return fail(add, name, `SHA-256("writ.commitment/v1\\n" ‖ salt ‖ JCS(private)) is ${got}, the entry commits to ${commitment}`);
  }
  add(name, "pass", `the disclosed private object matches entry ${d.index}'s commitment ${commitment}`);
  return true;
}

/**
 * @param {(name: string, status: Status, detail: string) => void} add
 * @param {string} name
 * @param {string} detail
 * @returns {false}
 */
function fail(add, name, detail) {
  add(name, "fail", detail);
  return false;
}

/**
 * The claims of a writ whose signature failed, for display and the claims comparison.
 * @param {string} compact
 * @returns {Record<string, unknown>|null}
 */
function unverifiedClaims(compact) {
  try {
    const v = parseJson(fromUtf8(b64urlDecode(compact.split(".")[1])));
    return isObject(v) ? v : null;
  } catch {
    return null;
  }
}

/**
 * The request fields of a decision entry, v1 (request in clear) or v2 (clear fields, request
 * disclosed privately).
 * @param {Record<string, unknown>} entry
 * @param {Record<string, unknown>|undefined} priv the verified disclosure's private object
 */
function decisionView(entry, priv) {
  if (entry.v === 1) {
    const r = entry.request;
    return {
      execution: at(r, "lineage", "execution"),
      principal: at(r, "principal"),
      action: at(r, "intent", "action"),
      resource: at(r, "intent", "resource"),
      gate: at(r, "env", "gate"),
      zone: at(r, "env", "zone"),
      args: isObject(r) && isObject(r.intent) ? { known: true, value: r.intent.args ?? {} } : { known: false, value: undefined },
    };
  }
  const r = priv ? priv.request : undefined;
  return {
    execution: entry.execution,
    principal: entry.principal,
    action: entry.action,
    resource: entry.resource,
    gate: entry.gate,
    zone: entry.zone,
    args: isObject(r) && isObject(r.intent) ? { known: true, value: r.intent.args ?? {} } : { known: false, value: undefined },
  };
}

/**
 * The `writ-claims` check: the writ against its decision entry.
 * @param {Record<string, unknown>} claims
 * @param {Result} result
 * @param {(name: string, status: Status, detail: string) => void} add
 */
async function claimsCheck(claims, result, add) {
  const name = "writ-claims";
  const index = at(claims, "ledger", "index");
  if (!Number.isSafeInteger(index)) return void fail(add, name, "the writ has no ledger.index");
  const d = result.entries.find((x) => x.index === index);
  if (!d) return void fail(add, name, `the bundle has no entry ${index}, where the writ says its decision is`);
  if (!d.entry) return void fail(add, name, d.error ?? "unreadable decision entry");
  const entry = d.entry;
  if (entry.type !== "decision") return void fail(add, name, `entry ${index} is a ${String(entry.type)}, not a decision`);
  if (entry.v !== 1 && entry.v !== 2) return void fail(add, name, `decision entry version ${String(entry.v)} is unknown`);
  const view = decisionView(entry, result.disclosed[d.index]);
  const aud = claims.aud;
  /** @type {[string, unknown, unknown][]} */
  const pairs = [
    ["decision", "allow", entry.decision],
    ["ledger origin", at(claims, "ledger", "origin"), result.checkpoint ? result.checkpoint.origin : undefined],
    ["execution", at(claims, "lineage", "execution"), view.execution],
    ["principal", claims.sub, view.principal],
    ["action", at(claims, "intent", "action"), view.action],
    ["resource", at(claims, "intent", "resource"), view.resource],
    ["gate", Array.isArray(aud) && aud.length === 1 ? aud[0] : aud, view.gate],
    ["zone", at(claims, "env", "zone"), view.zone],
    ["bundle_sha256", at(claims, "policy", "bundle_sha256"), entry.bundle_sha256],
  ];
  /** @type {string[]} */
  const bad = [];
  /** @type {string[]} */
  const good = [];
  for (const [what, writ, rec] of pairs) {
    if (typeof writ !== "string" || writ === "" || writ !== rec) {
      bad.push(`${what}: writ ${JSON.stringify(writ)} ≠ entry ${JSON.stringify(rec)}`);
    } else {
      good.push(what);
    }
  }
  const argsClaim = at(claims, "intent", "args_sha256");
  let argsNote = "args not disclosed, args_sha256 not compared";
  if (view.args.known) {
    let digest;
    try {
      digest = await canonicalSha256(view.args.value);
    } catch (err) {
      digest = `unreadable (${msg(err)})`;
    }
    if (digest !== argsClaim) {
      bad.push(`args_sha256: writ ${JSON.stringify(argsClaim)} ≠ SHA-256(JCS(args)) ${digest}`);
    } else {
      good.push("args_sha256");
      argsNote = "";
    }
  }
  if (bad.length > 0) {
    add(name, "fail", bad.join("; "));
  } else {
    add(name, "pass", `the writ matches decision entry ${index} on ${good.join(", ")}${argsNote ? `; ${argsNote}` : ""}`);
  }
}

/**
 * The gate key to check a receipt with: the pinned one, else the last `gate.changed` entry for
 * that gate before the receipt that the bundle proves.
 * @param {string} gate
 * @param {number} before
 * @param {Result} result
 * @param {Options} options
 * @returns {{key: Uint8Array, from: string}|string}
 */
function gateKey(gate, before, result, options) {
  const pinned = options.gateKeys ? options.gateKeys[gate] : undefined;
  if (pinned !== undefined) {
    try {
      return { key: fromHex(pinned), from: `the pinned key of ${gate}` };
    } catch {
      return `the pinned key of ${gate} is not hex`;
    }
  }
  let best = null;
  for (const d of result.entries) {
    const e = d.entry;
    if (!e || e.type !== "gate.changed" || e.gate !== gate || d.index >= before) continue;
    if (!best || d.index > best.index) best = d;
  }
  if (!best || !best.entry) return "";
  try {
    return { key: fromHex(best.entry.public_key), from: `${gate}'s key from gate.changed entry ${best.index}` };
  } catch {
    return `gate.changed entry ${best.index} has no hex public_key`;
  }
}

/**
 * The `receipt:<index>` check.
 * @param {DecodedEntry} d
 * @param {Result} result
 * @param {Options} options
 * @param {(name: string, status: Status, detail: string) => void} add
 */
async function receiptCheck(d, result, options, add) {
  const name = `receipt:${d.index}`;
  const entry = /** @type {Record<string, unknown>} */ (d.entry);
  let signed;
  if (entry.v === 1) {
    signed = entry.receipt;
  } else if (entry.v === 2) {
    const priv = result.disclosed[d.index];
    if (!priv) return void add(name, "skip", "the gate-signed receipt is committed, not disclosed in this bundle");
    signed = priv.receipt;
  } else {
    return void fail(add, name, `receipt entry version ${String(entry.v)} is unknown`);
  }
  if (!isObject(signed) || !isObject(signed.body) || typeof signed.kid !== "string" || typeof signed.sig !== "string") {
    return void fail(add, name, "the receipt is not {body, kid, sig}");
  }
  const body = signed.body;
  /** @type {string[]} */
  const bad = [];
  if (body.type !== "receipt") bad.push("body.type is not receipt");
  if (typeof body.gate !== "string") bad.push("body.gate is missing");
  if (signed.kid !== body.gate) bad.push(`kid ${signed.kid} is not the receipt's gate ${String(body.gate)}`);
  if (entry.v === 2) {
    for (const f of ["execution", "gate", "outcome"]) {
      if (entry[f] !== body[f]) bad.push(`entry ${f} ${JSON.stringify(entry[f])} ≠ receipt ${JSON.stringify(body[f])}`);
    }
  }
  const claims = result.claims;
  if (claims && body.execution === at(claims, "lineage", "execution")) {
    for (const f of ["action", "resource", "args_sha256"]) {
      const w = at(claims, "intent", f);
      const r = at(body, "intent", f);
      if (w !== r) bad.push(`intent.${f}: receipt ${JSON.stringify(r)} ≠ writ ${JSON.stringify(w)}`);
    }
  }
  if (bad.length > 0) return void fail(add, name, bad.join("; "));
  const key = gateKey(/** @type {string} */ (body.gate), d.index, result, options);
  if (typeof key === "string") {
    if (key) return void fail(add, name, key);
    return void add(name, "skip", `the bundle proves no key for ${String(body.gate)} (no gate.changed entry before it) and none is pinned`);
  }
  let ok = false;
  try {
    ok = await ed25519Verify(key.key, b64urlDecode(signed.sig), canonicalBytes(body));
  } catch (err) {
    return void fail(add, name, `the receipt: ${msg(err)}`);
  }
  if (!ok) return void fail(add, name, `the gate signature does not verify with ${key.from}`);
  add(name, "pass", `${String(body.outcome)} receipt signed by ${String(body.gate)}, verified with ${key.from}`);
}

/**
 * The `consistency` check: the bundle's checkpoint against an older one.
 * @param {import("./note.js").Checkpoint|null} cp
 * @param {string} vkey the log key the bundle's checkpoint was checked with
 * @param {Options} options
 * @param {(name: string, status: Status, detail: string) => void} add
 */
async function consistencyCheck(cp, vkey, options, add) {
  const name = "consistency";
  if (options.olderCheckpoint === undefined) return void add(name, "skip", "no older checkpoint given");
  if (!cp) return void fail(add, name, "the bundle's checkpoint is unreadable");
  let older;
  try {
    older = await verifyCheckpoint(options.olderCheckpoint, await parseVerifierKey(vkey));
  } catch (err) {
    return void fail(add, name, `the older checkpoint: ${msg(err)}`);
  }
  if (older.origin !== cp.origin) return void fail(add, name, `the older checkpoint is of ${older.origin}, not ${cp.origin}`);
  if (older.size > cp.size) return void fail(add, name, `the older checkpoint (size ${older.size}) is newer than the bundle's (size ${cp.size})`);
  /** @type {Uint8Array[]} */
  let hashes = [];
  if (older.size !== cp.size) {
    const p = options.consistencyProof;
    if (!isObject(p)) return void fail(add, name, `a consistency proof from size ${older.size} to ${cp.size} is needed`);
    if (p.size1 !== Number(older.size) || p.size2 !== Number(cp.size)) {
      return void fail(add, name, `the consistency proof is for sizes ${String(p.size1)}→${String(p.size2)}, not ${older.size}→${cp.size}`);
    }
    try {
      if (!Array.isArray(p.hashes_b64)) throw new FormatError("hashes_b64 is not a list");
      hashes = p.hashes_b64.map(b64decode);
      // The proof JSON names its roots too; they must be the two checkpoints' roots.
      for (const [field, root] of /** @type {const} */ ([["root1_b64", older.rootHash], ["root2_b64", cp.rootHash]])) {
        if (p[field] !== undefined && !bytesEqual(b64decode(p[field]), root)) {
          throw new FormatError(`${field} is not the root of the ${field === "root1_b64" ? "older" : "bundle's"} checkpoint`);
        }
      }
    } catch (err) {
      return void fail(add, name, `the consistency proof: ${msg(err)}`);
    }
  }
  try {
    await verifyConsistency(older.size, cp.size, hashes, older.rootHash, cp.rootHash);
  } catch (err) {
    return void fail(add, name, `from size ${older.size} to ${cp.size}: ${msg(err)}`);
  }
  add(name, "pass", `the checkpoint of size ${cp.size} extends the older one of size ${older.size} (${hashes.length} hashes)`);
}
